"""Benchmark: audio analysis (stemgen.analysis.analyze + step_features) in ms of CPU per minute of audio.

    .venv/bin/python bench/bench_analysis.py [--repeats 3] [--backends numpy]

Prints JSON lines ``{"name", "figure", "unit", "device", "config"}``: CPU time (what the code costs,
robust to other load) and wall time per minute of audio, and x real time, for a 61 s demo mix at
44.1 kHz and a 3-minute song made by repeating it (the arranger's target: a 3-minute song at
>= 10x real time on 2 cores for analysis, generation and rendering together). One warm-up run pays
for imports and cached filterbanks. ``--backends numpy,learned`` also times the learned tracker
(``--beat-tracker learned``), ``--backends numpy,madmom`` madmom's downbeat tracker (optional,
CC BY-NC-SA models; skipped when not installed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit  # noqa: E402

from stemgen.analysis import analyze, step_features  # noqa: E402
from stemgen.audio.io import load_audio  # noqa: E402

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def run(audio: np.ndarray, sr: int, backend: str) -> None:
    step_features(analyze(audio, sr, backend=backend))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="numpy")
    args = parser.parse_args()
    demo, sr = load_audio(DATA / "demo_mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", sample_rate=44100)
    inputs = {"vibe_ace_61s": demo, "vibe_ace_x3_183s": np.concatenate([demo] * 3, axis=-1)}
    for backend in args.backends.split(","):
        if backend == "madmom":
            try:
                from stemgen.analysis.madmom_backend import import_madmom

                import_madmom()
            except Exception as exc:  # noqa: BLE001 - optional backend
                print(f"# madmom skipped: {exc}", file=sys.stderr)
                continue
        for name, audio in inputs.items():
            minutes = audio.shape[-1] / sr / 60.0
            run(audio[..., : sr * 10], sr, backend)  # warm-up
            walls, cpus = [], []
            for _ in range(args.repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                run(audio, sr, backend)
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
            config = {"audio": name, "audio_s": round(minutes * 60, 1), "sample_rate": sr, "channels": audio.shape[0],
                      "backend": backend, "repeats": args.repeats}
            cpu, wall = statistics.median(cpus), statistics.median(walls)
            emit("analysis_cpu_s_per_audio_min", round(cpu / minutes, 3), "s CPU per minute of audio", **config)
            emit("analysis_wall_s_per_audio_min", round(wall / minutes, 3), "s wall per minute of audio", **config)
            emit("analysis_speed_cpu", round(minutes * 60 / cpu, 1), "x real time (CPU)", **config)


if __name__ == "__main__":
    main()
