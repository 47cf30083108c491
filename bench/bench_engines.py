"""Both audio engines on the same song in one run: the arranger (analysis + part model + SoundFont
render) end to end on a 3-minute song, and the spectrogram diffusion engine with the bundled model.

    python bench/bench_engines.py                                   # 180 s song, diffusion on 30 s of it
    python bench/bench_engines.py --duration 180 --diffusion-duration 180 --steps 25   # the full song for both

Figures (one JSON line each): ``arranger_rtf`` = audio seconds / wall seconds including loading
the part model and text encoder (what ``stemgen generate --engine arranger`` costs), and its
``_cpu_time`` variant (audio seconds / process CPU seconds: what an uncontended machine gives on
this shared 2-core box); the stage times are in the config. ``diffusion_rtf`` likewise for
``generate_stem`` with the bundled model (model loading excluded, as in bench_generate.py); it
runs on ``--diffusion-duration`` seconds because on two CPU cores a whole song takes minutes.
The input is the 61 s CC BY demo mix looped to ``--duration``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, peak_rss_mb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "demo_mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def looped(path: Path, seconds: float):
    import numpy as np

    from stemgen.audio.io import load_audio

    audio, sr = load_audio(path)
    n = int(seconds * sr)
    return np.ascontiguousarray(np.tile(audio, (1, -(-n // audio.shape[1])))[:, :n]), sr


def timed(fn):
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - cpu0


def bench_arranger(audio, sr, stem: str, device: str) -> None:
    from stemgen.arranger.engine import Arranger

    def run():
        arranger = Arranger(stem)
        return arranger(audio, sr, f"Add {stem}", seed=0)

    result, wall, cpu = timed(run)
    seconds = audio.shape[1] / sr
    config = {"stem": stem, "audio_s": round(seconds, 1), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
              "stages_s": result.timings, "notes": len(result.notes), "load_avg_1m": round(os.getloadavg()[0], 2)}
    emit("arranger_rtf", round(seconds / wall, 2), "x realtime (load + analysis + part model + render)", device, **config)
    emit("arranger_rtf_cpu_time", round(seconds / cpu, 2), "x realtime per CPU-second", device, **config)


def bench_diffusion(audio, sr, stem: str, steps: int, device: str) -> None:
    import torch

    from stemgen.generation import generate_stem
    from stemgen.generation.defaults import find_default_model
    from stemgen.pipelines import load_pipeline

    dev = torch.device("cuda" if device.startswith("cuda") else "cpu")
    pipe = load_pipeline(find_default_model(stem), quiet=True)
    pipe = pipe.to(dev, torch.float16) if dev.type == "cuda" else pipe.to(dev)
    result, wall, cpu = timed(lambda: generate_stem(pipe, audio, stem, f"Add {stem}", sample_rate=sr,
                                                    num_inference_steps=steps, seed=0,
                                                    batch_size=16 if dev.type == "cuda" else 1))
    seconds = audio.shape[1] / sr
    config = {"stem": stem, "audio_s": round(seconds, 1), "steps": steps, "wall_s": round(wall, 2),
              "cpu_s": round(cpu, 2), "windows": result.info["windows"], "load_avg_1m": round(os.getloadavg()[0], 2)}
    emit("diffusion_rtf", round(seconds / wall, 3), "x realtime (model loaded)", device, **config)
    if dev.type == "cpu":
        emit("diffusion_rtf_cpu_time", round(seconds / cpu, 3), "x realtime per CPU-second", device, **config)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=180.0, help="song length for the arranger (s)")
    ap.add_argument("--diffusion-duration", type=float, default=30.0, help="seconds the diffusion engine runs on")
    ap.add_argument("--steps", type=int, default=25, help="diffusion sampling steps (the CLI default)")
    ap.add_argument("--stems", default="drums", help="comma-separated stems")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (diffusion only; the arranger runs on the CPU)")
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    args = ap.parse_args(argv)

    audio, sr = looped(args.input, args.duration)
    for stem in [s.strip() for s in args.stems.split(",") if s.strip()]:
        bench_arranger(audio, sr, stem, "cpu")
        if args.diffusion_duration > 0:
            bench_diffusion(audio[:, : int(args.diffusion_duration * sr)], sr, stem, args.steps, args.device)
    emit("engines_peak_rss", peak_rss_mb(), "MiB", args.device, note="whole process, both engines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
