"""Rhythm metrics: beat F-measure, onsets on the beat grid, tempo agreement.

* ``beat_f_measure``: mir_eval's beat F-measure (a beat is hit within ±70 ms). mir_eval's
  ``evaluate`` drops beats before 5 s, which would empty a 5.12 s window, so we call
  ``f_measure`` directly on all beats.
* ``onset_grid_share``: share of onsets within ``tolerance`` of a 16th-note grid from reference
  beats, the tolerance a fraction of the local 16th (each inter-beat interval cut into 4; the grid
  extends one beat before the first and after the last beat). Random onsets score ``2 *
  tolerance`` (0.40) at any tempo. Calibrated (scripts/eval_analysis.py, docs/EVALUATION.md) on 13
  held-out rendered songs: their real drum stems score 0.99 on the true beats and 0.74 on the beats
  analysed from the context without drums (the real multitrack excerpt: 1.00 and 0.75); random
  onsets 0.40, the real onsets a 32nd late 0.07. Compare a generated part with the real part
  measured the same way.
  Onsets and beats must share a time base: use ``stemgen.analysis.onsets.detect_onsets`` with
  beats from ``stemgen.analysis.analyze``.
* ``tempo_agreement``: whether two tempi agree within 4% (``strict``), and also allowing a factor
  of 2 or 1/2 (``octave``), since trackers often lock to double or half time.
"""

from __future__ import annotations

import math

import numpy as np

from stemgen.analysis.beat_grid import extend_beats, subdivide

BEAT_WINDOW_S = 0.07  # mir_eval's default F-measure window
# ±0.2 of a 16th (±25 ms at 120 BPM): detector jitter and a drummer's flams fit, a 32nd off does not.
GRID_TOLERANCE = 0.2
GRID_SUBDIVISIONS = 4  # 16th notes in 4/4
TEMPO_TOLERANCE = 0.04


ONSET_WINDOW_S = 0.05  # mir_eval.onset's default tolerance


def onset_f_measure(reference_onsets: np.ndarray, estimated_onsets: np.ndarray, window: float = ONSET_WINDOW_S) -> float:
    """mir_eval onset F-measure of ``estimated_onsets`` against ``reference_onsets`` (seconds);
    both empty -> 1.0, one empty -> 0.0."""
    import mir_eval

    ref = np.unique(np.asarray(reference_onsets, dtype=np.float64))
    est = np.unique(np.asarray(estimated_onsets, dtype=np.float64))
    if ref.size == 0 and est.size == 0:
        return 1.0
    if ref.size == 0 or est.size == 0:
        return 0.0
    return float(mir_eval.onset.f_measure(ref, est, window=window)[0])


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
    ext = _extended_beats(beats)
    return subdivide(ext, subdivisions) if ext.size >= 2 else ext


def grid_chance_level(beats: np.ndarray, tolerance: float = GRID_TOLERANCE) -> float:
    """Expected ``onset_grid_share`` of uniformly random onsets (capped at 1); NaN without beats."""
    if np.asarray(beats).size < 2:
        return math.nan
    return min(1.0, 2.0 * tolerance)


def onset_grid_share(
    onsets: np.ndarray,
    beats: np.ndarray,
    tolerance: float = GRID_TOLERANCE,
    subdivisions: int = GRID_SUBDIVISIONS,
) -> float:
    """Share (0-1) of ``onsets`` within ``tolerance`` (a fraction of the local grid spacing) of the
    grid from ``beats``; onsets outside the extended grid are ignored. NaN without onsets or beats."""
    dev = grid_deviation(onsets, beats, subdivisions)
    return float(np.mean(np.abs(dev) <= tolerance)) if dev.size else math.nan


def grid_deviation(onsets: np.ndarray, beats: np.ndarray, subdivisions: int = GRID_SUBDIVISIONS) -> np.ndarray:
    """Signed distance of each onset to its nearest grid position, in grid steps (-0.5..0.5)."""
    onsets = np.asarray(onsets, dtype=np.float64)
    ext = _extended_beats(beats)
    if onsets.size == 0 or ext.size < 2:
        return np.zeros(0)
    onsets = onsets[(onsets >= ext[0]) & (onsets <= ext[-1])]
    i = np.clip(np.searchsorted(ext, onsets, side="right") - 1, 0, ext.size - 2)
    phase = (onsets - ext[i]) / (ext[i + 1] - ext[i]) * subdivisions
    return phase - np.round(phase)


def _extended_beats(beats: np.ndarray) -> np.ndarray:
    """Sorted beats plus one beat before and after (with the neighbouring interval)."""
    beats = np.sort(np.asarray(beats, dtype=np.float64))
    if beats.size < 2:
        return beats
    # One local interval each side so onsets just outside the tracked beats still find a grid.
    return extend_beats(beats, 1, 1)


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
