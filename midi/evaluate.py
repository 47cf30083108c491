"""Held-out evaluation: remove a stem from each test song, generate it back, and compare the
generated part, the real part and the baselines (a rule, another song's part, retrieval from the
training split) on the metrics of ``metrics`` and of ``form_metrics`` (form and feel: bar
repetition, cymbals, fills, velocities, register, activity; printed as a second table), per song;
the report adds bootstrap intervals over songs.

Each song is parsed once; its grid, real parts, key and context pitch classes are computed once
and shared by every stem and system. Parts are compared at ``RES`` ticks a beat against the real
song's context; F1s use 16th-note onset cells.

``instructions`` says what the generators are asked: ``"none"`` (each generator's own default, the
instruction written from the song without the stem), ``"described"`` (the offline writer's sentence
from the REAL part's descriptors: the held-out song's own description, as a user who knows what
they want would write it; this measures instruction following), or ``"shuffled"`` (the described
instruction of another song, the one ``other_song`` borrows its part from: the control that
following must beat).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemgen.analysis.key import Key, find_key
from stemgen.errors import StemgenError, StemgenInputError
from stemgen.midifile.grid import SongGrid, roll_to_notes, song_to_grid
from stemgen.midifile.io import MidiSong, load_midi
from stemgen.midifile.subtract import strip_role
from stemgen.stems import REGISTRY, ROLES, STEMS

from .baselines import RetrievalPool, other_song_part, rule_part
from .descriptors import pitch_class_profile
from .features import role_rolls
from .form_metrics import FORM_COLUMNS, form_metrics, section_starts
from .metrics import (
    Notes,
    empty_beat_rate,
    groove_consistency,
    harmony_fit,
    note_f1,
    onset_agreement,
    onsets_per_beat,
    pitch_in_scale_rate,
    polyphony,
    sounding_pitch_classes,
)

RES = 12
STEPS_PER_BEAT = 4
MIN_NOTES = 8  # a song is evaluated for a stem only when its real part has this many notes
# Columns, in report order; a column that does not apply to a stem is NaN (drums have no pitch).
COLUMNS = ("note_f1", "pc_f1", "drum_f1", "onset_f1", "harmony", "in_scale", "density_ratio", "groove",
           "ctx_agree", "empty_beat", "polyphony")
PITCHED_ONLY = {"note_f1", "pc_f1", "harmony", "in_scale", "polyphony"}
DRUMS_ONLY = {"drum_f1"}
BASELINES = ("rule", "other_song", "retrieval")
INSTRUCTIONS = ("none", "described", "shuffled")
F1_COLUMN = {s: "drum_f1" if spec.is_drum else "note_f1" for s, spec in REGISTRY.items()}  # each stem's headline F1
DESCRIPTIONS = {
    "real": "the song's own part (the ceiling: every F1 is 1 by definition)",
    "drums: rule": "a rock beat: kick on 1 and 3, snare on 2 and 4, closed hi-hat on every eighth",
    "bass: rule": "the root of the chord sounding in the other tracks (best-matching major/minor triad over "
                  "the beat) on every kick drum hit, held to the next (every beat without a kick pattern), E1-D#2",
    "guitar: rule": "the chord sounding in the other tracks (best-matching major/minor triad over the beat) "
                    "as a triad on every beat, E3-A#4",
    "other_song": "the same stem from the next evaluated song, tiled to this song's length (right kind of part, "
                  "wrong song)",
    "retrieval": "nearest-neighbour retrieval per bar from the training split: the training bar whose context "
                 "(pitch classes in the best of 12 transpositions + onset pattern) is most similar, its part "
                 "transposed by the same interval",
}


@dataclass
class SongData:
    """One evaluated song, parsed once: grid, real parts and the context facts every stem reuses."""

    path: Path
    data: bytes
    grid: SongGrid
    real: dict[str, list]  # stem -> grid-step notes
    _cache: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def role_notes(self, role: str) -> Notes:
        """A role's real notes at ``RES`` (drums included; 'other' too)."""
        key = ("notes", role)
        if key not in self._cache:
            onset, sustain = role_rolls(self.grid, role)
            steps = self.real.get(role) if role in self.real else roll_to_notes(onset, sustain)
            self._cache[key] = steps_to_notes(steps, role == "drums")
        return self._cache[key]

    def context(self, stem: str) -> tuple[Notes, np.ndarray, Key | None]:
        """``(context notes, sounding pitch classes per tick, key)`` of the song without ``stem``."""
        key = ("context", stem)
        if key not in self._cache:
            ctx = Notes.concat([self.role_notes(r) for r in ROLES if r != stem])
            length = self.grid.n_steps * RES // STEPS_PER_BEAT + 1
            self._cache[key] = (ctx, sounding_pitch_classes(ctx, length),
                                find_key(pitch_class_profile(self.grid, exclude=("drums", stem))))
        return self._cache[key]

    def sections(self, stem: str) -> np.ndarray:
        """Section-start bars found in the song without ``stem`` (``form_metrics.section_starts``)."""
        key = ("sections", stem)
        if key not in self._cache:
            self._cache[key] = section_starts(self.grid, stem)
        return self._cache[key]

    def without(self, stem: str) -> tuple[MidiSong, bytes]:
        """The song's bytes without ``stem`` and their parse (what a generator is given)."""
        data = strip_role(self.data, stem)
        return load_midi(self.path, data), data


