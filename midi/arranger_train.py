"""Fine-tune a MIDI part model on audio-derived contexts (the arranger's part model), compare it
with the MIDI model applied as it is on held-out songs' audio contexts, and keep the better one on
the validation songs (the test songs are scored once, for the card).

Data: ``stemgen.midi.audio_examples`` (built by ``scripts/build_arranger_data.py``; song-level
train/valid/test splits). Training batches are random windows of the training songs' audio
contexts (the channels of ``stemgen.analysis`` the model reads) with the removed part on the
detected grid as the target, transposed by a random interval exactly as the MIDI trainer
transposes (``context.transpose_context``, ``train.target_window``); the loss is the MIDI
trainer's ``part_loss`` and the recipe its ``fit``. Starting weights: the MIDI model (same
architecture and channels), so a short CPU run adapts it to what analysis of real audio looks like
(smeared chroma, onset strengths instead of velocities, tracking errors). Density calibration is
the MIDI trainer's (``train.density_from_counts``); evaluation is ``part_scores`` on the test split.
Run it with ``stemgen midi train-arranger``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from stemgen.errors import StemgenInputError
from stemgen.fileio import atomic_write_text
from stemgen.midifile.io import load_midi
from stemgen.stats import bootstrap_mean
from stemgen.stems import OTHER, PITCHED_STEMS

from .arranger_card import FLOORS, write_arranger_card
from .audio_examples import load_examples, notes_on_steps, stem_notes
from .context import transpose_context
from .evaluate import F1_COLUMN
from .features import N_DRUM, ONSET, decode_with
from .generate import model_logits
from .model import load_model, save_model
from .part_scores import COLUMNS, score_part, target_notes
from .text import embed_texts
from .train import density_from_counts, fit, stack_batch, target_window

LICENSE = "CC-BY-NC-SA-4.0"


@dataclass
class ArrangerTrainSettings:
    """What ``stemgen midi train-arranger`` takes (see its ``--help``)."""

    data: Path  # audio example cache (scripts/build_arranger_data.py --out)
    stem: str
    init: Path  # MIDI part model folder to start from
    out: Path
    root: Path  # band MIDI folder the data were built from (for in-chord)
    steps: int = 600
    batch_size: int = 16
    lr: float = 5e-4
    text_drop: float = 0.15
    ema_decay: float = 0.99
    time_limit_s: float | None = None  # CPU seconds
    min_grid_match: float = 0.0  # leave out training songs below this grid match
    seed: int = 0
    command: str = ""  # recorded in the card
    keep_settings: Path | None = None  # an arranger model folder whose decoding settings the new model keeps


# What ``--keep-settings`` copies from an arranger model's config.json: the decoding settings chosen on
# rendered songs after training (drum form, drummer profiles, rests, velocities, register words, bar
# groove) and their provenance. The onset calibration (``density_scale``, ``floor``) is always the new
# model's own, chosen on the valid songs; so is the guitar's style prior (``style_rhythm``), which is
# fitted to a model's own rhythms (``python -m stemgen.evaluation.arranger_style_fit``).
KEPT_KEYS = ("rests", "velocity", "register", "bar_groove", "decode_relative_floor", "decode_variation",
             "decode_drummers")
OWN_DECODE = ("density_scale", "floor")


def kept_settings(folder: Path | None) -> dict:
    """The settings of ``KEPT_KEYS`` and the ``decode`` entries other than the onset calibration of the
    arranger model in ``folder`` (``{}`` without one)."""
    if folder is None:
        return {}
    try:
        meta = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise StemgenInputError(folder, f"no readable config.json ({exc})") from None
    decode = {k: v for k, v in meta.get("decode", {}).items() if k not in OWN_DECODE and not k.startswith("floor_valid")}
    return {**{k: meta[k] for k in KEPT_KEYS if k in meta}, **({"decode": decode} if decode else {})}


class AudioWindowSampler:
    """Random (context, target) windows from audio examples, in ``train.part_loss``'s batch format."""

    def __init__(self, examples, stem: str, window: int, seed: int, transpose: int = 6):
        self.examples, self.stem, self.window, self.transpose = examples, stem, window, transpose
        p = np.array([e.n_steps for e in examples], np.float64)
        self.p = p / p.sum()
        self.rng = np.random.default_rng(seed)

    def window_of(self, ex, start: int, k: int) -> dict:
        end = min(start + self.window, ex.n_steps)
        ctx = np.zeros((ex.context.shape[0], self.window), np.float32)
        ctx[:, : end - start] = transpose_context(ex.context[:, start:end], k)
        return {"context": ctx, **target_window(ex.target, self.stem, start, end, self.window, k)}

    def batch(self, size: int, augment: bool = True) -> dict:
        items, texts = [], []
        for i in self.rng.choice(len(self.examples), size=size, p=self.p):
            ex = self.examples[i]
            start = int(self.rng.integers(0, max(1, ex.n_steps - self.window + 1)))
            k = int(self.rng.integers(-self.transpose + 1, self.transpose + 1)) if augment and self.transpose else 0
            items.append(self.window_of(ex, start, k))
            texts.append(ex.text_emb)
        return stack_batch(items, texts)


