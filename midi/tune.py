"""Choose a part model's decoding settings on the valid split, by the evaluation's own metrics.

The model's probabilities say where notes are likely; how many to keep is a decision. Keeping
exactly the expected count (``density_scale``) is not what maximises F1: with uncertain
predictions F1 prefers more hits (Lipton et al. 2014). So for each candidate setting — a factor
on the onset count (``onset_factor``), an onset floor (drums) and a chord threshold (guitar) —
the valid songs are decoded and scored with ``evaluate.part_metrics`` exactly as ``stemgen midi
eval`` scores them, and the setting with the best F1 is kept among those whose parts stay near
the real ones: mean density within ``MAX_DENSITY_ERROR`` and groove within ``MAX_GROOVE_ERROR``
of the real parts'. The model runs once per song; only the decoding is repeated.

Never tuned on test songs: the caller passes valid-split files (``train_from_folder`` does).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError

from .context import context_from_grid
from .evaluate import MIN_NOTES, SongData, load_song, part_metrics, steps_to_notes
from .features import decode_with
from .grid import song_to_grid

ONSET_FACTORS = (0.9, 1.0, 1.1, 1.2)
FLOORS = (0.0, 0.1, 0.2, 0.3)  # drums
CHORD_THRESHOLDS = (None, 0.15, 0.2, 0.25, 0.3, 0.4)  # guitar; None: the probabilities' sum
MAX_DENSITY_ERROR = 0.2  # the targets allow ±30 % on held-out songs; leave room for the shift
MAX_GROOVE_ERROR = 0.05
F1_COLUMN = {"drums": "drum_f1", "bass": "note_f1", "guitar": "note_f1"}


def candidates(stem: str) -> list[dict]:
    """Every decoding setting tried for ``stem`` (keys of ``config.json`` ``decode``)."""
    floors = FLOORS if stem == "drums" else (0.0,)
    chords = CHORD_THRESHOLDS if stem == "guitar" else (None,)
    out = []
    for factor, floor, chord in itertools.product(ONSET_FACTORS, floors, chords):
        c = {"onset_factor": factor}
        if floor:
            c["floor"] = floor
        if chord is not None:
            c["chord_threshold"] = chord
        out.append(c)
    return out


def _model_outputs(gen, songs: list[SongData]) -> list[tuple[SongData, np.ndarray]]:
    """(song, logits) for each song with a real part, the model given the song without the stem."""
    out = []
    for song in songs:
        if len(song.real[gen.stem]) < MIN_NOTES:
            continue
        ctx_song, _ = song.without(gen.stem)
        grid = song_to_grid(ctx_song, gen.model.config.steps_per_beat)
        text = gen.default_instruction(grid, song.path)
        out.append((song, gen.logits_for(context_from_grid(grid, gen.stem), text)))
    return out


def _mean(values) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def tune_decoding(gen, files: list[Path]) -> dict | None:
    """The best decoding settings for ``gen`` (a ``MidiGenerator``) on ``files`` and the scores of
    every candidate; None when no file has the stem and something to accompany."""
    stem = gen.stem
    songs = []
    for f in files:
        try:
            song = load_song(f)
        except StemgenInputError:
            continue
        if any(len(v) for r, v in song.real.items() if r != stem) or song.grid.role_tracks("other"):
            songs.append(song)
    outputs = _model_outputs(gen, songs)
    if not outputs:
        return None
    is_drum, col = stem == "drums", F1_COLUMN[stem]
    real_rows = [part_metrics(steps_to_notes(s.real[stem], is_drum), steps_to_notes(s.real[stem], is_drum), s, stem)
                 for s, _ in outputs]
    real_groove = _mean(r["groove"] for r in real_rows)
    base = {k: v for k, v in (gen.meta.get("decode") or {}).items() if k == "density_scale"}
    scored = []
    for cand in candidates(stem):
        decode = base | cand
        rows = []
        for song, logits in outputs:
            part = steps_to_notes(decode_with(logits, stem, decode), is_drum)
            rows.append(part_metrics(part, steps_to_notes(song.real[stem], is_drum), song, stem))
        f1, density, groove = (_mean(r[c] for r in rows) for c in (col, "density_ratio", "groove"))
        ok = abs(density - 1) <= MAX_DENSITY_ERROR and abs(groove / real_groove - 1) <= MAX_GROOVE_ERROR
        scored.append({"settings": cand, col: round(f1, 4), "density_ratio": round(density, 3),
                       "groove": round(groove, 3), "within_limits": bool(ok)})
    allowed = [s for s in scored if s["within_limits"]] or [s for s in scored if s["settings"] == {"onset_factor": 1.0}]
    best = max(allowed, key=lambda s: s[col])
    return {"chosen": best["settings"], "songs": len(outputs), "metric": col, "real_groove": round(real_groove, 3),
            "limits": {"density": MAX_DENSITY_ERROR, "groove": MAX_GROOVE_ERROR}, "candidates": scored}


def tune_model_folder(folder: str | Path, files: list[Path]) -> dict | None:
    """Tune the model in ``folder`` on ``files`` and write the chosen settings into its ``config.json``
    (``decode``; the scores under ``decode_tuning``). Returns the tuning summary (None: nothing to tune on)."""
    import json

    from stemgen.fileio import atomic_write_text

    from .generate import MidiGenerator

    folder = Path(folder)
    meta = json.loads((folder / "config.json").read_text())
    gen = MidiGenerator(meta["config"]["stem"], folder)
    result = tune_decoding(gen, files)
    if result is None:
        return None
    decode = {k: v for k, v in meta.get("decode", {}).items() if k == "density_scale"}
    meta["decode"] = decode | result["chosen"]
    col = result["metric"]
    default = next(c for c in result["candidates"] if c["settings"] == {"onset_factor": 1.0})
    best = next(c for c in result["candidates"] if c["settings"] == result["chosen"])
    meta["decode_tuning"] = {"split": "valid", "songs": result["songs"], "metric": col,
                             "chosen": best, "as_calibrated": default, "limits": result["limits"]}
    atomic_write_text(folder / "config.json", json.dumps(meta, indent=2))
    return result
