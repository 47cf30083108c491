"""New mix = input + stem, changed only where the sum would clip.

Where ``|input + stem|`` stays within full scale the mix *is* that sum, sample for sample. Where it
would exceed full scale, a look-ahead peak limiter lowers the whole mix (all channels together,
so the stereo image holds) around each over: the gain a sample needs is ``ceiling / |x|``; its
minimum over +-``window_s`` is averaged over +-``window_s / 2``, which keeps every sample at or
under the ceiling while the gain ramps in and out over ``window_s`` instead of jumping (a hard
clip's distortion). The input is therefore altered only within ``window_s`` of an over, and the
report says how many samples and by how much.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d

CEILING = 1.0  # full scale: above it a WAV clips
WINDOW_S = 0.010


@dataclass(frozen=True)
class LimiterReport:
    samples_changed: int
    max_reduction_db: float
    peak_before: float

    def to_dict(self) -> dict:
        return {"samples_changed": self.samples_changed, "max_reduction_db": round(self.max_reduction_db, 3),
                "peak_before": round(self.peak_before, 4)}


def limit_peaks(audio: np.ndarray, sample_rate: int, ceiling: float = CEILING,
                window_s: float = WINDOW_S) -> tuple[np.ndarray, LimiterReport]:
    """``audio`` (channels, samples) with peaks above ``ceiling`` limited; unchanged elsewhere."""
    audio = np.asarray(audio, dtype=np.float32)
    level = np.max(np.abs(audio), axis=0) if audio.size else np.zeros(0, np.float32)
    overs = np.flatnonzero(level > ceiling)
    peak = float(level[overs].max()) if overs.size else float(level.max(initial=0.0))
    if not overs.size:
        return audio, LimiterReport(0, 0.0, peak)
    half = max(1, int(round(window_s * sample_rate)))
    smooth = half | 1  # odd width <= 2 * half + 1: each average stays under every `need` it spans
    reach = half + smooth  # farthest a gain change spreads from an over
    out = audio.copy()
    changed, deepest = 0, 1.0
    # Only the neighbourhoods of the overs are filtered (a song has few): cost follows the overs.
    breaks = np.flatnonzero(np.diff(overs) > 4 * reach)
    for a, b in zip(np.r_[overs[0], overs[breaks + 1]], np.r_[overs[breaks], overs[-1]]):
        lo, hi = max(0, a - 2 * reach), min(level.size, b + 2 * reach + 1)
        need = np.minimum(1.0, ceiling / np.maximum(level[lo:hi].astype(np.float64), 1e-12))
        held = minimum_filter1d(need, size=2 * half + 1, mode="nearest")
        gain = np.minimum(uniform_filter1d(held, size=smooth, mode="nearest"), need)  # min: rounding guard
        # Every sample whose averaging window reaches a held-down gain; elsewhere the sum is kept.
        touched = minimum_filter1d(need, size=2 * half + smooth, mode="nearest") < 1.0
        seg = out[:, lo:hi]
        before = seg[:, touched]
        after = np.clip(before * gain[touched], -ceiling, ceiling).astype(np.float32)
        seg[:, touched] = after
        changed += int(np.any(after != before, axis=0).sum())  # a gain of 1 - 1e-9 changes nothing
        deepest = min(deepest, float(gain[touched].min()))
    return out, LimiterReport(changed, float(-20 * np.log10(deepest)), peak)


def mix_with_limiter(context: np.ndarray, stem: np.ndarray, sample_rate: int) -> tuple[np.ndarray, LimiterReport]:
    """Input plus stem (same shape), limited only where the sum would clip."""
    if context.shape != stem.shape:
        raise ValueError(f"context {context.shape} and stem {stem.shape} differ in shape")
    return limit_peaks(context.astype(np.float32) + stem.astype(np.float32), sample_rate)
