"""Per-16th-note step features of an analysed context mix (docs/CONTRACTS.md, "Part-model context", 106 channels).

Steps: each beat interval cut into 4; the grid is extended before the first and after the last
tracked beat with the neighbouring beat period (``stemgen.analysis.beat_grid``, one interval), so
it covers the whole clip. Step ``k`` spans
``[step_times[k], step_times[k+1])``. Every channel is float32 ``(T,)`` or ``(n, T)``, names and
definitions as in the shared context contract (chroma, bass_chroma, onset_low/mid/high, energy,
downbeat, beat, beat_phase, bar_phase, pitch).
"""

from __future__ import annotations

import numpy as np

from stemgen.analysis.beat_grid import beats_to_cover, extend_beats, subdivide
from stemgen.analysis.core import N_PITCH, SILENT_DB, Analysis
from stemgen.analysis.reliability import BeatTrackingError

STEPS_PER_BEAT = 4
ONSET_PERCENTILE = 95.0  # onset channels: divided by the song's 95th percentile, clipped to 1
ENERGY_DB_RANGE = (-60.0, -10.0)  # RMS dB mapped linearly to 0..1
BASS_MIN_DB = -50.0  # bass chroma is 0 where the bass band is quieter than this
STEP_FEATURE_NAMES = ("chroma", "bass_chroma", "onset_low", "onset_mid", "onset_high", "energy",
                      "downbeat", "beat", "beat_phase", "bar_phase", "pitch")


def extended_beats(analysis: Analysis) -> tuple[np.ndarray, int]:
    """Beats extended over the whole clip, and the index of the first tracked beat in them."""
    beats = np.asarray(analysis.beat_times, dtype=np.float64)
    if beats.size < 2:
        raise BeatTrackingError(None, f"{beats.size} beats found: cannot lay a 16th-note grid")
    n_before, n_after = beats_to_cover(beats, 0.0, analysis.duration_s)
    return extend_beats(beats, n_before, n_after), n_before


def step_times(analysis: Analysis) -> np.ndarray:
    """(T + 1,) step boundaries (s): 16th-note positions from the first one at or after 0 to the
    first one at or after the end of the clip."""
    grid, start, stop, _ = _grid(analysis)
    return grid[start : stop + 1]


def step_beats(analysis: Analysis) -> tuple[np.ndarray, int]:
    """Beats for placing notes written on ``step_times``'s steps: ``(beats, offset)`` where step ``k``
    lies at beat position ``(k + offset) / 4`` of ``beats`` (the extended beats from the first one at
    or after 0 s; ``offset`` is negative when the clip starts inside a beat, and the steps before
    the first beat then lie before it, at its period)."""
    ext, _ = extended_beats(analysis)
    _, start, _, _ = _grid(analysis)
    first = int(np.searchsorted(ext, -1e-9))
    beats = ext[first:].copy()
    beats[0] = max(beats[0], 0.0)  # a beat extended back onto 0 s can land a rounding error (-2e-16) before it
    return beats, start - STEPS_PER_BEAT * first


def _grid(analysis: Analysis) -> tuple[np.ndarray, int, int, int]:
    """(16th positions over the extended beats, first step >= 0, first step >= end, first tracked beat)."""
    ext, first = extended_beats(analysis)
    grid = subdivide(ext, STEPS_PER_BEAT)
    start = int(np.searchsorted(grid, -1e-9))
    stop = int(np.searchsorted(grid, analysis.duration_s - 1e-9))
    return grid, start, stop, first


def step_features(analysis: Analysis) -> dict[str, np.ndarray]:
    """The contract's per-step channels for ``analysis`` (raises ``BeatTrackingError`` without beats)."""
    grid, start, stop, first = _grid(analysis)
    bounds = grid[start : stop + 1]
    n = bounds.size - 1
    step_index = np.arange(start, stop)  # index into the extended grid
    pos_in_beat = step_index % STEPS_PER_BEAT
    beat_index = step_index // STEPS_PER_BEAT - first  # tracked-beat index (negative before the first)

    frame_idx = _frames_per_step(bounds, analysis.frame_rate, analysis.onset_env.size)
    energy_db = _step_rms_db(analysis.audio, analysis.feature_sr, bounds)
    sounding = energy_db > SILENT_DB
    chroma = _max_normalised(_mean_over(analysis.chroma, frame_idx)) * sounding
    pitch = _max_normalised(_mean_over(analysis.pitch_salience, frame_idx)) * sounding
    bass_level = _mean_over(analysis.bass_db[None], frame_idx)[0]
    bass = _max_normalised(_mean_over(analysis.bass_chroma, frame_idx)) * (bass_level > BASS_MIN_DB)

    # An onset counts in the step it is nearest to, as a MIDI note's onset is quantised to its
    # nearest 16th (the MIDI contexts the part models learned from): a window from the start of a
    # step would move a whole part by a 16th when the grid sits a few ms late of the onsets.
    onset_idx = _frames_per_step(_centred(bounds), analysis.frame_rate, analysis.onset_env.size)
    onsets = _max_over(analysis.band_onsets, onset_idx)
    onsets = np.stack([_percentile_normalised(row) for row in onsets])

    beat_flag = (pos_in_beat == 0).astype(np.float32)
    downbeat_beats = np.searchsorted(analysis.beat_times, analysis.downbeat_times)
    bar_pos, bar_len = _bar_position(beat_index, pos_in_beat, downbeat_beats, analysis.meter)
    downbeat = ((bar_pos == 0) & (beat_flag > 0)).astype(np.float32)
    lo, hi = ENERGY_DB_RANGE
    return {
        "chroma": chroma.astype(np.float32),
        "bass_chroma": bass.astype(np.float32),
        "onset_low": onsets[0].astype(np.float32),
        "onset_mid": onsets[1].astype(np.float32),
        "onset_high": onsets[2].astype(np.float32),
        "energy": np.clip((energy_db - lo) / (hi - lo), 0.0, 1.0).astype(np.float32),
        "downbeat": downbeat,
        "beat": beat_flag,
        "beat_phase": _sin_cos(pos_in_beat / STEPS_PER_BEAT),
        "bar_phase": _sin_cos(bar_pos / bar_len),
        "pitch": pitch.astype(np.float32),
    } if n > 0 else _empty()


