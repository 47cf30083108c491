"""The MIDI files of a folder, and those of one split (the split rule itself is ``stemgen.splits``,
shared with the audio dataset builder)."""

from __future__ import annotations

from pathlib import Path

from stemgen.splits import split_of


def find_midi_files(root: str | Path) -> list[Path]:
    """Every ``.mid``/``.midi`` file under ``root`` (sorted, case-insensitive suffix)."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())


def files_in_split(root: str | Path, split: str) -> list[Path]:
    return [p for p in find_midi_files(root) if split_of(p) == split]
