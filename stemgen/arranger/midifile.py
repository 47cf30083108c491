"""The part as a Standard MIDI File whose tempo map follows the song's detected beats.

One tempo event per beat makes MIDI beat ``b`` fall at ``beat_times[b]`` (tempo = 60 / that
beat's period; after the last beat the local period continues, as in ``BeatGrid``). A lead-in
before beat 0 takes ``beat_times[0]`` seconds: whole beats when a tempo in the readable range
(10-400 quarter notes a minute) allows it, preferring a count that puts the first downbeat on a
bar line (so a DAW's bars match the song's); otherwise, for a first beat under ~0.15 s, a fraction
of a beat at the song's tempo. Tempo events are whole microseconds a quarter note; each is rounded
against the running total, so the error stays under a microsecond at every beat instead of
accumulating. Notes are written at the ticks of their rendered times (grid position plus the
humanisation as a tick offset), so read back through the tempo map they land within half a tick
(<= 0.5 ms: the resolution grows with the longest beat) of the rendered onsets.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from stemgen.arranger.grid import BeatGrid
from stemgen.arranger.sounds import Sound
from stemgen.midi.io import MAX_QPM, MIN_QPM, _varlen, encode_track

BASE_TPQ = 960
MAX_TICK_S = 0.001  # tick length cap: half a tick <= 0.5 ms


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: segment ``i`` starts at ``ticks[i]`` and ``seconds[i]``."""

    tpq: int
    ticks: np.ndarray  # int64
    us_per_quarter: np.ndarray  # int64
    lead_ticks: int
    bars_aligned: bool

    @property
    def seconds(self) -> np.ndarray:
        spt = self.us_per_quarter * 1e-6 / self.tpq
        return np.concatenate([[0.0], np.cumsum(np.diff(self.ticks) * spt[:-1])])

    def ticks_at(self, seconds) -> np.ndarray:
        s = np.asarray(seconds, dtype=np.float64)
        starts = self.seconds
        i = np.clip(np.searchsorted(starts, s, side="right") - 1, 0, len(starts) - 1)
        spt = self.us_per_quarter[i] * 1e-6 / self.tpq
        return np.rint(self.ticks[i] + (s - starts[i]) / spt).astype(np.int64)

    def to_dict(self) -> dict:
        return {"ticks_per_quarter": self.tpq, "tempo_events": int(self.ticks.size), "lead_in_ticks": self.lead_ticks,
                "bars_aligned": self.bars_aligned}


def build_tempo_map(grid: BeatGrid, meter: int = 4, first_downbeat: int = 0) -> TempoMap:
    t = grid.beat_times
    periods = np.append(np.diff(t), grid.period_after)
    tpq = BASE_TPQ * max(1, math.ceil(float(periods.max(initial=grid.period_before)) / (BASE_TPQ * MAX_TICK_S)))
    lead_beats, aligned = _lead_in(float(t[0]), grid.period_before, meter, first_downbeat)
    lead_ticks = int(round(lead_beats * tpq))
    ticks, tempos = [], []
    now_us = 0.0
    if lead_ticks:
        q = lead_ticks / tpq
        us = int(round(t[0] * 1e6 / q))
        ticks.append(0)
        tempos.append(us)
        now_us = us * q
    for b, period in enumerate(periods):
        target = (t[b + 1] * 1e6) if b + 1 < t.size else now_us + period * 1e6
        us = int(round(target - now_us))
        ticks.append(lead_ticks + b * tpq)
        tempos.append(us)
        now_us += us
    return TempoMap(tpq, np.array(ticks, np.int64), np.array(tempos, np.int64), lead_ticks, aligned)


def _lead_in(t0: float, period: float, meter: int, first_downbeat: int) -> tuple[float, bool]:
    """Lead-in length in beats (may be fractional) and whether bar lines fall on the downbeats."""
    if t0 <= 1e-6:
        return 0.0, first_downbeat % meter == 0
    song_bpm = 60.0 / period
    ok = [L for L in range(1, 4 * meter + 1) if MIN_QPM <= 60.0 * L / t0 <= MAX_QPM]
    if ok:
        aligned = [L for L in ok if (first_downbeat + L) % meter == 0]
        pool = aligned or ok
        best = min(pool, key=lambda L: abs(math.log(60.0 * L / t0 / song_bpm)))
        return float(best), bool(aligned)
    return t0 / period, False  # a first beat within 0.15 s of the start: part of a beat at the song's tempo


def part_midi(onset_s: np.ndarray, offset_s: np.ndarray, pitch: np.ndarray, velocity: np.ndarray,
              tempo_map: TempoMap, sound: Sound, meter: int = 4, name: str | None = None) -> bytes:
    """Type-1 SMF bytes: a conductor track (tempo map, time signature) and the part's track."""
    on = tempo_map.ticks_at(onset_s)
    off = np.maximum(tempo_map.ticks_at(offset_s), on + 1)
    notes = [(int(a), int(b), int(p), int(v)) for a, b, p, v in zip(on, off, pitch, velocity)]
    title = name or f"stemgen {sound.stem} ({sound.label})"
    part = encode_track(notes, sound.channel, sound.program, title)
    header = b"MThd" + struct.pack(">IHHh", 6, 1, 2, tempo_map.tpq)
    return header + _conductor_track(tempo_map, meter) + part


def _conductor_track(tempo_map: TempoMap, meter: int) -> bytes:
    body = bytearray()
    # Time signature meter/4 (beats are quarter notes here), 24 clocks a click, 8 32nds a quarter.
    body += b"\x00\xff\x58\x04" + bytes([max(1, min(255, meter)), 2, 24, 8])
    last = 0
    for tick, us in zip(tempo_map.ticks.tolist(), tempo_map.us_per_quarter.tolist()):
        body += _varlen(tick - last) + b"\xff\x51\x03" + int(us).to_bytes(3, "big")
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)
