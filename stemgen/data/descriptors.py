"""Musical descriptors of a song window: tempo, onsets, loudness, dynamics, brightness, key.

Two stages, so that a dataset build pays for the expensive part once per song:

* ``analyze_song(mix, sr)`` runs once per song on a copy of the mix decimated to 22.05 kHz (at
  most): one STFT for the onset-strength envelope, tempo and beat tracking (Ellis' dynamic
  programming tracker, as in librosa, over the whole song so that every window shares one beat
  grid), and one coarse, frequency-fine STFT for chroma (tuning, key per frame).
* ``describe_window(analysis, start, mix_w, stem_w, context_w, sr, stem)`` then costs one
  decimation and one small STFT of the stem window (onsets, brightness) plus time-domain
  loudness; tempo, beats, mix onsets and the key are sliced from the song analysis.

The key comes from the mix's chroma over the window, not the context's: the two share their
pitched content unless the stem itself is pitched, and the mix is what the caption describes.
Drums add a nearly flat chroma, which the Krumhansl-Schmuckler correlation ignores.

Everything returned is plain JSON (floats rounded, never NaN): ``tempo_bpm`` is 0.0 when no
steady pulse is found, ``key`` is ``None`` when there is no tonal content (e.g. silence).

Speed (bench/bench_descriptors.py): about 2 ms of CPU per second of audio at 44.1 kHz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Decimate to at most this rate before any spectral work: onsets, beats, centroid and chroma need
# nothing above ~11 kHz, and a 2x decimation halves every FFT.
MAX_FEATURE_SR = 22050
# ~23 ms hop at 22.05 kHz: librosa's default frame rate, which its onset/beat tuning assumes;
# 46 ms frames are enough for onsets and the centroid at half the cost of librosa's 93 ms.
REF_N_FFT = 1024
REF_HOP = 512
N_MELS = 64  # bands for onset strength; half librosa's default, same envelope shape
# Chroma wants frequency resolution (5.4 Hz bins at 22.05 kHz) rather than time resolution.
CHROMA_N_FFT = 4096
CHROMA_HOP = 2048
TEMPO_AC_S = 8.0  # longest beat period considered by the tempo estimate (librosa's ac_size)

LOUDNESS_FLOOR_DB = -100.0  # reported for digital silence instead of -inf
SILENT_DB = -60.0  # below this a signal has no meaningful onsets, brightness or key
BLOCK_S = 0.4  # short-term loudness block (EBU R128 "momentary" length)
BLOCK_HOP_S = 0.1
LOCAL_TEMPO_MARGIN_S = 1.5  # beats this far outside a window still count for its local tempo
SONG_KEY_PRIOR = 0.5  # weight of the whole song's chroma when finding a window's key

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass
class SongAnalysis:
    """Song-level analysis of the mix, reused by every window of the song."""

    sample_rate: int  # rate of the song audio (and of the windows passed to describe_window)
    num_samples: int
    feature_sr: int  # rate of the decimated copy the features are computed on
    n_fft: int
    hop_length: int
    onset_env: np.ndarray  # (frames,) onset strength of the mix, frame_rate frames/s
    onset_times: np.ndarray  # (n,) mix onsets, seconds from the song start
    beat_times: np.ndarray  # (n,) beats, seconds from the song start
    tempo_bpm: float  # global tempo from the beats (0.0 when no steady pulse)
    tempo_hint_bpm: float | None  # tempo from metadata (MIDI tempo map), if any
    tempo_agrees_with_hint: bool | None  # None without a hint
    tuning: float  # deviation from A440 in fractions of a semitone
    chroma: np.ndarray  # (12, frames) chroma power of the mix, C first, every CHROMA_HOP samples
    key: str | None  # key of the whole song
    key_confidence: float

    @property
    def frame_rate(self) -> float:
        return self.feature_sr / self.hop_length

    @property
    def chroma_rate(self) -> float:
        return self.feature_sr / CHROMA_HOP

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate


# ---------------------------------------------------------------------------------------------
# Song level


def analyze_song(mix: np.ndarray, sample_rate: int, tempo_hint_bpm: float | None = None) -> SongAnalysis:
    """Analyse a whole song's mix once: onset envelope, beats, tempo, tuning, chroma, key.

    ``mix`` is ``(1, n)`` or ``(n,)`` float32 mono. With ``tempo_hint_bpm`` (e.g. from a MIDI tempo
    map) beats are still tracked from the audio: when the audio's own tempo estimate agrees with
    the hint up to a factor of 2, the tracker runs at exactly the hinted tempo (so the grid
    follows the score); otherwise the hint is judged wrong (MIDI files often carry a default
    120 BPM) and the audio's estimate is used. ``tempo_agrees_with_hint`` records which happened.
    """
    x = _mono(mix)
    y = _decimate(x, sample_rate)
    fsr, n_fft, hop = _feature_params(sample_rate)
    silent = _rms_db(y) <= SILENT_DB
    env = _onset_envelope(_magnitude_spectrum(y, n_fft, hop), fsr, n_fft)
    if silent:  # a normalised envelope of near-silence would be all noise
        env = np.zeros_like(env)
    beat_times, tempo, agrees = _beats_and_tempo(env, fsr / hop, tempo_hint_bpm)

    mag = _magnitude_spectrum(y, CHROMA_N_FFT, CHROMA_HOP)
    tuning = 0.0 if silent else _estimate_tuning(mag, fsr)
    chroma = _chroma(mag**2, fsr, tuning)
    key, key_conf = (None, 0.0) if silent else estimate_key(chroma.mean(axis=1))
    return SongAnalysis(
        sample_rate=sample_rate,
        num_samples=x.shape[-1],
        feature_sr=fsr,
        n_fft=n_fft,
        hop_length=hop,
        onset_env=env,
        onset_times=pick_onsets(env, fsr / hop) * hop / fsr,
        beat_times=beat_times,
        tempo_bpm=tempo,
        tempo_hint_bpm=float(tempo_hint_bpm) if tempo_hint_bpm else None,
        tempo_agrees_with_hint=agrees,
        tuning=tuning,
        chroma=chroma,
        key=key,
        key_confidence=key_conf,
    )


def _beats_and_tempo(
    env: np.ndarray, frame_rate: float, hint: float | None
) -> tuple[np.ndarray, float, bool | None]:
    """Beat times (s), global tempo (BPM, from the beats) and whether the audio agreed with the hint."""
    if env.size < 8 or not np.any(env > 0):  # silence: no pulse to track
        return np.zeros(0), 0.0, (False if hint else None)
    estimate = estimate_tempo(env, frame_rate, start_bpm=hint or 120.0)
    agrees = _same_tempo_family(estimate, hint) if hint else None
    bpm = float(hint) if agrees else estimate
    frames = track_beats(env, frame_rate, bpm) if bpm > 0 else np.zeros(0, dtype=int)
    if len(frames) < 2:
        return np.zeros(0), 0.0, agrees
    times = frames / frame_rate
    return times, _tempo_from_beats(times), agrees


def estimate_tempo(onset_env: np.ndarray, frame_rate: float, start_bpm: float = 120.0) -> float:
    """Tempo (BPM) from the onset envelope's global autocorrelation, with librosa's tempo prior.

    librosa.feature.tempo averages a tempogram (an autocorrelation per frame over an 8 s
    window); one autocorrelation of the whole envelope, length-normalised, is the same average
    at a fraction of the cost. The prior (log-normal around ``start_bpm``, one octave wide) and
    the peak choice are librosa's own. Quantised to whole-frame lags: the beats refine it.
    """
    import librosa

    env = np.asarray(onset_env, dtype=np.float64)
    max_lag = min(int(TEMPO_AC_S * frame_rate), env.size - 1)
    if max_lag < 2 or not np.any(env > 0):
        return 0.0
    acf = librosa.autocorrelate(env, max_size=max_lag + 1)
    acf = np.maximum(acf / (env.size - np.arange(acf.size)), 0.0)  # unbiased: fewer overlaps at long lags
    acf /= acf.max()
    # ``sr``/``hop_length`` only set the lag -> BPM mapping: frame_rate frames per second.
    tempo = librosa.feature.tempo(tg=acf[:, None], sr=frame_rate, hop_length=1, start_bpm=start_bpm)
    return float(np.atleast_1d(tempo)[0])


def _same_tempo_family(estimate: float, hint: float, tolerance: float = 0.06) -> bool:
    """True when ``estimate`` is the hint, half or double it, within ``tolerance`` (relative)."""
    if estimate <= 0 or hint <= 0:
        return False
    return any(abs(estimate / (hint * f) - 1.0) <= tolerance for f in (0.5, 1.0, 2.0))


# ---------------------------------------------------------------------------------------------
# Window level


def describe_window(
    analysis: SongAnalysis,
    start_sample: int,
    mix_window: np.ndarray,
    stem_window: np.ndarray,
    context_window: np.ndarray,
    sample_rate: int,
    stem: str,
) -> dict:
    """Descriptors of one window (``(1, n)`` arrays at the song's rate): JSON-ready, rounded, no NaN.

    Keys:
      ``stem``; ``tempo_bpm`` (local: beats in and around the window; 0.0 without a pulse),
      ``beats`` (tracked beats inside the window); ``onset_density`` (stem onsets/s),
      ``mix_onset_density``; ``loudness_db`` (stem RMS, dBFS; -100 for silence),
      ``mix_loudness_db``, ``context_loudness_db``, ``stem_to_mix_db``; ``dynamics_db`` (stem:
      95th minus 10th percentile of 400 ms loudness blocks, silent blocks gated out),
      ``mix_dynamics_db``; ``brightness_hz`` (stem spectral centroid, below feature_sr / 2; 0
      for silence); ``syncopation`` (0-1, share of the stem's onset strength on 16th-note
      off-beats); ``key`` ("A minor"; None without tonal content) and ``key_confidence``
      (Pearson r of the best Krumhansl-Kessler profile).
    """
    if sample_rate != analysis.sample_rate:
        raise ValueError(f"window rate {sample_rate} differs from the song analysis rate {analysis.sample_rate}")
    stem_x = _mono(stem_window)
    mix_x = _mono(mix_window)
    duration = max(stem_x.shape[-1], 1) / sample_rate
    t0 = start_sample / sample_rate
    t1 = t0 + duration

    stem_blocks = _block_power(stem_x, sample_rate)
    mix_blocks = _block_power(mix_x, sample_rate)
    stem_db = _rms_db(stem_x)
    mix_db = _rms_db(mix_x)
    onset_times, onset_strengths, brightness = np.zeros(0), np.zeros(0), 0.0
    if stem_db > SILENT_DB:  # a near-silent stem would make normalised onsets out of noise
        fsr, n_fft, hop = analysis.feature_sr, analysis.n_fft, analysis.hop_length
        mag = _magnitude_spectrum(_decimate(stem_x, sample_rate), n_fft, hop)
        env = _onset_envelope(mag, fsr, n_fft)
        frames = pick_onsets(env, fsr / hop)
        onset_times, onset_strengths = t0 + frames * hop / fsr, env[frames]
        brightness = _spectral_centroid(mag, fsr)
    key, key_conf = _window_key(analysis, t0, t1) if mix_db > SILENT_DB else (None, 0.0)
    beats, mix_onsets = analysis.beat_times, analysis.onset_times
    return {
        "stem": stem,
        "tempo_bpm": round(local_tempo(analysis, t0, t1), 1),
        "beats": int(np.count_nonzero((beats >= t0) & (beats < t1))),
        "onset_density": round(len(onset_times) / duration, 2),
        "mix_onset_density": round(np.count_nonzero((mix_onsets >= t0) & (mix_onsets < t1)) / duration, 2),
        "loudness_db": round(stem_db, 1),
        "mix_loudness_db": round(mix_db, 1),
        "context_loudness_db": round(_rms_db(_mono(context_window)), 1),
        "stem_to_mix_db": round(stem_db - mix_db, 1),
        "dynamics_db": round(_dynamics_db(stem_blocks), 1),
        "mix_dynamics_db": round(_dynamics_db(mix_blocks), 1),
        "brightness_hz": int(round(brightness)),
        "syncopation": round(syncopation(onset_times, onset_strengths, beats), 2),
        "key": key,
        "key_confidence": round(key_conf, 2),
    }


def local_tempo(analysis: SongAnalysis, t0: float, t1: float) -> float:
    """Tempo (BPM) from the beats in ``[t0, t1]`` widened by a margin.

    Falls back to the song's global tempo when too few beats fall near the window.
    """
    beats = analysis.beat_times
    near = beats[(beats >= t0 - LOCAL_TEMPO_MARGIN_S) & (beats <= t1 + LOCAL_TEMPO_MARGIN_S)]
    return _tempo_from_beats(near) if len(near) >= 3 else analysis.tempo_bpm


def _tempo_from_beats(beat_times: np.ndarray) -> float:
    """BPM from beat intervals: the mean of those within 25% of the median.

    The median alone would be quantised to whole analysis frames (117.5 or 123.0 for 120 BPM at
    a 23 ms hop); averaging the inliers undoes that, and the inlier test keeps one missed or
    extra beat from moving the tempo.
    """
    ibi = np.diff(beat_times)
    if ibi.size == 0:
        return 0.0
    med = float(np.median(ibi))
    inliers = ibi[np.abs(ibi - med) <= 0.25 * med]
    return float(60.0 / inliers.mean()) if inliers.size and med > 0 else 0.0


def syncopation(onset_times: np.ndarray, strengths: np.ndarray, beat_times: np.ndarray) -> float:
    """Share (0-1) of onset strength falling on 16th-note off-beats ("e" and "a") of the beat grid.

    0 means everything lands on beats and 8th notes (a straight groove); higher values mean
    accents between them (funk, ghost notes, anticipations). Onsets outside the tracked beats
    are ignored, and fewer than 4 onsets give 0.0. Relative to the tracked beat level, so a
    tracker locked at double tempo reads 16ths as 8ths.
    """
    if len(onset_times) < 4 or len(beat_times) < 2:
        return 0.0
    idx = np.searchsorted(beat_times, onset_times, side="right") - 1
    inside = (idx >= 0) & (idx < len(beat_times) - 1)
    if not np.any(inside):
        return 0.0
    idx, t, w = idx[inside], onset_times[inside], np.asarray(strengths, dtype=np.float64)[inside]
    phase = (t - beat_times[idx]) / (beat_times[idx + 1] - beat_times[idx])
    sixteenth = np.rint(phase * 4).astype(int) % 4
    total = float(w.sum())
    return float(w[(sixteenth == 1) | (sixteenth == 3)].sum() / total) if total > 0 else 0.0


def _window_key(analysis: SongAnalysis, t0: float, t1: float) -> tuple[str | None, float]:
    """Key of the mix's chroma over ``[t0, t1)``, with the whole song's chroma as a prior.

    Five seconds of chroma is a shaky basis for a key, so the song's (normalised) profile is
    added at ``SONG_KEY_PRIOR`` weight; the window still dominates where the song modulates.
    """
    rate = analysis.chroma_rate
    a, b = int(t0 * rate), max(int(math.ceil(t1 * rate)), int(t0 * rate) + 1)
    window = analysis.chroma[:, a:b]
    if window.size == 0:
        return None, 0.0
    profile = _unit(window.mean(axis=1)) + SONG_KEY_PRIOR * _unit(analysis.chroma.mean(axis=1))
    return estimate_key(profile)


def estimate_key(chroma: np.ndarray) -> tuple[str | None, float]:
    """Krumhansl-Schmuckler key finding on a 12-bin chroma vector (C first).

    Returns ``("A minor", r)`` with ``r`` the Pearson correlation of the best of the 24 rotated
    Krumhansl-Kessler profiles (clipped to [0, 1]), or ``(None, 0.0)`` for a flat/empty chroma.
    Relative keys (C major / A minor) share their pitch set, so they are the usual confusion.
    """
    chroma = np.asarray(chroma, dtype=np.float64)
    if chroma.shape != (12,) or not np.all(np.isfinite(chroma)) or chroma.sum() <= 0:
        return None, 0.0
    if np.ptp(chroma) <= 1e-9 * max(chroma.max(), 1e-30):  # all pitch classes equal: no key
        return None, 0.0
    scores = _key_correlations(chroma)
    best = int(np.argmax(scores))
    mode = "major" if best < 12 else "minor"
    return f"{PITCH_CLASSES[best % 12]} {mode}", float(np.clip(scores[best], 0.0, 1.0))


def _key_correlations(chroma: np.ndarray) -> np.ndarray:
    """(24,) correlations: C..B major, then C..B minor."""
    profiles = _key_profiles()
    x = (chroma - chroma.mean()) / (chroma.std() + 1e-12)
    return profiles @ x / 12.0


@lru_cache(maxsize=1)
def _key_profiles() -> np.ndarray:
    """(24, 12) z-scored profiles, rotated so row k has its tonic on pitch class k % 12."""
    rows = [np.roll(p, k) for p in (_MAJOR_PROFILE, _MINOR_PROFILE) for k in range(12)]
    m = np.array(rows)
    return (m - m.mean(axis=1, keepdims=True)) / m.std(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Beat tracking and peak picking
#
# Ellis' (2007) dynamic-programming beat tracker and librosa's onset peak picking, re-expressed in
# vectorised numpy. librosa's own versions are numba guvectorize kernels with cache=True: the
# first call in librosa.beat compiles for minutes on a busy 2-core machine, and processes
# compiling at once can write mismatched cache files that later segfault (numba/numba#10128,
# librosa#1998; it happened in this project's venv). Dataset builds run worker processes, so
# this module calls none of librosa's numba kernels (beat, peak_pick, localmax, piptrack).

BEAT_TIGHTNESS = 100.0  # librosa's default: how strongly beats keep the tempo


def track_beats(onset_env: np.ndarray, frame_rate: float, bpm: float, tightness: float = BEAT_TIGHTNESS) -> np.ndarray:
    """Beat frame indices for ``onset_env`` at tempo ``bpm`` (librosa.beat.beat_track's algorithm).

    Each frame's cumulative score is its local onset score plus the best predecessor score
    ``cumscore[j] - tightness * log((i - j) / period)^2`` over ``j`` from half to two periods
    back. Predecessors are always at least half a period back, so a whole block of that many
    frames is scored in one vectorised step.
    """
    env = np.asarray(onset_env, dtype=np.float64)
    n = env.size
    fpb = frame_rate * 60.0 / bpm
    if n == 0 or fpb < 2 or not np.any(env > 0):
        return np.zeros(0, dtype=int)
    local = _beat_local_score(env / (env.std(ddof=1) + 1e-12), fpb)

    min_lag = max(int(round(fpb / 2)), 1)
    lags = np.arange(min_lag, int(np.ceil(2 * fpb + 1)))
    penalty = tightness * np.log(lags / fpb) ** 2
    cumscore = np.empty(n)
    backlink = np.full(n, -1, dtype=int)
    for i0 in range(0, n, min_lag):
        i = np.arange(i0, min(i0 + min_lag, n))
        loc = i[:, None] - lags[None, :]  # every loc < i0: already final
        score = np.where(loc >= 0, cumscore[np.maximum(loc, 0)] - penalty, -np.inf)
        best = np.argmax(score, axis=1)  # first max = shortest lag, as in librosa
        best_score = score[np.arange(i.size), best]
        found = np.isfinite(best_score)
        cumscore[i] = local[i] + np.where(found, best_score, 0.0)
        backlink[i] = np.where(found, loc[np.arange(i.size), best], -1)
    # Frames before the first real onset start chains rather than continue them.
    started = np.flatnonzero(local >= 0.01 * local.max())
    backlink[: started[0] if started.size else n] = -1

    beats = [_last_beat(cumscore)]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    return _trim_beats(local, np.array(beats[::-1], dtype=int))


def _beat_local_score(env: np.ndarray, fpb: float) -> np.ndarray:
    """Onset envelope smoothed by a Gaussian of width period/32 (librosa's local score)."""
    k = np.arange(-int(fpb), int(fpb) + 1)
    window = np.exp(-0.5 * (k * 32.0 / fpb) ** 2)
    return np.convolve(env, window, mode="same")


def _last_beat(cumscore: np.ndarray) -> int:
    """The last local maximum of the cumulative score that is at least half their median."""
    peaks = _local_maxima(cumscore)
    if not peaks.size:
        return int(np.argmax(cumscore))
    good = peaks[cumscore[peaks] >= 0.5 * np.median(cumscore[peaks])]
    return int(good[-1]) if good.size else int(peaks[-1])


def _trim_beats(local: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Drop weak leading/trailing beats (silence before and after the music), as librosa does."""
    if beats.size == 0:
        return beats
    smooth = np.convolve(local, np.hanning(5), mode="same")
    threshold = 0.5 * np.sqrt(np.mean(smooth[beats] ** 2))
    strong = np.flatnonzero(smooth[beats] >= threshold)
    return beats[strong[0] : strong[-1] + 1] if strong.size else beats[:0]


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices where ``x`` is larger than its left neighbour and not smaller than its right."""
    if x.size < 3:
        return np.zeros(0, dtype=int)
    return np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1


def pick_onsets(env: np.ndarray, frame_rate: float, delta: float = 0.07) -> np.ndarray:
    """Onset frames from an onset envelope with librosa.onset.onset_detect's default rule.

    The envelope is scaled to [0, 1]; a frame is an onset when it is the maximum of the
    surrounding ~30 ms, exceeds the mean of the surrounding ~100 ms by ``delta``, and comes
    more than ~30 ms after the previous onset.
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


# ---------------------------------------------------------------------------------------------
# Signal helpers


def _mono(x: np.ndarray) -> np.ndarray:
    """1-D float32 view of ``(1, n)``/``(n,)`` audio (several channels are averaged)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[0] if x.shape[0] == 1 else x.mean(axis=0)
    return x


def _feature_params(sample_rate: int) -> tuple[int, int, int]:
    """(feature_sr, n_fft, hop): 512/1024 at 22.05 kHz, powers of two for a ~23 ms hop or less elsewhere."""
    fsr = min(sample_rate, MAX_FEATURE_SR)
    # Rounded down: a hop a little shorter than 23 ms keeps onset timing at least as fine.
    hop = REF_HOP if fsr == MAX_FEATURE_SR else 2 ** int(math.log2(fsr * REF_HOP / MAX_FEATURE_SR))
    return fsr, hop * (REF_N_FFT // REF_HOP), hop


def _decimate(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample to the feature rate (soxr's fastest filter: plenty for analysis, ~1 ms per 5 s)."""
    fsr = min(sample_rate, MAX_FEATURE_SR)
    if fsr == sample_rate:
        return y
    import soxr

    return soxr.resample(y, sample_rate, fsr, quality="LQ").astype(np.float32, copy=False)


def _magnitude_spectrum(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (bins, frames) with a Hann window, centred with reflect padding.

    Reflect padding (not zeros) so a window cut mid-note shows no fake onset at its edge.
    Framing by strides plus scipy's single-threaded float32 real FFT: a few times cheaper than
    librosa.stft for these small inputs.
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


def _onset_envelope(mag: np.ndarray, fsr: int, n_fft: int) -> np.ndarray:
    """Spectral-flux onset strength on a log-mel spectrogram (librosa's default recipe)."""
    import librosa

    mel = _mel_basis(fsr, n_fft) @ (mag**2)
    # Fixed reference (not the window's max) so loud and soft windows share one dB scale.
    log_mel = np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), LOUDNESS_FLOOR_DB)
    return librosa.onset.onset_strength(S=log_mel, sr=fsr).astype(np.float32)


@lru_cache(maxsize=8)
def _mel_basis(fsr: int, n_fft: int):
    """librosa's mel filterbank as a sparse matrix.

    Each FFT bin feeds at most two mel bands, so the product is far less work sparse; it also
    stays off multi-threaded BLAS, which on a busy 2-core machine made a 64x513 product cost
    100+ ms instead of ~1 ms.
    """
    import librosa
    import scipy.sparse

    return scipy.sparse.csr_matrix(librosa.filters.mel(sr=fsr, n_fft=n_fft, n_mels=N_MELS))


@lru_cache(maxsize=32)
def _chroma_basis(fsr: int, n_fft: int, tuning: float):
    """librosa's chroma filterbank, negligible weights dropped, as a sparse matrix."""
    import librosa
    import scipy.sparse

    basis = librosa.filters.chroma(sr=fsr, n_fft=n_fft, tuning=tuning)
    basis[basis < 1e-3 * basis.max()] = 0.0
    return scipy.sparse.csr_matrix(basis)


def _chroma(power: np.ndarray, fsr: int, tuning: float) -> np.ndarray:
    """(12, frames) chroma power, C first."""
    # Tuning rounded so windows of one song (and similar songs) share a cached filterbank.
    return np.asarray(_chroma_basis(fsr, CHROMA_N_FFT, round(tuning, 2)) @ power, dtype=np.float32)


def _estimate_tuning(mag: np.ndarray, fsr: int) -> float:
    """Tuning offset from A440 in fractions of a semitone, [-0.5, 0.5).

    Spectral peaks of the song's mean spectrum (80 Hz - 2 kHz, above the median), located to a
    fraction of a bin by parabolic interpolation on the log magnitude, then librosa's histogram
    of their deviations from the equal-tempered grid (librosa.estimate_tuning's piptrack is a
    numba kernel; see above).
    """
    import librosa

    spectrum = np.log(mag.mean(axis=1) + 1e-10)
    freqs = np.linspace(0.0, fsr / 2, spectrum.size)
    peaks = _local_maxima(spectrum)
    peaks = peaks[(freqs[peaks] >= 80) & (freqs[peaks] <= 2000)]
    peaks = peaks[spectrum[peaks] > np.median(spectrum[peaks])] if peaks.size else peaks
    if peaks.size < 3:
        return 0.0
    left, mid, right = spectrum[peaks - 1], spectrum[peaks], spectrum[peaks + 1]
    curvature = left - 2 * mid + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    peak_freqs = freqs[peaks] + shift * (freqs[1] - freqs[0])
    return float(librosa.pitch_tuning(peak_freqs, resolution=0.01, bins_per_octave=12))


def _spectral_centroid(mag: np.ndarray, fsr: int) -> float:
    """Centroid (Hz) of the window's summed magnitude spectrum (louder frames weigh more)."""
    spectrum = mag.sum(axis=1, dtype=np.float64)
    total = float(spectrum.sum())
    if total <= 0:
        return 0.0
    return float(np.linspace(0.0, fsr / 2, spectrum.shape[0]) @ spectrum / total)


def _rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (a full-scale sine reads -3 dB), floored for silence."""
    if x.size == 0:
        return LOUDNESS_FLOOR_DB
    # einsum, not np.dot: no BLAS threads (see _mel_basis). float32 sums are accurate to far
    # better than the 0.1 dB reported, and casting to float64 would triple the cost.
    ms = float(np.einsum("i,i->", x, x)) / x.size
    return max(10.0 * math.log10(ms), LOUDNESS_FLOOR_DB) if ms > 0 else LOUDNESS_FLOOR_DB


def _block_power(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of each 100 ms hop (the tail shorter than a hop is dropped)."""
    hop = max(int(BLOCK_HOP_S * sample_rate), 1)
    n = x.shape[-1] // hop
    blocks = x[: n * hop].reshape(n, hop)
    return np.einsum("ij,ij->i", blocks, blocks).astype(np.float64) / hop


def _dynamics_db(hop_power: np.ndarray) -> float:
    """95th minus 10th percentile of 400 ms block loudness; silent blocks are gated out."""
    per_block = max(int(round(BLOCK_S / BLOCK_HOP_S)), 1)
    if hop_power.size < per_block:
        return 0.0
    # Overlapping 400 ms blocks every 100 ms (EBU R128 momentary loudness, unweighted).
    block = np.convolve(hop_power, np.ones(per_block) / per_block, mode="valid")
    db = 10.0 * np.log10(np.maximum(block, 1e-12))
    db = db[db > SILENT_DB - 10]  # absolute gate, as in EBU R128: silence is not dynamics
    if db.size < 2:
        return 0.0
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def _unit(v: np.ndarray) -> np.ndarray:
    total = float(np.sum(v))
    return v / total if total > 0 else np.zeros_like(v)
