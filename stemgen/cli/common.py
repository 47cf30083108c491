"""Conventions shared by every command: one JSON summary with ``--json``, exit codes, errors."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer

JSON_OPTION_HELP = "Print one JSON object summarising the run (and nothing else on stdout)."

# Exit codes, the same for every command (README "Exit codes").
EXIT_OK = 0  # everything asked for was done
EXIT_FAILED = 1  # nothing was produced, or an error stopped the run before any work
EXIT_USAGE = 2  # bad command line (click's own code for usage errors)
EXIT_PARTIAL = 3  # a batch finished but some of its files failed (listed in the summary)


def batch_exit_code(succeeded: int, failed: int) -> int:
    """A batch's exit code: ``EXIT_PARTIAL`` when some files failed, ``EXIT_FAILED`` when all did."""
    if failed and not succeeded:
        return EXIT_FAILED
    return EXIT_PARTIAL if failed else EXIT_OK


def emit_summary(summary: dict[str, Any], as_json: bool, human_lines: list[str] | None = None) -> None:
    """Print the run's summary: one JSON object with ``--json``, readable lines otherwise."""
    if as_json:
        typer.echo(json.dumps(finite_json(summary), default=str, allow_nan=False))
        return
    for line in human_lines if human_lines is not None else [f"{k}: {v}" for k, v in summary.items()]:
        typer.echo(line)


def finite_json(value: Any) -> Any:
    """``value`` with NaN and infinite floats as ``None``: JSON has no NaN (``json.dumps`` would
    print a bare ``NaN`` that JSON readers reject)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars
        return finite_json(value.item())
    return value


def fail(message: str, code: int = 1, as_json: bool = False) -> typer.Exit:
    """Print a one-line error to stderr (and ``{"error": ...}`` on stdout with ``--json``);
    return the ``typer.Exit`` to raise."""
    typer.echo(f"error: {message}", err=True)
    if as_json:
        typer.echo(json.dumps({"error": message}))
    return typer.Exit(code)


def progress_enabled(as_json: bool) -> bool:
    """Progress bars go to stderr; keep them off when stderr is not a terminal and JSON is asked."""
    return not (as_json and not sys.stderr.isatty())


def check_output_file(path) -> None:
    """Before any work: ``path`` can be written as a file (its folder is created if needed).

    Raises ``StemgenInputError`` naming the path: a folder has its name, or its folder is not
    writable (read-only, immutable, under a regular file, in /proc...).
    """
    from pathlib import Path

    from stemgen.errors import StemgenInputError
    from stemgen.fileio import ensure_writable_folder

    path = Path(path)
    if path.is_dir():
        raise StemgenInputError(path, "is a folder; give the output file's name (e.g. song_with_bass.mid)")
    ensure_writable_folder(path.parent)
