"""Tempo and beat tracking on an onset-strength envelope.

Ellis' (2007) dynamic-programming beat tracker and librosa's tempo estimate, re-expressed in
vectorised numpy. librosa's own beat tracker is a numba kernel with ``cache=True``: its first call
compiles for about a minute on a busy 2-core machine (55 s measured with a private
NUMBA_CACHE_DIR, librosa 0.11 / numba 0.68), and processes compiling at once can write
mismatched cache files that later segfault (numba/numba#10128, librosa#1998; it happened in this
project's venv). Dataset builds and the arranger run worker processes, so the default path calls
none of librosa's numba kernels. ``scripts/eval_analysis.py`` checks this port against
librosa.beat.beat_track on the same envelopes and against MIDI ground truth.
"""

from __future__ import annotations

import numpy as np

TEMPO_AC_S = 8.0  # longest beat period considered by the tempo estimate (librosa's ac_size)
BEAT_TIGHTNESS = 100.0  # librosa's default: how strongly beats keep the tempo
MIN_BPM, MAX_BPM = 40.0, 240.0  # tempi outside this range are refused (see reliability)


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
    acf = onset_autocorrelation(env, max_lag)
    # ``sr``/``hop_length`` only set the lag -> BPM mapping: frame_rate frames per second.
    tempo = librosa.feature.tempo(tg=acf[:, None], sr=frame_rate, hop_length=1, start_bpm=start_bpm)
    return float(np.atleast_1d(tempo)[0])


