"""MIDI → grid → MIDI: note loss, tempo map, time signatures, triplets, lanes."""

from __future__ import annotations

import numpy as np
import pytest

from midi_helpers import band_song_notes, make_midi
from stemgen.midi.features import encode_target
from stemgen.midifile.grid import song_to_grid, track_to_tick_notes
from stemgen.midifile.io import load_midi
from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, DRUM_OUT_PITCH


def _roundtrip_loss(song, spb):
    grid = song_to_grid(song, spb)
    out = sum(len(track_to_tick_notes(t, grid.step_ticks)) for t in grid.tracks)
    return song.n_notes - out, grid


def test_roundtrip_real_files(band_midi_dir, groove_dir, slakh_track):
    files = sorted(band_midi_dir.glob("*.mid"))[:6] + [slakh_track / "all_src.mid"] + sorted(groove_dir.rglob("*.mid"))[:3]
    total = lost = 0
    for path in files:
        song = load_midi(path)
        n_lost, grid = _roundtrip_loss(song, 4)
        assert n_lost == grid.dropped_notes  # the only loss is same-pitch same-step collisions
        total += song.n_notes
        lost += n_lost
    assert lost / total < 0.05


def test_on_grid_notes_roundtrip_exactly():
    data = make_midi(notes=band_song_notes(4))
    song = load_midi("x.mid", data)
    grid = song_to_grid(song, 4)
    assert grid.dropped_notes == 0
    for tr_in, tr_grid in zip(song.tracks, grid.tracks):
        out = track_to_tick_notes(tr_grid, grid.step_ticks)
        got = sorted((s, p) for s, _, p, _ in out)
        assert got == sorted(zip(tr_in.start.tolist(), tr_in.pitch.tolist()))
        if not tr_grid.is_drum:
            assert sorted(e for _, e, _, _ in out) == sorted((tr_in.start + tr_in.duration).tolist())


def test_triplets_exact_at_12_steps_per_beat():
    trip = [(0, 0, 60 + i % 3, i * 160, i * 160 + 150) for i in range(12)]  # eighth triplets at tpq 480
    song = load_midi("t.mid", make_midi(notes=trip))
    grid = song_to_grid(song, 12)
    starts = sorted(s for s, *_ in track_to_tick_notes(grid.tracks[0], grid.step_ticks))
    assert starts == [i * 160 for i in range(12)]
    coarse = song_to_grid(song, 4)
    assert all(s % 120 == 0 for s, *_ in track_to_tick_notes(coarse.tracks[0], coarse.step_ticks))


def test_grid_is_in_beats_whatever_the_tempo():
    notes = [(0, 0, 60, b * 480, b * 480 + 240) for b in range(8)]
    song = load_midi("t.mid", make_midi(notes=notes, tempo_changes=[(4 * 480, 60)]))
    grid = song_to_grid(song, 4)
    assert np.flatnonzero(grid.tracks[0].onset[:, 60]).tolist() == [4 * b for b in range(8)]
    assert grid.seconds_at_step(16) == pytest.approx(2.0) and grid.seconds_at_step(20) == pytest.approx(3.0)


def test_time_signature_bars():
    song = load_midi("t.mid", make_midi(notes=[(0, 0, 60, 0, 480 * 12)], time_sig=(3, 4)))
    grid = song_to_grid(song, 4)
    assert np.flatnonzero(grid.bar_start)[:4].tolist() == [0, 12, 24, 36]
    assert grid.bar_steps[0] == 12


def test_drum_map_and_lanes_roundtrip():
    assert DRUM_CLASS_OF_PITCH[36] == 0 and DRUM_CLASS_OF_PITCH[38] == 1 and DRUM_CLASS_OF_PITCH[51] == 8
    assert all(DRUM_CLASS_OF_PITCH[p] == i for i, p in enumerate(DRUM_OUT_PITCH))
    grid = song_to_grid(load_midi("b.mid", make_midi(notes=band_song_notes(4))), 4)
    for stem in ("drums", "bass", "guitar"):
        target = encode_target(grid, stem)
        lanes = target["drums"] if stem == "drums" else target["onset"]
        assert lanes.shape[1] == grid.n_steps
        assert np.count_nonzero(lanes) == sum(t.n_onsets for t in grid.role_tracks(stem))
