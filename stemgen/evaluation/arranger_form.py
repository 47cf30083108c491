"""Form and feel of the arranger's parts on rendered held-out band songs, where the true part is known
(issue 19): each song's MIDI is rendered per family (``render.stems.render_stems``), the arranger
plays the stem into the rendered context (audio in, as a user's song), and the real part's notes
are put on the arranger's own analysed 16th steps and bars, so ``midi.form_metrics`` compares like
with like. Rows per song: the arranger, the real part (scores like a real part by definition), the
real part with its bars shuffled and a random part (the same checks as the MIDI metrics' tests);
plus the stem's level against the context (LU) for the arranger, the real part and the fixed
default, and each row's F1 against the real part on the same steps (``part_f1``, as ``stemgen midi eval``). The analysis is the arranger's own, so a wrong beat grid shows up as a worse real row;
the bars are the analysed context's (those the part model and the drum decoder work in), and so is
each step's place in the beat (``offbeat``: the analysed steps start before the first beat, on any 16th).

Guitar styles (``style_songs``, ``--styles``): each song's analysed context asked in every style's
words (``midi.style.instruction_for``; only the words differ), the off-beat share per style against
the real parts of that style (the program group of the song's busiest guitar track) and the style
separation, as ``python -m stemgen.midi.style`` reports them for the MIDI engine (``style_report``).

Drums: the section starts are the song's, as the MIDI metric finds them (``form_metrics.
section_starts`` on the song without the drums), put by time on the analysed bars
(``midi_sections``); ``crash_on_section`` and ``fill_extra`` use them for every row. The arranger
row also says how the sections its decoder finds in the analysed context (``decoder_sections``)
agree with them (``sections_true``/``_found``, ``recall``, ``precision``, exact and within a bar)
and how often it crashes on its own (``crash_on_found``); every row gets ``crash_elsewhere`` (the
same share on the other bar starts) and ``crash_extra`` (the difference: a random part with
crashes everywhere scores high on section starts alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RENDER_RATE = 22_050
SECONDS = 60.0  # the first minute of each song
SOURCES = ("arranger", "real", "shuffled", "random")


@dataclass
class StepGrid:
    """What ``midi.form_metrics`` and ``midi.style`` read of a grid: steps, bar lines, steps a beat,
    each step's 16th of the beat (``beat_position``: the analysed steps need not start on a beat)."""

    n_steps: int
    bar_start: np.ndarray
    beat_position: np.ndarray | None = None
    steps_per_beat: int = 4

    @property
    def pos_in_bar(self) -> np.ndarray:
        """Steps since the last bar line (since the first step before the first one)."""
        idx = np.arange(self.n_steps)
        last = np.maximum.accumulate(np.where(np.asarray(self.bar_start, bool), idx, 0))
        return idx - last


