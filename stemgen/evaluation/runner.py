"""``evaluate_dataset``: run every system on a split, score them, write the report.

For each example: analyse the real audio once (context beats, real mix beats, embeddings), let
every system fill the stem, score it; then the set-level Fréchet distances, the report files, a
few examples' audio and a spectrogram grid. A system failing on one example is recorded and the
run goes on (its Fréchet distances then use the examples it did produce). An example whose audio
is missing or unreadable is skipped, counted and named in the summary; the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from stemgen.errors import StemgenError, StemgenInputError
from stemgen.evaluation.examples import load_split
from stemgen.evaluation.media import ExampleMedia
from stemgen.evaluation.metrics.embedding import make_embedding
from stemgen.evaluation.metrics.frechet import frechet_bootstrap
from stemgen.evaluation.metrics.rhythm import GRID_TOLERANCE, grid_chance_level
from stemgen.evaluation.report import Report, write_report
from stemgen.evaluation.scoring import AUDIO_METRICS, score_output
from stemgen.evaluation.systems import SYSTEM_NAMES, ReferenceAnalysis, make_systems


@dataclass
class EvalConfig:
    """Settings of one evaluation run (see ``stemgen eval --help``)."""

    data_dir: Path
    out_dir: Path
    split: str = "test"
    systems: list[str] = field(default_factory=lambda: list(SYSTEM_NAMES))
    model: Path | None = None
    max_examples: int | None = None
    embedding: str = "offline"
    seed: int = 0
    device: str = "cpu"
    audio_examples: int = 3
    bootstrap_resamples: int = 1000
    model_options: dict = field(default_factory=dict)
    donor_data: Path | None = None  # donors for random/retrieval baselines (default: the evaluated split)
    donor_split: str | None = None
    arranger_model: Path | None = None  # part model of the arranger row (default: the bundled one)
    beat_tracker: str | None = None  # every beat analysis of the run (``--beat-tracker``; None: the default)


@dataclass
class _Collected:
    rows: list[dict] = field(default_factory=list)
    real_mix: list[np.ndarray] = field(default_factory=list)
    real_stem: list[np.ndarray] = field(default_factory=list)
    # system -> [(index in real_mix/real_stem, mix embedding, stem embedding)]
    generated: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # examples whose audio could not be read
    notes: set[str] = field(default_factory=set)
    sample_rate: int | None = None


def evaluate_dataset(config: EvalConfig, progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate and write the report into ``config.out_dir``; returns the run summary (JSON-safe)."""
    t0 = time.perf_counter()
    evaluated, pool = load_split(config.data_dir, config.split, config.max_examples,
                                 config.donor_data, config.donor_split)
    systems, notes = make_systems(config.systems, pool, model=str(config.model) if config.model else None,
                                  seed=config.seed, device=config.device, model_options=config.model_options,
                                  arranger_model=str(config.arranger_model) if config.arranger_model else None,
                                  beat_tracker=config.beat_tracker)
    if not systems:
        raise ValueError("no systems to evaluate")
    _check_stem(systems, str(evaluated.rows[0].get("stem", "")))
    embed = make_embedding(config.embedding, device=config.device)
    media = ExampleMedia(config.out_dir, config.audio_examples)
    got = _Collected(notes=set(notes))
    chance: list[float] = []

    for i in range(len(evaluated)):
        try:
            example = evaluated[i]
        except StemgenInputError as exc:  # a missing or corrupt FLAC: skip the example, count it
            got.skipped.append({"example": str(evaluated.rows[i].get("id", i)), **exc.as_record()})
            if progress is not None:
                progress(i + 1, len(evaluated))
            continue
        got.sample_rate = got.sample_rate or example.sample_rate
        reference = ReferenceAnalysis.of(example, config.beat_tracker)
        chance.append(grid_chance_level(reference.context_beats.beats))
        got.real_mix.append(embed(example.mix, example.sample_rate))
        got.real_stem.append(embed(example.stem, example.sample_rate))
        shown: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for system in systems:
            start = time.perf_counter()
            try:
                output = system.generate(example, reference)
            except (StemgenError, ValueError, RuntimeError) as exc:
                got.failures.append({"system": system.name, "example": example.id, "reason": str(exc)[:300]})
                continue
            seconds = time.perf_counter() - start
            got.notes.update(output.notes)
            scores = score_output(example, reference, output) | {"seconds": seconds}
            got.rows += [{"system": system.name, "example": example.id, "metric": k, "value": v}
                         for k, v in scores.items()]
            got.generated.setdefault(system.name, []).append(  # index into real_mix/real_stem
                (len(got.real_mix) - 1, embed(output.mix, example.sample_rate), embed(output.stem, example.sample_rate)))
            if media.wants(i):
                shown[system.name] = (output.stem, output.mix)
        if media.wants(i) and shown:
            media.add(example, shown)
        if progress is not None:
            progress(i + 1, len(evaluated))

    n_done = len(evaluated) - len(got.skipped)
    if n_done == 0:
        first = got.skipped[0]
        raise StemgenInputError(config.data_dir, f"no readable examples in split '{config.split}': all "
                                                 f"{len(got.skipped)} skipped (first: {first['file']}: {first['reason']})")
    if got.skipped:
        got.notes.add(f"{len(got.skipped)} of {len(evaluated)} examples skipped: audio missing or unreadable "
                      f"(first: {got.skipped[0]['file']}: {got.skipped[0]['reason']})")
    set_values = _frechet_values(got, config.bootstrap_resamples, config.seed)
    if np.any(np.isfinite(chance)):
        got.notes.add(f"onsets on grid: random onsets would score {np.nanmean(chance):.2f} on these examples "
                      f"(±{GRID_TOLERANCE:.1f} of a 16th note around 16th notes)")
    figures = []
    grid = media.write_grid()
    if grid is not None:
        figures.append(("Log-mel spectrograms: before (context), after (each system's mix), real mix",
                        grid.name))
    report = Report(
        title=f"stemgen eval: {Path(config.data_dir).name} / {config.split}",
        systems=[s.name for s in systems],
        metrics=AUDIO_METRICS,
        rows=got.rows,
        set_values=set_values,
        system_descriptions={s.name: s.description for s in systems},
        notes=sorted(got.notes) + [f"{f['system']} failed on {f['example']}: {f['reason']}" for f in got.failures],
        config={
            "dataset": str(config.data_dir), "split": config.split, "examples": n_done,
            "donor pool": f"{len(pool)} windows" + (f" ({config.donor_data or config.data_dir} / "
                                                     f"{config.donor_split or config.split})"
                                                     if config.donor_data or config.donor_split else ""), "stem": str(evaluated.rows[0].get("stem", "")), "sample rate": got.sample_rate,
            "embedding": getattr(embed, "name", config.embedding), "model": str(config.model) if config.model else None,
            "seed": config.seed, **({"model options": config.model_options} if config.model_options else {}),
        },
        figures=figures,
        media=media.links,
        bootstrap_resamples=config.bootstrap_resamples,
    )
    doc = write_report(report, config.out_dir)
    return {
        "out_dir": str(config.out_dir),
        "report": str(Path(config.out_dir) / "report.md"),
        "examples": n_done,
        "skipped": got.skipped,
        "systems": report.systems,
        "missing_systems": [n for n in config.systems if n not in report.systems],
        "notes": report.notes,
        "failures": got.failures,
        "summary": doc["summary"],
        "table": doc["table"],
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def _frechet_values(got: _Collected, resamples: int, seed: int) -> list[dict]:
    """Set-level FD (mix and stem) per system, on the examples the system produced."""
    real_mix, real_stem = np.stack(got.real_mix), np.stack(got.real_stem)
    out = []
    for system, items in got.generated.items():
        idx = np.array([i for i, _, _ in items])
        for metric, gen, real in (("fd_mix", [m for _, m, _ in items], real_mix),
                                  ("fd_stem", [s for _, _, s in items], real_stem)):
            # Fewer resamples than for means: each one is an eigen-decomposition.
            value, low, high = frechet_bootstrap(np.stack(gen), real[idx], resamples=min(resamples, 200), seed=seed)
            out.append({"system": system, "metric": metric, "value": value, "low": low, "high": high, "n": len(idx)})
    return out


def _check_stem(systems, dataset_stem: str) -> None:
    """A drums model evaluated on a bass dataset would be scored against the wrong stem."""
    for s in systems:
        model_stem = getattr(s, "stem", None)
        if model_stem and dataset_stem and model_stem != dataset_stem:
            raise ValueError(f"the model adds {model_stem} but the dataset's stem is {dataset_stem}")
