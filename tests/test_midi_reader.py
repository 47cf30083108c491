"""One MIDI reader: `stemgen midi` (midi.io.load_midi), the SoundFont renderer (render.read_midi) and
the web page's piano rolls (ui.plotting) accept and refuse the same files, for the same reasons; the
renderer's event stream is what a merged MIDI player (mido) plays."""

from __future__ import annotations

import io
import os
import struct

import mido
import pytest

from midi_helpers import band_song_notes, make_midi, type2_bytes
from stemgen.errors import StemgenInputError
from stemgen.midifile.io import load_midi
from stemgen.render.score import (
    CONTROL,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    PROGRAM,
    read_midi,
)
from stemgen.ui.plotting import piano_roll_pngs


def _odd_key_signature() -> bytes:
    data = make_midi(notes=[(0, 0, 60, 0, 480)])
    mid = mido.MidiFile(file=io.BytesIO(data))
    mid.tracks[0].insert(0, mido.MetaMessage("key_signature", key="C"))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue().replace(b"\xff\x59\x02\x00\x00", b"\xff\x59\x02\x00\x02")  # mode 2: mido refuses it


def _running_status(velocity: int = 0x64) -> bytes:
    """Running status and a sysex, as real files have them (``velocity`` of the second note)."""
    body = (b"\x00\xff\x51\x03\x07\xa1\x20"  # 120 bpm
            b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7"  # GM on
            b"\x00\xc1\x21\x00\x91\x28\x64\x83\x60\x28\x00\x00\x2b" + bytes([velocity]) + b"\x83\x60\x2b\x00"
            b"\x00\xff\x2f\x00")
    return b"MThd" + struct.pack(">IHHh", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body


GOOD = {
    "band": lambda: make_midi(notes=band_song_notes(2)),
    "type0": lambda: make_midi(notes=band_song_notes(1), midi_type=0),
    "tempo_changes": lambda: make_midi(notes=[(1, 33, 40, 0, 960)], tempo_changes=[(480, 90), (960, 60)]),
    "odd_key_signature": _odd_key_signature,
    "running_status": _running_status,
}
BAD = {
    "random bytes": (lambda: os.urandom(2000), "not a MIDI file"),
    "empty": (lambda: b"", "empty file"),
    "type 2": (type2_bytes, "type-2"),
    "smpte": (lambda: bytearray(make_midi(notes=[(0, 0, 60, 0, 480)]))[:12] + b"\xe7\x28"
              + make_midi(notes=[(0, 0, 60, 0, 480)])[14:], "SMPTE"),
    "no notes": (lambda: make_midi(notes=[]), "no notes"),
    "absurd tempo": (lambda: make_midi(notes=[(0, 0, 60, 0, 480)], bpm=1000), "absurd tempo"),
    "over an hour": (lambda: make_midi(notes=[(0, 0, 60, 0, 480), (0, 0, 62, 7300 * 480, 7301 * 480)]),
                     "longer than one hour"),
    "corrupt chunk": (lambda: b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\xff\xffgarbage", "corrupt"),
    "data byte over 127": (lambda: _running_status(0xE4), "corrupt"),  # mido accepted it with clip=True
    "truncated track": (lambda: b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff", "corrupt"),
}


def _readers(path, tmp_path):
    return {
        "stemgen midi": lambda: load_midi(path),
        "renderer": lambda: read_midi(path),
        "piano roll": lambda: piano_roll_pngs([(path, "x", tmp_path / "roll.png")]),
    }


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_files_are_read_everywhere(name, tmp_path):
    path = tmp_path / f"{name}.mid"
    path.write_bytes(GOOD[name]())
    for reader, read in _readers(path, tmp_path).items():
        read()  # no error
    assert (tmp_path / "roll.png").stat().st_size > 1000
    song, score = load_midi(path), read_midi(path)
    assert sum(score.note_counts) == song.n_notes


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_refused_everywhere_with_one_reason(name, tmp_path):
    make, reason = BAD[name]
    path = tmp_path / "bad.mid"
    path.write_bytes(bytes(make()))
    reasons = {}
    for reader, read in _readers(path, tmp_path).items():
        with pytest.raises(StemgenInputError) as err:
            read()
        assert err.value.file == str(path) and "\n" not in str(err.value), reader
        reasons[reader] = err.value.reason
    assert len(set(reasons.values())) == 1 and reason in reasons["renderer"], reasons


def _mido_events(path):
    """What the old reader decoded: mido's merged, tempo-mapped stream (channel events)."""
    out, t = [], 0.0
    for msg in mido.MidiFile(path, clip=True):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            out.append((t, NOTE_ON, msg.channel, msg.note, msg.velocity))
        elif msg.type in ("note_on", "note_off"):
            out.append((t, NOTE_OFF, msg.channel, msg.note, 0))
        elif msg.type == "control_change" and msg.control not in (0, 32):
            out.append((t, CONTROL, msg.channel, msg.control, msg.value))
        elif msg.type == "pitchwheel":
            out.append((t, PITCH_BEND, msg.channel, msg.pitch + 8192, 0))
        elif msg.type == "program_change":
            out.append((t, PROGRAM, msg.channel, msg.program, 0))
    return out


def test_renderer_events_match_a_merged_midi_player(band_midi_dir, groove_dir, slakh_track):
    files = sorted(band_midi_dir.glob("*.mid"))[:3] + [next(groove_dir.rglob("*.mid")), slakh_track / "all_src.mid"]
    for path in files:
        score = read_midi(path)
        ours = [(t, k, ch, a, b) for t, k, ch, _, a, b in score.events]
        # Note-offs of notes that never started are dropped by the renderer; compare what it keeps.
        ref = [e for e in _mido_events(path) if e[1] != NOTE_OFF]
        mine = [e for e in ours if e[1] != NOTE_OFF]
        assert len(mine) == len(ref), path.name
        for a, b in zip(mine, ref):
            assert a[1:] == b[1:] and a[0] == pytest.approx(b[0], abs=1e-6), (path.name, a, b)
