"""Add a stem to every MIDI file under a folder, in parallel, resumable, never touching the inputs.

Each worker process loads the model once (one torch thread each: workers, not threads, use the
cores). Outputs mirror the input tree under ``out_dir``; an output that already exists is skipped,
so a killed batch resumes where it stopped; writes are atomic, and a run starts by sweeping the
``.part`` files a killed run left. Workers die with the main process and a crashed worker's
files are retried (``stemgen.workers``). Bad files are recorded with their reason and the batch
goes on. On a Ray cluster (``backend``) each file is one task, its output sent back to this
process, which writes it (``stemgen.workers_ray``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stemgen.errors import StemgenInputError
from stemgen.fileio import ensure_writable_folder, folder_lock, sweep_partial_files
from stemgen.workers import LOCAL, Backend

from .splits import find_midi_files

_WORKER: dict = {}


@dataclass
class BatchSettings:
    stem: str
    model_dir: str | None = None
    instruction: str | None = None
    seed: int = 0
    density: float = 1.0
    render: bool = False
    soundfont: str | None = None
    replace: bool = False  # songs that already have the stem: replace it (else they fail, named)
    temperature: float | None = None  # how far the take strays (None: the stem's default)
    program: int | None = None  # the new track's GM program (None: from the instruction)


@dataclass
class BatchSummary:
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)
    busy_seconds: float = 0.0  # summed per-file time inside the workers (no start-up)

    def as_dict(self) -> dict:
        return {"processed": len(self.processed), "skipped": len(self.skipped), "failed": self.failed,
                "rendered": len(self.rendered)}


def plan(in_dir: Path, out_dir: Path) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs; when ``out_dir`` is inside ``in_dir``, the files in it (earlier
    outputs) are not inputs."""
    in_dir, out_dir = in_dir.resolve(), out_dir.resolve()
    out_inside_in = in_dir in out_dir.parents
    pairs = []
    for src in find_midi_files(in_dir):
        if out_inside_in and out_dir in src.resolve().parents:
            continue
        pairs.append((src, out_dir / src.relative_to(in_dir).with_suffix(".mid")))
    return pairs


def check_folders(in_dir: Path, out_dir: Path) -> None:
    """Fail before any work, naming the folder: no input folder, output = input (inputs are never
    overwritten), output is a file or not writable."""
    if not in_dir.is_dir():
        raise StemgenInputError(in_dir, "input folder not found" if not in_dir.exists() else "is not a folder")
    if out_dir.resolve() == in_dir.resolve():
        raise StemgenInputError(out_dir, "is the input folder; choose another output folder (inputs are never overwritten)")
    ensure_writable_folder(out_dir)


def _init_worker(settings: BatchSettings) -> None:
    import torch

    torch.set_num_threads(1)
    from .generate import MidiGenerator

    _WORKER["gen"] = MidiGenerator(settings.stem, settings.model_dir, density=settings.density,
                                   temperature=settings.temperature)
    _WORKER["settings"] = settings


def _process(pair: tuple[Path, Path]) -> tuple[str, str, dict | None, float]:
    """``(status, input, error record, seconds)``: status is processed | rendered | failed."""
    import time

    t0 = time.perf_counter()
    status, src, record = _process_one(pair)
    return status, src, record, time.perf_counter() - t0


def _process_into(out_dir: Path, pair: tuple[Path, Path], folder: Path) -> tuple[str, str, dict | None, float]:
    """``_process`` writing under ``folder`` instead of ``out_dir`` (a Ray task's staging folder);
    an error record still names the file where it belongs."""
    src, dst = pair
    staged = Path(folder) / dst.relative_to(out_dir)
    status, src_name, record, seconds = _process((src, staged))
    if record and record.get("file") == str(staged):
        record = record | {"file": str(dst)}
    return status, src_name, record, seconds


