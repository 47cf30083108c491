"""Benchmark: descriptors (song analysis + every window) in x real time, on real audio.

    .venv/bin/python bench/bench_descriptors.py [--repeats 3] [--hop-s 5.12] [--sample-rate 44100]

Prints JSON lines ``{"name", "figure", "unit", "device", "config"}``. Speed is audio seconds
per second of compute: wall clock (what a build sees, on a shared machine) and process CPU
time (what the code costs, robust to other load). The median of ``--repeats`` runs, after
one warm-up run that pays for imports and cached filterbanks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from stemgen.audio.io import load_audio
from stemgen.data.captions import make_caption
from stemgen.data.descriptors import analyze_song, describe_window

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
WINDOW_S = 5.12


def load_inputs(sr: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (mix, stem, context), all (1, n) at ``sr``; the demo mix has no stems, so it stands in for all three."""
    demo, _ = load_audio(DATA / "demo_mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", sample_rate=sr, mono=True)
    musdb = DATA / "real_stems" / "musdb18_7s_music_delta_80s_rock"
    stems = {n: load_audio(musdb / f"{n}.wav", sample_rate=sr, mono=True)[0] for n in ("drums", "bass", "other", "vocals")}
    mix = sum(stems.values())
    return {
        "vibe_ace_61s": (demo, demo, demo),
        "musdb_80s_rock_7s": (mix, stems["drums"], mix - stems["drums"]),
    }


def describe_song(mix: np.ndarray, stem: np.ndarray, context: np.ndarray, sr: int, hop_s: float) -> int:
    """Analyse once, then describe and caption every window; returns the window count."""
    analysis = analyze_song(mix, sr)
    win, hop = int(WINDOW_S * sr), int(hop_s * sr)
    starts = range(0, max(mix.shape[-1] - win, 0) + 1, hop)
    for start in starts:
        sl = slice(start, start + win)
        d = describe_window(analysis, start, mix[:, sl], stem[:, sl], context[:, sl], sr, "drums")
        make_caption(d, "drums", ("funk",))
    return len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hop-s", type=float, default=WINDOW_S, help="window hop (5.12 = no overlap)")
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args()
    sr = args.sample_rate
    device = f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    for name, (mix, stem, context) in load_inputs(sr).items():
        seconds = mix.shape[-1] / sr
        describe_song(mix, stem, context, sr, args.hop_s)  # warm-up
        walls, cpus = [], []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            windows = describe_song(mix, stem, context, sr, args.hop_s)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        config = {"audio": name, "audio_s": round(seconds, 2), "sample_rate": sr, "window_s": WINDOW_S,
                  "hop_s": args.hop_s, "windows": windows, "repeats": args.repeats}
        for label, times in (("wall", walls), ("cpu", cpus)):
            t = statistics.median(times)
            print(json.dumps({"name": f"descriptors_speed_{label}", "figure": round(seconds / t, 1),
                              "unit": "x real time", "device": device, "config": config}))
        print(json.dumps({"name": "descriptors_ms_per_audio_s", "figure": round(1000 * statistics.median(cpus) / seconds, 2),
                          "unit": "ms CPU per second of audio", "device": device, "config": config}))


if __name__ == "__main__":
    main()
