"""Dataset build throughput on the band MIDI set, in × real time.

Render (4 stems with the SoundFont synthesizer) + windows + descriptors + captions + offline
instructions + FLAC writing, all songs in parallel worker processes (one per core).
Target: >= 50x real time on the 2-core machine.

    .venv/bin/python bench/bench_dataset.py [--songs 24] [--preset riffusion] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peak_rss_mb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BAND = Path(os.environ.get("STEMGEN_SHARED_DATA", REPO.parent / "shared" / "data")) / "tegridy_band_midi_nc" / "midi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=24, help="band MIDI files to build from (0 = all 320)")
    parser.add_argument("--preset", default="riffusion")
    parser.add_argument("--stem", default="drums")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    from stemgen.data.builder import BuildConfig, build_dataset

    files = sorted(BAND.glob("*.mid"))
    files = files[: args.songs] if args.songs else files
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for f in files:
            shutil.copy(f, src / f.name)
        config = BuildConfig(out_dir=Path(tmp) / "out", stem=args.stem, preset=args.preset, workers=args.workers)
        t0 = time.perf_counter()
        summary = build_dataset([src], config)
        wall = time.perf_counter() - t0
    cfg = {"songs": len(files), "preset": args.preset, "stem": args.stem, "workers": args.workers}
    emit("dataset_build_realtime_factor", round(summary.audio_seconds_processed / wall, 1), "x_realtime", **cfg)
    emit("dataset_build_audio_hours", round(summary.audio_seconds_processed / 3600, 3), "hours", **cfg)
    emit("dataset_build_examples_per_s", round(summary.items / wall, 2), "examples/s", **cfg)
    emit("dataset_build_peak_rss", peak_rss_mb(), "MiB", **cfg)
    if summary.errors:
        print(f"errors: {summary.errors[:3]}", file=sys.stderr)


if __name__ == "__main__":
    main()
