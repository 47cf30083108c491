"""Meter and downbeats from tracked beats: where bass onsets and chord changes concentrate.

No maintained library without non-commercial model weights finds downbeats (librosa has none;
madmom's networks are CC BY-NC-SA), so this is a small, measured heuristic: each beat gets an
accent score (low-band onset strength at the beat plus the chroma change into the beat, each
z-scored over the song), and the meter and bar phase whose bar-first beats carry the most accent
win. Accuracy against MIDI tempo maps is in docs/EVALUATION.md ("Audio analysis").
"""

from __future__ import annotations

import numpy as np

METERS = (4, 3)  # beats per bar tried, in order of preference
# 3/4 must beat 4/4 by this much accent contrast (z units): most songs are in 4/4, and the
# contrast of a 1-in-3 selection of few beats comes out high by chance. Chosen on 24 validation
# songs (mix and context, 48 cases, 4 in 3/4): meter right in 79 % at 0, 85 % at 0.25, 90 % at
# 0.75 (3 of the 4 waltzes still found); calling everything 4/4 would score 92 % there.
THREE_FOUR_MARGIN = 0.75


def beat_accents(beat_frames: np.ndarray, low_onset: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """(n_beats,) accent score: z(low-band onset at the beat) + z(chroma change into the beat)."""
    n = beat_frames.size
    if n == 0:
        return np.zeros(0)
    frames = np.clip(beat_frames, 0, low_onset.size - 1)
    lo = np.array([low_onset[max(f - 2, 0) : f + 3].max() for f in frames])
    bounds = np.append(frames, chroma.shape[1])
    sync = np.stack([chroma[:, a:max(b, a + 1)].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)
    sync = sync / (np.linalg.norm(sync, axis=0, keepdims=True) + 1e-9)
    change = np.zeros(n)
    change[1:] = 1.0 - np.sum(sync[:, 1:] * sync[:, :-1], axis=0)  # cosine distance to the previous beat
    return _z(lo) + _z(change)


def meter_and_phase(accents: np.ndarray) -> tuple[int, int, float]:
    """(beats per bar, index of the first downbeat, accent contrast) for per-beat ``accents``."""
    best: dict[int, tuple[float, int]] = {}
    for m in METERS:
        if accents.size < 2 * m:
            continue
        scores = [bar_contrast(accents, m, p) for p in range(m)]
        p = int(np.argmax(scores))
        best[m] = (float(scores[p]), p)
    if not best:
        return 4, 0, 0.0
    meter = 4 if 4 in best else 3
    if 3 in best and 4 in best and best[3][0] > best[4][0] + THREE_FOUR_MARGIN:
        meter = 3
    return meter, best[meter][1], best[meter][0]


def bar_start_margin(accents: np.ndarray, meter: int, phase: int) -> tuple[float, int]:
    """(margin, runner-up): how much more bar accent contrast the chosen bar phase ``phase`` has than
    the best other phase of ``meter`` (z units of the unit-std accents; 0: a tie), and that runner-up's
    place in beats after the chosen downbeat (2 in 4/4: the bar starting on beat 3). ``(nan, 0)``
    when there are too few beats to compare phases."""
    if accents.size < 2 * meter or meter < 2:
        return float("nan"), 0
    scores = np.array([bar_contrast(accents, meter, p) for p in range(meter)])
    others = [(scores[p], (p - phase) % meter) for p in range(meter) if p != phase]
    best_other, offset = max(others)
    return float(scores[phase] - best_other), int(offset)


def downbeat_indices(n_beats: int, meter: int, phase: int) -> np.ndarray:
    return np.arange(phase, n_beats, meter)


def bar_contrast(accents: np.ndarray, meter: int, phase: int) -> float:
    on = np.arange(accents.size) % meter == phase
    return float(accents[on].mean() - accents[~on].mean())


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x, dtype=np.float64)
