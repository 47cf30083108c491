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

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

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
    from stemgen.render.sounds import program_for

    return style_of_program(program_for("guitar", instruction))


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
PLAIN = "plain"  # the default instruction: its figures set against every real part's
PLAIN_INSTRUCTION = "Add guitar"  # the arranger's default instruction
UNSTYLED = "unstyled"  # sentences without style words (not the plain default): figures and a strength of their own
# (without ``unstyled`` figures in the prior, the default sound's (clean) figures at the ``unstyled`` strength)


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
    logits (a copy): ``strength * log(real share / model share)`` per 16th of the beat (``strength``:
    one for all styles or one per style, ``strength_for``), so the
    decoder's onsets move towards where real players of that style put theirs. ``out`` itself
    for other stems, without a setting or for a style the setting has no figures for."""
    from .features import ONSET

    if not setting or stem != "guitar":
        return out
    key = prior_key(instruction, setting["log_ratio"])
    ratio = setting["log_ratio"].get(key)
    if ratio is None:
        return out
    out = np.array(out, dtype=np.float32, copy=True)
    out[ONSET] += strength_for(setting, key, instruction) * np.asarray(ratio, np.float32)[beat_positions(context)]
    return out


def strength_for(setting: dict, key: str, instruction: str = "") -> float:
    """The prior's strength for the figures of ``key`` (a style or ``PLAIN``): ``setting["strength"]``,
    one number for all or one per key; a sentence without style words (``has_style_words``; not the
    plain default) takes the ``UNSTYLED`` strength where the setting has one."""
    strength = setting["strength"]
    if not isinstance(strength, dict):
        return float(strength)
    if key != PLAIN and UNSTYLED in strength and not has_style_words(instruction):
        return float(strength[UNSTYLED])
    return float(strength[key])


def has_style_words(instruction: str) -> bool:
    """Whether the renderer picks the guitar's sound from the instruction's words (not its default)."""
    from stemgen.render.sounds import choose_sound

    return choose_sound("guitar", instruction).reason != "default"


def strength_text(strength) -> str:
    """``0.6``, or ``acoustic 1, clean 0.8, ...`` for a strength per style."""
    return ", ".join(f"{k} {v:g}" for k, v in strength.items()) if isinstance(strength, dict) else f"{strength:g}"


def prior_key(instruction: str, log_ratio: dict) -> str:
    """Whose figures of the prior apply to ``instruction``: ``PLAIN`` for the arranger's default
    instruction (``PLAIN_INSTRUCTION``, the text they were fitted on) when the prior has figures for
    it; ``UNSTYLED`` for other sentences without style words (``has_style_words``) when it has
    figures for them (fitted on the offline writer's sentences, ``fit_style_rhythm_contexts``); else
    the style of the sound the words pick (no style words: clean, at the ``UNSTYLED`` strength where
    the setting has one, ``strength_for``). The plain figures are not used for the writer's
    sentences: on the rendered valid songs they took them 18 points under the real parts' off-beat
    share (the clean ones 10)."""
    if PLAIN in log_ratio and instruction.strip().rstrip(".").lower() == PLAIN_INSTRUCTION.lower():
        return PLAIN
    if UNSTYLED in log_ratio and not has_style_words(instruction):
        return UNSTYLED
    return style_of_instruction(instruction) or ""


def log_ratio(real: list[np.ndarray], model: list[np.ndarray]) -> list[float]:
    """log(real share / model share) per 16th of the beat, shares smoothed by half an onset in 100."""
    r = np.mean(real, axis=0) + 0.005
    m = np.mean(model, axis=0) + 0.005
    return [round(float(x), 4) for x in np.log(r / r.sum()) - np.log(m / m.sum())]


# --- evaluation: off-beat share per style and style separation --------------------------------------


@dataclass
class StyleSong:
    """One held-out song for ``style_report``: its real guitar part (``real``, notes on ``grid``'s
    steps) of ``style``, and a generator's parts asked in each style's words (``parts``: style ->
    notes on the same steps; only the words differ). ``grid``: ``n_steps`` and ``pos_in_bar``;
    ``positions``: each step's 16th of the beat (``beat_positions`` of the song's context); ``name``:
    the song's file name (for the per-song rows)."""

    style: str
    real: list
    grid: object
    parts: dict
    positions: np.ndarray
    name: str = ""


def offbeat_share(notes, positions: np.ndarray) -> float:
    """Share of a part's distinct onset times on the "&" of the beat (``form_metrics``' ``offbeat``;
    ``positions``: each step's 16th of the beat); NaN without notes."""
    from .form_metrics import as_array, pitched_metrics

    return pitched_metrics(as_array(notes), as_array([]), 4, positions)["offbeat"] if notes else float("nan")


