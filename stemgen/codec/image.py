"""Mel magnitude <-> spectrogram image, and 8-bit PNG I/O.

Image convention (all presets; it is Riffusion v1's, so its checkpoints see what they were
trained on):
- level: ``v = clip(magnitude ** power / max_value, 0, 1)``; the 8-bit pixel is ``255 * (1 - v)``,
  i.e. *inverted*: silence is white (255), the loudest bins are black (0), as in Riffusion's
  ``image_from_spectrogram`` (``data = 255 - data``);
- orientation: row 0 is the *highest* mel band, low frequencies at the bottom (Riffusion flips
  the frequency axis before writing the image, ``FLIP_TOP_BOTTOM``);
- tensor: ``pixel / 127.5 - 1`` in [-1, 1], exactly what a diffusers VAE / UNet receives from a
  PNG, shaped ``(B, 1, n_mels, frames)``; repeat to 3 channels for an RGB VAE.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from stemgen.codec.config import CodecConfig

# Keeps pow() differentiable at 0 (its gradient is infinite there) at a level far below one 8-bit step.
_MAG_FLOOR = 1e-20
PNG_CONFIG_KEY = "stemgen_codec"


def magnitude_to_image(mag: torch.Tensor, config: CodecConfig) -> torch.Tensor:
    """``(B, n_mels, T)`` mel magnitude -> ``(B, 1, n_mels, T)`` image in [-1, 1]."""
    # where(): silence maps to exactly 0 (white) while the gradient stays finite everywhere.
    compressed = torch.where(mag > _MAG_FLOOR, mag.clamp_min(_MAG_FLOOR).pow(config.power), 0.0)
    level = (compressed / config.max_value).clamp(0.0, 1.0)
    return (1.0 - 2.0 * level).flip(-2).unsqueeze(1)


def image_to_magnitude(image: torch.Tensor, config: CodecConfig) -> torch.Tensor:
    """``(B, 1, n_mels, T)`` (or ``(B, n_mels, T)``) image -> ``(B, n_mels, T)`` mel magnitude."""
    if image.dim() == 4:
        if image.shape[1] != 1:  # an RGB image from a VAE: Riffusion reads the first channel
            image = image[:, :1]
        image = image.squeeze(1)
    level = ((1.0 - image.flip(-2)) * 0.5).clamp(0.0, 1.0)
    return (level * config.max_value).pow(1.0 / config.power)


def image_to_uint8(image: torch.Tensor) -> np.ndarray:
    """One image ``(1, H, W)``, ``(1, 1, H, W)`` or ``(H, W)`` in [-1, 1] -> ``(H, W)`` uint8 pixels."""
    image = image.detach().float().cpu()
    while image.dim() > 2:
        if image.shape[0] != 1:
            raise ValueError(f"expected a single image, got shape {tuple(image.shape)}")
        image = image[0]
    return ((image.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).numpy()


def uint8_to_image(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` uint8 pixels -> ``(1, 1, H, W)`` float image in [-1, 1]."""
    if pixels.ndim == 3:
        pixels = pixels[..., 0]  # grey or RGB: Riffusion decodes the first channel
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1.0)[None, None]


def image_to_png(image: torch.Tensor, path: str | Path, config: CodecConfig | None = None) -> Path:
    """Write one image as an 8-bit greyscale PNG (optionally with the codec config as a text chunk)."""
    from PIL import Image, PngImagePlugin

    path = Path(path)
    info = PngImagePlugin.PngInfo()
    if config is not None:
        info.add_text(PNG_CONFIG_KEY, json.dumps(config.to_dict()))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_to_uint8(image), mode="L").save(path, pnginfo=info)
    return path


def png_to_image(path: str | Path) -> tuple[torch.Tensor, CodecConfig | None]:
    """Read a spectrogram PNG (ours or Riffusion's RGB ones) -> ``((1, 1, H, W) image, config or None)``."""
    from PIL import Image

    with Image.open(path) as img:
        text = dict(getattr(img, "text", {}) or {})
        pixels = np.asarray(img.convert("L") if img.mode not in ("L", "RGB", "RGBA") else img)
    config = CodecConfig.from_dict(json.loads(text[PNG_CONFIG_KEY])) if PNG_CONFIG_KEY in text else None
    return uint8_to_image(pixels), config
