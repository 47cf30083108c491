"""Rhythm metrics: beat F-measure, onsets on the beat grid, tempo agreement.

* ``beat_f_measure``: mir_eval's beat F-measure (a beat is hit within ±70 ms). mir_eval's
  ``evaluate`` drops beats before 5 s, which would empty a 5.12 s window, so we call
  ``f_measure`` directly on all beats.
* ``onset_grid_share``: share of onsets within ``tolerance`` (default ±30 ms) of a 16th-note grid
  position derived from reference beats (each inter-beat interval cut into 4; the grid extends one
  beat before the first and after the last beat). Not ±70 ms: at 120 BPM 16ths are 125 ms apart,
  so ±70 ms would accept every onset. Random onsets score about ``2 * tolerance / 16th spacing``
  (0.48 at 120 BPM, 0.40 at 100 BPM): compare systems against that chance level, and against the
  oracle (real stems have flams, swing and detector jitter too).
* ``tempo_agreement``: whether two tempi agree within 4% (``strict``), and also allowing a factor
  of 2 or 1/2 (``octave``), since trackers often lock to double or half time.
"""

from __future__ import annotations

import math

import numpy as np

BEAT_WINDOW_S = 0.07  # mir_eval's default F-measure window
GRID_TOLERANCE_S = 0.03  # ~1.3 analysis frames (23 ms): detector jitter fits, a 32nd off does not
GRID_SUBDIVISIONS = 4  # 16th notes in 4/4
TEMPO_TOLERANCE = 0.04


def beat_f_measure(reference_beats: np.ndarray, estimated_beats: np.ndarray, window: float = BEAT_WINDOW_S) -> float:
    """F-measure of ``estimated_beats`` against ``reference_beats`` (seconds).

    Both empty -> 1.0 (agreement on "no pulse"); one empty -> 0.0.
    """
    import mir_eval

    ref = np.asarray(reference_beats, dtype=np.float64)
    est = np.asarray(estimated_beats, dtype=np.float64)
    if ref.size == 0 and est.size == 0:
        return 1.0
    if ref.size == 0 or est.size == 0:
        return 0.0
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=window))


def beat_grid(beats: np.ndarray, subdivisions: int = GRID_SUBDIVISIONS) -> np.ndarray:
    """Grid positions (s): each beat interval cut into ``subdivisions``, one beat extended each side."""
    beats = np.sort(np.asarray(beats, dtype=np.float64))
    if beats.size < 2:
        return beats
    # Extend by one median interval so onsets just outside the tracked beats still find a grid.
    period = float(np.median(np.diff(beats)))
    ext = np.concatenate([[beats[0] - period], beats, [beats[-1] + period]])
    steps = np.arange(subdivisions) / subdivisions
    grid = (ext[:-1, None] + np.diff(ext)[:, None] * steps[None, :]).ravel()
    return np.append(grid, ext[-1])


def grid_chance_level(beats: np.ndarray, tolerance: float = GRID_TOLERANCE_S, subdivisions: int = GRID_SUBDIVISIONS) -> float:
    """Expected ``onset_grid_share`` of uniformly random onsets (capped at 1); NaN without beats."""
    beats = np.asarray(beats, dtype=np.float64)
    if beats.size < 2:
        return math.nan
    spacing = float(np.median(np.diff(beats))) / subdivisions
    return min(1.0, 2.0 * tolerance / spacing)


def onset_grid_share(
    onsets: np.ndarray,
    beats: np.ndarray,
    tolerance: float = GRID_TOLERANCE_S,
    subdivisions: int = GRID_SUBDIVISIONS,
) -> float:
    """Share (0-1) of ``onsets`` within ``tolerance`` of the grid from ``beats``; NaN without onsets or beats."""
    onsets = np.asarray(onsets, dtype=np.float64)
    grid = beat_grid(beats, subdivisions)
    if onsets.size == 0 or grid.size < 2:
        return math.nan
    idx = np.clip(np.searchsorted(grid, onsets), 1, grid.size - 1)
    nearest = np.minimum(np.abs(onsets - grid[idx - 1]), np.abs(onsets - grid[idx]))
    return float(np.mean(nearest <= tolerance))


def tempo_agreement(estimated_bpm: float, reference_bpm: float, tolerance: float = TEMPO_TOLERANCE) -> dict[str, float]:
    """``{"strict": 0/1, "octave": 0/1}``: ratio within ``tolerance`` of 1 (strict) or of 1, 2, 1/2 (octave).

    A missing tempo (0) on either side agrees only when both are missing.
    """
    if estimated_bpm <= 0 or reference_bpm <= 0:
        both = float(estimated_bpm <= 0 and reference_bpm <= 0)
        return {"strict": both, "octave": both}
    ratio = estimated_bpm / reference_bpm
    strict = abs(ratio - 1.0) <= tolerance
    octave = any(abs(ratio / f - 1.0) <= tolerance for f in (0.5, 1.0, 2.0))
    return {"strict": float(strict), "octave": float(octave)}
