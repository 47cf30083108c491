"""Removing an existing stem before regenerating it (``stemgen generate --replace``).

Uses Demucs when it is installed *and* its weights are already on disk; stemgen never downloads
them. Otherwise ``MissingDependencyError`` says how to get Demucs or supply a stem-free input.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from stemgen.errors import MissingDependencyError

# Demucs model per stem (htdemucs_6s has a guitar source) and the checkpoint files it loads.
DEMUCS_MODELS = {"drums": "htdemucs", "bass": "htdemucs", "guitar": "htdemucs_6s"}
_CHECKPOINTS = {"htdemucs": "955717e8-8726e21a.th", "htdemucs_6s": "5c90dfd2-34c22ccb.th"}

_HOW = (
    "or give an input without the {stem} (e.g. mix the song's other stems yourself, or separate it "
    "with any tool) and run without --replace"
)


def _checkpoint_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def separation_status(stem: str) -> tuple[bool, str]:
    """``(available, reason)`` for removing ``stem``, checked without downloading anything."""
    if importlib.util.find_spec("demucs") is None:
        return False, "Demucs is not installed (pip install demucs)"
    name = DEMUCS_MODELS.get(stem)
    if name is None:
        return False, f"no separation model for '{stem}'"
    ckpt = _checkpoint_dir() / _CHECKPOINTS[name]
    if not ckpt.is_file():
        return False, f"Demucs weights for {name} are not on disk ({ckpt}); run `demucs -n {name} some.wav` once online"
    return True, name


def remove_stem(audio: np.ndarray, sample_rate: int, stem: str) -> np.ndarray:
    """``audio`` ``(channels, samples)`` with ``stem`` separated out and removed (same shape and rate)."""
    ok, detail = separation_status(stem)
    if not ok:
        raise MissingDependencyError(f"--replace needs a separation model: {detail}; " + _HOW.format(stem=stem))
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    from stemgen.audio.io import resample

    model = get_model(detail).eval()
    sources = list(model.sources)
    source = stem if stem in sources else "other"
    x = audio if audio.shape[0] == 2 else np.repeat(audio.mean(axis=0, keepdims=True), 2, axis=0)
    x = resample(x, sample_rate, model.samplerate)
    with torch.no_grad():
        est = apply_model(model, torch.from_numpy(x)[None], progress=False)[0].numpy()
    removed = resample(est[sources.index(source)], model.samplerate, sample_rate)[:, : audio.shape[-1]]
    if removed.shape[-1] < audio.shape[-1]:
        removed = np.pad(removed, ((0, 0), (0, audio.shape[-1] - removed.shape[-1])))
    if audio.shape[0] != 2:
        removed = np.repeat(removed.mean(axis=0, keepdims=True), audio.shape[0], axis=0)
    return (audio - removed).astype(np.float32)