def load_song(path: str | Path) -> SongData:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StemgenInputError(path, f"cannot read: {exc.strerror or exc}") from None
    grid = song_to_grid(load_midi(path, data), STEPS_PER_BEAT)
    real = {}
    for stem in STEMS:
        onset, sustain = role_rolls(grid, stem)
        real[stem] = roll_to_notes(onset, sustain, drum_steps=1 if stem == "drums" else None)
    return SongData(path, data, grid, real)


def steps_to_notes(step_notes, is_drum: bool) -> Notes:
    return Notes.from_tuples(step_notes, STEPS_PER_BEAT, is_drum).rescaled(RES)


def ticks_to_notes(tick_notes, tpq: int, is_drum: bool) -> Notes:
    """A generator's notes (MIDI ticks) at ``RES`` ticks a beat, rounded to the nearest."""
    return Notes.from_tuples(tick_notes, tpq, is_drum).rescaled(RES)


def part_metrics(part: Notes, real: Notes, song: SongData, stem: str) -> dict[str, float]:
    """Every column for one part of one song (NaN where a column does not apply)."""
    context, sounding, key = song.context(stem)
    grid = song.grid
    n_beats = grid.n_steps / grid.steps_per_beat
    bar16 = int(grid.bar_steps[0]) * 4 // grid.steps_per_beat  # a bar in 16th cells
    nan = math.nan
    drums = stem == "drums"
    out = {c: nan for c in COLUMNS}
    out["density_ratio"] = onsets_per_beat(part, n_beats) / max(onsets_per_beat(real, n_beats), 1e-9)
    if len(part) == 0:
        out.update({"empty_beat": 1.0, "onset_f1": 0.0, "drum_f1" if drums else "note_f1": 0.0})
        if not drums:
            out["pc_f1"] = 0.0
        return out
    out.update({
        "onset_f1": note_f1(part, real, "onset"),
        "ctx_agree": onset_agreement(part, context) if len(context) else nan,
        "empty_beat": empty_beat_rate(part),
        # On 16th cells: at RES the many never-used positions push every part towards 1.
        "groove": groove_consistency(part.rescaled(4), bar16),
    })
    if drums:
        out["drum_f1"] = note_f1(part, real, "drum_class")
    else:
        out.update({
            "note_f1": note_f1(part, real, "pitch"),
            "pc_f1": note_f1(part, real, "pitch_class"),
            "harmony": harmony_fit(part, sounding),
            "in_scale": pitch_in_scale_rate(part, key.tonic, key.mode) if key else nan,
            "polyphony": polyphony(part),
        })
    return out


def ticks_to_steps(tick_notes, tpq: int) -> list[tuple[int, int, int, int]]:
    """A generator's notes (MIDI ticks) as grid-step notes, velocity kept (for the form metrics)."""
    f = STEPS_PER_BEAT / tpq
    out = []
    for n in tick_notes:
        start = math.floor(n[0] * f + 0.5)
        out.append((start, max(math.floor(n[1] * f + 0.5), start + 1), int(n[2]), int(n[3]) if len(n) > 3 else 100))
    return out


def donor_index(songs: list[SongData], i: int, stem: str) -> int:
    """The song whose ``stem`` stands in for song ``i``'s (the ``other_song`` baseline, the shuffled
    instructions): the next evaluated song with that stem, the first after the last; ``i`` if none."""
    donors = [j for j, o in enumerate(songs) if j != i and len(o.real[stem]) >= MIN_NOTES]
    return donors[donors.index(i + 1) if i + 1 in donors else 0] if donors else i


def song_instructions(songs: list[SongData], stem: str, mode: str = "none") -> list[str | None]:
    """Per song, the instruction the generator is asked with under ``mode`` (see the module's
    docstring); None: the generator's own default."""
    if mode not in INSTRUCTIONS:
        raise ValueError(f"instructions must be one of {', '.join(INSTRUCTIONS)}, not {mode!r}")
    if mode == "none":
        return [None] * len(songs)
    from stemgen.instructions import OfflineWriter

    from .descriptors import write_instructions

    texts = write_instructions([(s.grid, stem, s.path) for s in songs], OfflineWriter())
    return texts if mode == "described" else [texts[donor_index(songs, i, stem)] for i in range(len(songs))]


