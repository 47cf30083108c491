"""Learned beat and downbeat activations: a small dilated TCN over the analysis' own log-mel frames.

Input (``network_input``): the 64-band log-mel spectrogram of ``stemgen.analysis.core`` (1024-point
STFT, 11.6 ms hop at 22.05 kHz), scaled relative to the clip's loudest bin, and its positive
frame-to-frame difference (spectral flux per band): 128 rows per frame. The network: a 3-frame
convolution to ``channels``, then residual blocks of dilated 3-tap convolutions (dilations 1..128:
a receptive field of ~6 s, a bar or two, so that downbeats can see the harmony change) and a 1x1
head with two outputs per frame (beat, downbeat; sigmoid). Trained by ``scripts/train_beat_tracker.py``
on renders of the band MIDI set with each part removed in turn (subtractive training); the
activations are decoded by ``stemgen.analysis.bar_tracker``.

Inference is numpy (no torch at analysis time: worker processes stay light); ``TorchTCN`` is the
same network for training, and a test checks that both give the same activations.

Weights are data: ``models/analysis/<name>/model.safetensors`` + ``config.json`` + README (model
card: the band set is CC BY-NC-SA, so ``beats-tcn-band`` is for non-commercial use; ``beats-tcn-cc``,
trained on Groove MIDI and code-composed parts only, is commercial-safe; ``MODELS``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from stemgen.analysis import spectral

FEATURE_SR = spectral.MAX_FEATURE_SR
HOP = spectral.REF_HOP // 2  # the analysis' hop (core.HOP_DIVISOR)
N_FFT = spectral.REF_N_FFT
FRAME_RATE = FEATURE_SR / HOP
DB_SCALE = 20.0  # dB per input unit
MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "analysis"
DEFAULT_MODEL = "beats-tcn-band"
# The analysis backends (``--beat-tracker`` names) that run this network, and the weights each loads:
# "learned" the band-set weights (non-commercial), "learned-cc" weights trained on commercial-safe
# material only (Groove MIDI, CC BY 4.0, under code-composed parts: models/analysis/beats-tcn-cc).
MODELS = {"learned": DEFAULT_MODEL, "learned-cc": "beats-tcn-cc"}
# How each backend's bar (meter and first downbeat) is chosen over its decoded beats
# (``learned_grid.BAR_DECISIONS``): "accents+hmm" the DSP's accents plus the HMM's downbeats (chosen for
# the band weights); "evidence" the DSP's explicit evidence alone, as the DSP tracker
# (``grid_decisions.meter_and_beats``): the cc weights' downbeat activation was learned on code-composed
# songs only (valid, docs/EVALUATION.md "Bars for learned-cc": downbeat F 0.65 -> 0.71 over 4 contexts).
BARS = {"learned": "accents+hmm", "learned-cc": "evidence"}


@dataclass(frozen=True)
class NetConfig:
    n_input: int = 2 * spectral.N_MELS
    channels: int = 32
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    frame_rate: float = FRAME_RATE


def network_input(y: np.ndarray | None = None, logmel: np.ndarray | None = None) -> np.ndarray:
    """(2 * N_MELS, frames) float32 from mono 22.05 kHz audio ``y`` or from the analysis' ``logmel``
    (``spectral.log_mel(..., top_db=ONSET_TOP_DB)``)."""
    if logmel is None:
        mag = spectral.magnitude_spectrum(np.asarray(y, dtype=np.float32), N_FFT, HOP)
        logmel = spectral.log_mel(mag, FEATURE_SR, N_FFT, spectral.ONSET_TOP_DB)
    m = (np.asarray(logmel, dtype=np.float32) - float(np.max(logmel))) / DB_SCALE
    flux = np.maximum(np.diff(m, axis=1, prepend=m[:, :1]), 0.0)
    return np.concatenate([m, flux]).astype(np.float32)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: int = 1) -> np.ndarray:
    """1-D convolution of (in, T) by (out, in, k) with zero 'same' padding (k odd), as torch's Conv1d."""
    k = w.shape[2]
    pad = dilation * (k // 2)
    xp = np.pad(x, ((0, 0), (pad, pad)))
    t = x.shape[1]
    out = np.broadcast_to(b[:, None], (w.shape[0], t)).astype(np.float32)
    for j in range(k):
        out = out + w[:, :, j] @ xp[:, j * dilation : j * dilation + t]
    return out


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


class NumpyTCN:
    """The trained network, numpy inference: ``__call__(features) -> (2, frames)`` probabilities."""

    def __init__(self, config: NetConfig, weights: dict[str, np.ndarray]):
        self.config = config
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w = self.w
        h = _elu(_conv(x, w["inp.weight"], w["inp.bias"]))
        for i, d in enumerate(self.config.dilations):
            r = _elu(_conv(h, w[f"blocks.{i}.dil.weight"], w[f"blocks.{i}.dil.bias"], d))
            h = h + _conv(r, w[f"blocks.{i}.mix.weight"], w[f"blocks.{i}.mix.bias"])
        logits = _conv(h, w["head.weight"], w["head.bias"])
        return 1.0 / (1.0 + np.exp(-logits))


def TorchTCN(config: NetConfig):  # a class factory (CamelCase as the class it returns): torch only for training
    """The same network in torch (training; ``state_dict`` names match ``NumpyTCN``'s weights)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int, d: int):
            super().__init__()
            self.dil = nn.Conv1d(c, c, 3, padding=d, dilation=d)
            self.mix = nn.Conv1d(c, c, 1)
            self.drop = nn.Dropout(0.1)

        def forward(self, h):
            return h + self.mix(self.drop(torch.nn.functional.elu(self.dil(h))))

    class TCN(nn.Module):
        def __init__(self):
            super().__init__()
            c = config.channels
            self.inp = nn.Conv1d(config.n_input, c, 3, padding=1)
            self.blocks = nn.ModuleList(Block(c, d) for d in config.dilations)
            self.head = nn.Conv1d(c, 2, 1)

        def forward(self, x):  # (batch, n_input, T) -> (batch, 2, T) logits
            h = torch.nn.functional.elu(self.inp(x))
            for block in self.blocks:
                h = block(h)
            return self.head(h)

    return TCN()


def save_weights(net, config: NetConfig, out_dir: Path, training: dict) -> None:
    """``model.safetensors`` (float32) and ``config.json`` under ``out_dir``, written atomically."""
    from safetensors.numpy import save

    from stemgen.fileio import atomic_write_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    atomic_write_bytes(out_dir / "model.safetensors", save(tensors))
    cfg = asdict(config)
    cfg["training"] = training
    atomic_write_bytes(out_dir / "config.json", (json.dumps(cfg, indent=1) + "\n").encode())


@lru_cache(maxsize=4)
def load_model(name_or_dir: str = DEFAULT_MODEL) -> NumpyTCN:
    """The network under ``models/analysis/<name>`` (or a directory); a clear error when missing."""
    from safetensors.numpy import load_file

    d = Path(name_or_dir)
    if not d.is_dir():
        d = MODELS_DIR / name_or_dir
    if not (d / "model.safetensors").is_file() or not (d / "config.json").is_file():
        from stemgen.errors import MissingDependencyError

        raise MissingDependencyError(f"beat tracker model {name_or_dir!r}: no model.safetensors + config.json in {d}")
    cfg = json.loads((d / "config.json").read_text())
    config = NetConfig(n_input=int(cfg["n_input"]), channels=int(cfg["channels"]),
                       dilations=tuple(int(x) for x in cfg["dilations"]), frame_rate=float(cfg["frame_rate"]))
    return NumpyTCN(config, load_file(str(d / "model.safetensors")))


def activations(logmel: np.ndarray, model: str = DEFAULT_MODEL) -> np.ndarray:
    """(2, frames) beat and downbeat probabilities for the analysis' ``logmel`` frames."""
    return load_model(model)(network_input(logmel=logmel))
