"""Feel from real players: drum velocities and micro-timing learned from the human drummers of the
Groove MIDI Dataset (Gillick et al. 2019, CC BY 4.0), instead of Gaussian jitter.

``measure_feel(folder)`` reads the dataset's train split (4/4 performances, played to a metronome
at the tempo of the file, so a bar starts every 4 beats from tick 0) and records, per drum class and
16th position of the bar, the mean and spread of the velocity (relative to the performance's mean
velocity of that class, so a loud and a soft drummer teach the same accents) and of the onset
offset from the nearest 16th (in 16ths); and the swing of the jazz and shuffle performances (how
late the "&" of a beat lands). ``groove_feel.json`` next to this module holds the result with its
provenance; ``apply_velocity`` and ``timing_offsets`` use it on a generated part.
"""

from __future__ import annotations

import csv
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH, DRUM_CLASSES

FEEL_PATH = Path(__file__).with_name("groove_feel.json")
N_CLASS, N_POS = len(DRUM_CLASSES), 16
MIN_HITS = 30  # a (class, position) cell with fewer hits in the data takes its class's figures
SWING_WORDS = re.compile(r"\b(swing\w*|shuffle\w*|jazz\w*|triplet\w*|bebop|blues)\b", re.IGNORECASE)
SWING_STYLES = ("jazz", "shuffle")  # Groove MIDI styles whose "&"s are played late
# Share of the drummers' measured spread that is played: Groove MIDI's players on an electronic kit
# spread about a sixth of a 16th around their own timing (20 ms at 120 BPM); at full spread a third
# of the hits leave the audio evaluation's on-grid window (±0.2 of a 16th) and the arranger's drums
# scored no better than random onsets there (tests/test_eval_systems.py). Half keeps their push and
# drag (the medians) and the shape of the spread across the bar.
TIMING_SPREAD = 0.5
# The drummers' overall push against their metronome (the median of the kick, snare and closed-hat
# cells: about 0.06 of a 16th early) is taken out, keeping each cell's push or drag relative to it.
# A band on the grid has no metronome to rush: with the push, 60 % of the arranger's hits sat in the
# on-grid window on 40 valid windows (real drums 72 %); without it 79 %; with no timing at all 100 %
# (stemgen eval --systems arranger on `stemgen dataset build` of the valid songs, drums).
PUSH_CLASSES = (0, 1, 2)  # kick, snare, closed hat (stemgen.midifile.lanes.DRUM_CLASSES)


