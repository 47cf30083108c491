"""What a player listens to, per 16th-note step: the context representation shared by the MIDI
models and the audio arranger (see docs/CONTRACTS.md, "Part-model context").

Every channel can also be computed from audio analysis (chroma, low-band chroma, band onset
strengths, loudness, beats and downbeats, a semitone spectrum), so one model family serves both engines:
``context_from_grid`` computes it from the other tracks of a MIDI song; the audio side computes the
same names from ``stemgen.analysis``.

The MIDI side is built in two stages so that training can drop roles and transpose without
re-reading songs: ``role_components`` (per role, additive or max-combinable raw features, cached
once per song) and ``combine`` (sum/max over the roles kept, then normalise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.midifile.grid import SongGrid
from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, fold_into_range
from stemgen.stems import ROLES

# (name, number of channels), in order.
CHANNEL_GROUPS = (
    ("chroma", 12),
    ("bass_chroma", 12),
    ("onset_low", 1),
    ("onset_mid", 1),
    ("onset_high", 1),
    ("energy", 1),
    ("downbeat", 1),
    ("beat", 1),
    ("beat_phase", 2),
    ("bar_phase", 2),
    # Appended last so that models trained on the first 34 channels read a prefix of the context.
    ("pitch", 72),
)
CHANNELS: tuple[str, ...] = tuple(
    name if n == 1 else f"{name}_{i}" for name, n in CHANNEL_GROUPS for i in range(n)
)
N_CONTEXT = len(CHANNELS)  # 106
# Absolute pitch salience (the "pitch" group): MIDI pitches PITCH_CONTEXT_LOW + 0..71 (C1..B6); notes
# outside are folded in by octaves. Chroma says which chord sounds; this says where (a guitar part
# doubles a context pitch exactly for about half its notes in the band songs).
PITCH_CONTEXT_LOW = 24
N_PITCH_CONTEXT = 72
SLICES: dict[str, slice] = {}
_start = 0
for _name, _n in CHANNEL_GROUPS:
    SLICES[_name] = slice(_start, _start + _n)
    _start += _n
POSITION_GROUPS = ("downbeat", "beat", "beat_phase", "bar_phase")
HEARING_GROUPS = tuple(name for name, _ in CHANNEL_GROUPS if name not in POSITION_GROUPS)
NO_PITCH = 128  # "lowest pitch" of a step where no pitched note sounds

# Drum class -> onset band (0 low, 1 mid, 2 high): kick low; snare and toms mid; hats and cymbals high.
_DRUM_BAND = np.array([0, 1, 2, 2, 1, 1, 1, 2, 2])
BAND_OF_DRUM_PITCH = _DRUM_BAND[DRUM_CLASS_OF_PITCH]
BAND_OF_PITCH = np.where(np.arange(128) < 48, 0, np.where(np.arange(128) < 84, 1, 2))


@dataclass
class RoleComponents:
    """One role's raw per-step features (combinable across roles)."""

    chroma: np.ndarray  # (12, T) float32 velocity-weighted sounding salience (not normalised)
    lowest: np.ndarray  # (T,) int16 lowest sounding pitch, NO_PITCH when none
    onsets: np.ndarray  # (3, T) float32 max onset velocity/127 in the low, mid, high band
    loudness: np.ndarray  # (T,) float32 sum of sounding velocities / 127
    pitch: np.ndarray  # (72, T) float32 velocity-weighted sounding salience per context pitch


