"""Is there a beat to follow? A confidence in [0, 1] and the refusal the arranger raises.

``beat_confidence`` is the pulse clarity of the onset envelope at the tracked beat period: the
Pearson correlation of the envelope with itself 1, 2, 3 and 4 beats later (each the best lag
within ±2 frames, to absorb drift), averaged. Steady music repeats its onset pattern over a bar;
free time (rubato) may repeat an interval once but not four beats on. Measured (tests/
test_analysis_reliability.py, docs/EVALUATION.md): rendered songs 0.2-0.8 with or without
their drums, the real multitrack's context 0.21 (mix 0.30); white noise 0.03, amplitude-modulated
noise ("babble") 0.08, random-interval tone sequences (rubato) 0.06-0.11. ``MIN_BEAT_CONFIDENCE``
sits between the two groups; the margin above rubato is thin, so the refusal says why. The learned
tracker's confidence is its network's own (``activation_pulse``, below), with its own thresholds.
"""

from __future__ import annotations

import numpy as np

from stemgen.errors import StemgenInputError

MIN_BEAT_CONFIDENCE = 0.15
CLARITY_BEATS = (1, 2, 3, 4)  # lags (in beats) whose self-correlations are averaged
MIN_BEATS = 8  # two bars of 4/4 ...
# ... or, in a short clip at a slow tempo (5 s at 66 BPM holds 5-6 beats), this many beats that
# cover the clip: the pulse is there, the clip is short.
MIN_BEATS_COVERING = 5
MIN_COVER = 0.75  # share of the clip between the first and the last beat (plus one period)
MIN_DURATION_S = 4.0


class BeatTrackingError(StemgenInputError):
    """No reliable beat in the audio (silence, noise, speech, free time, too short, extreme tempo)."""


def pulse_clarity(onset_env: np.ndarray, period_frames: float) -> float:
    """Mean over ``CLARITY_BEATS`` lags of the best envelope self-correlation near each, clipped to [0, 1]."""
    env = np.asarray(onset_env, dtype=np.float64)
    if period_frames <= 0 or env.size < 2 * max(CLARITY_BEATS) * period_frames or env.std() <= 0:
        return 0.0
    corr = lag_correlations(env, int(round(max(CLARITY_BEATS) * period_frames)) + 2)
    return float(np.clip(_clarity(corr, period_frames), 0.0, 1.0))


def lag_correlations(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Pearson correlation of ``x[:-lag]`` with ``x[lag:]`` for lags 0..max_lag (0 where a side is
    constant or shorter than 8): the cross sums by one FFT, the sides' means and spreads by cumulative sums."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    max_lag = min(max_lag, n - 1)
    spec = np.fft.rfft(x, 2 * n)
    cross = np.fft.irfft(spec * np.conj(spec), 2 * n)[: max_lag + 1]
    c1, c2 = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(x * x)])
    lags = np.arange(max_lag + 1)
    m = n - lags
    sa, sb = c1[m], c1[n] - c1[lags]  # sums of x[:-lag] and x[lag:]
    qa, qb = c2[m], c2[n] - c2[lags]
    var_a, var_b = qa - sa * sa / m, qb - sb * sb / m
    cov = cross - sa * sb / m
    ok = (m >= 8) & (var_a > 1e-12 * m) & (var_b > 1e-12 * m)
    return np.where(ok, cov / np.sqrt(np.maximum(var_a * var_b, 1e-300)), 0.0)


def _clarity(corr: np.ndarray, period_frames: float) -> float:
    """Mean over ``CLARITY_BEATS`` of the best of ``corr`` within ±2 lags of k beats."""
    values = []
    for k in CLARITY_BEATS:
        lag0 = int(round(k * period_frames))
        values.append(corr[max(lag0 - 2, 1) : lag0 + 3].max())
    return float(np.mean(values))


