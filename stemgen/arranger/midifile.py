"""The part as a Standard MIDI File whose tempo map follows the song's detected beats.

One tempo event per beat puts every detected beat from the anchor beat on (beat 0, or up to a
bar later: see ``_lead_in``) on a MIDI beat line (tempo = 60 / that beat's period; after the last
beat the local period continues, as in ``BeatGrid``), so a DAW's beat grid is the song's. A
lead-in of whole beats fills the time before the anchor, at a tempo in the readable range (10-400
quarter notes a minute) close to the song's, preferring an anchor and count that put the
downbeats on bar lines. Tempo events are whole microseconds a quarter note; each is rounded
against the running total, so the error stays under a microsecond at every beat instead of
accumulating. Notes are written at the ticks of their rendered times (grid position plus the
humanisation as a tick offset), so read back through the tempo map they land within half a tick
(<= 0.5 ms: ticks a quarter grow with the longest beat, lead-in included) of the rendered onsets.

``constant_tempo_map`` is the other choice (``MIDI_TEMPOS``): one tempo, the song's median beat
period, with the notes at their rendered times in seconds (within half a tick, <= 0.5 ms, as
above). The file then lines up with the audio when both start at 0 s and the DAW's project tempo
is the file's (most DAWs take it from the file on import; else type the BPM reported as
``info["midi"]["bpm"]``); the DAW's beat and bar lines are then a constant grid that drifts from
the song's beats where its tempo moves, and its bar 1 is at 0 s, not at the first downbeat.

The file's beats are quarter notes; its time signature is ``meter``/4 unless ``signature`` names
another one that fills the same bar (6/8 for 3 quarters, 12/8 for 6: a compound song, which the
arranger writes on quarter-note beats as the band MIDI files are).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from stemgen.arranger.grid import BeatGrid
from stemgen.midifile.io import MAX_QPM, MIN_QPM, _varlen, encode_track
from stemgen.midifile.meter import Meter
from stemgen.render.sounds import Sound

BASE_TPQ = 960
MAX_TICK_S = 0.001  # tick length cap: half a tick <= 0.5 ms
MIDI_TEMPOS = ("map", "constant")  # the song's beats as the tempo map (default), or one tempo


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: segment ``i`` starts at ``ticks[i]``; song beat ``b >= anchor`` is
    MIDI beat ``lead_beats + b - anchor``."""

    tpq: int
    ticks: np.ndarray  # int64
    us_per_quarter: np.ndarray  # int64
    anchor: int  # first song beat on a MIDI beat line (0, or 1 when beat 0 is too close to the start)
    lead_beats: int  # whole MIDI beats before the anchor beat
    bars_aligned: bool

    @property
    def lead_ticks(self) -> int:
        return self.lead_beats * self.tpq

    def tick_of_beat(self, beat) -> np.ndarray:
        return self.lead_ticks + (np.asarray(beat) - self.anchor) * self.tpq

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
        out = {"ticks_per_quarter": self.tpq, "tempo_events": int(self.ticks.size), "lead_in_beats": self.lead_beats,
               "first_beat_on_grid": self.anchor, "bars_aligned": self.bars_aligned}
        if self.ticks.size == 1:  # one tempo: the BPM a DAW project must be set to
            out["bpm"] = round(60e6 / float(self.us_per_quarter[0]), 4)
        return out


def checked_midi_tempo(value: str) -> str:
    """``value`` if it is one of ``MIDI_TEMPOS``; else ``ValueError`` naming the option."""
    if value not in MIDI_TEMPOS:
        raise ValueError(f"midi_tempo must be one of {', '.join(MIDI_TEMPOS)}, got {value!r}")
    return value


def constant_tempo_map(grid: BeatGrid) -> TempoMap:
    """One tempo for the whole file: the song's median beat period (whole microseconds a quarter,
    inside the readable 10-400 BPM). Time 0 is the audio's start; no lead-in, bars unaligned."""
    t = grid.beat_times
    period = float(np.median(np.diff(t))) if t.size > 1 else float(grid.period_after)
    period = min(max(period, 60.0 / MAX_QPM), 60.0 / MIN_QPM)
    tpq = min(BASE_TPQ * max(1, math.ceil(period / (BASE_TPQ * MAX_TICK_S))), 0x7FFF)
    return TempoMap(tpq, np.zeros(1, np.int64), np.array([int(round(period * 1e6))], np.int64), 0, 0, False)


