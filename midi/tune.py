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
from stemgen.midifile.grid import song_to_grid

from .context import context_from_grid
from .evaluate import F1_COLUMN, MIN_NOTES, load_song, part_metrics, steps_to_notes
from .priors import decode_part

ONSET_FACTORS = (0.9, 1.0, 1.1, 1.2)
FLOORS = (0.0, 0.1, 0.2, 0.3)  # drums
CHORD_THRESHOLDS = (None, 0.15, 0.2, 0.25, 0.3, 0.4)  # guitar; None: the probabilities' sum
MAX_DENSITY_ERROR = 0.2  # the targets allow ±30 % on held-out songs; leave room for the shift
MAX_GROOVE_ERROR = 0.05
CALIBRATED = ("density_scale", "relative_floor", "groove_count", "variation")  # decode settings calibrated before tuning, kept as they are


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


class HeldOutScorer:
    """Held-out songs ready to score a part model as ``stemgen midi eval`` does: each song's context
    without the stem and its default instruction are computed once; ``logits`` runs a model on
    them, ``score`` decodes and averages ``evaluate.part_metrics``. Used to choose decoding
    settings and, during training, the checkpoint (the held-out F1, not the loss: a longer run
    keeps ranking onsets better while its probabilities grow overconfident and its loss climbs)."""

    def __init__(self, stem: str, files: list[Path], steps_per_beat: int = 4):
        from .descriptors import write_instructions
        from .text import embed_texts

        self.stem, self.items, grids = stem, [], []
        for f in files:
            try:
                song = load_song(f)
            except StemgenInputError:
                continue
            has_context = any(len(v) for r, v in song.real.items() if r != stem) or song.grid.role_tracks("other")
            if len(song.real[stem]) < MIN_NOTES or not has_context:
                continue
            grid = song_to_grid(song.without(stem)[0], steps_per_beat)
            grids.append((grid, stem, song.path))
            self.items.append([song, context_from_grid(grid, stem)])
        self.texts = write_instructions(grids) if grids else []  # the style and register priors read the words
        texts = embed_texts(self.texts) if grids else []
        for item, text in zip(self.items, texts):
            item.append(np.asarray(text, np.float32))
        self.real = [steps_to_notes(song.real[stem], stem == "drums") for song, *_ in self.items]
        rows = [part_metrics(r, r, song, stem) for r, (song, *_) in zip(self.real, self.items)]
        self.real_groove = _mean(r["groove"] for r in rows)

    def __len__(self) -> int:
        return len(self.items)

    def logits(self, model, hears_other_parts: bool = True) -> list[np.ndarray]:
        """The model's outputs for every song (as ``generate.model_logits`` gives them)."""
        from .generate import model_logits

        return [model_logits(model, context, text, hears_other_parts) for _, context, text in self.items]

    def score(self, logits: list[np.ndarray], decode: dict, meta: dict | None = None,
              temperature: float | None = None) -> dict[str, float]:
        """Mean F1 (``F1_COLUMN``), density ratio and groove over the songs, decoded with ``decode``
        and the priors of ``meta`` (a model's ``config.json``) exactly as the generator decodes
        (``priors.decode_part``: the take of seed 0 at ``temperature``, None: the stem's default;
        drums with form)."""
        from .generate import heard_context

        is_drum = self.stem == "drums"
        rows = []
        for (song, context, _), text, real, out in zip(self.items, self.texts, self.real, logits):
            meta_d = (meta or {}) | {"decode": decode}
            heard = heard_context(context, meta_d.get("hears_other_parts", True))
            part = steps_to_notes(decode_part(out, context, self.stem, text, meta_d, temperature=temperature,
                                              heard=heard), is_drum)
            rows.append(part_metrics(part, real, song, self.stem))
        return {c: _mean(r[c] for r in rows) for c in (F1_COLUMN[self.stem], "density_ratio", "groove")}


def _mean(values) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def tune_decoding(gen, files: list[Path]) -> dict | None:
    """The best decoding settings for ``gen`` (a ``MidiGenerator``) on ``files`` and the scores of
    every candidate; None when no file has the stem and something to accompany."""
    stem = gen.stem
    scorer = HeldOutScorer(stem, files, gen.model.config.steps_per_beat)
    if not len(scorer):
        return None
    logits = scorer.logits(gen.model, gen.meta.get("hears_other_parts", True))
    col = F1_COLUMN[stem]
    base = {k: v for k, v in (gen.meta.get("decode") or {}).items() if k in CALIBRATED}
    scored = []
    for cand in candidates(stem):
        m = scorer.score(logits, base | cand, gen.meta, gen.temperature)
        f1, density, groove = m[col], m["density_ratio"], m["groove"]
        ok = abs(density - 1) <= MAX_DENSITY_ERROR and abs(groove / scorer.real_groove - 1) <= MAX_GROOVE_ERROR
        scored.append({"settings": cand, col: round(f1, 4), "density_ratio": round(density, 3),
                       "groove": round(groove, 3), "within_limits": bool(ok)})
    allowed = [s for s in scored if s["within_limits"]] or [s for s in scored if s["settings"] == {"onset_factor": 1.0}]
    best = max(allowed, key=lambda s: s[col])
    return {"chosen": best["settings"], "songs": len(scorer), "metric": col, "real_groove": round(scorer.real_groove, 3),
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
    decode = {k: v for k, v in meta.get("decode", {}).items() if k in CALIBRATED}
    meta["decode"] = decode | result["chosen"]
    col = result["metric"]
    default = next(c for c in result["candidates"] if c["settings"] == {"onset_factor": 1.0})
    best = next(c for c in result["candidates"] if c["settings"] == result["chosen"])
    meta["decode_tuning"] = {"split": "valid", "songs": result["songs"], "metric": col,
                             "chosen": best, "as_calibrated": default, "limits": result["limits"]}
    atomic_write_text(folder / "config.json", json.dumps(meta, indent=2))
    return result
