"""A stem on the grid ↔ what the part model predicts per step, and predictions → notes.

Stored targets (compact, transposable):
- drums: (9, T) uint8, the loudest velocity per drum class and step (0 = no hit);
- bass / guitar: onset (48, T) uint8 velocity and sustain (48, T) bool over the pitch lanes
  ``PITCH_LOW[stem] + 0..47`` (notes outside folded by octaves). Transposing moves the lanes
  (``train.transpose_lanes``: a note pushed off an end comes back an octave in).

Model outputs per step (see ``model.py``):
- drums: 9 onset logits, 9 velocities;
- bass / guitar: onset logit, sustain logit (a note started earlier still sounds), velocity, and
  pitch logits over the 48 lanes, each the sum of a pitch-class logit (harmony) and a register
  logit (where on the neck): bass picks one pitch (softmax), guitar a set (sigmoid per lane; as
  many notes as the lanes' probabilities add up to).

Decoding respects density: the model's onset probabilities are calibrated by training (cross-entropy),
so their sum over the song estimates how many onsets the real part has; the decoder keeps that
many of the most probable steps (per drum class), times ``density`` (1 = as predicted).
"""

from __future__ import annotations

import numpy as np

from stemgen.midifile.grid import SongGrid, roll_to_notes
from stemgen.midifile.lanes import (
    DRUM_CLASS_OF_PITCH,
    DRUM_OUT_PITCH,
    N_PITCHES,
    PITCH_LOW,
    fold_into_range,
)
from stemgen.stems import PITCHED_STEMS, REGISTRY

N_DRUM = len(DRUM_OUT_PITCH)
N_PC = 12
MAX_POLY = {s: REGISTRY[s].max_polyphony for s in PITCHED_STEMS}
# Output layout of the pitched heads.
ONSET, SUSTAIN, VELOCITY, PC0 = 0, 1, 2, 3
REG0 = PC0 + N_PC


def output_channels(stem: str) -> int:
    return 2 * N_DRUM if stem == "drums" else REG0 + N_PITCHES


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
    for p in np.flatnonzero(onset.max(axis=0)):
        c = DRUM_CLASS_OF_PITCH[p]
        np.maximum(out[:, c], onset[:, p], out=out[:, c])
    return out


