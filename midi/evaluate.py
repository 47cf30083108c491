"""Held-out evaluation: remove a stem from each test song, generate it back, and compare the
generated part, the real part and two baselines (another song's part, a rule) on the metrics of
``metrics``. Everything is measured at 12 ticks a beat against the real song's context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError

from .baselines import other_song_part, rule_part
from .descriptors import estimate_key
from .grid import SongGrid, song_to_grid
from .io import load_midi
from .metrics import (
    Notes, drum_pattern_consistency, empty_beat_rate, groove_consistency, onset_agreement,
    onsets_per_beat, pitch_in_scale_rate, polyphony,
)
from .subtract import strip_role

RES = 12
SOURCES = ("real", "generated", "other_song", "rule")
COLUMNS = ("onset_f1", "density_ratio", "ctx_agree", "empty_beat", "groove", "drum_pattern", "in_scale", "polyphony")


@dataclass
class SongParts:
    path: Path
    grid: SongGrid
    real: dict[str, list]  # stem -> grid-step notes


def _parts(path: Path) -> SongParts:
    grid = song_to_grid(load_midi(path), 4)
    from .grid import roll_to_notes
    from .features import role_rolls

    real = {}
    for stem in ("drums", "bass", "guitar"):
        onset, sustain = role_rolls(grid, stem)
        real[stem] = roll_to_notes(onset, sustain, drum_steps=1 if stem == "drums" else None)
    return SongParts(path, grid, real)


def _notes(step_notes, steps_per_beat: int, is_drum: bool) -> Notes:
    return Notes.from_tuples(step_notes, steps_per_beat, is_drum).rescaled(RES)


def _f1(a: Notes, b: Notes) -> float:
    sa, sb = np.unique(a.start // (RES // 4)), np.unique(b.start // (RES // 4))  # sixteenth cells
    if sa.size + sb.size == 0:
        return math.nan
    return float(2 * np.isin(sa, sb).sum() / (sa.size + sb.size))


def part_metrics(part: Notes, real: Notes, context: Notes, grid: SongGrid, key, stem: str) -> dict[str, float]:
    n_beats = grid.n_steps / grid.steps_per_beat
    bar = int(grid.bar_steps[0]) * RES // grid.steps_per_beat
    nan = math.nan
    if len(part) == 0:
        return {c: nan for c in COLUMNS} | {"density_ratio": 0.0, "empty_beat": 1.0}
    return {
        "onset_f1": _f1(part, real),
        "density_ratio": onsets_per_beat(part, n_beats) / max(onsets_per_beat(real, n_beats), 1e-9),
        "ctx_agree": onset_agreement(part, context) if len(context) else nan,
        "empty_beat": empty_beat_rate(part),
        "groove": groove_consistency(part, bar),
        "drum_pattern": drum_pattern_consistency(part) if stem == "drums" else nan,
        "in_scale": pitch_in_scale_rate(part, *key) if stem != "drums" and key else nan,
        "polyphony": polyphony(part) if stem != "drums" else nan,
    }


def evaluate(files: list[Path], stems: tuple[str, ...], generators: dict, seed: int = 0, progress: bool = True) -> dict:
    """Mean metrics per stem and source over ``files``; ``generators``: stem -> MidiGenerator."""
    from tqdm import tqdm

    songs = []
    for f in files:
        try:
            songs.append(_parts(Path(f)))
        except StemgenInputError:
            continue
    rows: dict[str, dict[str, list[dict]]] = {s: {src: [] for src in SOURCES} for s in stems}
    counts = {s: 0 for s in stems}
    jobs = [(i, s) for s in stems for i, song in enumerate(songs) if len(song.real[s]) >= 8]
    for i, stem in tqdm(jobs, disable=not progress, desc="eval"):
        song = songs[i]
        grid, is_drum = song.grid, stem == "drums"
        data = strip_role(song.path.read_bytes(), stem)
        ctx_song = load_midi(song.path, data)
        result = generators[stem].generate(ctx_song, data, None, seed)
        gen_steps = [(s * 4 // grid.tpq, max(e * 4 // grid.tpq, s * 4 // grid.tpq + 1), p, v)
                     for s, e, p, v in result.notes]
        # Another song with this stem (the next one in the list) plays the baseline part.
        donors = [j for j, o in enumerate(songs) if j != i and len(o.real[stem]) >= 8]
        donor = songs[donors[(donors.index(i + 1) if i + 1 in donors else 0)]] if donors else song
        parts = {
            "real": song.real[stem],
            "generated": gen_steps,
            "other_song": other_song_part(donor.real[stem], donor.grid.n_steps, grid.n_steps),
            "rule": rule_part(grid, stem),
        }
        ctx_notes = [_notes(song.real[r], 4, r == "drums") for r in ("drums", "bass", "guitar") if r != stem]
        context = Notes.concat(ctx_notes)
        key = estimate_key(grid, exclude=("drums", stem))
        real = _notes(parts["real"], 4, is_drum)
        for src, step_notes in parts.items():
            rows[stem][src].append(part_metrics(_notes(step_notes, 4, is_drum), real, context, grid, key, stem))
        counts[stem] += 1
    table = {
        stem: {src: {c: _nanmean([r[c] for r in rows[stem][src]]) for c in COLUMNS} for src in SOURCES}
        for stem in stems
    }
    return {"songs": counts, "table": table, "rows": rows}


def _nanmean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return round(float(np.mean(vals)), 3) if vals else None


def format_table(report: dict) -> str:
    """Markdown table: one row per (stem, source)."""
    lines = ["| stem | source | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for stem, by_src in report["table"].items():
        for src, vals in by_src.items():
            cells = ["-" if vals[c] is None else f"{vals[c]:.3f}" for c in COLUMNS]
            lines.append(f"| {stem} (n={report['songs'][stem]}) | {src} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
