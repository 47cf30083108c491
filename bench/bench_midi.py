"""MIDI generation benchmark with the bundled models on the CPU: per-song latency and batch throughput.

- latency: one process, ``--threads`` torch threads, the model and MiniLM already loaded (what a
  warm ``stemgen midi generate`` or a batch worker pays per song): parse, grid, instruction,
  two-pass sampling, decode, write. Reported for a song scaled to 3 minutes (seconds per song
  minute x 3) and per actual song.
- throughput: ``stemgen.midi.batch.run_batch`` over ``--batch-songs`` band songs with the drums
  removed, ``--workers`` processes (one thread each); the start-up of the workers (model and MiniLM
  loading) is reported separately and excluded from the songs/s figure.

The part model runs each song in one forward pass (targets, issue 13: a 3-minute song in <= 0.3 s
on one core, >= 4 songs/s with 2 workers).

Prints one JSON object a line: ``{"name", "figure", "unit", "device", "config"}``.
Usage: ``python bench/bench_midi.py [--stem drums] [--songs 8] [--batch-songs 16] [--workers 2] [--note-loss]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit  # noqa: E402

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BAND = DATA / "tegridy_band_midi_nc" / "midi"


def prepare(n: int, stem: str, folder: Path) -> list[Path]:
    """Copies of the first ``n`` test-split band songs with ``stem`` removed."""
    from stemgen.midi.splits import files_in_split
    from stemgen.midifile.subtract import strip_role

    out = []
    for src in files_in_split(BAND, "test")[:n]:
        dst = folder / src.name
        dst.write_bytes(strip_role(src.read_bytes(), stem))
        out.append(dst)
    return out


def bench_latency(files: list[Path], stem: str, threads: int) -> None:
    import torch

    from stemgen.midi.generate import MidiGenerator, generate_file
    from stemgen.midifile.io import load_midi

    torch.set_num_threads(threads)
    gen = MidiGenerator(stem)
    generate_file(files[0], files[0].with_suffix(".warm.out"), gen)  # loads MiniLM, warms kernels
    per_minute, secs, cpu_per_minute = [], [], []
    for f in files:
        minutes = load_midi(f).duration_s / 60
        t0, c0 = time.perf_counter(), time.process_time()
        generate_file(f, f.with_suffix(".out"), gen)
        dt = time.perf_counter() - t0
        secs.append(dt)
        per_minute.append(dt / minutes)
        cpu_per_minute.append((time.process_time() - c0) / minutes)
    per_minute.sort()
    cpu_per_minute.sort()
    cfg = dict(stem=stem, threads=threads, songs=len(files))
    emit("midi_generate_latency_3min_song_median", round(3 * per_minute[len(per_minute) // 2], 3), "s", **cfg)
    # CPU time is what the song costs a core of its own (wall time on a shared machine is not).
    emit("midi_generate_cpu_3min_song_median", round(3 * cpu_per_minute[len(cpu_per_minute) // 2], 3), "cpu_s", **cfg)
    emit("midi_generate_latency_per_song_mean", round(sum(secs) / len(secs), 3), "s", **cfg)


def bench_batch(files: list[Path], stem: str, workers: int) -> None:
    from stemgen.midi import batch as B

    in_dir = files[0].parent
    with tempfile.TemporaryDirectory() as out_dir:
        settings = B.BatchSettings(stem)
        t0 = time.perf_counter()
        summary = B.run_batch(in_dir, Path(out_dir), settings, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    n = len(summary.processed)
    cfg = dict(stem=stem, workers=workers, songs=n, failed=len(summary.failed))
    emit("midi_batch_throughput_incl_worker_startup", round(n / max(wall, 1e-9), 3), "songs/s", wall_s=round(wall, 1), **cfg)
    # Steady state: songs per second of worker time, times the workers (start-up excluded).
    emit("midi_batch_throughput_steady", round(workers * n / max(summary.busy_seconds, 1e-9), 3), "songs/s", **cfg)


def bench_note_loss(steps_per_beat: int) -> None:
    """Notes lost by MIDI -> grid -> MIDI over the whole band set (collisions of one pitch in one step)."""
    from stemgen.midifile.grid import song_to_grid, track_to_tick_notes
    from stemgen.midifile.io import load_midi

    total = lost = 0
    files = sorted(BAND.glob("*.mid"))
    for f in files:
        song = load_midi(f)
        grid = song_to_grid(song, steps_per_beat)
        total += song.n_notes
        lost += song.n_notes - sum(len(track_to_tick_notes(t, grid.step_ticks)) for t in grid.tracks)
    emit("midi_grid_note_loss", round(100 * lost / total, 3), "%", steps_per_beat=steps_per_beat,
         files=len(files), notes=total, lost=lost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", default="drums")
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--batch-songs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note-loss", action="store_true", help="Also measure grid note loss on the band set.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.note_loss:
        for spb in (4, 12):
            bench_note_loss(spb)
    with tempfile.TemporaryDirectory() as tmp:
        lat = Path(tmp) / "latency"
        lat.mkdir()
        bench_latency(prepare(args.songs, args.stem, lat), args.stem, args.threads)
        if args.batch_songs <= 0:
            return
        bat = Path(tmp) / "batch"
        bat.mkdir()
        bench_batch(prepare(args.batch_songs, args.stem, bat), args.stem, args.workers)


if __name__ == "__main__":
    main()
