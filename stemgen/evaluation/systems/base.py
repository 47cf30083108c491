"""The system interface and the registry of system names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from stemgen.evaluation import signals

if TYPE_CHECKING:
    from stemgen.evaluation.examples import EvalExample, ExampleSet

# Report order: the model first, then baselines from weakest to the upper bound.
SYSTEM_NAMES = ("model", "arranger", "context_only", "random_stem", "tempo_retrieval", "oracle")


@dataclass
class ReferenceAnalysis:
    """Analysis of one example's real audio, computed once and shared by systems and metrics."""

    context_beats: signals.BeatAnalysis
    mix_beats: signals.BeatAnalysis
    stem_onsets: np.ndarray  # onsets of the real stem (seconds)
    beat_tracker: str | None = None  # the tracker of every beat analysis in the run (None: the default)

    @classmethod
    def of(cls, example: "EvalExample", beat_tracker: str | None = None) -> "ReferenceAnalysis":
        from stemgen.evaluation.metrics import presence

        sr = example.sample_rate
        return cls(signals.track_beats(example.context, sr, beat_tracker=beat_tracker),
                   signals.track_beats(example.mix, sr, beat_tracker=beat_tracker),
                   signals.detect_onsets(example.stem, sr, silence_db=presence.SILENT_DB), beat_tracker)


@dataclass
class SystemOutput:
    """A system's answer for one example: ``(n,)`` stem and mix at the example's rate.

    ``notes``: anything the system had to fall back on (e.g. no tempo to stretch to).
    """

    stem: np.ndarray
    mix: np.ndarray
    notes: list[str] = field(default_factory=list)


class System(Protocol):
    """Fills the missing stem of an example."""

    name: str
    description: str

    def generate(self, example: "EvalExample", reference: ReferenceAnalysis) -> SystemOutput: ...


def add_to_context(example: "EvalExample", stem: np.ndarray, notes: list[str] | None = None) -> SystemOutput:
    """Output whose mix is the untouched context plus ``stem`` (cut or zero-padded to the context)."""
    n = example.context.shape[-1]
    stem = np.asarray(stem, dtype=np.float32)[:n]
    if stem.shape[-1] < n:
        stem = np.pad(stem, (0, n - stem.shape[-1]))
    return SystemOutput(stem=stem, mix=example.context + stem, notes=list(notes or []))


def make_systems(
    names: list[str],
    pool: "ExampleSet",
    model: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    model_options: dict | None = None,
    arranger_model: str | None = None,
    beat_tracker: str | None = None,
) -> tuple[list[System], list[str]]:
    """Systems for ``names`` (report order) and notes on those left out (e.g. no ``model`` given)."""
    from stemgen.evaluation.systems import baselines

    unknown = sorted(set(names) - set(SYSTEM_NAMES))
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)} (choose from {', '.join(SYSTEM_NAMES)})")
    systems: list[System] = []
    notes: list[str] = []
    for name in SYSTEM_NAMES:
        if name not in names:
            continue
        if name == "model":
            if model is None:
                notes.append("model: no --model given, so the model row is missing (baselines only)")
                continue
            from stemgen.evaluation.systems.model import ModelSystem

            systems.append(ModelSystem(model, device=device, seed=seed, **(model_options or {})))
        elif name == "arranger":
            from stemgen.evaluation.systems.arranger import ArrangerSystem

            systems.append(ArrangerSystem(arranger_model, seed=seed, beat_tracker=beat_tracker))
        elif name == "context_only":
            systems.append(baselines.ContextOnly())
        elif name == "random_stem":
            systems.append(baselines.RandomStem(pool, seed=seed))
        elif name == "tempo_retrieval":
            systems.append(baselines.TempoAlignedRetrieval(pool, seed=seed))
        elif name == "oracle":
            systems.append(baselines.Oracle())
    return systems, notes
