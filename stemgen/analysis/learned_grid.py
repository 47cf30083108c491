"""The learned tracker's grid: the bar-pointer HMM's beats (``bar_tracker.decode_fine``: its tempo from
25 coarse tempi, its beats from every whole-frame period near it), their phase and bar checked against
the DSP's explicit evidence (``grid_decisions``).

Beat phase: the decoded beats or the same grid moved half a beat (``half_shift``), whichever has
the higher ``phase_score``: the DSP's grid score (chord and bass-note change, bass onsets on the beat
rather than on the "&", ...) plus the log of the network's mean beat activation on it (valid: beat F
without bass 0.84 -> 0.87, without guitar 0.88 -> 0.92, without drums and in the mix unchanged; an
off-beat chord pattern at 150 BPM, ``tests/test_analysis_grid_decisions.py``, no longer pulls the beat).

The network (``learned_beats``) sees 6 s of log-mel frames at a time; where its downbeat activation
is weak or leans to the wrong beat (three held-out songs had the bar one beat off with every beat
right), the DSP's fitted accents know the bass on the one and the chord and bass-note changes on
bar lines. So each decoded beat's accent is the DSP's (``grid_decisions.bar_accents``: ``beat_accent_evidence
@ ACCENT_WEIGHTS``, unit std) plus ``HMM_WEIGHT`` times the HMM's own downbeats (0/1, unit std), and
``downbeats.meter_and_phase`` chooses meter and bar phase, as for the DSP tracker.

Chosen on the band set's valid split (24 songs x 4 contexts; docs/EVALUATION.md, "Learned tracker,
third round"): downbeat F without drums 0.70 (the HMM's downbeats) -> 0.76, the DSP accents alone
0.67; the network's downbeat activation at each beat added nothing beyond the HMM's choice; a
tempo-octave choice by the DSP's grid score over the decoded beats, their double and their half
gained 0.01 beat F on average and nothing without drums, so the HMM's tempo stays.
"""

from __future__ import annotations

import numpy as np

from stemgen.analysis import bar_tracker
from stemgen.analysis import downbeats as dblib
from stemgen.analysis import grid_decisions as decisions
from stemgen.analysis.beat_grid import subdivide

HMM_WEIGHT = 0.25  # the HMM's downbeats against the DSP's accents (valid: 0, 0.25, 0.5, 1 tried)
SILENCE_TOLERANCE_S = 0.07  # a beat this close to the first (last) sound belongs to the music
STEADY_BEATS = 8  # beats whose median period is counted through the silence
STEADY_RATIO = 0.05  # intervals within 5 % of their run's median: one tempo (a frame is 2 % at 120 BPM)
STRAIGHT_MAX_S = 0.025  # a run's line may pass this far from its beats (the HMM's drift is < 1 frame)
TIMING_MATCH_S = 0.05  # a decoded beat this close to a DSP beat is the same beat (timing)
TIMING_MIN_SHARE = 0.25  # ... for at least this share of the beats (a quarter: the DSP at half tempo keeps half)
RIVAL_TEMPO_RATIO = 1.06  # tempi closer than this (or than this to an octave) agree on the beat
PHASE_NET_WEIGHT = 1.0  # the network's on-beat activation against the DSP's grid score (valid: 0, 0.5, 1)


BAR_DECISIONS = ("accents+hmm", "evidence")


