"""Quantised multitrack grid: MIDI ticks → steps of ``1/steps_per_beat`` quarter note, and back.

Why ticks: a MIDI file's ticks are already musical time (``tpq`` ticks a quarter note), so a grid
in ticks follows every tempo change for free; the tempo map is kept alongside only to turn steps
back into seconds. Time signatures give the bar lines (``bar_start``, ``pos_in_bar``), so the model
sees where bars begin in 3/4, 6/8 or 7/8 just as in 4/4.

Triplets and swing: with ``steps_per_beat=4`` (what the bundled models use) triplet notes and swung
eighths snap to the nearest sixteenth (a swung "and" at 2/3 of the beat lands on the last
sixteenth); micro-timing is dropped. ``steps_per_beat=12`` holds sixteenths and eighth/sixteenth
triplets exactly (lcm of 4 and 3 — and 6 for sixteenth-triplets), at 3x the length; the note-loss
figure is reported for both.

Each track is two ``(T, 128)`` arrays: ``onset`` (velocity at the step a note starts, 0 = none)
and ``sustain`` (the pitch sounds during the step). Decoding starts a note at each onset and holds
it while ``sustain`` stays on and no new onset of that pitch comes. What the grid cannot hold:
two notes of one pitch starting in the same step of a track (the louder one is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stemgen.midifile.io import MidiSong, TrackNotes
from stemgen.midifile.lanes import track_role


@dataclass
class TrackGrid:
    """One track on the grid."""

    name: str
    program: int
    is_drum: bool
    role: str  # drums | bass | guitar | other
    onset: np.ndarray  # (T, 128) uint8 velocity
    sustain: np.ndarray  # (T, 128) bool

    @property
    def n_onsets(self) -> int:
        return int(np.count_nonzero(self.onset))


@dataclass
class SongGrid:
    """A song on the grid: tracks plus the bar structure and the tempo map."""

    steps_per_beat: int
    tpq: int
    n_steps: int
    tracks: list[TrackGrid]
    bar_start: np.ndarray  # (T,) bool
    pos_in_bar: np.ndarray  # (T,) int, steps since the bar line
    bar_steps: np.ndarray  # (T,) int, length of the current bar in steps
    tempos: list[tuple[int, float]] = field(default_factory=list)
    time_signatures: list[tuple[int, int, int]] = field(default_factory=list)
    dropped_notes: int = 0  # notes merged away by quantisation (same pitch, same step, same track)

    @property
    def step_ticks(self) -> float:
        return self.tpq / self.steps_per_beat

    def seconds_at_step(self, steps: np.ndarray | float) -> np.ndarray:
        """Seconds at step positions, following the tempo map."""
        song = MidiSong("", self.tpq, [], self.tempos, self.time_signatures)
        return song.seconds_at(np.asarray(steps, dtype=np.float64) * self.step_ticks)

    def role_tracks(self, role: str) -> list[TrackGrid]:
        return [t for t in self.tracks if t.role == role]

    def roles(self) -> set[str]:
        return {t.role for t in self.tracks}

    def tempo_at_steps(self) -> np.ndarray:
        """Quarter notes per minute at each step."""
        ticks = np.array([t for t, _ in self.tempos], dtype=np.float64)
        qpm = np.array([q for _, q in self.tempos])
        idx = np.clip(np.searchsorted(ticks, np.arange(self.n_steps) * self.step_ticks, side="right") - 1, 0, None)
        return qpm[idx]


def bar_structure(
    sigs: list[tuple[int, int, int]], n_steps: int, step_ticks: float, tpq: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bar_start``, ``pos_in_bar`` and ``bar_steps`` per step from (tick, num, den) events."""
    bar_start = np.zeros(n_steps, dtype=bool)
    pos = np.zeros(n_steps, dtype=np.int64)
    length = np.zeros(n_steps, dtype=np.int64)
    for i, (tick, num, den) in enumerate(sigs):
        seg_end = sigs[i + 1][0] if i + 1 < len(sigs) else None
        bar_ticks = num * tpq * 4 / den
        first = int(round(tick / step_ticks))
        last = n_steps if seg_end is None else min(n_steps, int(round(seg_end / step_ticks)))
        if first >= last:
            continue
        steps = np.arange(first, last)
        bar_idx = np.floor((steps * step_ticks - tick) / bar_ticks + 1e-9).astype(np.int64)
        bar_first_step = np.round((tick + bar_idx * bar_ticks) / step_ticks).astype(np.int64)
        pos[first:last] = np.maximum(steps - bar_first_step, 0)
        length[first:last] = max(1, int(round(bar_ticks / step_ticks)))
        bar_start[first:last] = pos[first:last] == 0
    return bar_start, pos, length


