"""Our vectorised metrics give muspy's numbers on the same real files (band MIDI, Groove, Slakh)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stemgen.midi.io import load_midi
from stemgen.midi.metrics import (
    Notes, drum_pattern_consistency, empty_beat_rate, groove_consistency, onset_agreement, pitch_in_scale_rate,
    polyphony,
)

import muspy  # noqa: E402  (a dev dependency: the reference the metrics are checked against)


def _files(band_midi_dir, groove_dir, slakh_track):
    return sorted(band_midi_dir.glob("*.mid"))[:1] + sorted(groove_dir.rglob("*.mid"))[:2] + [slakh_track / "all_src.mid"]


def _ours(path) -> Notes:
    song = load_midi(path)
    parts = [Notes(t.start, t.start + t.duration, t.pitch, np.full(len(t), t.is_drum), song.tpq) for t in song.tracks]
    return Notes.concat(parts)


def _as_muspy(n: Notes):
    """A muspy Music holding exactly our notes: the test compares metric definitions, not two MIDI
    parsers (muspy pairs overlapping note-ons differently)."""
    tracks = []
    for drum in (False, True):
        sel = n.is_drum == drum
        tracks.append(muspy.Track(is_drum=drum, notes=[
            muspy.Note(time=int(s), pitch=int(p), duration=int(e - s), velocity=64)
            for s, e, p in zip(n.start[sel], n.end[sel], n.pitch[sel])
        ]))
    return muspy.Music(resolution=n.resolution, tracks=tracks)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9)


def test_metrics_match_muspy(band_midi_dir, groove_dir, slakh_track):
    for path in _files(band_midi_dir, groove_dir, slakh_track):
        ours = _ours(path).rescaled(12)  # the resolution the evaluation uses; small rolls for muspy
        music = _as_muspy(ours)
        assert music.resolution == ours.resolution
        checks = {
            "empty_beat_rate": (empty_beat_rate(ours), muspy.empty_beat_rate(music)),
            "groove": (groove_consistency(ours, 4 * ours.resolution), muspy.groove_consistency(music, 4 * music.resolution)),
            "drum_pattern": (drum_pattern_consistency(ours), muspy.drum_pattern_consistency(music)),
            "in_scale": (pitch_in_scale_rate(ours, 2, "minor"), muspy.pitch_in_scale_rate(music, 2, "minor")),
            "polyphony": (polyphony(ours), muspy.polyphony(music)),
        }
        for name, (a, b) in checks.items():
            assert _same(a, b), f"{path.name} {name}: ours {a} muspy {b}"


def test_onset_agreement_and_rescale():
    a = Notes.from_tuples([(0, 4, 60, 90), (4, 8, 62, 90)], 4, False)
    b = Notes.from_tuples([(0, 1, 36, 90)], 4, True)
    assert onset_agreement(a, b) == 0.5
    assert a.rescaled(12).start.tolist() == [0, 12]
