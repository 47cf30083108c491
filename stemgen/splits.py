"""The one song-level train/valid/test split, used by every dataset and model (the audio dataset
builder, the part models, the arranger's training data, ``stemgen midi eval --split``).

A song's split depends only on its **file or folder name** (stable across runs, machines and folder
copies, and the same whether the song is read as MIDI or rendered to audio), so no song has windows
in two splits, and a song held out from one model is held out from all of them. Groove MIDI files
keep the dataset's own split (its ``info.csv``), which keeps drummers' sessions apart.

The rule: ``sha1(name)`` read as an integer ``h``; its position in ``[0, 100)`` is ``h % 100``
(whole percents, the part models' original rule) refined by the next six decimal digits of ``h``;
the lowest ``test`` share of positions is ``test``, the next ``valid`` share ``valid``, the rest
``train``. Ratios in whole percents therefore give exactly the ``h % 100`` buckets, so the default
(seed 0, 0.8/0.1/0.1) reproduces the assignment the bundled part models were trained and tested with.
A non-zero ``seed`` hashes ``"<seed>:<name>"`` instead: another, equally stable, draw.
"""

from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

SPLITS = ("train", "valid", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
_RESOLUTION = 10**8  # positions: 100 whole percents x 10**6 finer steps


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` → normalised (train, valid, test) fractions."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"split ratios must be three numbers like 0.8,0.1,0.1, got '{text}'") from None
    if len(parts) != 3 or any(not 0 <= p < float("inf") for p in parts) or sum(parts) <= 0:  # NaN fails too
        raise ValueError(f"split ratios must be three non-negative numbers like 0.8,0.1,0.1, got '{text}'")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def split_key(path: str | Path) -> str:
    """What identifies a song for the split: its file (or stem folder) name, without the folders."""
    return Path(path).name


def hashed_split(name: str | Path, ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = 0) -> str:
    """The split of the song called ``name`` (its folders are ignored) from the hash of its name."""
    key = split_key(name)
    h = int(hashlib.sha1((key if seed == 0 else f"{seed}:{key}").encode()).hexdigest(), 16)
    position = (h % 100) * (_RESOLUTION // 100) + (h // 100) % (_RESOLUTION // 100)
    if position < round(ratios[2] * _RESOLUTION):
        return "test"
    if position < round((ratios[2] + ratios[1]) * _RESOLUTION):
        return "valid"
    return "train"


@lru_cache(maxsize=8)
def _dataset_splits(info_csv: str) -> dict[str, str]:
    with open(info_csv, newline="") as fh:
        return {Path(r["midi_filename"]).name: r["split"].replace("validation", "valid") for r in csv.DictReader(fh)}


def dataset_split(path: str | Path) -> str | None:
    """The split a dataset assigns to ``path`` itself (Groove MIDI's ``info.csv`` in a folder above
    it), or None."""
    path = Path(path)
    for parent in path.parents:
        info = parent / "info.csv"
        if info.is_file():
            split = _dataset_splits(str(info)).get(path.name)
            return split if split in SPLITS else None
    return None


def split_of(path: str | Path, ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = 0) -> str:
    """The split of the song at ``path`` (a MIDI or audio file, or a stem folder): the dataset's own
    when it has one (whatever ``ratios`` and ``seed``), else ``hashed_split`` of its name."""
    return dataset_split(path) or hashed_split(path, ratios, seed)
