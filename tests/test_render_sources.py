"""MIDI collections as songs: refs, licenses, Groove tags, missing families, bad files."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from stemgen.errors import StemgenInputError
from stemgen.render import Augmentation, read_midi
from stemgen.sources.midi_songs import is_midi_file, load_midi_song, midi_song_ref

GROOVE_FILE = "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid"


def test_groove_ref_and_drums_only_song(groove_dir):
    path = groove_dir / GROOVE_FILE
    assert is_midi_file(path)
    ref = midi_song_ref(path, groove_dir)
    assert ref.layout == "midi" and ref.license == "CC-BY-4.0" and ref.tags == ("funk",)
    assert ref.song_id == midi_song_ref(path, groove_dir).song_id and "/" not in ref.song_id
    song = load_midi_song(ref, 16_000, max_seconds=3)
    assert set(song.stems) == {"drums", "bass", "guitar", "other"}
    assert song.missing["bass"] == "no bass track in the MIDI file"
    assert "guitar" in song.missing and "drums" not in song.missing
    assert np.abs(song.stems["drums"]).max() > 1e-3 and not np.any(song.stems["bass"])
    assert song.metadata["tempo_bpm"] == pytest.approx(138, abs=0.5)
    assert song.metadata["groove"] == {"style": "funk", "substyle": "groove1", "bpm": 138,
                                       "beat_type": "beat", "time_signature": "4/4"}


def test_band_song_license_and_recorded_augmentation(band_midi_dir):
    path = sorted(band_midi_dir.glob("Tegridy-Select_*.mid"))[0]
    ref = midi_song_ref(path, band_midi_dir)
    assert ref.license == "CC-BY-NC-SA-4.0"
    aug = Augmentation.draw(3, ref.song_id)
    song = load_midi_song(ref, 16_000, aug, max_seconds=2)
    assert song.metadata["augmentation"]["soundfont"] == aug.soundfont == song.metadata["soundfont"]
    assert any("augmentation" in n for n in song.notes)
    assert len({a.shape for a in song.stems.values()}) == 1


def _no_notes_midi(path):
    mid = mido.MidiFile(type=1)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500_000))
    track.append(mido.Message("program_change", program=33, time=0))
    track.append(mido.Message("control_change", control=7, value=100, time=480))
    mid.tracks.append(track)
    mid.save(path)


def _absurd_tempo_midi(path):
    mid = mido.MidiFile(type=0)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=1))  # 60 million bpm
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, time=480))
    mid.tracks.append(track)
    mid.save(path)


def _type2_midi(path):
    mid = mido.MidiFile(type=2)
    for _ in range(2):
        track = mido.MidiTrack()
        track.append(mido.Message("note_on", note=60, velocity=90, time=0))
        track.append(mido.Message("note_off", note=60, time=480))
        mid.tracks.append(track)
    mid.save(path)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)), "not a MIDI file"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff"), "corrupt"),
        (_no_notes_midi, "no notes"),
        (_absurd_tempo_midi, "absurd tempo"),
        (_type2_midi, "type-2"),
    ],
)
def test_bad_midi_files(tmp_path, make, reason):
    path = tmp_path / "bad.mid"
    make(path)
    with pytest.raises(StemgenInputError) as info:
        read_midi(path)
    assert info.value.file == str(path) and reason in info.value.reason
    with pytest.raises(StemgenInputError):
        load_midi_song(midi_song_ref(path, tmp_path), 16_000)


def test_longer_than_an_hour(tmp_path):
    path = tmp_path / "long.mid"
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()  # 120 bpm: 7300 beats > 1 hour
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, time=480 * 7300))
    mid.tracks.append(track)
    mid.save(path)
    with pytest.raises(StemgenInputError, match="longer than one hour"):
        read_midi(path)


def test_an_undecodable_key_signature_does_not_reject_the_song(tmp_path, band_midi_dir):
    """mido refuses key signatures with a mode other than major/minor; a synth ignores them."""
    mid = mido.MidiFile()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("key_signature", key="C"))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    mid.tracks.append(track)
    path = tmp_path / "mode2.mid"
    mid.save(path)
    data = path.read_bytes()
    assert data.count(b"\xff\x59\x02\x00\x00") == 1
    path.write_bytes(data.replace(b"\xff\x59\x02\x00\x00", b"\xff\x59\x02\x00\x02"))
    with pytest.raises(Exception):
        mido.MidiFile(path)  # the file really is one mido rejects
    assert read_midi(path).note_counts == (0, 0, 0, 1)
    # the one such file in the band set (it was reported as corrupt before)
    real = band_midi_dir / "Tiny-Karaoke_d32f3a177a.mid"
    assert sum(read_midi(real).note_counts) > 100