# The learned tracker's own evidence (issue 18). The DSP envelope's clarity at the decoded period
# refused a steady held-out 110 BPM song without drums (0.11) and let a babble through (0.18), so the
# learned path asks its network instead: ``activation_pulse``, the clarity of the beat activation at
# its own clearest tempo (whatever tempo the decoder chose), and, for noise whose envelope happens to
# be periodic (the babble test signal changes level every 1/6 s exactly), ``tonality``. Calibrated
# (scripts/eval_analysis.py, docs/EVALUATION.md "Refusals of the learned tracker"): band renders of the
# train and valid splits, every context, >= 0.36 (but a train song that is all guitar, without its guitar:
# 0.18, refused, as by the DSP's clarity); Groove MIDI drum-only renders and the real drum stem
# 0.32-0.67; white noise, speech-like voiced syllables, rubato and gamma-interval tone sequences (6
# draws each) <= 0.15; babble 0.29-0.42 but tonality 0.002-0.003 (music >= 0.07, drums alone >= 0.034).
MIN_ACTIVATION_PULSE = 0.25
NOISE_TONALITY = 0.015
NOISE_MAX_PULSE = 0.5  # a pulse this clear is followed whatever the spectrum (a drum loop)


def activation_pulse(beat_act: np.ndarray, frame_rate: float) -> float:
    """The best ``pulse_clarity`` of ``beat_act`` over the learned decoder's beat periods (its tempo
    range, ``bar_tracker.MIN_BPM``-``MAX_BPM``, in half-frame steps)."""
    from stemgen.analysis.bar_tracker import MAX_BPM, MIN_BPM

    act = np.asarray(beat_act, dtype=np.float64)
    # As ``pulse_clarity``: the longest lag at most half the clip (a short clip loses the slowest tempi).
    lo, hi = 60.0 * frame_rate / MAX_BPM, min(60.0 * frame_rate / MIN_BPM, act.size / (2 * max(CLARITY_BEATS)))
    if hi < lo or act.std() <= 0:
        return 0.0
    corr = lag_correlations(act, int(max(CLARITY_BEATS) * hi) + 3)
    return float(np.clip(max(_clarity(corr, p) for p in np.arange(lo, hi, 0.5)), 0.0, 1.0))


def tonality(chroma: np.ndarray) -> float:
    """1 - the median over sounding frames of the chroma's normalised entropy: ~0 for noise, whose
    energy spreads over every pitch class; 0.03-0.09 for drums alone, 0.07-0.46 for band music."""
    c = np.asarray(chroma, dtype=np.float64)
    total = c.sum(axis=0) if c.size else np.zeros(0)
    keep = total > 1e-9
    if not keep.any():
        return 0.0
    p = c[:, keep] / total[keep]
    entropy = -(p * np.log(p + 1e-12)).sum(axis=0) / np.log(c.shape[0])
    return float(1.0 - np.median(entropy))


def refusal_reason(analysis) -> str | None:
    """Why ``analysis`` has no usable beat grid, in one line; ``None`` when it has one, and always
    for a grid the user gave (``Analysis.user_grid``: a beats file, or BPM + downbeat)."""
    from stemgen.analysis.beats import MAX_BPM, MIN_BPM

    if analysis.user_grid:
        return None
    if analysis.silent:
        return "the audio is silent (below -60 dBFS): no beat to follow"
    if analysis.duration_s < MIN_DURATION_S:
        return f"the clip is {analysis.duration_s:.1f} s long: at least {MIN_DURATION_S:.0f} s are needed to find a beat"
    if analysis.beat_times.size < MIN_BEATS and not _beats_cover_the_clip(analysis):
        return (f"only {analysis.beat_times.size} beats found (need {MIN_BEATS}, or {MIN_BEATS_COVERING} "
                "across the clip): no steady pulse")
    from stemgen.analysis.learned_beats import MODELS

    learned = analysis.backend in MODELS
    least = MIN_ACTIVATION_PULSE if learned else MIN_BEAT_CONFIDENCE
    if analysis.beat_confidence < least:
        return (f"no reliable beat (confidence {analysis.beat_confidence:.2f} < {least}): "
                "free time, speech, noise or too sparse a context" + _GIVE_IT)
    if learned and analysis.beat_confidence < NOISE_MAX_PULSE and (t := tonality(analysis.chroma)) < NOISE_TONALITY:
        return (f"no reliable beat (noise: tonality {t:.3f} < {NOISE_TONALITY}, confidence "
                f"{analysis.beat_confidence:.2f} < {NOISE_MAX_PULSE})" + _GIVE_IT)
    if not MIN_BPM <= analysis.tempo_bpm <= MAX_BPM:
        return f"tempo {analysis.tempo_bpm:.1f} BPM is outside {MIN_BPM:.0f}-{MAX_BPM:.0f} BPM"
    return None