def learned_grid(act: np.ndarray, feats: decisions.GridFeatures, bars: str = "accents+hmm",
                 sounding: tuple[float, float] | None = None,
                 rival: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """(beat times, downbeat times, meter, margins) from (2, frames) beat/downbeat activations ``act``
    and the DSP's frame features ``feats`` (the same frames); margins: ``bar_start`` and
    ``bar_start_alternative`` (``downbeats.bar_start_margin`` of the accents that chose the bar) and
    ``tempo_octave`` (``octave_margin``), ``None`` where there are too few beats.

    ``bars`` (``BAR_DECISIONS``; per weights in ``learned_beats.BARS``): "accents+hmm" chooses meter and
    bar phase on the DSP's accents plus ``HMM_WEIGHT`` x the HMM's downbeats; "evidence" on the DSP's
    explicit evidence alone, exactly as the DSP tracker (``grid_decisions.meter_and_beats``, which may
    also move a 4/4 grid to its 3/4 twin on the "&", and ``bar_margin``).

    ``sounding``: (start, end) seconds of the audio above digital silence (``spectral.sounding_span``);
    the beats outside it are made steady (``steady_through_silence``). ``rival``: the DSP tracker's beats
    (``grid_decisions.grid_choice``), which replace the decoded ones where the two disagree on the beat
    (``rival_wins``; "evidence" bars only)."""
    if bars not in BAR_DECISIONS:
        raise ValueError(f"unknown bar decision {bars!r} ({', '.join(BAR_DECISIONS)})")
    act = np.asarray(act, dtype=np.float64)
    # "evidence" does not use the HMM's bars, so it decodes the beats alone: every beat observes half
    # the beat activation, downbeat or not (``meter_neutral``).
    downbeat_act = act[1] if bars == "accents+hmm" else meter_neutral(act[0])
    beats, numbers, meter = bar_tracker.decode_fine(act[0], downbeat_act, feats.fr)
    if sounding is not None:
        beats, numbers = steady_through_silence(beats, numbers, meter, sounding, (feats.n - 1) / feats.fr)
    beats = straighten_steady_runs(beats)
    margins = {"bar_start": None, "bar_start_alternative": 0, "tempo_octave": None}
    if beats.size < 4:
        return beats, beats[numbers == 1], meter, margins
    hmm_downbeats = (numbers == 1).astype(np.float64)
    shifted = decisions.half_shift(beats, (feats.n - 1) / feats.fr)
    if shifted.size >= 4 and phase_score(feats, act[0], shifted, True) > phase_score(feats, act[0], beats, False):
        beats, hmm_downbeats = shifted, np.zeros(shifted.size)  # the HMM's bar no longer applies
    if bars == "evidence":
        if rival is not None:
            beats = rival if rival_wins(feats, beats, rival) else timed_like(beats, rival)
        beats, meter, phase = decisions.meter_and_beats(feats, beats)
        bar, alternative = decisions.bar_margin(feats, beats, meter, phase)
    else:
        accents = decisions.bar_accents(feats, beats) + HMM_WEIGHT * decisions.unit_std(hmm_downbeats)
        meter, phase, _ = dblib.meter_and_phase(accents)
        bar, alternative = dblib.bar_start_margin(accents, meter, phase)
    margins.update(bar_start=None if np.isnan(bar) else bar, bar_start_alternative=alternative,
                   tempo_octave=octave_margin(feats, act[0], beats))
    return beats, beats[dblib.downbeat_indices(beats.size, meter, phase)], meter, margins


def rival_wins(feats: decisions.GridFeatures, beats: np.ndarray, rival: np.ndarray) -> bool:
    """Whether the DSP's grid ``rival`` should replace the decoded ``beats``: the two disagree on the beat
    itself (median tempi apart by more than ``RIVAL_TEMPO_RATIO``, and not by an octave, which the
    network decides better) and the DSP's explicit evidence (``grid_evidence @ GRID_WEIGHTS``, the score
    that chose ``rival`` among its candidates) scores ``rival`` higher.

    The cc weights were trained on renders; on real recordings they can lose the beat: a steady
    130-BPM jazz recording (Vibe Ace, a demo mix) read at 113 after its first 10 s, a 110-BPM one at 73
    (2:3), where the DSP, the band weights and librosa agree. Valid (24 songs): two songs change, beat
    F / downbeat F no drums 0.858 / 0.735 -> 0.881 / 0.768, no bass 0.884 / 0.683 -> 0.852 / 0.675
    (docs/EVALUATION.md, "learned-cc as the default")."""
    if rival.size < 4 or beats.size < 4:
        return False
    ratio = np.log2(float(np.median(np.diff(rival))) / float(np.median(np.diff(beats))))
    if min(abs(ratio), abs(ratio - 1.0), abs(ratio + 1.0)) <= np.log2(RIVAL_TEMPO_RATIO):
        return False
    return evidence_score(feats, rival) > evidence_score(feats, beats)


def evidence_score(feats: decisions.GridFeatures, beats: np.ndarray) -> float:
    """The DSP's fitted score of a grid as the beat (``grid_evidence @ GRID_WEIGHTS``, not half-shifted)."""
    return float(decisions.grid_evidence(feats, beats, False) @ decisions.GRID_WEIGHTS)


def timed_like(beats: np.ndarray, rival: np.ndarray) -> np.ndarray:
    """The decoded beats moved together by their median offset from the DSP's beats (each beat to the
    nearest DSP beat within ``TIMING_MATCH_S``), where at least ``TIMING_MIN_SHARE`` of them have one.

    The network's beats sit 10-25 ms early or late on some songs (valid, guitar removed: per-song median
    offsets from the MIDI's beats -25 to +39 ms, the DSP's grid, aligned on the onsets to a fraction of a
    frame, -5 to +2 ms on most). When the step features read the context's onsets inside each 16th, a
    grid 10 ms late put the onsets of the beat into the step before it and the arranger's guitar a 16th
    late (docs/EVALUATION.md, "The arranger on learned-cc's grid"; they now count each onset in its
    nearest 16th). The tempo, the octave and the bars stay the network's and the evidence's; only the
    timing is the DSP's."""
    if beats.size == 0 or rival.size == 0:
        return beats
    at = np.searchsorted(rival, beats)
    before = rival[np.clip(at - 1, 0, rival.size - 1)] - beats
    after = rival[np.clip(at, 0, rival.size - 1)] - beats
    offset = np.where(np.abs(after) < np.abs(before), after, before)
    matched = offset[np.abs(offset) <= TIMING_MATCH_S]
    if matched.size < TIMING_MIN_SHARE * beats.size:
        return beats
    return beats + float(np.median(matched))


def steady_through_silence(beats: np.ndarray, numbers: np.ndarray, meter: int, sounding: tuple[float, float],
                           last_time: float) -> tuple[np.ndarray, np.ndarray]:
    """The decoded beats (and their bar positions ``numbers``, 1..``meter``) with those in the silence
    before and after the music (``sounding``: start, end in seconds, ``SILENCE_TOLERANCE_S`` of slack)
    replaced by the sounding part's first (last) ``STEADY_BEATS`` beats' median period, counted out to
    the clip's edges (0 and ``last_time``).

    The HMM counts through silence with nothing to observe, so its beats there wander: a song with a
    4-s silent intro (100 BPM) had eight beats at 110 BPM before its first note, and the arranger's
    bars and section crashes shifted with them. Dropping those beats instead cost valid figures: the
    truth has beats where the removed part plays alone (docs/EVALUATION.md)."""
    inside = np.flatnonzero((beats >= sounding[0] - SILENCE_TOLERANCE_S) & (beats <= sounding[1] + SILENCE_TOLERANCE_S))
    if inside.size < STEADY_BEATS + 1:
        return beats, numbers
    first, last = int(inside[0]), int(inside[-1])
    lead_period = float(np.median(np.diff(beats[first : first + STEADY_BEATS + 1])))
    tail_period = float(np.median(np.diff(beats[last - STEADY_BEATS : last + 1])))
    n_lead = int(np.floor(beats[first] / lead_period + 1e-9))
    n_tail = int(np.floor((last_time - beats[last]) / tail_period + 1e-9))
    lead = beats[first] - lead_period * np.arange(n_lead, 0, -1)
    tail = beats[last] + tail_period * np.arange(1, n_tail + 1)
    lead_numbers = (numbers[first] - 1 - np.arange(n_lead, 0, -1)) % meter + 1
    tail_numbers = (numbers[last] - 1 + np.arange(1, n_tail + 1)) % meter + 1
    return (np.concatenate([lead, beats[first : last + 1], tail]),
            np.concatenate([lead_numbers, numbers[first : last + 1], tail_numbers]).astype(int))


def straighten_steady_runs(beats: np.ndarray) -> np.ndarray:
    """The decoded beats with each steady run (``STEADY_BEATS`` or more beats whose intervals stay within
    ``STEADY_RATIO`` of the run's median) moved onto its least-squares line where that line passes
    within ``STRAIGHT_MAX_S`` of every beat; a run the line does not fit is split at its most uneven
    interval and each part tried again, so a tempo step, a skipped beat or a drift keeps its shape.

    The HMM's beats are whole frames (11.6 ms) apart at a whole-frame period: at 115 BPM its 522-ms
    period drifted 18 ms from the true 521.7 ms before a one-frame jump (a held-out song; the DSP's
    grid, refined to a fraction of a frame, stays within 6 ms), and a part model then heard the
    context's onsets fall between its 16th steps."""
    out = np.asarray(beats, dtype=np.float64).copy()
    ibi = np.diff(out)
    start = 0
    for i in range(1, ibi.size + 1):  # a run of intervals ibi[start:i], beats start..i
        if i < ibi.size and np.all(np.abs(ibi[start : i + 1] / np.median(ibi[start : i + 1]) - 1.0) <= STEADY_RATIO):
            continue
        _straighten(out, start, i)
        start = i
    return out


def _straighten(beats: np.ndarray, first: int, last: int) -> None:
    """``straighten_steady_runs`` on the run of beats ``first..last`` (in place)."""
    if last - first + 1 < STEADY_BEATS:
        return
    idx = np.arange(first, last + 1)
    slope, intercept = np.polyfit(idx, beats[idx], 1)
    line = slope * idx + intercept
    if np.max(np.abs(line - beats[idx])) <= STRAIGHT_MAX_S:
        beats[idx] = line
        return
    ibi = np.diff(beats[idx])
    split = first + int(np.argmax(np.abs(ibi - np.median(ibi))))  # the interval split..split+1
    _straighten(beats, first, split)
    _straighten(beats, split + 1, last)


def meter_neutral(beat_act: np.ndarray) -> np.ndarray:
    """A downbeat activation that makes the HMM's every beat observe the same evidence (half the beat
    activation; its non-downbeat beats observe beat minus downbeat): the beats and tempo without a
    bar. The cc weights' downbeat activation fires on every tone of a bare pulse (a chord change on
    every beat), so beat-but-not-downbeat evidence vanished there and a steady 100-BPM tone pulse was
    read at 152 in 3/4 (beat F 0.41; 1.00 meter-neutral). Valid (24 songs, learned-cc, beat F /
    downbeat F): no drums 0.796 / 0.686 -> 0.849 / 0.725 (octave errors 21 -> 17 %), no bass 0.883 / 0.642
    -> 0.884 / 0.683, no guitar 0.854 / 0.727 -> 0.874 / 0.729, mix 0.897 / 0.798 -> 0.884 / 0.760."""
    return np.asarray(beat_act, dtype=np.float64) / 2.0


def octave_margin(feats: decisions.GridFeatures, beat_act: np.ndarray, beats: np.ndarray) -> float | None:
    """How much better the decoded beats' ``phase_score`` is than that of their double (the "&"s
    added) and of their half (every other beat, the better of the two): the HMM chose the tempo, this
    only says how clearly the DSP's evidence and the network's activation agree."""
    if beats.size < 8:
        return None
    alternatives = [subdivide(beats, 2), beats[0::2], beats[1::2]]
    alt = max(phase_score(feats, beat_act, b, False) for b in alternatives)
    return phase_score(feats, beat_act, beats, False) - alt


def phase_score(feats: decisions.GridFeatures, beat_act: np.ndarray, beats: np.ndarray, half_shifted: bool) -> float:
    """How much a grid looks like the beat rather than the "&": the DSP's grid score
    (``grid_evidence @ GRID_WEIGHTS``, as ``choose_grid``) plus ``PHASE_NET_WEIGHT`` x the log of the
    network's mean beat activation on it."""
    dsp = float(decisions.grid_evidence(feats, beats, half_shifted) @ decisions.GRID_WEIGHTS)
    return dsp + PHASE_NET_WEIGHT * float(np.log(feats.peak(beat_act, beats).mean() + 1e-3))
