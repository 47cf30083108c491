"""A small diffusion model over one stem's grid lanes, conditioned on the other tracks and a text.

Network: a 1-D residual stack of dilated convolutions over time (dilations 1..32, receptive field
about the whole 128-step window), each block modulated (FiLM) by the diffusion time and the
instruction embedding. Inputs concatenated on channels, InstructPix2Pix style: the noisy lanes,
the known lanes and their mask (for continuity between windows), and the context features.
Why convolutions and not attention: on two CPU cores a conv stack of this size runs a batch of
windows in a few milliseconds, and bar-level patterns fit in its receptive field.

Diffusion: continuous time, cosine schedule (alpha = cos(pi t / 2), sigma = sin(pi t / 2)),
v-prediction, DDIM sampling in a few steps; classifier-free guidance on the text (a learned null
embedding stands in for "no instruction" during training dropout and in the unconditional pass).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .features import CONTEXT_CHANNELS, target_channels
from .text import TEXT_DIM

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class MidiModelConfig:
    """Architecture and grid settings; saved next to the weights."""

    stem: str
    width: int = 64
    n_blocks: int = 6
    window: int = 128
    steps_per_beat: int = 4
    context_channels: int = CONTEXT_CHANNELS
    text_dim: int = TEXT_DIM

    @property
    def target_channels(self) -> int:
        return target_channels(self.stem)

    @property
    def in_channels(self) -> int:
        return 2 * self.target_channels + 1 + self.context_channels


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion time ``t`` in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * 1000.0 * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class Block(nn.Module):
    """Norm → FiLM → SiLU → dilated conv → SiLU → 1x1 conv, residual."""

    def __init__(self, width: int, dilation: int, cond_dim: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, width)
        self.film = nn.Linear(cond_dim, 2 * width)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Conv1d(width, width, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None].chunk(2, dim=1)
        y = self.norm(h) * (1 + scale) + shift
        y = self.proj(nn.functional.silu(self.conv(nn.functional.silu(y))))
        return h + y


class LaneDenoiser(nn.Module):
    """Predicts v for the noisy lanes given time, text, known lanes and context."""

    def __init__(self, config: MidiModelConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.inp = nn.Conv1d(config.in_channels, w, 1)
        self.time = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        self.text = nn.Linear(config.text_dim, w)
        self.null_text = nn.Parameter(torch.zeros(config.text_dim))
        self.blocks = nn.ModuleList(Block(w, 2 ** (i % 6), w) for i in range(config.n_blocks))
        self.out_norm = nn.GroupNorm(8, w)
        self.out = nn.Conv1d(w, config.target_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self,
        x_t: torch.Tensor,  # (B, Ct, T)
        t: torch.Tensor,  # (B,)
        text: torch.Tensor,  # (B, 384); rows with use_text False get the null embedding
        known: torch.Tensor,  # (B, Ct, T) known lanes (zeros where unknown)
        known_mask: torch.Tensor,  # (B, 1, T)
        context: torch.Tensor,  # (B, Cc, T)
        use_text: torch.Tensor | None = None,  # (B,) bool
    ) -> torch.Tensor:
        if use_text is not None:
            text = torch.where(use_text[:, None], text, self.null_text[None].expand_as(text))
        cond = self.time(timestep_embedding(t, self.config.width)) + self.text(text)
        cond = nn.functional.silu(cond)
        h = self.inp(torch.cat([x_t, known * known_mask, known_mask, context], dim=1))
        for block in self.blocks:
            h = block(h, cond)
        return self.out(nn.functional.silu(self.out_norm(h)))


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine schedule, shaped for broadcasting over (B, C, T)."""
    t = t[:, None, None]
    return torch.cos(0.5 * math.pi * t), torch.sin(0.5 * math.pi * t)


def save_model(model: LaneDenoiser, folder: str | Path, extra: dict | None = None) -> None:
    """``config.json`` + ``model.safetensors`` (float16 weights: half the size, same results here)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS_NAME + ".part")
    save_file(state, str(tmp), metadata={"stem": model.config.stem})
    tmp.replace(folder / WEIGHTS_NAME)
    meta = {"config": asdict(model.config), **(extra or {})}
    (folder / (CONFIG_NAME + ".part")).write_text(json.dumps(meta, indent=2))
    (folder / (CONFIG_NAME + ".part")).replace(folder / CONFIG_NAME)


def load_model(folder: str | Path) -> tuple[LaneDenoiser, dict]:
    """A saved model (float32, eval mode) and its metadata; safetensors only."""
    from safetensors.torch import load_file

    from stemgen.errors import StemgenInputError

    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise StemgenInputError(folder, f"not a stemgen MIDI model (needs {CONFIG_NAME} and {WEIGHTS_NAME})")
    meta = json.loads((folder / CONFIG_NAME).read_text())
    model = LaneDenoiser(MidiModelConfig(**meta["config"]))
    state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_NAME)).items()}
    model.load_state_dict(state)
    return model.eval().requires_grad_(False), meta
