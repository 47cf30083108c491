"""Stem presence and context preservation.

* ``stem_level_db``: RMS level of the generated stem minus that of the real stem (dB); 0 means as
  loud as the original, very negative means (nearly) absent.
* ``is_silent``: the generated stem's RMS is below ``SILENT_DB`` dBFS.
* ``context_error``: ``max |(mix - stem) - context|``: 0 when the system left the input untouched
  (a ``stem``-target model adds the stem to the input); spectrogram round trips and gain changes
  show up here.
"""

from __future__ import annotations

import numpy as np

from stemgen.evaluation.signals import rms_db, to_mono

SILENT_DB = -60.0


def stem_level_db(generated_stem: np.ndarray, real_stem: np.ndarray) -> float:
    """Generated stem level relative to the real stem, in dB."""
    return rms_db(generated_stem) - rms_db(real_stem)


def is_silent(stem: np.ndarray, threshold_db: float = SILENT_DB) -> bool:
    return rms_db(stem) < threshold_db


def context_error(mix: np.ndarray, stem: np.ndarray, context: np.ndarray) -> float:
    """Max absolute error of ``mix - stem`` against the input ``context`` (shortest length compared)."""
    mix, stem, context = (to_mono(a).astype(np.float64) for a in (mix, stem, context))
    n = min(mix.size, stem.size, context.size)
    if n == 0:
        return 0.0
    return float(np.max(np.abs(mix[:n] - stem[:n] - context[:n])))
