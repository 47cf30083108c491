"""A place in the mix for a dry sampled stem: EQ, gentle compression, pan/width and a room send.

A SoundFont render is dry, full-range and static; a recorded stem has been high-passed, evened
out and sits in a room at a place in the stereo field. Per stem (``PLACEMENTS``):

1. **EQ**: a 2nd-order Butterworth high-pass (drums 35 Hz, bass 30 Hz, guitar 90 Hz) clears the
   sub-bass rumble the other stems do not need.
2. **Compression**: a gentle feed-forward compressor (ratio 2-3:1, threshold ``THRESHOLD_DB``
   under the stem's loud level, 20 ms RMS detector, gain smoothed over ``GAIN_SMOOTH_S``), enough
   to even the hits out without pumping; the loudness match that follows restores the level.
3. **Pan and width**: mid/side width (drums keep 80 % of the kit's stereo image, bass is mono in
   the centre, guitar 60 % of its image) and a constant-power pan (guitar slightly right).
4. **Room**: a convolution send with a short synthetic room (exponentially decaying noise, decorrelated
   left/right, 8 ms pre-delay), mixed ``send_db`` under the dry signal. Its RT60 comes from the
   instruction's style words when it has any (``room_for``), else from the context itself
   (``context_decay_s``: how fast the song's level falls after its strong onsets, clipped to
   ``CONTEXT_RT60_RANGE``), so a dry, staccato song gets a small room and a ringing one a larger one.

Mono input gets the mono sum. Deterministic: the room's noise is seeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter, oaconvolve, sosfilt

THRESHOLD_DB = 12.0  # compressor threshold under the stem's 95th-percentile RMS level
DETECTOR_S = 0.02
GAIN_SMOOTH_S = 0.05
PRE_DELAY_S = 0.008
HOP = 64  # compressor block (samples)


@dataclass(frozen=True)
class Placement:
    highpass_hz: float
    ratio: float
    width: float  # 0 mono, 1 as rendered
    pan: float  # -1 left .. +1 right
    send_db: float  # room level under the dry signal


PLACEMENTS = {
    "drums": Placement(highpass_hz=35.0, ratio=2.0, width=0.8, pan=0.0, send_db=-14.0),
    "bass": Placement(highpass_hz=30.0, ratio=3.0, width=0.0, pan=0.0, send_db=-24.0),
    "guitar": Placement(highpass_hz=90.0, ratio=2.0, width=0.6, pan=0.25, send_db=-14.0),
}
# (words, RT60 seconds): the first match sets the room; default a mid-sized live room.
ROOMS = (
    (("ballad", "ambient", "dream", "cinematic", "orchestra", "gospel", "church"), 1.0),
    (("jazz", "swing", "bossa", "acoustic", "folk", "live", "room"), 0.6),
    (("electronic", "edm", "techno", "house", "808", "trap", "hip hop", "hip-hop", "dry"), 0.2),
)
DEFAULT_RT60 = 0.4


CONTEXT_RT60_RANGE = (0.25, 0.8)
FRAME_S = 0.01
DECAY_WINDOW_S = 0.3


def room_for(instruction: str, context: np.ndarray | None = None, sample_rate: int = 44100) -> tuple[float, str]:
    """RT60 (s) of the room and where it came from (``style`` words, ``context`` decay, ``default``)."""
    text = instruction.lower()
    for words, rt60 in ROOMS:
        if any(re.search(r"(?<![a-z])" + re.escape(w), text) for w in words):
            return rt60, "style"
    if context is not None:
        decay = context_decay_s(context, sample_rate)
        if decay is not None:
            return float(np.clip(decay, *CONTEXT_RT60_RANGE)), "context"
    return DEFAULT_RT60, "default"


def context_decay_s(audio: np.ndarray, sample_rate: int) -> float | None:
    """Median time the song takes to fall 60 dB after its strong onsets (a line fitted to the
    10 ms frame level over the following 300 ms, or until the next onset); None without onsets.

    A mix's decay is its room *and* its sustained notes, so this is a reverberance proxy, not an
    RT60 measurement; the room is only ever matched within ``CONTEXT_RT60_RANGE``."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32)).mean(axis=0)
    frame = max(1, int(FRAME_S * sample_rate))
    n = x.size // frame
    if n < 20:
        return None
    level = 10 * np.log10(np.mean(np.square(x[: n * frame]).reshape(n, frame), axis=1) + 1e-12)
    window = int(DECAY_WINDOW_S / FRAME_S)
    strong = level > level.max() - 30
    rise = np.zeros(n, bool)
    rise[3:] = level[3:] - level[:-3] > 6  # an onset: 6 dB up within 30 ms
    peaks = [i for i in np.flatnonzero(strong & rise) if level[i] >= level[max(0, i - 5) : i + 6].max()]
    slopes = []
    for a, b in zip(peaks, peaks[1:] + [n]):
        end = min(b, a + window)
        if end - a < 10:
            continue
        t = np.arange(end - a - 2) * FRAME_S
        slope = np.polyfit(t, level[a + 2 : end], 1)[0]  # dB per second
        if slope < 0:
            slopes.append(slope)
    if len(slopes) < 3:
        return None
    return float(60.0 / -np.median(slopes))


