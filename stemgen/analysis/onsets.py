"""Onset times of a stem, timed like the analysis' beats (same envelope recipe, same alignment).

Spectral flux on a centred 1024-point log-mel STFT at an 11.6 ms hop, librosa's peak-picking rule.
Beats and onsets must share one time base for "onsets on the 16th grid" to mean anything: a
librosa envelope computed from the waveform runs ~10 ms late, one computed from a centred
spectrogram with librosa's default ``center=True`` 46 ms late (measured on clicks).
"""

from __future__ import annotations

import numpy as np

from stemgen.analysis import spectral


def detect_onsets(audio: np.ndarray, sample_rate: int, silence_db: float = -60.0) -> np.ndarray:
    """Onset times (s); none for audio quieter than ``silence_db`` (peak picking would find noise)."""
    from stemgen.analysis.core import analysis_params

    fsr, n_fft, hop = analysis_params()  # the beats' frames
    y = spectral.decimate(spectral.mono(audio), sample_rate, fsr)
    if spectral.rms_db(y) <= silence_db:
        return np.zeros(0)
    env = spectral.onset_envelope(spectral.magnitude_spectrum(y, n_fft, hop), fsr, n_fft, spectral.ONSET_TOP_DB)
    return spectral.pick_onsets(env, fsr / hop) * hop / fsr
