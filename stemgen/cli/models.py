"""``stemgen models``: list the bundled and local models (audio and MIDI), and which is the default."""

from __future__ import annotations

from pathlib import Path

import typer

from stemgen.cli.common import JSON_OPTION_HELP, emit_summary


def models(
    search: list[Path] = typer.Argument(None, help="Folders with models you trained (default: the current folder)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """List the bundled models (models/) and the local model folders in SEARCH."""
    from stemgen.api import list_models

    entries = list_models(search or [Path.cwd()])
    summary = {"models": [e.to_dict() for e in entries]}
    lines = [f"{'kind':8} {'stem':6} {'preset':13} {'origin':7} {'size':>8}  license / path"]
    for e in entries:
        mark = " (default)" if e.default else ""
        lines.append(f"{e.kind:8} {e.stem or '?':6} {(e.preset if e.kind == 'audio' else 'part model') or '?':13} {e.origin:7} {e.size_bytes / 1e6:7.1f}M  "
                     f"{e.license or 'unknown'}  {e.path}{mark}")
    if not entries:
        lines.append("no models found (train one with `stemgen train`)")
    emit_summary(summary, as_json, lines)
