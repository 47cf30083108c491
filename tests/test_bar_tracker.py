"""The bar-pointer HMM (stemgen.analysis.bar_tracker) on synthetic activations: tempo, meter and
downbeat found; the right tempo octave when the "&" shows weakly; tempo changes followed."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.analysis.bar_tracker import decode
from stemgen.analysis.beats import tempo_from_beats as tempo_of
from stemgen.evaluation.metrics.beat_tracking import f_measure

FR = 22050 / 256


def activations(beat_times, meter, seconds, first_bar_beat=0, offbeat=0.0, noise=0.03, seed=0):
    """(beat act, downbeat act) with peaks at ``beat_times``, 5 frames wide as a network's (trained on
    targets a frame wide either side); every ``meter``-th beat from ``first_bar_beat`` a downbeat;
    ``offbeat``: a peak of that height half-way between beats."""
    n = int(seconds * FR)
    rng = np.random.default_rng(seed)
    b, d = noise * rng.random(n), 0.5 * noise * rng.random(n)

    def put(row, times, height):
        frames = np.rint(np.asarray(times) * FR).astype(int)
        for off, share in ((0, 1.0), (-1, 0.6), (1, 0.6), (-2, 0.25), (2, 0.25)):
            f = np.clip(frames + off, 0, n - 1)
            row[f] = np.maximum(row[f], height * share)

    put(b, beat_times, 0.9)
    put(d, np.asarray(beat_times)[first_bar_beat::meter], 0.8)
    if offbeat:
        put(b, np.asarray(beat_times[:-1]) + np.diff(beat_times) / 2, offbeat)
    return b, d


@pytest.mark.parametrize(("bpm", "meter", "first"), [(120.0, 4, 1), (90.0, 3, 2), (168.0, 4, 0), (66.0, 4, 3)])
def test_tempo_meter_and_downbeats(bpm, meter, first):
    beats = 0.4 + np.arange(0, 29.0, 60.0 / bpm)
    b, d = activations(beats, meter, 30.0, first)
    got, numbers, got_meter = decode(b, d, FR)
    assert got_meter == meter
    assert f_measure(beats, got) > 0.97
    assert tempo_of(got) == pytest.approx(bpm, rel=0.02)
    assert f_measure(beats[first::meter], got[numbers == 1]) > 0.95


def test_a_weak_offbeat_does_not_double_the_tempo():
    """Peaks on the "&" a tenth as strong as the beats: 100 BPM, not 200 (nor 50)."""
    beats = 0.3 + np.arange(0, 29.0, 0.6)
    b, d = activations(beats, 4, 30.0, offbeat=0.09)
    got, _, _ = decode(b, d, FR)
    assert tempo_of(got) == pytest.approx(100.0, rel=0.02) and f_measure(beats, got) > 0.97


def test_a_tempo_change_is_followed():
    intervals = np.concatenate([np.full(30, 0.5), np.full(30, 60.0 / 140)])  # 120 BPM, then 140
    beats = 0.2 + np.concatenate([[0.0], np.cumsum(intervals)])
    b, d = activations(beats, 4, float(beats[-1]) + 1.0)
    got, _, _ = decode(b, d, FR)
    assert f_measure(beats, got) > 0.95


def test_too_short_or_empty_activations_give_no_beats():
    got, numbers, meter = decode(np.zeros(3), np.zeros(3), FR)
    assert got.size == 0 and numbers.size == 0 and meter == 4


def test_the_tempo_prior_keeps_a_weak_beat_at_the_song_tempo():
    """Every other beat weak (a sparse context without drums, as the real excerpt's): without the prior
    the HMM settles at half tempo (the real excerpt read at 55 BPM and refused); with the log-normal
    prior around 115 BPM it keeps the 110 BPM beat. A clear 60 BPM pulse stays at 60."""
    beats = 0.3 + np.arange(0, 14.5, 60.0 / 110.0)
    b, d = activations(beats, 4, 15.0)
    b[np.rint(beats[1::2] * FR).astype(int)[:, None] + np.arange(-2, 3)] *= 0.4  # 0.36 against 0.9
    flat, _, _ = decode(b, d, FR, prior_octaves=None, prior_per_beat=0.0)
    with_prior, _, _ = decode(b, d, FR)
    assert tempo_of(flat) == pytest.approx(55.0, rel=0.08)
    assert tempo_of(with_prior) == pytest.approx(110.0, rel=0.03)
    assert f_measure(beats, with_prior) > 0.95
    slow = 0.3 + np.arange(0, 29.0, 1.0)
    b, d = activations(slow, 4, 30.0)
    assert tempo_of(decode(b, d, FR)[0]) == pytest.approx(60.0, rel=0.03)


@pytest.mark.parametrize("bpm", [120.0, 96.0])
def test_the_fine_pass_keeps_beats_on_tempi_between_the_coarse_ones(bpm):
    """120 and 96 BPM fall between the 25 coarse tempi (114.8 / 123.0, 92.3 / 97.5): the coarse pass
    holds a near tempo and corrects late (beats up to 28 ms off); the fine pass, every whole-frame
    period within 12 % of its tempo, keeps every beat within 20 ms."""
    from stemgen.analysis.bar_tracker import decode_fine

    beats = 0.4 + np.arange(0, 29.0, 60.0 / bpm)
    b, d = activations(beats, 4, 30.0, 1)
    errors = {}
    for fn in (decode, decode_fine):
        got, numbers, meter = fn(b, d, FR)
        assert meter == 4 and f_measure(beats[1::4], got[numbers == 1]) > 0.95
        got = got[(got > beats[0] - 0.1) & (got < beats[-1] + 0.1)]
        errors[fn.__name__] = np.abs(got[:, None] - beats[None, :]).min(axis=1).max()
    assert errors["decode_fine"] < 0.02 < errors["decode"], errors


@pytest.mark.parametrize("ratio", [0.75, 4 / 3])
def test_the_fine_pass_follows_a_tempo_step_the_coarse_pass_found(ratio):
    """120 BPM, then 90 (or 160) from a bar line: the coarse pass follows; the fine pass searched only
    within 12 % of the median tempo and held one tempo through (learned-cc on the tone sequence of
    ``test_analysis.py``: beat F 0.66); its range now spans the first pass's local tempi where they
    change by more than 12 % (``fine_range``), and it follows (a steady song's range is unchanged)."""
    from stemgen.analysis.bar_tracker import FINE_WIDTH, decode_fine, fine_range

    intervals = np.concatenate([np.full(32, 0.5), np.full(24, 0.5 / ratio)])
    beats = 0.3 + np.concatenate([[0.0], np.cumsum(intervals)])
    b, d = activations(beats, 4, float(beats[-1]) + 0.5)
    got, _, _ = decode_fine(b, d, FR)
    assert f_measure(beats, got) > 0.95
    lo, hi = fine_range(decode(b, d, FR)[0])
    assert lo <= 120 * min(ratio, 1) / 1.05 and hi >= 120 * max(ratio, 1) * 1.05
    steady = 0.3 + np.arange(60) * 0.5
    assert fine_range(steady) == pytest.approx((120 / FINE_WIDTH, 120 * FINE_WIDTH))