def _beats_cover_the_clip(analysis) -> bool:
    """At least ``MIN_BEATS_COVERING`` beats spanning ``MIN_COVER`` of the clip (with one period)."""
    beats = np.asarray(analysis.beat_times, dtype=np.float64)
    if beats.size < MIN_BEATS_COVERING:
        return False
    span = beats[-1] - beats[0] + float(np.median(np.diff(beats)))
    return span >= MIN_COVER * analysis.duration_s


_GIVE_IT = " (if it has a beat, give it: --bpm with --downbeat, or --beats FILE)"


def require_beats(analysis, file=None) -> None:
    """Raise ``BeatTrackingError`` (naming ``file``) when the analysis has no usable beat grid."""
    reason = refusal_reason(analysis)
    if reason is not None:
        raise BeatTrackingError(file, reason)


# A steady tone or drone: its spectrum barely changes from frame to frame, though the slow beating
# of its partials can look like a clear pulse (a 110 Hz chord drone scored 0.73). The 90th
# percentile of the frame-to-frame cosine change of the log spectrum (tests/test_hostile_audio.py):
# sine, chord and vibrato drones and tremolo tones 0.000-0.025; the real multitrack and its stems,
# the demo mixes and plucked-note patterns 0.058-0.12.
MIN_SPECTRAL_CHANGE = 0.04


def spectral_change(audio: np.ndarray, sample_rate: int) -> float:
    """90th percentile over frames of ``1 - cos`` between consecutive log-magnitude spectra."""
    from stemgen.audio.io import resample

    mono = np.atleast_2d(np.asarray(audio, dtype=np.float32)).mean(axis=0)
    y = resample(mono[None, :], sample_rate, 22_050)[0]
    n_fft, hop = 2048, 512
    if y.size < n_fft + 4 * hop:
        return 1.0  # too short to tell: other checks decide
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=1))
    spec = np.log1p(100 * mag / (mag.max() + 1e-12))
    edge = min(22, spec.shape[0] // 4)  # the first and last half second: fades and starts
    spec = spec[edge:spec.shape[0] - edge]
    unit = spec / (np.linalg.norm(spec, axis=1, keepdims=True) + 1e-12)
    change = 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)
    return float(np.percentile(change, 90)) if change.size else 1.0


def require_change(audio: np.ndarray, sample_rate: int, file=None) -> None:
    """Raise ``BeatTrackingError`` for a steady tone or drone (no notes start or change)."""
    change = spectral_change(audio, sample_rate)
    if change < MIN_SPECTRAL_CHANGE:
        raise BeatTrackingError(file, f"a steady tone or drone (spectral change {change:.3f} < {MIN_SPECTRAL_CHANGE}): "
                                      "no notes come and go, so there is no rhythm to follow")


def require_usable(analysis, audio: np.ndarray, sample_rate: int, file=None) -> None:
    """The arranger's check: ``require_beats`` and ``require_change``, neither for a grid the user gave."""
    if analysis.user_grid:
        return
    require_beats(analysis, file)
    require_change(audio, sample_rate, file)
