"""Fit the weights of ``stemgen.analysis.grid_decisions`` (tempo octave, beat phase, bar phase) on renders.

    nice -n 10 .venv/bin/python scripts/fit_grid_decisions.py collect --split train --songs 80 --out /tmp/grid_train.npz
    nice -n 10 .venv/bin/python scripts/fit_grid_decisions.py collect --split valid --songs 40 --out /tmp/grid_valid.npz
    .venv/bin/python scripts/fit_grid_decisions.py fit /tmp/grid_train.npz --valid /tmp/grid_valid.npz

``collect``: songs of the band set's ``--split`` (in a seeded random order: the names group by
collection) whose notes follow their tempo map (as
``scripts/eval_analysis.py``), the first ``--seconds`` rendered with FluidR3_GM, as the full mix and
with each of drums, bass, guitar removed (subtractive training: the arranger's contexts). Per song
and context: every candidate grid's evidence (``grid_decisions.grid_evidence``), its beat F against
the tempo map, and per-beat bar evidence with the true bar phase.
``fit``: the linear weights (listwise softmax: the best candidate first; then the true bar phase
first), L2 chosen on ``--valid``; prints the weights to paste into ``grid_decisions`` and the valid
figures (chosen candidate's mean beat F, how often the best one is chosen, bar phase accuracy).
The test split is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_analysis import CONTEXTS, rendered_songs  # noqa: E402

from stemgen.analysis import analyze  # noqa: E402
from stemgen.analysis import grid_decisions as gd  # noqa: E402
from stemgen.analysis.core import _tempo as core_tempo  # noqa: E402
from stemgen.evaluation.metrics.beat_tracking import f_measure  # noqa: E402


def collect(args) -> None:
    grid_rows, bar_rows, skipped = [], [], []
    songs = rendered_songs(args.split, args.songs, args.seconds, 0.8, CONTEXTS, skipped, shuffle_seed=0)
    for name, variants, sr, truth, _ in songs:
        lo = float(truth.beat_times[0]) if truth.beat_times.size else 0.0
        for ctx, audio in variants.items():
            a = analyze(audio, sr)
            feats = gd.GridFeatures(a)
            bpm = core_tempo(feats.env, feats.fr)
            if np.any(np.asarray(bpm) <= 0):
                continue
            cands = gd.candidate_grids(feats, bpm)
            if not cands:
                continue
            ev, acc, fs = [], [], []
            for _, half, strict, b in cands:
                ev.append(gd.grid_evidence(feats, b, half, strict))
                acc.append(gd.beat_accent_evidence(feats, b))
                inside = b[(b >= lo - 0.07) & (b < truth.end_s + 0.07)]
                fs.append(f_measure(truth.beat_times, inside))
            grid_rows.append({"song": name, "context": ctx, "evidence": np.array(ev), "beat_f": np.array(fs),
                              "accents": acc})
            # Bar phase on the truth's own beats (the decision downbeats make once the beats are right).
            tb = truth.beat_times
            meter = truth.meters[0]
            if tb.size >= 3 * meter and truth.downbeat_times.size:
                first = int(np.argmin(np.abs(tb - truth.downbeat_times[0])))
                bar_rows.append({"song": name, "context": ctx, "meter": meter, "phase": first % meter,
                                 "accents": gd.beat_accent_evidence(feats, tb)})
        print(json.dumps({"song": name, "contexts": len(variants)}), flush=True)
    np.save(args.out, np.array({"grid": grid_rows, "bars": bar_rows, "skipped": len(skipped)}, dtype=object),
            allow_pickle=True)
    print(f"{len(grid_rows)} song-contexts, {len(bar_rows)} with bars, {len(skipped)} songs skipped -> {args.out}")


def _load(path) -> dict:
    return np.load(path, allow_pickle=True).item()


def _phase_features(row) -> np.ndarray:
    """(meter, n_accent) mean accent evidence on phase p's beats minus the others'."""
    a, m = row["accents"], row["meter"]
    idx = np.arange(a.shape[0]) % m
    return np.stack([a[idx == p].mean(axis=0) - a[idx != p].mean(axis=0) for p in range(m)])


def fit_listwise(groups: list[np.ndarray], targets: list[int], l2: float, steps: int = 600, lr: float = 0.2) -> np.ndarray:
    """Weights maximising sum log softmax(X_g w)[target_g] - l2 |w|^2 (features standardised inside)."""
    allx = np.concatenate(groups)
    mu, sd = allx.mean(axis=0), allx.std(axis=0) + 1e-9
    xs = [(g - mu) / sd for g in groups]
    w = np.zeros(allx.shape[1])
    for _ in range(steps):
        grad = -2 * l2 * w
        for x, t in zip(xs, targets):
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += x[t] - p @ x
        w += lr * grad / len(xs)
    return w / sd  # on raw features (the mean shifts every candidate alike)


def bar_weights(bars: list[dict], l2: float) -> np.ndarray:
    return fit_listwise([_phase_features(r) for r in bars], [r["phase"] for r in bars], l2)


def bar_accuracy(bars: list[dict], w: np.ndarray) -> float:
    return float(np.mean([int(np.argmax(_phase_features(r) @ w)) == r["phase"] for r in bars])) if bars else float("nan")


def meter_accuracy(bars: list[dict], w: np.ndarray) -> float:
    """Share of songs whose meter ``downbeats.meter_and_phase`` finds from the weighted accents."""
    from stemgen.analysis.grid_decisions import unit_std as _unit_std
    from stemgen.analysis.downbeats import meter_and_phase

    return float(np.mean([meter_and_phase(_unit_std(r["accents"] @ w))[0] == r["meter"] for r in bars])) if bars else float("nan")


def grid_design(rows: list[dict], accent_w: np.ndarray) -> list[np.ndarray]:
    """Evidence with the bar contrasts recomputed from the accents under ``accent_w``."""
    out = []
    for r in rows:
        ev = r["evidence"].copy()
        for i, acc in enumerate(r["accents"]):
            ev[i, gd.BAR4], ev[i, gd.BAR3] = gd.bar_evidence(acc, accent_w)
        out.append(ev)
    return out


def grid_report(rows: list[dict], design: list[np.ndarray], w: np.ndarray) -> dict:
    chosen = [r["beat_f"][int(np.argmax(x @ w))] for r, x in zip(rows, design)]
    best = [r["beat_f"].max() for r in rows]
    first = [r["beat_f"][0] for r in rows]  # the tracker's own grid
    by_ctx = {}
    for r, c in zip(rows, chosen):
        by_ctx.setdefault(r["context"], []).append(c)
    return {"chosen_beat_f": round(float(np.mean(chosen)), 3), "oracle_beat_f": round(float(np.mean(best)), 3),
            "tracker_beat_f": round(float(np.mean(first)), 3),
            "by_context": {k: round(float(np.mean(v)), 3) for k, v in by_ctx.items()}}


OCTAVE_FACTORS = (1.0, 2.0, 0.5)


def only_factors(rows: list[dict], factors) -> list[dict]:
    """Rows with only the candidates whose tempo is one of ``factors`` times the first candidate's."""
    lt = gd.EVIDENCE_NAMES.index("log_tempo")
    out = []
    for r in rows:
        rel = r["evidence"][:, lt] - r["evidence"][0, lt]
        keep = np.min(np.abs(rel[:, None] - np.log2(factors)[None, :]), axis=1) < 0.1
        out.append({**r, "evidence": r["evidence"][keep], "beat_f": r["beat_f"][keep],
                    "accents": [a for a, k in zip(r["accents"], keep) if k]})
    return out


