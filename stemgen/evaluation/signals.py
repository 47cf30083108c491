"""Signal analysis the metrics share: mono conversion, levels, beats and onsets.

Beats and onsets come from ``stemgen.analysis`` (librosa's recipe on a numpy port of its beat
tracker, validated against MIDI ground truth in docs/EVALUATION.md), so ``stemgen eval`` and the
arranger see the same beats. The same functions analyse the real mix, the context and every
system's output, so their biases cancel in the comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ANALYSIS_SR = 22_050
# 11.6 ms frames: half librosa's default hop, so beat/onset times (and the tempo's lag grid) are
# fine enough for a ±30 ms onset tolerance; the onset envelope's shape does not depend on it.
HOP = 256
LEVEL_FLOOR_DB = -120.0  # reported for digital silence instead of -inf


@dataclass(frozen=True)
class BeatAnalysis:
    """Beat times (s) and the tracker's tempo (BPM; 0.0 when no pulse was found)."""

    beats: np.ndarray
    tempo_bpm: float


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``(channels, n)`` or ``(n,)`` -> float32 ``(n,)`` (channels averaged)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    return x


def rms_db(audio: np.ndarray) -> float:
    """RMS level in dBFS, floored at ``LEVEL_FLOOR_DB`` for silence."""
    x = to_mono(audio).astype(np.float64)
    ms = float(np.mean(x * x)) if x.size else 0.0
    return max(10.0 * math.log10(ms), LEVEL_FLOOR_DB) if ms > 0 else LEVEL_FLOOR_DB


def _analysis_signal(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    x = to_mono(audio)
    if sample_rate == ANALYSIS_SR:
        return x, sample_rate
    import soxr

    return soxr.resample(x, sample_rate, ANALYSIS_SR, quality="LQ").astype(np.float32), ANALYSIS_SR


def track_beats(audio: np.ndarray, sample_rate: int, silence_db: float = -60.0,
                beat_tracker: str | None = None) -> BeatAnalysis:
    """Beats of ``audio`` by ``stemgen.analysis`` (validated against MIDI ground truth, see
    docs/EVALUATION.md) and their tempo; empty for silence or no pulse. ``beat_tracker``: a
    ``--beat-tracker`` name (``None``: the analysis' default)."""
    from stemgen.analysis import analyze
    from stemgen.analysis.core import analysis_backend

    if rms_db(audio) <= silence_db:
        return BeatAnalysis(np.zeros(0), 0.0)
    analysis = analyze(audio, sample_rate, backend=analysis_backend(beat_tracker))
    if analysis.beat_times.size < 2:
        return BeatAnalysis(np.zeros(0), 0.0)
    return BeatAnalysis(analysis.beat_times, analysis.tempo_bpm)


def detect_onsets(audio: np.ndarray, sample_rate: int, silence_db: float = -60.0) -> np.ndarray:
    """Onset times (s) on the analysis' time base (``stemgen.analysis.onsets``); none below ``silence_db``."""
    from stemgen.analysis.onsets import detect_onsets as analysis_onsets

    return analysis_onsets(audio, sample_rate, silence_db=silence_db)


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = 64) -> np.ndarray:
    """``(n_mels, frames)`` log-mel power in dB (ref 1.0, floored at -100 dB), for plots and features."""
    import librosa

    y, sr = _analysis_signal(audio, sample_rate)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=HOP, n_mels=n_mels)
    return np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), -100.0)
