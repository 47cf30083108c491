"""The one beat-grid extension (stemgen.analysis.beat_grid): its edge rule, and that the step grid,
the rhythm metric and the arranger's BeatGrid all continue beats by it."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.analysis.beat_grid import beats_to_cover, edge_periods, extend_beats, subdivide

# A pickup beat 0.6 s before steady 0.5 s beats that end in one long (ritardando) interval.
JITTERY = np.array([0.9, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.8])


def test_edge_periods_neighbouring_interval_or_median_of_the_nearest():
    assert edge_periods(JITTERY, 1) == pytest.approx((0.6, 0.8))
    # Four intervals: the pickup and the ritardando are outvoted by the steady beats.
    assert edge_periods(JITTERY, 4) == pytest.approx((0.5, 0.5))
    # More intervals than there are: the median of all of them.
    assert edge_periods(np.array([0.0, 1.0, 3.0]), 8) == pytest.approx((1.5, 1.5))


def test_extension_covers_the_span_and_one_period_past_its_end():
    before, after = beats_to_cover(JITTERY, 0.0, 6.0)
    ext = extend_beats(JITTERY, before, after)
    assert ext[0] <= 0.0 < ext[1]  # the first beat at or before the start, and no extra one
    assert ext[-1] >= 6.0 + 0.8 and ext[-2] < 6.0 + 0.8
    np.testing.assert_allclose(np.diff(ext[: before + 1]), 0.6)
    np.testing.assert_allclose(np.diff(ext[-after - 1 :]), 0.8)
    np.testing.assert_array_equal(ext[before : before + JITTERY.size], JITTERY)
    # Beats that already reach the start add none before; the end always gets one more.
    assert beats_to_cover(JITTERY, 1.0, 4.0) == (0, 1)


def test_subdivide():
    grid = subdivide(np.array([1.0, 2.0, 4.0]), 4)
    np.testing.assert_allclose(grid, [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0])


def test_every_caller_continues_beats_by_the_one_rule():
    from stemgen.analysis.core import Analysis
    from stemgen.analysis.features import step_times
    from stemgen.arranger.grid import EDGE_INTERVALS, BeatGrid
    from stemgen.evaluation.metrics.rhythm import beat_grid

    analysis = Analysis(sample_rate=22050, duration_s=6.0, silent=False, beat_times=JITTERY,
                        downbeat_times=JITTERY[::4], tempo_bpm=120.0, tempo_curve=np.zeros(0), meter=4, key=None,
                        chords=[], beat_confidence=1.0)
    steps = step_times(analysis)
    assert steps[0] == pytest.approx(0.0, abs=0.6 / 4) and steps[-1] >= 6.0
    np.testing.assert_allclose(np.diff(steps[steps < 0.9]), 0.6 / 4)  # before the pickup: its period
    np.testing.assert_allclose(np.diff(steps[steps > 4.8]), 0.8 / 4)  # after the ritardando: its period
    np.testing.assert_allclose(beat_grid(JITTERY, 4), subdivide(extend_beats(JITTERY, 1, 1), 4))
    grid = BeatGrid.from_times(JITTERY)
    assert (grid.period_before, grid.period_after) == edge_periods(JITTERY, EDGE_INTERVALS)
    assert grid.seconds_at(-2.0) == pytest.approx(0.9 - 2 * 0.5)
