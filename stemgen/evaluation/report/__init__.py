"""Generic evaluation report: rows ``{system, example, metric, value}`` -> JSON, Markdown, PNG.

Used by ``stemgen eval`` (audio) and meant for ``stemgen midi eval``: build a ``Report`` with your
``MetricSpec`` columns and rows, add figures (e.g. ``plots.image_grid`` of piano rolls), and call
``write_report(report, out_dir)``.
"""

from stemgen.evaluation.report.plots import image_grid, metric_bars
from stemgen.evaluation.report.spec import MetricSpec, Report
from stemgen.evaluation.report.summary import bootstrap_mean, summarize
from stemgen.evaluation.report.writer import markdown_table, write_report

__all__ = ["MetricSpec", "Report", "write_report", "summarize", "bootstrap_mean", "markdown_table", "image_grid",
           "metric_bars"]
