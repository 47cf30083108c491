"""Remove one role (drums, bass or guitar) from a MIDI file: the input of a subtractive example,
and how the evaluation and the batch check build "song without drums" copies.

Works on channels: drums are channel 10 (index 9); bass and guitar are the channels whose program
(the latest program change before each note) is in the GM bass / guitar family. Every other event
is kept with its absolute time.
"""

from __future__ import annotations

import io
from pathlib import Path

from .io import atomic_write_bytes
from .lanes import DRUM_CHANNEL, track_role


def strip_role(data: bytes, role: str) -> bytes:
    """MIDI bytes without the notes (and program changes) of ``role``."""
    import mido

    mid = mido.MidiFile(file=io.BytesIO(data), clip=True)
    programs: dict[int, int] = {}
    for track in mid.tracks:
        abs_t, kept = 0, []
        for msg in track:
            abs_t += msg.time
            if msg.type == "program_change":
                programs[msg.channel] = msg.program
            if hasattr(msg, "channel") and msg.type in ("note_on", "note_off", "program_change", "polytouch"):
                is_drum = msg.channel == DRUM_CHANNEL
                if track_role(programs.get(msg.channel, 0), is_drum) == role:
                    continue
            kept.append((abs_t, msg))
        track.clear()
        last = 0
        for t, msg in kept:
            track.append(msg.copy(time=t - last))
            last = t
    # Drop tracks left with no channel messages but a name only if they had notes before? Keep them:
    # empty tracks are harmless and keep the other tracks' indices stable.
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def strip_role_file(src: str | Path, dst: str | Path, role: str) -> None:
    atomic_write_bytes(dst, strip_role(Path(src).read_bytes(), role))