def describe_generator(gen) -> str:
    """One line about a generator: its own ``description`` or its class and model folder."""
    text = getattr(gen, "description", None)
    if text:
        return str(text)
    parts = [type(gen).__name__]
    meta = getattr(gen, "meta", None) or {}
    model_dir = getattr(gen, "model_dir", None) or meta.get("model_dir")
    if model_dir:
        parts.append(f"model {model_dir}")
    for attr in ("steps", "guidance"):
        if getattr(gen, attr, None) is not None:
            parts.append(f"{attr} {getattr(gen, attr)}")
    if meta.get("steps"):
        parts.append(f"trained {meta['steps']} steps")
    return ", ".join(parts)


def _generator_sources(gens) -> dict[str, object]:
    """``{source name: generator}`` for one stem: one object is the ``generated`` source."""
    if gens is None:
        return {}
    if isinstance(gens, dict):
        return dict(gens)
    return {"generated": gens}


def evaluate(
    files: list[Path],
    stems: tuple[str, ...],
    generators: dict,
    seed: int = 0,
    progress: bool = True,
    pool: RetrievalPool | None = None,
    baselines: tuple[str, ...] = BASELINES,
    instructions: str = "none",
) -> dict:
    """Per-song metrics per stem and source over ``files``, the generators asked with ``instructions``
    (``song_instructions``; the texts are in the report's ``"instructions"``).

    ``generators``: stem -> an object with ``.generate(song, song_bytes, instruction, seed)``
    returning ``.notes`` in ticks (e.g. ``MidiGenerator``), or stem -> ``{source name: object}``
    to compare several. ``pool``: the retrieval baseline's training songs (no retrieval row
    without it). Unreadable files are skipped and listed under ``"skipped"``; a generation that
    raises a ``StemgenError`` is scored as an empty part and listed under ``"generation_failures"``.
    """
    from tqdm import tqdm

    songs, skipped = [], []
    for f in files:
        try:
            songs.append(load_song(f))
        except StemgenInputError as exc:
            skipped.append(str(exc))
    gen_sources = {s: _generator_sources(generators.get(s)) for s in stems}
    baselines = tuple(b for b in baselines if b != "retrieval" or pool is not None)
    sources = {s: ("real", *gen_sources[s], *baselines) for s in stems}
    rows: dict[str, dict[str, list[dict]]] = {s: {src: [] for src in sources[s]} for s in stems}
    names: dict[str, list[str]] = {s: [] for s in stems}
    gen_seconds: dict[str, dict[str, list[float]]] = {s: {g: [] for g in gen_sources[s]} for s in stems}
    failures: list[dict] = []  # generations that raised: scored as an empty part
    asked = {s: song_instructions(songs, s, instructions) if gen_sources[s] else [None] * len(songs) for s in stems}
    used: dict[str, list[str]] = {s: [] for s in stems}  # the instruction each generated part was made with
    jobs = [(i, s) for s in stems for i, song in enumerate(songs) if len(song.real[s]) >= MIN_NOTES]
    for i, stem in tqdm(jobs, disable=not progress, desc="eval"):
        song = songs[i]
        grid, is_drum = song.grid, stem == "drums"
        parts: dict[str, Notes] = {"real": steps_to_notes(song.real[stem], is_drum)}
        step_parts: dict[str, list] = {"real": song.real[stem]}  # with velocities, for the form metrics
        if gen_sources[stem]:
            ctx_song, ctx_data = song.without(stem)
            text = asked[stem][i]
            for name, gen in gen_sources[stem].items():
                t0 = time.perf_counter()
                try:
                    result = gen.generate(ctx_song, ctx_data, asked[stem][i], seed)
                    tick_notes, text = result.notes, getattr(result, "instruction", None) or text
                except StemgenError as exc:  # e.g. a generator that refuses to return an empty part
                    tick_notes = []
                    failures.append({"song": song.name, "stem": stem, "source": name, "reason": exc.reason
                                     if isinstance(exc, StemgenInputError) else str(exc)})
                gen_seconds[stem][name].append(time.perf_counter() - t0)
                parts[name] = ticks_to_notes(tick_notes, grid.tpq, is_drum)
                step_parts[name] = ticks_to_steps(tick_notes, grid.tpq)
            used[stem].append(text)
        if "rule" in baselines:
            step_parts["rule"] = rule_part(grid, stem)
            parts["rule"] = steps_to_notes(step_parts["rule"], is_drum)
        if "other_song" in baselines:
            # Another song with this stem (the next one in the list) plays the baseline part.
            donor = songs[donor_index(songs, i, stem)]
            step_parts["other_song"] = other_song_part(donor.real[stem], donor.grid.n_steps, grid.n_steps)
            parts["other_song"] = steps_to_notes(step_parts["other_song"], is_drum)
        if "retrieval" in baselines:
            step_parts["retrieval"] = pool.part_for(grid, stem)
            parts["retrieval"] = steps_to_notes(step_parts["retrieval"], is_drum)
        real = parts["real"]
        sections = song.sections(stem) if is_drum else None
        for src in sources[stem]:
            rows[stem][src].append(part_metrics(parts[src], real, song, stem)
                                   | form_metrics(step_parts[src], song.real[stem], grid, stem, sections))
        names[stem].append(song.name)
    table = {stem: {src: {c: _nanmean([r[c] for r in rows[stem][src]]) for c in COLUMNS + FORM_COLUMNS}
                    for src in sources[stem]}
             for stem in stems}
    spread = {stem: {src: spread_of(rows[stem][src], FORM_COLUMNS) for src in sources[stem]} for stem in stems}
    descriptions = dict(DESCRIPTIONS)
    for stem in stems:
        for name, gen in gen_sources[stem].items():
            descriptions[f"{stem}: {name}"] = describe_generator(gen)
    timing = {stem: {name: {"songs": len(v), "total_s": round(sum(v), 2),
                            "mean_s": round(sum(v) / len(v), 3) if v else None}
                     for name, v in gen_seconds[stem].items()} for stem in stems}
    return {"songs": {s: len(names[s]) for s in stems}, "table": table, "spread": spread, "rows": rows, "names": names,
            "descriptions": descriptions, "generation": timing, "skipped": skipped, "generation_failures": failures,
            "retrieval_pool": len(pool.songs) if pool is not None else 0, "instructions": instructions,
            "instruction_texts": used}


