"""Roles (drums, bass, guitar, other), the reduced GM drum map and each role's pitch lanes.

The drum map follows the 9-class reduction used with the Groove MIDI Dataset (Gillick et al. 2019):
kick, snare, closed hi-hat, open hi-hat, low/mid/high tom, crash, ride. Every GM percussion key
maps to one class; keys outside the table count as closed hi-hat (keeps their timing).
"""

from __future__ import annotations

import numpy as np

from stemgen.stems import PITCHED_STEMS, REGISTRY, role_of_program

DRUM_CLASSES = ("kick", "snare", "closed_hat", "open_hat", "low_tom", "mid_tom", "high_tom", "crash", "ride")
# The pitch each class is written back as.
DRUM_OUT_PITCH = np.array([36, 38, 42, 46, 45, 48, 50, 49, 51], dtype=np.int64)
_DRUM_TABLE = {
    0: [35, 36],
    1: [27, 28, 31, 32, 33, 34, 37, 38, 39, 40, 56, 65, 66, 75, 85],
    2: [22, 42, 44, 54, 68, 69, 70, 71, 73, 78, 80],
    3: [26, 46, 67, 72, 74, 79, 81],
    4: [29, 41, 43, 45, 61, 64, 84],
    5: [47, 48, 60, 63, 77, 86, 87],
    6: [30, 50, 62, 76, 83],
    7: [49, 52, 55, 57, 58],
    8: [51, 53, 59, 82],
}
DRUM_CLASS_OF_PITCH = np.full(128, 2, dtype=np.int64)
for _cls, _pitches in _DRUM_TABLE.items():
    DRUM_CLASS_OF_PITCH[_pitches] = _cls

# Pitch lanes of the generated pitched parts: 48 semitones each, covering nearly all notes in the
# band set; notes outside are folded by octaves into the range.
PITCH_LOW = {s: REGISTRY[s].pitch_low for s in PITCHED_STEMS}
N_PITCHES = 48

# General MIDI program (0-based) of a new track (the kit's program for drums).
DEFAULT_PROGRAM = {s: spec.default_program for s, spec in REGISTRY.items()}


def track_role(program: int, is_drum: bool) -> str:
    """The role of a track from its GM program and drum flag (the registry's rule)."""
    return role_of_program(program, is_drum)


def fold_into_range(pitch: np.ndarray, low: int, n: int = N_PITCHES) -> np.ndarray:
    """Move pitches by octaves into ``[low, low + n)``."""
    pitch = np.asarray(pitch, dtype=np.int64).copy()
    while (pitch < low).any():
        pitch[pitch < low] += 12
    while (pitch >= low + n).any():
        pitch[pitch >= low + n] -= 12
    return pitch
