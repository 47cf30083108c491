"""Signal analysis the metrics share: mono conversion, levels, beats and onsets.

Beats and onsets follow librosa's standard recipe (spectral-flux onset strength on a log-mel
spectrogram, Ellis' dynamic-programming beat tracker, librosa's onset peak-picking rule) on a copy
resampled to 22.05 kHz (whatever the dataset's rate, so every dataset is analysed alike) with
librosa's 2048-point FFT and a 256 hop. The tempo estimate, beat tracker and peak picker are the numpy re-implementations in
``stemgen.data.descriptors`` (the dataset's own descriptors), because librosa's numba kernels
(beat_track, onset_detect, localmax, piptrack) can segfault from a stale numba cache on a shared
machine. The same functions analyse the real mix, the context and every system's output, so
their biases cancel in the comparisons.
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


def onset_envelope(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Onset strength envelope and its sample rate (frames at ``sr / HOP``)."""
    import librosa

    y, sr = _analysis_signal(audio, sample_rate)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    return librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP), sr


def track_beats(audio: np.ndarray, sample_rate: int, silence_db: float = -60.0) -> BeatAnalysis:
    """Beats of ``audio`` and the tempo from their median spacing; empty for silence or no pulse."""
    from stemgen.data import descriptors

    if rms_db(audio) <= silence_db:
        return BeatAnalysis(np.zeros(0), 0.0)
    env, sr = onset_envelope(audio, sample_rate)
    rate = sr / HOP
    bpm = descriptors.estimate_tempo(env, rate) if np.any(env > 0) else 0.0
    frames = descriptors.track_beats(env, rate, bpm) if bpm > 0 else np.zeros(0, dtype=int)
    if len(frames) < 2:
        return BeatAnalysis(np.zeros(0), 0.0)
    beats = np.asarray(frames, dtype=np.float64) / rate
    return BeatAnalysis(beats, float(60.0 / np.median(np.diff(beats))))


def detect_onsets(audio: np.ndarray, sample_rate: int, silence_db: float = -60.0) -> np.ndarray:
    """Onset times (s) by librosa's peak-picking rule; none for audio quieter than ``silence_db``."""
    from stemgen.data import descriptors

    if rms_db(audio) <= silence_db:  # normalised peak picking would find "onsets" in noise
        return np.zeros(0)
    env, sr = onset_envelope(audio, sample_rate)
    return descriptors.pick_onsets(env, sr / HOP) * HOP / sr


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = 64) -> np.ndarray:
    """``(n_mels, frames)`` log-mel power in dB (ref 1.0, floored at -100 dB), for plots and features."""
    import librosa

    y, sr = _analysis_signal(audio, sample_rate)
    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=HOP, n_mels=n_mels)
    return np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), -100.0)
