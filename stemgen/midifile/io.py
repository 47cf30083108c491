"""Read and validate MIDI files, and write a copy with one track appended.

Reading uses symusic (a C++ parser, ~1 ms a file) in tick time, so the tempo map never touches the
grid: ticks are beats. ``load_midi`` is the project's one MIDI reader: ``stemgen midi``, the
SoundFont renderer (``stemgen.render.score``) and the web page's piano rolls all read through it
(``load_tempo_map`` reads the same files for their tempo map alone, notes or none: ``--beats``),
so they accept and refuse the same files for the same reasons.

Writing never re-encodes the input: the new file is the input's bytes with
the header's track count bumped and one ``MTrk`` chunk appended, so every input track (notes,
tempo map, meta and sysex events) stays byte-identical.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError

# Limits on what we accept: beyond these a file is almost certainly broken or not a song.
MIN_QPM = 10.0
MAX_QPM = 400.0
MAX_SECONDS = 3600.0  # one hour (the error message says so)


@dataclass
class TrackNotes:
    """One track's notes in ticks: parallel int arrays ``start, duration, pitch, velocity``."""

    name: str
    program: int
    is_drum: bool
    start: np.ndarray
    duration: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass
class MidiSong:
    """A parsed, validated MIDI file: notes per track, tempo map and time signatures in ticks."""

    path: str
    tpq: int
    tracks: list[TrackNotes]
    tempos: list[tuple[int, float]]  # (tick, quarter notes per minute), sorted, first at tick 0
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, num, den)
    end_tick: int = 0
    midi_format: int = 1

    @property
    def n_notes(self) -> int:
        return sum(len(t) for t in self.tracks)

    def seconds_at(self, ticks: np.ndarray | float) -> np.ndarray:
        """Seconds at tick positions, following the tempo map."""
        ticks = np.asarray(ticks, dtype=np.float64)
        starts, spt, seg_secs = self._segments()
        idx = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, len(starts) - 1)
        return seg_secs[idx] + (ticks - starts[idx]) * spt[idx]

    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first tick, seconds per tick, first second) of each tempo segment."""
        starts = np.array([t for t, _ in self.tempos], dtype=np.float64)
        spt = np.array([60.0 / (q * self.tpq) for _, q in self.tempos])
        return starts, spt, np.concatenate([[0.0], np.cumsum(np.diff(starts) * spt[:-1])])

    def ticks_at(self, seconds: np.ndarray | float) -> np.ndarray:
        """Tick positions at times in seconds (the inverse of ``seconds_at``)."""
        seconds = np.asarray(seconds, dtype=np.float64)
        starts, spt, seg_secs = self._segments()
        idx = np.clip(np.searchsorted(seg_secs, seconds, side="right") - 1, 0, len(starts) - 1)
        return starts[idx] + (seconds - seg_secs[idx]) / spt[idx]

    @property
    def duration_s(self) -> float:
        return float(self.seconds_at(self.end_tick))


def check_smf_header(data: bytes, path: str | Path) -> int:
    """The SMF format (0 or 1) of a Standard MIDI File's bytes, or a one-line ``StemgenInputError``.

    The one header check for every MIDI reader here (``stemgen midi`` and the SoundFont renderer):
    empty, not MIDI, unknown or type-2 format, SMPTE time division.
    """
    if not data:
        raise StemgenInputError(path, "empty file (0 bytes)")
    if len(data) < 14 or data[:4] != b"MThd":
        raise StemgenInputError(path, "not a MIDI file (no MThd header)")
    fmt = struct.unpack(">H", data[8:10])[0]
    if fmt == 2:
        raise StemgenInputError(path, "type-2 MIDI (independent sequences) is not supported")
    if fmt not in (0, 1):
        raise StemgenInputError(path, f"unknown MIDI format {fmt}")
    if struct.unpack(">h", data[12:14])[0] <= 0:
        raise StemgenInputError(path, "SMPTE (or zero) time division is not supported")
    return fmt


def load_midi(path: str | Path, data: bytes | None = None) -> MidiSong:
    """Parse and validate ``path``; every rejection is a one-line ``StemgenInputError``."""
    score, fmt = _read_score(path, data)
    path = str(path)
    tracks = []
    for tr in score.tracks:
        if len(tr.notes) == 0:
            continue
        arr = tr.notes.numpy()
        tracks.append(
            TrackNotes(
                name=str(tr.name),
                program=int(tr.program),
                is_drum=bool(tr.is_drum),
                start=arr["time"].astype(np.int64),
                duration=np.maximum(arr["duration"].astype(np.int64), 1),
                pitch=arr["pitch"].astype(np.int64),
                velocity=np.clip(arr["velocity"].astype(np.int64), 1, 127),
            )
        )
    if not tracks:
        raise StemgenInputError(path, "no notes")
    tempos, sigs = _tempo_map(score, path)
    end_tick = max(int((t.start + t.duration).max()) for t in tracks)
    song = MidiSong(path, int(score.ticks_per_quarter), tracks, tempos, sigs, end_tick, fmt)
    if song.duration_s > MAX_SECONDS:
        raise StemgenInputError(path, f"too long: {song.duration_s / 60:.0f} min, longer than one hour (the limit)")
    return song


def load_tempo_map(path: str | Path, data: bytes | None = None) -> MidiSong:
    """A MIDI file's tempo map and time signatures, notes or none (a DAW's tempo-map export has
    none): a ``MidiSong`` without tracks, ``end_tick`` 0. Rejections as ``load_midi``'s."""
    score, fmt = _read_score(path, data)
    tempos, sigs = _tempo_map(score, str(path))
    return MidiSong(str(path), int(score.ticks_per_quarter), [], tempos, sigs, 0, fmt)