def _held_velocity(onset: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """(T, 128) velocity of the note sounding at each step (its onset's velocity carried forward)."""
    T = onset.shape[0]
    out = np.zeros(onset.shape, np.float32)
    idx = np.arange(T)
    for p in np.flatnonzero(sustain.any(axis=0) | onset.any(axis=0)):
        on = onset[:, p]
        last = np.maximum.accumulate(np.where(on > 0, idx, 0))
        vel = on[last].astype(np.float32)
        vel[(last == 0) & (on[0] == 0)] = 64.0  # a note held from before any onset (rare): mid velocity
        out[:, p] = np.where(sustain[:, p] | (on > 0), vel, 0.0)
    return out


def role_components(grid: SongGrid, role: str) -> RoleComponents:
    """Raw features of the union of ``role``'s tracks."""
    T = grid.n_steps
    chroma = np.zeros((12, T), np.float32)
    lowest = np.full(T, NO_PITCH, np.int16)
    onsets = np.zeros((3, T), np.float32)
    loud = np.zeros(T, np.float32)
    pitch = np.zeros((N_PITCH_CONTEXT, T), np.float32)
    for tr in grid.role_tracks(role):
        used = np.flatnonzero(tr.onset.any(axis=0) | tr.sustain.any(axis=0))
        if used.size == 0:
            continue
        on = tr.onset[:, used].astype(np.float32) / 127.0
        if tr.is_drum:
            bands = BAND_OF_DRUM_PITCH[used]
            loud += on.sum(axis=1)
        else:
            bands = BAND_OF_PITCH[used]
            held = _held_velocity(tr.onset[:, used], tr.sustain[:, used]) / 127.0
            loud += held.sum(axis=1)
            np.add.at(chroma, used % 12, held.T)
            np.add.at(pitch, fold_into_range(used, PITCH_CONTEXT_LOW, N_PITCH_CONTEXT) - PITCH_CONTEXT_LOW, held.T)
            sounding = held > 0
            low = np.where(sounding.any(axis=1), used[np.argmax(sounding, axis=1)], NO_PITCH)
            np.minimum(lowest, low.astype(np.int16), out=lowest)
        for b in range(3):
            cols = bands == b
            if cols.any():
                np.maximum(onsets[b], on[:, cols].max(axis=1), out=onsets[b])
    return RoleComponents(chroma, lowest, onsets, loud, pitch)


def position_features(grid: SongGrid, n_steps: int | None = None) -> np.ndarray:
    """(6, n_steps) downbeat, beat, beat phase (sin, cos), bar phase (sin, cos); bars past the
    song's end continue with its last bar length."""
    T = grid.n_steps if n_steps is None else n_steps
    spb = grid.steps_per_beat
    pos, length = grid.pos_in_bar[:T], grid.bar_steps[:T]
    if T > grid.n_steps:
        bar = int(grid.bar_steps[-1]) if grid.n_steps else 4 * spb
        bar = bar or 4 * spb
        extra = T - grid.n_steps
        last = int(grid.pos_in_bar[-1]) if grid.n_steps else -1
        pos = np.concatenate([grid.pos_in_bar, (last + 1 + np.arange(extra)) % bar])
        length = np.concatenate([grid.bar_steps, np.full(extra, bar)])
    t = np.arange(T)
    beat_ph = 2 * np.pi * (t % spb) / spb
    bar_ph = 2 * np.pi * pos / np.maximum(length, 1)
    return np.stack([
        pos == 0, pos % spb == 0, np.sin(beat_ph), np.cos(beat_ph), np.sin(bar_ph), np.cos(bar_ph),
    ]).astype(np.float32)


def _peak_normalised(x: np.ndarray) -> np.ndarray:
    """Each column divided by its max (0 where the column is all 0)."""
    peak = x.max(axis=0)
    return np.where(peak > 0, x / np.maximum(peak, 1e-9), 0.0)


def _shifted(rows: np.ndarray, k: int) -> np.ndarray:
    """``rows`` moved ``k`` rows up (towards higher pitches), zero-filled (no wrap-around)."""
    if k == 0:
        return rows
    out = np.zeros_like(rows)
    if k > 0:
        out[k:] = rows[:-k]
    else:
        out[:k] = rows[-k:]
    return out


def combine(parts: list[RoleComponents], position: np.ndarray, transpose: int = 0) -> np.ndarray:
    """(106, T) context from the components of the roles kept, ``transpose`` semitones up."""
    T = position.shape[1]
    out = np.zeros((N_CONTEXT, T), np.float32)
    if parts:
        chroma = np.sum([p.chroma for p in parts], axis=0)
        out[SLICES["chroma"]] = np.roll(_peak_normalised(chroma), transpose, axis=0)
        out[SLICES["pitch"]] = _shifted(_peak_normalised(np.sum([p.pitch for p in parts], axis=0)), transpose)
        lowest = np.min([p.lowest for p in parts], axis=0).astype(np.int64)
        has = lowest < NO_PITCH
        out[SLICES["bass_chroma"].start + (lowest[has] + transpose) % 12, np.flatnonzero(has)] = 1.0
        out[SLICES["onset_low"].start : SLICES["onset_high"].stop] = np.max([p.onsets for p in parts], axis=0)
        out[SLICES["energy"]] = 1.0 - np.exp(-np.sum([p.loudness for p in parts], axis=0) / 3.0)
    out[SLICES["downbeat"].start : SLICES["bar_phase"].stop] = position
    return out


def transpose_context(context: np.ndarray, k: int) -> np.ndarray:
    """A built context ``k`` semitones up, as ``combine(..., transpose=k)`` builds it: chroma and bass
    chroma rolled, the pitch group (when present) shifted without wrap-around."""
    if k == 0:
        return context
    out = context.copy()
    for group in ("chroma", "bass_chroma"):
        out[SLICES[group]] = np.roll(context[SLICES[group]], k, axis=0)
    if context.shape[0] >= SLICES["pitch"].stop:
        out[SLICES["pitch"]] = _shifted(context[SLICES["pitch"]], k)
    return out


def context_from_grid(grid: SongGrid, stem: str, drop: tuple[str, ...] = ()) -> np.ndarray:
    """(106, T) float32 context of ``grid`` without ``stem`` (and without the roles in ``drop``)."""
    parts = [role_components(grid, r) for r in ROLES if r != stem and r not in drop and grid.role_tracks(r)]
    return combine(parts, position_features(grid))


def context_from_features(features: dict[str, np.ndarray]) -> np.ndarray:
    """(106, T) float32 context in ``CHANNELS`` order from ``stemgen.analysis.step_features`` (the audio side)."""
    rows = []
    for name, n in CHANNEL_GROUPS:
        arr = np.asarray(features[name], dtype=np.float32)
        arr = arr[None] if arr.ndim == 1 else arr
        if arr.shape[0] != n:
            raise ValueError(f"step feature {name!r} has {arr.shape[0]} channels, the context needs {n}")
        rows.append(arr)
    out = np.concatenate(rows, axis=0)
    assert out.shape[0] == N_CONTEXT
    return out


def context_from_analysis(analysis) -> np.ndarray:
    """(106, T) context of an analysed context mix (raises ``BeatTrackingError`` without beats)."""
    from stemgen.analysis import step_features

    return context_from_features(step_features(analysis))