def nearest_steps(times: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Index of the nearest step boundary (``times``: the T + 1 step boundaries) for each time."""
    idx = np.clip(np.searchsorted(times, seconds), 1, times.size - 1)
    return np.where(np.abs(times[idx - 1] - seconds) <= np.abs(times[idx] - seconds), idx - 1, idx)


def real_part_on_steps(song, stem: str, times: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The song's ``stem`` notes ``(start_step, end_step, pitch, velocity)`` on the analysed steps
    (onsets before the last step; a note lasts at least one step)."""
    from stemgen.midifile.lanes import track_role

    T = times.size - 1
    out = []
    for tr in song.tracks:
        if not len(tr) or track_role(tr.program, tr.is_drum) != stem:
            continue
        on, off = song.seconds_at(tr.start), song.seconds_at(tr.start + tr.duration)
        keep = on < times[-1]
        s = np.minimum(nearest_steps(times, on[keep]), T - 1)
        e = np.maximum(np.minimum(nearest_steps(times, off[keep]), T), s + 1)
        out += list(zip(s.tolist(), e.tolist(), tr.pitch[keep].tolist(), tr.velocity[keep].tolist()))
    return sorted(out)


def bar_grid(context: np.ndarray) -> StepGrid:
    """The arranger's own bars: the analysed context's downbeat channel, as the drum decoder reads
    them (``drum_form.bar_bounds_from_context``), so the parts are measured on the bars they were
    written in (the analysis' detected downbeats alone miss the bars it extends before and after them)."""
    from stemgen.midi.context import SLICES
    from stemgen.midi.style import beat_positions

    bar = np.asarray(context[SLICES["downbeat"].start]) > 0.5
    return StepGrid(bar.size, bar, beat_positions(context))


def midi_sections(song, stem: str, bar_times: np.ndarray) -> np.ndarray:
    """The ground truth: the song's section starts as the MIDI metric finds them
    (``form_metrics.section_starts`` on the whole song without ``stem``), put by time on the
    analysed bars (``bar_times``: their bar lines and end, seconds; ``form_metrics.sections_on_bars``)."""
    from stemgen.midi.form_metrics import bar_bounds, section_starts, sections_on_bars
    from stemgen.midifile.grid import song_to_grid

    midi_grid = song_to_grid(song, 4)
    bars = section_starts(midi_grid, stem)
    return sections_on_bars(midi_grid.seconds_at_step(bar_bounds(midi_grid)[bars]), bar_times)


def decoder_sections(context: np.ndarray) -> np.ndarray:
    """The section starts the drum decoder finds in the analysed ``context`` (the context as the
    model hears it): ``drum_form.context_sections`` over the bars where the context sounds."""
    from stemgen.midi.context import SLICES
    from stemgen.midi.drum_form import bar_bounds_from_context, context_sections, per_bar, sounding_bars

    bounds = bar_bounds_from_context(context)
    return context_sections(context, bounds, sounding_bars(per_bar(context[SLICES["energy"]], bounds)[:, 0]))


def section_agreement(truth: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """How the decoder's sections (``found``) agree with the MIDI's (``truth``), bar for bar:
    counts, the share of true starts found (``recall``) and of found starts that are true
    (``precision``), both also within one bar (``..._1bar``)."""
    out = {"sections_true": float(truth.size), "sections_found": float(found.size)}
    for name, tol in (("", 0), ("_1bar", 1)):
        near = np.abs(truth[:, None] - found[None, :]) <= tol if truth.size and found.size else np.zeros(
            (truth.size, found.size), bool)
        out["recall" + name] = float(near.any(axis=1).mean()) if truth.size else math.nan
        out["precision" + name] = float(near.any(axis=0).mean()) if found.size else math.nan
    return out


def crash_contrast(on_sections: float, notes, real, grid: StepGrid, sections: np.ndarray) -> dict[str, float]:
    """``crash_elsewhere``: the same crash share (``form_metrics``' ``crash_on_section``) on the other
    bar starts from the first section on, and ``crash_extra``: ``on_sections`` minus it. A part
    with crashes everywhere (the random one) scores high on the section starts alone; the
    contrast tells crashes placed where a section starts."""
    from stemgen.midi.form_metrics import bar_bounds, form_metrics

    n_bars = bar_bounds(grid).size - 1
    others = np.setdiff1d(np.arange(sections.min() if sections.size else n_bars, n_bars), sections)
    elsewhere = form_metrics(notes, real, grid, "drums", others)["crash_on_section"] if others.size else math.nan
    return {"crash_elsewhere": elsewhere, "crash_extra": on_sections - elsewhere}


def random_part(real, grid: StepGrid, drums: bool, seed: int = 0) -> list[tuple]:
    """As many notes as the real part at random steps, pitches (drum keys 35-59, or the real range
    widened by an octave each way), lengths (1-8 steps) and velocities."""
    from stemgen.midi.form_metrics import as_array

    arr = as_array(real)
    rng = np.random.default_rng(seed)
    n = len(arr)
    start = rng.integers(0, max(grid.n_steps - 1, 1), n)
    length = rng.integers(1, 9, n)
    pitch = rng.integers(35, 60, n) if drums else rng.integers(arr[:, 2].min() - 12, arr[:, 2].max() + 13, n)
    vel = rng.integers(20, 128, n)
    return sorted(zip(start.tolist(), np.minimum(start + length, grid.n_steps).tolist(), pitch.tolist(), vel.tolist()))


def part_f1(notes, real, drums: bool) -> dict[str, float]:
    """``stemgen midi eval``'s F1 of ``notes`` against the ``real`` part on the same 16th steps:
    ``drum_f1`` (drum classes) or ``note_f1`` (pitches), and ``onset_f1``."""
    from stemgen.midi.metrics import Notes, note_f1

    part, ref = (Notes.from_tuples(n, 4, drums) for n in (notes, real))
    return {"drum_f1" if drums else "note_f1": note_f1(part, ref, "drum_class" if drums else "pitch"),
            "onset_f1": note_f1(part, ref, "onset")}


def song_rows(path: str | Path, stem: str, arranger, instruction: str | None = None) -> dict[str, dict[str, float]] | None:
    """Form metrics per source (``SOURCES``) for one song, plus ``level`` (LU against the context) for
    the arranger and the real part; None when the song has no ``stem`` part or the arranger refuses.
    ``instruction``: what the arranger is asked (None: its default)."""
    from stemgen.analysis.features import step_times
    from stemgen.arranger.loudness import loudness_lufs
    from stemgen.errors import StemgenError
    from stemgen.midi.context import context_from_analysis
    from stemgen.midi.form_metrics import bar_bounds, form_metrics, shuffled_bars
    from stemgen.midi.generate import heard_context
    from stemgen.midifile.io import load_midi
    from stemgen.render.stems import render_stems

    render = render_stems(path, sample_rate=RENDER_RATE, max_seconds=SECONDS)
    if stem not in render.present:
        return None
    context = np.sum([a for k, a in render.stems.items() if k != stem], axis=0)
    try:
        arrangement = arranger(context, RENDER_RATE, instruction, seed=0, source=path)
    except StemgenError:
        return None
    times = step_times(arrangement.step_analysis)
    analysed = context_from_analysis(arrangement.step_analysis)  # the (106, T) context the part model heard
    grid = bar_grid(analysed)
    song = load_midi(path)
    real = real_part_on_steps(song, stem, times)
    if len(real) < 8:
        return None
    drums = stem == "drums"
    parts = {"arranger": arrangement.notes, "real": real, "shuffled": shuffled_bars(real, grid),
             "random": random_part(real, grid, drums)}
    sections = np.zeros(0, np.int64)  # bass and guitar have no section column
    if drums:
        sections = midi_sections(song, stem, times[bar_bounds(grid)])
        found = decoder_sections(heard_context(analysed, arranger.generator.meta.get("hears_other_parts", True)))
    rows = {src: form_metrics(notes, real, grid, stem, sections) | part_f1(notes, real, drums) for src, notes in parts.items()}
    if drums:
        for src, notes in parts.items():
            rows[src].update(crash_contrast(rows[src]["crash_on_section"], notes, real, grid, sections))
        rows["arranger"].update(section_agreement(sections, found))
        # the arranger's crashes on the sections its decoder found (crashes dropped by rests show here)
        rows["arranger"]["crash_on_found"] = form_metrics(parts["arranger"], real, grid, stem, found)["crash_on_section"]
    context_lufs = loudness_lufs(context, RENDER_RATE)
    rows["arranger"]["level"] = loudness_lufs(arrangement.part.stem_audio, RENDER_RATE) - context_lufs
    rows["real"]["level"] = loudness_lufs(render.stems[stem], RENDER_RATE) - context_lufs
    return rows


def guitar_on_steps(path: Path, backend=None):
    """``(style, real part, analysis)`` of one song for the guitar styles: the song rendered without its
    guitar (first minute) and analysed as the arranger analyses a user's song (``analysis.analyze``,
    ``reliability.require_usable``, ``overrides.quarter_note_view``: ``analysis`` is the one whose
    steps the arranger writes on), the real part's notes on those steps. ``None`` for a song without
    a style, a guitar part of ``MIN_NOTES`` or a usable beat. ``backend``: the beat finder (default:
    the arranger's)."""
    from stemgen.analysis import analysis_backend, analyze
    from stemgen.analysis.features import step_times
    from stemgen.analysis.overrides import quarter_note_view
    from stemgen.analysis.reliability import require_usable
    from stemgen.errors import StemgenError
    from stemgen.midi.evaluate import MIN_NOTES
    from stemgen.midi.style import style_of_grid
    from stemgen.midifile.grid import song_to_grid
    from stemgen.midifile.io import load_midi
    from stemgen.render.stems import render_stems

    song = load_midi(path)
    style = style_of_grid(song_to_grid(song, 4))
    render = render_stems(path, sample_rate=RENDER_RATE, max_seconds=SECONDS) if style else None
    if render is None or "guitar" not in render.present:
        return None
    context = np.sum([a for k, a in render.stems.items() if k != "guitar"], axis=0)
    try:
        analysis = analyze(context, RENDER_RATE, backend or analysis_backend(None))
        require_usable(analysis, context, RENDER_RATE, path)
    except StemgenError:
        return None
    analysis = quarter_note_view(analysis)[0]
    real = real_part_on_steps(song, "guitar", step_times(analysis))
    return (style, real, analysis) if len(real) >= MIN_NOTES else None


def style_songs(files: list[Path], model: str | Path | None = None, beat_tracker: str | None = None):
    """``midi.style.StyleSong``s of the arranger's guitar: each song of ``guitar_on_steps`` (rendered
    without its guitar, first minute, analysed once), its part asked in every style's words on that
    analysis; the real part on the analysed steps. ``beat_tracker``: the arranger's (None: the default)."""
    from stemgen.arranger.engine import Arranger
    from stemgen.midi.context import context_from_analysis
    from stemgen.midi.style import STYLE_PHRASES, StyleSong, instruction_for

    arranger = Arranger("guitar", model, beat_tracker=beat_tracker)
    for path in files:
        got = guitar_on_steps(path, arranger.analysis_backend)
        if got is None:
            continue
        style, real, analysis = got
        grid = bar_grid(context_from_analysis(analysis))
        parts = {asked: arranger.notes_for(analysis, instruction_for(asked)) for asked in STYLE_PHRASES}
        yield StyleSong(style, real, grid, parts, grid.beat_position, Path(path).name)


def evaluate(files: list[Path], stem: str, model: str | Path | None = None, instructions: str = "none",
             beat_tracker: str | None = None) -> dict:
    """Per-song rows, the means over songs and their spread (``spread``: per source and column the
    songs' median, 25th and 75th percentile) for ``stem`` (``level_error``: |arranger - real| LU, and
    the same for the fixed default level). ``instructions``: ``none`` (the arranger's default),
    ``described`` (the offline writer's sentence from the song's real part) or ``shuffled`` (another
    song's), as in ``stemgen midi eval`` (``midi.evaluate.song_instructions``). ``beat_tracker``: the
    arranger's (``analysis.analysis_backend``; None: the default)."""
    from stemgen.arranger.engine import Arranger
    from stemgen.arranger.loudness import DEFAULT_LEVEL_DB
    from stemgen.midi.evaluate import load_song, song_instructions

    arranger = Arranger(stem, model, beat_tracker=beat_tracker)
    texts = dict.fromkeys(files)  # none: the arranger's default
    if instructions != "none":
        texts = dict(zip(files, song_instructions([load_song(f) for f in files], stem, instructions)))
    songs = {}
    for path in files:
        rows = song_rows(path, stem, arranger, texts[path])
        if rows is not None:
            songs[Path(path).name] = rows
    from stemgen.midi.evaluate import spread_of

    means: dict[str, dict[str, float]] = {}
    spread: dict[str, dict[str, list[float] | None]] = {}
    for src in SOURCES:
        cols = sorted({c for r in songs.values() for c in r[src]})
        means[src] = {c: _nanmean([r[src].get(c, math.nan) for r in songs.values()]) for c in cols}
        spread[src] = spread_of([r[src] for r in songs.values()], tuple(cols))
    real_levels = [r["real"]["level"] for r in songs.values()]
    level = {"arranger": _nanmedian([abs(r["arranger"]["level"] - r["real"]["level"]) for r in songs.values()]),
             "fixed_default": _nanmedian([abs(DEFAULT_LEVEL_DB[stem] - x) for x in real_levels])}
    return {"stem": stem, "songs": len(songs), "means": means, "spread": spread, "level_median_abs_error": level,
            "rows": songs}


def _nanmean(values) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.mean(vals)), 3) if vals else math.nan