def room_impulse(sample_rate: int, rt60: float, seed: int = 0) -> np.ndarray:
    """``(2, n)`` decorrelated left/right room response: pre-delay, then noise decaying 60 dB in
    ``rt60`` seconds, darker as it decays (a one-pole low-pass on the tail), unit energy."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * sample_rate)
    pre = int(PRE_DELAY_S * sample_rate)
    t = np.arange(n) / sample_rate
    decay = np.exp(-6.91 * t / rt60)  # ln(1000): -60 dB at rt60
    noise = rng.standard_normal((2, n)) * decay
    noise = lfilter([0.35], [1.0, -0.65], noise, axis=-1)  # air absorbs the highs
    ir = np.concatenate([np.zeros((2, pre)), noise], axis=-1)
    return (ir / np.sqrt(np.sum(ir**2) / 2)).astype(np.float32)


def compress(audio: np.ndarray, sample_rate: int, ratio: float) -> tuple[np.ndarray, float]:
    """Gentle compression of ``(channels, n)`` audio (linked channels); returns it and the deepest
    gain reduction in dB. The detector and gain run on ``HOP``-sample blocks (1.5 ms at 44.1 kHz,
    far shorter than the 20 ms detector) and the gain is interpolated back to every sample."""
    n = audio.shape[-1]
    blocks = -(-n // HOP)
    power = np.zeros(blocks * HOP, dtype=np.float32)
    power[:n] = np.mean(np.square(audio, dtype=np.float32), axis=0)
    power = power.reshape(blocks, HOP).mean(axis=1, dtype=np.float64)
    block_rate = sample_rate / HOP
    a = np.exp(-1.0 / (DETECTOR_S * block_rate))
    env = lfilter([1 - a], [1, -a], power)
    level_db = 10 * np.log10(np.maximum(env, 1e-12))
    loud = level_db[env > 1e-10]
    if loud.size == 0:
        return audio, 0.0
    threshold = float(np.percentile(loud, 95)) - THRESHOLD_DB
    gain_db = -np.maximum(level_db - threshold, 0.0) * (1 - 1 / ratio)
    g = np.exp(-1.0 / (GAIN_SMOOTH_S * block_rate))
    gain_db = np.minimum(lfilter([1 - g], [1, -g], gain_db), 0.0)  # the smoothing must never boost
    centres = (np.arange(blocks) + 0.5) * HOP
    gain = np.interp(np.arange(n, dtype=np.float32), centres, 10 ** (gain_db / 20)).astype(np.float32)
    return (audio * gain).astype(np.float32), float(-gain_db.min(initial=0.0))


def place(audio: np.ndarray, sample_rate: int, stem: str, instruction: str = "", seed: int = 0,
          context: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """``(channels, n)`` stem (1 or 2 channels) placed in the mix; same shape; and what was done.
    ``context``: the song the stem joins, whose decay sizes the room when the words do not."""
    p = PLACEMENTS[stem]
    x = np.asarray(audio, dtype=np.float32)
    if x.shape[-1] == 0:
        return x, {}
    sos = butter(2, p.highpass_hz, btype="highpass", fs=sample_rate, output="sos")
    x = sosfilt(sos, x, axis=-1).astype(np.float32)
    x, reduction_db = compress(x, sample_rate, p.ratio)
    rt60, room_source = room_for(instruction, context, sample_rate)
    ir = room_impulse(sample_rate, rt60, seed)
    n = x.shape[-1]
    send = np.float32(10 ** (p.send_db / 20))
    if x.shape[0] == 2:
        mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2 * np.float32(p.width)
        left_gain = np.float32(np.sqrt(2) * np.cos((p.pan + 1) * np.pi / 4))
        right_gain = np.float32(np.sqrt(2) * np.sin((p.pan + 1) * np.pi / 4))
        dry = np.stack([(mid + side) * left_gain, (mid - side) * right_gain])
        # A centred mono stem (width 0) keeps a mono room too.
        wet = np.stack([oaconvolve(dry.mean(axis=0), ir[c if p.width > 0 else 0])[:n] for c in range(2)])
    else:
        dry = x
        wet = oaconvolve(x[0], ir[0])[:n][None, :]
    out = (dry + send * wet.astype(np.float32)).astype(np.float32)
    info = {"highpass_hz": p.highpass_hz, "compression_ratio": p.ratio,
            "max_gain_reduction_db": round(reduction_db, 2), "width": p.width, "pan": p.pan,
            "room_rt60_s": round(rt60, 3), "room_from": room_source, "room_send_db": p.send_db}
    return out, info
