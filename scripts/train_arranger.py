"""Fine-tune the MIDI engine's part model on audio-derived contexts (the arranger's part model),
compare it with the MIDI model applied as it is on held-out songs' audio contexts, and write the
better one to --out with a model card.

    nice -n 5 .venv/bin/python scripts/train_arranger.py --data /tmp/arranger_data --stem bass \
        --init models/midi/band-bass --out models/arranger/bass --steps 600

Data: ``scripts/build_arranger_data.py`` (song-level train/valid/test splits). Training batches are
random windows of the training songs' audio contexts (the channels of ``stemgen.analysis`` the model reads) with
the removed part on the detected grid as the target, transposed by a random interval (context
chroma and target lanes rolled together, as the MIDI trainer does); the loss is the MIDI trainer's
``part_loss``. Starting weights: the MIDI model (same architecture and channels), so a short CPU
run adapts it to what analysis of real audio looks like (smeared chroma, onset strengths instead of
velocities, tracking errors). Evaluation: ``stemgen.arranger.part_scores`` on the test split.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA_COMMAND = ("nice -n 5 .venv/bin/python scripts/build_arranger_data.py --root ../shared/data/tegridy_band_midi_nc "
                "--out /tmp/arranger_data2 --splits test,valid,train --max-seconds 60 --workers 2")


class AudioWindowSampler:
    """Random (context, target) windows from audio examples, in ``midi.train.part_loss``'s batch format."""

    def __init__(self, examples, stem: str, window: int, seed: int, transpose: int = 6):
        self.examples, self.stem, self.window, self.transpose = examples, stem, window, transpose
        p = np.array([e.n_steps for e in examples], np.float64)
        self.p = p / p.sum()
        self.rng = np.random.default_rng(seed)

    def window_of(self, ex, start: int, k: int) -> dict:
        from stemgen.midi.context import SLICES
        from stemgen.midi.features import N_DRUM, N_PITCHES

        W, end = self.window, min(start + self.window, ex.n_steps)
        n = end - start
        ctx = np.zeros((ex.context.shape[0], W), np.float32)
        ctx[:, :n] = ex.context[:, start:end]
        for group in ("chroma", "bass_chroma"):
            ctx[SLICES[group]] = np.roll(ctx[SLICES[group]], k, axis=0)
        mask = np.zeros(W, np.float32)
        mask[:n] = 1
        if self.stem == "drums":
            vel = np.zeros((N_DRUM, W), np.float32)
            vel[:, :n] = ex.target["drums"][:, start:end] / 127.0
            return {"context": ctx, "vel": vel, "mask": mask}
        on = np.zeros((N_PITCHES, W), np.float32)
        sus = np.zeros((N_PITCHES, W), bool)
        on[:, :n] = np.roll(ex.target["onset"][:, start:end], k, axis=0) / 127.0
        sus[:, :n] = np.roll(ex.target["sustain"][:, start:end], k, axis=0)
        return {"context": ctx, "on": on, "sus": sus, "mask": mask}

    def batch(self, size: int, augment: bool = True) -> dict:
        import torch

        items, texts = [], []
        for i in self.rng.choice(len(self.examples), size=size, p=self.p):
            ex = self.examples[i]
            start = int(self.rng.integers(0, max(1, ex.n_steps - self.window + 1)))
            k = int(self.rng.integers(-self.transpose + 1, self.transpose + 1)) if augment and self.transpose else 0
            items.append(self.window_of(ex, start, k))
            texts.append(ex.text_emb)
        out = {key: torch.from_numpy(np.stack([it[key] for it in items])) for key in items[0]}
        out["text"] = torch.from_numpy(np.stack(texts))
        return out


def attach_text(examples) -> None:
    """MiniLM embedding of each example's instruction (``ex.text_emb``)."""
    from stemgen.midi.text import embed_texts

    if not examples:
        return
    emb = embed_texts([e.record.instruction for e in examples])
    for e, v in zip(examples, emb):
        e.text_emb = v


def predict(model, ex):
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(ex.context)[None], torch.from_numpy(ex.text_emb)[None])[0].numpy()


