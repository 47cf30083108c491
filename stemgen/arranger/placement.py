"""Notes on the 16th-note grid -> timed notes in seconds on the song's beats.

Input: ``(start_step, end_step, pitch, velocity)`` rows (``STEPS_PER_BEAT`` steps a beat). Drum
notes ignore ``end_step`` (a hit is a one-shot; FluidSynth's kits ignore most drum note-offs but
cut cymbals on them): a hit lasts until the next hit of the same key, at most
``DRUM_MAX_BEATS`` beats. Pitched notes keep their length and move with their onset's jitter,
but end before the next note of the same key starts (a late note-off would silence it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.arranger.grid import BeatGrid
from stemgen.arranger.humanize import Humanization, jitter_onsets, tight_mask, vary_velocities
from stemgen.render.articulation import next_same_pitch_onset

DRUM_MAX_BEATS = 2.0
MIN_NOTE_S = 0.02  # shortest sounding note after humanisation


@dataclass
class TimedNotes:
    """Parallel arrays, sorted by onset: the grid position and where the note sounds."""

    start_step: np.ndarray
    end_step: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    onset_s: np.ndarray
    offset_s: np.ndarray

    def __len__(self) -> int:
        return int(self.pitch.size)

    def select(self, keep: np.ndarray) -> "TimedNotes":
        return TimedNotes(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def as_note_array(notes) -> np.ndarray:
    """``(n, 4)`` int64 array of ``(start_step, end_step, pitch, velocity)``; checks the values."""
    arr = np.asarray(notes, dtype=np.float64).reshape(-1, 4) if len(notes) else np.zeros((0, 4))
    if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
        raise ValueError("note rows must be whole numbers (start_step, end_step, pitch, velocity)")
    arr = arr.astype(np.int64)
    if np.any((arr[:, 2] < 0) | (arr[:, 2] > 127)) or np.any((arr[:, 3] < 1) | (arr[:, 3] > 127)):
        raise ValueError("note pitch must be 0-127 and velocity 1-127")
    if np.any(arr[:, 1] < arr[:, 0]):
        raise ValueError("a note ends before it starts (end_step < start_step)")
    return arr


def place_notes(notes, grid: BeatGrid, *, is_drums: bool, humanization: Humanization, seed: int,
                step_offsets=None) -> TimedNotes:
    """Timed, humanised notes for ``notes`` on ``grid`` (same seed, same result). ``step_offsets``:
    each note's timing in 16ths (learned from players), used instead of the Gaussian jitter."""
    arr = as_note_array(notes)
    offsets = np.zeros(len(arr)) if step_offsets is None else np.asarray(step_offsets, np.float64).reshape(-1)
    if offsets.size != len(arr):
        raise ValueError(f"step_offsets has {offsets.size} values for {len(arr)} notes")
    # One note per (step, key): a doubled note-on would be cut by its twin's note-off. Keep the louder.
    order = np.lexsort((-arr[:, 3], arr[:, 2], arr[:, 0]))
    arr, offsets = arr[order], offsets[order]
    if len(arr):
        first = np.ones(len(arr), dtype=bool)
        first[1:] = (arr[1:, 0] != arr[:-1, 0]) | (arr[1:, 2] != arr[:-1, 2])
        arr, offsets = arr[first], offsets[first]
    start, end, pitch, vel = arr.T
    rng = np.random.default_rng(seed)
    tight = tight_mask(pitch, is_drums)
    grid_on = grid.seconds_at_step(start)
    if step_offsets is None:
        onset = jitter_onsets(grid_on, tight, humanization, rng)
    else:  # the played timing, unless humanisation is off (every note exactly on the grid)
        onset = grid.seconds_at_step(start + offsets) if humanization.timing_ms > 0 else grid_on
    velocity = vary_velocities(vel, tight, humanization, rng)
    if is_drums:
        offset = onset + DRUM_MAX_BEATS * grid.period_at(onset)
    else:
        offset = grid.seconds_at_step(np.maximum(end, start + 1)) + (onset - grid_on)
    # A note-off must come before the next note-on of its key, even if that shortens it below
    # MIN_NOTE_S (notes one 16th apart at a fast tempo).
    offset = np.minimum(np.maximum(offset, onset + MIN_NOTE_S), next_same_pitch_onset(onset, pitch))
    onset = np.maximum(onset, 0.0)
    return TimedNotes(start, end, pitch, velocity, onset, offset)
