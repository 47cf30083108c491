"""Small MIDI files built in memory for the MIDI tests (good and deliberately bad)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import mido


def make_midi(
    path: Path | None = None,
    notes: list[tuple[int, int, int, int, int]] = (),  # (channel, program, pitch, start_tick, end_tick)
    bpm: float = 120.0,
    tpq: int = 480,
    time_sig: tuple[int, int] = (4, 4),
    tempo_changes: list[tuple[int, float]] = (),
    midi_type: int = 1,
) -> bytes:
    """A type-0/1 file: a conductor track (tempo, time signature) and one track per channel."""
    mid = mido.MidiFile(type=midi_type, ticks_per_beat=tpq)
    meta = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))),
            (0, mido.MetaMessage("time_signature", numerator=time_sig[0], denominator=time_sig[1]))]
    meta += [(t, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(q))) for t, q in tempo_changes]
    by_channel: dict[int, list] = {}
    for ch, prog, pitch, start, end in notes:
        ev = by_channel.setdefault(ch, [(0, mido.Message("program_change", channel=ch, program=prog))])
        ev += [(start, mido.Message("note_on", channel=ch, note=pitch, velocity=90)),
               (end, mido.Message("note_off", channel=ch, note=pitch, velocity=0))]
    tracks = [meta] + list(by_channel.values())
    if midi_type == 0:
        tracks = [sum(tracks, [])]
    for events in tracks:
        tr = mido.MidiTrack()
        last = 0
        for t, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
            tr.append(msg.copy(time=t - last))
            last = t
        mid.tracks.append(tr)
    buf = io.BytesIO()
    mid.save(file=buf)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def type2_bytes() -> bytes:
    data = bytearray(make_midi(notes=[(0, 0, 60, 0, 480)]))
    data[8:10] = struct.pack(">H", 2)
    return bytes(data)


def band_song_notes(bars: int = 8) -> list[tuple[int, int, int, int, int]]:
    """A small band arrangement: drums (ch 10), bass, guitar and piano, in C major, 4/4."""
    notes = []
    for bar in range(bars):
        b0 = bar * 4 * 480
        for beat in range(4):
            t = b0 + beat * 480
            notes.append((9, 0, 36 if beat % 2 == 0 else 38, t, t + 60))
            notes += [(9, 0, 42, t, t + 60), (9, 0, 42, t + 240, t + 300)]
            notes.append((1, 33, 36 + (7 if bar % 2 else 0), t, t + 360))
            notes += [(2, 27, p + (7 if bar % 2 else 0), t, t + 240) for p in (52, 55, 60)]
        notes.append((0, 0, 72 + (bar % 3) * 2, b0, b0 + 1920))
    return notes