def density_scale(model, examples, stem: str) -> list[float]:
    """Real onsets / expected onsets over whole songs (per drum class, or one value)."""
    from stemgen.midi.features import N_DRUM, ONSET

    n = N_DRUM if stem == "drums" else 1
    real, expected = np.zeros(n), np.zeros(n)
    for ex in examples:
        out = predict(model, ex)
        prob = 1 / (1 + np.exp(-np.clip(out[:n] if stem == "drums" else out[ONSET : ONSET + 1], -30, 30)))
        expected += prob.sum(axis=1)
        real += (ex.target["drums"] > 0).sum(axis=1) if stem == "drums" else (ex.target["onset"].max(axis=0) > 0).sum()
    return [round(float(r / e), 3) if e > 0 else 1.0 for r, e in zip(real, expected)]


FLOORS = (0.0, 0.1, 0.2, 0.3)


def fit_context(examples, channels: int, data: Path, init: str) -> None:
    """Give each example the context channels the model reads (a 34-channel model reads the prefix
    of a 106-channel context); examples built before the pitch group cannot feed a newer model."""
    for ex in examples:
        if ex.context.shape[0] < channels:
            raise SystemExit(f"{data}: its audio contexts have {ex.context.shape[0]} channels and {init} needs "
                             f"{channels}; rebuild them with scripts/build_arranger_data.py")
        ex.context = ex.context[:channels]


def decode_part(out, stem: str, decode: dict) -> list:
    """Notes from model outputs with a model's ``decode`` settings, as the engines decode them."""
    from stemgen.midi.features import decode_with

    return decode_with(out, stem, decode)


def choose_floor(model, scale, valid, stem: str, root: Path) -> tuple[float, dict]:
    """The onset floor (a kept onset must be more probable than it) with the best validation score,
    as the MIDI engine chooses its own on its validation split."""
    import inspect

    from stemgen.midi.features import decode_output

    if "floor" not in inspect.signature(decode_output).parameters or not valid:
        return 0.0, {}
    models = {f"floor_{f:g}": (model, {"density_scale": scale, "floor": f}) for f in FLOORS}
    table = evaluate(models, valid, stem, root)["table"]
    key = key_metric(stem)
    scores = {f: table[f"floor_{f:g}"][key] or 0.0 for f in FLOORS}
    return max(FLOORS, key=lambda f: (scores[f], -f)), {f"{f:g}": round(v, 4) for f, v in scores.items()}


def context_notes(song, stem: str, bounds) -> list:
    """The other pitched tracks' notes on the detected grid (for in-chord)."""
    from stemgen.arranger.training_data import notes_on_steps, stem_notes

    out = []
    for role in ("bass", "guitar", "other"):
        if role != stem:
            on, end, pitch, vel, _ = stem_notes(song, role)
            out += notes_on_steps(on, end, pitch, vel, bounds)
    return out


def evaluate(models: dict, examples, stem: str, root: Path) -> dict:
    """Mean (and per-song) scores of each model on ``examples``; the real part as the ceiling check."""
    from stemgen.arranger.part_scores import COLUMNS, score_part, target_notes
    from stemgen.midifile.io import load_midi

    rows = {name: [] for name in [*models, "real", "real_shifted"]}
    for ex in examples:
        real = target_notes(ex.target, stem)
        song = load_midi(root / "midi" / f"{ex.record.song}.mid")
        ctx = context_notes(song, stem, ex.step_times) if stem != "drums" else None
        for name, (model, decode) in models.items():
            part = decode_part(predict(model, ex), stem, decode)
            rows[name].append(score_part(part, real, stem, ex.n_steps, ctx))
        rows["real"].append(score_part(real, real, stem, ex.n_steps, ctx))
        # The real part one 16th late: a check that the scores punish a misplaced part.
        shifted = [(a + 1, b + 1, p, v) for a, b, p, v in real if b + 1 <= ex.n_steps]
        rows["real_shifted"].append(score_part(shifted, real, stem, ex.n_steps, ctx))
    from stemgen.evaluation.report.summary import bootstrap_mean

    table = {}
    for name, rs in rows.items():
        table[name] = {}
        for c in COLUMNS:
            vals = [r[c] for r in rs if not math.isnan(r[c])]
            table[name][c] = round(float(np.mean(vals)), 4) if vals else None
    # Paired per-song differences to the MIDI model as is, with a 95% bootstrap interval over songs.
    key = key_metric(stem)
    diffs = {}
    for name in models:
        if name != "midi_as_is" and "midi_as_is" in rows:
            d = [a[key] - b[key] for a, b in zip(rows[name], rows["midi_as_is"])]
            mean, low, high = bootstrap_mean(d)
            diffs[name] = {"metric": key, "mean": round(mean, 4), "low": round(low, 4), "high": round(high, 4)}
    return {"songs": len(examples), "table": table, "vs_midi_as_is": diffs,
            "per_song": {"songs": [e.record.song for e in examples],
                         **{n: [round(r[key], 4) for r in rs] for n, rs in rows.items()}}}


