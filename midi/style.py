"""Guitar styles and their rhythm (issue 19): which style a real guitar part plays, which one an
instruction asks for, and how far apart the rhythms of different styles are.

The band songs carry no style labels, but every guitar track names its sound: the GM program. A
real part's style is the program group of its busiest guitar track (acoustic 24-25, clean
electric 26-27, muted 28, driven 29-31); an instruction's style is the group of the sound the
renderer picks from its words (``render.sounds.choose_sound``: "distorted rock" -> Distortion
Guitar), so the two are read the same way.

Rhythm: a part's onset histogram over the 16th positions of its bars (``rhythm_histogram``). Style
separation (``style_separation``) compares the per-style mean histograms of generated parts with
those of real parts: the mean total-variation distance between every two styles' histograms,
generated over real. 1: the styles differ as much as real players' do; 0: the same rhythm whatever
the instruction says.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from stemgen.midifile.grid import SongGrid

STYLE_PROGRAMS = {"acoustic": (24, 25), "clean": (26, 27), "muted": (28,), "driven": (29, 30, 31)}
# The words an evaluation asks each style with (each picks its group's sound in render.sounds).
STYLE_PHRASES = {"acoustic": "acoustic strummed", "clean": "clean electric", "muted": "funky muted",
                 "driven": "distorted rock"}
BAR_POSITIONS = 16  # 16ths of a 4/4 bar; longer bars fold onto these, shorter ones use the first


def style_of_program(program: int) -> str | None:
    return next((s for s, progs in STYLE_PROGRAMS.items() if program in progs), None)


def style_of_grid(grid: SongGrid) -> str | None:
    """The style of a song's real guitar part: the program group of its guitar track with the most notes."""
    tracks = [t for t in grid.role_tracks("guitar")]
    if not tracks:
        return None
    busiest = max(tracks, key=lambda t: int((t.onset > 0).sum()))
    return style_of_program(busiest.program)


def style_of_instruction(instruction: str) -> str | None:
    """The style a guitar instruction asks for (the renderer's sound choice from its words)."""
    from stemgen.render.sounds import choose_sound

    return style_of_program(choose_sound("guitar", instruction).sound.program)


def instruction_for(style: str) -> str:
    return f"Add a {STYLE_PHRASES[style]} guitar part."


def rhythm_histogram(notes, grid: SongGrid) -> np.ndarray | None:
    """(16,) share of a part's onset times at each 16th position of the bar (distinct onset times,
    so a chord counts once); None without notes."""
    starts = np.unique(np.asarray([n[0] for n in notes], np.int64))
    starts = starts[starts < grid.n_steps]
    if starts.size == 0:
        return None
    pos = np.asarray(grid.pos_in_bar)[starts] % BAR_POSITIONS
    return np.bincount(pos, minlength=BAR_POSITIONS) / starts.size


def style_means(histograms: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    return {s: np.mean(h, axis=0) for s, h in histograms.items() if h}


def mean_style_distance(means: dict[str, np.ndarray], styles: list[str] | None = None) -> float:
    """Mean total-variation distance between every two styles' mean histograms (NaN with < 2 styles)."""
    styles = [s for s in (styles or list(means)) if s in means]
    pairs = list(combinations(styles, 2))
    if not pairs:
        return float("nan")
    return float(np.mean([0.5 * np.abs(means[a] - means[b]).sum() for a, b in pairs]))


def style_separation(generated: dict[str, list[np.ndarray]], real: dict[str, list[np.ndarray]]) -> dict:
    """``{"generated", "real", "ratio"}``: mean distance between the styles' rhythms for the generated
    parts, for the real parts, and their ratio (over the styles both have)."""
    gen_means, real_means = style_means(generated), style_means(real)
    both = [s for s in gen_means if s in real_means]
    g, r = mean_style_distance(gen_means, both), mean_style_distance(real_means, both)
    return {"styles": both, "generated": g, "real": r, "ratio": g / r if r > 0 else float("nan")}


# --- the rhythm prior: each style's onsets where its real players put them ------------------------

BEAT_POSITIONS = 4  # 16ths of a beat: on, e, &, a


def beat_positions(context: np.ndarray) -> np.ndarray:
    """(T,) 16th position within the beat (0..3) of each step of a ``(106, T)`` context, read from
    its beat-phase channels (MIDI and audio contexts alike)."""
    from .context import SLICES

    sin, cos = context[SLICES["beat_phase"]]
    angle = np.mod(np.arctan2(sin, cos), 2 * np.pi)
    return np.rint(angle / (2 * np.pi) * BEAT_POSITIONS).astype(np.int64) % BEAT_POSITIONS


def beat_position_share(notes, positions: np.ndarray) -> np.ndarray | None:
    """(4,) share of a part's distinct onset times at each 16th of the beat; None without notes."""
    starts = np.unique(np.asarray([n[0] for n in notes], np.int64))
    starts = starts[starts < positions.size]
    if starts.size == 0:
        return None
    return np.bincount(positions[starts], minlength=BEAT_POSITIONS) / starts.size


def with_style_rhythm(out: np.ndarray, context: np.ndarray, stem: str, instruction: str,
                      setting: dict | None) -> np.ndarray:
    """Model outputs ``out`` (C, T) with the instruction's style's rhythm prior added to the onset
    logits (a copy): ``strength * log(real share / model share)`` per 16th of the beat, so the
    decoder's onsets move towards where real players of that style put theirs. ``out`` itself
    for other stems, without a setting or for a style the setting has no figures for."""
    from .features import ONSET

    if not setting or stem != "guitar":
        return out
    ratio = setting["log_ratio"].get(style_of_instruction(instruction) or "")
    if ratio is None:
        return out
    out = np.array(out, dtype=np.float32, copy=True)
    out[ONSET] += float(setting["strength"]) * np.asarray(ratio, np.float32)[beat_positions(context)]
    return out


def log_ratio(real: list[np.ndarray], model: list[np.ndarray]) -> list[float]:
    """log(real share / model share) per 16th of the beat, shares smoothed by half an onset in 100."""
    r = np.mean(real, axis=0) + 0.005
    m = np.mean(model, axis=0) + 0.005
    return [round(float(x), 4) for x in np.log(r / r.sum()) - np.log(m / m.sum())]
