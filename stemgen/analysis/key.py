"""The project's one key finder: Krumhansl-Schmuckler on a 12-bin pitch-class profile.

Audio (chroma of a mix) and MIDI (duration-weighted pitch classes of a grid) both reduce to a
profile and call ``find_key``; nothing else in the project correlates key profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, C = 0
    mode: str  # "major" | "minor"
    confidence: float  # Pearson r of the best profile, clipped to [0, 1]

    @property
    def name(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode}"


def find_key(profile: np.ndarray) -> Key | None:
    """Best of the 24 rotated Krumhansl-Kessler profiles for a pitch-class ``profile`` (C first).

    ``None`` for an empty, non-finite or flat profile (silence, drums only). Relative keys
    (C major / A minor) share their pitch set, so they are the usual confusion.
    """
    p = np.asarray(profile, dtype=np.float64)
    if p.shape != (12,) or not np.all(np.isfinite(p)) or p.sum() <= 0:
        return None
    if np.ptp(p) <= 1e-9 * max(p.max(), 1e-30):  # all pitch classes equal: no key
        return None
    scores = key_correlations(p)
    best = int(np.argmax(scores))
    return Key(best % 12, "major" if best < 12 else "minor", float(np.clip(scores[best], 0.0, 1.0)))


def key_correlations(profile: np.ndarray) -> np.ndarray:
    """(24,) Pearson correlations with C..B major, then C..B minor."""
    x = np.asarray(profile, dtype=np.float64)
    x = (x - x.mean()) / (x.std() + 1e-12)
    return _key_profiles() @ x / 12.0


@lru_cache(maxsize=1)
def _key_profiles() -> np.ndarray:
    """(24, 12) z-scored profiles, rotated so row k has its tonic on pitch class k % 12."""
    rows = [np.roll(p, k) for p in (_MAJOR_PROFILE, _MINOR_PROFILE) for k in range(12)]
    m = np.array(rows)
    return (m - m.mean(axis=1, keepdims=True)) / m.std(axis=1, keepdims=True)
