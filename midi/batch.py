"""Add a stem to every MIDI file under a folder, in parallel, resumable, never touching the inputs.

Each worker process loads the model once (one torch thread each: workers, not threads, use the
cores). Outputs mirror the input tree under ``out_dir``; an output that already exists is skipped,
so a killed batch resumes where it stopped; writes are atomic. Bad files are recorded with their
reason and the batch goes on.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stemgen.errors import StemgenInputError

from .splits import find_midi_files

_WORKER: dict = {}


@dataclass
class BatchSettings:
    stem: str
    model_dir: str | None = None
    instruction: str | None = None
    seed: int = 0
    steps: int = 8
    guidance: float = 1.5
    render: bool = False
    soundfont: str | None = None


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
    """``(input, output)`` pairs; inputs inside ``out_dir`` (an output folder under the input) are left out."""
    in_dir, out_dir = in_dir.resolve(), out_dir.resolve()
    pairs = []
    for src in find_midi_files(in_dir):
        src = src.resolve()
        if out_dir == src.parent or out_dir in src.parents:
            continue
        pairs.append((src, out_dir / src.relative_to(in_dir).with_suffix(".mid")))
    return pairs


def _init_worker(settings: BatchSettings) -> None:
    import torch

    torch.set_num_threads(1)
    from .generate import MidiGenerator

    _WORKER["gen"] = MidiGenerator(settings.stem, settings.model_dir, settings.steps, settings.guidance)
    _WORKER["settings"] = settings


def _process(pair: tuple[Path, Path]) -> tuple[str, str, dict | None, float]:
    """``(status, input, error record, seconds)``: status is processed | rendered | failed."""
    import time

    t0 = time.perf_counter()
    status, src, record = _process_one(pair)
    return status, src, record, time.perf_counter() - t0


def _process_one(pair: tuple[Path, Path]) -> tuple[str, str, dict | None]:
    from .generate import generate_file

    src, dst = pair
    settings: BatchSettings = _WORKER["settings"]
    try:
        generate_file(src, dst, _WORKER["gen"], settings.instruction, settings.seed)
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
    in_dir: str | Path, out_dir: str | Path, settings: BatchSettings, workers: int | None = None, progress: bool = True
) -> BatchSummary:
    """Process every MIDI file under ``in_dir`` into ``out_dir``."""
    from tqdm import tqdm

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise StemgenInputError(in_dir, "input folder not found")
    summary = BatchSummary()
    todo = []
    for src, dst in plan(in_dir, out_dir):
        if dst.exists():
            summary.skipped.append(str(src))
        else:
            todo.append((src, dst))
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
    bar = tqdm(total=len(todo), disable=not progress, desc=f"midi batch ({settings.stem})", unit="file")
    if todo:
        if workers == 1:
            _init_worker(settings)
            results = map(_process, todo)
            _consume(results, summary, bar)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")  # torch and fork do not mix well
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(settings,)) as pool:
                _consume(pool.map(_process, todo, chunksize=1), summary, bar)
    bar.close()
    return summary


def _consume(results, summary: BatchSummary, bar) -> None:
    for status, src, record, seconds in results:
        summary.busy_seconds += seconds
        if status == "failed":
            summary.failed.append(record)
        else:
            summary.processed.append(src)
            if status == "rendered":
                summary.rendered.append(src)
        bar.update(1)
