"""Baselines of `stemgen midi eval`: rules follow the context's chords, retrieval only ever uses the
training split (never the evaluated song or a held-out one), and `evaluate` scores any generator."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from midi_helpers import make_midi
from stemgen.midi.baselines import (
    RetrievalPool,
    beat_chords,
    file_digest,
    other_song_part,
    rule_part,
)
from stemgen.midi.evaluate import evaluate, format_table, load_song, steps_to_notes
from stemgen.midi.metrics import note_f1
from stemgen.midifile.grid import song_to_grid
from stemgen.midifile.io import load_midi
from stemgen.midifile.lanes import DRUM_OUT_PITCH, track_role
from stemgen.midifile.subtract import strip_role
from stemgen.splits import split_of

# C major, A minor, F major, G major: one bar each, played twice.
CHORDS = [(0, (0, 4, 7)), (9, (0, 3, 7)), (5, (0, 4, 7)), (7, (0, 4, 7))]
TRAIN = ("Tegridy-Select_0ce116cc20.mid", "Tegridy-Select_2f40b32bca.mid", "Tegridy-Select_27acfd5382.mid")
HELD_OUT = ("Tegridy-Select_f4c225054e.mid", "Tegridy-Select_db21fd7f8c.mid")  # test, valid


def chord_song(tmp_path):
    """Piano triads (whole bars), bass roots and guitar triads on every beat, a rock beat."""
    notes = []
    for bar in range(8):
        root, shape = CHORDS[bar % 4]
        b0 = bar * 1920
        notes += [(0, 0, 60 + (root + i) % 12, b0, b0 + 1920) for i in shape]
        for beat in range(4):
            t = b0 + beat * 480
            notes.append((1, 33, 36 + root, t, t + 400))
            notes += [(2, 27, 52 + (root + i - 4) % 12, t, t + 400) for i in shape]
            notes += [(9, 0, 36 if beat % 2 == 0 else 38, t, t + 60), (9, 0, 42, t, t + 60), (9, 0, 42, t + 240, t + 300)]
    path = tmp_path / "chords.mid"
    make_midi(path, notes=notes)
    return path


def test_rules_follow_the_sounding_chords(tmp_path):
    path = chord_song(tmp_path)
    song = load_song(path)
    grid = song.grid
    chords = beat_chords(grid, "bass")
    assert len(chords) == 32
    assert [(r, q) for _, _, r, q in chords[::4]] == [(0, "major"), (9, "minor"), (5, "major"), (7, "major")] * 2
    # The guitar rule finds each beat's chord: same onsets and pitch classes as the real strums.
    rule = steps_to_notes(rule_part(grid, "guitar"), False)
    assert note_f1(rule, steps_to_notes(song.real["guitar"], False), "pitch_class") == 1.0
    # Bass: the chord root on every kick (beats 1 and 3 here), in E1..D#2.
    bass = rule_part(grid, "bass")
    assert [s for s, _, _, _ in bass[:4]] == [0, 8, 16, 24] and all(28 <= p < 40 for _, _, p, _ in bass)
    assert [p % 12 for _, _, p, _ in bass[::2][:4]] == [0, 9, 5, 7]
    # Without drums, a root on every beat: exactly the real bass line's onsets and pitch classes.
    no_drums = tmp_path / "no_drums.mid"
    no_drums.write_bytes(strip_role(path.read_bytes(), "drums"))
    grid = load_song(no_drums).grid
    rule = steps_to_notes(rule_part(grid, "bass"), False)
    assert len(rule) == 32 and note_f1(rule, steps_to_notes(song.real["bass"], False), "pitch_class") == 1.0


def test_rock_beat_rule(tmp_path):
    grid = load_song(chord_song(tmp_path)).grid
    notes = rule_part(grid, "drums")
    by_pitch = {p: sorted(s for s, _, q, _ in notes if q == p) for p in DRUM_OUT_PITCH[:3]}
    kick, snare, hat = (by_pitch[p] for p in DRUM_OUT_PITCH[:3])
    assert kick[:2] == [0, 8] and snare[:2] == [4, 12] and hat[:4] == [0, 2, 4, 6]
    assert len(hat) == 2 * (len(kick) + len(snare)) - 1  # eighths; the grid ends on a beat


def test_other_song_part_tiles_to_length():
    part = other_song_part([(0, 2, 40, 90), (4, 8, 43, 90)], 8, 22)
    assert [n[0] for n in part] == [0, 4, 8, 12, 16, 20] and part[-1] == (20, 22, 43, 90)  # cut at the end


def test_retrieval_pool_never_holds_held_out_or_evaluated_songs(band_midi_dir, tmp_path):
    evaluated = tmp_path / "eval"
    evaluated.mkdir()
    copy = evaluated / TRAIN[0]  # a training song under evaluation (same bytes, same name)
    shutil.copy(band_midi_dir / TRAIN[0], copy)
    files = [band_midi_dir / n for n in TRAIN + HELD_OUT]
    assert [split_of(f) for f in files] == ["train"] * 3 + ["test", "valid"]
    pool = RetrievalPool(files, exclude=[copy])
    assert [p.name for p in pool.paths] == list(TRAIN[1:])
    assert file_digest(copy) not in {file_digest(p) for p in pool.paths}


def test_retrieval_finds_matching_bars_and_transposes(band_midi_dir):
    path = band_midi_dir / TRAIN[0]
    pool = RetrievalPool([path])  # the song itself is in the pool: retrieval must give its parts back
    song = load_song(path)
    for stem, label in (("bass", "pitch"), ("drums", "drum_class"), ("guitar", "pitch")):
        got = steps_to_notes(pool.part_for(song.grid, stem), stem == "drums")
        # Not exactly 1: bars with the same context but a different part tie (the first one wins).
        assert note_f1(got, steps_to_notes(song.real[stem], stem == "drums"), label) > 0.8, stem
    # The same song two semitones up: the bass comes back transposed by the same interval.
    up = song_to_grid(load_midi(path), 4)
    for tr in up.tracks:
        if not tr.is_drum:
            tr.onset, tr.sustain = np.roll(tr.onset, 2, axis=1), np.roll(tr.sustain, 2, axis=1)
    got = steps_to_notes(pool.part_for(up, "bass"), False)
    real_up = steps_to_notes([(s, e, p + 2, v) for s, e, p, v in song.real["bass"]], False)
    assert note_f1(got, real_up, "pitch_class") > 0.9


class EchoGenerator:
    """Any object with ``generate(song, bytes, instruction, seed)`` -> ``.notes`` in ticks can be scored:
    this one plays the real part back (read from the original file), so it must score 1."""

    description = "plays the real part back"

    def __init__(self, stem):
        self.stem = stem

    def generate(self, song, song_bytes, instruction=None, seed=0):
        original = load_song(song.path)
        assert not any(track_role(t.program, t.is_drum) == self.stem for t in song.tracks)  # the stem was removed
        tpq = original.grid.tpq
        return SimpleNamespace(notes=[(s * tpq // 4, e * tpq // 4, p, v) for s, e, p, v in original.real[self.stem]])


def test_evaluate_scores_any_generator_against_every_baseline(band_midi_dir):
    files = [band_midi_dir / n for n in HELD_OUT]
    pool = RetrievalPool([band_midi_dir / n for n in TRAIN], exclude=files)
    gens = {"bass": EchoGenerator("bass"), "drums": {"echo": EchoGenerator("drums")}}
    report = evaluate(files, ("drums", "bass"), gens, progress=False, pool=pool)
    assert report["songs"] == {"drums": 2, "bass": 2}
    assert list(report["rows"]["bass"]) == ["real", "generated", "rule", "other_song", "retrieval"]
    assert list(report["rows"]["drums"]) == ["real", "echo", "rule", "other_song", "retrieval"]
    assert report["table"]["bass"]["generated"]["note_f1"] == 1.0
    assert report["table"]["drums"]["echo"]["drum_f1"] == 1.0
    for src in ("rule", "other_song", "retrieval"):
        assert report["table"]["bass"][src]["note_f1"] < 1.0
    assert report["descriptions"]["bass: generated"] == "plays the real part back"
    assert report["generation"]["bass"]["generated"]["songs"] == 2
    assert report["names"]["bass"] == list(HELD_OUT)
    assert "| bass (n=2) | retrieval |" in format_table(report) and "[" in format_table(report)


class RefusingGenerator:
    def generate(self, song, song_bytes, instruction=None, seed=0):
        from stemgen.errors import StemgenInputError

        raise StemgenInputError(song.path, "the generated part is empty")


def test_a_generator_that_raises_scores_as_an_empty_part(band_midi_dir):
    files = [band_midi_dir / n for n in HELD_OUT]
    report = evaluate(files, ("bass",), {"bass": RefusingGenerator()}, progress=False, baselines=("rule",))
    assert report["table"]["bass"]["generated"]["note_f1"] == 0.0
    assert report["table"]["bass"]["generated"]["density_ratio"] == 0.0
    assert [f["reason"] for f in report["generation_failures"]] == ["the generated part is empty"] * 2


@pytest.mark.parametrize("stem", ["bass"])
def test_report_systems_have_descriptions(band_midi_dir, tmp_path, stem):
    from stemgen.evaluation.report import write_report
    from stemgen.evaluation.report.midi import midi_report

    files = [band_midi_dir / n for n in HELD_OUT]
    report = evaluate(files, (stem,), {stem: EchoGenerator(stem)}, progress=False,
                      pool=RetrievalPool([band_midi_dir / TRAIN[1]], exclude=files))
    doc = write_report(midi_report(report), tmp_path)
    assert all(s["description"] for s in doc["systems"]), doc["systems"]
    text = (tmp_path / "report.md").read_text()
    assert "- **bass: model**: plays the real part back" in text and "- **bass: rule**: the root of the chord" in text


def test_eval_command_baselines_only_and_bad_model_folder(band_midi_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from stemgen.cli.main import app

    data = tmp_path / "songs"
    data.mkdir()
    for name in TRAIN + HELD_OUT:
        shutil.copy(band_midi_dir / name, data / name)
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["midi", "eval", str(data), "--stems", "bass", "--no-model", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["songs"] == {"bass": 1} and summary["retrieval_pool"] == 3  # the one test song; 3 train songs
    doc = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in doc["systems"]] == ["bass: real", "bass: rule", "bass: other_song", "bass: retrieval"]
    assert all(s["description"] for s in doc["systems"]) and doc["config"]["command"].startswith("stemgen midi eval")
    res = CliRunner().invoke(app, ["midi", "eval", str(data), "--stems", "bass", "--model-dir", str(tmp_path / "none")])
    assert res.exit_code == 1 and "Traceback" not in res.output and res.output.count("\n") == 1, res.output
