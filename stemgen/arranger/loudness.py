"""Loudness matching: the new stem sits a fixed number of LU under the song it joins.

Level = ITU-R BS.1770-4 integrated loudness (K-weighted, gated; ``pyloudnorm``), measured on the
stem and the context with the same channel count. The default offsets are what a real multitrack
shows (stem loudness minus the loudness of everything else), measured on the one real multitrack
in ../shared/data (MUSDB18 "Music Delta - 80s Rock", 6.8 s; guitar is MUSDB's "other" stem there):
drums -7.8 LU, bass -8.4 LU, guitar -4.8 LU (re-measured by ``tests/test_arranger_render.py::
test_default_levels_are_the_measured_ones``). One song is thin evidence; pass ``level_db`` to
choose another balance.
"""

from __future__ import annotations

import numpy as np

from stemgen.errors import MissingDependencyError
from stemgen.stems import REGISTRY

DEFAULT_LEVEL_DB = {s: spec.default_level_db for s, spec in REGISTRY.items()}
# Below this a signal counts as silent (BS.1770's absolute gate is -70 LUFS).
SILENT_LUFS = -70.0
# Level for a stem whose context is silent (nothing to match): EBU R128's programme target plus 3.
SILENT_CONTEXT_TARGET_LUFS = -20.0
MIN_BLOCK_S = 0.4  # BS.1770's gating block: shorter signals are measured by RMS instead
# A chosen level outside this range is a typo, not a mix: -40 LU is inaudible under the song, +20 drowns it.
LEVEL_DB_RANGE = (-40.0, 20.0)


def check_level_db(level_db: float) -> float:
    """``level_db`` as a float; ``ValueError`` naming the option when it is not a level a mix can use."""
    lo, hi = LEVEL_DB_RANGE
    value = float(level_db)
    if not lo <= value <= hi:  # also false for NaN
        raise ValueError(f"--level must be between {lo:g} and {hi:g} LU (the stem against the song), not {level_db}")
    return value


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of ``(channels, samples)`` audio; ``-inf`` when silent."""
    try:
        import pyloudnorm
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("pyloudnorm is missing: pip install pyloudnorm") from exc
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    if audio.shape[-1] < MIN_BLOCK_S * sample_rate:
        power = float(np.mean(np.sum(audio**2, axis=0)))
        return 10 * np.log10(power) - 0.691 if power > 0 else float("-inf")
    import warnings

    if audio.shape[0] > 5:  # pyloudnorm takes up to 5 channels: sum the channels' powers (weight 1 each)
        groups = [loudness_lufs(channel, sample_rate) for channel in audio]
        power = sum(10 ** (g / 10) for g in groups if np.isfinite(g))
        return 10 * np.log10(power) if power > 0 else float("-inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on clipping-range input; levels are still right
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T)
    return float(value) if np.isfinite(value) and value > SILENT_LUFS else float("-inf")


def channel_sum_db(channels: int) -> float:
    """Loudness added by copying one signal to ``channels`` channels (BS.1770 sums channel powers;
    its weights are 1 for the first three channels, 1.41 for surrounds)."""
    weights = [1.0, 1.0, 1.0, 1.41, 1.41]
    return float(10 * np.log10(sum(weights[: max(1, min(channels, 5))])))


def matching_gain_db(stem_lufs: float, context_lufs: float, level_db: float) -> tuple[float, float | None]:
    """Gain that puts the stem ``level_db`` LU from the context, and the target (None: silent stem)."""
    if not np.isfinite(stem_lufs):
        return 0.0, None
    target = context_lufs + level_db if np.isfinite(context_lufs) else SILENT_CONTEXT_TARGET_LUFS
    return target - stem_lufs, target
