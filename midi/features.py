"""Grid → model tensors: the target stem's lanes (what the diffusion model generates) and the
context (every other role, reduced), and target lanes → notes.

Target lanes, values in [-1, 1], time along the second axis:
- drums: 9 onset lanes (+1 hit, -1 none) and 9 velocity lanes (velocity at a hit, -1 elsewhere);
- bass / guitar: 48 onset lanes, 48 sustain lanes (pitches ``PITCH_LOW[stem]`` + 0..47) and one
  velocity lane (mean velocity of the step's onsets).
Context channels (93): the 9 drum-class onset velocities; for each of bass, guitar and other:
sounding chroma (12), onset chroma (12), lowest sounding pitch and a sounding flag; and 6 position
channels (phase in the beat and in the bar, bar line, beat). The removed role's channels are zero.
"""

from __future__ import annotations

import numpy as np

from .grid import SongGrid, roll_to_notes
from .lanes import DRUM_CLASS_OF_PITCH, DRUM_OUT_PITCH, N_PITCHES, PITCH_LOW, ROLES, fold_into_range

N_DRUM = len(DRUM_OUT_PITCH)
PITCHED_CTX = 26
N_POS = 6
CONTEXT_CHANNELS = N_DRUM + 3 * PITCHED_CTX + N_POS


def target_channels(stem: str) -> int:
    return 2 * N_DRUM if stem == "drums" else 2 * N_PITCHES + 1


