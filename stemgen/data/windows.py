"""Cutting songs into fixed-length windows and deciding which windows make examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A final partial window is kept (zero-padded) when at least this share of it is real audio;
# a song shorter than one window is padded into one window.
MIN_LAST_WINDOW_FILL = 0.5
SILENCE_FLOOR_DB = -120.0


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # first sample
    length: int  # samples (the preset's window)


def plan_windows(num_samples: int, window: int, hop: int) -> list[Window]:
    """Window positions covering a song of ``num_samples`` samples."""
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    if num_samples <= 0:
        return []
    starts = list(range(0, max(num_samples - window, 0) + 1, hop))
    last_end = starts[-1] + window
    if last_end < num_samples:
        tail_start = starts[-1] + hop
        if (num_samples - tail_start) / window >= MIN_LAST_WINDOW_FILL:
            starts.append(tail_start)
    return [Window(i, s, window) for i, s in enumerate(starts)]


def cut(audio: np.ndarray, win: Window) -> np.ndarray:
    """The window's samples of ``(channels, samples)`` audio, zero-padded past the end."""
    piece = audio[..., win.start : win.start + win.length]
    if piece.shape[-1] < win.length:
        piece = np.pad(piece, [(0, 0)] * (piece.ndim - 1) + [(0, win.length - piece.shape[-1])])
    return piece


def rms_db(audio: np.ndarray) -> float:
    """RMS level in dBFS (floored so silence is a finite number)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return max(20.0 * np.log10(rms) if rms > 0 else SILENCE_FLOOR_DB, SILENCE_FLOOR_DB)


@dataclass(frozen=True)
class SilencePolicy:
    """Windows whose target stem or context is too quiet teach nothing: they are skipped."""

    min_stem_db: float = -45.0
    min_context_db: float = -60.0

    def reason_to_skip(self, stem: np.ndarray, context: np.ndarray) -> str | None:
        if rms_db(stem) < self.min_stem_db:
            return "silent_stem"
        if rms_db(context) < self.min_context_db:
            return "silent_context"
        return None