def _bar_position(beat_index, pos_in_beat, downbeat_beats, meter):
    """(steps since the bar line, bar length in steps) per step; bars before the first and after
    the last detected downbeat continue with ``meter`` beats."""
    db = np.asarray(downbeat_beats, dtype=int)
    if db.size == 0:
        db = np.array([0])
    k = np.searchsorted(db, beat_index, side="right") - 1  # last downbeat at or before the beat
    before = k < 0
    last = np.where(before, db[0], db[np.maximum(k, 0)])
    nxt = np.where(k + 1 < db.size, db[np.minimum(k + 1, db.size - 1)], last + meter)
    bar_beats = np.where(before | (k + 1 >= db.size), meter, np.maximum(nxt - last, 1))
    beats_into = np.where(before, (beat_index - db[0]) % meter, (beat_index - last) % bar_beats)
    return beats_into * STEPS_PER_BEAT + pos_in_beat, bar_beats * STEPS_PER_BEAT


def _frames_per_step(bounds: np.ndarray, frame_rate: float, n_frames: int) -> list[tuple[int, int]]:
    """Frame range [a, b) whose centres fall in each step (at least one frame)."""
    idx = np.clip(np.ceil(bounds * frame_rate - 1e-9).astype(int), 0, max(n_frames - 1, 0))
    return [(int(a), int(max(b, a + 1))) for a, b in zip(idx[:-1], idx[1:])]


def _centred(bounds: np.ndarray) -> np.ndarray:
    """Step boundaries moved back by half a step: each step's window centred on its grid position."""
    half = np.diff(bounds) / 2.0
    return bounds - np.concatenate([half[:1], half])


def _mean_over(frames: np.ndarray, ranges) -> np.ndarray:
    csum = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames, axis=1, dtype=np.float64)], axis=1)
    a = np.array([r[0] for r in ranges])
    b = np.minimum(np.array([r[1] for r in ranges]), frames.shape[1])
    return (csum[:, b] - csum[:, a]) / np.maximum(b - a, 1)


def _max_over(frames: np.ndarray, ranges) -> np.ndarray:
    return np.stack([frames[:, a:b].max(axis=1) if b <= frames.shape[1] else frames[:, -1] for a, b in ranges], axis=1)


def _max_normalised(x: np.ndarray) -> np.ndarray:
    peak = x.max(axis=0, keepdims=True)
    return np.where(peak > 0, x / np.where(peak > 0, peak, 1.0), 0.0)


def _percentile_normalised(x: np.ndarray) -> np.ndarray:
    ref = float(np.percentile(x, ONSET_PERCENTILE)) if x.size else 0.0
    return np.clip(x / ref, 0.0, 1.0) if ref > 0 else np.zeros_like(x)


def _step_rms_db(y: np.ndarray, sr: int, bounds: np.ndarray) -> np.ndarray:
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(y, dtype=np.float64) ** 2)])
    idx = np.clip(np.rint(bounds * sr).astype(int), 0, y.size)
    a, b = idx[:-1], np.maximum(idx[1:], idx[:-1] + 1)
    ms = (csum[np.minimum(b, y.size)] - csum[a]) / (b - a)
    return 10.0 * np.log10(np.maximum(ms, 1e-12))


def _sin_cos(phase: np.ndarray) -> np.ndarray:
    ang = 2.0 * np.pi * np.asarray(phase, dtype=np.float64)
    return np.stack([np.sin(ang), np.cos(ang)]).astype(np.float32)


def _empty() -> dict[str, np.ndarray]:
    z = np.zeros(0, dtype=np.float32)
    return {"chroma": np.zeros((12, 0), np.float32), "bass_chroma": np.zeros((12, 0), np.float32),
            "onset_low": z, "onset_mid": z, "onset_high": z, "energy": z, "downbeat": z, "beat": z,
            "beat_phase": np.zeros((2, 0), np.float32), "bar_phase": np.zeros((2, 0), np.float32),
            "pitch": np.zeros((N_PITCH, 0), np.float32)}
