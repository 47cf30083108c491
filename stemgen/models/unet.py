"""The denoiser: a diffusers ``UNet2DConditionModel`` with InstructPix2Pix conditioning.

The UNet input is ``concat(noisy target, context)`` along channels, so it has twice the channels
it predicts; the instruction enters through cross-attention. From scratch (``compact``, ``tiny``)
the UNet is built with those channel counts; from a pretrained Stable-Diffusion-format model
(``riffusion``) its ``conv_in`` is widened from 4 to 8 input channels with the new weights set to
zero, so at step 0 the widened model behaves exactly like the pretrained one and learns to use
the context gradually (as in InstructPix2Pix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def build_unet(
    unet_kwargs: dict[str, Any],
    latent_channels: int,
    sample_size: tuple[int, int],
    seed: int = 0,
):
    """A fresh, randomly initialised UNet taking ``2 * latent_channels`` and predicting ``latent_channels``."""
    from diffusers import UNet2DConditionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DConditionModel(
            sample_size=tuple(sample_size),
            in_channels=2 * latent_channels,
            out_channels=latent_channels,
            **unet_kwargs,
        )


def widen_conv_in(unet, in_channels: int) -> None:
    """Give ``unet.conv_in`` ``in_channels`` inputs: old weights kept in front, new ones zero."""
    old = unet.conv_in
    if old.in_channels == in_channels:
        return
    if old.in_channels > in_channels:
        raise ValueError(f"conv_in already has {old.in_channels} input channels (> {in_channels})")
    new = torch.nn.Conv2d(
        in_channels, old.out_channels, kernel_size=old.kernel_size, stride=old.stride, padding=old.padding,
        bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels].copy_(old.weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)


def load_pretrained_unet(base_model: str | Path, local_files_only: bool = True, allow_pickle: bool = False):
    """The ``unet`` of a Stable-Diffusion-format folder/hub id, widened for context concatenation."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(
        base_model, subfolder="unet", local_files_only=local_files_only, use_safetensors=not allow_pickle
    )
    widen_conv_in(unet, 2 * unet.config.in_channels)
    return unet


def load_pretrained_vae(base_model: str | Path, local_files_only: bool = True, allow_pickle: bool = False):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(
        base_model, subfolder="vae", local_files_only=local_files_only, use_safetensors=not allow_pickle
    )
    return vae.eval().requires_grad_(False)
