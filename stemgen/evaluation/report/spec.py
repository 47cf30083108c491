"""What a report holds: metric specifications and the ``Report`` record.

Generic on purpose: rows are ``{system, example, metric, value}``, so the audio and MIDI
evaluations (and anything else with systems x examples x metrics) share one writer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class MetricSpec:
    """A metric column.

    ``better``: ``"higher"``, ``"lower"``, ``"zero"`` (closest to 0 is best) or ``None``.
    ``level``: ``"example"`` (a value per example; the table shows the mean and a bootstrap
    interval) or ``"set"`` (one value per system, e.g. a Fréchet distance, with its own interval).
    """

    name: str
    label: str
    description: str
    unit: str = ""
    better: str | None = "higher"
    level: str = "example"

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓", "zero": "→0"}.get(self.better or "", "")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    """Everything ``write_report`` needs.

    ``rows``: per-example values ``{"system", "example", "metric", "value"}`` (NaN/None = undefined
    for that example, left out of the mean). ``set_values``: ``{"system", "metric", "value", "low",
    "high", "n"}`` for set-level metrics. ``figures``: extra PNGs (paths relative to the report
    folder) to link from ``report.md``; ``media``: ``{"example", "label", "path"}`` links (audio).
    """

    title: str
    systems: list[str]
    metrics: list[MetricSpec]
    rows: list[dict] = field(default_factory=list)
    set_values: list[dict] = field(default_factory=list)
    system_descriptions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, relative path)
    media: list[dict] = field(default_factory=list)
    interval_level: float = 0.95
    bootstrap_resamples: int = 1000
