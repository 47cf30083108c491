"""Subtractive examples: stem removal, descriptors, style tags, instructions, song-level splits."""

from __future__ import annotations

import numpy as np

from midi_helpers import band_song_notes, make_midi
from stemgen.analysis.key import find_key
from stemgen.midi.descriptors import (
    describe,
    instruction_requests,
    pitch_class_profile,
    style_tags,
)
from stemgen.midi.examples import build_examples
from stemgen.midi.splits import files_in_split
from stemgen.midifile.grid import song_to_grid
from stemgen.midifile.io import load_midi
from stemgen.midifile.subtract import strip_role
from stemgen.splits import hashed_split, split_of


def test_strip_role_removes_only_that_role(band_midi_dir):
    path = sorted(band_midi_dir.glob("*.mid"))[0]
    full = song_to_grid(load_midi(path))
    for role in ("drums", "bass", "guitar"):
        grid = song_to_grid(load_midi(path, strip_role(path.read_bytes(), role)))
        assert not grid.role_tracks(role) and full.role_tracks(role)
        kept = sum(t.n_onsets for t in grid.tracks)
        assert kept == sum(t.n_onsets for t in full.tracks if t.role != role)


def test_descriptors_and_tags():
    grid = song_to_grid(load_midi("b.mid", make_midi(notes=band_song_notes(8), bpm=96)))
    d = describe(grid, "bass", "b.mid")
    assert round(d["tempo_bpm"]) == 96 and d["key"] in ("C major", "G major") and d["time_signature"] == "4/4"
    assert d["onset_density"] > 0 and 30 < d["register_midi"] < 50 and 0 <= d["syncopation"] <= 1
    key = find_key(pitch_class_profile(grid))
    assert (key.tonic, key.mode) in ((0, "major"), (7, "major"))
    assert style_tags("drummer1/session1/1_funk-groove1_138_beat_4-4.mid") == ["funk"]
    assert style_tags("5_jazz-swing_120_fill_4-4.mid") == ["jazz", "fill"]
    assert style_tags("Children-Songs_036c42a114.mid") == ["children's song"]
    req = instruction_requests([(grid, "drums", "1_rock_120_beat_4-4.mid")])[0]
    assert req.stem == "drums" and "96 BPM rock" in req.caption and req.tags == ("rock",)


def test_build_examples_from_real_folders(band_midi_dir, groove_dir, tmp_path):
    files = sorted(band_midi_dir.glob("*.mid"))[:2] + sorted(groove_dir.rglob("*.mid"))[:1]
    examples = build_examples(files, ("drums", "bass", "guitar"), cache_dir=tmp_path)
    assert len(examples) == 3 and len(list(tmp_path.glob("*.npz"))) == 3
    band, groove = examples[0], examples[2]
    assert set(band.targets) == {"drums", "bass", "guitar"} and set(groove.targets) == {"drums"}
    assert groove.roles == ("drums",) and "guitar" in band.roles
    for ex in examples:
        for stem, text in ex.instructions.items():
            assert text and ex.text_emb[stem].shape == (384,)
            assert ex.n_steps == ex.position.shape[1] == next(iter(ex.targets[stem].values())).shape[1]
    # The cache gives the same examples back.
    again = build_examples(files, ("drums", "bass", "guitar"), cache_dir=tmp_path)
    assert again[0].instructions == band.instructions
    assert np.array_equal(again[0].targets["bass"]["onset"], band.targets["bass"]["onset"])
    assert np.array_equal(again[0].components["guitar"].chroma, band.components["guitar"].chroma)


def test_song_level_splits_are_stable(band_midi_dir, groove_dir):
    assert hashed_split("a/b/song.mid") == hashed_split("other/song.mid")
    test = files_in_split(band_midi_dir, "test")
    assert 15 < len(test) < 50 and not set(test) & set(files_in_split(band_midi_dir, "train"))
    groove = next(p for p in groove_dir.rglob("*.mid") if "eval_session" in str(p))
    assert split_of(groove) == "test"
