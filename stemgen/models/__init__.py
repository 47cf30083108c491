"""Models for audio stem insertion: presets, text encoders, the conditioned UNet, and a factory.

``build_pipeline(preset, stem=..., target=..., base_model=...)`` returns a ready
``stemgen.pipelines.StemInsertionPipeline`` (untrained for ``compact``/``tiny``, widened from a
Stable-Diffusion-format base for ``riffusion``).
"""

from stemgen.models.configs import MODEL_PRESETS, ModelPreset, get_model_preset
from stemgen.models.factory import STEMS, build_pipeline, pipeline_metadata

__all__ = ["MODEL_PRESETS", "STEMS", "ModelPreset", "build_pipeline", "get_model_preset", "pipeline_metadata"]
