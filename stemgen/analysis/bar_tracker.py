"""Bar-aware Viterbi decoding of frame-wise beat and downbeat activations (a bar-pointer HMM).

The hidden state is (meter, tempo, position in the bar): for each meter in ``METERS`` and each
beat period ``p`` (whole frames, log-spaced between ``max_bpm`` and ``min_bpm``) the positions
``0 .. meter * p - 1``. Time moves the pointer one position a frame; at the end of each beat the
pointer may change tempo (probability ``exp(-TEMPO_LAMBDA * |p_new / p_old - 1|)``, normalised),
never meter. The first ``1 / OBS_LAMBDA`` of a beat (at least one frame) is a beat region: the first
beat's region observes the downbeat activation, the others the beat-but-not-downbeat activation,
every other state the lack of a beat (the observation model of Krebs, Böck & Widmer 2015/16, as
madmom's downbeat DBN; written here in numpy from the papers' description, sparse transitions:
only beat ends branch).

Settings chosen on the band set's valid split (24 songs x 4 contexts, learned activations; docs/EVALUATION.md):
decoding at the full 86 frames/s (at half the rate, max-pooled, whole-frame periods are too coarse and
octave errors rose from 12 % to 50 % without drums), 25 tempi between 55 and 215 BPM (40: same beat F,
60 % more CPU), tempo-change weight 30 (10 and 100-300 worse). A log-normal tempo prior around
``PRIOR_BPM`` (``PRIOR_OCTAVES`` wide) on the first state and again at every beat (``PRIOR_PER_BEAT``):
without it a sparse context whose every other beat is weak settles at the slowest tempo (the real
excerpt without drums at 55 BPM, refused); valid without drums octave errors 12 -> 8 %, beat F 0.87 ->
0.86 (on the first state only: no change; 40-215 BPM with the prior: octave errors 8-17 %, worse).
``decode`` returns beat times, which beat of the bar each is (1 = downbeat) and the meter.

``decode_fine`` decodes twice: the 25 log-spaced tempi choose the tempo (and so its octave), then every
whole-frame period within ``FINE_WIDTH`` of it (tempo-change weight ``FINE_LAMBDA``) places the beats
(where the first pass's tempo changes by more than that, also over its span, ``fine_range``: the
beats closer to the first pass's are kept; a 120 -> 90 BPM step was held at one tempo, beat F 0.66 ->
1.0. Valid, 24 songs x 4 contexts, band weights: beat F no drums 0.882 -> 0.882, no bass 0.931 ->
0.934, no guitar 0.945 -> 0.945, mix 0.932 -> 0.942; the span alone, without the choice, lost 0.01-0.02
beat F: a 115-BPM song read at 76).
The 25 tempi step 4-6 % apart (120 BPM is not among them: 114.8 or 123.0), so the first pass holds a
near tempo and corrects at tempo changes, its beats a few frames off; with every period nearby the
beats stay on the activation. Valid (24 songs x 4 contexts, cached activations; docs/EVALUATION.md
"Finer tempi"): beat F / downbeat F without drums 0.855 / 0.758 -> 0.882 / 0.810, without bass 0.870 /
0.655 -> 0.931 / 0.699, without guitar 0.924 / 0.780 -> 0.945 / 0.802, mix 0.894 / 0.754 -> 0.932 /
0.745, octave errors unchanged (8 %); width 1.08, 1.12, 1.2 and weight 30, 60, 100, 200 tried. Every
whole-frame period in 55-215 BPM in one pass (71 tempi) gained as much but doubled the octave errors
(8 -> 17 % without drums) and the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

METERS = (3, 4)
MIN_BPM, MAX_BPM = 55.0, 215.0
N_TEMPI = 25
TEMPO_LAMBDA = 30.0
OBS_LAMBDA = 16.0
EPS = 1e-7
PRIOR_BPM = 115.0  # centre of the log-normal tempo prior (valid: 105 lost the real excerpt, 125 the same as 115)
PRIOR_OCTAVES = 1.0  # its standard deviation in octaves (None: no prior)
PRIOR_PER_BEAT = 1.0  # the prior's weight again at every beat (0: on the first state only)
FINE_WIDTH = 1.12  # the second pass: tempi within this factor of the first pass's
FINE_LAMBDA = 100.0  # its tempo-change weight
CHANGE_BEATS = 8  # the running median of ``fine_range``'s local tempo (beats)
FINE_TEMPI = 400  # log-spaced tempi asked of ``state_space``: rounded, every whole-frame period in range


@dataclass(frozen=True)
class StateSpace:
    """Flat state arrays: ``meter``, ``period`` (frames), ``pos`` in the bar; entry/exit indices of beats."""

    meter: np.ndarray
    period: np.ndarray
    pos: np.ndarray
    entries: np.ndarray  # (n_meters, max_meter, n_tempi) state index of beat b's first position (-1 unused)
    exits: np.ndarray  # (n_meters, max_meter, n_tempi) state index of beat b's last position
    periods: np.ndarray
    obs_class: np.ndarray  # 0 no beat, 1 beat, 2 downbeat


@lru_cache(maxsize=8)
def state_space(frame_rate: float, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
                n_tempi: int = N_TEMPI, meters: tuple[int, ...] = METERS) -> StateSpace:
    lo, hi = 60.0 * frame_rate / max_bpm, 60.0 * frame_rate / min_bpm
    periods = np.unique(np.rint(np.geomspace(lo, hi, n_tempi)).astype(int))
    periods = periods[periods >= 2]
    meter, period, pos, obs = [], [], [], []
    entries = -np.ones((len(meters), max(meters), periods.size), dtype=np.int64)
    exits = -np.ones_like(entries)
    start = 0
    for mi, m in enumerate(meters):
        for ti, p in enumerate(periods):
            n = m * p
            q = np.arange(n)
            meter.append(np.full(n, m))
            period.append(np.full(n, p))
            pos.append(q)
            region = max(int(p / OBS_LAMBDA), 1)
            cls = np.where(q % p < region, 1, 0)
            cls[:region] = 2
            obs.append(cls)
            entries[mi, :m, ti] = start + np.arange(m) * p
            exits[mi, :m, ti] = start + (np.arange(m) + 1) * p - 1
            start += n
    return StateSpace(np.concatenate(meter), np.concatenate(period), np.concatenate(pos), entries, exits, periods,
                      np.concatenate(obs))


def tempo_transitions(periods: np.ndarray, lam: float = TEMPO_LAMBDA) -> np.ndarray:
    """log P(new period k | old period j), (j, k): exponential in the relative change."""
    ratio = periods[None, :] / periods[:, None]
    t = np.exp(-lam * np.abs(ratio - 1.0))
    t /= t.sum(axis=1, keepdims=True)
    return np.log(np.maximum(t, 1e-30))


def initial_log_prior(ss: StateSpace, frame_rate: float, prior_octaves: float | None) -> np.ndarray:
    """log P(first state): uniform, or log-normal in tempo around ``PRIOR_BPM`` (``prior_octaves`` wide)."""
    n_states = ss.pos.size
    if prior_octaves is None:
        return np.full(n_states, -np.log(n_states))
    octaves = np.log2(60.0 * frame_rate / ss.period / PRIOR_BPM)
    logp = -0.5 * (octaves / prior_octaves) ** 2 - np.log(ss.period * ss.meter)  # each tempo's states share its mass
    return logp - np.log(np.exp(logp - logp.max()).sum()) - logp.max()


def decode(beat_act: np.ndarray, downbeat_act: np.ndarray, frame_rate: float,
           meters: tuple[int, ...] = METERS, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
           tempo_lambda: float = TEMPO_LAMBDA, n_tempi: int = N_TEMPI,
           prior_octaves: float | None = PRIOR_OCTAVES, prior_per_beat: float = PRIOR_PER_BEAT) -> tuple[np.ndarray, np.ndarray, int]:
    """(beat times s, beat number in bar 1..meter, meter) of the most likely bar-pointer path.

    ``beat_act``: P(a beat at this frame) (downbeats included); ``downbeat_act``: P(a downbeat).
    """
    b = np.clip(np.asarray(beat_act, dtype=np.float64), 0.0, 1.0)
    d = np.clip(np.asarray(downbeat_act, dtype=np.float64), 0.0, 1.0)
    n = b.size
    if n < 4:
        return np.zeros(0), np.zeros(0, dtype=int), 4
    ss = state_space(round(frame_rate, 6), min_bpm, max_bpm, n_tempi, tuple(meters))
    log_t = tempo_transitions(ss.periods, tempo_lambda)
    # Observation log-likelihoods per frame and class (none, beat, downbeat).
    d = np.minimum(d, b)
    obs = np.stack([np.log(np.maximum(1.0 - b, EPS) / (OBS_LAMBDA - 1.0)),
                    np.log(np.maximum(b - d, EPS)), np.log(np.maximum(d, EPS))], axis=1)
    n_states = ss.pos.size
    valid = ss.entries >= 0  # (meters, beats, tempi)
    ent = ss.entries[valid]
    # For entry (meter mi, beat bb, tempo tk) the exits of (mi, bb - 1 mod meter, any tempo tj).
    prev_exit = np.empty_like(ss.exits)
    for mi, m in enumerate(meters):
        prev_exit[mi, :m] = np.roll(ss.exits[mi, :m], 1, axis=0)
    mi_idx, bb_idx, tk = np.nonzero(valid)
    src = prev_exit[mi_idx, bb_idx, :]  # (n_entries, n_tempi) exits feeding each entry
    trans = log_t[:, tk].T  # (n_entries, n_tempi_from)
    if prior_per_beat and prior_octaves is not None:  # every beat pays its tempo's prior again
        octaves = np.log2(60.0 * frame_rate / ss.periods[tk] / PRIOR_BPM)
        trans = trans - prior_per_beat * 0.5 * (octaves / prior_octaves)[:, None] ** 2
    back = np.empty((n, ent.size), dtype=np.int16)
    delta = initial_log_prior(ss, frame_rate, prior_octaves) + obs[0, ss.obs_class]
    # Per frame: every state moves one position (a shifted copy), the few beat entries take their best
    # exit, all add the "no beat" term and the few beat-region states the difference to theirs.
    beat_states, db_states = np.flatnonzero(ss.obs_class == 1), np.flatnonzero(ss.obs_class == 2)
    gain = obs[:, 1:] - obs[:, :1]  # (frames, 2): beat and downbeat over "no beat"
    rows = np.arange(ent.size)
    new = np.empty_like(delta)
    for t in range(1, n):
        cand = delta[src] + trans  # (n_entries, n_tempi)
        arg = np.argmax(cand, axis=1)
        new[1:] = delta[:-1]
        new[ent] = cand[rows, arg]
        back[t] = arg
        new += obs[t, 0]
        new[beat_states] += gain[t, 0]
        new[db_states] += gain[t, 1]
        delta, new = new - new.max(), delta
    # Backtrack: inside a tempo the pointer came from pos - 1; at an entry from the chosen exit.
    entry_row = -np.ones(n_states, dtype=np.int64)
    entry_row[ent] = np.arange(ent.size)
    path = np.empty(n, dtype=np.int64)
    s = int(np.argmax(delta))
    for t in range(n - 1, -1, -1):
        path[t] = s
        if t == 0:
            break
        r = entry_row[s]
        s = int(src[r, back[t, r]]) if r >= 0 else s - 1
    period, pos = ss.period[path], ss.pos[path]
    starts = np.flatnonzero((pos % period) == 0)
    frames = starts  # one frame per beat entry
    numbers = pos[starts] // period[starts] + 1
    meter = int(ss.meter[path[-1]])
    return frames / frame_rate, numbers.astype(int), meter


def decode_fine(beat_act: np.ndarray, downbeat_act: np.ndarray, frame_rate: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``decode``, then ``decode`` again over every whole-frame period within ``FINE_WIDTH`` of the
    first pass's tempo (inside ``MIN_BPM``-``MAX_BPM``): the first pass's tempo octave, finer beats."""
    beats, numbers, meter = decode(beat_act, downbeat_act, frame_rate)
    if beats.size < 4:
        return beats, numbers, meter
    ranges = [median_range(beats)]
    if (changing := fine_range(beats)) != ranges[0]:
        ranges.append(changing)
    fine = [decode(beat_act, downbeat_act, frame_rate, min_bpm=lo, max_bpm=hi, n_tempi=FINE_TEMPI,
                   tempo_lambda=FINE_LAMBDA) for lo, hi in ranges]
    return max(fine, key=lambda f: agreement(f[0], beats))  # the first of equals: the median's range


