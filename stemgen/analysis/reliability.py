"""Is there a beat to follow? A confidence in [0, 1] and the refusal the arranger raises.

``beat_confidence`` is the pulse clarity of the onset envelope at the tracked beat period: the
Pearson correlation of the envelope with itself 1, 2, 3 and 4 beats later (each the best lag
within ±2 frames, to absorb drift), averaged. Steady music repeats its onset pattern over a bar;
free time (rubato) may repeat an interval once but not four beats on. Measured (tests/
test_analysis_reliability.py, docs/EVALUATION.md): rendered songs 0.2-0.8 with or without
their drums, the real multitrack's context 0.21 (mix 0.30); white noise 0.03, amplitude-modulated
noise ("babble") 0.08, random-interval tone sequences (rubato) 0.06-0.11. ``MIN_BEAT_CONFIDENCE``
sits between the two groups; the margin above rubato is thin, so the refusal says why.
"""

from __future__ import annotations

import numpy as np

from stemgen.errors import StemgenInputError

MIN_BEAT_CONFIDENCE = 0.15
CLARITY_BEATS = (1, 2, 3, 4)  # lags (in beats) whose self-correlations are averaged
MIN_BEATS = 8  # two bars of 4/4: fewer cannot place a bar line or a 16th grid
MIN_DURATION_S = 4.0


class BeatTrackingError(StemgenInputError):
    """No reliable beat in the audio (silence, noise, speech, free time, too short, extreme tempo)."""


def pulse_clarity(onset_env: np.ndarray, period_frames: float) -> float:
    """Mean over ``CLARITY_BEATS`` lags of the best envelope self-correlation near each, clipped to [0, 1]."""
    env = np.asarray(onset_env, dtype=np.float64)
    if period_frames <= 0 or env.size < 2 * max(CLARITY_BEATS) * period_frames or env.std() <= 0:
        return 0.0
    values = []
    for k in CLARITY_BEATS:
        lag0 = int(round(k * period_frames))
        values.append(max(_corr_at(env, lag) for lag in range(max(lag0 - 2, 1), lag0 + 3)))
    return float(np.clip(np.mean(values), 0.0, 1.0))


def _corr_at(env: np.ndarray, lag: int) -> float:
    a, b = env[:-lag], env[lag:]
    if a.size < 8 or a.std() <= 0 or b.std() <= 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


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
    if analysis.beat_times.size < MIN_BEATS:
        return f"only {analysis.beat_times.size} beats found (need {MIN_BEATS}): no steady pulse"
    if analysis.beat_confidence < MIN_BEAT_CONFIDENCE:
        return (f"no reliable beat (confidence {analysis.beat_confidence:.2f} < {MIN_BEAT_CONFIDENCE}): "
                "free time, speech, noise or too sparse a context (if it has a beat, give it: --bpm with "
                "--downbeat, or --beats FILE)")
    if not MIN_BPM <= analysis.tempo_bpm <= MAX_BPM:
        return f"tempo {analysis.tempo_bpm:.1f} BPM is outside {MIN_BPM:.0f}-{MAX_BPM:.0f} BPM"
    return None


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
