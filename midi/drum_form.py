"""Drums with form (issue 19): groove-plus-variation decoding of the drum model's probabilities.

The drum model predicts each 16th step on its own, so decoding its most probable steps gives bars
that never repeat, no cymbals or toms (each is rarely probable enough at any one step) and drums
through the bars where the band rests. A drummer plays a groove per section, varies it where the
song asks, fills before phrase and section ends, crashes into a new section and rests with the band.
This decoder writes that from the model's own probabilities and the context alone (the same
(106, T) context from MIDI or from analysed audio, so the arranger gets it too):

1. bars from the context's downbeat channel; sections from a Foote novelty on per-bar features of
   the context (harmony, onset bands, energy) picked as ``form_metrics.pick_section_starts`` picks
   them for the evaluation;
2. rests: bars where the context is silent, or where the model expects far fewer hits than in the
   song's other bars;
3. a groove bar per section: the model's probabilities averaged over the section's bars (bar
   position by position), decoded to as many hits per class as the model expects per bar (times the
   model's ``groove_count`` for the class where it under-counts; top-k,
   or a Gumbel-top-k sample at ``temperature`` > 0 for another take: ``features.top_cells``) among
   the cells above the model's floor, or for a class with a ``relative_floor`` (the snare) above
   that share of its most probable cell where that is lower, repeated in every bar;
4. variation: a bar keeps its own decision at a cell where its own probability differs from the
   groove's by more than ``variation`` (the model hears a break or a pushed chord there);
5. a fill (snare and toms: every figure Groove MIDI's drummers play at the end of a bar in their
   fill performances, ``feel.measure_fills``, drawn from the seed by how often they play them) in
   the last beat before every ``fill_every``-bar phrase end
   and the last two beats before a section start, where the model hears one coming (its snare/tom
   probability in that beat at least ``fill_gate`` times the song's median); a crash with the kick
   on the first step of each section and after each rest (on a section's first bar itself where
   the band plays it but the drums rest in it and come in on the next: ``_entries``; on the audio's
   first bar only when it is the start of a song, not an excerpt cut from inside one: ``song_start``);
   the ride instead of the closed hi-hat in
   the loudest sections (up to ``ride_share`` of the bars);
6. velocities with the accents of Groove MIDI's drummers (``feel.apply_velocity``);
7. where the model's ``decode.drummers`` asks for it, the take's drummer profile
   (``drummers.draw_profile``: one real drummer's toms per bar and ride share, or the instruction's
   words): the fills spend the drummer's tom budget (figures with toms while some are left, without
   after), the rest goes into the groove (``_groove_toms``), and the ride takes the closed hi-hat in
   the loudest sections up to the drummer's ride share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemgen.midifile.lanes import DRUM_OUT_PITCH

from .context import SLICES
from .drummers import draw_profile, song_key
from .features import N_DRUM, top_cells
from .feel import FILL_CLASSES, apply_velocity, load_feel
from .form_metrics import bounds_from_bar_starts, foote_novelty, pick_section_starts

KICK, SNARE, CLOSED_HAT, OPEN_HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = range(9)
TOMS = (LOW_TOM, MID_TOM, HIGH_TOM)
TIMEKEEPING = (CLOSED_HAT, OPEN_HAT, RIDE)


@dataclass(frozen=True)
class DrumForm:
    """Settings of the form decoding (chosen on the valid split, see docs/EVALUATION.md)."""

    variation: float = 0.15
    fill_every: int = 4
    crash: bool = True
    ride_share: float = 0.15
    fill_gate: float = 1.0
    rest_energy: float = 0.02
    rest_hits: float = 0.4
    accent: float = 0.3  # share of the human drummers' accent contrast (feel.apply_velocity)


def bar_bounds_from_context(context: np.ndarray) -> np.ndarray:
    """Bar start steps (from the downbeat channel) plus the end: bar ``i`` is ``[b[i], b[i+1])``."""
    return bounds_from_bar_starts(context[SLICES["downbeat"].start])


def per_bar(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(n_bars, C) mean of the (C, T) rows ``x`` over each bar."""
    sums = np.add.reduceat(x, bounds[:-1], axis=1).T
    return sums / np.maximum(np.diff(bounds), 1)[:, None]


