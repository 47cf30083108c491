"""Networks for audio stem insertion: presets, text encoders and the conditioned UNet.

Assembling them into a ready ``StemInsertionPipeline`` is ``stemgen.pipelines.build_pipeline``.
"""

from stemgen.models.configs import MODEL_PRESETS, ModelPreset, get_model_preset

__all__ = ["MODEL_PRESETS", "ModelPreset", "get_model_preset"]
