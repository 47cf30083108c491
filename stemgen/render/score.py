"""A MIDI file as a flat, time-sorted list of synthesizer events tagged with their family.

One reader: the file is parsed and validated by ``stemgen.midifile.io.load_midi`` (symusic), the
reader ``stemgen midi`` uses, so the renderer and ``stemgen midi`` accept and refuse the same
files with the same one-line reasons (not a MIDI file, corrupt, type 2, SMPTE time, no notes,
absurd tempo, over an hour). Its tempo map turns ticks into seconds. symusic does not keep MIDI
channels or where controllers apply, which a General MIDI synthesizer needs, so the channel
events themselves come from ``stemgen.midifile.smf``'s byte scanner over the same bytes (no
decoding into objects; key signatures and other meta events are never decoded, so an odd one
cannot reject a song).

The family of a note is decided the way a synth decides its sound: by the program its channel
has *when the note starts* (a mid-song program change moves later notes to another stem, and a
note-off always follows its note-on's family).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.render.families import FAMILIES, family_index
from stemgen.stems import DRUM_CHANNEL

# Event kinds (first field after the time).
NOTE_OFF, NOTE_ON, CONTROL, PITCH_BEND, PROGRAM = range(5)
# Family value for channel-wide events (controllers, pitch bend): they go to every family the
# channel plays.
ALL_FAMILIES = -1

# Bank select: a GM render ignores banks (an unknown bank would otherwise fall back silently).
_IGNORED_CONTROLS = {0, 32}


@dataclass
class MidiScore:
    """Events ``(time_s, kind, channel, family, a, b)`` in playing order, plus facts about the song.

    ``a``/``b`` are key/velocity for notes, number/value for controllers, program for program
    changes, and the 14-bit wheel position (0..16383, centre 8192) for pitch bends.
    """

    path: Path
    events: list[tuple[float, int, int, int, int, int]]
    end_s: float  # time of the last event that sounds (last note-off)
    note_counts: tuple[int, int, int, int]  # notes per family (drums, bass, guitar, other)
    programs: dict[str, list[int]]  # GM programs used per family (drum kits under "drums")
    tempos: list[tuple[float, float]] = field(default_factory=list)  # (time_s, bpm)
    time_signatures: list[tuple[float, int, int]] = field(default_factory=list)

    @property
    def initial_bpm(self) -> float:
        return self.tempos[0][1] if self.tempos else 120.0

    def families_present(self, until_s: float | None = None) -> set[int]:
        """Families with at least one note starting before ``until_s`` (all of the song by default)."""
        if until_s is None:
            return {i for i, n in enumerate(self.note_counts) if n}
        return {e[3] for e in self.events if e[1] == NOTE_ON and e[0] < until_s}


def read_midi(path: str | Path) -> MidiScore:
    """Parse and validate ``path`` into a ``MidiScore`` (``StemgenInputError`` on bad files)."""
    from stemgen.midifile.io import load_midi

    path = Path(path)
    if not path.is_file():
        raise StemgenInputError(path, "file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    song = load_midi(path, data)  # the one validation
    try:
        return _flatten(path, data, song)
    except (IndexError, ValueError, struct.error) as exc:  # bytes symusic tolerated but the scanner cannot walk
        raise StemgenInputError(path, f"corrupt MIDI: {type(exc).__name__} while reading events") from None


def _merged_events(data: bytes):
    """``(tick, status, raw)`` of every track, merged in time (ties: track order, then file order),
    as a merged MIDI player plays them."""
    from stemgen.midifile import smf

    merged = []
    for i, (kind, body) in enumerate(smf.chunks(data)):
        if kind == b"MTrk":
            merged += [(tick, i, j, status, raw) for j, (tick, status, raw) in enumerate(smf.events(body))]
    merged.sort(key=lambda e: e[:3])
    return merged


def _flatten(path: Path, data: bytes, song) -> MidiScore:
    merged = _merged_events(data)
    seconds = song.seconds_at(np.array([e[0] for e in merged], dtype=np.float64)).tolist() if merged else []
    programs = [0] * 16
    sounding: dict[tuple[int, int], int] = {}  # (channel, key) -> family of the note-on
    events: list[tuple[float, int, int, int, int, int]] = []
    tempos: list[tuple[float, float]] = []
    signatures: list[tuple[float, int, int]] = []
    counts = [0, 0, 0, 0]
    used: dict[int, set[int]] = {0: set(), 1: set(), 2: set(), 3: set()}
    end_s = 0.0
    for t, (_, _, _, status, raw) in zip(seconds, merged):
        if status == 0xFF:  # meta: FF type len data
            if raw[1] == 0x51 and len(raw) >= 6:  # set tempo (limits checked by load_midi)
                tempos.append((t, 60_000_000 / max(int.from_bytes(raw[-3:], "big"), 1)))
            elif raw[1] == 0x58 and len(raw) >= 7:  # time signature: nn dd(power of 2) cc bb
                signatures.append((t, raw[-4], 2 ** raw[-3]))
            continue
        if status < 0x80 or status >= 0xF0:  # sysex
            continue
        kind, ch = status & 0xF0, status & 0x0F
        a = raw[1] if len(raw) > 1 else 0  # data bytes over 127 were refused by load_midi
        b = raw[2] if len(raw) > 2 else 0
        if kind == 0x90 and b > 0:
            fam = family_index(programs[ch], ch == DRUM_CHANNEL)
            sounding[(ch, a)] = fam
            events.append((t, NOTE_ON, ch, fam, a, b))
            counts[fam] += 1
            used[fam].add(programs[ch])
            end_s = max(end_s, t)
        elif kind in (0x80, 0x90):
            fam = sounding.pop((ch, a), None)
            if fam is not None:
                events.append((t, NOTE_OFF, ch, fam, a, 0))
                end_s = max(end_s, t)
        elif kind == 0xB0:
            if a not in _IGNORED_CONTROLS:
                events.append((t, CONTROL, ch, ALL_FAMILIES, a, b))
        elif kind == 0xE0:
            events.append((t, PITCH_BEND, ch, ALL_FAMILIES, a | (b << 7), 0))  # 0..16383, centre 8192
        elif kind == 0xC0:
            programs[ch] = a
            fam = family_index(a, ch == DRUM_CHANNEL)
            events.append((t, PROGRAM, ch, fam, a, 0))
    return MidiScore(
        path=path,
        events=events,
        end_s=end_s,
        note_counts=tuple(counts),  # type: ignore[arg-type]
        programs={FAMILIES[f]: sorted(used[f]) for f in range(4) if used[f]},
        tempos=tempos,
        time_signatures=signatures,
    )
