"""A fixed reference workload, timed so that every benchmark run carries its own yardstick.

The machines these benchmarks run on are shared and noisy: the same code can take twice as long
an hour later. ``bench/run_all`` times this workload first (and again last, to show how much the
machine drifted during the run) and adds to every timing line a ``ratio_to_reference``:

* times (unit ``s``, ``ms``, ``s/...``, ``ms/...``): ``ratio = seconds / reference_s``, i.e. how many
  reference workloads the measured operation costs (lower is faster);
* throughputs (unit ending in ``/s`` or containing ``realtime``): ``ratio = figure * reference_s``,
  i.e. work done in the time of one reference workload (higher is faster).

A ratio moves when the code gets faster or slower, much less when the machine is busy. Lines for
a CUDA device are divided by the CUDA reference (a matmul on the GPU) when one was measured.

Workload (median of 5 repeats, default thread settings): numpy 384x384 float64 matmul x4, a
2^18-point real FFT x4; torch float32 conv2d (1x32x128x128, 32 3x3 filters) x4 and 512x512 matmul x4.

    .venv/bin/python bench/bench_reference.py [--device cuda] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit  # noqa: E402


def cpu_workload() -> None:
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    a = rng.normal(size=(384, 384))
    x = rng.normal(size=2**18)
    for _ in range(4):
        a = (a @ a) / 384.0
        np.fft.rfft(x)
    t = torch.randn(1, 32, 128, 128, generator=torch.Generator().manual_seed(0))
    w = torch.randn(32, 32, 3, 3, generator=torch.Generator().manual_seed(1)) / 30
    m = torch.randn(512, 512, generator=torch.Generator().manual_seed(2)) / 23
    with torch.no_grad():
        for _ in range(4):
            t = torch.nn.functional.conv2d(t, w, padding=1).tanh()
            m = (m @ m).tanh()


def cuda_workload() -> None:
    import torch

    m = torch.randn(4096, 4096, device="cuda", generator=torch.Generator("cuda").manual_seed(0)) / 64
    for _ in range(20):
        m = (m @ m).tanh()
    torch.cuda.synchronize()


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up: imports, allocator, kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--name", default="reference_s", help="figure name (run_all uses reference_end_s for the re-measure)")
    args = parser.parse_args()
    cfg = {"workload": "numpy matmul+fft, torch conv2d+matmul", "repeats": args.repeats}
    emit(args.name, round(time_it(cpu_workload, args.repeats), 5), "s", "cpu", **cfg)
    if args.device.startswith("cuda"):
        emit(args.name.replace("_s", "_cuda_s"), round(time_it(cuda_workload, args.repeats), 5), "s", args.device,
             workload="torch 4096^2 matmul x20", repeats=args.repeats)


if __name__ == "__main__":
    main()
