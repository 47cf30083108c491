"""Means with percentile-bootstrap intervals, per system and metric."""

from __future__ import annotations

import math

from stemgen.evaluation.report.spec import Report
from stemgen.stats import bootstrap_mean

__all__ = ["bootstrap_mean", "summarize"]


def summarize(report: Report) -> list[dict]:
    """One ``{"system", "metric", "mean", "low", "high", "n"}`` per system and metric (report order)."""
    by_key: dict[tuple[str, str], list] = {}
    for row in report.rows:
        by_key.setdefault((row["system"], row["metric"]), []).append(row["value"])
    set_by_key = {(v["system"], v["metric"]): v for v in report.set_values}
    out = []
    for system in report.systems:
        for spec in report.metrics:
            key = (system, spec.name)
            if spec.level == "set":
                v = set_by_key.get(key)
                if v is None:
                    continue
                out.append(dict(system=system, metric=spec.name, mean=v["value"], low=v.get("low", v["value"]),
                                high=v.get("high", v["value"]), n=v.get("n")))
            elif key in by_key:
                values = by_key[key]
                mean, low, high = bootstrap_mean(values, report.bootstrap_resamples, report.interval_level)
                n = sum(1 for v in values if v is not None and math.isfinite(v))
                out.append(dict(system=system, metric=spec.name, mean=mean, low=low, high=high, n=n))
    return out