def _nanmean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return round(float(np.mean(vals)), 3) if vals else None


def _present(by_stem: dict, columns: tuple[str, ...]) -> list[str]:
    """The columns with a value for some (stem, source) of ``by_stem`` (stem -> source -> column -> value)."""
    return [c for c in columns if any(v.get(c) is not None for srcs in by_stem.values() for v in srcs.values())]


def _header(used: list[str]) -> list[str]:
    return ["| stem | source | " + " | ".join(used) + " |", "|" + "---|" * (len(used) + 2)]


def spread_of(song_rows: list[dict], columns: tuple[str, ...]) -> dict[str, list[float] | None]:
    """Per column, the songs' ``[median, 25th, 75th percentile]`` (None: no song has a value): how
    the songs spread, where the table's mean and interval say how sure the mean is."""
    out = {}
    for c in columns:
        vals = [r[c] for r in song_rows if r.get(c) is not None and not math.isnan(r[c])]
        out[c] = [round(float(v), 3) for v in np.percentile(vals, [50, 25, 75])] if vals else None
    return out


def format_spread(report: dict, columns: tuple[str, ...] = FORM_COLUMNS) -> str:
    """Markdown table of ``report["spread"]``: per (stem, source), each column's median [IQR] over songs."""
    used = _present(report["spread"], columns)
    lines = _header(used)
    for stem, by_src in report["spread"].items():
        for src, cols in by_src.items():
            cells = ["-" if cols.get(c) is None else f"{cols[c][0]:.2f} [{cols[c][1]:.2f}, {cols[c][2]:.2f}]" for c in used]
            lines.append(f"| {stem} (n={report['songs'][stem]}) | {src} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(report: dict, columns: tuple[str, ...] = COLUMNS) -> str:
    """Markdown table: one row per (stem, source), ``mean [95% bootstrap interval over songs]``."""
    from stemgen.stats import bootstrap_mean

    used = _present(report["table"], columns)
    lines = _header(used)
    for stem, by_src in report["rows"].items():
        for src, song_rows in by_src.items():
            cells = []
            for c in used:
                mean, low, high = bootstrap_mean([r[c] for r in song_rows])
                cells.append("-" if math.isnan(mean) else f"{mean:.2f} [{low:.2f}, {high:.2f}]")
            lines.append(f"| {stem} (n={report['songs'][stem]}) | {src} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_tables(report: dict) -> str:
    """The note/harmony table, the form-and-feel table (``form_metrics``), then the form columns'
    spread over songs (median [interquartile range])."""
    text = format_table(report) + "\n\nForm and feel:\n\n" + format_table(report, FORM_COLUMNS)
    if report.get("spread"):
        text += "\n\nForm and feel per song (median [25th, 75th percentile]):\n\n" + format_spread(report)
    return text