def quantise_track(tr: TrackNotes, n_steps: int, step_ticks: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``(onset, sustain, dropped)`` for one track's notes."""
    onset = np.zeros((n_steps, 128), dtype=np.uint8)
    sustain = np.zeros((n_steps, 128), dtype=bool)
    on = np.floor(tr.start / step_ticks + 0.5).astype(np.int64)
    off = np.floor((tr.start + tr.duration) / step_ticks + 0.5).astype(np.int64)
    off = np.minimum(np.maximum(off, on + 1), n_steps)
    on = np.minimum(on, n_steps - 1)
    # Louder notes last so that their velocity wins a collision.
    order = np.argsort(tr.velocity, kind="stable")
    np.maximum.at(onset, (on[order], tr.pitch[order]), tr.velocity[order].astype(np.uint8))
    dropped = len(tr) - int(np.count_nonzero(onset))
    # Sustain: difference array along time, cumulative sum; only over the pitches in use (fast).
    used, col = np.unique(tr.pitch, return_inverse=True)
    diff = np.zeros((used.size, n_steps + 1), dtype=np.int32)
    np.add.at(diff, (col, on), 1)
    np.add.at(diff, (col, off), -1)
    sustain[:, used] = (np.cumsum(diff[:, :-1], axis=1) > 0).T
    return onset, sustain, dropped


def song_to_grid(song: MidiSong, steps_per_beat: int = 4) -> SongGrid:
    """Quantise every track of ``song`` onto the grid."""
    step_ticks = song.tpq / steps_per_beat
    n_steps = int(np.ceil(song.end_tick / step_ticks)) + 1
    tracks, dropped = [], 0
    for tr in song.tracks:
        onset, sustain, lost = quantise_track(tr, n_steps, step_ticks)
        dropped += lost
        tracks.append(TrackGrid(tr.name, tr.program, tr.is_drum, track_role(tr.program, tr.is_drum), onset, sustain))
    bar_start, pos, length = bar_structure(song.time_signatures, n_steps, step_ticks, song.tpq)
    return SongGrid(
        steps_per_beat, song.tpq, n_steps, tracks, bar_start, pos, length,
        list(song.tempos), list(song.time_signatures), dropped,
    )


def roll_to_notes(
    onset: np.ndarray, sustain: np.ndarray | None, drum_steps: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Notes ``(start_step, end_step, pitch, velocity)`` from an onset/sustain roll.

    With ``drum_steps`` set, notes last that many steps and ``sustain`` is ignored.
    """
    n_steps = onset.shape[0]
    on_t = np.ascontiguousarray(onset.T)  # pitch-major: each pitch's timeline is contiguous
    sus_t = np.ascontiguousarray(sustain.T) if sustain is not None else None
    notes: list[tuple[int, int, int, int]] = []
    for pitch in np.flatnonzero(on_t.max(axis=1)):
        row = on_t[pitch]
        starts = np.flatnonzero(row)
        if drum_steps is not None or sus_t is None:
            ends = np.minimum(starts + (drum_steps or 1), n_steps)
        else:
            # A note ends at the first step after its onset where the pitch stops or restarts.
            stops = np.flatnonzero(~sus_t[pitch] | (row > 0))
            nxt = np.searchsorted(stops, starts, side="right")
            ends = np.where(nxt < stops.size, stops[np.minimum(nxt, stops.size - 1)], n_steps)
            ends = np.maximum(ends, starts + 1)
        notes.extend(zip(starts.tolist(), ends.tolist(), [int(pitch)] * starts.size, row[starts].tolist()))
    notes.sort()
    return notes


def track_to_tick_notes(track: TrackGrid, step_ticks: float) -> list[tuple[int, int, int, int]]:
    """A grid track back to ``(start_tick, end_tick, pitch, velocity)`` notes."""
    notes = roll_to_notes(track.onset, track.sustain, drum_steps=1 if track.is_drum else None)
    if not notes:
        return []
    arr = np.array(notes, dtype=np.float64)
    arr[:, :2] = np.round(arr[:, :2] * step_ticks)
    return [tuple(r) for r in arr.astype(np.int64).tolist()]
