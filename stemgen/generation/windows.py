"""Cutting a song into overlapping windows, scheduling them in batches, and stitching them back.

Windows start every ``hop`` samples and are ``window`` samples long; the last one is zero-padded.
Overlaps are whole spectrogram frames so the overlap of two windows is the same image columns.

Scheduling: with ``continuity="inpaint"`` a window is constrained by the previous window's
generated stem, so windows form *chains* that must run in order. To still batch ``B`` windows per
UNet call, the song is split into ``B`` contiguous chains that advance together (step ``j`` runs
window ``j`` of every chain); only the ``B - 1`` chain starts are joined by a plain cross-fade.
With ``continuity="crossfade"`` windows are independent and simply taken ``B`` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPlan:
    """Window layout over ``n_samples`` of audio (all in samples at the codec rate)."""

    n_samples: int
    window: int
    hop: int
    n_windows: int

    @property
    def overlap(self) -> int:
        return self.window - self.hop

    @property
    def padded_length(self) -> int:
        return (self.n_windows - 1) * self.hop + self.window

    def start(self, k: int) -> int:
        return k * self.hop


def plan_windows(n_samples: int, window: int, frame_hop: int, overlap_frames: int) -> WindowPlan:
    """Windows of ``window`` samples overlapping by ``overlap_frames`` frames of ``frame_hop`` samples."""
    frames = window // frame_hop
    if not 0 <= overlap_frames <= frames // 2:
        raise ValueError(f"overlap of {overlap_frames} frames must be between 0 and half a window ({frames // 2})")
    hop = window - overlap_frames * frame_hop
    n = 1 if n_samples <= window else 1 + math.ceil((n_samples - window) / hop)
    return WindowPlan(n_samples=n_samples, window=window, hop=hop, n_windows=n)


def schedule(n_windows: int, batch_size: int, chained: bool) -> list[list[int]]:
    """Batches of window indices, in the order they must be generated (see module doc)."""
    batch_size = max(1, min(batch_size, n_windows))
    if not chained:
        return [list(range(i, min(i + batch_size, n_windows))) for i in range(0, n_windows, batch_size)]
    bounds = np.linspace(0, n_windows, batch_size + 1).round().astype(int)
    chains = [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    steps = max(len(c) for c in chains)
    return [[c[j] for c in chains if j < len(c)] for j in range(steps)]


def chain_starts(n_windows: int, batch_size: int) -> set[int]:
    """Windows that begin a chain (generated without a left neighbour) under ``schedule(chained=True)``."""
    return set(schedule(n_windows, batch_size, True)[0])


def fade_weights(plan: WindowPlan, k: int) -> np.ndarray:
    """Overlap-add weights for window ``k``: raised-cosine fades over each overlap, summing to 1."""
    w = np.ones(plan.window, dtype=np.float32)
    o = plan.overlap
    if o == 0:
        return w
    ramp = np.sin(0.5 * np.pi * (np.arange(o, dtype=np.float32) + 0.5) / o) ** 2
    if k > 0:
        w[:o] *= ramp
    if k < plan.n_windows - 1:
        w[-o:] *= ramp[::-1]
    return w
