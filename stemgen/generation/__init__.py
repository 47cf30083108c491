"""Whole-song generation: windows -> sampled stem spectrograms -> phase -> stitched stem and mix.

Public API: ``generate_stem(pipeline, audio, stem, instruction, ...) -> GenerationResult``.
"""

from stemgen.generation.generate import CONTINUITY, GenerationResult, generate_stem

__all__ = ["CONTINUITY", "GenerationResult", "generate_stem"]
