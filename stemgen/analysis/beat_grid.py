"""The project's one beat-grid extension: tracked beats continued past their ends, and subdivided.

Edge rule: before the first and after the last tracked beat, beats go on at the *edge period*,
the median of the ``edge_intervals`` beat intervals nearest that end. Callers differ only in
that window, and each keeps the one its outputs were made with:

* 1 interval (the neighbouring one): the part models' 16th-note step grid
  (``stemgen.analysis.features``, the context contract the bundled models were trained on) and the
  rhythm metric's grid (``stemgen.evaluation.metrics.rhythm``);
* 4 intervals: where the arranger places notes and writes its MIDI tempo map
  (``stemgen.arranger.grid.BeatGrid``), so a pickup or a ringing last bar keeps the song's tempo
  rather than one jittery interval's.
"""

from __future__ import annotations

import numpy as np


def edge_periods(beats: np.ndarray, edge_intervals: int = 1) -> tuple[float, float]:
    """``(period before the first beat, period after the last)`` of ``beats`` (at least two, sorted)."""
    d = np.diff(np.asarray(beats, dtype=np.float64))
    return float(np.median(d[:edge_intervals])), float(np.median(d[-edge_intervals:]))


def beats_to_cover(beats: np.ndarray, start_s: float, end_s: float, edge_intervals: int = 1) -> tuple[int, int]:
    """``(before, after)``: how many beats ``extend_beats`` adds so that the first beat is at or
    before ``start_s`` and the last at least one edge period after ``end_s``."""
    first_p, last_p = edge_periods(beats, edge_intervals)
    before = int(np.ceil(max(beats[0] - start_s, 0.0) / first_p))
    after = int(np.ceil(max(end_s - beats[-1], 0.0) / last_p)) + 1
    return before, after


def extend_beats(beats: np.ndarray, before: int, after: int, edge_intervals: int = 1) -> np.ndarray:
    """``beats`` with ``before`` beats added before the first and ``after`` after the last, at the
    edge periods (see the module's edge rule)."""
    beats = np.asarray(beats, dtype=np.float64)
    first_p, last_p = edge_periods(beats, edge_intervals)
    head = beats[0] - first_p * np.arange(before, 0, -1)
    tail = beats[-1] + last_p * np.arange(1, after + 1)
    return np.concatenate([head, beats, tail])


def subdivide(beats: np.ndarray, subdivisions: int) -> np.ndarray:
    """Grid positions: each interval of ``beats`` cut into ``subdivisions`` equal steps, the last
    beat included (``(len(beats) - 1) * subdivisions + 1`` positions)."""
    beats = np.asarray(beats, dtype=np.float64)
    steps = np.arange(subdivisions) / subdivisions
    return np.append((beats[:-1, None] + np.diff(beats)[:, None] * steps[None, :]).ravel(), beats[-1])
