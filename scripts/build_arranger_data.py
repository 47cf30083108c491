"""Build the arranger's subtractive audio examples from band MIDI songs (see
``stemgen.midi.audio_examples``): one compressed npz per (song, stem, variant) under --out,
resumable (finished songs are read back), a progress bar and a JSON summary (``--out/summary.json``).

    nice -n 5 .venv/bin/python scripts/build_arranger_data.py \
        --root ../shared/data/tegridy_band_midi_nc --out /tmp/arranger_data --splits train,valid,test --workers 2

Song-level split from ``stemgen.midi.splits`` (sha1 of the file name): a song's examples are all in
one split. Exit code 0 ok, 3 when some files failed (listed in the summary).

On a Ray cluster (``--backend ray --ray-address auto``) each (song, variant) is one task; its files
come back to this process, which writes them and the summary (README "Running on a cluster").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _quiet_worker():
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def main(argv=None) -> int:
    from stemgen.analysis import BEAT_TRACKERS, analysis_backend

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="folder of MIDI files (band MIDI set)")
    ap.add_argument("--out", required=True, help="cache folder")
    ap.add_argument("--splits", default="train,valid,test")
    ap.add_argument("--stems", default="drums,bass,guitar")
    ap.add_argument("--variants", type=int, default=1, help="augmentation draws per song (one render each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (with --backend ray the cluster's CPUs decide)")
    ap.add_argument("--backend", default="local", choices=("local", "ray"), help="where the songs are processed: ray = a Ray cluster (pip install 'stemgen[ray]')")
    ap.add_argument("--ray-address", default="auto", help="with --backend ray: auto or HOST:PORT")
    ap.add_argument("--max-songs", type=int, default=None, help="per split (for measuring throughput)")
    ap.add_argument("--max-seconds", type=float, default=None, help="render only the beginning of each song")
    ap.add_argument("--beat-tracker", default=None, choices=tuple(BEAT_TRACKERS), help="analysis backend of the contexts (default: the arranger's default tracker)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    from stemgen.errors import StemgenError, StemgenInputError
    from stemgen.fileio import atomic_write_text, ensure_writable_folder, folder_lock, sweep_partial_files
    from stemgen.midi.audio_examples import (
        ExampleRecord,
        SongJob,
        analysis_key,
        build_job_into,
        finished_records,
        read_records,
        summarize,
    )
    from stemgen.midi.splits import files_in_split
    from stemgen.workers import Backend, run_jobs

    try:
        backend = Backend(args.backend, args.ray_address)
        if backend.name == "ray":
            from stemgen.workers_ray import check_address, require_ray

            require_ray()
            check_address(backend.ray_address)
        out = ensure_writable_folder(args.out)
    except StemgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    key_at_start = analysis_key()
    stems = tuple(s for s in args.stems.split(",") if s)
    items = []
    for split in args.splits.split(","):
        files = files_in_split(args.root, split)[: args.max_songs]
        items += [SongJob(os.path.abspath(p), split, v, args.seed, stems, args.max_seconds, args.beat_tracker)
                  for v in range(args.variants) for p in files]
    records, failed = [], []
    t0 = time.time()
    with folder_lock(out):
        sweep_partial_files(out)
        todo = []
        for job in items:  # finished songs are read back here, not sent to a worker
            done = finished_records(job.path, job.split, out, job.variant, job.max_seconds, key_at_start,
                                    job.beat_tracker)
            if done is None:
                todo.append(job)
            else:
                records.extend(done)
        bar = tqdm(total=len(items), initial=len(items) - len(todo), desc="arranger data", unit="song", file=sys.stderr)

        def on_result(job, outcome):
            bar.update(1)
            if isinstance(outcome, BaseException):
                reason = outcome.reason if isinstance(outcome, StemgenInputError) else f"{type(outcome).__name__}: {outcome}"
                failed.append({"file": job.path, "reason": str(reason)})
            else:
                records.extend(ExampleRecord(**r) for r in outcome)

        try:
            run_jobs(todo, build_job_into, out, on_result, args.workers, backend, initializer=_quiet_worker)
        except StemgenError as exc:  # e.g. no Ray cluster at --ray-address
            print(f"error: {exc}", file=sys.stderr)
            return 1
        bar.close()
    summary = {
        "out": str(out), "root": str(Path(args.root).resolve()), "songs": len(items), "variants": args.variants,
        "analysis": key_at_start, "analysis_changed_during_run": analysis_key() != key_at_start,
        "seed": args.seed, "max_seconds": args.max_seconds,
        "beat_tracker": analysis_backend(args.beat_tracker), "stems": list(stems), "wall_s": round(time.time() - t0, 1),
        "cpu_s_examples": round(sum(r.seconds for r in records), 1), "failed": failed,
        "splits": summarize(records), "license": "CC-BY-NC-SA-4.0 (band MIDI set: non-commercial)",
        # Everything in the cache (earlier runs and other variants included), for the model cards.
        "cache": summarize(read_records(out)),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{len(records)} examples from {len(items)} songs in {summary['wall_s']} s -> {out}/summary.json", file=sys.stderr)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
