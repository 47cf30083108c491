"""The rule-based part the arranger plays when the part model writes (almost) nothing.

The part model can write no drums for a song with a perfectly clear beat (a 3/4 piano waltz: the
analysis was right, the model had rarely heard 3/4 without drums) or a handful of notes over half
a minute. A song with a beat is not refused for that: the arranger plays this part instead and
says so. It reads the same ``(106, T)`` context the model reads (``stemgen.midi.context``): beats
and bar starts from the analysis, chroma and low-band chroma for the harmony; the rules are those
of the MIDI rule baseline (``stemgen.midi.baselines.rule_part``): drums hats on the 8ths, kick on
the bar's first beat (and the middle one in even meters), snare on the others; bass the beat's
low-band root; guitar the bar's triad.
"""

from __future__ import annotations

import numpy as np

from stemgen.midi.baselines import BASS_LOW, GUITAR_LOW
from stemgen.midi.context import SLICES
from stemgen.midifile.lanes import DRUM_OUT_PITCH

KICK, SNARE, CLOSED_HAT = (int(DRUM_OUT_PITCH[i]) for i in (0, 1, 2))
# Fewer notes than this per bar is "the model wrote almost nothing" (5 drum notes in 14 bars).
MIN_NOTES_PER_BAR = 0.5


def too_sparse(notes: list, context: np.ndarray) -> bool:
    """Whether ``notes`` are too few for the song's bars to be the part it asked for."""
    return len(notes) < MIN_NOTES_PER_BAR * max(1, _bars(context))


def rule_notes(context: np.ndarray, stem: str, density: float = 1.0) -> list[tuple[int, int, int, int]]:
    """``(start_step, end_step, pitch, velocity)`` of the rule part on the context's steps;
    ``density`` sets the drums' hats per beat (1: 8ths, 2: 16ths, 0.5: quarters)."""
    beats = np.flatnonzero(context[SLICES["beat"].start] > 0.5)
    downbeats = set(np.flatnonzero(context[SLICES["downbeat"].start] > 0.5).tolist())
    n_steps = context.shape[1]
    if beats.size == 0:
        return []
    ends = np.append(beats[1:], n_steps)
    beat_in_bar = _beat_in_bar(beats, downbeats)
    meter = max(2, int(np.max(beat_in_bar)) + 1) if downbeats else 4
    notes = []
    if stem == "drums":
        hats = int(np.clip(round(2 * density), 1, 4))
        for b, (s, e) in enumerate(zip(beats, ends)):
            for h in sorted({int(s + (e - s) * k // hats) for k in range(hats)}):
                notes.append((h, h + 1, CLOSED_HAT, 80 if h == s else 70))
            pos = beat_in_bar[b]
            on_kick = pos == 0 or (meter % 2 == 0 and pos == meter // 2)
            notes.append((int(s), int(s) + 1, KICK if on_kick else SNARE, 100 if on_kick else 90))
        return sorted(notes)
    if stem == "bass":
        chroma = context[SLICES["bass_chroma"]] + 0.25 * context[SLICES["chroma"]]
        for s, e in zip(beats, ends):
            root = _root(chroma[:, s:e])
            if root is not None:
                notes.append((int(s), int(e), BASS_LOW + (root - BASS_LOW) % 12, 90))
        return notes
    chroma = context[SLICES["chroma"]]
    bar_starts = sorted(downbeats) or beats[::4].tolist()
    bar_ends = bar_starts[1:] + [n_steps]
    for s, e in zip(bar_starts, bar_ends):
        root = _root(chroma[:, s:e])
        if root is None:
            continue
        energy = chroma[:, s:e].sum(axis=1)
        third = 4 if energy[(root + 4) % 12] >= energy[(root + 3) % 12] else 3
        low = GUITAR_LOW + (root - GUITAR_LOW) % 12
        notes += [(int(s), int(e), low + i, 80) for i in (0, third, 7)]
    return sorted(notes)


def _bars(context: np.ndarray) -> int:
    downbeats = int(np.sum(context[SLICES["downbeat"].start] > 0.5))
    return downbeats or int(np.sum(context[SLICES["beat"].start] > 0.5)) // 4


def _beat_in_bar(beats: np.ndarray, downbeats: set[int]) -> np.ndarray:
    out, pos = np.zeros(beats.size, dtype=np.int64), 0
    for i, s in enumerate(beats):
        pos = 0 if int(s) in downbeats else pos + 1
        out[i] = pos
    return out


def _root(chroma: np.ndarray) -> int | None:
    energy = chroma.sum(axis=1)
    return int(np.argmax(energy)) if energy.max() > 0 else None
