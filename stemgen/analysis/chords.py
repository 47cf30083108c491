"""A major/minor triad label (or "N") per beat, by template matching of beat-synchronous chroma.

mir_eval's ``majmin`` vocabulary: 12 major + 12 minor triads and "N" (no chord). Each beat's
chroma is averaged over the beat and its two neighbours (chords rarely change every beat; this
stands in for an HMM) and compared with binary triad templates by cosine similarity. The same
function labels MIDI pitch content for the ground truth (``ground_truth.chords_from_midi``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stemgen.analysis.key import PITCH_CLASSES

NO_CHORD = "N"
# Below this share of the song's median beat chroma energy a beat is "N" (silence, drums only).
MIN_RELATIVE_ENERGY = 0.05


def chord_labels(beat_chroma: np.ndarray, smooth: bool = True) -> list[str]:
    """mir_eval labels (``"A:min"``, ``"C:maj"``, ``"N"``) for ``(12, n_beats)`` chroma."""
    c = np.asarray(beat_chroma, dtype=np.float64)
    if c.size == 0:
        return []
    energy = c.sum(axis=0)
    if smooth and c.shape[1] >= 3:
        padded = np.pad(c, ((0, 0), (1, 1)), mode="edge")
        c = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    unit = c / (np.linalg.norm(c, axis=0, keepdims=True) + 1e-12)
    best = np.argmax(_templates() @ unit, axis=0)
    ref = float(np.median(energy[energy > 0])) if np.any(energy > 0) else 0.0
    labels = []
    for j, k in enumerate(best):
        if ref <= 0 or energy[j] < MIN_RELATIVE_ENERGY * ref:
            labels.append(NO_CHORD)
        else:
            labels.append(f"{PITCH_CLASSES[k % 12]}:{'maj' if k < 12 else 'min'}")
    return labels


def beat_synchronous(frames: np.ndarray, frame_times: np.ndarray, beat_times: np.ndarray, end_s: float) -> np.ndarray:
    """``(rows, n_beats)`` mean of ``frames`` over each beat interval (the last one runs to ``end_s``)."""
    bounds = np.append(beat_times, max(end_s, beat_times[-1] + 1e-3) if beat_times.size else end_s)
    idx = np.searchsorted(frame_times, bounds)
    out = np.zeros((frames.shape[0], beat_times.size))
    for j in range(beat_times.size):
        a, b = idx[j], max(idx[j + 1], idx[j] + 1)
        out[:, j] = frames[:, a:b].mean(axis=1) if a < frames.shape[1] else 0.0
    return out


@lru_cache(maxsize=1)
def _templates() -> np.ndarray:
    """(24, 12) unit triad templates: C..B major, then C..B minor."""
    rows = []
    for third in (4, 3):
        for root in range(12):
            t = np.zeros(12)
            t[[root, (root + third) % 12, (root + 7) % 12]] = 1.0
            rows.append(t / np.linalg.norm(t))
    return np.array(rows)
