"""Fitting a donor stem to a context's beats: a global time-stretch, then beat-by-beat placement.

A single stretch aligned on the first beat drifts: a 1% tempo misreading is 50 ms off after
5 s, more than the onset tolerance. So, as drum-loop tools do ("beat slicing"), the stretched
donor is cut at its own beats and slice ``k`` is laid on context beat ``k`` (slices loop when
the donor has fewer beats; the audio before the donor's first beat becomes the pickup before
the context's first beat). Within a beat the donor's own rhythm is kept; short fades hide the
cuts.
"""

from __future__ import annotations

import math

import numpy as np

STRETCH_WINDOW_S = 0.025  # phase-vocoder window: short, so drum hits stay single hits
FADE_S = 0.003


def fold_rate(rate: float) -> float:
    """Fold a stretch rate by powers of 2 into [1/sqrt(2), sqrt(2)] (half/double tempo are the same grid)."""
    if rate <= 0 or not math.isfinite(rate):
        return 1.0
    return rate * 2.0 ** (-round(math.log2(rate)))


def stretch(audio: np.ndarray, rate: float, sample_rate: int) -> np.ndarray:
    """Time-stretch by ``rate`` (> 1 is faster/shorter), pitch unchanged; ``rate`` ~ 1 is a no-op.

    librosa's phase vocoder with a ~25 ms window: its default 2048 samples (93-128 ms) smear a
    drum hit into several onsets; a short window keeps transients at some cost in bass tone.
    """
    if abs(rate - 1.0) < 1e-3:
        return np.asarray(audio, dtype=np.float32)
    import librosa

    n_fft = 2 ** int(round(math.log2(STRETCH_WINDOW_S * sample_rate)))
    y = np.asarray(audio, dtype=np.float32)
    return librosa.effects.time_stretch(y, rate=rate, n_fft=n_fft, hop_length=n_fft // 4).astype(np.float32)


def fit_to_beats(
    stem: np.ndarray, donor_beats: np.ndarray, context_beats: np.ndarray, length: int, sample_rate: int
) -> np.ndarray:
    """``stem`` (with beats ``donor_beats``, s) stretched and laid beat by beat on ``context_beats``.

    Returns ``length`` samples. Both beat lists need at least two beats.
    """
    ctx_period = float(np.median(np.diff(context_beats)))
    donor_period = float(np.median(np.diff(donor_beats)))
    rate = fold_rate(donor_period / ctx_period)
    stretched = stretch(stem, rate, sample_rate)
    beats = np.asarray(donor_beats) / rate
    # After folding, the donor's beat may be 2x or 0.5x the context's: match the coarser level.
    factor = (donor_period / rate) / ctx_period
    targets = np.asarray(context_beats, dtype=np.float64)
    if factor > 1.5:
        targets = targets[:: int(round(factor))]
    elif factor < 0.75:
        beats = beats[:: int(round(1 / factor))]
    return place_slices(stretched, beats, targets, length, sample_rate)


def place_slices(
    audio: np.ndarray, beats: np.ndarray, targets: np.ndarray, length: int, sample_rate: int
) -> np.ndarray:
    """Cut ``audio`` at ``beats`` (s) and put slice ``k`` at ``targets[k]`` (s), looping slices."""
    out = np.zeros(length, dtype=np.float32)
    src = np.round(np.asarray(beats) * sample_rate).astype(int)
    src = src[(src >= 0) & (src < audio.shape[-1])]
    tgt = np.round(np.asarray(targets) * sample_rate).astype(int)
    if src.size < 2 or tgt.size < 1:
        return out
    fade = max(1, int(FADE_S * sample_rate))
    # the pickup: what precedes the donor's first beat ends at the context's first beat
    pickup = audio[max(0, src[0] - tgt[0]) : src[0]]
    if pickup.size and tgt[0] > 0:
        out[tgt[0] - pickup.size : tgt[0]] += pickup
    # continue the context's beats to the end of the window at its median period
    period = int(np.median(np.diff(tgt))) if tgt.size > 1 else int(src[1] - src[0])
    tgt = list(tgt[tgt < length])
    while tgt and period > 0 and tgt[-1] + period < length:
        tgt.append(tgt[-1] + period)
    slices = [audio[a:b] for a, b in zip(src[:-1], src[1:])]
    for k, start in enumerate(tgt):
        span = (tgt[k + 1] if k + 1 < len(tgt) else length) - start
        piece = slices[k % len(slices)][: span + fade].copy()
        ramp = min(fade, piece.size)
        piece[:ramp] *= np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        if piece.size > span:  # cut short: fade out over the overlap into the next slice
            piece[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        end = min(start + piece.size, length)
        out[start:end] += piece[: end - start]
    return out
