"""Remove one role (drums, bass or guitar) from a MIDI file: the input of a subtractive example,
and how the evaluation and the batch check build "song without drums" copies.

Works on channels: drums are channel 10 (index 9); bass and guitar are the channels whose program
(the latest program change before each note) is in the GM bass / guitar family. Every other event
is kept with its absolute time.
"""

from __future__ import annotations

from pathlib import Path

from stemgen.fileio import atomic_write_bytes
from stemgen.midifile.lanes import track_role
from stemgen.stems import DRUM_CHANNEL


def strip_role(data: bytes, role: str) -> bytes:
    """MIDI bytes without the notes (and program changes) of ``role``; everything else kept."""
    from stemgen.midifile.smf import filter_channel_events

    def drop(channel: int, program: int, raw: bytes) -> bool:
        kind = raw[0] & 0xF0
        if kind == 0xC0:
            program = raw[1]
        return kind in (0x80, 0x90, 0xA0, 0xC0) and track_role(program, channel == DRUM_CHANNEL) == role

    return filter_channel_events(data, drop)


def strip_role_file(src: str | Path, dst: str | Path, role: str) -> None:
    atomic_write_bytes(dst, strip_role(Path(src).read_bytes(), role))
