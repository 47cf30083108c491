"""`stemgen midi eval` speed: songs x stems scored against every baseline, model generation included.

Target (issue 13): 30 songs x 3 stems in <= 3 minutes. Runs what the command runs: the retrieval
pool from the training split, the bundled models (or ``--no-model``), then ``evaluate`` over
``--songs`` held-out band songs (the test split, topped up from the valid split when it has fewer).
Wall time on a shared machine depends on the neighbours, so CPU time (this process) is reported too,
and generation is split from scoring (parsing, baselines, metrics).

Prints one JSON object a line: ``{"name", "figure", "unit", "device", "config"}``.
Usage: ``python bench/bench_midi_eval.py [--songs 30] [--stems drums,bass,guitar] [--no-model] [--threads 1]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peak_rss_mb  # noqa: E402

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BAND = DATA / "tegridy_band_midi_nc" / "midi"


def held_out(n: int) -> list[Path]:
    from stemgen.midi.splits import files_in_split

    return (files_in_split(BAND, "test") + files_in_split(BAND, "valid"))[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=30)
    parser.add_argument("--stems", default="drums,bass,guitar")
    parser.add_argument("--no-model", action="store_true", help="Baselines only.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the models.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from stemgen.midi.baselines import RetrievalPool
    from stemgen.midi.evaluate import evaluate
    from stemgen.midi.splits import files_in_split

    stems = tuple(s for s in args.stems.split(",") if s)
    files = held_out(args.songs)
    t0, c0 = time.perf_counter(), time.process_time()
    pool = RetrievalPool(files_in_split(BAND, "train"), exclude=files)
    pool_wall = time.perf_counter() - t0
    gens = {}
    if not args.no_model:
        import torch

        from stemgen.midi.generate import MidiGenerator

        torch.set_num_threads(args.threads)
        gens = {s: MidiGenerator(s) for s in stems}
    load_wall = time.perf_counter() - t0 - pool_wall
    t1 = time.perf_counter()
    report = evaluate(files, stems, gens, progress=False, pool=pool)
    eval_wall = time.perf_counter() - t1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    gen_s = sum(t["total_s"] for by in report["generation"].values() for t in by.values())
    cfg = dict(songs=len(files), stems=",".join(stems), jobs=sum(report["songs"].values()),
               model=not args.no_model, threads=args.threads, pool_songs=len(pool.songs))
    emit("midi_eval_wall_total", round(wall, 1), "s", target_s=180, **cfg)
    emit("midi_eval_cpu_total", round(cpu, 1), "cpu_s", **cfg)
    emit("midi_eval_retrieval_pool_build", round(pool_wall, 2), "s", **cfg)
    emit("midi_eval_model_load", round(load_wall, 2), "s", **cfg)
    emit("midi_eval_generation", round(gen_s, 1), "s", **cfg,
         per_stem={s: {k: v["mean_s"] for k, v in by.items()} for s, by in report["generation"].items()})
    emit("midi_eval_scoring", round(eval_wall - gen_s, 1), "s", **cfg)
    emit("midi_eval_peak_rss", peak_rss_mb(), "MiB", **cfg)


if __name__ == "__main__":
    main()