def build_tempo_map(grid: BeatGrid, meter: int = 4, first_downbeat: int = 0) -> TempoMap:
    t = grid.beat_times
    periods = np.append(np.diff(t), grid.period_after)
    anchor, lead, aligned = _lead_in(t, grid.period_before, meter, first_downbeat)
    longest = max(float(periods.max()), t[anchor] / lead if lead else 0.0)  # the lead-in's beats count too
    tpq = min(BASE_TPQ * max(1, math.ceil(longest / (BASE_TPQ * MAX_TICK_S))), 0x7FFF)
    ticks, tempos = [], []
    now_us = 0.0
    if lead:
        ticks.append(0)
        tempos.append(int(round(t[anchor] * 1e6 / lead)))
        now_us = tempos[0] * lead
    for b in range(anchor, t.size):
        target = (t[b + 1] * 1e6) if b + 1 < t.size else now_us + periods[b] * 1e6
        us = int(round(target - now_us))  # rounded against the running total: no drift
        ticks.append(lead * tpq + (b - anchor) * tpq)
        tempos.append(us)
        now_us += us
    return TempoMap(tpq, np.array(ticks, np.int64), np.array(tempos, np.int64), anchor, lead, aligned)


def _lead_in(t: np.ndarray, period: float, meter: int, first_downbeat: int) -> tuple[int, int, bool]:
    """``(anchor beat, lead-in beats, bar lines on the downbeats?)``.

    The lead-in fills ``[0, t[anchor]]`` with whole beats at a readable tempo, as close to the
    song's as possible. The anchor is beat 0 when that puts the downbeats on bar lines; else the
    first of beats 1..meter that does (the beats before it fall inside the lead-in, their notes at
    their exact times: a DAW's bars matching the song's is worth more than a pickup's beat lines);
    else the first beat that leaves room for a lead-in at all (beat 0 under 0.15 s from the start
    does not, at 400 bpm), with bars unaligned.
    """
    song_bpm = 60.0 / period
    fallback = None
    for anchor in range(min(meter, t.size - 1) + 1):
        ta = float(t[anchor])

        def on_bar(lead: int) -> bool:
            return (first_downbeat - anchor + lead) % meter == 0

        if ta <= 1e-6:
            candidates = [0]
        else:
            lo, hi = max(1, math.ceil(ta * MIN_QPM / 60.0)), math.floor(ta * MAX_QPM / 60.0)
            candidates = list(range(lo, hi + 1))
        if not candidates:
            continue

        def closest(pool: list[int]) -> int:
            return min(pool, key=lambda n: abs(math.log(60.0 * n / ta / song_bpm)) if n else 0.0)

        aligned = [n for n in candidates if on_bar(n)]
        if aligned:
            return anchor, closest(aligned), True
        if fallback is None:
            fallback = (anchor, closest(candidates), False)
    if fallback is None:  # pragma: no cover - intervals >= 0.15 s leave room before beat 1
        raise AssertionError("no lead-in fits before the first beats")
    return fallback


def part_midi(onset_s: np.ndarray, offset_s: np.ndarray, pitch: np.ndarray, velocity: np.ndarray,
              tempo_map: TempoMap, sound: Sound, meter: int = 4, name: str | None = None,
              signature: Meter | None = None) -> bytes:
    """Type-1 SMF bytes: a conductor track (tempo map, time signature) and the part's track.
    ``signature``: the time signature written, a bar of ``meter`` quarters (default ``meter``/4)."""
    signature = signature or Meter(meter, 4)
    if signature.numerator * 4 != meter * signature.denominator:
        raise ValueError(f"a {signature.label} bar is not {meter} quarter notes")
    on = tempo_map.ticks_at(onset_s)
    off = np.maximum(tempo_map.ticks_at(offset_s), on + 1)
    notes = [(int(a), int(b), int(p), int(v)) for a, b, p, v in zip(on, off, pitch, velocity)]
    title = name or f"stemgen {sound.stem} ({sound.label})"
    part = encode_track(notes, sound.channel, sound.program, title)
    header = b"MThd" + struct.pack(">IHHh", 6, 1, 2, tempo_map.tpq)
    return header + _conductor_track(tempo_map, signature) + part


def _conductor_track(tempo_map: TempoMap, signature: Meter) -> bytes:
    body = bytearray()
    # Time signature; a metronome click each counted beat (24 MIDI clocks a quarter: 36 for the
    # dotted quarter of 6/8), 8 32nds a quarter.
    clocks = round(24 * signature.beat_quarters)
    log2_denominator = signature.denominator.bit_length() - 1
    body += b"\x00\xff\x58\x04" + bytes([max(1, min(255, signature.numerator)), log2_denominator, clocks, 8])
    last = 0
    for tick, us in zip(tempo_map.ticks.tolist(), tempo_map.us_per_quarter.tolist()):
        body += _varlen(tick - last) + b"\xff\x51\x03" + int(us).to_bytes(3, "big")
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)
