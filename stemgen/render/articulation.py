"""How a guitarist would play the written notes: strums, palm-muted chugs, let-ring arpeggios.

The part model writes a chord as notes that share a grid step; a guitarist's pick crosses the
strings one after another. Here, for notes given as parallel arrays (grid step, onset, offset,
pitch, velocity: ``stemgen.arranger.placement.TimedNotes``'s fields):

* **Strums**: a chord of two or more notes is spread over ``10-40 ms`` (about 7 ms a string,
  tighter at fast tempi, upstrokes 20 % quicker), low to high on a downstroke and high to low on
  an upstroke. The direction follows the picking hand, which moves down and up on a steady
  subdivision: 8ths (down on the beat, up on the "and") unless the part has chords on odd 16ths,
  then 16ths. The first string of a downstroke is the loudest, later ones a little softer; an
  upstroke is softer overall and leans on the high strings.
* **Palm-muted chugs** (``mode="palm_mute"``, rock/metal/punk): short low notes (an 8th or less,
  below middle C) are cut to ``PALM_MUTE_S`` and played 15 % softer.
* **Let ring** (``mode="let_ring"``, arpeggios/ballads/fingerpicking): each note sounds on until the
  same pitch is played again, a note a tone or less away starts (a chord change would clash), or
  two beats pass, whichever comes first; never shorter than written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

STEPS_PER_BEAT = 4
STRUM_MS_PER_STRING = 7.0
# 10-40 ms, less the 1.45 ms that rounding onsets to FluidSynth's 64-sample blocks can add.
STRUM_MIN_MS, STRUM_MAX_MS = 11.5, 38.5
UPSTROKE_SPEED = 0.8  # an upstroke crosses the strings faster
UPSTROKE_VELOCITY = 0.85
STRING_VELOCITY_DROP = 0.04  # each later string of a stroke, relative to the first
PALM_MUTE_S = 0.09
PALM_MUTE_VELOCITY = 0.85
PALM_MUTE_MAX_STEPS = 2
PALM_MUTE_BELOW = 60
LET_RING_BEATS = 2.0
LET_RING_CLASH = 2  # semitones: a new note this close stops a ringing one

PALM_MUTE_WORDS = ("rock", "metal", "punk", "grunge", "chug", "palm", "djent", "hard")
LET_RING_WORDS = ("ballad", "arpeggi", "fingerpick", "finger-pick", "let ring", "picking", "ambient", "dream")
PALM_MUTE_SOUNDS = ("distortion", "overdriven")


@dataclass
class Strokes:
    """Per chord: the grid step, direction (+1 down, -1 up), number of strings, spread in seconds."""

    step: np.ndarray
    direction: np.ndarray
    strings: np.ndarray
    spread_s: np.ndarray


def guitar_mode(instruction: str, sound_name: str) -> str:
    """``let_ring``, ``palm_mute`` or ``plain`` from the instruction's words, else the sound."""
    text = instruction.lower()

    def said(words):
        return any(re.search(r"(?<![a-z])" + re.escape(w), text) for w in words)

    if said(LET_RING_WORDS):
        return "let_ring"
    if said(PALM_MUTE_WORDS) or sound_name in PALM_MUTE_SOUNDS:
        return "palm_mute"
    return "plain"


