"""Model presets: which codec, text encoder, UNet shape and noise schedule each preset uses.

A preset is everything needed to *build* a fresh model; once built, the relevant parts travel
with the saved pipeline (``StemInsertionPipeline.config.stemgen``), so loading never needs this
table again.

Why the ``compact`` UNet works on patches rather than a learned latent: a VAE would have to be
trained first (and its decoder costs time at inference), while folding each ``8x8`` patch of
the spectrogram image into 64 channels (pixel-unshuffle, as in "simple diffusion", Hoogeboom
et al. 2023, and DiT's patching) is exact, free and invertible, and divides the positions the
UNet convolves over by 64 -- the same spatial reduction as Stable Diffusion's f=8 VAE, without
its lossy 4-channel bottleneck. A 128x256 compact image becomes a 64x16x32 tensor (one position =
8 mel bands x 80 ms); attention runs at 8x16 and 4x8. Widths (48, 96, 160), 7.7 M parameters,
were picked for the CPU budget, measured on the 2-core machine (one thread, process CPU time):
0.165 s per guided step (three CFG branches, one window); (64, 128, 192) took 0.23 s and a 4x4
patch with (48, 96, 144) 0.48 s. 25 steps per 4.48 s of new audio leaves ~1x real time on one
core (``bench/bench_generate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelPreset:
    """How to build a fresh stem-insertion model."""

    name: str
    codec: str  # stemgen.codec.config preset name
    text_encoder: str  # "minilm" | "tiny-bert" | "clip" (from the base model)
    patch_size: int  # pixel-unshuffle factor image -> UNet space (ignored when a VAE is used)
    text_max_length: int  # tokens per instruction (fixed, so the three CFG branches batch together)
    unet: dict[str, Any] = field(default_factory=dict)  # UNet2DConditionModel kwargs (from scratch)
    noise_schedule: dict[str, Any] = field(default_factory=dict)  # DDPMScheduler kwargs
    base_model: str | None = None  # Stable-Diffusion-format folder or hub id to start from


# Pixel-space (patched) models: the DDPM "linear" betas, rescaled to a zero terminal SNR, with
# v-prediction (Lin et al. 2024, "Common diffusion noise schedules and sample steps are flawed").
# Why not the usual epsilon prediction: sampling starts from pure noise, and the first x0 estimate
# of an epsilon model divides its error by sqrt(alpha_bar_T) (~0.006 for the plain linear schedule),
# so any model short of fully trained explodes into loud broadband noise -- exactly what the first
# CPU-trained drums model did (700 steps: eps MSE 0.09 at t=999 -> samples at +-1). A v model at
# zero SNR predicts x0 itself at t=T (v = -x0 there), so its first step is its best guess of the
# stem given the context, and errors are never amplified. Every sampler offered supports both.
_PIXEL_SCHEDULE = dict(
    num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
    prediction_type="v_prediction", rescale_betas_zero_snr=True, clip_sample=False,
    # "trailing" puts the first sampling step at the last training timestep (Lin et al. 2024),
    # which matters at the 20-30 steps we sample with.
    timestep_spacing="trailing",
)

COMPACT = ModelPreset(
    name="compact",
    codec="compact",
    text_encoder="minilm",
    patch_size=8,
    text_max_length=48,
    unet=dict(
        block_out_channels=(48, 96, 160),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=384,  # all-MiniLM-L6-v2 hidden size
        attention_head_dim=(2, 4, 5),  # diffusers' legacy name: heads per block (24-32 dims per head)
        norm_num_groups=16,
    ),
    noise_schedule=_PIXEL_SCHEDULE,
)

# The ``compact`` codec and code path with a narrower UNet (32, 64, 96 channels): what a 2-core CPU
# can train for a useful number of steps in half an hour, and small enough to ship in the
# repository. It patches 4x4 rather than 8x8: the UNet's first level must be wider than the
# latent it predicts (at high noise levels a model has to pass the noise through), and 32 channels
# cannot carry an 8x8 patch's 64. Measured (epsilon schedule): with 8x8 patches the loss stayed at
# ~0.66 at every timestep, even t=950 where predicting the noise is nearly the identity.
COMPACT_SMALL = ModelPreset(
    name="compact-small",
    codec="compact",
    text_encoder="minilm",
    patch_size=4,
    text_max_length=48,
    unet=dict(COMPACT.unet, block_out_channels=(32, 64, 96), attention_head_dim=(2, 2, 3), norm_num_groups=16),
    noise_schedule=_PIXEL_SCHEDULE,
)

TINY = ModelPreset(
    name="tiny",
    codec="tiny",
    text_encoder="tiny-bert",
    patch_size=2,
    text_max_length=16,
    unet=dict(
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=2,
        norm_num_groups=8,
    ),
    noise_schedule=_PIXEL_SCHEDULE,
)

# Riffusion v1: Stable Diffusion 1.5 fine-tuned on 512x512 spectrogram images; the UNet, VAE,
# CLIP and noise schedule all come from the base model.
RIFFUSION = ModelPreset(
    name="riffusion",
    codec="riffusion",
    text_encoder="clip",
    patch_size=1,
    text_max_length=77,
    base_model="riffusion/riffusion-model-v1",
)

MODEL_PRESETS: dict[str, ModelPreset] = {p.name: p for p in (RIFFUSION, COMPACT, COMPACT_SMALL, TINY)}


def get_model_preset(name: str) -> ModelPreset:
    try:
        return MODEL_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset '{name}' (choose from {', '.join(MODEL_PRESETS)})") from None
