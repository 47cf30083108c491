"""Quantised symbolic-music metrics, defined as in muspy (Dong et al.) so that they can be checked
against it, but vectorised over note arrays (muspy loops in Python over notes and beats).

All functions take a :class:`Notes` (integer times at ``resolution`` ticks per beat). The
evaluation converts every part to ``resolution=12`` (holds sixteenths and triplets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)


@dataclass
class Notes:
    """Notes as parallel arrays; ``end`` is exclusive, ``is_drum`` per note."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    is_drum: np.ndarray
    resolution: int

    @classmethod
    def from_tuples(cls, notes, resolution: int, is_drum: bool) -> "Notes":
        arr = np.array([n[:3] for n in notes], dtype=np.int64).reshape(-1, 3)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], np.full(len(arr), is_drum), resolution)

    @classmethod
    def concat(cls, parts: list["Notes"]) -> "Notes":
        res = parts[0].resolution
        assert all(p.resolution == res for p in parts)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("start", "end", "pitch", "is_drum")), res)

    def rescaled(self, resolution: int) -> "Notes":
        """Times moved to another resolution (rounded)."""
        f = resolution / self.resolution
        start = np.round(self.start * f).astype(np.int64)
        end = np.maximum(np.round(self.end * f).astype(np.int64), start + 1)
        return Notes(start, end, self.pitch, self.is_drum, resolution)

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def length(self) -> int:
        return int(self.end.max()) if len(self) else 0


def empty_beat_rate(n: Notes) -> float:
    """Share of beats in which no note sounds (a note covers beats ``start//res ..= end//res``)."""
    if n.length < 1:
        return math.nan
    n_beats = n.length // n.resolution + 1
    diff = np.zeros(n_beats + 1, np.int64)
    np.add.at(diff, n.start // n.resolution, 1)
    np.add.at(diff, n.end // n.resolution + 1, -1)
    return float(1 - np.count_nonzero(np.cumsum(diff[:-1])) / n_beats)


def groove_consistency(n: Notes, measure_resolution: int) -> float:
    """1 - mean Hamming distance between the onset patterns of consecutive measures."""
    n_measures = n.length // measure_resolution + 1
    if n_measures < 2:
        return math.nan
    pat = np.zeros((n_measures, measure_resolution), bool)
    pat[n.start // measure_resolution, n.start % measure_resolution] = True
    return float(1 - np.count_nonzero(pat[:-1] != pat[1:]) / (measure_resolution * (n_measures - 1)))


def _drum_pattern(res: int, meter: str) -> np.ndarray:
    pat = np.zeros(res, bool)
    pat[0] = True
    if meter == "duple":
        if res % 4 == 0:
            pat[:: res // 4] = True
        if res % 2 == 0:
            pat[:: res // 2] = True
    elif res % 3 == 0:
        pat[:: res // 3] = True
    return pat


def drum_pattern_consistency(n: Notes) -> float:
    """Largest share of drum onsets on a duple (8th/16th) or triple (8th-triplet) grid."""
    starts = n.start[n.is_drum]
    if starts.size == 0:
        return math.nan
    pos = starts % n.resolution
    return float(max(np.mean(_drum_pattern(n.resolution, m)[pos]) for m in ("duple", "triple")))


def pitch_in_scale_rate(n: Notes, root: int, mode: str) -> float:
    """Share of pitched notes in the scale of ``root`` (0 = C) ``mode`` (major | minor)."""
    pitch = n.pitch[~n.is_drum]
    if pitch.size == 0:
        return math.nan
    scale = np.roll(_MAJOR if mode == "major" else _MINOR, root)
    return float(np.mean(scale[pitch % 12]))


def polyphony(n: Notes) -> float:
    """Mean number of pitched notes sounding over the time steps where at least one sounds."""
    keep = ~n.is_drum
    if not keep.any():
        return math.nan
    roll = np.zeros((n.length + 1, 128), np.int32)
    np.add.at(roll, (n.start[keep], n.pitch[keep]), 1)
    np.add.at(roll, (n.end[keep], n.pitch[keep]), -1)
    on = np.cumsum(roll, axis=0)[:-1] > 0
    active = np.count_nonzero(on.any(axis=1))
    return float(on.sum() / active) if active else math.nan


def onsets_per_beat(n: Notes, n_beats: float) -> float:
    """Distinct onset times per beat (chords count once)."""
    return float(np.unique(n.start).size / max(n_beats, 1e-9))


def onset_agreement(a: Notes, b: Notes) -> float:
    """Share of ``a``'s onset times that coincide with an onset time of ``b`` (same resolution)."""
    sa = np.unique(a.start)
    if sa.size == 0:
        return math.nan
    return float(np.isin(sa, np.unique(b.start)).mean())
