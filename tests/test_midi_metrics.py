"""Our vectorised metrics give muspy's numbers on the same real files (band MIDI, Groove, Slakh)."""

from __future__ import annotations

import math

import muspy  # noqa: E402  (a dev dependency: the reference the metrics are checked against)
import numpy as np
import pytest

from stemgen.midi.metrics import (
    Notes,
    drum_pattern_consistency,
    empty_beat_rate,
    groove_consistency,
    onset_agreement,
    pitch_in_scale_rate,
    polyphony,
)
from stemgen.midifile.io import load_midi


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


# --- part-vs-real F1s, harmony fit, in-key rate: checked against mir_eval, on bad and perfect parts ---

import mir_eval  # noqa: E402

from stemgen.midi.evaluate import load_song, part_metrics, steps_to_notes  # noqa: E402
from stemgen.midi.metrics import (  # noqa: E402
    harmony_fit,
    note_keys,
    note_prf,
    onset_cells,
    sounding_pitch_classes,
)

# Small real band songs (train, test and valid splits; a few hundred notes per part).
SMALL_SONGS = ("Tegridy-Select_0ce116cc20.mid", "Tegridy-Select_f4c225054e.mid", "Tegridy-Select_93cc0df395.mid",
               "Tegridy-Original_15445c0685.mid")


@pytest.fixture(scope="module")
def songs(band_midi_dir):
    return [load_song(band_midi_dir / name) for name in SMALL_SONGS]


def _shifted(n: Notes, ticks: int) -> Notes:
    return Notes(n.start + ticks, n.end + ticks, n.pitch, n.is_drum, n.resolution)


def _repitched(n: Notes, pitch) -> Notes:
    return Notes(n.start, n.end, np.asarray(pitch, np.int64), n.is_drum, n.resolution)


def _random_part(n: Notes, rng, pitches) -> Notes:
    """As many notes as ``n``, random 16th onsets over its span, random pitches from ``pitches``."""
    start = rng.integers(0, max(n.length, 1) // 3, len(n)) * 3
    return Notes(start, start + 3, rng.choice(pitches, len(n)), n.is_drum, n.resolution)


def _mir_eval_prf(part: Notes, real: Notes, label: str):
    """mir_eval.transcription onset-only P/R/F on the same notes: time in beats, a label as MIDI
    pitch (class labels de-duplicated per 16th as ``note_keys`` does), tolerance half a 16th."""
    def arrays(n):
        keys = note_keys(n, label)
        cell, lab = keys // 256, keys % 256
        t = cell / 4.0
        return np.stack([t, t + 0.25], axis=1), mir_eval.util.midi_to_hz(lab + (0 if label == "pitch" else 60))

    ri, rp = arrays(real)
    ei, ep = arrays(part)
    return mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, onset_tolerance=0.125,
                                                              pitch_tolerance=50.0, offset_ratio=None)[:3]


def _variants(real: Notes, drums: bool, rng):
    pitches = np.array([36, 38, 42, 46, 45, 48, 50, 49, 51]) if drums else np.arange(28, 76)
    out = {"real": real, "16th": _shifted(real, 3), "beat": _shifted(real, 12), "random": _random_part(real, rng, pitches)}
    if drums:  # kick <-> snare: same onsets, wrong classes
        swap = {36: 38, 35: 38, 38: 36, 40: 36}
        out["swapped"] = _repitched(real, [swap.get(int(p), int(p)) for p in real.pitch])
    else:
        out["semitone"] = _repitched(real, real.pitch + 1)
        out["octave"] = _repitched(real, real.pitch + 12)
    return out


def test_note_f1s_equal_mir_eval_on_real_parts(songs):
    rng = np.random.default_rng(0)
    for song in songs:
        for stem in ("drums", "bass", "guitar"):
            real = steps_to_notes(song.real[stem], stem == "drums")
            labels = ("drum_class", "onset") if stem == "drums" else ("pitch", "pitch_class", "onset")
            for kind, part in _variants(real, stem == "drums", rng).items():
                for label in labels:
                    ours = note_prf(part, real, label)
                    ref = _mir_eval_prf(part, real, label)
                    assert ours == pytest.approx(ref, abs=1e-12), f"{song.name} {stem} {kind} {label}: {ours} vs {ref}"


def test_f1s_are_one_for_the_real_part_and_low_for_bad_parts(songs):
    rng = np.random.default_rng(1)
    for song in songs:
        for stem in ("drums", "bass", "guitar"):
            drums = stem == "drums"
            real = steps_to_notes(song.real[stem], drums)
            v = _variants(real, drums, rng)
            main = "drum_class" if drums else "pitch"
            assert note_prf(v["real"], real, main) == (1.0, 1.0, 1.0)
            for bad in ("beat", "random"):
                assert note_prf(v[bad], real, main)[2] < 0.6, (song.name, stem, bad)
            # A 16th late keeps few notes (the parts here rarely play every 16th).
            assert note_prf(v["16th"], real, main)[2] < 0.5, (song.name, stem)
            if drums:  # class-aware: swapping kick and snare costs drum F1, not onset F1
                assert note_prf(v["swapped"], real, "onset")[2] == 1.0
                assert note_prf(v["swapped"], real, "drum_class")[2] < 0.9
            else:  # octave errors: note F1 ~0 (chords hold octaves), pitch-class F1 1; a semitone off: both low
                assert note_prf(v["octave"], real, "pitch")[2] < (0.1 if stem == "bass" else 0.3)
                assert note_prf(v["octave"], real, "pitch_class")[2] == 1.0
                assert note_prf(v["semitone"], real, "pitch_class")[2] < 0.2
                assert note_prf(v["semitone"], real, "onset")[2] == 1.0


