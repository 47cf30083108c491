"""Build a fresh ``StemInsertionPipeline`` for a preset: from scratch or from a pretrained base.

This is what training starts from::

    pipe = build_pipeline("compact", stem="drums")            # random UNet, MiniLM text encoder
    pipe = build_pipeline("riffusion", base_model="path/or/hub-id")  # widened Riffusion v1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemgen.codec.config import get_preset
from stemgen.models.configs import ModelPreset, get_model_preset
from stemgen.stems import STEMS


def build_pipeline(
    preset: str | ModelPreset,
    *,
    stem: str = "drums",
    target: str = "stem",
    base_model: str | Path | None = None,
    local_files_only: bool | None = None,
    allow_pickle: bool = False,
    license: str = "apache-2.0",
    training: dict[str, Any] | None = None,
    seed: int = 0,
):
    """A new, untrained (or base-initialised) stem-insertion pipeline for ``preset``.

    ``base_model`` (``riffusion`` only; defaults to the hub id ``riffusion/riffusion-model-v1``): a
    Stable-Diffusion-format folder or hub id. A local folder is always read offline; a hub id is
    fetched only when ``local_files_only=False`` or ``HF_HUB_OFFLINE`` is unset. ``allow_pickle``
    lets old ``.bin`` checkpoints load (off by default: safetensors only). ``seed`` fixes the
    random initialisation of from-scratch weights.
    """
    from diffusers import DDPMScheduler

    from stemgen.models import text as text_models
    from stemgen.models.unet import (
        build_unet,
        load_pretrained_unet,
        load_pretrained_vae,
    )
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    p = get_model_preset(preset) if isinstance(preset, str) else preset
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {', '.join(STEMS)}, not {stem!r}")
    codec = get_preset(p.codec)
    vae = None
    if p.text_encoder == "clip":
        base = str(base_model or p.base_model)
        if local_files_only is None:
            local_files_only = Path(base).is_dir() or _hub_offline()
        unet = load_pretrained_unet(base, local_files_only, allow_pickle)
        vae = load_pretrained_vae(base, local_files_only, allow_pickle)
        text_encoder, tokenizer = text_models.load_clip(base, local_files_only, allow_pickle)
        scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler", local_files_only=local_files_only)
        base_name = base
    else:
        if base_model is not None:
            raise ValueError(f"preset '{p.name}' is trained from scratch; base_model is only for 'riffusion'")
        if codec.n_mels % p.patch_size or codec.num_frames % p.patch_size:
            raise ValueError(f"patch size {p.patch_size} does not divide the {codec.n_mels}x{codec.num_frames} image")
        channels = p.patch_size**2
        sample_size = (codec.n_mels // p.patch_size, codec.num_frames // p.patch_size)
        unet = build_unet(p.unet, channels, sample_size, seed=seed)
        if p.text_encoder == "minilm":
            text_encoder, tokenizer = text_models.load_minilm()
        elif p.text_encoder == "tiny-bert":
            text_encoder, tokenizer = text_models.build_tiny_text_encoder(p.unet["cross_attention_dim"], seed=seed)
        else:
            raise ValueError(f"unknown text encoder kind '{p.text_encoder}'")
        scheduler = DDPMScheduler(**p.noise_schedule)
        base_name = None
    meta = pipeline_metadata(p, stem=stem, target=target, base_model=base_name, license=license, training=training)
    return StemInsertionPipeline(
        unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer, vae=vae, stemgen=meta
    )


def pipeline_metadata(
    preset: str | ModelPreset,
    *,
    stem: str = "drums",
    target: str = "stem",
    base_model: str | None = None,
    license: str = "apache-2.0",
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``stemgen`` metadata dict a pipeline of ``preset`` carries (see ``StemInsertionPipeline``)."""
    p = get_model_preset(preset) if isinstance(preset, str) else preset
    return dict(
        preset=p.name,
        codec=get_preset(p.codec).to_dict(),
        stem=stem,
        target=target,
        patch_size=p.patch_size,
        text_max_length=p.text_max_length,
        text_encoder=p.text_encoder,
        base_model=base_model,
        license=license,
        training=training or {},
    )


def _hub_offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
