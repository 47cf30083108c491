"""Stem-folder layouts, on the real MUSDB18 excerpt and Slakh song plus folders made from them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from stemgen.errors import StemgenInputError
from stemgen.sources.discover import discover, load_song
from stemgen.sources.stem_folders import GUITAR_IN_OTHER, detect_layout

SR = 22050


def test_musdb_folder_counts_once_and_has_no_guitar(musdb_song):
    refs, errors = discover([musdb_song])
    assert not errors and [r.layout for r in refs] == ["musdb"]  # the .stem.mp4 beside it is not a 2nd song
    assert refs[0].license == "CC-BY-NC-SA-4.0"
    song = load_song(refs[0], SR, "drums")
    assert set(song.stems) == {"drums", "bass", "other", "vocals"}
    assert song.missing["guitar"] == GUITAR_IN_OTHER
    mixture, _ = sf.read(musdb_song / "mixture.wav")
    assert abs(song.duration_s - len(mixture) / 44100) < 0.01


def test_musdb_stem_mp4_matches_wavs(musdb_song, tmp_path):
    mp4 = tmp_path / "Music Delta - 80s Rock.stem.mp4"
    shutil.copy(musdb_song / "Music Delta - 80s Rock.stem.mp4", mp4)
    refs, _ = discover([tmp_path])
    assert [r.layout for r in refs] == ["musdb-stem-mp4"]
    from_mp4 = load_song(refs[0], SR, "drums")
    from_wav = load_song(discover([musdb_song])[0][0], SR, "drums")
    n = min(from_mp4.num_samples, from_wav.num_samples)
    a, b = from_mp4.stems["drums"][0, :n], from_wav.stems["drums"][0, :n]
    # AAC decoding differs by a few samples of codec delay at most: compare energy, not samples.
    assert abs(np.std(a) - np.std(b)) / np.std(b) < 0.05


def test_slakh_uses_inst_class(slakh_track):
    refs, _ = discover([slakh_track])
    assert refs[0].layout == "slakh" and refs[0].license == "CC-BY-4.0"
    song = load_song(refs[0], 16000, "guitar")
    assert {"drums", "bass", "guitar", "other"} <= set(song.stems)
    assert "Guitar" in song.metadata["inst_classes"]
    mix, _ = sf.read(slakh_track / "mix.wav")
    assert abs(song.num_samples - len(mix)) <= 1


def _write(path, seconds=1.0, sr=SR, freq=220.0, channels=1):
    t = np.arange(int(seconds * sr)) / sr
    tone = (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.repeat(tone[:, None], channels, axis=1), sr)


def test_moisesdb_sums_files_per_stem(tmp_path):
    song_dir = tmp_path / "moises" / "song1"
    _write(song_dir / "drums" / "kick.wav")
    _write(song_dir / "drums" / "snare.wav")
    _write(song_dir / "bass" / "bass.wav", channels=2)
    _write(song_dir / "piano" / "keys.wav")
    refs, _ = discover([tmp_path / "moises"])
    assert [r.layout for r in refs] == ["moisesdb"]
    song = load_song(refs[0], SR, "drums")
    assert np.allclose(song.stems["drums"], 2 * song.stems["other"], atol=1e-4)
    assert "guitar" in song.missing


def test_generic_layout(tmp_path):
    _write(tmp_path / "s" / "drums.flac")
    _write(tmp_path / "s" / "guitar.ogg")
    _write(tmp_path / "s" / "synth.wav")
    _write(tmp_path / "s" / "mixture.wav")
    assert detect_layout(tmp_path / "s") == "generic"
    song = load_song(discover([tmp_path / "s"])[0][0], SR, "guitar")
    assert set(song.stems) == {"drums", "guitar", "other"}


def test_mismatched_stems_are_named(tmp_path):
    _write(tmp_path / "s" / "drums.wav", seconds=1.0)
    _write(tmp_path / "s" / "bass.wav", seconds=2.0)
    ref = discover([tmp_path / "s"])[0][0]
    with pytest.raises(StemgenInputError, match="drums.wav.*long|stem is 1.00 s"):
        load_song(ref, SR, "drums")
    _write(tmp_path / "r" / "drums.wav", sr=22050)
    _write(tmp_path / "r" / "bass.wav", sr=44100)
    with pytest.raises(StemgenInputError, match="sample rate"):
        load_song(discover([tmp_path / "r"])[0][0], SR, "drums")


def test_missing_path_is_an_error(tmp_path):
    refs, errors = discover([tmp_path / "nope"])
    assert not refs and "does not exist" in errors[0].reason


def test_license_of_a_single_file_source(band_midi_dir):
    from stemgen.sources.license import guess_license

    song = sorted(band_midi_dir.glob("*.mid"))[0]
    assert guess_license(song, song) == "CC-BY-NC-SA-4.0"  # the license sits beside midi/


def test_license_of_songs_linked_into_a_folder(band_midi_dir, tmp_path):
    """A folder of symlinks picking songs from a collection keeps the collection's license."""
    picked = tmp_path / "picked"
    picked.mkdir()
    song = sorted(band_midi_dir.glob("*.mid"))[0]
    (picked / song.name).symlink_to(song)
    refs, errors = discover([picked])
    assert not errors and [r.license for r in refs] == ["CC-BY-NC-SA-4.0"]
    # a README beside the links still wins for a plain file there
    plain = picked / "own.mid"
    plain.write_bytes(song.read_bytes())
    (picked / "LICENSE").write_text("Creative Commons Attribution 4.0")
    from stemgen.sources.license import guess_license

    assert guess_license(plain, picked) == "CC-BY-4.0"
