"""Metrics of form and feel (issue 19): what a drummer, bassist or guitarist hears and the note
F1s do not — a groove that repeats, crashes and fills where sections change, accents and ghost
notes, the bass in its register, strums on the "&", rests where the band leaves room.

Every function works on one part as grid-step notes ``(start_step, end_step, pitch, velocity)``
on the song's 16th grid (``SongGrid`` with ``steps_per_beat`` 4), the grid giving the bar lines.
The values are absolute (a part's own share, count or ratio); the evaluation prints them for the
real part next to the model and the baselines, so "like the real part" means "close to the real
row". Some compare with the real part directly (register, note length, activity).

Which metrics see the order of bars: bar-pattern variety per 8 bars, crash on section starts,
fill placement and activity change when the real part's bars are shuffled; the others (share of
the most common bar, counts per bar, ride share, velocities, register, note length, off-beat
share) are distributions over bars and by design do not — they tell a random or wrongly
registered part from a real one instead.

Sections: MIDI files of the band set carry no section markers, so section starts are found in
the context (the song without the evaluated part): Foote's checkerboard novelty (Foote 2000) on a
bar-by-bar self-similarity of harmony (pitch-class profile) and texture (which roles sound, how
densely), kept only at 4-bar phrase boundaries and where the novelty peaks.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from stemgen.midifile.grid import SongGrid
from stemgen.midifile.lanes import DRUM_CLASS_OF_PITCH
from stemgen.stems import ROLES

DRUM_COLUMNS = ("rep_share", "patterns_per_8", "crash_on_section", "ride_share", "snares_per_bar", "toms_per_bar",
                "fill_extra", "vel_spread", "ghost_share", "activity", "rests_kept")
PITCHED_COLUMNS = ("rep_share", "patterns_per_8", "pitch_diff", "pitch_off", "octave_err", "len_ratio", "offbeat",
                   "vel_spread", "activity", "rests_kept")
FORM_COLUMNS = tuple(dict.fromkeys(DRUM_COLUMNS + PITCHED_COLUMNS))

SNARE, CLOSED_HAT, OPEN_HAT, CRASH, RIDE = 1, 2, 3, 7, 8
TOMS = (4, 5, 6)
PHRASE_BARS = 4  # section starts are looked for on 4-bar phrase boundaries
FILL_PHRASE_BARS = 8  # fills are expected before 8-bar phrase boundaries (and section starts)
GHOST_FRACTION = 0.6  # a snare hit softer than this share of the part's loud (90th pct) snare hits is a ghost note


def as_array(notes) -> np.ndarray:
    """``(n, 4)`` int64 array of step notes (velocity 100 where a note has none)."""
    rows = [tuple(n[:4]) if len(n) >= 4 else (*n[:3], 100) for n in notes]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def bounds_from_bar_starts(bar_start: np.ndarray, n_steps: int | None = None) -> np.ndarray:
    """Bar start steps plus the end from a (T,) bool (or 0/1) bar-start row (the end: ``n_steps``, else T): bar ``i`` is
    ``[b[i], b[i+1])``; a song that does not open on a bar line gets a pickup bar from step 0.
    The one way bars are cut, for the metrics (``bar_bounds``) and the drum decoding
    (``drum_form.bar_bounds_from_context``) alike."""
    starts = np.flatnonzero(np.asarray(bar_start) > 0.5)
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    return np.append(starts, len(bar_start) if n_steps is None else n_steps).astype(np.int64)


def bar_bounds(grid: SongGrid) -> np.ndarray:
    """Bar start steps plus the song's end: bar ``i`` is ``[b[i], b[i+1])``."""
    return bounds_from_bar_starts(grid.bar_start, grid.n_steps)


def shuffled_bars(notes, grid, seed: int = 0) -> list[tuple]:
    """The control every form metric is checked against: the part with its bars of the most common
    length in a random order (notes keep their place in the bar). ``grid``: anything with the
    ``SongGrid`` fields ``bar_bounds`` reads."""
    arr = as_array(notes)
    bounds = bar_bounds(grid)
    lengths = np.diff(bounds)
    full = np.flatnonzero(lengths == np.bincount(lengths).argmax())
    perm = dict(zip(full.tolist(), np.random.default_rng(seed).permutation(full).tolist()))
    bars = np.searchsorted(bounds, arr[:, 0], side="right") - 1
    return sorted((s + int(bounds[perm.get(b, b)] - bounds[b]), e + int(bounds[perm.get(b, b)] - bounds[b]), p, v)
                  for (s, e, p, v), b in zip(arr.tolist(), bars.tolist()))