def fit(args) -> None:
    train = _load(args.train)
    valid = _load(args.valid) if args.valid else train
    best = None
    for l2 in (0.0, 0.01, 0.1, 1.0):
        aw = bar_weights(train["bars"], l2)
        acc = bar_accuracy(valid["bars"], aw)
        if best is None or acc > best[0]:
            best = (acc, l2, aw)
        print(json.dumps({"bars_l2": l2, "valid_bar_phase_acc": round(acc, 3)}))
    bar_acc, bar_l2, accent_w = best
    default_acc = bar_accuracy(valid["bars"], gd.ACCENT_WEIGHTS)
    best = None
    for factors in (gd.TEMPO_FACTORS, OCTAVE_FACTORS):  # with or without the 3/2 and 2/3 tempi
        usable = [r for r in only_factors(train["grid"], factors) if r["beat_f"].max() >= 0.5]
        design = grid_design(usable, accent_w)
        vrows = only_factors(valid["grid"], factors)
        vdesign = grid_design(vrows, accent_w)
        for l2 in (1.0, 3.0, 10.0, 30.0, 100.0):
            w = fit_listwise(design, [int(np.argmax(r["beat_f"])) for r in usable], l2)
            rep = {"factors": [round(f, 3) for f in factors], **grid_report(vrows, vdesign, w)}
            print(json.dumps({"grid_l2": l2, **rep}))
            if best is None or rep["chosen_beat_f"] > best[0]["chosen_beat_f"]:
                best = (rep, l2, w)
    rep, l2, w = best
    print(json.dumps({"valid_meter_acc": round(meter_accuracy(valid["bars"], accent_w), 3),
                      "valid_meters": np.bincount([r["meter"] for r in valid["bars"]]).tolist(),
                      "valid_bar_phase_acc": round(bar_acc, 3), "default_accent_bar_phase_acc": round(default_acc, 3),
                      "bars_l2": bar_l2, "grid_l2": l2, **rep}))
    print("GRID_WEIGHTS = np.array([" + ", ".join(f"{v:.4g}" for v in w) + "])  # " + ", ".join(gd.EVIDENCE_NAMES))
    print("ACCENT_WEIGHTS = np.array([" + ", ".join(f"{v:.4g}" for v in accent_w) + "])  # " + ", ".join(gd.ACCENT_NAMES))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--split", default="train", choices=["train", "valid"])
    c.add_argument("--songs", type=int, default=80)
    c.add_argument("--seconds", type=float, default=30.0)
    c.add_argument("--out", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("train", type=Path)
    f.add_argument("--valid", type=Path, default=None)
    args = ap.parse_args(argv)
    collect(args) if args.cmd == "collect" else fit(args)


if __name__ == "__main__":
    main()
