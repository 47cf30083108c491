"""Separating a stem out of a full mix with Demucs (datasets from plain mixes, ``--replace``).

Demucs is optional. It is used only when the ``demucs`` package is installed AND its weights are
already on disk, because stemgen never downloads at run time:
- ``STEMGEN_DEMUCS_REPO``: a folder of Demucs model files (``<name>.yaml`` / ``<sig>.th``),
  passed to ``demucs.pretrained.get_model(name, repo=...)``; or
- torch hub's cache (``torch.hub.get_dir()/checkpoints``) holding the named model's checkpoint,
  where ``demucs -n <name> some.wav`` run once online puts it.
Guitar needs the 6-source model ``htdemucs_6s``; drums and bass work with ``htdemucs``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from stemgen.audio.io import load_audio, resample
from stemgen.audio.mixing import match_length
from stemgen.errors import MissingDependencyError
from stemgen.sources.base import Song, SongRef

MODEL_FOR_STEM = {"drums": "htdemucs", "bass": "htdemucs", "guitar": "htdemucs_6s"}
# The checkpoint files of the Demucs releases (demucs/remote/files.txt).
CHECKPOINTS = {"htdemucs": "955717e8-8726e21a.th", "htdemucs_6s": "5c90dfd2-34c22ccb.th"}
STEM_FREE_HINT = (
    "or give an input without the {stem} (mix the song's other stems yourself, or separate it "
    "with any tool) and run without --replace"
)


def demucs_status(stem: str) -> tuple[bool, str]:
    """``(available, model name or the reason it is not)``, checked without downloading."""
    name = MODEL_FOR_STEM.get(stem)
    if name is None:
        return False, f"no separation model for '{stem}'"
    if importlib.util.find_spec("demucs") is None:
        return False, f"Demucs is not installed (pip install demucs, then put the '{name}' weights on disk)"
    if _local_repo(name) is None and not _hub_checkpoint(name).is_file():
        return False, (
            f"the Demucs '{name}' weights are not on disk ({_hub_checkpoint(name)}) and stemgen does not "
            f"download: run `demucs -n {name} some.wav` once online, or set STEMGEN_DEMUCS_REPO"
        )
    return True, name


def _local_repo(name: str) -> Path | None:
    repo = os.environ.get("STEMGEN_DEMUCS_REPO")
    if repo and (Path(repo) / f"{name}.yaml").is_file():
        return Path(repo)
    return None


def _hub_checkpoint(name: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINTS[name]


def separate_array(audio: np.ndarray, sample_rate: int, stem: str) -> np.ndarray:
    """The ``stem`` Demucs finds in ``(channels, samples)`` audio, same shape and rate."""
    ok, name = demucs_status(stem)
    if not ok:
        raise MissingDependencyError(name)
    import torch
    from demucs.apply import apply_model
    from demucs.pretrained import get_model

    model = get_model(name, repo=_local_repo(name)).eval()
    stereo = audio if audio.shape[0] == 2 else np.repeat(audio.mean(axis=0, keepdims=True), 2, axis=0)
    x = resample(stereo, sample_rate, model.samplerate)
    with torch.no_grad():
        sources = apply_model(model, torch.from_numpy(x)[None], progress=False)[0].numpy()
    found = match_length(resample(sources[list(model.sources).index(stem)], model.samplerate, sample_rate), audio.shape[-1])
    if audio.shape[0] != 2:
        found = np.repeat(found.mean(axis=0, keepdims=True), audio.shape[0], axis=0)
    return found.astype(np.float32)


def remove_stem(audio: np.ndarray, sample_rate: int, stem: str) -> np.ndarray:
    """``audio`` with ``stem`` separated out and removed (``generate --replace``)."""
    ok, detail = demucs_status(stem)
    if not ok:
        raise MissingDependencyError(
            f"--replace needs a separation model: {detail}; " + STEM_FREE_HINT.format(stem=stem)
        )
    return (audio - separate_array(audio, sample_rate, stem)).astype(np.float32)


def separate_song(ref: SongRef, sample_rate: int, stem: str) -> Song:
    """A full mix as a song of two stems: ``stem`` (separated) and ``other`` (the rest)."""
    audio, rate = load_audio(ref.path)  # bad files fail here, with the reason, before Demucs is asked for
    ok, detail = demucs_status(stem)
    if not ok:
        raise MissingDependencyError(f"{ref.path}: separating a full mix needs Demucs: {detail}")
    found = separate_array(audio, rate, stem)
    target = resample(found, rate, sample_rate).mean(0, keepdims=True)
    rest = resample(audio - found, rate, sample_rate).mean(0, keepdims=True)
    song = Song(ref=ref, sample_rate=sample_rate, stems={stem: target, "other": rest})
    song.notes.append(f"{stem} separated from the mix with Demucs '{detail}'")
    return song
