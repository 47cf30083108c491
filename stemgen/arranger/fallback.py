"""The rule-based part the arranger plays when the part model writes (almost) nothing.

The part model can write no drums for a song with a perfectly clear beat (a 3/4 piano waltz: the
analysis was right, the model had rarely heard 3/4 without drums) or a handful of notes over half
a minute. A song with a beat is not refused for that: the arranger plays this part instead and
says so. It reads the same ``(106, T)`` context the model reads (``stemgen.midi.context``): beats
and bar starts from the analysis, chroma and low-band chroma for the harmony; the rules are those
of the MIDI rule baseline (``stemgen.midi.baselines.rule_part``): drums hats on the 8ths, kick on
the bar's first beat (and the middle one in even meters), snare on the others; bass the root of
the beat's chord; guitar the bar's chord as a triad. The chords are the analysis's own chord finder
(``stemgen.analysis.chords.chord_labels``: triad templates on the beat's chroma, smoothed over its
neighbours, the low-band chroma deciding the root), so the fallback bass plays the root the chord
labels name; the strongest pitch class of the beat's low band, as before, matched the real bass
on fewer beats (docs/EVALUATION.md, issue 19).
"""

from __future__ import annotations

import numpy as np

from stemgen.analysis.chords import NO_CHORD, chord_labels
from stemgen.analysis.key import PITCH_CLASSES
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
    chords = _beat_chords(context, beats, ends)
    if stem == "bass":
        return [(int(s), int(e), BASS_LOW + (chord[0] - BASS_LOW) % 12, 90)
                for s, e, chord in zip(beats, ends, chords) if chord is not None]
    bar_starts = sorted(downbeats) or beats[::4].tolist()
    bar_ends = bar_starts[1:] + [n_steps]
    for s, e in zip(bar_starts, bar_ends):
        in_bar = [c for b, c in zip(beats, chords) if s <= b < e and c is not None]
        if not in_bar:
            continue
        root, third = in_bar[0]  # the chord the bar starts with
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


def _beat_chords(context: np.ndarray, beats: np.ndarray, ends: np.ndarray) -> list[tuple[int, int] | None]:
    """``(root pitch class, third in semitones)`` of each beat's chord (``chord_labels`` on the
    context's chroma and low-band chroma averaged over the beat); None where no chord sounds."""
    def per_beat(rows: np.ndarray) -> np.ndarray:
        return np.stack([rows[:, s:max(e, s + 1)].mean(axis=1) for s, e in zip(beats, ends)], axis=1)

    labels = chord_labels(per_beat(context[SLICES["chroma"]]), beat_bass=per_beat(context[SLICES["bass_chroma"]]))
    return [None if label == NO_CHORD else (PITCH_CLASSES.index(label.split(":")[0]), 3 if label.endswith("min") else 4)
            for label in labels]
