"""Spectral building blocks shared by the analysis and the caption descriptors.

Everything runs on a copy decimated to 22.05 kHz (at most) with scipy's single-threaded FFT and
sparse filterbanks (librosa's mel and chroma matrices): on a busy 2-core machine multi-threaded
BLAS made a 64x513 product cost 100+ ms instead of ~1 ms. None of librosa's numba kernels is
called here (see ``stemgen.analysis.beats`` for why).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Decimate to at most this rate before any spectral work: onsets, beats, centroid and chroma need
# nothing above ~11 kHz, and a 2x decimation halves every FFT.
MAX_FEATURE_SR = 22050
# ~23 ms hop at 22.05 kHz: librosa's default frame rate, which its onset/beat tuning assumes.
REF_N_FFT = 1024
REF_HOP = 512
N_MELS = 64  # bands for onset strength; half librosa's default, same envelope shape
LOUDNESS_FLOOR_DB = -100.0  # reported for digital silence instead of -inf
ONSET_TOP_DB = 80.0  # dynamic range of the analysis' onset envelopes (librosa's default)


def mono(x: np.ndarray) -> np.ndarray:
    """1-D float32 view of ``(channels, n)``/``(n,)`` audio (channels averaged)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[0] if x.shape[0] == 1 else x.mean(axis=0)
    return x


