"""How a beat grid is wrong, against true beats: beat/downbeat F-measure, tempo octave, off-beat phase.

* ``beat_f``/``downbeat_f``: mir_eval's F-measure (±70 ms), no trimming; ``beat_f20`` the same within
  ±20 ms, how precisely the beats sit (a part's notes are placed on them: a grid 30 ms off scores 0
  here and 1 on ``beat_f``).
* ``tempo_class``: the estimated tempo against the true one: ``"ok"`` within ``TEMPO_TOLERANCE``,
  ``"octave"`` within it of 2, 3, 1/2 or 1/3 times the truth (the tracker locked onto another
  metrical level; ``fast_octave_error``/``slow_octave_error`` say which way), ``"other"`` otherwise
  (no grid, or a wrong tempo).
* ``beat_phase``: where the estimated beats fall inside the true beats, as the circular mean of
  their position (0..1 of a beat) weighted by how consistent it is; an ``offbeat`` grid has the
  right tempo with its beats on the "&" (mean position within a quarter beat of 0.5).
* ``bar_offset``: on which beat of the true bar the estimated downbeats fall (0: the bar line; 2 in
  4/4: half a bar off; the most common position among the estimated downbeats within ±70 ms of a
  true beat); ``bar_phase_error``: right tempo, beats on the beat, downbeats on another beat of the
  bar (a bar read in 4 where the truth has 2, every downbeat on a true one, is no phase error).
"""

from __future__ import annotations

import math

import numpy as np

TEMPO_TOLERANCE = 0.08  # relative: a listener's "same tempo" (MIREX tempo uses 8 %)
OCTAVE_RATIOS = (2.0, 3.0, 0.5, 1.0 / 3.0)


TIGHT_WINDOW_S = 0.02  # ``beat_f20``'s window


def f_measure(reference: np.ndarray, estimate: np.ndarray, window_s: float = 0.07) -> float:
    """mir_eval.beat.f_measure (±``window_s``, mir_eval's default 70 ms) without its 5 s trimming; 1 when
    both are empty."""
    import mir_eval

    ref, est = np.asarray(reference, float), np.asarray(estimate, float)
    if ref.size == 0 or est.size == 0:
        return float(ref.size == est.size)
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=window_s))


def tempo_of(beats: np.ndarray) -> float:
    """BPM from the median beat interval (0 without two beats)."""
    b = np.asarray(beats, dtype=np.float64)
    return 60.0 / float(np.median(np.diff(b))) if b.size >= 2 and np.median(np.diff(b)) > 0 else 0.0


def tempo_class(true_bpm: float, est_bpm: float) -> str:
    if true_bpm <= 0 or est_bpm <= 0:
        return "other"
    r = est_bpm / true_bpm
    if abs(r - 1.0) <= TEMPO_TOLERANCE:
        return "ok"
    return "octave" if any(abs(r / k - 1.0) <= TEMPO_TOLERANCE for k in OCTAVE_RATIOS) else "other"


def beat_phase(true_beats: np.ndarray, est_beats: np.ndarray) -> tuple[float, float]:
    """(mean position of the estimated beats inside the true beats, 0..1; its consistency, 0..1).

    Consistency is the resultant length of the positions as angles: 1 when every beat sits at the
    same place in its true beat, ~0 for beats unrelated to the truth.
    """
    t, e = np.asarray(true_beats, np.float64), np.asarray(est_beats, np.float64)
    if t.size < 2 or e.size == 0:
        return math.nan, 0.0
    e = e[(e >= t[0]) & (e < t[-1])]
    if e.size == 0:
        return math.nan, 0.0
    i = np.searchsorted(t, e, side="right") - 1
    pos = (e - t[i]) / (t[i + 1] - t[i])
    z = np.exp(2j * np.pi * pos).mean()
    return float((np.angle(z) / (2 * np.pi)) % 1.0), float(abs(z))


def is_offbeat(true_beats: np.ndarray, est_beats: np.ndarray, min_consistency: float = 0.5) -> bool:
    """A consistent grid whose beats sit nearer the "&" than the beat."""
    pos, consistency = beat_phase(true_beats, est_beats)
    return consistency >= min_consistency and abs(pos - 0.5) < 0.25


def grid_errors(true_beats, true_downbeats, est_beats, est_downbeats) -> dict:
    """Every figure of this module for one song."""
    true_bpm, est_bpm = tempo_of(true_beats), tempo_of(est_beats)
    cls = tempo_class(true_bpm, est_bpm)
    row = {"beat_f": f_measure(true_beats, est_beats), "beat_f20": f_measure(true_beats, est_beats, TIGHT_WINDOW_S),
           "true_bpm": round(true_bpm, 2),
           "est_bpm": round(est_bpm, 2), "tempo": cls,
           "tempo_octave_error": float(cls == "octave"), "tempo_error": float(cls != "ok")}
    # Which way the octave went: read too fast (double or triple time) or too slow (half or third).
    row["fast_octave_error"] = float(cls == "octave" and est_bpm > true_bpm)
    row["slow_octave_error"] = float(cls == "octave" and est_bpm < true_bpm)
    row["offbeat_error"] = float(cls == "ok" and is_offbeat(true_beats, est_beats))
    if est_downbeats is not None:
        row["downbeat_f"] = f_measure(true_downbeats, est_downbeats)
        offset = bar_offset(true_beats, true_downbeats, est_downbeats)
        if offset is not None:
            row["bar_offset"] = offset
        row["bar_phase_error"] = float(cls == "ok" and not row["offbeat_error"] and bool(offset))
    return row


def bar_offset(true_beats, true_downbeats, est_downbeats, tolerance: float = 0.07) -> int | None:
    """The most common position (beats after the true bar line) of the estimated downbeats that lie
    within ``tolerance`` s of a true beat; None when none does or the truth has no downbeat."""
    t, d, e = (np.asarray(x, np.float64) for x in (true_beats, true_downbeats, est_downbeats))
    if t.size == 0 or d.size == 0 or e.size == 0:
        return None
    bar_start = np.searchsorted(t, d - 1e-6)  # index of each true downbeat among the beats
    nearest = np.clip(np.searchsorted(t, e), 1, t.size - 1)
    nearest = np.where(np.abs(t[nearest - 1] - e) <= np.abs(t[nearest] - e), nearest - 1, nearest)
    hit = (np.abs(t[nearest] - e) <= tolerance) & (nearest >= bar_start[0])  # beats before the first bar: unknown
    if not np.any(hit):
        return None
    last_bar = np.searchsorted(bar_start, nearest[hit], side="right") - 1
    return int(np.bincount(nearest[hit] - bar_start[last_bar]).argmax())
