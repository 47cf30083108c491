"""Statistics every evaluation shares (audio, MIDI, analysis): means with bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np


def bootstrap_mean(values, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)`` of the finite ``values``, with a percentile bootstrap interval.

    No finite values: all NaN. One value: the interval collapses onto it.
    """
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size == 1 or resamples <= 0:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - level) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(low), float(high)
