"""Each sampled sound's onset delay: how long after its note-on a note becomes audible.

Samples do not start at their attack: FluidR3_GM's fingered bass reaches its attack about 20 ms
after the note-on at E1-C2 and 3 ms at C4, the acoustic bass 2 ms, a kick 2 ms. A part placed
exactly on the beat therefore sounds late by a different amount per sound and pitch. The table
(``onset_delays.json``, built by ``scripts/measure_onset_delays.py`` from renders of every key of
every sound the arranger plays, at 16 velocities, and at all 127 where velocity layers differ) lets the renderer send each note-on that much
early, so the note *sounds* at its time.

Onset definition (used to build the table and by the tests that check it): the first sample
whose magnitude reaches ``THRESHOLD_DB`` (-20 dB) of the note's peak within ``PEAK_WINDOW_S`` of
the note-on, the note rendered alone. -20 dB sits on the steep part of an attack (a percussive
attack crosses it within a millisecond) and above the pre-attack noise of the samples.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np

THRESHOLD_DB = -20.0
PEAK_WINDOW_S = 0.25
VELOCITIES = tuple(range(7, 128, 8))  # 7, 15, ..., 127: the first pass of the measurement
SAME_MS = 0.5  # a key whose delays all lie within this is stored as one number
TABLE = "onset_delays.json"


def onset_delay_s(audio: np.ndarray, sample_rate: int, start: int, window_s: float = PEAK_WINDOW_S) -> float | None:
    """Seconds from sample ``start`` to the first sample at -20 dB of the peak in ``window_s``
    (``audio`` mono or ``(channels, n)``: the loudest channel counts); None when silent."""
    x = np.abs(np.atleast_2d(np.asarray(audio, dtype=np.float32))).max(axis=0)
    seg = x[start : start + int(window_s * sample_rate)]
    peak = float(seg.max(initial=0.0))
    if peak < 1e-6:
        return None
    return int(np.argmax(seg >= peak * 10 ** (THRESHOLD_DB / 20))) / sample_rate


def sound_key(soundfont: str, bank: int, program: int) -> str:
    return f"{soundfont}/{bank}/{program}"


@functools.lru_cache(maxsize=1)
def load_table() -> dict:
    """The shipped table: ``{"sounds": {"<soundfont>/<bank>/<program>": {"<key>": ms |
    [[first velocity, ms], ...]}}, ...}`` (velocity layers: each run holds up to the next)."""
    text = resources.files("stemgen.render").joinpath(TABLE).read_text()
    return json.loads(text)


def delays_s(soundfont: str, bank: int, program: int, keys: np.ndarray, velocities: np.ndarray,
             table: dict | None = None) -> tuple[np.ndarray, bool]:
    """Onset delay in seconds of each ``(key, velocity)`` note, and whether the table knows the
    sound (unknown sounds and keys get 0: played as written)."""
    table = load_table() if table is None else table
    entry = table["sounds"].get(sound_key(soundfont, bank, program))
    keys = np.asarray(keys, dtype=np.int64)
    out = np.zeros(keys.shape, dtype=np.float64)
    if entry is None:
        return out, False
    for i, (k, v) in enumerate(zip(keys.tolist(), np.asarray(velocities).tolist())):
        value = entry.get(str(k))
        if isinstance(value, list):
            value = next(ms for first, ms in reversed(value) if first <= v or first == value[0][0])
        if value is not None:
            out[i] = value / 1e3
    return out, True


def varies(delays_ms: list[float | None]) -> bool:
    audible = [d for d in delays_ms if d is not None]
    return bool(audible) and max(audible) - min(audible) > SAME_MS


def summarize_key(velocities: list[int], delays_ms: list[float | None]) -> float | list[list[float]] | None:
    """One key's entry: one number when its delays agree within ``SAME_MS``, else runs
    ``[[first velocity, ms], ...]`` where the delay changes (silent velocities take the previous
    audible one's value)."""
    audible = [d for d in delays_ms if d is not None]
    if not audible:
        return None
    if not varies(delays_ms):
        return round(float(np.median(audible)), 2)
    runs: list[list[float]] = []
    last = audible[0]
    for v, d in zip(velocities, delays_ms):
        last = d if d is not None else last
        if not runs or abs(runs[-1][1] - last) > SAME_MS:
            runs.append([int(v), round(float(last), 2)])
    return runs