def _nanmedian(values) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.median(vals)), 2) if vals else math.nan


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.evaluation.arranger_form DATA --stem bass [--split valid] [--max-songs N]``:
    the arranger's form metrics and level on rendered songs of DATA's split, as JSON (means)."""
    import argparse
    import json

    from stemgen.analysis import DEFAULT_BEAT_TRACKER
    from stemgen.midi.splits import files_in_split

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("--stem", required=True)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--max-songs", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--rows", action="store_true", help="print the per-song rows too (with --styles: each song's off-beat shares)")
    ap.add_argument("--instructions", default="none", choices=("none", "described", "shuffled"),
                    help="what the arranger is asked: its default, the song's real part described, or another song's")
    ap.add_argument("--styles", action="store_true",
                    help="guitar: the off-beat share per style (every song asked in every style) and the style separation")
    ap.add_argument("--beat-tracker", default=None, help="the arranger's beat tracker (dsp, learned, learned-cc; default: the analysis' default)")
    args = ap.parse_args(argv)
    files = files_in_split(args.data, args.split)[: args.max_songs]
    if args.styles:
        if args.stem != "guitar":
            ap.error("--styles is for --stem guitar")
        from stemgen.midi.style import style_report

        print(json.dumps(style_report(style_songs(files, args.model, args.beat_tracker), args.rows)
                         | {"split": args.split, "beat_tracker": args.beat_tracker or DEFAULT_BEAT_TRACKER}, indent=1))
        return
    result = evaluate(files, args.stem, args.model, args.instructions, args.beat_tracker)
    result |= {"instructions": args.instructions, "beat_tracker": args.beat_tracker or DEFAULT_BEAT_TRACKER}
    if not args.rows:
        result.pop("rows")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
