"""Summing stems without silent clipping.

``mix_stems`` adds signals and, when the sum would exceed full scale, scales it down and says so
(``GainChange``), so callers can report every gain change instead of hiding it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Leave a little room under full scale so 16-bit rounding never clips.
DEFAULT_CEILING = 0.99


@dataclass(frozen=True)
class GainChange:
    """A gain applied to keep audio under full scale."""

    gain: float
    peak_before: float

    @property
    def gain_db(self) -> float:
        return float(20 * np.log10(self.gain))


def fit_headroom(audio: np.ndarray, ceiling: float = DEFAULT_CEILING) -> tuple[np.ndarray, GainChange | None]:
    """Scale ``audio`` down if its peak is above ``ceiling``; return it and the change, if any."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= ceiling:
        return audio, None
    gain = ceiling / peak
    return (audio * gain).astype(np.float32), GainChange(gain=gain, peak_before=peak)


def match_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad or trim ``(channels, samples)`` audio to ``length`` samples."""
    n = audio.shape[-1]
    if n == length:
        return audio
    if n > length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - n)]
    return np.pad(audio, pad)


def sum_signals(signals: list[np.ndarray]) -> np.ndarray:
    """Sum ``(channels, samples)`` arrays of equal shape (no gain applied)."""
    if not signals:
        raise ValueError("nothing to sum")
    out = np.zeros_like(signals[0], dtype=np.float32)
    for s in signals:
        out += s
    return out


def mix_stems(signals: list[np.ndarray], ceiling: float = DEFAULT_CEILING) -> tuple[np.ndarray, GainChange | None]:
    """Sum signals; scale the sum down if it would clip, returning the gain change."""
    return fit_headroom(sum_signals(signals), ceiling)