def bar_of(steps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(bounds, steps, side="right") - 1, 0, bounds.size - 2)


def bars_playing(notes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(n_bars,) bool: a note starts or sounds in the bar."""
    n_bars = bounds.size - 1
    diff = np.zeros(n_bars + 1, np.int64)
    if len(notes):
        first = bar_of(notes[:, 0], bounds)
        last = bar_of(np.maximum(notes[:, 1] - 1, notes[:, 0]), bounds)
        np.add.at(diff, first, 1)
        np.add.at(diff, last + 1, -1)
    return np.cumsum(diff[:-1]) > 0


def bar_patterns(notes: np.ndarray, bounds: np.ndarray, drums: bool) -> list[frozenset | None]:
    """Each bar's pattern: the set of (16th position, drum class) onsets for drums, of 16th
    positions for pitched parts (the rhythm: a bass line repeats its rhythm under changing
    chords); ``None`` for a bar without onsets."""
    n_bars = bounds.size - 1
    cells: list[set] = [set() for _ in range(n_bars)]
    if len(notes):
        bars = bar_of(notes[:, 0], bounds)
        pos = notes[:, 0] - bounds[bars]
        label = DRUM_CLASS_OF_PITCH[notes[:, 2]] if drums else np.zeros(len(notes), np.int64)
        for b, p, lab in zip(bars.tolist(), pos.tolist(), label.tolist()):
            cells[b].add((p, lab))
    return [frozenset(c) if c else None for c in cells]


def repetition(patterns: list[frozenset | None]) -> tuple[float, float]:
    """``(share of playing bars equal to the most common bar, distinct patterns per 8 bars)``.
    The second is the mean over consecutive 8-bar windows (of playing bars) of the number of
    distinct patterns: 1 for a loop, 8 when every bar differs."""
    played = [p for p in patterns if p is not None]
    if not played:
        return math.nan, math.nan
    share = Counter(played).most_common(1)[0][1] / len(played)
    windows = [played[i:i + 8] for i in range(0, len(played), 8)]
    full = [w for w in windows if len(w) == 8] or windows
    return share, float(np.mean([len(set(w)) for w in full]))


# --- sections from the context --------------------------------------------------------------------


def context_bar_features(grid: SongGrid, stem: str, bounds: np.ndarray) -> np.ndarray:
    """(n_bars, 12 + 2 * roles) per-bar features of the song without ``stem``: pitch-class
    profile (sounding steps, normalised), and per other role the share of steps it sounds in and
    its onsets per step."""
    n_bars = bounds.size - 1
    bars = bar_of(np.arange(grid.n_steps), bounds)
    lengths = np.maximum(np.diff(bounds), 1).astype(np.float64)
    chroma = np.zeros((grid.n_steps, 12))
    texture = []
    for role in (r for r in ROLES if r != stem):
        sounding = np.zeros(grid.n_steps, bool)
        onsets = np.zeros(grid.n_steps)
        for tr in grid.role_tracks(role):
            on = tr.onset > 0
            sounding |= tr.sustain.any(axis=1) | on.any(axis=1)
            onsets += on.sum(axis=1)
            if not tr.is_drum:
                full = np.zeros((grid.n_steps, 132))
                full[:, :128] = tr.sustain | on
                chroma += full.reshape(grid.n_steps, 11, 12).sum(axis=1)
        texture.append(np.bincount(bars, sounding, n_bars) / lengths)
        texture.append(np.minimum(np.bincount(bars, onsets, n_bars) / lengths, 1.0))
    bar_chroma = np.stack([np.bincount(bars, chroma[:, k], n_bars) for k in range(12)], axis=1)
    bar_chroma /= np.maximum(bar_chroma.sum(axis=1, keepdims=True), 1e-9)
    return np.concatenate([bar_chroma, np.stack(texture, axis=1)], axis=1)


def foote_novelty(features: np.ndarray, half: int = PHRASE_BARS) -> np.ndarray:
    """Novelty per bar (a boundary before bar ``i``): a Gaussian-tapered checkerboard kernel of
    ``half`` bars a side correlated along the diagonal of the cosine self-similarity matrix."""
    norm = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)
    ssm = norm @ norm.T
    n = ssm.shape[0]
    off = np.arange(-half, half) + 0.5  # bar offsets from the line between bars i-1 and i
    sign = np.sign(off[:, None] * off[None, :])
    taper = np.exp(-0.5 * (off[:, None] ** 2 + off[None, :] ** 2) / (half / 1.5) ** 2)
    kernel = sign * taper  # +within past and within future, -across: high where they differ
    padded = np.pad(ssm, half, mode="edge")
    out = np.zeros(n)
    for i in range(n):
        out[i] = float((padded[i:i + 2 * half, i:i + 2 * half] * kernel).sum())
    return np.maximum(out, 0) / max(taper.sum(), 1e-9)


def section_starts(grid: SongGrid, stem: str) -> np.ndarray:
    """Bars (indices) where a new section starts in the context: 4-bar phrase boundaries (counted
    from the first bar where the context plays) whose novelty is a peak among the neighbouring
    phrase boundaries and at least half the song's highest; plus the bar where the context
    starts playing."""
    bounds = bar_bounds(grid)
    feats = context_bar_features(grid, stem, bounds)
    active = np.flatnonzero(feats[:, 12:].max(axis=1) > 0)
    if active.size == 0:
        return np.zeros(0, np.int64)
    return pick_section_starts(foote_novelty(feats), int(active[0]))


def pick_section_starts(novelty: np.ndarray, first: int) -> np.ndarray:
    """Section-start bars from a per-bar novelty: ``first`` (where the context starts playing) and
    the 4-bar phrase boundaries after it whose novelty is a peak among the neighbouring boundaries
    and at least half the song's highest (shared by the evaluation and the drums' decoding)."""
    cands = np.arange(first + PHRASE_BARS, novelty.size, PHRASE_BARS)
    if cands.size == 0:
        return np.array([first])
    nov = novelty[cands]
    top = nov.max()
    left = np.concatenate([[-np.inf], nov[:-1]])
    right = np.concatenate([nov[1:], [-np.inf]])
    keep = (nov >= left) & (nov >= right) & (nov >= 0.5 * top) & (top > 0)
    return np.concatenate([[first], cands[keep]]).astype(np.int64)


def sections_on_bars(section_times: np.ndarray, bar_times: np.ndarray) -> np.ndarray:
    """Section starts found on one grid (``section_times``: their bar lines, seconds) as bars of
    another: ``bar_times`` (n_bars + 1,) its bar lines and end (seconds, ascending). Each goes to
    the bar whose start is nearest in time, if within half the grid's median bar length (a short
    pickup bar is not a bar's length); sorted, each bar once. How the arranger's evaluation puts the sections of a song's MIDI on the bars its
    analysis found in the audio."""
    section_times, bar_times = np.asarray(section_times, float), np.asarray(bar_times, float)
    starts = bar_times[:-1]
    if not section_times.size or not starts.size:
        return np.zeros(0, np.int64)
    dist = np.abs(starts[None, :] - section_times[:, None])
    idx = dist.argmin(axis=1)
    near = dist[np.arange(idx.size), idx] <= 0.5 * np.median(np.diff(bar_times))
    return np.unique(idx[near]).astype(np.int64)


# --- drums ----------------------------------------------------------------------------------------


def drum_metrics(notes: np.ndarray, grid: SongGrid, bounds: np.ndarray, sections: np.ndarray,
                 playing: np.ndarray) -> dict[str, float]:
    out = {c: math.nan for c in ("crash_on_section", "ride_share", "snares_per_bar", "toms_per_bar", "fill_extra",
                                 "ghost_share")}
    n_play = int(playing.sum())
    cls = DRUM_CLASS_OF_PITCH[notes[:, 2]] if len(notes) else np.zeros(0, np.int64)
    if n_play:
        out["snares_per_bar"] = float(np.sum(cls == SNARE) / n_play)
        out["toms_per_bar"] = float(np.isin(cls, TOMS).sum() / n_play)
    timekeeping = np.isin(cls, (CLOSED_HAT, OPEN_HAT, RIDE))
    if timekeeping.any():
        out["ride_share"] = float(np.mean(cls[timekeeping] == RIDE))
    beat = grid.steps_per_beat
    if sections.size:
        # A crash (or a ride-bell-less cymbal accent: class crash) within the first beat of the section.
        crash_steps = notes[cls == CRASH, 0]
        starts = bounds[sections]
        hit = [np.any((crash_steps >= s) & (crash_steps < s + beat)) for s in starts]
        out["crash_on_section"] = float(np.mean(hit))
    # Fills: snare/tom hits in the last beat before a boundary minus those in the last beat of the
    # other bars (the same beat of the bar, so a backbeat on 4 alone is no fill; 0 = no fills there).
    n_bars = bounds.size - 1
    boundary = np.zeros(n_bars, bool)
    boundary[sections[sections > 0] - 1] = True
    boundary[FILL_PHRASE_BARS - 1:-1:FILL_PHRASE_BARS] = True
    fills = notes[np.isin(cls, (SNARE, *TOMS)), 0] if len(notes) else np.zeros(0, np.int64)
    last_beat = fills >= bounds[bar_of(fills, bounds) + 1] - beat
    hits = np.bincount(bar_of(fills[last_beat], bounds), minlength=n_bars)
    full = np.diff(bounds) >= beat
    before, other = boundary & playing & full, ~boundary & playing & full
    if before.any() and other.any():
        out["fill_extra"] = float(hits[before].mean() - hits[other].mean())
    snare_vel = notes[cls == SNARE, 3]
    if snare_vel.size:
        loud = np.percentile(snare_vel, 90)
        out["ghost_share"] = float(np.mean(snare_vel < GHOST_FRACTION * loud))
    return out


# --- bass / guitar --------------------------------------------------------------------------------


def pitched_metrics(notes: np.ndarray, real: np.ndarray, steps_per_beat: int,
                    beat_position: np.ndarray | None = None) -> dict[str, float]:
    """``offbeat``: the share of distinct onset times on the "&" of the beat, the step's position in
    its beat from ``beat_position`` (per step, 0..steps_per_beat - 1: an analysed grid whose first
    step is not on a beat) or else the step index (a MIDI grid starts on a beat)."""
    out = {c: math.nan for c in ("pitch_diff", "pitch_off", "octave_err", "len_ratio", "offbeat")}
    if not len(notes):
        return out
    onset_times = np.unique(notes[:, 0])
    if beat_position is None:
        in_beat = onset_times % steps_per_beat
    else:
        in_beat = np.asarray(beat_position)[np.minimum(onset_times, len(beat_position) - 1)]
    out["offbeat"] = float(np.mean(in_beat == steps_per_beat // 2))
    if not len(real):
        return out
    out["pitch_diff"] = float(np.median(notes[:, 2]) - np.median(real[:, 2]))
    out["pitch_off"] = abs(out["pitch_diff"])  # the mean over songs of the signed figure hides a wrong register
    out["len_ratio"] = float(np.median(notes[:, 1] - notes[:, 0]) / max(np.median(real[:, 1] - real[:, 0]), 1e-9))
    # Octave errors: among the part's notes that start with a real note of the same pitch class,
    # the share where no real note there has the same pitch.
    real_pc = set(zip(real[:, 0].tolist(), (real[:, 2] % 12).tolist()))
    real_pitch = set(zip(real[:, 0].tolist(), real[:, 2].tolist()))
    pc_hit = [(s, p) for s, p in zip(notes[:, 0].tolist(), notes[:, 2].tolist()) if (s, p % 12) in real_pc]
    if pc_hit:
        out["octave_err"] = float(np.mean([(s, p) not in real_pitch for s, p in pc_hit]))
    return out


# --- all stems ------------------------------------------------------------------------------------


def form_metrics(part, real, grid: SongGrid, stem: str, sections: np.ndarray | None = None) -> dict[str, float]:
    """Every form-and-feel column for one part (NaN where it does not apply to ``stem``).

    ``part``/``real``: step notes on ``grid``; ``sections``: section-start bars (default:
    ``section_starts(grid, stem)``, the same for every part of one song — pass it to compute it once).
    """
    drums = stem == "drums"
    notes, ref = as_array(part), as_array(real)
    bounds = bar_bounds(grid)
    out = {c: math.nan for c in FORM_COLUMNS}
    playing, real_playing = bars_playing(notes, bounds), bars_playing(ref, bounds)
    out["rep_share"], out["patterns_per_8"] = repetition(bar_patterns(notes, bounds, drums))
    out["activity"] = float(np.mean(playing == real_playing))
    if (~real_playing).any():
        out["rests_kept"] = float(np.mean(~playing[~real_playing]))
    if len(notes):
        v = notes[:, 3]
        out["vel_spread"] = float(np.percentile(v, 90) - np.percentile(v, 10))
    if drums:
        if sections is None:
            sections = section_starts(grid, stem)
        out.update(drum_metrics(notes, grid, bounds, sections, playing))
    else:
        out.update(pitched_metrics(notes, ref, grid.steps_per_beat, getattr(grid, "beat_position", None)))
    return out
