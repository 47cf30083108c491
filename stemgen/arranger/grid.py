"""The song's beat grid: 16th-note steps to seconds through the detected beat times.

A part is written on a grid of ``STEPS_PER_BEAT`` steps a beat (step ``k`` of beat ``b`` is beat
position ``b + k / 4``). Between two detected beats time runs linearly (the same map a MIDI file
with one tempo event per beat makes); before the first and after the last beat it continues with
the *local* beat period (median of the nearest ``EDGE_INTERVALS`` intervals: the edge rule of
``stemgen.analysis.beat_grid``), so a pickup or a ringing last bar keeps the song's tempo rather
than one jittery interval's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.analysis.beat_grid import edge_periods

STEPS_PER_BEAT = 4
EDGE_INTERVALS = 4
# Beat periods outside what a MIDI reader accepts (stemgen.midifile.io: 10-400 quarter notes a minute).
MIN_PERIOD_S = 60.0 / 400.0
MAX_PERIOD_S = 60.0 / 10.0


@dataclass(frozen=True)
class BeatGrid:
    """Beat times (seconds, strictly increasing, at least two)."""

    beat_times: np.ndarray

    @classmethod
    def from_times(cls, beat_times) -> "BeatGrid":
        t = np.asarray(beat_times, dtype=np.float64).ravel()
        if t.size < 2:
            raise ValueError(f"need at least two beat times to place a part, got {t.size}")
        if not np.all(np.isfinite(t)) or t[0] < 0:
            raise ValueError("beat times must be finite and not negative")
        d = np.diff(t)
        if np.any(d < MIN_PERIOD_S) or np.any(d > MAX_PERIOD_S):
            bad = float(d[(d < MIN_PERIOD_S) | (d > MAX_PERIOD_S)][0])
            raise ValueError(f"beat interval {bad:.3f} s is outside {MIN_PERIOD_S:.2f}-{MAX_PERIOD_S:.0f} s "
                             "(10-400 beats a minute); are these beat times in seconds and sorted?")
        return cls(t)

    @property
    def n_beats(self) -> int:
        return int(self.beat_times.size)

    @property
    def period_before(self) -> float:
        """Local beat period used before the first beat."""
        return edge_periods(self.beat_times, EDGE_INTERVALS)[0]

    @property
    def period_after(self) -> float:
        """Local beat period used after the last beat."""
        return edge_periods(self.beat_times, EDGE_INTERVALS)[1]

    def seconds_at(self, beats) -> np.ndarray:
        """Seconds at (fractional) beat positions."""
        b = np.asarray(beats, dtype=np.float64)
        t = self.beat_times
        i = np.clip(np.floor(b).astype(np.int64), 0, t.size - 2)
        inside = t[i] + (b - i) * (t[i + 1] - t[i])
        before = t[0] + b * self.period_before
        after = t[-1] + (b - (t.size - 1)) * self.period_after
        return np.where(b < 0, before, np.where(b > t.size - 1, after, inside))

    def seconds_at_step(self, steps) -> np.ndarray:
        return self.seconds_at(np.asarray(steps, dtype=np.float64) / STEPS_PER_BEAT)

    def beats_at(self, seconds) -> np.ndarray:
        """Inverse of ``seconds_at``: fractional beat positions at times in seconds."""
        s = np.asarray(seconds, dtype=np.float64)
        t = self.beat_times
        i = np.clip(np.searchsorted(t, s, side="right") - 1, 0, t.size - 2)
        inside = i + (s - t[i]) / (t[i + 1] - t[i])
        before = (s - t[0]) / self.period_before
        after = (t.size - 1) + (s - t[-1]) / self.period_after
        return np.where(s < t[0], before, np.where(s > t[-1], after, inside))

    def period_at(self, seconds) -> np.ndarray:
        """Length in seconds of the beat that contains each time."""
        s = np.asarray(seconds, dtype=np.float64)
        t = self.beat_times
        i = np.clip(np.searchsorted(t, s, side="right") - 1, 0, t.size - 2)
        inside = t[i + 1] - t[i]
        return np.where(s < t[0], self.period_before, np.where(s > t[-1], self.period_after, inside))
