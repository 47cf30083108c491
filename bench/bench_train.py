"""Training throughput (samples/s) and peak memory per preset and device.

Times the real training step (``stemgen.training.objective.diffusion_loss`` under an accelerate
``Accelerator``: autocast, backward, AdamW, EMA update) on in-memory spectrogram batches, so the
figure is the model's cost; the data path is a memory-mapped uint8 cache (``stemgen.training.data``)
and does not limit it. ``riffusion`` is the full-size Stable Diffusion 1.x architecture (UNet with
8 input channels, VAE, 12-layer CLIP-size text encoder) with random weights: speed does not depend
on the weights, and the real checkpoint cannot be fetched offline.

    .venv/bin/python bench/bench_train.py                      # CPU: tiny, compact
    .venv/bin/python bench/bench_train.py --device cuda        # GPU: compact, riffusion (bf16)
    .venv/bin/python bench/bench_train.py --device cuda --presets riffusion --batch-size 16 --gradient-checkpointing
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peak_rss_mb  # noqa: E402

DEFAULT_BATCH = {("cpu", "tiny"): 8, ("cpu", "compact"): 4, ("cuda", "compact"): 64, ("cuda", "riffusion"): 8,
                 ("cuda", "tiny"): 64, ("cpu", "riffusion"): 1}


def riffusion_random_pipeline():
    """A ``StemInsertionPipeline`` with Riffusion v1's (SD 1.x) shapes and random weights, offline.

    The tokenizer is MiniLM's (CLIP's vocabulary files are not available offline); the CLIP text
    model is built with that vocabulary size, which changes only its embedding table, not its cost.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from stemgen.codec.config import get_preset
    from stemgen.models.text import build_tiny_text_encoder
    from stemgen.models.unet import widen_conv_in
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    _, tokenizer = build_tiny_text_encoder()
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)  # SD 1.x
    widen_conv_in(unet, 8)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    ).requires_grad_(False)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
        num_attention_heads=12, max_position_embeddings=77, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
    )).requires_grad_(False)
    scheduler = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
    meta = dict(preset="riffusion", codec=get_preset("riffusion").to_dict(), stem="drums", target="stem",
                patch_size=1, text_max_length=77, text_encoder="clip", base_model=None, license="apache-2.0")
    return StemInsertionPipeline(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
                                 vae=vae, stemgen=meta)


def bench_preset(preset: str, args) -> None:
    import torch
    from accelerate import Accelerator
    from diffusers import DDPMScheduler

    from stemgen.pipelines import build_pipeline
    from stemgen.ema import ExponentialMovingAverage
    from stemgen.training.model import add_lora, trainable_parameters
    from stemgen.training.objective import DropoutProbs, diffusion_loss
    from stemgen.training.order import step_generator

    device_kind = "cuda" if args.device.startswith("cuda") else "cpu"
    batch = args.batch_size or DEFAULT_BATCH.get((device_kind, preset), 4)
    precision = args.mixed_precision or ("bf16" if device_kind == "cuda" else "no")
    accelerator = Accelerator(cpu=device_kind == "cpu", mixed_precision=precision)
    device = accelerator.device
    pipe = riffusion_random_pipeline() if preset == "riffusion" else build_pipeline(preset)
    half = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision) if device_kind == "cuda" else None
    pipe.text_encoder.to(device, half or torch.float32)
    if pipe.vae is not None:
        pipe.vae.to(device, half or torch.float32)
    unet = pipe.unet.to(device)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    if args.lora_rank:
        add_lora(unet, args.lora_rank)
    unet.train()
    params = trainable_parameters(unet)
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    train_unet, optimizer = accelerator.prepare(unet, optimizer)
    ema = ExponentialMovingAverage(params, 0.9999).to(device)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    codec = pipe.codec_config
    images = torch.rand(batch, 1, codec.n_mels, codec.num_frames) * 2 - 1
    data = {"target": images, "context": images.flip(0), "instruction": ["Add punchy rock drums"] * batch}
    if device_kind == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def step(i: int) -> None:
        loss = diffusion_loss(pipe, train_unet, noise_scheduler, data, step_generator(0, i, 0, device), DropoutProbs(), device)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(params)

    for i in range(args.warmup):
        step(i)
    if device_kind == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(args.warmup + i)
    if device_kind == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    config = {"preset": preset, "batch_size": batch, "mixed_precision": precision, "steps": args.steps,
              "gradient_checkpointing": args.gradient_checkpointing, "lora_rank": args.lora_rank,
              "trainable_params_m": round(sum(p.numel() for p in params) / 1e6, 2),
              "image": [codec.n_mels, codec.num_frames], "threads": torch.get_num_threads()}
    emit("train_samples_per_s", round(args.steps * batch / wall, 3), "samples/s", args.device, **config)
    emit("train_step_s", round(wall / args.steps, 4), "s", args.device, **config)
    if device_kind == "cuda":
        emit("train_peak_gpu_memory", round(torch.cuda.max_memory_allocated() / 2**20, 1), "MiB", args.device, **config)
    else:
        emit("train_peak_rss", peak_rss_mb(), "MiB", args.device, **config)
    del pipe, unet, train_unet, optimizer, ema
    accelerator.free_memory()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--presets", default=None, help="comma list (default cpu: tiny,compact; cuda: compact,riffusion)")
    parser.add_argument("--batch-size", type=int, default=None, help="per step (default per preset and device)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default cpu 5, cuda 20)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mixed-precision", default=None, help="no | fp16 | bf16 (default: bf16 on cuda)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--lora-rank", type=int, default=0)
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    args.steps = args.steps or (20 if cuda else 5)
    presets = (args.presets or ("compact,riffusion" if cuda else "tiny,compact")).split(",")
    for preset in presets:
        bench_preset(preset.strip(), args)


if __name__ == "__main__":
    main()
