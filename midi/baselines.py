"""Two baselines for the evaluation, both as grid-step notes ``(start, end, pitch, velocity)``:

- ``other_song_part``: the same stem taken from another song, tiled/cut to this song's length
  (right style of part, wrong song: tells how much of a metric is "any real part" vs "this song");
- ``rule_part``: a fixed rule per stem: a rock beat (kick 1 & 3, snare 2 & 4, eighth hi-hats);
  bass on the context's lowest note (the chord root, roughly) at each kick, or each beat without
  drums, held to the next one; guitar triads (root, diatonic third, fifth) on every beat.
"""

from __future__ import annotations

import numpy as np

from .descriptors import estimate_key
from .features import drum_lanes, role_rolls
from .grid import SongGrid
from .lanes import DRUM_OUT_PITCH, PITCH_LOW

_MAJOR_STEPS = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR_STEPS = np.array([0, 2, 3, 5, 7, 8, 10])


def other_song_part(notes: list[tuple[int, int, int, int]], src_steps: int, n_steps: int) -> list[tuple[int, int, int, int]]:
    """``notes`` (from a song ``src_steps`` long) repeated to cover ``n_steps``."""
    out, offset = [], 0
    period = max(src_steps, 1)
    while offset < n_steps and notes:
        for s, e, p, v in notes:
            if s + offset < n_steps:
                out.append((s + offset, min(e + offset, n_steps), p, v))
        offset += period
    return out


def _context_bass_line(grid: SongGrid, stem: str) -> np.ndarray:
    """Lowest sounding non-drum context pitch per step (-1 where silent)."""
    sounding = np.zeros((grid.n_steps, 128), bool)
    for role in ("bass", "guitar", "other"):
        if role != stem:
            sounding |= role_rolls(grid, role)[1]
    return np.where(sounding.any(axis=1), np.argmax(sounding, axis=1), -1)


def rule_part(grid: SongGrid, stem: str) -> list[tuple[int, int, int, int]]:
    """The rule baseline for ``stem`` on ``grid`` (context = every other role)."""
    spb, n = grid.steps_per_beat, grid.n_steps
    beats = np.flatnonzero(grid.pos_in_bar % spb == 0)
    if stem == "drums":
        notes = []
        for s in np.flatnonzero(grid.pos_in_bar % (spb // 2 or 1) == 0):
            notes.append((int(s), int(s) + 1, int(DRUM_OUT_PITCH[2]), 80))
        for s in beats:
            beat_in_bar = grid.pos_in_bar[s] // spb
            pitch = DRUM_OUT_PITCH[0] if beat_in_bar % 2 == 0 else DRUM_OUT_PITCH[1]
            notes.append((int(s), int(s) + 1, int(pitch), 100))
        return sorted(notes)
    low = _context_bass_line(grid, stem)
    if stem == "bass":
        kicks = np.array([], dtype=np.int64)
        if grid.role_tracks("drums"):
            kicks = np.flatnonzero(drum_lanes(role_rolls(grid, "drums")[0])[:, 0])
        hits = kicks if kicks.size >= 8 else beats
        ends = np.append(hits[1:], n)
        notes = []
        for s, e in zip(hits, ends):
            if low[s] >= 0:
                pitch = PITCH_LOW["bass"] + 4 + (low[s] - PITCH_LOW["bass"] - 4) % 12  # E1..D#2
                notes.append((int(s), int(max(e, s + 1)), int(pitch), 90))
        return notes
    key = estimate_key(grid) or (0, "major")
    scale = (key[0] + (_MAJOR_STEPS if key[1] == "major" else _MINOR_STEPS)) % 12
    notes = []
    for s, e in zip(beats, np.append(beats[1:], n)):
        if low[s] < 0:
            continue
        pc = low[s] % 12
        root = 52 + (pc - 52) % 12  # E3..D#4
        if pc in scale:
            deg = int(np.flatnonzero(scale == pc)[0])
            third = root + (scale[(deg + 2) % 7] - pc) % 12
            fifth = root + (scale[(deg + 4) % 7] - pc) % 12
        else:
            third, fifth = root + 4, root + 7
        notes += [(int(s), int(e), int(p), 80) for p in (root, third, fifth)]
    return notes