def key_metric(stem: str) -> str:
    return "drum_f1" if stem == "drums" else "note_f1"


def _init_note(init: str) -> str:
    """What else the starting MIDI model was trained on (its config's data roots)."""
    try:
        roots = json.loads((Path(init) / "config.json").read_text()).get("data", {}).get("roots", [])
    except (OSError, ValueError):
        return ""
    if any("groove_midi" in str(r) for r in roots):
        return f" (The starting MIDI model, `{init}`, was also trained on Groove MIDI, CC BY 4.0.)"
    return ""


def write_card(out: Path, stem: str, meta: dict) -> None:
    ev = meta["evaluation"]
    cols = [c for c in ("note_f1", "pc_f1", "drum_f1", "onset_f1", "density_ratio", "in_chord")
            if any(ev["table"][n].get(c) is not None for n in ev["table"])]
    lines = ["| system | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for name, row in ev["table"].items():
        lines.append(f"| {name} | " + " | ".join("-" if row[c] is None else f"{row[c]:.3f}" for c in cols) + " |")
    text = f"""---
license: cc-by-nc-sa-4.0
tags: [stemgen, arranger, {stem}]
---
# stemgen arranger part model: {stem}

The audio arranger's part model for **{stem}**: from the {meta.get('context_channels', 34)}-channel context that `stemgen.analysis`
computes on a song's audio (chroma, bass chroma, band onset strengths, loudness, detected beats and
downbeats, per detected 16th-note step) and an instruction (MiniLM embedding), it predicts the
{stem} part per step; `stemgen.midi.features.decode_output` turns that into notes on the detected
grid. Same architecture, channels and output format as the MIDI engine's part model
(`stemgen.midi.model.PartModel`, `config.json` kind `stemgen-part-model-v1`).

**Selected: {meta['selected']}** (the best on the held-out songs' {key_metric(stem)}).

## Training data and license

Band MIDI set (`tegridy_band_midi_nc`), **CC BY-NC-SA 4.0: non-commercial use only** — these weights
are trained on it and inherit that restriction.{_init_note(meta['init'])} Subtractive training on audio: each song rendered
with the project's SoundFont renderer and seeded augmentation (SoundFont, program within its GM
family, velocity, stem gain; {meta['data']['variants']} variant per song, first {meta['data']['max_seconds']} s of each song),
the {stem} removed, the other stems' mix analysed by `stemgen.analysis` exactly as at generation
time, the removed part put on the detected 16th grid. Song-level split (`stemgen.midi.splits`):
{meta['data']['train_songs']} training examples from {meta['data']['train_unique_songs']} songs, {meta['data']['valid_songs']} validation songs
(density calibration), {ev['songs']} test songs (table below); no song is in two splits.
Songs whose context has no usable beat (`stemgen.analysis.refusal_reason`) are left out, and so
are training songs with fewer than {meta.get('min_grid_match', 0.0):g} of the part's onsets on the detected grid (their
target would teach timing noise) and test songs with fewer than 8 notes of the part in the excerpt.
Data command: `{DATA_COMMAND}`
{_grid_lines(meta['data'].get('per_split') or {})}

## Training

Initialised from `{meta['init']}` (the MIDI engine's model, {meta['init_steps']} steps on MIDI contexts), fine-tuned
{meta['fine_tune_steps']} steps (batch {meta['batch_size']}, lr {meta['lr']}, EMA) on audio contexts on a CPU
({meta['train_cpu_seconds']} CPU s); the weights here are the **{meta['selected']}** model. Decoding
(`config.json` `decode`): onset counts scaled by `density_scale` {meta['decode'].get('density_scale')} (real / expected
onsets on the validation songs' audio contexts), onset floor {meta['decode'].get('floor', 0.0)} (chosen on the
validation songs among {', '.join(f'{f:g}' for f in FLOORS)}: {meta['decode'].get('floor_valid_' + key_metric(stem), 'n/a')}). Command:

```
{meta['command']}
```

## Held-out evaluation (test split, audio contexts, detected grid)

Mean over {ev['songs']} test songs; F1s are onset-only on 16th cells (`stemgen.midi.metrics`, mir_eval's
definition), density ratio = generated / real onsets, in-chord = share of notes whose pitch class
sounds in the other tracks at the onset. `midi_as_is` = the MIDI model applied to audio contexts
unchanged, `midi_recalibrated` = the same with its onset-count calibration redone on the validation
songs' audio contexts, `fine_tuned` = after the audio fine-tuning, `real` = the real part (the ceiling
check: F1 1), `real_shifted` = the real part one 16th late (a check that the scores punish a misplaced
part).

{chr(10).join(lines)}

{_diff_lines(ev)}
Limitations: targets and scores are on the *detected* grid: where beat tracking misplaces the grid,
the real part itself sits off it (see `grid_match` in the data summary). Rendered MIDI is cleaner than
produced recordings; numbers on real recordings will be lower.
"""
    (out / "README.md").write_text(text)


def _diff_lines(ev: dict) -> str:
    """Paired differences to the MIDI model as is (mean and 95% bootstrap interval over songs)."""
    lines = [f"- {name} - midi_as_is, {d['metric']}: {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (paired over songs)"
             for name, d in ev.get("vs_midi_as_is", {}).items()]
    return "\n".join(lines)


def _grid_lines(per_split: dict) -> str:
    """What the data summary says about the detected grid, per split."""
    lines = []
    for split, v in per_split.items():
        if v:
            lines.append(f"- {split}: {v['examples']} examples, {v['refused']} refused (no usable beat); share of the "
                         f"part's onsets on the detected grid: mean {v.get('grid_match_mean')}, median "
                         f"{v.get('grid_match_median')}; on the {v.get('quantised_parts')} parts quantised to their MIDI "
                         f"16ths: mean {v.get('grid_match_mean_quantised')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--stem", required=True, choices=("drums", "bass", "guitar"))
    ap.add_argument("--init", required=True, help="MIDI part model folder to start from")
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default=str(REPO.parent / "shared/data/tegridy_band_midi_nc"), help="band MIDI folder (for in-chord)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--text-drop", type=float, default=0.15)
    ap.add_argument("--ema-decay", type=float, default=0.99)
    ap.add_argument("--time-limit", type=float, default=None, help="CPU seconds")
    ap.add_argument("--min-grid-match", type=float, default=0.0, help="leave out training songs below this grid match")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--evaluate-only", action="store_true",
                    help="evaluate the saved model in --out again (its weights as saved) and rewrite its card")
    args = ap.parse_args(argv)

    import torch

    from stemgen.arranger.training_data import load_examples
    from stemgen.midi.model import load_model, save_model

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    log = lambda m: print(f"[{args.stem}] {m}", file=sys.stderr, flush=True)  # noqa: E731
    data = Path(args.data)
    train = load_examples(data, "train", args.stem, args.min_grid_match)
    valid = load_examples(data, "valid", args.stem)
    test = load_examples(data, "test", args.stem)
    assert not ({e.record.song for e in test} & {e.record.song for e in train + valid}), "split leak"
    log(f"{len(train)} train, {len(valid)} valid, {len(test)} test examples")
    for part in (train, valid, test):
        attach_text(part)
    base, base_meta = load_model(args.init)
    if base.config.stem != args.stem:
        raise SystemExit(f"{args.init}: a {base.config.stem} model, not {args.stem}")
    base_decode = dict(base_meta.get("decode", {}))
    fit_context(train + valid + test, base.config.context_channels, data, args.init)
    if args.evaluate_only:
        return reevaluate(args, base, base_decode, valid, test, log)
    model = copy.deepcopy(base)
    sampler = AudioWindowSampler(train, args.stem, base.config.window, args.seed)
    c0 = time.process_time()
    from stemgen.midi.train import fit

    def report(step: int, losses: list[float]) -> None:
        if step % 50 == 0:
            log(f"step {step} loss {np.mean(losses[-50:]):.4f}")

    tuned, losses, steps = fit(model, lambda: sampler.batch(args.batch_size), steps=args.steps, lr=args.lr,
                               text_drop=args.text_drop, ema_decay=args.ema_decay, time_limit_s=args.time_limit,
                               warmup=50, on_step=report)
    cpu = round(time.process_time() - c0, 1)
    tuned_decode = tuned_decoding(tuned, base_decode, valid, args.stem, Path(args.root))
    # Density calibration of the MIDI model on audio contexts too, so that (a) is not penalised for
    # a calibration made on MIDI contexts alone; both rows are reported.
    base_audio = recalibrated(base, base_decode, valid, args.stem)
    ev = evaluate({"midi_as_is": (base, base_decode), "midi_recalibrated": (base, base_audio),
                   "fine_tuned": (tuned, tuned_decode)}, test, args.stem, Path(args.root))
    key = key_metric(args.stem)
    t = ev["table"]
    summary = _data_summary(data)
    candidates = {"fine_tuned": (tuned, tuned_decode), "midi_as_is": (base, base_decode),
                  "midi_recalibrated": (base, base_audio)}
    selected = max(candidates, key=lambda n: t[n][key] or 0.0)
    chosen, decode = candidates[selected]
    meta = {
        "stem": args.stem, "engine": "arranger", "selected": selected,
        "init": str(Path(args.init)), "init_steps": base_meta.get("steps"),
        "context_channels": base.config.context_channels,
        "steps": steps if selected == "fine_tuned" else 0, "fine_tune_steps": steps,
        "batch_size": args.batch_size, "lr": args.lr, "min_grid_match": args.min_grid_match, "train_cpu_seconds": cpu,
        "loss_curve": [round(float(np.mean(losses[i:i + 50])), 4) for i in range(0, len(losses), 50)],
        "decode": decode,
        "data": {"cache": str(data), "train_songs": len(train), "train_unique_songs": len({e.record.song for e in train}), "valid_songs": len(valid), "test_songs": len(test),
                 "variants": 1, "max_seconds": summary.get("max_seconds"), "analysis": summary.get("analysis"),
                 "per_split": {sp: v.get(args.stem) for sp, v in summary.get("cache", {}).items()},
                 "license": "CC-BY-NC-SA-4.0",
                 "source": "tegridy_band_midi_nc (non-commercial)"},
        "train_files": sorted({e.record.song for e in train}),
        "evaluation": ev,
        "command": "nice -n 5 .venv/bin/python scripts/train_arranger.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "license": "CC-BY-NC-SA-4.0",
    }
    out = Path(args.out)
    save_model(chosen, out, meta)
    write_card(out, args.stem, meta)
    print(json.dumps({"stem": args.stem, "selected": selected, "steps": steps, "cpu_s": cpu, "evaluation": ev}))
    return 0


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
        out["floor_valid_" + key_metric(stem)] = scores
    return out


def reevaluate(args, base, base_decode, valid, test, log) -> int:
    """The saved ``--out`` model (fp16 weights as shipped) against the MIDI model, card rewritten."""
    from stemgen.fileio import atomic_write_text
    from stemgen.midi.model import load_model

    out = Path(args.out)
    saved, meta = load_model(out)
    models = {"midi_as_is": (base, base_decode)}
    if valid:
        models["midi_recalibrated"] = (base, recalibrated(base, base_decode, valid, args.stem))
    if meta["selected"] == "fine_tuned":
        meta["decode"] = tuned_decoding(saved, base_decode, valid, args.stem, Path(args.root))
    models[meta["selected"] if meta["selected"] == "fine_tuned" else "saved"] = (saved, meta["decode"])
    ev = evaluate(models, test, args.stem, Path(args.root))
    meta["evaluation"] = ev
    atomic_write_text(out / "config.json", json.dumps(meta, indent=2))
    write_card(out, args.stem, meta)
    log(json.dumps(ev["vs_midi_as_is"]))
    print(json.dumps({"stem": args.stem, "evaluation": ev}))
    return 0


def _data_summary(data: Path) -> dict:
    try:
        return json.loads((data / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
