"""The learned tracker's grid: the bar-pointer HMM's beats, with the tempo octave and the bar phase
checked against the DSP's explicit evidence (``grid_decisions``).

The network (``learned_beats``) sees only 6 s of log-mel frames and its training songs; where it is
unsure of the metrical level (the HMM then settles at half or double tempo) or of the bar (its
downbeat activation weak), the DSP's fitted evidence knows the bass on the one and the chord
changes on bar lines. So:

* **tempo octave**: the decoded beats, their double (the midpoints added) and their half (every
  other beat, either phase) are scored by the DSP's grid score (``grid_evidence @ GRID_WEIGHTS``,
  the one ``choose_grid`` maximises) plus ``NET_WEIGHT`` times the network's own contrast (beat
  activation on the beats over that on the "&"); the best wins;
* **bar phase and meter**: each beat's accent is the DSP's fitted accent (``beat_accent_evidence @
  ACCENT_WEIGHTS``, bass onsets, bass-note and chord change, ...) plus ``DOWNBEAT_WEIGHT`` times the
  network's downbeat activation at the beat (both z-scored); ``downbeats.meter_and_phase`` chooses.

The weights were chosen on the band set's valid split (docs/EVALUATION.md, "Learned tracker").
"""

from __future__ import annotations

import numpy as np

from stemgen.analysis import bar_tracker
from stemgen.analysis import downbeats as dblib
from stemgen.analysis import grid_decisions as decisions

NET_WEIGHT = 1.0  # the network's on/off-beat contrast against the DSP grid score (octave choice)
KEEP_BONUS = 0.0  # score added to the HMM's own octave
DOWNBEAT_WEIGHT = 0.0  # the network's downbeat activation against the DSP accents (bar phase)
HMM_WEIGHT = 0.25
HMM_METER = False
OCTAVE_CHOICE = False
BAR_CHOICE = True


def learned_grid(act: np.ndarray, feats: decisions.GridFeatures) -> tuple[np.ndarray, np.ndarray, int]:
    """(beat times, downbeat times, meter) from (2, frames) beat/downbeat activations ``act`` and the
    DSP's frame features ``feats`` (the same frames)."""
    act = _fit(np.asarray(act, dtype=np.float64), feats.n)
    beats, numbers, meter = bar_tracker.decode(act[0], act[1], feats.fr)
    if beats.size < 4:
        return beats, beats[numbers == 1], meter
    if OCTAVE_CHOICE:
        chosen = choose_octave(beats, act[0], feats)
        if chosen is not beats:
            beats, numbers = chosen, None
    if BAR_CHOICE or numbers is None:
        accents = bar_accents(beats, act[1], feats)
        if numbers is not None:
            accents = accents + HMM_WEIGHT * decisions.z_scores((numbers == 1).astype(float))
        if HMM_METER and numbers is not None:
            phase = int(np.argmax([dblib.bar_contrast(accents, meter, p) for p in range(meter)]))
        else:
            meter, phase, _ = dblib.meter_and_phase(accents)
        return beats, beats[dblib.downbeat_indices(beats.size, meter, phase)], meter
    return beats, beats[numbers == 1], meter


def octave_candidates(beats: np.ndarray, last_time: float) -> list[np.ndarray]:
    """The beats, their double (midpoints added) and their half (every other beat, both phases)."""
    mids = beats[:-1] + np.diff(beats) / 2
    double = np.sort(np.concatenate([beats, mids]))
    return [beats, double, beats[0::2], beats[1::2]]


def choose_octave(beats: np.ndarray, beat_act: np.ndarray, feats: decisions.GridFeatures) -> np.ndarray:
    """The candidate of ``octave_candidates`` with the best DSP grid score plus the network's contrast."""
    best, best_score = beats, -np.inf
    for i, cand in enumerate(octave_candidates(beats, (feats.n - 1) / feats.fr)):
        if cand.size < 4:
            continue
        bpm = 60.0 / float(np.median(np.diff(cand)))
        if not bar_tracker.MIN_BPM * 0.7 <= bpm <= bar_tracker.MAX_BPM * 1.15:
            continue
        score = decisions.grid_evidence(feats, cand, False) @ decisions.GRID_WEIGHTS
        score += NET_WEIGHT * _contrast(feats, beat_act, cand) + (KEEP_BONUS if i == 0 else 0.0)
        if score > best_score:
            best, best_score = cand, score
    return best


def bar_accents(beats: np.ndarray, downbeat_act: np.ndarray, feats: decisions.GridFeatures) -> np.ndarray:
    """Per-beat evidence of a bar start: the DSP's fitted accents plus the network's downbeat activation."""
    dsp = decisions.beat_accent_evidence(feats, beats) @ decisions.ACCENT_WEIGHTS
    net = feats.peak(downbeat_act, beats)
    return decisions.z_scores(dsp) + DOWNBEAT_WEIGHT * decisions.z_scores(net)


def _contrast(feats: decisions.GridFeatures, row: np.ndarray, beats: np.ndarray) -> float:
    on, off = beats[:-1], beats[:-1] + np.diff(beats) / 2
    return float(np.log((feats.peak(row, on).mean() + 1e-3) / (feats.peak(row, off).mean() + 1e-3)))


def _fit(a: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad (rows, m) to ``n`` frames."""
    return a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))
