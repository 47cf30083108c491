"""The learned tracker's grid (stemgen.analysis.learned_grid): the HMM's beats, the bar phase from the
DSP's fitted accents (bass onsets, bass-note and chord changes on the one) plus the HMM's downbeats."""

from __future__ import annotations

import numpy as np

from stemgen.analysis import grid_decisions as decisions
from stemgen.analysis.learned_grid import learned_grid
from stemgen.evaluation.metrics.beat_tracking import f_measure

FR = 22050 / 256


def _features(beats, bar_starts, n):
    """Frame features of a context whose bass and chords change on ``bar_starts`` (and only there)."""
    env = np.full(n, 0.05)
    bands = np.full((3, n), 0.05)
    chroma, bass = np.full((12, n), 0.01), np.full((12, n), 0.01)
    bass_db = np.full(n, -40.0)
    f = np.rint(np.asarray(beats) * FR).astype(int)
    env[f] = bands[1, f] = 1.0
    starts = np.rint(np.asarray(bar_starts) * FR).astype(int)
    bands[0, starts] = 1.0
    for k, (a, b) in enumerate(zip(starts, np.append(starts[1:], n))):
        root = (5 * k) % 12
        chroma[[root, (root + 4) % 12, (root + 7) % 12], a:b] = 1.0
        bass[root, a:b] = 1.0
        bass_db[a : a + 20] = -20.0
    return decisions.GridFeatures.from_frames(FR, env, bands, chroma, bass, bass_db)


def test_bars_start_where_bass_and_chords_change_when_the_network_is_unsure():
    """Without the DSP's accents the HMM puts the bar on the first beat (the network's weak guess)."""
    n = int(30 * FR)
    beats = 0.5 + np.arange(0, 29.0, 0.5)  # 120 BPM
    bar_starts = beats[2::4]  # the bar starts on the third beat of the clip
    act = np.zeros((2, n))
    f = np.rint(beats * FR).astype(int)
    for off, share in ((0, 1.0), (-1, 0.6), (1, 0.6), (-2, 0.25), (2, 0.25)):  # peaks as wide as a network's
        act[0, f + off] = 0.9 * share
        act[1, f + off] = 0.2 * share  # the network is unsure of the downbeats ...
        act[1, f[0::4] + off] = 0.3 * share  # ... and leans to the wrong ones
    got_beats, downbeats, meter, _ = learned_grid(act, _features(beats, bar_starts, n))
    assert f_measure(beats, got_beats) > 0.95
    assert meter == 4
    assert f_measure(bar_starts, downbeats) > 0.95


def test_the_beat_phase_follows_bass_and_chord_changes_over_an_offbeat_network():
    """The network fires on the "&" (off-beat chords) and the HMM follows it; the bass and chord
    changes on the beats move the grid back by half a beat (without ``phase_score``: the "&")."""
    n = int(30 * FR)
    beats = 0.5 + np.arange(0, 29.0, 0.5)
    offbeats = beats[:-1] + 0.25
    act = np.zeros((2, n))
    for row, times, height in ((0, offbeats, 0.6), (0, beats, 0.25), (1, offbeats[0::4], 0.5)):
        f = np.rint(times * FR).astype(int)
        for off, share in ((0, 1.0), (-1, 0.6), (1, 0.6), (-2, 0.25), (2, 0.25)):
            act[row, f + off] = np.maximum(act[row, f + off], height * share)
    feats = _features(beats, beats[0::2], n)  # the bass and the chord change on every other beat
    got_beats, _, _, _ = learned_grid(act, feats)
    assert f_measure(beats, got_beats) > 0.9  # the HMM's whole-frame period drifts a little


def test_the_evidence_bar_decision_is_the_dsp_trackers_and_an_unknown_one_is_refused():
    """``bars="evidence"`` (the cc weights'): meter and bar phase as ``grid_decisions.meter_and_beats`` on
    the decoded beats, whatever the HMM's downbeats; the default stays the band weights' decision."""
    import pytest

    from stemgen.analysis import learned_beats

    n = int(30 * FR)
    beats = 0.5 + np.arange(0, 29.0, 0.5)
    bar_starts = beats[2::4]
    act = np.zeros((2, n))
    f = np.rint(beats * FR).astype(int)
    act[0, f] = 1.0
    act[1, f[::4]] = 1.0  # the network insists on the wrong bar (the clip's first beat)
    feats = _features(beats, bar_starts, n)
    got, downbeats, meter, margins = learned_grid(act, feats, "evidence")
    want, want_meter, phase = decisions.meter_and_beats(feats, got)
    assert meter == want_meter == 4 and np.allclose(downbeats, want[phase::4])
    assert f_measure(bar_starts, downbeats) > 0.9
    assert margins["bar_start"] == pytest.approx(decisions.bar_margin(feats, got, meter, phase)[0])
    assert learned_beats.BARS["learned"] == "accents+hmm"
    with pytest.raises(ValueError, match="unknown bar decision"):
        learned_grid(act, feats, "hmm")


