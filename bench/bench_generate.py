"""Generation speed and memory: real-time factor per preset, device and step count.

Prints one JSON object a line: ``{"name", "figure", "unit", "device", "config"}``.

    python bench/bench_generate.py --presets compact --steps 25 --duration 30 --threads 1
    python bench/bench_generate.py --presets compact --steps 2 --duration 300      # peak memory, 5-min song
    python bench/bench_generate.py --presets compact,riffusion --device cuda --batch-size 16 --steps 25

Weights are random: speed does not depend on them. ``riffusion`` is the full-size Stable
Diffusion 1.5 architecture (UNet widened to 8 inputs, f=8 VAE, CLIP ViT-L/14 text encoder), so
it is a fair speed benchmark where the real checkpoint cannot be fetched. On CUDA the pipeline
runs in fp16 with windows batched. The input is the 61 s demo mix looped to ``--duration``.

Figures: ``generate_rtf`` = audio seconds / wall seconds (end to end: encode, sample, phase,
stitch, mix; model loading excluded); ``generate_rtf_cpu_time`` = audio seconds / process CPU
seconds (what one uncontended core would give: the shared 2-core machine's wall time varies with
the load); ``peak_rss`` (CPU, whole process incl. model) or ``peak_cuda_memory``; ``seam_ratio``.
``--seams`` measures only the joins: a stand-in model that returns its context makes the output
the input re-synthesised window by window, so ``echo_seam_ratio`` and ``echo_spectral_convergence``
show what the
windowing, per-window Griffin-Lim and each continuity mode add (a trained model adds its own).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import string
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Idle OpenMP threads sleep instead of spinning: on a shared (or busy) machine spinning threads
# steal the cores the working ones need (measured: 10x slower UNet steps with 2 threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "demo_mixes" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"


def random_riffusion_pipeline():
    """Stable Diffusion 1.5's architecture with random weights, as the ``riffusion`` preset would load it."""
    import torch
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from stemgen.pipelines import pipeline_metadata
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768,
                                attention_head_dim=8)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4, sample_size=512, scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    letters = list(string.ascii_lowercase)
    vocab = {t: i for i, t in enumerate(["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters)])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], unk_token="<|endoftext|>", pad_token="<|endoftext|>",
                              bos_token="<|startoftext|>", eos_token="<|endoftext|>", model_max_length=77)
    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    meta = pipeline_metadata("riffusion", base_model="random weights (benchmark)")
    return StemInsertionPipeline(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
                                 vae=vae, stemgen=meta)


def make_pipeline(preset: str):
    if preset == "riffusion":
        return random_riffusion_pipeline()
    from stemgen.pipelines import build_pipeline

    return build_pipeline(preset)


def song(path: Path, seconds: float):
    import numpy as np

    from stemgen.audio.io import load_audio

    audio, sr = load_audio(path)
    n = int(seconds * sr)
    reps = -(-n // audio.shape[1])
    return np.tile(audio, (1, reps))[:, :n], sr


class EchoPipeline:
    """Stands in for a model that returns the context unchanged: isolates the stitching and phase
    seams (windows, Griffin-Lim per window, overlap handling) from what a model generates."""

    def __init__(self, pipe):
        self._pipe = pipe

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, context, instruction, known_image=None, known_mask=None, **kwargs):
        from stemgen.pipelines.stem_insertion import StemInsertionOutput

        images = context.clone()
        if known_image is not None:  # the same constraint the real sampler imposes
            images = known_mask * known_image + (1 - known_mask) * images
        return StemInsertionOutput(images=images, latents=images)


def seam_figures(preset: str, audio, sr: int, dev_name: str) -> None:
    """Seam ratio and SNR against the input for both continuity modes, with ``EchoPipeline``."""
    import torch

    from stemgen.codec.metrics import spectral_convergence
    from stemgen.generation import generate_stem

    pipe = EchoPipeline(make_pipeline(preset))
    mono = audio.mean(axis=0).astype("float32")
    for continuity in ("inpaint", "crossfade"):
        r = generate_stem(pipe, audio, None, "", sample_rate=sr, continuity=continuity, batch_size=1)
        sc = spectral_convergence(torch.from_numpy(mono)[None], torch.from_numpy(r.stem_audio))
        cfg = {"preset": preset, "continuity": continuity, "audio_s": round(audio.shape[1] / sr, 2), **r.seams}
        emit("echo_seam_ratio", r.seams.get("seam_ratio", 1.0), "seam flux / inside flux", dev_name, cfg)
        emit("echo_spectral_convergence", float(sc.mean()), "|S - S'|_F / |S|_F vs input", dev_name, cfg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="compact", help="comma-separated: compact, tiny, riffusion")
    ap.add_argument("--steps", default="25", help="comma-separated step counts")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of audio to generate for")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--batch-size", type=int, default=None, help="windows per call (default 1 on CPU, 16 on CUDA)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--continuity", default="inpaint", choices=["inpaint", "crossfade"])
    ap.add_argument("--scheduler", default="dpm")
    ap.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    ap.add_argument("--fp32", action="store_true", help="keep fp32 on CUDA")
    ap.add_argument("--seams", action="store_true", help="only the stitching-seam figures (EchoPipeline, no UNet)")
    args = ap.parse_args(argv)

    import torch

    from stemgen.generation import generate_stem

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cuda = device.type == "cuda"
    dtype = torch.float16 if cuda and not args.fp32 else torch.float32
    batch = args.batch_size or (16 if cuda else 1)
    audio, sr = song(args.input, args.duration)
    dev_name = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"
    if args.seams:
        for preset in args.presets.split(","):
            seam_figures(preset.strip(), audio, sr, dev_name)
        return 0

    for preset in args.presets.split(","):
        pipe = make_pipeline(preset.strip())
        pipe = pipe.to(device, dtype) if dtype != torch.float32 else pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        warm = int(pipe.codec_config.window_seconds * sr)  # one window: one-time costs (kernels, caches)
        generate_stem(pipe, audio[:, :warm], None, "Add drums", sample_rate=sr, num_inference_steps=2, batch_size=batch)
        for steps in [int(s) for s in args.steps.split(",")]:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats(device)
            cpu0, t0 = time.process_time(), time.perf_counter()
            result = generate_stem(
                pipe, audio, None, "Add energetic drums", sample_rate=sr, num_inference_steps=steps,
                scheduler=args.scheduler, batch_size=batch, continuity=args.continuity, seed=0,
            )
            if cuda:
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            config = {
                "preset": preset, "steps": steps, "audio_s": args.duration, "batch_size": batch,
                "dtype": str(dtype).removeprefix("torch."), "scheduler": args.scheduler, "continuity": args.continuity,
                "windows": result.info["windows"], "window_s": result.info["window_s"],
                "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "timings": result.timings,
                "unet_params_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 2),
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
            emit("generate_rtf", args.duration / wall, "x realtime", dev_name, config)
            if not cuda:
                emit("generate_rtf_cpu_time", args.duration / cpu, "x realtime per CPU-second", dev_name, config)
            emit("seam_ratio", result.seams.get("seam_ratio", 1.0), "seam flux / inside flux", dev_name,
                 {"preset": preset, "steps": steps, "continuity": args.continuity, **result.seams})
            if cuda:
                emit("peak_cuda_memory", torch.cuda.max_memory_allocated(device) / 2**20, "MiB", dev_name, config)
        del pipe
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit("peak_rss", rss_mib, "MiB", dev_name, {"presets": args.presets, "audio_s": args.duration,
                                                "note": "whole process: models, audio and generation"})
    return 0


def emit(name: str, figure: float, unit: str, device: str, config: dict) -> None:
    print(json.dumps({"name": name, "figure": round(float(figure), 4), "unit": unit, "device": device,
                      "config": config}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
