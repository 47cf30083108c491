"""The model under evaluation, through the same ``generate_stem`` API users call."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemgen.errors import StemgenInputError
from stemgen.evaluation.examples import EvalExample
from stemgen.evaluation.systems.base import ReferenceAnalysis, SystemOutput


class ModelSystem:
    """A saved ``StemInsertionPipeline`` (folder with ``model_index.json``), sampled per example.

    ``options`` go to ``stemgen.generation.generate_stem`` (``num_inference_steps``,
    ``audio_guidance_scale``, ``text_guidance_scale``, ``scheduler``, ``griffin_lim_iters``...).
    The stem is the generated stem before any headroom gain (the gain that keeps a loud stem's
    file from clipping is undone), and the mix is ``generate_stem``'s mix with its reported
    headroom gain undone, so ``context_error`` measures what generation did to the input, not a
    declared volume change.
    """

    name = "model"

    def __init__(self, path: str | Path, device: str = "cpu", seed: int = 0, **options):
        from stemgen.pipelines.stem_insertion import StemInsertionPipeline

        self.path = Path(path)
        if not (self.path / "model_index.json").is_file():
            raise StemgenInputError(self.path, "not a stemgen model folder (no model_index.json)")
        self.pipeline = StemInsertionPipeline.from_pretrained(self.path).to(device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.seed = seed
        self.options = options
        meta = self.pipeline.metadata
        self.stem = meta.get("stem")
        self.description = f"{self.path.name} ({meta.get('preset', '?')} preset, target {self.pipeline.target})"

    def generate(self, example: EvalExample, reference: ReferenceAnalysis) -> SystemOutput:
        from stemgen.generation.generate import generate_stem

        result = generate_stem(
            self.pipeline,
            example.context,
            stem=self.stem,
            instruction=example.instruction,
            sample_rate=example.sample_rate,
            seed=self.seed,
            **self.options,
        )
        stem = result.stem_audio[0] / (result.stem_gain.gain if result.stem_gain else 1.0)
        mix = result.mix_audio.mean(axis=0) / (result.mix_gain.gain if result.mix_gain else 1.0)
        notes = []
        if result.mix_gain:
            notes.append("model: some mixes were turned down to fit under full scale (undone for Context err)")
        return SystemOutput(stem=stem.astype(np.float32), mix=mix.astype(np.float32), notes=notes)
