"""What a stem source yields: a song as separate, aligned stems.

Every source (stem folders in their various layouts, MIDI rendered with a SoundFont, full mixes
separated with Demucs) turns one input into a ``Song``: mono float32 stems at one sample rate, all
the same length, under canonical names. Canonical names are the stems stemgen generates
(``drums``, ``bass``, ``guitar``) plus ``vocals`` and ``other`` (everything else). A layout that
cannot tell a stem apart (MUSDB18 keeps guitar inside ``other``) leaves it out and says so in
``missing`` rather than mislabelling.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.stems import STEMS

CANONICAL_STEMS = (*STEMS, "vocals", "other")


@dataclass(frozen=True)
class SongRef:
    """A song found on disk, not yet loaded: cheap to list, pickle and send to a worker."""

    path: Path  # the song folder or file
    layout: str  # "musdb" | "musdb-stem-mp4" | "moisesdb" | "slakh" | "generic" | "midi" | "mixture"
    song_id: str  # stable across runs (used for the split and for resuming)
    license: str = "unknown"
    tags: tuple[str, ...] = ()


@dataclass
class Song:
    """One song as aligned mono stems (each ``(1, samples)`` float32 at ``sample_rate``)."""

    ref: SongRef
    sample_rate: int
    stems: dict[str, np.ndarray]
    # Stems this layout cannot provide, with the reason (e.g. guitar in MUSDB18).
    missing: dict[str, str] = field(default_factory=dict)
    # Things worth reporting about how the song was made (gain changes, augmentation used...).
    notes: list[str] = field(default_factory=list)
    # Style tags and facts from metadata (Groove MIDI style, Slakh inst classes, MIDI tempo...).
    metadata: dict = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return next(iter(self.stems.values())).shape[-1] if self.stems else 0

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def mix(self) -> np.ndarray:
        """Sum of all stems (no gain applied; windows are normalised when written)."""
        return _sum(self.stems.values(), self.num_samples)

    def context(self, stem: str) -> np.ndarray:
        """The mix with ``stem`` removed."""
        return _sum((a for name, a in self.stems.items() if name != stem), self.num_samples)


def _sum(arrays, n: int) -> np.ndarray:
    out = np.zeros((1, n), dtype=np.float32)
    for a in arrays:
        out += a
    return out


def song_id_for(path: Path, root: Path) -> str:
    """A readable, filesystem-safe id, stable across runs and machines: the file or folder name
    plus a hash of its path relative to the folder above the collection root."""
    try:
        rel = path.resolve().relative_to(root.resolve().parent)
    except ValueError:
        rel = path.resolve()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path.name.replace(".stem.mp4", "").rsplit(".", 1)[0]).strip("-")[:40]
    digest = hashlib.sha1(str(rel).encode()).hexdigest()[:8]
    return f"{slug or 'song'}-{digest}"