def test_the_evidence_path_decodes_beats_without_the_networks_bars():
    """learned-cc ("evidence" bars) decodes its beats meter-neutrally: a steady 100-BPM pulse of decaying
    tones, whose every tone the cc network calls a downbeat, was read at 152 BPM in 3/4 (beat F 0.41)
    with the HMM observing its downbeat activation; now on the tones. The band weights keep theirs."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_analysis_reliability import SR, tone_sequence

    from stemgen.analysis import analyze
    from stemgen.analysis.learned_grid import meter_neutral

    truth = np.arange(0.3, 20.0, 0.6)
    a = analyze(tone_sequence(truth, seconds=20.0), SR, "learned-cc")
    assert f_measure(truth, a.beat_times) > 0.95
    b = np.array([0.1, 0.8, 0.0])
    assert np.allclose(meter_neutral(b), b / 2)


def test_beats_in_the_silence_around_the_music_are_counted_at_its_tempo():
    """The HMM's beats before the first sound wander (nothing to observe); they are replaced by the
    first sounding beats' period counted back to the clip's start (and after the last sound, forward),
    with their bar positions; the beats inside the music are kept as decoded."""
    from stemgen.analysis.learned_grid import STEADY_BEATS, steady_through_silence

    music = 4.2 + 0.6 * np.arange(40)  # 100 BPM from 4.2 s to 27.6 s
    wandering = np.array([0.34, 0.88, 1.43, 1.97, 2.52, 3.07, 3.61])  # 110 BPM in the silence
    after = music[-1] + np.array([0.5, 1.1, 1.6])  # past the last sound at 27.7 s
    beats = np.concatenate([wandering, music, after])
    numbers = (np.arange(beats.size) + 2) % 4 + 1
    got, got_numbers = steady_through_silence(beats, numbers, 4, (4.15, 27.7), 29.5)
    want = np.concatenate([4.2 - 0.6 * np.arange(7, 0, -1), music, music[-1] + 0.6 * np.arange(1, 4)])
    assert np.allclose(got, want)
    first = wandering.size  # the first sounding beat keeps its bar position; the others count from it
    assert np.array_equal(got_numbers[7 : 7 + music.size], numbers[first : first + music.size])
    assert np.array_equal(np.diff(got_numbers) % 4, np.ones(got.size - 1))
    # too few beats inside the music to tell its period: left as decoded
    short = steady_through_silence(beats, numbers, 4, (4.15, 4.2 + 0.6 * (STEADY_BEATS - 1)), 29.5)
    assert np.array_equal(short[0], beats)


def test_a_songs_silent_intro_gets_beats_and_bars_at_the_songs_tempo(band_midi_dir):
    """A held-out band song without its guitar opens on 4.2 s of digital silence (100 BPM, bars every
    2.4 s): learned-cc's beats there wandered at 110 BPM and its bars started at 0.34 and 2.52 s."""
    from stemgen.analysis import analyze
    from stemgen.render.stems import render_stems

    song = band_midi_dir / "Children-Songs_1dc3041d5a.mid"
    stems = render_stems(song, sample_rate=22050, max_seconds=20).stems
    context = np.sum([a for k, a in stems.items() if k != "guitar"], axis=0)
    got = analyze(context, 22050, "learned-cc")
    lead = got.beat_times[got.beat_times < 4.1]
    assert lead.size >= 6 and np.allclose(np.diff(lead), 0.6, atol=0.01)
    assert np.min(np.abs(got.downbeat_times - 2.4)) < 0.05 and np.min(np.abs(got.downbeat_times - 4.8)) < 0.05