def attach_text(examples) -> None:
    """MiniLM embedding of each example's instruction (``ex.text_emb``)."""
    if not examples:
        return
    for e, v in zip(examples, embed_texts([e.record.instruction for e in examples])):
        e.text_emb = v


def predict(model, ex) -> np.ndarray:
    """The model's logits on one audio example (``generate.model_logits``, as the engines call it)."""
    return model_logits(model, ex.context, ex.text_emb)


def density_scale(model, examples, stem: str) -> list[float]:
    """The MIDI trainer's onset-count calibration, on audio contexts."""
    real, expected = [], []
    for ex in examples:
        out = predict(model, ex)
        logits = out[:N_DRUM] if stem == "drums" else out[ONSET]
        prob = 1 / (1 + np.exp(-np.clip(logits, -30, 30)))
        if stem == "drums":
            expected.append(prob.sum(axis=1))
            real.append((ex.target["drums"] > 0).sum(axis=1))
        else:
            expected.append(float(prob.sum()))
            real.append(int((ex.target["onset"].max(axis=0) > 0).sum()))
    return density_from_counts(stem, real, expected)


def check_channels(examples, channels: int, data: Path, init: Path) -> None:
    """A one-line error when the examples have fewer context channels than the model reads (examples
    built before the pitch group cannot feed a newer model)."""
    for ex in examples:
        if ex.context.shape[0] < channels:
            raise StemgenInputError(data, f"its audio contexts have {ex.context.shape[0]} channels and {init} needs "
                                          f"{channels}; rebuild them with scripts/build_arranger_data.py")


def fit_context(examples, channels: int, data: Path, init: Path) -> None:
    """Give each example the context channels the model reads (a 34-channel model reads the prefix
    of a 106-channel context)."""
    check_channels(examples, channels, data, init)
    for ex in examples:
        ex.context = ex.context[:channels]


def choose_floor(model, scale, valid, stem: str, root: Path) -> tuple[float, dict]:
    """The onset floor (a kept onset must be more probable than it) with the best validation score,
    as the MIDI engine chooses its own on its validation split."""
    if not valid:
        return 0.0, {}
    models = {f"floor_{f:g}": (model, {"density_scale": scale, "floor": f}) for f in FLOORS}
    table = evaluate(models, valid, stem, root)["table"]
    scores = {f: table[f"floor_{f:g}"][F1_COLUMN[stem]] or 0.0 for f in FLOORS}
    return max(FLOORS, key=lambda f: (scores[f], -f)), {f"{f:g}": round(v, 4) for f, v in scores.items()}


def context_notes(song, stem: str, bounds) -> list:
    """The other pitched tracks' notes on the detected grid (for in-chord)."""
    out = []
    for role in (*PITCHED_STEMS, OTHER):
        if role != stem:
            on, end, pitch, vel, _ = stem_notes(song, role)
            out += notes_on_steps(on, end, pitch, vel, bounds)
    return out


def evaluate(models: dict, examples, stem: str, root: Path) -> dict:
    """Mean (and per-song) scores of each ``{name: (model, decode)}`` on ``examples``; the real part as
    the ceiling check and the real part one 16th late as the check that a misplaced part scores low."""
    rows = {name: [] for name in [*models, "real", "real_shifted"]}
    for ex in examples:
        real = target_notes(ex.target, stem)
        song = load_midi(root / "midi" / f"{ex.record.song}.mid")
        ctx = context_notes(song, stem, ex.step_times) if stem != "drums" else None
        for name, (model, decode) in models.items():
            part = decode_with(predict(model, ex), stem, decode)
            rows[name].append(score_part(part, real, stem, ex.n_steps, ctx))
        rows["real"].append(score_part(real, real, stem, ex.n_steps, ctx))
        shifted = [(a + 1, b + 1, p, v) for a, b, p, v in real if b + 1 <= ex.n_steps]
        rows["real_shifted"].append(score_part(shifted, real, stem, ex.n_steps, ctx))
    table = {}
    for name, rs in rows.items():
        table[name] = {}
        for c in COLUMNS:
            vals = [r[c] for r in rs if not math.isnan(r[c])]
            table[name][c] = round(float(np.mean(vals)), 4) if vals else None
    # Paired per-song differences to the MIDI model as is, with a 95% bootstrap interval over songs.
    key = F1_COLUMN[stem]
    diffs = {}
    for name in models:
        if name != "midi_as_is" and "midi_as_is" in rows:
            mean, low, high = bootstrap_mean([a[key] - b[key] for a, b in zip(rows[name], rows["midi_as_is"])])
            diffs[name] = {"metric": key, "mean": round(mean, 4), "low": round(low, 4), "high": round(high, 4)}
    return {"songs": len(examples), "table": table, "vs_midi_as_is": diffs,
            "per_song": {"songs": [e.record.song for e in examples],
                         **{n: [round(r[key], 4) for r in rs] for n, rs in rows.items()}}}


