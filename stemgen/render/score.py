"""A MIDI file as a flat, time-sorted list of synthesizer events tagged with their family.

Parsing is ``mido`` (well kept, pure Python; on the band set it is ~4% of the render time, so a
faster parser would not change the total). The merged, tempo-mapped message stream is what a
General MIDI synthesizer sees, and the family of a note is decided the way such a synth decides
its sound: by the program its channel has *when the note starts* (a mid-song program change
moves later notes to another stem, and a note-off always follows its note-on's family).

Bad files raise ``StemgenInputError`` naming the file: not a MIDI file, corrupt, type 2,
no notes, absurd tempo, longer than one hour. The header check and the limits are the ones
``stemgen midi`` applies (``stemgen.midi.io``), so both accept the same files.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from stemgen.errors import StemgenInputError
# One definition of what a song can be (tempo range, length), shared with `stemgen midi`.
from stemgen.midi.io import MAX_QPM as MAX_BPM
from stemgen.midi.io import MAX_SECONDS as MAX_DURATION_S
from stemgen.midi.io import MIN_QPM as MIN_BPM
from stemgen.midi.io import check_smf_header
from stemgen.render.families import DRUM_CHANNEL, FAMILIES, family_index

# Event kinds (first field after the time).
NOTE_OFF, NOTE_ON, CONTROL, PITCH_BEND, PROGRAM = range(5)
# Family value for channel-wide events (controllers, pitch bend): they go to every family the
# channel plays.
ALL_FAMILIES = -1

# Bank select: a GM render ignores banks (an unknown bank would otherwise fall back silently).
_IGNORED_CONTROLS = {0, 32}
# A key-signature meta event: FF 59 02 <sharps/flats> <mode>.
_KEY_SIGNATURE = re.compile(rb"\xff\x59\x02(.)(.)", re.DOTALL)


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
    """Parse and validate ``path`` into a ``MidiScore``."""
    path = Path(path)
    midi = _open(path)
    if midi.type == 2:
        raise StemgenInputError(path, "type-2 MIDI (independent sequences) is not supported")
    score = _flatten(path, midi)
    if not any(score.note_counts):
        raise StemgenInputError(path, "no notes in the MIDI file")
    if score.end_s > MAX_DURATION_S:
        raise StemgenInputError(path, f"longer than one hour ({score.end_s / 60:.0f} min)")
    return score


def _open(path: Path):
    import mido

    if not path.is_file():
        raise StemgenInputError(path, "file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    check_smf_header(data, path)
    try:
        # clip=True: tolerate data bytes > 127 (seen in the wild); structural damage still raises.
        return mido.MidiFile(file=io.BytesIO(_repair_key_signatures(data)), clip=True)
    except Exception as exc:  # noqa: BLE001 - mido raises many types for broken files
        raise StemgenInputError(path, f"corrupt MIDI file ({_short(exc)})") from exc


def _repair_key_signatures(data: bytes) -> bytes:
    """Key signatures mido cannot decode (a mode other than major/minor, more than 7 sharps or
    flats) rewritten in place as C major.

    A synthesizer ignores key signatures, but mido rejects the whole file over one bad event (one
    file of the band set has mode 2). Same length, so every chunk length stays right; a false match
    inside a text event would at worst change two bytes of that text.
    """

    def fix(match: re.Match) -> bytes:
        sharps = int.from_bytes(match.group(1), "big", signed=True)
        mode = match.group(2)[0]
        return match.group(0) if mode in (0, 1) and -7 <= sharps <= 7 else b"\xff\x59\x02\x00\x00"

    return _KEY_SIGNATURE.sub(fix, data)


def _flatten(path: Path, midi) -> MidiScore:
    programs = [0] * 16
    sounding: dict[tuple[int, int], int] = {}  # (channel, key) -> family of the note-on
    events: list[tuple[float, int, int, int, int, int]] = []
    tempos: list[tuple[float, float]] = []
    signatures: list[tuple[float, int, int]] = []
    counts = [0, 0, 0, 0]
    used: dict[int, set[int]] = {0: set(), 1: set(), 2: set(), 3: set()}
    end_s = 0.0
    t = 0.0
    try:
        # Iterating a MidiFile merges the tracks and converts delta ticks to seconds through the
        # tempo map; iterating the tracks ourselves would repeat that logic.
        for msg in midi:
            t += msg.time
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                fam = family_index(programs[msg.channel], msg.channel == DRUM_CHANNEL)
                sounding[(msg.channel, msg.note)] = fam
                events.append((t, NOTE_ON, msg.channel, fam, msg.note, msg.velocity))
                counts[fam] += 1
                used[fam].add(programs[msg.channel])
                end_s = max(end_s, t)
            elif kind == "note_off" or kind == "note_on":
                fam = sounding.pop((msg.channel, msg.note), None)
                if fam is not None:
                    events.append((t, NOTE_OFF, msg.channel, fam, msg.note, 0))
                    end_s = max(end_s, t)
            elif kind == "control_change":
                if msg.control not in _IGNORED_CONTROLS:
                    events.append((t, CONTROL, msg.channel, ALL_FAMILIES, msg.control, msg.value))
            elif kind == "pitchwheel":
                events.append((t, PITCH_BEND, msg.channel, ALL_FAMILIES, msg.pitch + 8192, 0))
            elif kind == "program_change":
                programs[msg.channel] = msg.program
                fam = family_index(msg.program, msg.channel == DRUM_CHANNEL)
                events.append((t, PROGRAM, msg.channel, fam, msg.program, 0))
            elif kind == "set_tempo":
                bpm = 60_000_000 / max(msg.tempo, 1)
                if not MIN_BPM <= bpm <= MAX_BPM:
                    raise StemgenInputError(
                        path, f"absurd tempo {bpm:.1f} bpm at {t:.1f} s (allowed {MIN_BPM:g}-{MAX_BPM:g})"
                    )
                tempos.append((t, bpm))
            elif kind == "time_signature":
                signatures.append((t, msg.numerator, msg.denominator))
            if t > MAX_DURATION_S * 2:  # stop early on absurd files instead of walking them all
                break
    except StemgenInputError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StemgenInputError(path, f"corrupt MIDI file ({_short(exc)})") from exc
    return MidiScore(
        path=path,
        events=events,
        end_s=end_s,
        note_counts=tuple(counts),  # type: ignore[arg-type]
        programs={FAMILIES[f]: sorted(used[f]) for f in range(4) if used[f]},
        tempos=tempos,
        time_signatures=signatures,
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