def refine_tempo(onset_env: np.ndarray, frame_rate: float, bpm: float, max_beats: int = 32) -> float:
    """``bpm`` to a fraction of a frame: the autocorrelation peak near 2, 4, 8, ... beats, in turn.

    ``estimate_tempo`` works in whole-frame lags (129.2 or 130.8 BPM for a song at 130 at 86
    frames/s); over 30 s that error moves a fixed-tempo tracker by a quarter beat, and its beats
    slide from the beat to the "&". The peak k beats away (searched near k times the current period,
    parabola-interpolated) pins the period k times more finely.
    """
    env = np.asarray(onset_env, dtype=np.float64)
    if bpm <= 0 or env.size < 16:
        return bpm
    period = frame_rate * 60.0 / bpm
    max_lag = min(int(period * max_beats) + 3, env.size // 2)
    if max_lag < 2 * period:
        return bpm
    acf = onset_autocorrelation(env, max_lag)
    k = 2
    while k * period + 2 < max_lag:
        centre = k * period
        half = max(2, int(np.ceil(0.02 * centre)))
        lo, hi = max(int(centre) - half, 1), min(int(centre) + half + 1, acf.size - 1)
        i = lo + int(np.argmax(acf[lo:hi]))
        if 0 < i < acf.size - 1:
            a, b, c = acf[i - 1], acf[i], acf[i + 1]
            den = a - 2 * b + c
            offset = 0.5 * (a - c) / den if den < 0 else 0.0
            period = (i + float(np.clip(offset, -0.5, 0.5))) / k
        k *= 2
    return frame_rate * 60.0 / period


def onset_autocorrelation(env: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased (per-overlap) autocorrelation of ``env`` for lags 0..max_lag, peak-normalised."""
    import librosa

    acf = librosa.autocorrelate(np.asarray(env, dtype=np.float64), max_size=max_lag + 1)
    acf = np.maximum(acf / (env.size - np.arange(acf.size)), 0.0)  # fewer overlaps at long lags
    return acf / acf.max() if acf.max() > 0 else acf


def local_tempo(onset_env: np.ndarray, frame_rate: float, global_bpm: float) -> np.ndarray | None:
    """Per-frame tempo (BPM) where the music changes tempo, else ``None`` (one tempo fits).

    librosa's tempogram (8 s autocorrelation windows) with its log-normal prior centred on the
    global tempo (so the local estimate stays in the same octave), median-smoothed over 8 s.
    ``None`` unless the smoothed tempo strays more than ``TEMPO_CHANGE`` from the global one for at
    least 4 s: a steady song keeps the exact single-tempo tracker.
    """
    import librosa
    import scipy.ndimage

    env = np.asarray(onset_env, dtype=np.float64)
    n = env.size
    # At half the frame rate (librosa's default 23 ms): the tempogram is most of the cost.
    coarse = env[: n // 2 * 2].reshape(-1, 2).mean(axis=1)
    rate = frame_rate / 2
    win = int(round(TEMPO_AC_S * rate))
    if coarse.size < 2 * win or global_bpm <= 0:
        return None
    per_frame = librosa.feature.tempo(onset_envelope=coarse, sr=rate, hop_length=1, start_bpm=global_bpm,
                                      aggregate=None, ac_size=TEMPO_AC_S)
    # Fold to the global tempo's octave, then smooth: the prior alone lets single frames jump.
    per_frame = per_frame * 2.0 ** np.round(np.log2(global_bpm / np.maximum(per_frame, 1e-3)))
    smooth = scipy.ndimage.median_filter(per_frame, size=win, mode="nearest")
    off = np.abs(smooth / global_bpm - 1.0) > TEMPO_CHANGE
    if np.count_nonzero(off) < 4.0 * rate:
        return None
    full = np.repeat(smooth, 2)
    return np.pad(full, (0, n - full.size), mode="edge")  # an odd last frame keeps its neighbour's


TEMPO_CHANGE = 0.06  # local tempo this far from the global one counts as a tempo change


def track_beats(
    onset_env: np.ndarray, frame_rate: float, bpm: float | np.ndarray, tightness: float = BEAT_TIGHTNESS
) -> np.ndarray:
    """Beat frame indices for ``onset_env`` at tempo ``bpm`` (librosa.beat.beat_track's algorithm).

    Each frame's cumulative score is its local onset score plus the best predecessor score
    ``cumscore[j] - tightness * log((i - j) / period)^2`` over ``j`` from half to two periods
    back. ``bpm`` may be one tempo or one per frame (a tempo that changes: the period, and so
    the penalty, is frame ``i``'s). Predecessors are always at least half the shortest period
    back, so a whole block of that many frames is scored in one vectorised step.
    """
    env = np.asarray(onset_env, dtype=np.float64)
    n = env.size
    bpm_arr = np.broadcast_to(np.asarray(bpm, dtype=np.float64), (n,)) if n else np.zeros(0)
    if n == 0 or not np.all(bpm_arr > 0) or not np.any(env > 0):
        return np.zeros(0, dtype=int)
    fpb = frame_rate * 60.0 / bpm_arr
    if fpb.min() < 2:
        return np.zeros(0, dtype=int)
    local = _beat_local_score(env / (env.std(ddof=1) + 1e-12), float(np.median(fpb)))

    min_lag = max(int(round(fpb.min() / 2)), 1)
    lags = np.arange(min_lag, int(np.ceil(2 * fpb.max() + 1)))
    constant = np.ptp(fpb) == 0
    if constant:
        penalty_row = tightness * np.log(lags / fpb[0]) ** 2
    cumscore = np.empty(n)
    backlink = np.full(n, -1, dtype=int)
    for i0 in range(0, n, min_lag):
        i = np.arange(i0, min(i0 + min_lag, n))
        loc = i[:, None] - lags[None, :]  # every loc < i0: already final
        if constant:
            penalty = penalty_row[None, :]
            valid = loc >= 0
        else:
            ratio = lags[None, :] / fpb[i][:, None]
            penalty = tightness * np.log(ratio) ** 2
            valid = (loc >= 0) & (ratio >= 0.5) & (ratio <= 2.0)
        score = np.where(valid, cumscore[np.maximum(loc, 0)] - penalty, -np.inf)
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


def comb_beats(onset_env: np.ndarray, frame_rate: float, bpm: float, phase_step: float = 0.25) -> np.ndarray:
    """Beat times (s) of the strictly periodic grid at ``bpm`` whose beats carry the most onset strength.

    The dynamic programme's beats lie on whole frames and its tempo penalty is local: where onsets
    are sparse it keeps the nearest whole-frame period (40 frames for 39.75), and over a minute its
    beats slide from the beat to the "&". For music in steady time, the grid itself is the answer:
    only its phase is searched (in ``phase_step`` frames), the period is ``refine_tempo``'s; then
    each beat may move to the strongest onset within ``SNAP_FRACTION`` of a beat (``_snap``).
    """
    env = np.asarray(onset_env, dtype=np.float64)
    n = env.size
    if bpm <= 0 or n < 8 or not np.any(env > 0):
        return np.zeros(0)
    period = frame_rate * 60.0 / bpm
    local = _beat_local_score(env / (env.std(ddof=1) + 1e-12), period)
    phases = np.arange(0.0, period, phase_step)
    k = np.arange(int((n - 1) / period) + 1)
    pos = phases[:, None] + period * k[None, :]
    valid = pos <= n - 1
    score = np.where(valid, np.interp(np.where(valid, pos, 0.0), np.arange(n), local), 0.0)
    best = int(np.argmax(score.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)))
    frames = _snap(local, pos[best][valid[best]], SNAP_FRACTION * period)
    kept = _trim_beats(local, np.rint(frames).astype(int))
    if kept.size == 0:
        return np.zeros(0)
    first = int(np.searchsorted(np.rint(frames).astype(int), kept[0]))
    return frames[first : first + kept.size] / frame_rate


SNAP_FRACTION = 0.06  # comb beats move to the strongest onset within this share of a beat (players' timing)


def _snap(local: np.ndarray, frames: np.ndarray, reach: float) -> np.ndarray:
    """Each grid position moved to the local score's maximum within ``reach`` frames: the beat follows
    a player who pushes or drags, the grid keeps it from drifting (positions stay fractional where no
    frame within reach is higher)."""
    r = int(np.floor(reach))
    if r < 1:
        return frames
    base = np.rint(frames).astype(int)
    idx = np.clip(base[:, None] + np.arange(-r, r + 1)[None, :], 0, local.size - 1)
    vals = local[idx]
    best = idx[np.arange(idx.shape[0]), np.argmax(vals, axis=1)]
    moved = vals.max(axis=1) > local[np.clip(base, 0, local.size - 1)]
    return np.where(moved, best.astype(np.float64), frames)


def track_beats_librosa(onset_env: np.ndarray, frame_rate: float, hop_length: int) -> np.ndarray:
    """librosa.beat.beat_track's own (numba) tracker on the same envelope: the reference for the port.

    Used only by the evaluation script; see the module docstring for why not in production.
    """
    import librosa

    _, frames = librosa.beat.beat_track(onset_envelope=np.asarray(onset_env, dtype=np.float32),
                                        sr=int(round(frame_rate * hop_length)), hop_length=hop_length)
    return np.asarray(frames, dtype=int)


def tempo_from_beats(beat_times: np.ndarray) -> float:
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


def tempo_curve(beat_times: np.ndarray, smooth_beats: int = 4) -> np.ndarray:
    """Local tempo (BPM) at each beat: 60 / inter-beat interval, median over ``smooth_beats`` intervals.

    Follows a tempo that changes (accelerando, a tempo change between sections); one missed or
    extra beat moves it only where the median window sees it twice. Empty for fewer than 2 beats.
    """
    beats = np.asarray(beat_times, dtype=np.float64)
    if beats.size < 2:
        return np.zeros(0)
    ibi = np.diff(beats)
    half = max(smooth_beats // 2, 1)
    local = np.array([np.median(ibi[max(i - half, 0) : i + half]) for i in range(ibi.size)])
    local = np.append(local, local[-1])  # the last beat keeps its predecessor's tempo
    return 60.0 / local


def _beat_local_score(env: np.ndarray, fpb: float) -> np.ndarray:
    """Onset envelope smoothed by a Gaussian of width period/32 (librosa's local score)."""
    k = np.arange(-int(fpb), int(fpb) + 1)
    window = np.exp(-0.5 * (k * 32.0 / fpb) ** 2)
    # "same" as np.convolve computes it, but always env's length (np's "same" grows to the window's
    # length when the window is the longer: a clip shorter than two beats)
    return np.convolve(env, window, mode="full")[k.size // 2 : k.size // 2 + env.size]


def _last_beat(cumscore: np.ndarray) -> int:
    """The last local maximum of the cumulative score that is at least half their median."""
    from stemgen.analysis.spectral import local_maxima

    peaks = local_maxima(cumscore)
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