def context_bar_features(context: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(n_bars, 16): pitch-class profile (normalised per bar), onset bands and energy."""
    chroma = per_bar(context[SLICES["chroma"]], bounds)
    chroma /= np.maximum(chroma.sum(axis=1, keepdims=True), 1e-9)
    texture = per_bar(context[SLICES["onset_low"].start:SLICES["energy"].stop], bounds)
    return np.concatenate([chroma, texture], axis=1)


def sounding_bars(energy: np.ndarray, rest_energy: float = DrumForm.rest_energy) -> np.ndarray:
    """Bars where the context sounds (per-bar ``energy`` at least ``rest_energy``); every bar when
    none does (a model given the meter only: no rests to follow)."""
    sounding = energy >= rest_energy
    return sounding if sounding.any() else np.ones_like(sounding)


def context_sections(context: np.ndarray, bounds: np.ndarray, playing: np.ndarray) -> np.ndarray:
    """Section-start bars of the context (see the module docstring)."""
    active = np.flatnonzero(playing)
    if active.size == 0:
        return np.zeros(0, np.int64)
    return pick_section_starts(foote_novelty(context_bar_features(context, bounds)), int(active[0]))


def decode_drums(out: np.ndarray, context: np.ndarray, decode: dict | None, density: float = 1.0,
                 seed: int = 0, temperature: float = 0.0,
                 form: DrumForm = DrumForm(), instruction: str = "", song_start: bool = True) -> list[tuple[int, int, int, int]]:
    """Notes ``(start_step, end_step, pitch, velocity)`` of a drum part with form from the drum
    model's outputs ``out`` (18, T) and the ``context`` it heard (see the module docstring).
    ``decode``: the model's ``config.json`` decode settings (density scale, onset factor, floor, the
    groove's ``relative_floor`` and ``groove_count`` per class and, where a model has its own, ``variation``
    and ``ride_share``;
    ``drummers``: the habits of a real drummer a take draws (``"toms"``, ``"ride"``; ``[]``: the
    instruction's words only, the decoder's own toms and ride without them) to play the take's drummer profile, ``drummers.draw_profile`` of
    ``seed``, the song and ``instruction``, instead of ``form.ride_share``).
    ``song_start``: the context is a song from its start (its first sounding bar opens a section and
    the drums' entry crashes); ``False``: an excerpt cut from inside a song, whose drums play on from
    before its first bar (``_entries``)."""
    decode = decode or {}
    rng = np.random.default_rng(seed)
    T = out.shape[1]
    prob = 1.0 / (1.0 + np.exp(-np.clip(out[:N_DRUM], -30, 30)))
    vel = np.clip(1.0 / (1.0 + np.exp(-np.clip(out[N_DRUM:2 * N_DRUM], -30, 30))) * 127, 20, 127)
    scale = np.asarray(decode.get("density_scale") or [1.0], np.float64)
    scale = np.broadcast_to(scale, (N_DRUM,)) * decode.get("onset_factor", 1.0) * density
    floor = decode.get("floor") or 0.0
    relative = np.broadcast_to(np.asarray(decode.get("relative_floor") or [1.0], np.float64), (N_DRUM,))
    count = np.broadcast_to(np.asarray(decode.get("groove_count") or [1.0], np.float64), (N_DRUM,))
    variation = decode.get("variation", form.variation)  # a model's own (the arranger's: analysed bars vary more)
    ride_share = decode.get("ride_share", form.ride_share)  # a model's own (the MIDI drum model's: none)

    bounds = bar_bounds_from_context(context)
    n_bars, lengths = bounds.size - 1, np.diff(bounds)
    energy = per_bar(context[SLICES["energy"]], bounds)[:, 0]
    expected = per_bar(prob * scale[:, None], bounds).sum(axis=1) * lengths
    sounding = sounding_bars(energy, form.rest_energy)
    typical = np.median(expected[sounding]) if sounding.any() else 0.0
    playing = sounding & (expected >= form.rest_hits * typical)
    sections = context_sections(context, bounds, sounding)
    section_of = np.searchsorted(sections, np.arange(n_bars), side="right") - 1 if sections.size else np.zeros(
        n_bars, np.int64)

    hits = np.zeros((N_DRUM, T), bool)
    for sec in np.unique(section_of):
        in_sec = (section_of == sec) & playing
        for length in np.unique(lengths[in_sec]):
            bars = np.flatnonzero(in_sec & (lengths == length))
            cells = np.stack([prob[:, bounds[b]:bounds[b] + length] for b in bars])  # (bars, 9, L)
            mean = cells.mean(axis=0)
            groove = np.stack([top_cells(mean[c], round(float(count[c] * scale[c] * mean[c].sum())),
                                         min(floor, relative[c] * mean[c].max()), rng, temperature)
                               for c in range(N_DRUM)])
            for b, own in zip(bars, cells):
                bar = groove.copy()
                bar |= (own - mean > variation) & (own > floor)
                bar &= ~(mean - own > variation)
                hits[:, bounds[b]:bounds[b] + length] = bar
    velocity = np.where(hits, vel, 0.0)

    habits = decode.get("drummers")
    profile = None if habits is None else draw_profile(seed, instruction, song_key(context), tuple(habits))
    drawn_ride = profile is not None and profile.ride_share is not None
    _ride_in_loud_sections(hits, velocity, section_of, playing, energy, bounds,
                           profile.ride_share if drawn_ride else ride_share, nearest=drawn_ride)
    full = lengths >= 0.75 * np.median(lengths)
    starts = _entries(sections, playing, sounding, full, song_start) if form.crash else np.zeros(0, np.int64)
    for b in starts:  # a crash and the kick on the one; the hi-hat gives way to the cymbal
        s = bounds[b]
        hits[CRASH, s] = hits[KICK, s] = True
        hits[list(TIMEKEEPING), s] = False
        velocity[CRASH, s] = max(velocity[:, bounds[b]:bounds[b + 1]].max(initial=0), vel[CRASH, s])
        velocity[KICK, s] = max(velocity[KICK, s], vel[KICK, s])
    tom_budget = None if profile is None or profile.toms_per_bar is None else profile.toms_per_bar * playing.sum()
    tom_budget = _fills(hits, velocity, vel, bounds, sections, playing, form.fill_every, rng, prob, form.fill_gate,
                        tom_budget)
    if tom_budget is not None:
        _groove_toms(hits, velocity, vel, prob, bounds, section_of, playing, tom_budget)

    cls, steps = np.nonzero(hits)
    notes = np.stack([steps, steps + 1, DRUM_OUT_PITCH[cls], np.rint(velocity[cls, steps])], axis=1).astype(np.int64)
    notes = notes[np.lexsort((notes[:, 2], notes[:, 0]))]
    bar_start_of = bounds[np.searchsorted(bounds, notes[:, 0], side="right") - 1]
    notes = apply_velocity(notes, bar_start_of, rng, form.accent)
    return [tuple(int(x) for x in n) for n in notes]


def _entries(sections: np.ndarray, playing: np.ndarray, sounding: np.ndarray, full: np.ndarray,
             song_start: bool = True) -> np.ndarray:
    """Bars whose first step gets the crash: those that open a section or follow a rest, where the
    drums play; a section start the band plays but the drums rest in (an intro bar, a pickup) when
    the drums come in on the next bar: the crash marks the section there, not a bar late.
    A rest is a ``full`` bar the drums sit out (a cut bar at the audio's edge is none) or, when the
    audio is a ``song_start``, the time before it. An excerpt from inside a song (``song_start`` False) has
    no section start at its first sounding bar and the drums are taken as playing on from before it."""
    sections = sections[sections < playing.size]
    if not song_start:
        sections = sections[1:]  # the first is where the audio starts (``pick_section_starts``' ``first``)
    nxt = np.concatenate([playing[1:], [False]])
    early = sections[~playing[sections] & sounding[sections] & nxt[sections]]
    before = np.zeros(playing.size, bool)  # the drums play in the last full (or played) bar before
    state = not song_start
    for b in range(playing.size):
        before[b] = state
        if playing[b] or full[b]:
            state = bool(playing[b])
    after_rest = np.setdiff1d(np.flatnonzero(playing & ~before), early + 1)
    both = np.union1d(sections[playing[sections]], after_rest)
    return np.union1d(both, early)


def _ride_in_loud_sections(hits, velocity, section_of, playing, energy, bounds, share: float,
                           nearest: bool = False) -> None:
    """The closed hi-hat moves to the ride in the loudest sections, as long as they hold at most
    ``share`` of the playing bars and the song has another section to contrast with; with
    ``nearest`` (a drummer profile's ride share), as many of the loudest sections as bring the ride's
    bars nearest to ``share`` of the playing bars, the whole song included."""
    secs = [s for s in np.unique(section_of[playing])]
    if (len(secs) < 2 and not nearest) or share <= 0:
        return
    loudness = {s: energy[(section_of == s) & playing].mean() for s in secs}
    budget, total = share * playing.sum(), 0
    for s in sorted(secs, key=lambda s: -loudness[s]):
        n = int(((section_of == s) & playing).sum())
        if total + n > budget and not (nearest and total + n - budget < budget - total):
            break
        total += n
        for b in np.flatnonzero((section_of == s) & playing):
            span = slice(bounds[b], bounds[b + 1])
            hits[RIDE, span] |= hits[CLOSED_HAT, span]
            velocity[RIDE, span] = np.maximum(velocity[RIDE, span], velocity[CLOSED_HAT, span])
            hits[CLOSED_HAT, span] = False
            velocity[CLOSED_HAT, span] = 0.0


def _draw_figure(kind: str, rng: np.random.Generator, toms: bool | None = None) -> list:
    """A fill figure (a drum class or None per 16th) drawn by how often the drummers play it;
    ``toms``: among those with (True) or without (False) a tom only."""
    figures = load_feel()[kind]
    if toms is not None:
        figures = [f for f in figures if any(c in TOMS for c in f[0]) == toms] or figures
    counts = np.array([n for _, n in figures], np.float64)
    return figures[rng.choice(len(figures), p=counts / counts.sum())][0]


def _fills(hits, velocity, vel, bounds, sections, playing, every: int, rng, prob, gate: float,
           tom_budget: float | None = None) -> float | None:
    """A fill at the end of the bar before each section start (two beats) and at the end of every
    ``every``-th bar of the drums' phrases (one beat), when the next bar plays too and the model
    hears one coming: its snare and tom probability in the bar's last beat is at least ``gate``
    times the song's median for a bar's last beat. ``tom_budget``: the tom hits the drummer plays
    in the song (a profile's): fills take a figure with toms while some are left, one without after;
    returns what is left of it (``None`` without a budget: any figure)."""
    n_bars = bounds.size - 1
    beat = 4
    last_beat = np.array([prob[list(FILL_CLASSES), max(bounds[b + 1] - beat, bounds[b]):bounds[b + 1]].sum()
                          for b in range(n_bars)])
    typical = np.median(last_beat[playing]) if playing.any() else 0.0
    first = int(np.argmax(playing)) if playing.any() else 0
    section_end = set((sections[sections > 0] - 1).tolist())
    for b in range(n_bars - 1):
        if not (playing[b] and playing[b + 1]):
            continue
        phrase_end = every > 0 and (b - first + 1) % every == 0
        if (b not in section_end and not phrase_end) or last_beat[b] < gate * typical:
            continue
        figure = _draw_figure("fills_two_beats" if b in section_end else "fills_one_beat", rng,
                              None if tom_budget is None else bool(tom_budget > 0))
        end = bounds[b + 1]
        start = end - len(figure)
        if start < bounds[b]:  # bar too short for it (a pickup bar)
            continue
        if tom_budget is not None:
            tom_budget -= sum(c in TOMS for c in figure)
        level = max(velocity[SNARE, bounds[b]:end].max(initial=0), vel[SNARE, start:end].max(), 90)
        keep_kick = hits[KICK, start:end].copy()
        hits[:, start:end] = False
        velocity[:, start:end] = 0.0
        hits[KICK, start:end] = keep_kick & (np.arange(len(figure)) % 4 == 0)
        velocity[KICK, start:end] = np.where(hits[KICK, start:end], vel[KICK, start:end], 0.0)
        for i, cls in enumerate(figure):
            if cls is not None:
                hits[cls, start + i] = True
                velocity[cls, start + i] = level * (0.8 + 0.2 * i / max(len(figure) - 1, 1))  # crescendo
    return tom_budget


def _groove_toms(hits, velocity, vel, prob, bounds, section_of, playing, budget: float) -> None:
    """A tom-heavy drummer's toms in the groove: when the profile's tom hits left after the fills
    (``budget``) come to at least half a hit per playing bar, each section's bars get that many
    (rounded) on the cells where the model's tom probability, averaged over the section's bars,
    is highest (the most probable tom there), the same cells in every bar; cells a fill already
    plays a tom on are left as they are."""
    n_play = int(playing.sum())
    toms_a_bar = int(round(budget / n_play)) if n_play else 0
    if toms_a_bar <= 0:
        return
    lengths = np.diff(bounds)
    toms = list(TOMS)
    for sec in np.unique(section_of[playing]):
        in_sec = (section_of == sec) & playing
        for length in np.unique(lengths[in_sec]):
            bars = np.flatnonzero(in_sec & (lengths == length))
            mean = np.mean([prob[toms, bounds[b]:bounds[b] + length] for b in bars], axis=0)  # (3, L)
            cells = np.argsort(-mean.max(axis=0), kind="stable")[:toms_a_bar]
            for b in bars:
                for i in cells:
                    s = bounds[b] + i
                    if hits[toms, s].any():
                        continue
                    c = toms[int(np.argmax(mean[:, i]))]
                    hits[c, s] = True
                    velocity[c, s] = vel[c, s]