def _read_score(path: str | Path, data: bytes | None):
    """``(symusic.Score in ticks, SMF format)`` of a checked file."""
    import symusic  # heavy-ish native import, kept local so the CLI starts fast

    path = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    fmt = check_smf_header(data, path)
    try:
        score = symusic.Score.from_midi(data, ttype="tick")
    except Exception as exc:  # symusic raises plain RuntimeErrors on corrupt data
        raise StemgenInputError(path, f"corrupt MIDI: {str(exc).splitlines()[0][:120]}") from None
    return score, fmt


def _tempo_map(score, path: str) -> tuple[list[tuple[int, float]], list[tuple[int, int, int]]]:
    """The checked tempo map (first event at tick 0) and time signatures (4/4 when none)."""
    tempos = sorted((int(t.time), float(t.qpm)) for t in score.tempos)
    bad = [q for _, q in tempos if not (MIN_QPM <= q <= MAX_QPM)]
    if bad:
        raise StemgenInputError(path, f"absurd tempo {bad[0]:.1f} BPM (allowed {MIN_QPM:.0f}-{MAX_QPM:.0f})")
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, tempos[0][1] if tempos else 120.0))  # MIDI default before the first event
    sigs = sorted((int(s.time), int(s.numerator), int(s.denominator)) for s in score.time_signatures)
    return _dedupe(tempos), [s for s in sigs if s[1] > 0 and s[2] > 0] or [(0, 4, 4)]


def _dedupe(events: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Keep the last event at each tick (a later tempo event at the same tick wins)."""
    out: dict[int, float] = {}
    for tick, value in events:
        out[tick] = value
    return sorted(out.items())


# --- writing -------------------------------------------------------------------------------------


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity."""
    buf = [value & 0x7F]
    value >>= 7
    while value:
        buf.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(buf))


def encode_track(
    notes: list[tuple[int, int, int, int]], channel: int, program: int | None, name: str
) -> bytes:
    """One ``MTrk`` chunk: track name, program change, notes ``(start_tick, end_tick, pitch, velocity)``."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, bytes); note-offs sort before note-ons
    for start, end, pitch, vel in notes:
        events.append((int(start), 1, bytes([0x90 | channel, pitch, max(1, min(127, vel))])))
        events.append((int(max(end, start + 1)), 0, bytes([0x80 | channel, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    body = bytearray()
    title = name.encode("latin-1", "replace")
    body += b"\x00\xff\x03" + _varlen(len(title)) + title
    if program is not None:
        body += b"\x00" + bytes([0xC0 | channel, program])
    last = 0
    for tick, _, msg in events:
        body += _varlen(tick - last) + msg
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def append_track_bytes(data: bytes, track_chunk: bytes) -> bytes:
    """The input file's bytes with ``track_chunk`` appended; a type-0 file becomes type 1."""
    header_len = struct.unpack(">I", data[4:8])[0]
    fmt, ntrk, division = struct.unpack(">HHh", data[8:14])
    if fmt == 2:
        raise ValueError("type-2 MIDI cannot take an appended track")
    # Trailing garbage after the last declared chunk would hide the new track from readers: cut it.
    pos, end = 8 + header_len, len(data)
    for _ in range(ntrk):
        if pos + 8 > end:
            break
        pos += 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0]
    header = b"MThd" + struct.pack(">I", header_len) + struct.pack(">HHh", 1, ntrk + 1, division)
    return header + data[14 : 8 + header_len] + data[8 + header_len : min(pos, end)] + track_chunk
