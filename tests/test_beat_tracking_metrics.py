"""The beat-grid error measures on grids that must score perfect, and on wrong grids of each kind."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.evaluation.metrics.beat_tracking import bar_offset, beat_phase, grid_errors, tempo_class

TRUE = 0.5 + 0.5 * np.arange(40)  # 120 BPM
DOWN = TRUE[::4]


def test_the_truth_is_perfect():
    row = grid_errors(TRUE, DOWN, TRUE, DOWN)
    assert row["beat_f"] == row["beat_f20"] == 1.0 and row["downbeat_f"] == 1.0
    assert row["tempo"] == "ok" and row["tempo_octave_error"] == row["offbeat_error"] == row["tempo_error"] == 0.0
    assert row["fast_octave_error"] == row["slow_octave_error"] == 0.0


def test_small_timing_noise_is_still_right():
    rng = np.random.default_rng(0)
    row = grid_errors(TRUE, DOWN, TRUE + rng.normal(0, 0.01, TRUE.size), DOWN)
    assert row["beat_f"] > 0.95 and row["tempo"] == "ok" and row["offbeat_error"] == 0.0


def test_the_tight_beat_f_sees_what_the_70_ms_window_forgives():
    """A grid 30 ms late is right at ±70 ms and wrong at ±20 ms; one that jitters by up to ±40 ms
    is partly right (mir_eval's F-measure at both windows)."""
    late = grid_errors(TRUE, DOWN, TRUE + 0.03, DOWN + 0.03)
    assert late["beat_f"] == 1.0 and late["beat_f20"] == 0.0
    jitter = grid_errors(TRUE, DOWN, TRUE + np.random.default_rng(1).uniform(-0.04, 0.04, TRUE.size), DOWN)
    assert jitter["beat_f"] == 1.0 and 0.3 < jitter["beat_f20"] < 0.7


def test_beats_on_the_and_are_a_phase_error():
    row = grid_errors(TRUE, DOWN, TRUE + 0.25, DOWN + 0.25)
    assert row["beat_f"] == 0.0 and row["tempo"] == "ok" and row["offbeat_error"] == 1.0
    assert beat_phase(TRUE, TRUE + 0.25)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("est", [TRUE[::2], np.sort(np.concatenate([TRUE, TRUE + 0.25])), TRUE[::3]])
def test_half_double_and_third_tempo_are_octave_errors(est):
    row = grid_errors(TRUE, DOWN, est, None)
    assert row["tempo"] == "octave" and row["tempo_octave_error"] == 1.0 and row["offbeat_error"] == 0.0
    fast = est.size > TRUE.size  # the double-time grid; half and third time are slow
    assert (row["fast_octave_error"], row["slow_octave_error"]) == (float(fast), float(not fast))
    assert "downbeat_f" not in row


def test_random_beats_are_neither_right_nor_on_the_and():
    rng = np.random.default_rng(1)
    est = np.sort(rng.uniform(0, 20, 40))
    row = grid_errors(TRUE, DOWN, est, est[::4])
    assert row["beat_f"] < 0.5 and row["downbeat_f"] < 0.5 and row["tempo"] == "other"
    assert beat_phase(TRUE, est)[1] < 0.4  # no consistent phase
    assert tempo_class(120.0, 0.0) == "other" and tempo_class(120.0, 90.0) == "other"


def test_bars_one_beat_late_keep_beats_and_lose_downbeats():
    row = grid_errors(TRUE, DOWN, TRUE, TRUE[1::4])
    assert row["beat_f"] == 1.0 and row["downbeat_f"] == 0.0
    assert row["bar_offset"] == 1 and row["bar_phase_error"] == 1.0


def test_the_bar_offset_says_which_beat_the_downbeats_fall_on():
    assert grid_errors(TRUE, DOWN, TRUE, DOWN)["bar_offset"] == 0
    half = grid_errors(TRUE, DOWN, TRUE, TRUE[2::4])  # half a bar off, the commonest learned-tracker error
    assert half["bar_offset"] == 2 and half["bar_phase_error"] == 1.0
    assert bar_offset(TRUE, DOWN, TRUE[3::4] + 0.03) == 3  # inside the ±70 ms tolerance
    two_four = grid_errors(TRUE, TRUE[::2], TRUE, DOWN)  # the truth in 2/4, read in 4: no phase error
    assert two_four["bar_offset"] == 0 and two_four["bar_phase_error"] == 0.0 and two_four["downbeat_f"] < 0.7
    assert grid_errors(TRUE, DOWN, TRUE + 0.25, DOWN + 0.25)["bar_phase_error"] == 0.0  # on the "&": a beat error
    assert bar_offset(TRUE, DOWN, TRUE[2::4] + 0.2) is None and bar_offset(TRUE, DOWN, np.zeros(0)) is None


@pytest.mark.parametrize("name", ["Tiny-Karaoke_29efb4fb5d.mid", "Children-Songs_1dc3041d5a.mid"])
def test_the_bar_offset_on_real_tempo_maps(band_midi_dir, name):
    """A 3/4 and a 4/4 song that open on a pickup (valid split): downbeats moved k beats along
    the true beats are k beats off; the beats before the first bar line count for nothing."""
    from stemgen.evaluation.ground_truth import midi_truth
    from stemgen.midifile.io import load_midi

    truth = midi_truth(load_midi(band_midi_dir / name), 0.0, 30.0)
    beats, downs = truth.beat_times, truth.downbeat_times
    first = int(np.searchsorted(beats, downs[0] - 1e-6))
    meter = truth.meters[0]
    assert meter == (3 if "29efb" in name else 4) and first > 0
    for k in range(meter):
        est = beats[first + k :: meter]
        row = grid_errors(beats, downs, beats, est)
        assert row["bar_offset"] == k and row["bar_phase_error"] == float(k > 0)
    assert bar_offset(beats, downs, beats[:first]) is None  # only pickup beats: no bar to measure against