def _performance_hits(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(class, 16th position as float from the first bar line, velocity)`` of every hit."""
    from stemgen.midifile.io import load_midi

    song = load_midi(path)
    rows = [(t.start, t.pitch, t.velocity) for t in song.tracks if t.is_drum and len(t.start)]
    if not rows:
        return None
    start = np.concatenate([r[0] for r in rows]).astype(np.float64)
    pitch = np.concatenate([r[1] for r in rows]).astype(np.int64)
    vel = np.concatenate([r[2] for r in rows]).astype(np.float64)
    return DRUM_CLASS_OF_PITCH[np.clip(pitch, 0, 127)], start / song.tpq * 4.0, vel


def measure_feel(folder: str | Path, split: str = "train") -> dict:
    """Velocity and timing figures of the Groove MIDI performances in ``split`` (see the module docstring)."""
    folder = Path(folder)
    with open(folder / "info.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and r["time_signature"] == "4-4"]
    vel_rel = [[[] for _ in range(N_POS)] for _ in range(N_CLASS)]
    offset = [[[] for _ in range(N_POS)] for _ in range(N_CLASS)]
    spread = [[[] for _ in range(N_POS)] for _ in range(N_CLASS)]  # offsets less the performance's own median
    swing = []
    for row in rows:
        hits = _performance_hits(folder / row["midi_filename"])
        if hits is None:
            continue
        cls, pos16, vel = hits
        nearest = np.rint(pos16)
        off = pos16 - nearest
        cell = nearest.astype(np.int64) % N_POS
        swung = row["style"].split("/")[0] in SWING_STYLES
        for c in np.unique(cls):
            sel = cls == c
            mean, own = vel[sel].mean(), np.median(off[sel])
            for p, v, o in zip(cell[sel].tolist(), (vel[sel] / mean).tolist(), off[sel].tolist()):
                vel_rel[c][p].append(v)
                if not swung:
                    offset[c][p].append(o)
                    spread[c][p].append(o - own)
        if swung:  # how late the "&" lands: the 8th-note hits nearest the middle of the beat
            eighth = pos16 / 2.0
            frac = eighth - np.floor(eighth / 2.0) * 2.0  # 0..2 within the beat, in 8ths
            late = frac[(frac > 0.6) & (frac < 1.6)] - 1.0
            swing.extend((late * 2.0).tolist())  # in 16ths
    cells = {"velocity_ratio_mean": [], "velocity_ratio_sd": [], "offset_mean": [], "offset_sd": [], "hits": []}
    for c in range(N_CLASS):
        all_v = np.concatenate([np.asarray(v) for v in vel_rel[c]] + [np.zeros(0)])
        all_o = np.concatenate([np.asarray(o) for o in offset[c]] + [np.zeros(0)])
        all_s = np.concatenate([np.asarray(o) for o in spread[c]] + [np.zeros(0)])
        row = {k: [] for k in cells}
        for p in range(N_POS):
            v, o = np.asarray(vel_rel[c][p]), np.asarray(offset[c][p])
            use_v = v if v.size >= MIN_HITS else all_v
            use_o = o if o.size >= MIN_HITS else all_o
            use_s = np.asarray(spread[c][p]) if o.size >= MIN_HITS else all_s
            row["velocity_ratio_mean"].append(round(float(use_v.mean()), 4) if use_v.size else 1.0)
            row["velocity_ratio_sd"].append(round(float(use_v.std()), 4) if use_v.size else 0.1)
            row["offset_mean"].append(round(float(np.median(use_o)), 4) if use_o.size else 0.0)
            # One drummer's spread around his own timing (the pooled figure adds the differences between
            # drummers), robust (1.4826 x MAD): triplets and 32nds of fills are no 16th played early or late.
            mad = np.median(np.abs(use_s - np.median(use_s))) * 1.4826 if use_s.size else 0.05
            row["offset_sd"].append(round(float(mad), 4))
            row["hits"].append(int(v.size))
        for k, values in cells.items():
            values.append(row[k])
    return {
        "source": "Groove MIDI Dataset v1.0.0 (Gillick, Roberts, Engel, Eck, Bamman 2019), "
                  "https://magenta.tensorflow.org/datasets/groove, CC BY 4.0",
        "measured_on": f"split {split!r}, 4/4 performances: {len(rows)} files",
        "command": "python -c 'from stemgen.midi.feel import write_feel; write_feel(\"../shared/data/groove_midi\")'",
        "classes": list(DRUM_CLASSES),
        "positions": "16th of a 4/4 bar (other bars use their position modulo 16)",
        "velocity": "hit velocity / the performance's mean velocity of that class",
        "offset": "onset minus the nearest 16th, in 16ths (positive = late): median over all performances, and "
                  "spread = 1.4826 x median absolute deviation of the offsets less each performance's own median "
                  "for the class (one drummer's spread; robust to triplets and 32nds in fills); jazz and shuffle "
                  "left out",
        "swing_offset": round(float(np.median(swing)), 4) if swing else 0.0,
        "swing_note": "median lateness of the '&' (in 16ths) in the jazz and shuffle performances",
        **cells,
    }


FILL_CLASSES = (1, 4, 5, 6)  # snare, low/mid/high tom (stemgen.midifile.lanes.DRUM_CLASSES)
N_FILLS = None  # every figure played is kept (with its count), the tom figures among them


def measure_fills(folder: str | Path, split: str = "train") -> dict:
    """The snare/tom figures Groove MIDI's drummers play at the end of a bar in their fill
    performances: per bar, the loudest snare/tom class on each of the last 4 (one beat) and last 8
    (two beats) 16ths (``None``: none there); a one-beat figure counts with at least 2 hits, a
    two-beat one with at least 2 in each beat. Every figure of each (``N_FILLS``: all), most common first, with counts."""
    folder = Path(folder)
    with open(folder / "info.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split and r["time_signature"] == "4-4"
                and r["beat_type"] == "fill"]
    one: dict[tuple, int] = {}
    two: dict[tuple, int] = {}
    for row in rows:
        hits = _performance_hits(folder / row["midi_filename"])
        if hits is None:
            continue
        cls, pos16, vel = hits
        step = np.rint(pos16).astype(np.int64)
        keep = np.isin(cls, FILL_CLASSES)
        for bar in range(int(step.max()) // N_POS + 1):
            figure = []
            for k in range(bar * N_POS + 8, (bar + 1) * N_POS):
                here = keep & (step == k)
                figure.append(int(cls[here][np.argmax(vel[here])]) if here.any() else None)
            first, last = figure[:4], figure[4:]
            n_first, n_last = sum(x is not None for x in first), sum(x is not None for x in last)
            if n_last >= 2:
                one[tuple(last)] = one.get(tuple(last), 0) + 1
                if n_first >= 2:
                    two[tuple(figure)] = two.get(tuple(figure), 0) + 1
    return {"fills_measured_on": f"split {split!r}, 4/4 fill performances: {len(rows)} files",
            "fills_one_beat": _most_common(one), "fills_two_beats": _most_common(two),
            "fills_note": "snare/tom class per 16th of the bar's last beat (two beats), null = none; with counts"}


def _most_common(counts: dict[tuple, int]) -> list:
    return [[list(f), n] for f, n in sorted(counts.items(), key=lambda kv: -kv[1])[:N_FILLS]]


def write_feel(folder: str | Path, out: str | Path = FEEL_PATH) -> dict:
    from stemgen.fileio import atomic_write_bytes

    feel = {**measure_feel(folder), **measure_fills(folder)}
    atomic_write_bytes(Path(out), (json.dumps(feel, indent=1) + "\n").encode())
    return feel


@lru_cache(maxsize=1)
def load_feel() -> dict:
    return json.loads(FEEL_PATH.read_text())


def _cells(notes: np.ndarray, bar_start_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drum class and 16th position (mod 16) of each note ``(start, end, pitch, velocity)``."""
    cls = DRUM_CLASS_OF_PITCH[np.clip(notes[:, 2], 0, 127)]
    pos = (notes[:, 0] - bar_start_of) % N_POS
    return cls, pos


def apply_velocity(notes: np.ndarray, bar_start_of: np.ndarray, rng: np.random.Generator,
                   contrast: float = 1.0) -> np.ndarray:
    """Velocities with the human accents: each class keeps its mean (the model's level for the
    song) and takes the drummers' ratio for its position (``contrast`` scales the deviation from
    1), plus a per-hit variation drawn from their spread at that position."""
    if not len(notes):
        return notes
    feel = load_feel()
    cls, pos = _cells(notes, bar_start_of)
    ratio = np.asarray(feel["velocity_ratio_mean"])[cls, pos]
    sd = np.asarray(feel["velocity_ratio_sd"])[cls, pos]
    out = notes.copy()
    vel = notes[:, 3].astype(np.float64)
    level = np.zeros(N_CLASS)
    for c in np.unique(cls):
        level[c] = vel[cls == c].mean()
    factor = 1.0 + contrast * (ratio - 1.0 + 0.5 * sd * rng.standard_normal(len(notes)))
    for c in np.unique(cls):  # the class's mean stays the model's level for the song
        factor[cls == c] /= factor[cls == c].mean()
    shaped = level[cls] * factor
    out[:, 3] = np.clip(np.rint(shaped), 1, 127).astype(np.int64)
    return out


def wants_swing(instruction: str) -> bool:
    return bool(SWING_WORDS.search(instruction or ""))


def timing_offsets(notes: np.ndarray, bar_start_of: np.ndarray, rng: np.random.Generator,
                   swing: bool = False, human: bool = True) -> np.ndarray:
    """Per-note onset offsets in 16ths: with ``human``, the drummers' push/drag at the class and
    position (less their overall push, ``PUSH_CLASSES``) plus a draw from their spread (cut at
    2 SD); with ``swing``, every "&" (the 3rd 16th of a beat) late by the swing measured in the
    jazz/shuffle performances."""
    if not len(notes):
        return np.zeros(0)
    feel = load_feel()
    cls, pos = _cells(notes, bar_start_of)
    off = np.zeros(len(notes))
    if human:
        means = np.asarray(feel["offset_mean"])
        push = float(np.median(means[list(PUSH_CLASSES)]))
        sd = np.asarray(feel["offset_sd"])[cls, pos]
        off += means[cls, pos] - push + np.clip(rng.standard_normal(len(notes)), -2, 2) * sd * TIMING_SPREAD
    if swing:
        off += np.where(pos % 4 == 2, feel["swing_offset"], 0.0)
    return np.clip(off, -0.45, 0.9)


def step_offsets(notes, context: np.ndarray, instruction: str, seed: int = 0) -> np.ndarray:
    """Offsets in 16ths (``timing_offsets``, human and swung where asked) of a drum part's notes on
    the steps of a ``(106, T)`` context (bars from its downbeat channel): the arranger's timing."""
    from .drum_form import bar_bounds_from_context
    from .form_metrics import as_array, bar_of

    arr = as_array(notes)
    bounds = bar_bounds_from_context(context)
    rng = np.random.default_rng([seed, 1])
    return timing_offsets(arr, bounds[bar_of(arr[:, 0], bounds)], rng, wants_swing(instruction))


def performed_ticks(notes, grid, instruction: str, seed: int = 0) -> list[tuple[int, int, int, int]]:
    """A drum part's grid-step notes as MIDI ticks on ``grid`` (a ``SongGrid``): on the grid, as the
    band files are (an editor needs no quantising), swung where ``instruction`` asks for swing or a
    shuffle. The human timing (``timing_offsets``) is the arranger's, on audio."""
    from .form_metrics import as_array, bar_bounds, bar_of

    arr = as_array(notes)
    if not len(arr):
        return []
    bounds = bar_bounds(grid)
    rng = np.random.default_rng([seed, 1])
    off = timing_offsets(arr, bounds[bar_of(arr[:, 0], bounds)], rng, wants_swing(instruction), human=False)
    st = grid.step_ticks
    start = np.maximum(np.rint((arr[:, 0] + off) * st), 0).astype(np.int64)
    end = np.maximum(np.rint((arr[:, 1] + off) * st).astype(np.int64), start + 1)
    return [(int(s), int(e), int(p), int(v)) for s, e, p, v in zip(start, end, arr[:, 2], arr[:, 3])]
