"""Score a generated part against the real one on the *detected* grid of an audio example.

Both parts are ``(start_step, end_step, pitch, velocity)`` notes on the same detected 16th grid
(the real one from the example's stored target), so ``stemgen.midi.metrics`` applies as it is:
onset-only note F1 on 16th cells (pitch for bass/guitar, drum class for drums, plain onsets for
all), the onset density ratio, and for pitched parts the in-chord share (``harmony_fit``: the
note's pitch class sounds in the other tracks' notes at its onset, those notes also put on the
detected grid).
"""

from __future__ import annotations

import math

import numpy as np

from stemgen.midi.features import N_DRUM, N_PITCHES
from stemgen.midi.metrics import (
    Notes,
    harmony_fit,
    note_f1,
    onsets_per_beat,
    sounding_pitch_classes,
)
from stemgen.midifile.grid import roll_to_notes
from stemgen.midifile.lanes import DRUM_OUT_PITCH, PITCH_LOW

STEPS_PER_BEAT = 4
COLUMNS = ("note_f1", "pc_f1", "drum_f1", "onset_f1", "density_ratio", "in_chord")


def target_notes(target: dict[str, np.ndarray], stem: str) -> list[tuple[int, int, int, int]]:
    """Step notes of a stored target (``midi.features.encode_target`` format)."""
    if stem == "drums":
        lanes = target["drums"]  # (9, T)
        onset = np.zeros((lanes.shape[1], 128), np.uint8)
        for c in range(N_DRUM):
            onset[:, DRUM_OUT_PITCH[c]] = np.maximum(onset[:, DRUM_OUT_PITCH[c]], lanes[c])
        return roll_to_notes(onset, None, drum_steps=1)
    T = target["onset"].shape[1]
    onset = np.zeros((T, 128), np.uint8)
    sustain = np.zeros((T, 128), bool)
    low = PITCH_LOW[stem]
    onset[:, low : low + N_PITCHES] = target["onset"].T
    sustain[:, low : low + N_PITCHES] = target["sustain"].T
    return roll_to_notes(onset, sustain)


def _notes(steps, is_drum: bool) -> Notes:
    return Notes.from_tuples(steps, STEPS_PER_BEAT, is_drum)


def score_part(part, real, stem: str, n_steps: int, context_notes=None) -> dict[str, float]:
    """Columns for one part (``part``/``real``: step notes; ``context_notes``: pitched step notes of
    the other tracks for ``in_chord``). NaN where a column does not apply."""
    drums = stem == "drums"
    p, r = _notes(part, drums), _notes(real, drums)
    n_beats = n_steps / STEPS_PER_BEAT
    out = {c: math.nan for c in COLUMNS}
    out["density_ratio"] = onsets_per_beat(p, n_beats) / max(onsets_per_beat(r, n_beats), 1e-9)
    out["onset_f1"] = note_f1(p, r, "onset")
    if drums:
        out["drum_f1"] = note_f1(p, r, "drum_class")
        return out
    out["note_f1"] = note_f1(p, r, "pitch")
    out["pc_f1"] = note_f1(p, r, "pitch_class")
    if context_notes is not None and len(p):
        ctx = _notes(context_notes, False)
        out["in_chord"] = harmony_fit(p, sounding_pitch_classes(ctx, n_steps + 1))
    return out