def recalibrated(base, base_decode: dict, valid, stem: str) -> dict:
    return {**base_decode, "density_scale": density_scale(base, valid, stem)} if valid else dict(base_decode)


def tuned_decoding(model, base_decode: dict, valid, stem: str, root: Path) -> dict:
    """Density scale and onset floor of a fine-tuned model, both from the validation songs."""
    if not valid:
        return {k: v for k, v in base_decode.items() if k in ("density_scale", "floor")}
    scale = density_scale(model, valid, stem)
    floor, scores = choose_floor(model, scale, valid, stem, root)
    out = {"density_scale": scale, "floor": floor}
    if scores:
        out["floor_valid_" + F1_COLUMN[stem]] = scores
    return out


def _load_splits(s: ArrangerTrainSettings, log: Callable[[str], None]):
    train = load_examples(s.data, "train", s.stem, s.min_grid_match)
    valid = load_examples(s.data, "valid", s.stem)
    test = load_examples(s.data, "test", s.stem)
    if {e.record.song for e in test} & {e.record.song for e in train + valid}:
        raise StemgenInputError(s.data, "a test song is also in the train or valid split")
    log(f"{len(train)} train, {len(valid)} valid, {len(test)} test examples")
    for part in (train, valid, test):
        attach_text(part)
    base, base_meta = load_model(s.init)
    if base.config.stem != s.stem:
        raise StemgenInputError(s.init, f"a {base.config.stem} model, not {s.stem}")
    fit_context(train + valid + test, base.config.context_channels, s.data, s.init)
    return train, valid, test, base, base_meta


def train_arranger(s: ArrangerTrainSettings, log: Callable[[str], None] = lambda m: None) -> dict:
    """Fine-tune, evaluate, and write the best of (fine-tuned, MIDI as is, MIDI recalibrated) to
    ``s.out`` with its model card; returns the metadata written to its ``config.json``."""
    torch.manual_seed(s.seed)
    train, valid, test, base, base_meta = _load_splits(s, log)
    base_decode = dict(base_meta.get("decode", {}))
    model = copy.deepcopy(base)
    sampler = AudioWindowSampler(train, s.stem, base.config.window, s.seed)
    c0 = time.process_time()

    def report(step: int, losses: list[float]) -> None:
        if step % 50 == 0:
            log(f"step {step} loss {np.mean(losses[-50:]):.4f}")

    tuned, losses, steps = fit(model, lambda: sampler.batch(s.batch_size), steps=s.steps, lr=s.lr,
                               text_drop=s.text_drop, ema_decay=s.ema_decay, time_limit_s=s.time_limit_s,
                               warmup=50, on_step=report)
    cpu = round(time.process_time() - c0, 1)
    tuned_decode = tuned_decoding(tuned, base_decode, valid, s.stem, s.root)
    # Density calibration of the MIDI model on audio contexts too, so that the MIDI model is not
    # penalised for a calibration made on MIDI contexts alone; both rows are reported.
    base_audio = recalibrated(base, base_decode, valid, s.stem)
    candidates = {"fine_tuned": (tuned, tuned_decode), "midi_as_is": (base, base_decode),
                  "midi_recalibrated": (base, base_audio)}
    # Chosen on the validation songs (the fine-tuned model without any); the test songs are scored once.
    key = F1_COLUMN[s.stem]
    valid_ev = evaluate(candidates, valid, s.stem, s.root) if valid else None
    selected = max(candidates, key=lambda n: valid_ev["table"][n][key] or 0.0) if valid_ev else "fine_tuned"
    ev = evaluate({"midi_as_is": (base, base_decode), "midi_recalibrated": (base, base_audio),
                   "fine_tuned": (tuned, tuned_decode)}, test, s.stem, s.root)
    chosen, decode = candidates[selected]
    kept = kept_settings(s.keep_settings)
    kept_decode = kept.pop("decode", {})
    decode = {**decode, **kept_decode}
    summary = _data_summary(s.data)
    meta = {
        "stem": s.stem, "engine": "arranger", "selected": selected,
        "init": str(s.init), "init_steps": base_meta.get("steps"),
        "context_channels": base.config.context_channels,
        "steps": steps if selected == "fine_tuned" else 0, "fine_tune_steps": steps,
        "batch_size": s.batch_size, "lr": s.lr, "min_grid_match": s.min_grid_match, "train_cpu_seconds": cpu,
        "loss_curve": [round(float(np.mean(losses[i:i + 50])), 4) for i in range(0, len(losses), 50)],
        "decode": decode,
        "data": {"cache": str(s.data), "train_songs": len(train),
                 "train_unique_songs": len({e.record.song for e in train}), "valid_songs": len(valid),
                 "test_songs": len(test), "variants": 1, "max_seconds": summary.get("max_seconds"),
                 "analysis": summary.get("analysis"), "beat_tracker": summary.get("beat_tracker", "numpy"),
                 "per_split": {sp: v.get(s.stem) for sp, v in summary.get("cache", {}).items()},
                 "license": LICENSE, "source": "tegridy_band_midi_nc (non-commercial)"},
        "train_files": sorted({e.record.song for e in train}),
        "valid_evaluation": {k: v for k, v in valid_ev.items() if k != "per_song"} if valid_ev else None,
        "evaluation": ev,
        "command": s.command,
        "license": LICENSE,
        **kept,
    }
    if s.keep_settings:
        meta["settings_kept_from"] = {"folder": str(s.keep_settings),
                                      "keys": [*kept, *(f"decode.{k}" for k in kept_decode)]}
    save_model(chosen, s.out, meta)
    write_arranger_card(s.out, s.stem, meta)
    return meta