def test_f1_edge_cases():
    a = Notes.from_tuples([(0, 3, 60, 90), (3, 6, 62, 90)], 12, False)
    empty = Notes.from_tuples([], 12, False)
    assert math.isnan(note_prf(empty, empty)[2]) and note_prf(empty, a) == (0.0, 0.0, 0.0)
    assert onset_cells(Notes.from_tuples([(2, 3, 60, 90)], 12, False)).tolist() == [1]  # nearest 16th
    # Duplicates count once per match (maximum matching), as in mir_eval.
    dup = Notes.from_tuples([(0, 3, 60, 90), (0, 3, 60, 90)], 12, False)
    assert note_prf(dup, a)[:2] == (0.5, 0.5)


def test_harmony_fit_and_in_key_tell_real_from_bad_parts(songs):
    rng = np.random.default_rng(2)
    for stem in ("bass", "guitar"):
        fits, keys = {k: [] for k in ("real", "beat", "random", "semitone")}, {k: [] for k in ("real", "random", "semitone")}
        for song in songs:
            real = steps_to_notes(song.real[stem], False)
            v = _variants(real, False, rng)
            for k in fits:
                m = part_metrics(v[k], real, song, stem)
                fits[k].append(m["harmony"])
                if k in keys:
                    keys[k].append(m["in_scale"])
        mean = {k: float(np.nanmean(x)) for k, x in fits.items()}
        assert mean["real"] > 0.5, (stem, mean)  # melodic guitar parts pass through non-chord notes
        assert mean["random"] < mean["real"] - 0.3 and mean["semitone"] < mean["real"] - 0.4, (stem, mean)
        assert mean["beat"] < mean["real"], (stem, mean)
        key_mean = {k: float(np.nanmean(x)) for k, x in keys.items()}
        assert key_mean["real"] > 0.85 and key_mean["random"] < 0.7 and key_mean["semitone"] < 0.6, (stem, key_mean)


def test_harmony_fit_definition():
    # Context: C major triad for a beat (12 ticks), then silence.
    ctx = Notes.from_tuples([(0, 12, 48, 90), (0, 12, 52, 90), (0, 12, 55, 90)], 12, False)
    sounding = sounding_pitch_classes(ctx, 48)
    assert sounding[0].nonzero()[0].tolist() == [0, 4, 7] and not sounding[12].any()
    part = Notes.from_tuples([(0, 3, 36, 90), (3, 6, 38, 90), (6, 9, 64, 90), (24, 27, 61, 90)], 12, False)
    assert harmony_fit(part, sounding) == pytest.approx(2 / 3)  # D is out; the note over silence is not judged
    assert math.isnan(harmony_fit(Notes.from_tuples([(24, 27, 60, 90)], 12, False), sounding))


def test_density_groove_and_context_columns(songs):
    rng = np.random.default_rng(3)
    song = songs[0]
    for stem in ("drums", "bass"):
        real = steps_to_notes(song.real[stem], stem == "drums")
        doubled = Notes.concat([real, _shifted(real, 1)])  # every onset doubled a 48th later
        assert part_metrics(real, real, song, stem)["density_ratio"] == 1.0
        assert part_metrics(doubled, real, song, stem)["density_ratio"] == 2.0
        rand = _variants(real, stem == "drums", rng)["random"]
        m_real, m_rand = part_metrics(real, real, song, stem), part_metrics(rand, real, song, stem)
        assert m_rand["ctx_agree"] < m_real["ctx_agree"]
        # Groove consistency: a one-bar loop of the real part is 1, random onsets far lower.
        b0 = int(real.start.min()) // 48 * 48  # the first bar that plays
        sel = (real.start >= b0) & (real.start < b0 + 45)  # ends inside the bar: no empty bar after the last
        bar = Notes(real.start[sel] - b0, np.minimum(real.end[sel] - b0, 45), real.pitch[sel], real.is_drum[sel], 12)
        loop = Notes.concat([_shifted(bar, 48 * k) for k in range(real.length // 48)])
        assert part_metrics(loop, real, song, stem)["groove"] == 1.0
        # Weakly: groove rewards any repetition (sparse random parts score high too).
        assert m_rand["groove"] < m_real["groove"] < 1.0, (m_rand["groove"], m_real["groove"])
    empty = part_metrics(Notes.from_tuples([], 12, False), real, song, "bass")
    assert empty["density_ratio"] == 0.0 and empty["note_f1"] == 0.0 and empty["empty_beat"] == 1.0
