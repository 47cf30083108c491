"""PNG plots (matplotlib, Agg backend): metric bars per system, and image grids.

``image_grid`` draws any 2-D arrays (spectrograms for audio, piano rolls for MIDI) in a grid of
examples x columns, so both evaluations show before/after/real the same way.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from stemgen.evaluation.report.spec import MetricSpec
from stemgen.fileio import atomic_output


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def metric_bars(summary: list[dict], metrics: list[MetricSpec], systems: list[str], path: Path) -> Path:
    """One bar chart per metric: mean per system with its interval as error bars."""
    plt = _pyplot()
    shown = [m for m in metrics if any(s["metric"] == m.name and math.isfinite(s["mean"]) for s in summary)]
    cols = min(4, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, spec in zip(axes.flat, shown):
        cells = {s["system"]: s for s in summary if s["metric"] == spec.name}
        names = [n for n in systems if n in cells and math.isfinite(cells[n]["mean"])]
        means = np.array([cells[n]["mean"] for n in names])
        err = np.array([[cells[n]["mean"] - cells[n]["low"], cells[n]["high"] - cells[n]["mean"]] for n in names]).T
        ax.bar(range(len(names)), means, yerr=np.clip(err, 0, None), capsize=3,
               color=[colors(systems.index(n) % 10) for n in names])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        ax.set_title(f"{spec.label} {spec.arrow}".strip(), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def image_grid(
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]], path: Path, origin: str = "lower", cmap: str = "magma"
) -> Path:
    """A grid of 2-D arrays: ``rows = [(row_label, [(column_title, array), ...]), ...]``.

    Each row shares one colour scale, so before/after/real are comparable within an example.
    """
    plt = _pyplot()
    n_rows = max(1, len(rows))
    n_cols = max((len(r[1]) for r in rows), default=1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.4 * n_cols, 2.0 * n_rows), squeeze=False)
    for r, (label, cells) in enumerate(rows):
        finite = [a[np.isfinite(a)] for _, a in cells if np.any(np.isfinite(a))]
        vmin = min((float(a.min()) for a in finite), default=0.0)
        vmax = max((float(a.max()) for a in finite), default=1.0)
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            title, array = cells[c]
            ax.imshow(array, origin=origin, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if r == 0:
                ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_output(path) as tmp:  # the temporary name keeps .png: matplotlib picks the format from it
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path
