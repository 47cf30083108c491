"""Seeded humanisation: small onset-timing jitter and velocity variation.

Timing jitter is Gaussian in milliseconds, cut at ``clip_sd`` standard deviations and never larger
than ``neighbour_fraction`` of the gap to the neighbouring onsets of the part, so no note moves
past another (notes that share a grid step may flam by a few ms, as players' hits do). Kick and
snare get the tighter figures: they carry the groove, and listeners hear their drift first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH

TIGHT_DRUM_CLASSES = (0, 1)  # kick, snare (stemgen.midifile.lanes.DRUM_CLASSES)


@dataclass(frozen=True)
class Humanization:
    """Standard deviations of the jitter; ``Humanization.off()`` places notes exactly on the grid."""

    timing_ms: float = 6.0
    tight_timing_ms: float = 2.5  # kick and snare
    velocity_sd: float = 6.0
    tight_velocity_sd: float = 4.0
    clip_sd: float = 2.5
    neighbour_fraction: float = 0.4

    @classmethod
    def off(cls) -> "Humanization":
        return cls(timing_ms=0.0, tight_timing_ms=0.0, velocity_sd=0.0, tight_velocity_sd=0.0)


def tight_mask(pitch: np.ndarray, is_drums: bool) -> np.ndarray:
    """Notes that get the tighter figures: kick and snare of a drum part."""
    if not is_drums:
        return np.zeros(pitch.shape, dtype=bool)
    return np.isin(DRUM_CLASS_OF_PITCH[np.clip(pitch, 0, 127)], TIGHT_DRUM_CLASSES)


def jitter_onsets(onset_s: np.ndarray, tight: np.ndarray, h: Humanization, rng: np.random.Generator) -> np.ndarray:
    """Humanised onsets (seconds); the order of distinct onsets is kept."""
    n = onset_s.size
    if n == 0:
        return onset_s.copy()
    sd = np.where(tight, h.tight_timing_ms, h.timing_ms) * 1e-3
    jitter = np.clip(rng.standard_normal(n) * sd, -h.clip_sd * sd, h.clip_sd * sd)
    distinct = np.unique(onset_s)
    k = np.searchsorted(distinct, onset_s)
    gap_prev = np.where(k > 0, onset_s - distinct[np.maximum(k - 1, 0)], np.inf)
    gap_next = np.where(k < distinct.size - 1, distinct[np.minimum(k + 1, distinct.size - 1)] - onset_s, np.inf)
    bound = h.neighbour_fraction * np.minimum(gap_prev, gap_next)
    return onset_s + np.clip(jitter, -bound, bound)


def vary_velocities(velocity: np.ndarray, tight: np.ndarray, h: Humanization, rng: np.random.Generator) -> np.ndarray:
    sd = np.where(tight, h.tight_velocity_sd, h.velocity_sd)
    delta = np.clip(rng.standard_normal(velocity.size) * sd, -h.clip_sd * sd, h.clip_sd * sd)
    return np.clip(np.rint(velocity + delta), 1, 127).astype(np.int64)