def feature_params(sample_rate: int) -> tuple[int, int, int]:
    """(feature_sr, n_fft, hop): 512/1024 at 22.05 kHz, powers of two for a ~23 ms hop or less elsewhere."""
    fsr = min(sample_rate, MAX_FEATURE_SR)
    # Rounded down: a hop a little shorter than 23 ms keeps onset timing at least as fine.
    hop = REF_HOP if fsr == MAX_FEATURE_SR else 2 ** int(math.log2(fsr * REF_HOP / MAX_FEATURE_SR))
    return fsr, hop * (REF_N_FFT // REF_HOP), hop


def decimate(y: np.ndarray, sample_rate: int, target_sr: int | None = None) -> np.ndarray:
    """Resample to ``target_sr`` (default: the feature rate) with soxr's fastest filter."""
    target = min(sample_rate, MAX_FEATURE_SR) if target_sr is None else target_sr
    if target == sample_rate:
        return y
    import soxr

    return soxr.resample(y, sample_rate, target, quality="LQ").astype(np.float32, copy=False)


def magnitude_spectrum(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (bins, frames) with a Hann window, centred with reflect padding.

    Reflect padding (not zeros) so a window cut mid-note shows no fake onset at its edge.
    """
    import scipy.fft

    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    if y.shape[-1] <= pad:  # too short to reflect: zero-pad to one frame
        y = np.pad(y, (0, pad + 1 - y.shape[-1]))
    y = np.pad(y, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    return np.abs(scipy.fft.rfft(frames * _hann(n_fft), axis=-1)).T


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def log_mel(mag: np.ndarray, fsr: int, n_fft: int, top_db: float | None = None) -> np.ndarray:
    """(N_MELS, frames) log-mel power in dB, fixed reference 1.0 (loud and soft share one scale).

    ``top_db``: also floor at the clip's maximum minus ``top_db`` (librosa's default for onset
    strength is 80): without it, a tail 45 dB down ending abruptly in a silent band reads as a
    strong onset, since every band starts from the -100 dB floor.
    """
    import librosa

    mel = mel_basis(fsr, n_fft) @ (mag**2)
    db = np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), LOUDNESS_FLOOR_DB)
    return np.maximum(db, db.max() - top_db) if top_db is not None and db.size else db


def onset_envelope(mag: np.ndarray, fsr: int, n_fft: int, top_db: float | None = None) -> np.ndarray:
    """Spectral-flux onset strength on a log-mel spectrogram (librosa's default recipe).

    ``center=False``: our spectrogram is already centred, and librosa's centring pad (meant for
    its own 2048-point frames) would delay every onset by two frames (46 ms, measured on clicks).
    """
    import librosa

    S = log_mel(mag, fsr, n_fft, top_db)
    return librosa.onset.onset_strength(S=S, sr=fsr, center=False).astype(np.float32)


@lru_cache(maxsize=8)
def mel_basis(fsr: int, n_fft: int):
    """librosa's mel filterbank as a sparse matrix (each FFT bin feeds at most two bands)."""
    import librosa
    import scipy.sparse

    return scipy.sparse.csr_matrix(librosa.filters.mel(sr=fsr, n_fft=n_fft, n_mels=N_MELS))


@lru_cache(maxsize=8)
def mel_frequencies(fsr: int) -> np.ndarray:
    """Centre frequencies (Hz) of the ``N_MELS`` bands of ``mel_basis``."""
    import librosa

    return librosa.mel_frequencies(n_mels=N_MELS + 2, fmax=fsr / 2)[1:-1]


@lru_cache(maxsize=32)
def chroma_basis(fsr: int, n_fft: int, tuning: float):
    """librosa's chroma filterbank, negligible weights dropped, as a sparse matrix."""
    import librosa
    import scipy.sparse

    basis = librosa.filters.chroma(sr=fsr, n_fft=n_fft, tuning=tuning)
    basis[basis < 1e-3 * basis.max()] = 0.0
    return scipy.sparse.csr_matrix(basis)


def chroma(power: np.ndarray, fsr: int, n_fft: int, tuning: float) -> np.ndarray:
    """(12, frames) chroma power, C first."""
    # Tuning rounded so windows of one song (and similar songs) share a cached filterbank.
    return np.asarray(chroma_basis(fsr, n_fft, round(tuning, 2)) @ power, dtype=np.float32)


@lru_cache(maxsize=32)
def semitone_basis(fsr: int, n_fft: int, tuning: float, first_pitch: int, stop_pitch: int):
    """(stop - first, n_fft // 2 + 1) sparse weights of each FFT bin for MIDI pitches
    ``first_pitch .. stop_pitch - 1`` (``tuning`` semitones sharp of A440): 1 on the semitone's
    centre, falling linearly to 0 half a semitone away (as the bass chroma weighs its bins).

    Each row is then scaled so that a sine at its semitone's centre reads all its power: where a
    semitone spans few bins (low pitches of an STFT) the weights miss part of the window's main
    lobe, which would make those pitches read up to ~2.5 dB quieter than higher ones.
    """
    import scipy.sparse

    freqs = np.arange(n_fft // 2 + 1) * fsr / n_fft
    with np.errstate(divide="ignore"):
        midi = 69.0 + 12.0 * np.log2(freqs / 440.0) - tuning
    nearest = np.rint(np.where(np.isfinite(midi), midi, -1.0)).astype(int)
    weight = np.clip(1.0 - 2.0 * np.abs(midi - nearest), 0.0, 1.0)
    keep = np.flatnonzero((nearest >= first_pitch) & (nearest < stop_pitch) & (weight > 0))
    row = nearest[keep] - first_pitch
    centre_bin = 440.0 * 2.0 ** ((row + first_pitch + tuning - 69.0) / 12.0) * n_fft / fsr
    captured = np.bincount(row, weight[keep] * _hann_lobe_power(keep - centre_bin), minlength=stop_pitch - first_pitch)
    gain = np.where(captured > 0, _HANN_LOBE_TOTAL / np.maximum(captured, 1e-12), 0.0)
    shape = (stop_pitch - first_pitch, freqs.size)
    # float32: a float64 basis would make ``basis @ power`` copy the whole float32 spectrogram up
    return scipy.sparse.csr_matrix(((weight[keep] * gain[row]).astype(np.float32), (row, keep)), shape=shape)


_HANN_LOBE_TOTAL = 1.5  # sum of _hann_lobe_power over all bins, for any sine frequency (Parseval)


def _hann_lobe_power(offset_bins: np.ndarray) -> np.ndarray:
    """|Hann window spectrum|^2 at ``offset_bins`` from a sine, relative to the peak (large n_fft)."""
    d = np.asarray(offset_bins, dtype=np.float64)
    return (np.sinc(d) + 0.5 * np.sinc(d - 1.0) + 0.5 * np.sinc(d + 1.0)) ** 2


def semitone_mean_square(power: np.ndarray, fsr: float, n_fft: int, tuning: float, first_pitch: int,
                         stop_pitch: int) -> np.ndarray:
    """(stop - first, frames) mean square per semitone from a Hann |STFT|^2 ``power`` (bins, frames)
    of ``n_fft`` points at ``fsr``: ``semitone_basis`` scaled by Parseval, so that STFTs of different
    sizes and rates read a sine alike (its RMS squared in its semitone)."""
    basis = semitone_basis(fsr, n_fft, round(tuning, 2), first_pitch, stop_pitch)
    used = int(basis.indices.max()) + 1 if basis.nnz else 1  # only the bins it weighs: 5x faster
    parseval = 2.0 / (n_fft * float(np.sum(_hann(n_fft).astype(np.float64) ** 2)))
    return (basis[:, :used] @ power[:used]) * np.float32(parseval)


def estimate_tuning(mag: np.ndarray, fsr: int) -> float:
    """Tuning offset from A440 in fractions of a semitone, [-0.5, 0.5).

    Spectral peaks of the mean spectrum (80 Hz - 2 kHz, above the median), located to a fraction
    of a bin by parabolic interpolation on the log magnitude, then librosa's histogram of their
    deviations from the equal-tempered grid (librosa.estimate_tuning's piptrack is a numba kernel).
    """
    import librosa

    spectrum = np.log(mag.mean(axis=1) + 1e-10)
    freqs = np.linspace(0.0, fsr / 2, spectrum.size)
    peaks = local_maxima(spectrum)
    peaks = peaks[(freqs[peaks] >= 80) & (freqs[peaks] <= 2000)]
    peaks = peaks[spectrum[peaks] > np.median(spectrum[peaks])] if peaks.size else peaks
    if peaks.size < 3:
        return 0.0
    left, mid, right = spectrum[peaks - 1], spectrum[peaks], spectrum[peaks + 1]
    curvature = left - 2 * mid + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    peak_freqs = freqs[peaks] + shift * (freqs[1] - freqs[0])
    return float(librosa.pitch_tuning(peak_freqs, resolution=0.01, bins_per_octave=12))


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices where ``x`` is larger than its left neighbour and not smaller than its right."""
    if x.size < 3:
        return np.zeros(0, dtype=int)
    return np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (a full-scale sine reads -3 dB), floored for silence."""
    if x.size == 0:
        return LOUDNESS_FLOOR_DB
    # einsum, not np.dot: no BLAS threads (see mel_basis).
    ms = float(np.einsum("i,i->", x, x)) / x.size
    return max(10.0 * math.log10(ms), LOUDNESS_FLOOR_DB) if ms > 0 else LOUDNESS_FLOOR_DB


def sounding_span(y: np.ndarray, sample_rate: float, floor_db: float, block_s: float = 0.05) -> tuple[float, float] | None:
    """(start, end) in seconds of the part of ``y`` louder than ``floor_db`` (RMS over ``block_s``
    blocks): digital silence before and after the music excluded; ``None`` if no block is louder."""
    block = max(int(round(block_s * sample_rate)), 1)
    n = y.size // block
    if n == 0:
        return None
    blocks = y[: n * block].reshape(n, block)
    ms = np.einsum("ij,ij->i", blocks, blocks) / block
    loud = np.flatnonzero(ms > 10.0 ** (floor_db / 10.0))
    if not loud.size:
        return None
    return loud[0] * block / sample_rate, (loud[-1] + 1) * block / sample_rate


def pick_onsets(env: np.ndarray, frame_rate: float, delta: float = 0.07) -> np.ndarray:
    """Onset frames from an onset envelope with librosa.onset.onset_detect's default rule.

    The envelope is scaled to [0, 1]; a frame is an onset when it is the maximum of the
    surrounding ~30 ms, exceeds the mean of the surrounding ~100 ms by ``delta``, and comes
    more than ~30 ms after the previous onset. (librosa's own peak_pick is a numba kernel.)
    """
    x = np.asarray(env, dtype=np.float64)
    if x.size < 3 or np.ptp(x) <= 0:
        return np.zeros(0, dtype=int)
    x = (x - x.min()) / np.ptp(x)
    # At least one frame each: at coarse frame rates int(0.03 * rate) is 0, which would make
    # every frame a local maximum.
    pre_max, post_max = max(int(0.03 * frame_rate), 1), 1
    pre_avg, post_avg = int(0.10 * frame_rate), int(0.10 * frame_rate) + 1
    wait = max(int(0.03 * frame_rate), 1)

    padded = np.pad(x, (pre_max, post_max), constant_values=-np.inf)
    window_max = np.lib.stride_tricks.sliding_window_view(padded, pre_max + post_max + 1)[:, : pre_max + post_max]
    is_max = x >= window_max.max(axis=1)  # window [n - pre_max, n + post_max)
    csum = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(x.size)
    lo, hi = np.maximum(idx - pre_avg, 0), np.minimum(idx + post_avg, x.size)
    above_mean = x >= (csum[hi] - csum[lo]) / (hi - lo) + delta

    onsets: list[int] = []
    for n in np.flatnonzero(is_max & above_mean):
        if not onsets or n - onsets[-1] > wait:
            onsets.append(int(n))
    return np.array(onsets, dtype=int)