def test_steady_runs_of_whole_frame_beats_are_straightened_and_tempo_steps_kept():
    """The HMM's whole-frame period drifts against the true one and jumps back a frame: a steady run
    is put on its line (within 5 ms of the truth here, 9 ms before); a 120 -> 90 BPM step keeps its corner, and a
    ritardando one line cannot follow within ``STRAIGHT_MAX_S`` keeps slowing (split into shorter runs)."""
    from stemgen.analysis.learned_grid import STRAIGHT_MAX_S, straighten_steady_runs

    truth = 0.5 + (60 / 115) * np.arange(70)
    sawtooth = 0.018 * ((np.arange(70) % 35) / 35.0) - 0.009  # +-9 ms, a jump every 35 beats
    got = straighten_steady_runs(truth + sawtooth)
    assert np.max(np.abs(got - truth)) < 0.005 < 0.008 < np.max(np.abs(sawtooth))

    step = np.concatenate([0.5 * np.arange(20), 9.5 + (60 / 90) * np.arange(1, 21)])
    noisy = step + np.random.default_rng(0).uniform(-0.006, 0.006, step.size)
    got = straighten_steady_runs(noisy)
    assert np.max(np.abs(got - step)) < 0.006  # no beat pulled toward the other tempo's line

    slowing = np.cumsum(0.5 * 1.01 ** np.arange(30))  # 1 % longer every beat: a 25 % ritardando
    assert np.max(np.abs(np.polyfit(np.arange(30), slowing, 1)[0] * np.arange(30)
                         + np.polyfit(np.arange(30), slowing, 1)[1] - slowing)) > STRAIGHT_MAX_S
    got = straighten_steady_runs(slowing)
    assert np.max(np.abs(got - slowing)) <= STRAIGHT_MAX_S and np.diff(got)[-1] > 1.2 * np.diff(got)[0]


def test_the_dsp_grid_replaces_a_learned_grid_that_lost_the_beat():
    """``rival_wins``: a decoded grid at another tempo (not an octave) gives way to the DSP's grid when
    the DSP's evidence (bass and chords on the beats) prefers it; an octave apart or the same beat, the
    decoded grid stays (the network decides the octave)."""
    from stemgen.analysis.learned_grid import rival_wins

    n = int(30 * FR)
    beats = 0.5 + np.arange(0, 29.0, 0.5)  # 120 BPM, bass and chords on every bar
    feats = _features(beats, beats[0::4], n)
    lost = 0.5 + np.arange(0, 29.0, 0.5 * 1.15)  # 104 BPM
    assert rival_wins(feats, lost, beats) and not rival_wins(feats, beats, lost)
    assert not rival_wins(feats, beats[0::2], beats)  # half tempo: an octave, the network's call
    assert not rival_wins(feats, beats + 0.01, beats)  # the same beat


def test_real_recordings_keep_the_beat_every_other_tracker_hears(shared_data):
    """Two CC BY demo mixes whose tempo the DSP tracker, the band weights and librosa agree on (about 129
    and 110 BPM): learned-cc alone read them at 113-117 (after its first 10 s) and 73 (2:3); the DSP's
    grid now replaces its own where the two disagree on the beat and the evidence says so."""
    from stemgen.analysis import analyze
    from stemgen.audio.io import load_audio

    for name, bpm in (("Kevin_MacLeod_-_Vibe_Ace.hq.ogg", 129.0), ("Steven_M_Bryant_-_Slow_Motion_Dream_excerpt.mp3", 110.0)):
        audio, sr = load_audio(shared_data / "demo_mixes" / name, duration_s=60.0)
        tempo = analyze(audio, sr, "learned-cc").tempo_bpm
        assert abs(tempo / bpm - 1.0) < 0.03, (name, tempo)


def test_decoded_beats_take_the_dsp_grids_timing():
    """``timed_like``: beats 15 ms late move onto the DSP's grid, also when the DSP keeps every other one
    (half tempo); a DSP grid that shares too few beats (another tempo) leaves them as decoded."""
    from stemgen.analysis.learned_grid import timed_like

    dsp = 0.5 + 0.5 * np.arange(40)
    late = dsp + 0.015
    assert np.allclose(timed_like(late, dsp), dsp)
    assert np.allclose(timed_like(late, dsp[::2]), dsp)
    other = 0.5 + 0.61 * np.arange(33)  # 98 BPM against 120: a few chance matches
    assert np.array_equal(timed_like(late, other), late)
