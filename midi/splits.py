"""Song-level train/valid/test split: a file's split depends only on its name (stable across runs,
machines and folder copies), so no song's windows are in two splits.

Groove MIDI files use the dataset's own split column (``info.csv``), which keeps sessions apart.
"""

from __future__ import annotations

import csv
import hashlib
from functools import lru_cache
from pathlib import Path

SPLITS = ("train", "valid", "test")


def hashed_split(name: str, valid_pct: int = 10, test_pct: int = 10) -> str:
    """``test`` for ``test_pct``% of names, ``valid`` for ``valid_pct``%, else ``train`` (sha1 of the name)."""
    bucket = int(hashlib.sha1(Path(name).name.encode()).hexdigest(), 16) % 100
    return "test" if bucket < test_pct else "valid" if bucket < test_pct + valid_pct else "train"


@lru_cache(maxsize=8)
def _groove_splits(info_csv: str) -> dict[str, str]:
    with open(info_csv, newline="") as fh:
        return {Path(r["midi_filename"]).name: r["split"].replace("validation", "valid") for r in csv.DictReader(fh)}


def split_of(path: str | Path) -> str:
    """The split of one file: Groove MIDI's own when the file sits under a folder with ``info.csv``."""
    path = Path(path)
    for parent in path.parents:
        info = parent / "info.csv"
        if info.is_file():
            split = _groove_splits(str(info)).get(path.name)
            if split in SPLITS:
                return split
            break
    return hashed_split(path.name)


def find_midi_files(root: str | Path) -> list[Path]:
    """Every ``.mid``/``.midi`` file under ``root`` (sorted, case-insensitive suffix)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())


def files_in_split(root: str | Path, split: str) -> list[Path]:
    return [p for p in find_midi_files(root) if split_of(p) == split]
