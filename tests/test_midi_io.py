"""Reading, validating and writing MIDI: bad files give one clear reason; outputs keep input bytes."""

from __future__ import annotations

import os

import pytest

from midi_helpers import make_midi, type2_bytes
from stemgen.errors import StemgenInputError
from stemgen.midifile.io import append_track_bytes, encode_track, load_midi


@pytest.mark.parametrize(
    "content, reason",
    [
        (lambda: os.urandom(2000), "not a MIDI file"),
        (lambda: b"", "empty file"),
        (type2_bytes, "type-2"),
        (lambda: make_midi(notes=[]), "no notes"),
        (lambda: make_midi(notes=[(0, 0, 60, 0, 480)], bpm=1000), "absurd tempo"),
        (lambda: make_midi(notes=[(0, 0, 60, 0, 480), (0, 0, 62, 7300 * 480, 7301 * 480)]), "too long"),
        (lambda: b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\xff\xffgarbage", "corrupt"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content())
    with pytest.raises(StemgenInputError) as err:
        load_midi(path)
    assert reason in err.value.reason and err.value.file == str(path)
    assert "\n" not in str(err.value)


def test_real_files_parse(band_midi_dir, groove_dir, slakh_track):
    for path in [sorted(band_midi_dir.glob("*.mid"))[0], next(groove_dir.rglob("*.mid")), slakh_track / "all_src.mid"]:
        song = load_midi(path)
        assert song.n_notes > 0 and 1 < song.duration_s < 3600 and song.tempos[0][0] == 0


def test_tempo_map_seconds():
    song = load_midi("x.mid", make_midi(notes=[(0, 0, 60, 0, 4 * 480)], bpm=120, tempo_changes=[(2 * 480, 60)]))
    assert song.seconds_at(2 * 480) == pytest.approx(1.0)
    assert song.seconds_at(4 * 480) == pytest.approx(3.0)


@pytest.mark.parametrize("midi_type", [0, 1])
def test_appended_track_keeps_input_bytes(midi_type):
    data = make_midi(notes=[(0, 0, 60, 0, 480), (1, 33, 40, 0, 480)], midi_type=midi_type)
    out = append_track_bytes(data, encode_track([(0, 240, 36, 100), (480, 720, 38, 90)], 9, None, "drums"))
    assert out[14:len(data)] == data[14:]  # every input chunk byte-identical
    song = load_midi("out.mid", out)
    assert any(t.is_drum and len(t) == 2 for t in song.tracks)
    assert song.n_notes == 4


def test_smf_scanner_matches_mido(band_midi_dir, slakh_track):
    import io as _io

    import mido

    from stemgen.midifile.smf import used_channels

    for path in [sorted(band_midi_dir.glob("*.mid"))[1], slakh_track / "all_src.mid"]:
        data = path.read_bytes()
        mid = mido.MidiFile(file=_io.BytesIO(data))
        assert used_channels(data) == {m.channel for t in mid.tracks for m in t if hasattr(m, "channel")}