def style_report(songs, rows: bool = False) -> dict:
    """Per real style: the songs, the real parts' off-beat share and that of the generated parts asked
    for that style (``points``: generated minus real, x100, with ``interval``: the 95 % bootstrap
    interval of the per-song differences' mean, so a style's miss can be set against how much its
    songs vary); and the style separation of the generated parts (every song asked in every style)
    against the real parts of those styles. ``songs``: ``StyleSong``s (the MIDI engine's,
    ``evaluate_styles``; the arranger's on audio, ``arranger_form``). ``rows``: also each song's
    name, style and the two shares (``songs``)."""
    from stemgen.stats import bootstrap_mean

    real_off: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    gen_off: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    real_h: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    gen_h: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    per_song = []
    for song in songs:
        real_off[song.style].append(offbeat_share(song.real, song.positions))
        real_h[song.style].append(rhythm_histogram(song.real, song.grid))
        gen_off[song.style].append(offbeat_share(song.parts.get(song.style), song.positions))
        per_song.append({"song": song.name, "style": song.style, "real": round(real_off[song.style][-1], 3),
                         "generated": round(gen_off[song.style][-1], 3)})
        for asked, notes in song.parts.items():
            hist = rhythm_histogram(notes, song.grid) if notes else None
            if hist is not None:
                gen_h[asked].append(hist)
    table = {}
    for s in STYLE_PHRASES:
        if real_off[s]:
            _, low, high = bootstrap_mean(100 * (np.asarray(gen_off[s]) - np.asarray(real_off[s])))
            table[s] = {"songs": len(real_off[s]), "real": float(np.nanmean(real_off[s])),
                        "generated": float(np.nanmean(gen_off[s])),
                        "points": float(100 * (np.nanmean(gen_off[s]) - np.nanmean(real_off[s]))),
                        "interval": [round(low, 1), round(high, 1)]}
    out = {"offbeat": table, "separation": style_separation(gen_h, {s: h for s, h in real_h.items() if h})}
    return out | {"songs": per_song} if rows else out


def asked_in_every_style(generator, context: np.ndarray) -> dict[str, list]:
    """``generator``'s parts for a ``(106, T)`` context asked in each style's words (``instruction_for``)."""
    return {asked: generator.notes_from_context(context, instruction_for(asked)) for asked in STYLE_PHRASES}


def evaluate_styles(files, generator) -> dict:
    """``style_report`` for the MIDI engine: per real style (the song's guitar program group) the real
    parts' off-beat share and that of ``generator``'s parts asked for that style in words, each song's
    context without its guitar, every song asked in every style."""
    from stemgen.midifile.grid import song_to_grid

    from .context import context_from_grid
    from .evaluate import MIN_NOTES, load_song

    def songs():
        for path in files:
            song = load_song(path)
            style = style_of_grid(song.grid)
            if style is None or len(song.real["guitar"]) < MIN_NOTES:
                continue
            context = context_from_grid(song_to_grid(song.without("guitar")[0], 4), "guitar")
            yield StyleSong(style, song.real["guitar"], song.grid, asked_in_every_style(generator, context),
                            beat_positions(context), Path(path).name)

    return style_report(songs())


def fit_from_shares(real: dict[str, list], model: dict[str, list]) -> dict:
    """The prior's figures: ``log_ratio`` per style of the real parts' shares of the 16ths of the
    beat against the model's own (asked in that style), and how many parts each rests on."""
    return {"log_ratio": {s: log_ratio(real[s], model[s]) for s in real if real[s] and model.get(s)},
            "songs": {"real": {s: len(real[s]) for s in real}, "model": len(model["acoustic"])}}


def model_shares(generator, context: np.ndarray, into: dict[str, list], setting: dict | None = None,
                 plain: bool = False, sentence: str | None = None) -> None:
    """Append to ``into`` the shares of the 16ths of the beat of ``generator``'s parts for ``context``
    asked in each style (and with ``PLAIN_INSTRUCTION`` as ``PLAIN`` when ``plain``, and with
    ``sentence``, a sentence without style words, as ``UNSTYLED``), with the rhythm prior ``setting``
    (None: off)."""
    saved, generator.meta["style_rhythm"] = generator.meta.get("style_rhythm"), setting
    try:
        positions = beat_positions(context)
        parts = asked_in_every_style(generator, context)
        if plain:
            parts[PLAIN] = generator.notes_from_context(context, PLAIN_INSTRUCTION)
        if sentence is not None:
            parts[UNSTYLED] = generator.notes_from_context(context, sentence)
        for asked, notes in parts.items():
            share = beat_position_share(notes, positions)
            if share is not None:
                into[asked].append(share)
    finally:
        generator.meta["style_rhythm"] = saved


