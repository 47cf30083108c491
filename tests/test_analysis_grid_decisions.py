"""Tempo-octave, beat-phase and bar-phase decisions (stemgen.analysis.grid_decisions) on music whose
strongest onsets are not the beat: off-beat chords over a bass on the beat, no drums."""

from __future__ import annotations

import numpy as np
import pytest

from stemgen.analysis import analyze
from stemgen.evaluation.metrics.beat_tracking import grid_errors

SR = 22050


def _note(freqs, seconds, amp, decay):
    t = np.arange(int(seconds * SR)) / SR
    env = np.exp(-t / decay) * np.minimum(t / 0.003, 1.0)
    return amp * env * sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)


def offbeat_song(bpm: float, bars: int = 12, meter: int = 4, seed: int = 0):
    """Bass root on every beat (new root each bar), loud chord stabs on every "&" (new chord each bar).

    A tracker that follows the strongest onsets puts its beats on the stabs; the beat is the bass.
    Returns (audio, true beats, true downbeats).
    """
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    start = 0.3
    n_beats = bars * meter
    y = np.zeros(int((start + (n_beats + 2) * period) * SR))
    roots = [40, 45, 43, 38]  # E2 A2 G2 D2: I-IV-III-VII-ish, a new chord each bar
    beats = start + period * np.arange(n_beats)
    for i, t in enumerate(beats):
        root = roots[(i // meter) % len(roots)]
        f0 = 440.0 * 2 ** ((root - 69) / 12)
        bass = _note([f0, 2 * f0], period * 0.9, 0.35 if i % meter == 0 else 0.25, 0.25)
        chord = _note([f0 * 4, f0 * 4 * 2 ** (4 / 12), f0 * 4 * 2 ** (7 / 12), f0 * 8], period * 0.4, 0.5, 0.08)
        chord += 0.05 * rng.standard_normal(chord.size) * np.exp(-np.arange(chord.size) / (0.02 * SR))
        a, b = int(t * SR), int((t + period / 2) * SR)
        y[a : a + bass.size] += bass
        y[b : b + chord.size] += chord
    return y.astype(np.float32), beats, beats[::meter]


@pytest.mark.parametrize("bpm", [96.0, 150.0])
def test_offbeat_chords_do_not_pull_the_beat(bpm):
    """Every true beat (the bass) has a beat, none sits on the stabs' "&" alone. (At 96 BPM the
    grid may double: every eighth has an onset; the tempo octave is measured by eval_analysis.)"""
    audio, beats, downbeats = offbeat_song(bpm)
    a = analyze(audio, SR)
    row = grid_errors(beats, downbeats, a.beat_times, a.downbeat_times)
    assert row["offbeat_error"] == 0.0 and row["tempo"] in ("ok", "octave"), row
    nearest = np.abs(beats[:, None] - a.beat_times[None, :]).min(axis=1)
    assert np.mean(nearest < 0.07) > 0.9, row


def test_bars_start_where_bass_and_chords_change():
    audio, beats, downbeats = offbeat_song(150.0)
    a = analyze(audio, SR)
    row = grid_errors(beats, downbeats, a.beat_times, a.downbeat_times)
    assert row["tempo"] == "ok" and row["beat_f"] > 0.9 and row["downbeat_f"] > 0.8 and a.meter == 4, row


def oompah_waltz(bpm: float, bars: int = 16, seed: int = 0):
    """3/4 "oom-pah-pah": a bass root on beat 1 (new root each bar), chords on beats 2 and 3."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    start = 0.3
    beats = start + period * np.arange(bars * 3)
    y = np.zeros(int((start + (beats.size + 2) * period) * SR))
    roots = [43, 38, 45, 40]
    for i, t in enumerate(beats):
        f0 = 440.0 * 2 ** ((roots[(i // 3) % len(roots)] - 69) / 12)
        if i % 3 == 0:
            note = _note([f0, 2 * f0], period * 0.9, 0.4, 0.3)
        else:
            note = _note([f0 * 4, f0 * 4 * 2 ** (4 / 12), f0 * 4 * 2 ** (7 / 12)], period * 0.5, 0.35, 0.1)
            note += 0.03 * rng.standard_normal(note.size) * np.exp(-np.arange(note.size) / (0.02 * SR))
        a = int(t * SR)
        y[a : a + note.size] += note
    return y.astype(np.float32), beats, beats[::3]


def test_an_oompah_waltz_keeps_three_beats_a_bar():
    audio, beats, downbeats = oompah_waltz(120.0)
    a = analyze(audio, SR)
    row = grid_errors(beats, downbeats, a.beat_times, a.downbeat_times)
    assert row["beat_f"] > 0.9 and a.meter == 3 and row["downbeat_f"] > 0.8, (row, a.meter)


def test_a_waltz_with_offbeat_chords():
    audio, beats, downbeats = offbeat_song(120.0, bars=14, meter=3)
    a = analyze(audio, SR)
    assert grid_errors(beats, downbeats, a.beat_times, a.downbeat_times)["beat_f"] > 0.9
