"""The arranger engine as an evaluation system: analysis + part model + SoundFont rendering of each
example's context, through the same ``Arranger`` users call (``stemgen generate --engine arranger``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemgen.evaluation.examples import EvalExample
from stemgen.evaluation.systems.base import ReferenceAnalysis, SystemOutput


class ArrangerSystem:
    """One ``Arranger`` per stem, loaded on first use (the stem comes from the evaluated examples).

    A window without a reliable beat raises ``BeatTrackingError``: the runner records it as a
    failure of this system on that window, as a user would get a refusal instead of a random part.
    """

    name = "arranger"

    def __init__(self, model: str | Path | None = None, seed: int = 0, beat_tracker: str | None = None):
        self.model, self.seed, self.beat_tracker = model, seed, beat_tracker
        self._arrangers: dict = {}
        self.description = ("arranger engine: stemgen.analysis beats and features -> part model "
                            f"({Path(model).name if model else 'bundled'}) -> SoundFont render on the detected beats")

    def _arranger(self, stem: str):
        from stemgen.arranger.engine import Arranger

        if stem not in self._arrangers:
            self._arrangers[stem] = Arranger(stem, self.model, beat_tracker=self.beat_tracker)
        return self._arrangers[stem]

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        # A window from inside a song is an excerpt: its drums play on into it (no opening crash).
        song_start = float(example.row.get("start_s") or 0.0) == 0.0
        result = self._arranger(example.stem_name)(example.context, example.sample_rate, example.instruction,
                                                     seed=self.seed, source=example.id, song_start=song_start)
        notes = []
        if result.part.info["limiter"].get("samples_changed"):
            notes.append("arranger: the limiter lowered some mix peaks (the mix is input + stem elsewhere)")
        return SystemOutput(stem=np.asarray(result.stem_audio[0], np.float32),
                            mix=np.asarray(result.mix_audio[0], np.float32), notes=notes)