def fit_style_rhythm(files, generator, every: int = 4) -> dict:
    """``fit_from_shares`` for the MIDI engine: the real guitar parts of ``files`` (songs whose busiest
    guitar is of that style) against the model's own parts asked in each style (every ``every``-th
    song, the prior off)."""
    from stemgen.midifile.grid import song_to_grid

    from .context import context_from_grid
    from .evaluate import MIN_NOTES, load_song

    real: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    model: dict[str, list] = {s: [] for s in STYLE_PHRASES}
    for i, path in enumerate(files):
        song = load_song(path)
        if len(song.real["guitar"]) < MIN_NOTES:
            continue
        style = style_of_grid(song.grid)
        share = beat_position_share(song.real["guitar"], beat_positions(context_from_grid(song.grid, "guitar")))
        if style and share is not None:
            real[style].append(share)
        if i % every == 0:
            model_shares(generator, context_from_grid(song_to_grid(song.without("guitar")[0], 4), "guitar"), model)
    return fit_from_shares(real, model)


def fit_style_rhythm_contexts(examples, generator, passes: int = 1, step: float = 0.5) -> dict:
    """``fit_from_shares`` for the arranger, on analysed audio: ``examples`` are ``(style, context,
    share)`` or ``(style, context, share, sentence)`` of train songs
    (``stemgen.evaluation.arranger_style_fit``: each song's first minute rendered without its guitar
    and analysed as the arranger analyses a user's song; ``share``: the real part's
    ``beat_position_share`` on the analysed steps; ``sentence``: the offline writer's sentence for the
    song's part when it has no style words, else None). The model is asked in each style on every
    context, with its plain default instruction (``PLAIN``, set against every real part whatever its
    style) and with each song's ``sentence`` (``UNSTYLED``, set against the real parts of the songs
    with such a sentence, whatever their style). ``passes`` > 1: each further pass asks the model again with the prior
    fitted so far (strength 1); every pass adds ``step`` times the log ratio of what is still missing, so
    the shares at strength 1 come near the real ones (one pass at step 1: the model's own shares, as
    the MIDI engine's fit). The decoder keeps the most probable steps, so the shares jump with the logits: the
    full step (1) swung between the "&" and the "a" from pass to pass on the train songs; half a
    step (the default) met the real shares within a point after eight passes."""
    real: dict[str, list] = {s: [] for s in (*STYLE_PHRASES, PLAIN, UNSTYLED)}
    asks = []
    for style, context, share, *said in examples:
        sentence = said[0] if said else None
        real[style].append(share)
        real[PLAIN].append(share)
        if sentence is not None:
            real[UNSTYLED].append(share)
        asks.append((context, sentence))
    total: dict[str, np.ndarray] = {}
    for _ in range(passes):
        model: dict[str, list] = {s: [] for s in real}
        setting = {"strength": 1.0, "log_ratio": {k: v.tolist() for k, v in total.items()}} if total else None
        for context, sentence in asks:
            model_shares(generator, context, model, setting, plain=True, sentence=sentence)
        fitted = fit_from_shares(real, model)
        total = {k: total.get(k, 0) + step * np.asarray(v) for k, v in fitted["log_ratio"].items()}
    fitted["log_ratio"] = {k: [round(float(x), 4) for x in v] for k, v in total.items()}
    return fitted | {"passes": passes, "step": step}


def store_style_rhythm(folder: Path, strength, fitted: dict, source: str, chosen: str = "") -> dict:
    """Write the prior (``fitted`` at ``strength``: one number, or one per style key of the fit)
    into ``folder/config.json`` as ``"style_rhythm"`` with its provenance; returns it."""
    import json

    from stemgen.fileio import atomic_write_text

    meta = json.loads((Path(folder) / "config.json").read_text())
    meta["style_rhythm"] = {"strength": strength, **fitted,
                            "provenance": f"fitted on {source}; strength {strength_text(strength)} chosen on "
                                          f"{chosen or 'the valid split'}"}
    atomic_write_text(Path(folder) / "config.json", json.dumps(meta, indent=2))
    return meta["style_rhythm"]


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.midi.style DATA [--split valid] [--model DIR]``: the guitar's off-beat share
    per style against the real parts and the style separation, as JSON. ``--fit STRENGTH --store
    MODEL_DIR``: fit the rhythm prior on DATA's train split and store it in MODEL_DIR/config.json (the
    arranger's, on analysed audio: ``python -m stemgen.evaluation.arranger_style_fit``)."""
    import argparse
    import json

    from .generate import MidiGenerator
    from .splits import files_in_split

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", default=None)
    ap.add_argument("--fit", type=float, default=None, help="strength of the prior to store (chosen on valid)")
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--chosen", default="", help="what the strength was chosen on (stored as provenance)")
    args = ap.parse_args(argv)
    gen = MidiGenerator("guitar", args.model)
    if args.fit is not None and args.store:
        fitted = fit_style_rhythm(files_in_split(args.data, "train"), gen)
        print(json.dumps(store_style_rhythm(args.store, args.fit, fitted, f"{args.data} / train", args.chosen)))
        return
    print(json.dumps(evaluate_styles(files_in_split(args.data, args.split), gen), indent=1))


if __name__ == "__main__":
    main()