def stroke_direction(steps: np.ndarray, sixteenths: bool) -> np.ndarray:
    """+1 (down) or -1 (up) for chords on ``steps``: the hand alternates on 8ths or 16ths."""
    steps = np.asarray(steps, dtype=np.int64)
    if sixteenths:
        return np.where(steps % 2 == 0, 1, -1)
    return np.where((steps % STEPS_PER_BEAT) < STEPS_PER_BEAT // 2, 1, -1)


def strum(start_step: np.ndarray, onset_s: np.ndarray, offset_s: np.ndarray, pitch: np.ndarray,
          velocity: np.ndarray, beat_period_s: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Strokes]:
    """New ``(onset_s, offset_s, velocity)`` with every chord strummed, and the strokes played."""
    onset, offset, vel = onset_s.astype(np.float64).copy(), offset_s.astype(np.float64).copy(), velocity.copy()
    steps, inverse, counts = np.unique(start_step, return_inverse=True, return_counts=True)
    chords = np.flatnonzero(counts >= 2)
    sixteenths = bool(np.any(steps[chords] % 2 == 1))
    directions = stroke_direction(steps[chords], sixteenths)
    spreads = np.zeros(chords.size)
    for j, (c, direction) in enumerate(zip(chords, directions)):
        idx = np.flatnonzero(inverse == c)
        idx = idx[np.argsort(pitch[idx] * direction, kind="stable")]  # down: low string first
        n = idx.size
        tempo_scale = float(np.clip(np.median(beat_period_s[idx]) / 0.5, 0.6, 1.2))
        spread = STRUM_MS_PER_STRING * (n - 1) * tempo_scale * (1.0 if direction > 0 else UPSTROKE_SPEED)
        spread = float(np.clip(spread, STRUM_MIN_MS, STRUM_MAX_MS)) / 1e3
        start = float(np.min(onset[idx]))
        # Evenly spaced strings with a little unevenness (+-10 % of a gap), first string on time.
        gaps = 1 + 0.1 * rng.uniform(-1, 1, n - 1)
        gaps *= spread / gaps.sum()
        times = start + np.concatenate([[0.0], np.cumsum(gaps)])
        shape = 1.0 - STRING_VELOCITY_DROP * np.arange(n)
        if direction < 0:
            shape = UPSTROKE_VELOCITY * shape
        onset[idx] = times
        vel[idx] = np.clip(np.rint(vel[idx] * shape), 1, 127)
        offset[idx] = np.maximum(offset[idx], times + 0.02)
        spreads[j] = times[-1] - times[0]
    strokes = Strokes(steps[chords], directions, counts[chords], spreads)
    return onset, offset, vel.astype(np.int64), strokes


def palm_mute(start_step: np.ndarray, end_step: np.ndarray, onset_s: np.ndarray, offset_s: np.ndarray,
              pitch: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Short low notes cut short and softened; returns ``(offset_s, velocity, muted mask)``."""
    muted = ((end_step - start_step) <= PALM_MUTE_MAX_STEPS) & (pitch < PALM_MUTE_BELOW)
    offset = np.where(muted, np.minimum(offset_s, onset_s + PALM_MUTE_S), offset_s)
    vel = np.where(muted, np.clip(np.rint(velocity * PALM_MUTE_VELOCITY), 1, 127), velocity).astype(np.int64)
    return offset, vel, muted


def let_ring(onset_s: np.ndarray, offset_s: np.ndarray, pitch: np.ndarray, beat_period_s: np.ndarray) -> np.ndarray:
    """Offsets extended until the same pitch returns, a clashing note starts, or two beats pass."""
    order = np.argsort(onset_s, kind="stable")
    out = offset_s.astype(np.float64).copy()
    for pos, i in enumerate(order):
        end = onset_s[i] + LET_RING_BEATS * beat_period_s[i]
        later = order[pos + 1 :]
        later = later[onset_s[later] > onset_s[i]]
        stop = later[(pitch[later] == pitch[i]) | (np.abs(pitch[later] - pitch[i]) <= LET_RING_CLASH)]
        if stop.size:
            end = min(end, float(onset_s[stop].min()))
        out[i] = max(out[i], end)
    return out


def articulate_guitar(notes, beat_period_s: np.ndarray, instruction: str, sound_name: str, seed: int) -> dict:
    """Apply the mode's articulation and the strums to ``notes`` (``TimedNotes``-like, changed in
    place; onsets stay sorted); returns what was done, for the render report."""
    mode = guitar_mode(instruction, sound_name)
    info: dict = {"mode": mode}
    if mode == "palm_mute":
        notes.offset_s, notes.velocity, muted = palm_mute(notes.start_step, notes.end_step, notes.onset_s,
                                                          notes.offset_s, notes.pitch, notes.velocity)
        info["palm_muted_notes"] = int(muted.sum())
    elif mode == "let_ring":
        notes.offset_s = let_ring(notes.onset_s, notes.offset_s, notes.pitch, beat_period_s)
    rng = np.random.default_rng([seed, 20])
    notes.onset_s, notes.offset_s, notes.velocity, strokes = strum(
        notes.start_step, notes.onset_s, notes.offset_s, notes.pitch, notes.velocity, beat_period_s, rng)
    notes.offset_s = np.minimum(notes.offset_s, next_same_pitch_onset(notes.onset_s, notes.pitch))
    order = np.argsort(notes.onset_s, kind="stable")
    for field in ("start_step", "end_step", "pitch", "velocity", "onset_s", "offset_s"):
        setattr(notes, field, getattr(notes, field)[order])
    info["strums"] = int(strokes.step.size)
    if strokes.step.size:
        info["downstrokes"] = int(np.sum(strokes.direction > 0))
        info["strum_spread_ms"] = [round(float(np.min(strokes.spread_s)) * 1e3, 1),
                                   round(float(np.max(strokes.spread_s)) * 1e3, 1)]
    return info


def next_same_pitch_onset(onset_s: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Onset of the next note of the same pitch (inf if none): a note-off must come before it."""
    nxt = np.full(onset_s.shape, np.inf)
    for p in np.unique(pitch):
        idx = np.flatnonzero(pitch == p)
        idx = idx[np.argsort(onset_s[idx], kind="stable")]
        nxt[idx[:-1]] = onset_s[idx[1:]]
    return nxt