def reevaluate_arranger(s: ArrangerTrainSettings, log: Callable[[str], None] = lambda m: None) -> dict:
    """The saved ``s.out`` model (weights as shipped) against the MIDI model on the test songs; its
    ``config.json`` evaluation and card rewritten. Returns the evaluation."""
    _, valid, test, base, base_meta = _load_splits(s, log)
    base_decode = dict(base_meta.get("decode", {}))
    saved, meta = load_model(s.out)
    models = {"midi_as_is": (base, base_decode)}
    if valid:
        models["midi_recalibrated"] = (base, recalibrated(base, base_decode, valid, s.stem))
    if meta["selected"] == "fine_tuned":
        meta["decode"] = tuned_decoding(saved, base_decode, valid, s.stem, s.root)
    models[meta["selected"] if meta["selected"] == "fine_tuned" else "saved"] = (saved, meta["decode"])
    ev = evaluate(models, test, s.stem, s.root)
    meta["evaluation"] = ev
    atomic_write_text(s.out / "config.json", json.dumps(meta, indent=2))
    write_arranger_card(s.out, s.stem, meta)
    log(json.dumps(ev["vs_midi_as_is"]))
    return ev


def _data_summary(data: Path) -> dict:
    try:
        return json.loads((data / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def evaluate_folders(data: Path, split: str, stem: str, root: Path, folders: dict[str, Path]) -> dict:
    """``evaluate`` of saved arranger (or MIDI) model folders, each with its own ``decode``, on the audio
    examples of ``split``: the comparison of a new model with the bundled one on the same songs."""
    examples = load_examples(data, split, stem)
    attach_text(examples)
    models = {}
    for name, folder in folders.items():
        model, meta = load_model(folder)
        if model.config.stem != stem:
            raise StemgenInputError(folder, f"a {model.config.stem} model, not {stem}")
        check_channels(examples, model.config.context_channels, data, folder)  # it reads their prefix
        models[name] = (model, meta.get("decode", {}))
    return evaluate(models, examples, stem, root)


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.midi.arranger_train DATA --stem S --split valid --root BAND NAME=FOLDER ...``:
    the note/drum F1 table (``evaluate``) of each model folder on one split of the audio examples, as JSON."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("models", nargs="+", help="NAME=FOLDER")
    ap.add_argument("--stem", required=True)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--root", type=Path, default=Path("../shared/data/tegridy_band_midi_nc"))
    args = ap.parse_args(argv)
    folders = dict(m.split("=", 1) for m in args.models)
    result = evaluate_folders(args.data, args.split, args.stem, args.root, {k: Path(v) for k, v in folders.items()})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