def role_rolls(grid: SongGrid, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Union of a role's tracks: ``(onset velocity (T,128) uint8, sustain (T,128) bool)``."""
    onset = np.zeros((grid.n_steps, 128), dtype=np.uint8)
    sustain = np.zeros((grid.n_steps, 128), dtype=bool)
    for tr in grid.role_tracks(role):
        np.maximum(onset, tr.onset, out=onset)
        sustain |= tr.sustain
    return onset, sustain


def drum_lanes(onset: np.ndarray) -> np.ndarray:
    """(T, 9) loudest velocity (0..127) per drum class."""
    out = np.zeros((onset.shape[0], N_DRUM), dtype=np.uint8)
    cols = np.flatnonzero(onset.max(axis=0))
    for p in cols:
        c = DRUM_CLASS_OF_PITCH[p]
        np.maximum(out[:, c], onset[:, p], out=out[:, c])
    return out


def pitched_context(onset: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """(T, 26) chroma of sounding and starting notes, lowest pitch, sounding flag."""
    T = onset.shape[0]
    pad = np.zeros((T, 132), dtype=np.float32)
    pad[:, :128] = sustain
    sc = pad.reshape(T, 11, 12).sum(axis=1)
    pad[:, :128] = onset > 0
    oc = pad.reshape(T, 11, 12).sum(axis=1)
    any_s = sustain.any(axis=1)
    lowest = np.where(any_s, np.argmax(sustain, axis=1), 0).astype(np.float32)
    return np.concatenate(
        [np.minimum(sc, 2) / 2, np.minimum(oc, 2) / 2, (lowest / 127.0)[:, None], any_s[:, None]], axis=1
    ).astype(np.float32)


def position_channels(grid: SongGrid) -> np.ndarray:
    """(T, 6) where each step sits in its beat and bar."""
    t = np.arange(grid.n_steps)
    beat_phase = 2 * np.pi * (t % grid.steps_per_beat) / grid.steps_per_beat
    bar_phase = 2 * np.pi * grid.pos_in_bar / np.maximum(grid.bar_steps, 1)
    on_beat = (grid.pos_in_bar % grid.steps_per_beat) == 0
    return np.stack(
        [np.sin(beat_phase), np.cos(beat_phase), np.sin(bar_phase), np.cos(bar_phase), grid.bar_start, on_beat],
        axis=1,
    ).astype(np.float32)


def context_features(grid: SongGrid, stem: str, drop: tuple[str, ...] = ()) -> np.ndarray:
    """(CONTEXT_CHANNELS, T) float32 context with ``stem`` (and any role in ``drop``) removed."""
    parts = []
    for role in ROLES:
        onset, sustain = role_rolls(grid, role) if role != stem and role not in drop else (None, None)
        if role == "drums":
            parts.append(np.zeros((grid.n_steps, N_DRUM), np.float32) if onset is None else drum_lanes(onset) / 127.0)
        else:
            parts.append(
                np.zeros((grid.n_steps, PITCHED_CTX), np.float32) if onset is None else pitched_context(onset, sustain)
            )
    parts.append(position_channels(grid))
    return np.ascontiguousarray(np.concatenate(parts, axis=1).T.astype(np.float32))


def encode_target(grid: SongGrid, stem: str) -> np.ndarray:
    """(target_channels(stem), T) float32 lanes of the union of ``stem``'s tracks."""
    onset, sustain = role_rolls(grid, stem)
    return encode_rolls(onset, sustain, stem)


def encode_rolls(onset: np.ndarray, sustain: np.ndarray, stem: str) -> np.ndarray:
    """Target lanes from full (T, 128) rolls."""
    T = onset.shape[0]
    if stem == "drums":
        lanes = drum_lanes(onset).astype(np.float32)
        hit = lanes > 0
        out = np.concatenate([np.where(hit, 1.0, -1.0), np.where(hit, lanes / 127.0 * 2 - 1, -1.0)], axis=1)
        return np.ascontiguousarray(out.T.astype(np.float32))
    low = PITCH_LOW[stem]
    folded = fold_into_range(np.arange(128), low)
    on = np.zeros((T, N_PITCHES), dtype=np.float32)
    sus = np.zeros((T, N_PITCHES), dtype=bool)
    cols = np.flatnonzero(sustain.any(axis=0) | onset.any(axis=0))
    for p in cols:
        q = folded[p] - low
        np.maximum(on[:, q], onset[:, p].astype(np.float32), out=on[:, q])
        sus[:, q] |= sustain[:, p]
    hit = on > 0
    n_hit = hit.sum(axis=1)
    vel = np.where(n_hit > 0, on.sum(axis=1) / np.maximum(n_hit, 1) / 127.0 * 2 - 1, -1.0)
    out = np.concatenate([np.where(hit, 1.0, -1.0), np.where(sus | hit, 1.0, -1.0), vel[:, None]], axis=1)
    return np.ascontiguousarray(out.T.astype(np.float32))


def decode_target(x: np.ndarray, stem: str, max_poly: int | None = None) -> list[tuple[int, int, int, int]]:
    """Notes ``(start_step, end_step, pitch, velocity)`` from generated lanes ``x`` (C, T)."""
    x = np.asarray(x)
    if stem == "drums":
        hit = x[:N_DRUM].T > 0
        vel = np.clip((x[N_DRUM:].T + 1) / 2 * 127, 20, 127).astype(np.uint8)
        onset = np.zeros((x.shape[1], 128), dtype=np.uint8)
        onset[:, DRUM_OUT_PITCH] = np.where(hit, vel, 0)
        return roll_to_notes(onset, None, drum_steps=1)
    low = PITCH_LOW[stem]
    on_score = x[:N_PITCHES].T
    hit = on_score > 0
    if max_poly is not None:
        # Keep the ``max_poly`` most confident onsets of a step (a bass line is one note at a time).
        rank = np.argsort(-on_score, axis=1).argsort(axis=1)
        hit &= rank < max_poly
    sus = x[N_PITCHES : 2 * N_PITCHES].T > 0
    vel = np.clip((x[2 * N_PITCHES] + 1) / 2 * 127, 30, 127).astype(np.uint8)
    onset = np.zeros((x.shape[1], 128), dtype=np.uint8)
    sustain = np.zeros((x.shape[1], 128), dtype=bool)
    onset[:, low : low + N_PITCHES] = np.where(hit, vel[:, None], 0)
    sustain[:, low : low + N_PITCHES] = sus
    return roll_to_notes(onset, sustain)


def role_slices() -> dict[str, slice]:
    """Where each role's block sits in the context channels (for dropping roles in training)."""
    out, start = {}, 0
    for role in ROLES:
        width = N_DRUM if role == "drums" else PITCHED_CTX
        out[role] = slice(start, start + width)
        start += width
    return out
