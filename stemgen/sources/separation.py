"""Full mixes with no stems (the paper's route): separate the stem out with Demucs.

Demucs is optional. It is used only when the ``demucs`` package is installed AND its weights are
already on disk, because stemgen never downloads at run time:
- ``STEMGEN_DEMUCS_REPO``: a folder of Demucs model files (``<name>.yaml`` / ``<sig>.th``),
  passed to ``demucs.pretrained.get_model(name, repo=...)``; or
- torch hub's cache (``$TORCH_HOME/hub/checkpoints``) holding the checkpoint of the named model.
Guitar needs the 6-source model ``htdemucs_6s``; drums and bass work with ``htdemucs``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from stemgen.audio.io import load_audio
from stemgen.errors import MissingDependencyError
from stemgen.sources.base import Song, SongRef

MODEL_FOR_STEM = {"drums": "htdemucs", "bass": "htdemucs", "guitar": "htdemucs_6s"}
# Checkpoint signatures of the Demucs releases, as published in demucs/remote/files.txt.
CHECKPOINT_SIGNATURES = {"htdemucs": ("955717e8",), "htdemucs_6s": ("5c90dfd2",)}


def demucs_status(stem: str) -> tuple[bool, str]:
    """Whether separating ``stem`` can run offline here, and if not, why and how to fix it."""
    name = MODEL_FOR_STEM[stem]
    if importlib.util.find_spec("demucs") is None:
        return False, (
            "separating a full mix needs Demucs: `pip install demucs`, then put the "
            f"'{name}' weights on disk (set STEMGEN_DEMUCS_REPO to their folder)"
        )
    if _local_repo(name) is None and _hub_checkpoint(name) is None:
        return False, (
            f"Demucs is installed but the '{name}' weights are not on disk and stemgen does not download; "
            "set STEMGEN_DEMUCS_REPO to a folder with the model files"
        )
    return True, name


def _local_repo(name: str) -> Path | None:
    repo = os.environ.get("STEMGEN_DEMUCS_REPO")
    if repo and (Path(repo) / f"{name}.yaml").is_file():
        return Path(repo)
    return None


def _hub_checkpoint(name: str) -> Path | None:
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    folder = torch_home / "hub" / "checkpoints"
    for sig in CHECKPOINT_SIGNATURES.get(name, ()):
        hits = sorted(folder.glob(f"{sig}-*.th")) if folder.is_dir() else []
        if hits:
            return hits[0]
    return None


def separate_song(ref: SongRef, sample_rate: int, stem: str) -> Song:
    """Split a full mix into ``stem`` and the rest (``other``) with Demucs."""
    from stemgen.audio.io import resample

    audio, rate = load_audio(ref.path)  # bad files fail here, with the reason, before Demucs is asked for
    ok, detail = demucs_status(stem)
    if not ok:
        raise MissingDependencyError(f"{ref.path}: {detail}")
    separated = separate_array(audio, rate, stem=stem)

    target = resample(separated["stem"], separated["sample_rate"], sample_rate).mean(0, keepdims=True)
    rest = resample(separated["rest"], separated["sample_rate"], sample_rate).mean(0, keepdims=True)
    song = Song(ref=ref, sample_rate=sample_rate, stems={stem: target, "other": rest})
    song.notes.append(f"{stem} separated from the mix with Demucs '{MODEL_FOR_STEM[stem]}'")
    return song


def separate_array(audio: np.ndarray, sample_rate: int, stem: str) -> dict:
    """Run Demucs on ``(channels, samples)`` audio; returns ``{"stem", "rest", "sample_rate"}``."""
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    from stemgen.audio.io import resample

    name = MODEL_FOR_STEM[stem]
    model = get_model(name, repo=_local_repo(name))
    model.eval()
    wav = resample(audio, sample_rate, model.samplerate)
    if wav.shape[0] == 1:
        wav = np.repeat(wav, 2, axis=0)
    with torch.no_grad():
        sources = apply_model(model, torch.from_numpy(wav[:2])[None], progress=False)[0].numpy()
    index = model.sources.index(stem)
    target = sources[index]
    rest = sources.sum(axis=0) - target
    return {"stem": target, "rest": rest, "sample_rate": model.samplerate}
