"""A minimal Standard MIDI File event scanner over raw bytes (no decoding into objects).

Why: mido decodes every event into a Python object, ~100x slower than what generation needs for
two small jobs — which channels are in use, and removing one role's notes. Running status, meta
and sysex events are handled; events are yielded as ``(abs_tick, status, raw_bytes)`` where
``raw_bytes`` always carries its status byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from stemgen.midifile.io import _varlen


def _read_varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """``(chunk_type, body)`` for every chunk after the header."""
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    while pos + 8 <= len(data):
        kind, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 8 + length


def events(track: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Events of one ``MTrk`` body."""
    pos, tick, running = 0, 0, 0
    n = len(track)
    while pos < n:
        delta, pos = _read_varlen(track, pos)
        tick += delta
        status = track[pos]
        if status == 0xFF:  # meta
            length, end = _read_varlen(track, pos + 2)
            raw, pos = track[pos : end + length], end + length
        elif status in (0xF0, 0xF7):  # sysex
            length, end = _read_varlen(track, pos + 1)
            raw, pos = track[pos : end + length], end + length
        else:
            if status & 0x80:
                running, pos = status, pos + 1
            size = 1 if (running & 0xF0) in (0xC0, 0xD0) else 2
            raw, pos = bytes([running]) + track[pos : pos + size], pos + size
            status = running
        yield tick, status, raw


def used_channels(data: bytes) -> set[int]:
    """Channels that carry channel-voice messages anywhere in the file."""
    return {s & 0x0F for kind, body in chunks(data) if kind == b"MTrk" for _, s, _ in events(body) if 0x80 <= s < 0xF0}


def filter_channel_events(data: bytes, drop) -> bytes:
    """The file with every channel event for which ``drop(channel, program, raw)`` is true removed.

    ``program`` is the channel's latest program change seen so far (tracks read in file order).
    Other chunks and events are kept; deltas are recomputed; running status is not used on output.
    """
    header_len = struct.unpack(">I", data[4:8])[0]
    out = bytearray(data[: 8 + header_len])
    programs: dict[int, int] = {}
    for kind, body in chunks(data):
        if kind != b"MTrk":
            out += kind + struct.pack(">I", len(body)) + body
            continue
        new, last = bytearray(), 0
        for tick, status, raw in events(body):
            if 0x80 <= status < 0xF0:
                ch = status & 0x0F
                if status & 0xF0 == 0xC0:
                    programs[ch] = raw[1]
                if drop(ch, programs.get(ch, 0), raw):
                    continue
            new += _varlen(tick - last) + raw
            last = tick
        out += b"MTrk" + struct.pack(">I", len(new)) + bytes(new)
    return bytes(out)



def solo_last_track(data: bytes) -> bytes:
    """The file with the channel events of every track but the last removed: the last track alone,
    at the song's tempo map and meter (meta and sysex events stay)."""
    from stemgen.midifile.io import append_track_bytes

    header_len = struct.unpack(">I", data[4:8])[0]
    fmt, ntrk, division = struct.unpack(">HHh", data[8:14])
    found = [kind + struct.pack(">I", len(body)) + body for kind, body in chunks(data)]
    last = max(i for i, chunk in enumerate(found) if chunk[:4] == b"MTrk")
    header = b"MThd" + struct.pack(">I", header_len) + struct.pack(">HHh", fmt, ntrk - 1, division)
    rest = header + data[14 : 8 + header_len] + b"".join(c for i, c in enumerate(found) if i != last)
    return append_track_bytes(filter_channel_events(rest, lambda *_: True), found[last])
