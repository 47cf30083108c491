"""Takes of one song on the page: DAW-ready file names, the list the page keeps, a zip of them all.

Every take is one generation (its own seed); its files are named ``<song>_<stem>_take<N>.wav/.mid``
and ``<song>_mix_take<N>.wav`` after the upload's own name (reduced to safe characters), so repeated
downloads never collide and a DAW's file browser sorts them together.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

MAX_TAKES = 8  # the page keeps the last few; older ones drop out of the list (their files stay until pruned)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def song_slug(upload: str | Path | None) -> str:
    """The upload's name without its suffix, as a safe file-name part (``"song"`` when nothing is left)."""
    stem = Path(str(upload)).stem if upload else ""
    slug = _UNSAFE.sub("_", stem).strip("._-")[:64]
    return slug or "song"


def add_take(takes: list[dict] | None, take: dict) -> list[dict]:
    """The page's list of takes with ``take`` added (a take of another song or stem starts a new list)."""
    kept = [t for t in (takes or []) if t.get("song") == take["song"] and t.get("stem") == take["stem"]]
    kept = [t for t in kept if t["take"] != take["take"]]
    return (kept + [take])[-MAX_TAKES:]


def next_take(takes: list[dict] | None, song: str, stem: str) -> int:
    """The number the next take of ``song``'s ``stem`` gets (1 for the first)."""
    numbers = [t["take"] for t in (takes or []) if t.get("song") == song and t.get("stem") == stem]
    return max(numbers, default=0) + 1


def take_label(take: dict) -> str:
    extra = f", {take['bpm']:g} BPM" if take.get("bpm") else ""
    return f"Take {take['take']} ({take.get('kit') or take['stem']}{extra})"


def zip_takes(takes: list[dict], zip_path: Path) -> Path:
    """One zip of every take's files (flat, by their take names), written whole or not at all."""
    from stemgen.fileio import atomic_outputs

    with atomic_outputs([zip_path]) as (tmp,), zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for take in takes:
            for path in take["files"]:
                if Path(path).is_file():
                    archive.write(path, arcname=Path(path).name)
    return zip_path