def _process_one(pair: tuple[Path, Path]) -> tuple[str, str, dict | None]:
    from .generate import generate_file

    src, dst = pair
    settings: BatchSettings = _WORKER["settings"]
    try:
        generate_file(src, dst, _WORKER["gen"], settings.instruction, settings.seed, settings.replace,
                      program=settings.program)
    except StemgenInputError as exc:
        return "failed", str(src), exc.as_record()
    except Exception as exc:  # one broken file must not stop the batch
        return "failed", str(src), {"file": str(src), "reason": f"{type(exc).__name__}: {exc}"[:200]}
    if settings.render:
        try:
            from .render import render_midi_file

            render_midi_file(dst, dst.with_suffix(".wav"), settings.soundfont)
            return "rendered", str(src), None
        except Exception as exc:
            return "failed", str(src), {"file": str(dst), "reason": f"render failed: {exc}"[:200]}
    return "processed", str(src), None


def run_batch(
    in_dir: str | Path, out_dir: str | Path, settings: BatchSettings, workers: int | None = None, progress: bool = True,
    backend: Backend = LOCAL,
) -> BatchSummary:
    """Process every MIDI file under ``in_dir`` into ``out_dir`` (on ``backend``'s workers)."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    check_folders(in_dir, out_dir)
    pairs = plan(in_dir, out_dir)
    odd = not_regular_files(in_dir)
    if not pairs and not odd:
        raise StemgenInputError(in_dir, "no MIDI files (.mid, .midi) found")
    with folder_lock(out_dir):
        sweep_partial_files(out_dir)  # left by a killed run; no other batch writes here (we hold the lock)
        summary = _run(pairs, out_dir.resolve(), settings, workers, progress, backend) if pairs else BatchSummary()
    summary.failed.extend(odd)
    return summary


def not_regular_files(in_dir: Path) -> list[dict]:
    """Entries named like MIDI files that are no files (a dangling link, a FIFO, a device), as
    failure records: they are listed, never skipped in silence (nor opened: a FIFO would block)."""
    import stat

    records = []
    for p in sorted(in_dir.rglob("*")):
        if p.suffix.lower() not in (".mid", ".midi") or p.is_file() or p.is_dir():
            continue
        try:
            mode = p.stat().st_mode
            what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        except OSError:
            what = "a link to nothing (dangling symbolic link)" if p.is_symlink() else "unreadable"
        records.append({"file": str(p), "reason": f"{what}, not a MIDI file"})
    return records


def _run(pairs: list[tuple[Path, Path]], out_dir: Path, settings: BatchSettings, workers: int | None,
         progress: bool, backend: Backend = LOCAL) -> BatchSummary:
    from tqdm import tqdm

    summary = BatchSummary()
    todo = []
    for src, dst in pairs:
        if dst.exists() and not (settings.render and not dst.with_suffix(".wav").exists()):
            summary.skipped.append(str(src))
        else:
            todo.append((src, dst))
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
    if todo:  # load the model here first: a bad --model is one clear error before any work
        _init_worker(settings)
    bar = tqdm(total=len(todo), disable=not progress, desc=f"midi batch ({settings.stem})", unit="file")

    def record(pair: tuple[Path, Path], outcome) -> None:
        if isinstance(outcome, BaseException):  # the worker itself died (WorkerCrashed) or failed to start
            reason = outcome.reason if isinstance(outcome, StemgenInputError) else str(outcome)
            outcome = "failed", str(pair[0]), {"file": str(pair[0]), "reason": reason[:200]}, 0.0
        status, src, error, seconds = outcome
        summary.busy_seconds += seconds
        if status == "failed":
            summary.failed.append(error)
        else:
            summary.processed.append(src)
            if status == "rendered":
                summary.rendered.append(src)
        bar.update(1)

    if todo and workers == 1 and backend == LOCAL:
        for pair in todo:
            record(pair, _process(pair))
    elif todo:
        from functools import partial

        from stemgen.workers import run_jobs

        run_jobs(todo, partial(_process_into, out_dir), out_dir, record, workers, backend, initializer=_init_worker,
                 initargs=(settings,), start_method="spawn",  # torch and fork do not mix well
                 on_crash=lambda: sweep_partial_files(out_dir))
    bar.close()
    return summary