def median_range(beats: np.ndarray) -> tuple[float, float]:
    """Within ``FINE_WIDTH`` of the first pass's median tempo (inside ``MIN_BPM``-``MAX_BPM``)."""
    bpm = float(np.median(60.0 / np.diff(beats)))
    return max(bpm / FINE_WIDTH, MIN_BPM), min(bpm * FINE_WIDTH, MAX_BPM)


def fine_range(beats: np.ndarray) -> tuple[float, float]:
    """The second pass's tempo range where the first pass's tempo changes: its local tempo (a running
    median over ``CHANGE_BEATS`` beats) spanning more than ``FINE_WIDTH`` (10th to 90th percentile: a
    tempo change, as 120 -> 90 BPM), within ``FINE_WIDTH`` of that span; otherwise ``median_range``.
    ``decode_fine`` decodes in both and keeps the beats closer to the first pass's (``agreement``): a
    wider range also lets the fine pass settle on another tempo (valid: a 115-BPM song read at 76)."""
    bpm = 60.0 / np.diff(beats)
    lo = hi = float(np.median(bpm))
    if bpm.size >= 2 * CHANGE_BEATS:
        local = np.array([np.median(bpm[i : i + CHANGE_BEATS]) for i in range(bpm.size - CHANGE_BEATS + 1)])
        p10, p90 = np.percentile(local, [10, 90])
        if p90 / p10 > FINE_WIDTH:
            lo, hi = min(lo, float(p10)), max(hi, float(p90))
    return max(lo / FINE_WIDTH, MIN_BPM), min(hi * FINE_WIDTH, MAX_BPM)


def agreement(beats: np.ndarray, reference: np.ndarray, tolerance_s: float = 0.07) -> float:
    """F-measure of ``beats`` against ``reference`` (each matched within ``tolerance_s``, as mir_eval's)."""
    if beats.size == 0 or reference.size == 0:
        return 0.0
    hit = np.abs(beats[:, None] - reference[None, :]) <= tolerance_s
    precision, recall = hit.any(axis=1).mean(), hit.any(axis=0).mean()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))
