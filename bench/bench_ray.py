"""Local worker pool vs a Ray cluster on the same input and machine (``--backend local|ray``).

Starts its own one-node Ray cluster (``ray start --head``, 2 CPUs, 500 MB object store,
loopback), then times the same work through ``stemgen.workers.run_jobs`` on both backends,
alternating backends and keeping each one's fastest of ``--repeats`` runs (the machine is shared):

- seam: n and 2n trivial items (each writes one 4 KB file, then one 1 MB file): what the executor
  itself costs per item, which on Ray is the overhead every song pays (scheduling, a staging
  folder, the file's bytes sent back, the driver's atomic write). Per-item cost = (T(2n) - T(n)) / n, so start-up
  (pool spawn, Ray connect and worker start) drops out; start-up = T(n) - n x per-item.
- midi batch: ``stemgen.midi.batch.run_batch`` with the bundled model over ``--songs`` band songs
  with the drums removed, 2 workers / 2 Ray CPUs: the whole wall time on each backend (start-up
  included: every worker loads the model and the text encoder).

On a 2-core machine Ray is not expected to win: the figures are its overhead. Each line records
the load average (other jobs share the machine).
Prints one JSON object a line. Usage: ``python bench/bench_ray.py [--items 300] [--songs 8 (0: no batch)] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' local Ray cluster
from common import emit  # noqa: E402

DATA = Path(os.environ.get("STEMGEN_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
BAND = DATA / "tegridy_band_midi_nc" / "midi"


def write_one(item: tuple[int, int], folder: Path) -> int:
    """A trivial item: one file of ``size`` bytes written atomically (as the jobs write theirs)."""
    from stemgen.fileio import atomic_write_bytes

    index, size = item
    atomic_write_bytes(Path(folder) / f"{index:06d}.bin", os.urandom(size))
    return index


def time_seam(n: int, backend, size: int) -> float:
    from stemgen.workers import run_jobs

    done = []
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        run_jobs([(i, size) for i in range(n)], write_one, out, lambda item, outcome: done.append(outcome), 2, backend)
        wall = time.perf_counter() - t0
        assert len(done) == n and len(os.listdir(out)) == n, (len(done), n)
    return wall


def time_midi_batch(songs: list[Path], backend) -> tuple[float, int]:
    from stemgen.midi import batch as B

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = B.run_batch(songs[0].parent, Path(out), B.BatchSettings("drums"), workers=2, progress=False,
                              backend=backend)
        return time.perf_counter() - t0, len(summary.processed)


def split_costs(t_n: float, t_2n: float, n: int) -> tuple[float, float]:
    """(per-item seconds, start-up seconds) from the wall times of n and 2n items."""
    per_item = (t_2n - t_n) / n
    return per_item, t_n - n * per_item


def fastest(runs: dict[str, list], name: str, fn) -> None:
    runs.setdefault(name, []).append(fn())


def prepare(n: int, folder: Path) -> list[Path]:
    from stemgen.midi.splits import files_in_split
    from stemgen.midifile.subtract import strip_role

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in files_in_split(BAND, "test")[:n]:
        dst = folder / src.name
        dst.write_bytes(strip_role(src.read_bytes(), "drums"))
        out.append(dst)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from ray_cluster import LOOPBACK_ENV, RayCluster

    from stemgen.workers import LOCAL, Backend

    os.environ.update(LOOPBACK_ENV)
    cluster = RayCluster()
    try:
        backends = {"local": LOCAL, "ray": Backend("ray", cluster.address)}
        # 4 KB: the executor alone; 1 MB: plus the bytes a task sends back (a dataset build's song
        # sends its FLAC windows, MBs), with fewer items.
        for size, n in ((4096, args.items), (2**20, max(1, args.items // 3))):
            seam: dict[str, list] = {}
            for _ in range(args.repeats):
                for name, backend in backends.items():
                    fastest(seam, f"{name}:n", lambda: time_seam(n, backend, size))
                    fastest(seam, f"{name}:2n", lambda: time_seam(2 * n, backend, size))
            for name in backends:
                t_n, t_2n = min(seam[f"{name}:n"]), min(seam[f"{name}:2n"])
                per_item, startup = split_costs(t_n, t_2n, n)
                cfg = dict(backend=name, item_bytes=size, items=[n, 2 * n], wall_s=[round(t_n, 2), round(t_2n, 2)],
                           repeats=args.repeats, load=round(os.getloadavg()[0], 1))
                emit("workers_seam_per_item", round(1000 * per_item, 2), "ms", **cfg)
                emit("workers_seam_startup", round(startup, 2), "s", **cfg)
        if args.songs <= 0:
            return
        batch: dict[str, list] = {}
        with tempfile.TemporaryDirectory() as tmp:
            songs = prepare(args.songs, Path(tmp) / "songs")
            for _ in range(args.repeats):
                for name, backend in backends.items():
                    fastest(batch, name, lambda: time_midi_batch(songs, backend))
        for name in backends:
            wall, done = min(batch[name])
            emit("midi_batch_wall", round(wall, 1), "s", backend=name, songs=done, workers=2, repeats=args.repeats,
                 all_wall_s=[round(w, 1) for w, _ in batch[name]], load=round(os.getloadavg()[0], 1))
        emit("midi_batch_ray_minus_local_per_song", round((min(batch["ray"])[0] - min(batch["local"])[0]) / args.songs, 3),
             "s", songs=args.songs, note="start-up included", load=round(os.getloadavg()[0], 1))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
