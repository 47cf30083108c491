"""Conventions shared by every command: one JSON summary with ``--json``, exit codes, errors."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import typer

JSON_OPTION_HELP = "Print one JSON object summarising the run (and nothing else on stdout)."
BACKEND_HELP = ("Where the songs are processed: local (worker processes here) or ray (a Ray cluster: one task per "
                "song, outputs sent back to this machine; needs pip install 'stemgen[ray]').")
RAY_ADDRESS_HELP = ("With --backend ray: the cluster to join, auto (the one this machine belongs to) or HOST:PORT. "
                    "Inputs must be at the same path on every node.")

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


def backend_from_options(backend: str, ray_address: str, as_json: bool = False):
    """The ``stemgen.workers.Backend`` of ``--backend``/``--ray-address``: a usage error for an
    unknown backend, a one-line error when Ray is asked for but not installed or not there."""
    from stemgen.errors import StemgenError
    from stemgen.workers import Backend

    try:
        chosen = Backend(backend, ray_address)
    except StemgenError as exc:
        raise fail(str(exc), EXIT_USAGE, as_json=as_json) from None
    if chosen.name == "ray":  # before any work: Ray installed, something listening at the address
        from stemgen.workers_ray import check_address, require_ray

        try:
            require_ray()
            check_address(chosen.ray_address)
        except StemgenError as exc:
            raise fail(str(exc), as_json=as_json) from None
    return chosen


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
