"""Quantised symbolic-music metrics over note arrays.

- Part-vs-real note F1s (``note_f1``): onset-only transcription F1 as ``mir_eval.transcription``
  defines it (``offset_ratio=None``), on 16th-note onset cells, with the pitch, the pitch class or
  the drum class as the "pitch". Computed exactly by counting matching ``(cell, label)`` pairs
  (with a tolerance under half a 16th, two notes can only match inside one cell, so the maximum
  bipartite matching is the sum over cells and labels of the smaller count); tests check it
  against mir_eval itself.
- Part-vs-context: ``harmony_fit`` (pitch class among those sounding in the other tracks),
  ``onset_agreement``.
- Part alone, defined as in muspy (Dong et al.) so that they can be checked against it, but
  vectorised (muspy loops in Python over notes and beats): ``empty_beat_rate``,
  ``groove_consistency``, ``pitch_in_scale_rate``, ``polyphony``, ``drum_pattern_consistency``.

All functions take a :class:`Notes` (integer times at ``resolution`` ticks per beat). The
evaluation converts every part to ``resolution=12`` (holds sixteenths and triplets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH

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


# --- part vs real part ---------------------------------------------------------------------------

F1_LABELS = ("pitch", "pitch_class", "drum_class", "onset")


def _labels(n: Notes, label: str) -> np.ndarray:
    """What must agree besides the onset cell: the pitch, its class, the drum class or nothing."""
    if label == "pitch":
        return n.pitch
    if label == "pitch_class":
        return n.pitch % 12
    if label == "drum_class":
        return DRUM_CLASS_OF_PITCH[n.pitch]
    if label == "onset":
        return np.zeros_like(n.pitch)
    raise ValueError(f"label must be one of {F1_LABELS}")


def onset_cells(n: Notes, cells_per_beat: int = 4) -> np.ndarray:
    """Index of the onset cell (a 16th by default) each note starts in (rounded to the nearest)."""
    return np.floor(n.start * cells_per_beat / n.resolution + 0.5).astype(np.int64)


def note_keys(n: Notes, label: str, cells_per_beat: int = 4) -> np.ndarray:
    """``(cell, label)`` per note, as one int64; class labels are de-duplicated (a snare hit is one
    snare hit even when two snare keys sound; an octave doubling is one pitch class)."""
    keys = onset_cells(n, cells_per_beat) * 256 + _labels(n, label)
    return np.unique(keys) if label != "pitch" else keys


def note_prf(part: Notes, real: Notes, label: str = "pitch", cells_per_beat: int = 4) -> tuple[float, float, float]:
    """Onset-only precision, recall, F1 of ``part`` against ``real`` (mir_eval's definition on
    onset cells). Both empty: NaN; one empty: 0."""
    a, b = note_keys(part, label, cells_per_beat), note_keys(real, label, cells_per_beat)
    if a.size == 0 and b.size == 0:
        return math.nan, math.nan, math.nan
    if a.size == 0 or b.size == 0:
        return 0.0, 0.0, 0.0
    ua, ca = np.unique(a, return_counts=True)
    ub, cb = np.unique(b, return_counts=True)
    _, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    matched = int(np.minimum(ca[ia], cb[ib]).sum())
    p, r = matched / a.size, matched / b.size
    return p, r, (2 * p * r / (p + r) if matched else 0.0)


def note_f1(part: Notes, real: Notes, label: str = "pitch", cells_per_beat: int = 4) -> float:
    """Onset-only note F1 (see ``note_prf``)."""
    return note_prf(part, real, label, cells_per_beat)[2]


# --- part vs context ------------------------------------------------------------------------------


def sounding_pitch_classes(context: Notes, length: int) -> np.ndarray:
    """``(length, 12)`` bool: pitch classes of the context's pitched notes sounding at each tick
    (a note sounds from its start up to, not including, its end)."""
    keep = ~context.is_drum
    diff = np.zeros((length + 1, 12), np.int32)
    start = np.minimum(context.start[keep], length)
    end = np.minimum(np.maximum(context.end[keep], context.start[keep] + 1), length)
    pc = context.pitch[keep] % 12
    np.add.at(diff, (start, pc), 1)
    np.add.at(diff, (end, pc), -1)
    return np.cumsum(diff[:-1], axis=0) > 0


def harmony_fit(part: Notes, sounding_pcs: np.ndarray) -> float:
    """Share of the part's pitched notes whose pitch class sounds in the context at the note's
    onset (``sounding_pcs`` from ``sounding_pitch_classes``). Notes where nothing pitched sounds
    in the context are left out (NaN if none is left)."""
    keep = ~part.is_drum & (part.start < sounding_pcs.shape[0])
    start, pc = part.start[keep], part.pitch[keep] % 12
    ctx = sounding_pcs[start]
    judged = ctx.any(axis=1)
    if not judged.any():
        return math.nan
    return float(ctx[judged, pc[judged]].mean())
