"""Spectrogram codec: audio <-> mel-spectrogram images, and phase reconstruction back to audio.

Public API: ``SpectrogramCodec``, ``CodecConfig``, ``get_preset``, ``pad_or_trim``.
"""

from stemgen.codec.codec import SpectrogramCodec, pad_or_trim
from stemgen.codec.config import COMPACT, PRESETS, RIFFUSION, TINY, CodecConfig, get_preset

__all__ = ["SpectrogramCodec", "CodecConfig", "get_preset", "pad_or_trim", "PRESETS", "RIFFUSION", "COMPACT", "TINY"]
