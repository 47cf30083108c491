"""Write a ``Report``: ``report.json``, ``report.md`` (systems x metrics table) and ``metrics.png``."""

from __future__ import annotations

import math
from pathlib import Path

from stemgen.data.manifest import write_json_atomic
from stemgen.fileio import atomic_write_text
from stemgen.evaluation.report.plots import metric_bars
from stemgen.evaluation.report.spec import Report
from stemgen.evaluation.report.summary import summarize


def write_report(report: Report, out_dir: str | Path) -> dict:
    """Write the report files into ``out_dir``; returns the JSON document (with ``summary``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(report)
    metric_bars(summary, report.metrics, report.systems, out_dir / "metrics.png")
    figures = [("Metrics per system (mean, 95% interval)", "metrics.png"), *report.figures]
    doc = {
        "title": report.title,
        "config": report.config,
        "systems": [{"name": s, "description": report.system_descriptions.get(s, "")} for s in report.systems],
        "metrics": [m.to_dict() for m in report.metrics],
        "interval": {"level": report.interval_level, "method": "percentile bootstrap over examples",
                     "resamples": report.bootstrap_resamples},
        "summary": [_clean(s) for s in summary],
        "table": markdown_table(report, summary),
        "notes": report.notes,
        "figures": [p for _, p in figures],
        "media": report.media,
        "rows": [_clean(r) for r in report.rows],
        "set_values": [_clean(v) for v in report.set_values],
    }
    write_json_atomic(out_dir / "report.json", doc)
    atomic_write_text(out_dir / "report.md", render_markdown(report, summary, figures))
    return doc


def markdown_table(report: Report, summary: list[dict]) -> str:
    """The systems x metrics table: ``mean [low, high]`` per cell, ``n=`` where examples were undefined."""
    cells = {(s["system"], s["metric"]): s for s in summary}
    full_n = max((s["n"] or 0 for s in summary if s.get("n") is not None), default=0)
    header = ["system"] + [f"{m.label} {m.arrow}".strip() for m in report.metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system in report.systems:
        row = [system]
        for m in report.metrics:
            s = cells.get((system, m.name))
            row.append(_cell(s, full_n))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_markdown(report: Report, summary: list[dict], figures: list[tuple[str, str]]) -> str:
    level = int(round(report.interval_level * 100))
    out = [f"# {report.title}", ""]
    for key, value in report.config.items():
        out.append(f"- **{key}**: {value}")
    out += ["", f"Mean over examples and {level}% percentile-bootstrap interval ({report.bootstrap_resamples} "
            "resamples); set-level metrics (Fréchet distances) bootstrap the example set. "
            "`n=` marks cells where a metric was undefined for some examples.", "",
            markdown_table(report, summary), ""]
    if report.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    out += ["## Systems", ""]
    out += [f"- **{s}**: {report.system_descriptions.get(s, '')}" for s in report.systems]
    out += ["", "## Metrics", ""]
    out += [f"- **{m.label}** ({m.name}{', ' + m.unit if m.unit else ''}; {m.arrow or 'no direction'}): "
            f"{m.description}" for m in report.metrics]
    out += ["", "## Figures", ""] + [f"![{caption}]({path})" for caption, path in figures]
    if report.media:
        out += ["", "## Examples", ""]
        out += [f"- {m['example']}: [{m['label']}]({m['path']})" for m in report.media]
    return "\n".join(out) + "\n"


def _cell(s: dict | None, full_n: int) -> str:
    if s is None or not math.isfinite(s["mean"]):
        return "–"
    text = f"{_fmt(s['mean'])} [{_fmt(s['low'])}, {_fmt(s['high'])}]"
    if s.get("n") is not None and s["n"] < full_n:
        text += f" n={s['n']}"
    return text


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.01 or a == 0:
        return f"{x:.2f}"
    return f"{x:.1e}"


def _clean(d: dict) -> dict:
    """JSON-safe: NaN/inf -> None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