def pitch_lanes(onset: np.ndarray, sustain: np.ndarray, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """``(onset (48, T) uint8, sustain (48, T) bool)`` of full (T, 128) rolls folded into the stem's range."""
    low = PITCH_LOW[stem]
    folded = fold_into_range(np.arange(128), low) - low
    on = np.zeros((N_PITCHES, onset.shape[0]), np.uint8)
    sus = np.zeros((N_PITCHES, onset.shape[0]), bool)
    for p in np.flatnonzero(sustain.any(axis=0) | onset.any(axis=0)):
        np.maximum(on[folded[p]], onset[:, p], out=on[folded[p]])
        sus[folded[p]] |= sustain[:, p]
    return on, sus


def encode_target(grid: SongGrid, stem: str) -> dict[str, np.ndarray]:
    """Stored target of ``stem`` in ``grid`` (see the module docstring)."""
    onset, sustain = role_rolls(grid, stem)
    if stem == "drums":
        return {"drums": np.ascontiguousarray(drum_lanes(onset).T)}
    on, sus = pitch_lanes(onset, sustain, stem)
    return {"onset": on, "sustain": sus}


def pitch_logits(out: np.ndarray, stem: str):
    """(48, T) pitch logits from pitched-head outputs ``out`` (C, T): pitch-class + register.

    Works on numpy arrays and torch tensors alike (indexing and addition only).
    """
    pcs = (PITCH_LOW[stem] + np.arange(N_PITCHES)) % N_PC
    return out[..., PC0 + pcs, :] + out[..., REG0 : REG0 + N_PITCHES, :]


def top_cells(prob: np.ndarray, k: int, floor: float = 0.0, rng: np.random.Generator | None = None,
              temperature: float = 0.0) -> np.ndarray:
    """Bool mask of ``k`` cells of ``prob`` above ``floor``: the most probable, or at ``temperature``
    > 0 (with ``rng``) a Gumbel-top-k sample (``temperature`` x Gumbel noise added to the logits, the
    top k kept: k cells drawn without replacement with weights ``exp(logit / temperature)``, Kool et
    al. 2019), drawn among the cells above the floor so a take keeps its count."""
    keep = np.zeros(prob.shape, bool)
    if k <= 0:
        return keep
    key = np.asarray(prob, np.float64)
    if rng is not None and temperature > 0:
        p = np.clip(key, 1e-6, 1 - 1e-6)
        key = np.log(p) - np.log1p(-p) + temperature * rng.gumbel(size=prob.shape)
    key = np.where(prob > floor, key, -np.inf)
    keep[np.argsort(-key, kind="stable")[:min(k, prob.size)]] = True
    return keep & (prob > floor)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def decode_output(
    out: np.ndarray, stem: str, density: float = 1.0, scale: list[float] | None = None, floor: float = 0.0,
    chord_threshold: float | None = None,
) -> list[tuple[int, int, int, int]]:
    """Notes ``(start_step, end_step, pitch, velocity)`` from model outputs ``out`` (C, T) (logits).

    ``scale``: the model's calibration of its onset counts (per drum class, or one value; see
    ``train.density_scale``); ``density``: the user's factor on top; ``floor``: a kept onset must
    also be more probable than this (F1-optimal decoding keeps hits above about half the
    achievable F1, Lipton et al. 2014; set per model in ``config.json`` ``decode.floor``).
    ``chord_threshold`` (guitar): besides the most probable pitch, every pitch at least this
    probable sounds at an onset (up to 6); None: as many as the pitch probabilities add up to.
    """
    out = np.asarray(out, dtype=np.float32)
    T = out.shape[1]
    scale = list(scale or [1.0]) * (N_DRUM if scale is None or len(scale) == 1 else 1)
    if stem == "drums":
        prob = _sigmoid(out[:N_DRUM])
        vel = np.clip(_sigmoid(out[N_DRUM:]) * 127, 20, 127).astype(np.uint8)
        onset = np.zeros((T, 128), np.uint8)
        for c in range(N_DRUM):
            hit = top_cells(prob[c], int(round(density * scale[c] * float(prob[c].sum()))), floor)
            onset[hit, DRUM_OUT_PITCH[c]] = vel[c, hit]
        return roll_to_notes(onset, None, drum_steps=1)
    onset_prob = _sigmoid(out[ONSET])
    hit = top_cells(onset_prob, int(round(density * scale[0] * float(onset_prob.sum()))), floor)
    steps = np.flatnonzero(hit)
    if steps.size == 0:
        return []
    logits = pitch_logits(out[:, steps], stem)  # (48, n)
    if MAX_POLY[stem] == 1:
        chosen = [np.array([i]) for i in np.argmax(logits, axis=0)]
    else:
        # As many notes as the model expects (the sum of the lanes' probabilities), the most probable.
        prob = _sigmoid(logits)
        order = np.argsort(-prob, axis=0)[: MAX_POLY[stem]]
        if chord_threshold is None:
            size = np.round(prob.sum(axis=0))
        else:
            size = (np.take_along_axis(prob, order, axis=0) >= chord_threshold).sum(axis=0)
        size = np.clip(size, 1, MAX_POLY[stem]).astype(int)
        chosen = [order[: size[j], j] for j in range(steps.size)]
    holds = _sigmoid(out[SUSTAIN]) > 0.5
    vel = np.clip(_sigmoid(out[VELOCITY]) * 127, 30, 127).astype(int)
    # A note lasts until the next onset or the first step the sustain head lets go.
    next_onset = np.append(steps[1:], T)
    stops = np.flatnonzero(~holds)
    notes = []
    for j, (s, nxt) in enumerate(zip(steps.tolist(), next_onset.tolist())):
        i = np.searchsorted(stops, s + 1)
        end = min(nxt, int(stops[i]) if i < stops.size else T)
        for lane in chosen[j].tolist():
            notes.append((s, max(end, s + 1), PITCH_LOW[stem] + lane, int(vel[s])))
    notes.sort()
    return notes


def decode_with(out: np.ndarray, stem: str, decode: dict | None, density: float = 1.0) -> list[tuple[int, int, int, int]]:
    """``decode_output`` with a model's ``config.json`` ``decode`` settings: ``density_scale``,
    ``floor``, ``chord_threshold`` and ``onset_factor`` (a factor on the onset count chosen on the
    valid split, see ``tune.py``; ``density`` is the user's factor on top)."""
    decode = decode or {}
    return decode_output(out, stem, density * decode.get("onset_factor", 1.0), decode.get("density_scale"),
                         decode.get("floor") or 0.0, decode.get("chord_threshold"))
