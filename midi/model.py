"""The part model: a per-step predictor of one stem from what a player listens to.

Input: the shared context (``context.py``: harmony, bass note, band onsets, loudness, beat and bar
position, pitch salience; 106 channels a 16th-note step; models trained before the pitch group read
the first 34) and the instruction (MiniLM embedding). Output per step: onset, pitch and velocity
logits of the stem (``features.py``).

Network: a 1-D residual stack of dilated convolutions over time (dilations 1..32 twice: a
receptive field of about 250 steps, 16 bars of 4/4), each block modulated (FiLM) by the instruction.
Normalisation is per step (over channels, not time), so a whole song runs in one forward pass and
gives the same result as the training windows. Why not diffusion (the model this replaced): the
part is decided per step from the context, and trained with cross-entropy the onset probabilities
are calibrated, so the decoder can keep the expected number of onsets; argmax-style decoding
maximises agreement with the real part, where sampling scattered notes (twice the real density,
70 % in key). Why convolutions: a 3-minute song is ~1500 steps, a few milliseconds on a CPU core.

Pitched stems with the pitch group also get a direct path from the context's pitch salience to the
register logits (a learned 72 -> 48 map, scaled per step by the network): parts often double a
pitch they hear (half the band guitars' notes sound in the other tracks at the same pitch), which
a narrow hidden state would otherwise have to carry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from .context import N_CONTEXT, N_PITCH_CONTEXT, SLICES
from .features import N_PITCHES, REG0, output_channels
from .text import TEXT_DIM

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODEL_KIND = "stemgen-part-model-v1"


@dataclass
class MidiModelConfig:
    """Architecture and grid settings; saved next to the weights."""

    stem: str
    width: int = 48
    n_blocks: int = 10
    window: int = 256  # training window (steps); generation runs the whole song at once
    steps_per_beat: int = 4
    context_channels: int = N_CONTEXT
    text_dim: int = TEXT_DIM
    dropout: float = 0.0  # on each block's hidden activations, in training only

    @property
    def out_channels(self) -> int:
        return output_channels(self.stem)


class ChannelNorm(nn.Module):
    """RMS norm over channels at each step (independent of the sequence length)."""

    def __init__(self, width: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(width, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * torch.rsqrt(h.pow(2).mean(dim=1, keepdim=True) + 1e-5) * self.gain


class Block(nn.Module):
    """Norm → FiLM → SiLU → dilated conv → SiLU → dropout → 1x1 conv, residual."""

    def __init__(self, width: int, dilation: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.norm = ChannelNorm(width)
        self.film = nn.Linear(width, 2 * width)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Conv1d(width, width, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None].chunk(2, dim=1)
        y = self.norm(h) * (1 + scale) + shift
        return h + self.proj(self.drop(nn.functional.silu(self.conv(nn.functional.silu(y)))))


class PartModel(nn.Module):
    """Logits of one stem per step, given the context and the instruction."""

    def __init__(self, config: MidiModelConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.inp = nn.Conv1d(config.context_channels, w, 3, padding=1)
        self.text = nn.Sequential(nn.Linear(config.text_dim, w), nn.SiLU())
        self.null_text = nn.Parameter(torch.zeros(config.text_dim))
        self.blocks = nn.ModuleList(Block(w, 2 ** (i % 6), config.dropout) for i in range(config.n_blocks))
        self.out_norm = ChannelNorm(w)
        self.out = nn.Conv1d(w, config.out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.copy = self.copy_gain = None
        if config.stem != "drums" and config.context_channels >= SLICES["pitch"].stop:
            self.copy = nn.Conv1d(N_PITCH_CONTEXT, N_PITCHES, 1, bias=False)
            self.copy_gain = nn.Conv1d(w, 1, 1)
            for p in (self.copy.weight, self.copy_gain.weight, self.copy_gain.bias):
                nn.init.zeros_(p)

    def forward(
        self,
        context: torch.Tensor,  # (B, Cc, T)
        text: torch.Tensor,  # (B, 384)
        use_text: torch.Tensor | None = None,  # (B,) bool; False rows get the learned "no instruction"
    ) -> torch.Tensor:
        if use_text is not None:
            text = torch.where(use_text[:, None], text, self.null_text[None].expand_as(text))
        cond = self.text(text)
        h = self.inp(context)
        for block in self.blocks:
            h = block(h, cond)
        h = nn.functional.silu(self.out_norm(h))
        out = self.out(h)
        if self.copy is None:
            return out
        doubled = (1 + self.copy_gain(h)) * self.copy(context[:, SLICES["pitch"]])
        reg = slice(REG0, REG0 + N_PITCHES)
        return torch.cat([out[:, : reg.start], out[:, reg] + doubled, out[:, reg.stop :]], dim=1)


def save_model(model: PartModel, folder: str | Path, extra: dict | None = None) -> None:
    """``config.json`` + ``model.safetensors`` (float16 weights), each written atomically."""
    from safetensors.torch import save_file

    from stemgen.fileio import atomic_output, atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    # atomic_output's temporary names are the ones a rerun's sweep recognises (a killed save leaves none behind).
    with atomic_output(folder / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"stem": model.config.stem, "kind": MODEL_KIND})
    meta = {"kind": MODEL_KIND, "config": asdict(model.config), **(extra or {})}
    atomic_write_text(folder / CONFIG_NAME, json.dumps(meta, indent=2))


def load_model(folder: str | Path) -> tuple[PartModel, dict]:
    """A saved model (float32, eval mode) and its metadata; safetensors only."""
    from safetensors.torch import load_file

    from stemgen.errors import StemgenInputError

    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise StemgenInputError(folder, f"not a stemgen MIDI model (needs {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        meta = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, ValueError) as exc:
        raise StemgenInputError(folder / CONFIG_NAME, f"unreadable model config: {exc}") from None
    if meta.get("kind") != MODEL_KIND:
        raise StemgenInputError(folder, "old-format MIDI model (lane diffusion, before the part model); "
                                "retrain it with `stemgen midi train` or use the bundled models")
    known = {f.name for f in fields(MidiModelConfig)}
    model = PartModel(MidiModelConfig(**{k: v for k, v in meta["config"].items() if k in known}))
    try:
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / WEIGHTS_NAME)).items()})
    except Exception as exc:  # safetensors header errors, shape mismatches
        raise StemgenInputError(folder / WEIGHTS_NAME, f"weights do not match the config: {exc}") from None
    return model.eval().requires_grad_(False), meta
