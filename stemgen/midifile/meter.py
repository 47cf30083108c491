"""Meters as a listener counts them: the one place a time signature becomes beats.

``6/8``, ``9/8`` and ``12/8`` are compound: 2, 3 and 4 dotted-quarter beats a bar (what a listener
taps, and what a DAW's tempo in those meters usually means); every other ``n/d`` is ``n`` beats of
a ``1/d`` note (``7/8``: 7 eighths; ``3/8``: 3 eighths). The MIDI ground truth
(``evaluation.ground_truth``), ``--beats FILE.mid``, ``--meter`` (CLI, API, page) and the page's
meter label all read meters through here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from stemgen.errors import StemgenInputError

MAX_BEATS_PER_BAR = 16
_METER = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+))?\s*$")


@dataclass(frozen=True)
class Meter:
    """A time signature ``numerator/denominator``."""

    numerator: int
    denominator: int = 4

    @property
    def compound(self) -> bool:
        """6/8, 9/8, 12/8 (...): beats of three eighths."""
        return self.denominator == 8 and self.numerator % 3 == 0 and self.numerator > 3

    @property
    def beats_per_bar(self) -> int:
        return self.numerator // 3 if self.compound else self.numerator

    @property
    def beat_quarters(self) -> float:
        """The beat's length in quarter notes (a dotted quarter, 1.5, in compound meters)."""
        return 4.0 / self.denominator * (3 if self.compound else 1)

    @property
    def label(self) -> str:
        return f"{self.numerator}/{self.denominator}"


def parse_meter(meter: str | int, option: str = "--meter") -> Meter:
    """``"3/4"``, ``"4/4"``, ``"6/8"`` (compound: 2 beats), ``"7/8"`` (7) or a number of beats
    (``"3"``: 3/4); a one-line ``StemgenInputError`` naming ``option`` otherwise."""
    m = _METER.match(str(meter))
    num = int(m.group(1)) if m else 0
    den = int(m.group(2)) if m and m.group(2) else 4
    if not m or not 1 <= num <= 4 * MAX_BEATS_PER_BAR or den not in (1, 2, 4, 8, 16):
        raise StemgenInputError(option, f"{meter!r} is not a meter (e.g. 4/4, 3/4, 6/8 or a number of beats)")
    found = Meter(num, den)
    if not 1 <= found.beats_per_bar <= MAX_BEATS_PER_BAR:
        raise StemgenInputError(option, f"{meter!r}: {found.beats_per_bar} beats a bar is outside 1-{MAX_BEATS_PER_BAR}")
    return found


def meter_label(beats_per_bar: int, compound: bool = False) -> str:
    """How the page and the CLI print a meter: ``4/4``, ``3/4``; ``6/8`` for 2 compound beats."""
    return f"{3 * int(beats_per_bar)}/8" if compound else f"{int(beats_per_bar)}/4"


def bar_beat_ticks(tpq: int, time_signatures: list[tuple[int, int, int]], end_tick: int) -> tuple[np.ndarray, np.ndarray]:
    """(beat ticks, downbeat ticks) before ``end_tick`` from ``(tick, num, den)`` time signatures (4/4
    before the first); the beat as ``Meter`` counts it."""
    sigs = list(time_signatures) or [(0, 4, 4)]
    if sigs[0][0] > 0:
        sigs.insert(0, (0, 4, 4))
    end = max(int(end_tick), 1)
    beats, downbeats = [], []
    for i, (tick, num, den) in enumerate(sigs):
        stop = sigs[i + 1][0] if i + 1 < len(sigs) else end
        meter = Meter(num, den)
        unit = tpq * meter.beat_quarters
        beats.extend(np.arange(tick, stop, unit))
        downbeats.extend(np.arange(tick, stop, unit * meter.beats_per_bar))
    return np.array(beats), np.array(downbeats)
