"""Does a low detection margin predict a wrong bar start or tempo octave? (issue 18, the uncertainty flag)

    .venv/bin/python scripts/eval_analysis.py --split valid --songs 33 --seconds 30 --no-real \
        --trackers numpy,learned --per-song --out valid.jsonl
    .venv/bin/python scripts/calibrate_grid_flags.py valid.jsonl [--max-flagged 0.3]
    .venv/bin/python scripts/calibrate_grid_flags.py test.jsonl --bar-threshold 0.3 --octave-threshold 0.5

Reads ``eval_analysis.py --out`` rows (rendered songs; each has ``bar_start_margin``,
``tempo_octave_margin`` and the errors of ``stemgen.evaluation.metrics.beat_tracking``). Per tracker:

* bar start: ``bar_phase_error`` against ``bar_start_margin``, on the rows where the bar phase is
  defined (right tempo, beats on the beat: ``bar_phase_error`` is 0 elsewhere by definition), also
  with the right meter only (the margin compares bar phases of the chosen meter: a 4/4 song read in
  3/4 is a meter error it cannot see), and on every row (what a user sees);
* the same margin against any wrong bar (downbeat F < 0.5: also a wrong tempo or the "&"), every row;
* tempo octave: ``tempo_octave_error`` against ``tempo_octave_margin``, on every row.

It prints the AUC (probability that an error case has a lower margin than a right one; 0.5 is
chance) with a 95 % bootstrap interval over songs, and, at a threshold (given, or on valid the highest one flagging at most ``--max-flagged``
of the rows), the share of rows flagged, the share of the errors among them, and the error rate of
flagged and unflagged rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def auc(margin: np.ndarray, error: np.ndarray) -> float:
    """P(an error row's margin < a right row's), ties counting half (Mann-Whitney); nan without both."""
    bad, good = margin[error > 0], margin[error == 0]
    if not bad.size or not good.size:
        return float("nan")
    less = (bad[:, None] < good[None, :]).mean()
    ties = (bad[:, None] == good[None, :]).mean()
    return float(less + 0.5 * ties)


def auc_interval(margin: np.ndarray, error: np.ndarray, songs: list[str], n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of ``auc`` resampling songs (a song's contexts go together)."""
    names = sorted(set(songs))
    rows_of = {s: np.flatnonzero(np.array(songs) == s) for s in names}
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = np.concatenate([rows_of[names[i]] for i in rng.integers(0, len(names), len(names))])
        values.append(auc(margin[idx], error[idx]))
    values = np.array(values)
    values = values[~np.isnan(values)]
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values.size else (np.nan, np.nan)


def threshold_for(margin: np.ndarray, max_flagged: float) -> float:
    """The highest threshold (flag: margin < threshold) flagging at most ``max_flagged`` of the rows."""
    ordered = np.sort(margin)
    k = int(np.floor(max_flagged * margin.size))
    return float(ordered[k]) if k < ordered.size else float("inf")


def flag_figures(margin: np.ndarray, error: np.ndarray, threshold: float) -> dict:
    flagged = margin < threshold
    n_err = int(error.sum())
    return {"threshold": round(threshold, 3), "flagged": round(float(flagged.mean()), 3),
            "errors_flagged": f"{int(error[flagged].sum())}/{n_err}",
            "error_rate_flagged": round(float(error[flagged].mean()), 3) if flagged.any() else None,
            "error_rate_unflagged": round(float(error[~flagged].mean()), 3) if (~flagged).any() else None}


def calibrate(rows: list[dict], margin_key: str, error_key: str, condition, threshold: float | None,
              max_flagged: float) -> dict:
    use = [r for r in rows if condition(r)]
    margin = np.array([np.inf if r.get(margin_key) is None else r[margin_key] for r in use], dtype=float)
    error = np.array([r.get(error_key, 0.0) for r in use], dtype=float)
    if not use:
        return {"n": 0}
    t = threshold_for(margin, max_flagged) if threshold is None else threshold
    lo, hi = auc_interval(margin, error, [r["song"] for r in use])
    return {"n": len(use), "errors": int(error.sum()), "auc": round(auc(margin, error), 3),
            "auc_95": [round(lo, 2), round(hi, 2)], **flag_figures(margin, error, t)}


def bar_defined(r: dict) -> bool:
    return r.get("tempo") == "ok" and not r.get("offbeat_error")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=Path, help="eval_analysis.py --out file")
    ap.add_argument("--max-flagged", type=float, default=0.3, help="choose the threshold flagging at most this share")
    ap.add_argument("--bar-threshold", type=float, default=None, help="apply this bar_start_margin threshold")
    ap.add_argument("--octave-threshold", type=float, default=None, help="apply this tempo_octave_margin threshold")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    rows = [{**r, "downbeats_wrong": float(r.get("downbeat_f", 0.0) < 0.5)} for r in rows
            if str(r.get("dataset", "")).startswith("rendered")]
    for tracker in sorted({r["tracker"] for r in rows}):
        rs = [r for r in rows if r["tracker"] == tracker]
        for name, margin_key, error_key, condition, threshold in (
            ("bar start (right beats)", "bar_start_margin", "bar_phase_error", bar_defined, args.bar_threshold),
            ("bar start (right beats and meter)", "bar_start_margin", "bar_phase_error",
             lambda r: bar_defined(r) and r.get("meter_est") == r.get("meter_true"), args.bar_threshold),
            ("bar start (all rows)", "bar_start_margin", "bar_phase_error", lambda r: True, args.bar_threshold),
            ("bar start: downbeat F < 0.5 (all rows)", "bar_start_margin", "downbeats_wrong", lambda r: True,
             args.bar_threshold),
            ("tempo octave", "tempo_octave_margin", "tempo_octave_error", lambda r: True, args.octave_threshold),
        ):
            print(json.dumps({"tracker": tracker, "flag": name, **calibrate(rs, margin_key, error_key, condition,
                                                                             threshold, args.max_flagged)}))


if __name__ == "__main__":
    main()
