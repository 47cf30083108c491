"""Diffusion pipelines: ``StemInsertionPipeline``, building one from a preset (``build_pipeline``),
loading a saved one (``load_pipeline``), bundling (``bundle``) and sampler selection by name.

Heavy imports (diffusers, torch) happen on first attribute access, so importing
``stemgen.pipelines`` for ``load_pipeline``'s signature stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SCHEDULER_NAMES", "StemInsertionOutput", "StemInsertionPipeline", "build_pipeline", "load_pipeline",
           "make_scheduler", "pipeline_metadata"]


def load_pipeline(path: str | Path, device: str | None = None, dtype: Any = None, quiet: bool = True):
    """Load a saved stem-insertion model folder (safetensors only, never the network).

    ``quiet`` silences the loaders' progress bars and weight reports (they go to stderr).

    Raises ``StemgenInputError`` naming the folder when it is not a stemgen model.
    """
    from stemgen.errors import StemgenInputError

    path = Path(path)
    if not (path / "model_index.json").is_file():
        reason = "not found" if not path.exists() else "not a stemgen model folder (no model_index.json)"
        raise StemgenInputError(path, reason)
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    try:
        with _quiet_loading(quiet):
            pipe = StemInsertionPipeline.from_pretrained(path, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        raise StemgenInputError(path, f"cannot load model ({str(exc).splitlines()[0][:200]})") from exc
    if "codec" not in pipe.metadata:
        raise StemgenInputError(path, "model has no stemgen metadata (codec config missing)")
    if device is not None or dtype is not None:
        pipe = pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class _quiet_loading:
    """Turn the diffusers/transformers loading bars and info logs off for a ``with`` block."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            from diffusers.utils import logging as dlog
            from transformers.utils import logging as tlog

            self._saved = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled(), tlog.get_verbosity())
            dlog.disable_progress_bar()
            tlog.disable_progress_bar()
            tlog.set_verbosity_error()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            from diffusers.utils import logging as dlog
            from transformers.utils import logging as tlog

            if self._saved[0]:
                dlog.enable_progress_bar()
            if self._saved[1]:
                tlog.enable_progress_bar()
            tlog.set_verbosity(self._saved[2])
        return False


def __getattr__(name: str):
    if name in ("StemInsertionPipeline", "StemInsertionOutput"):
        from stemgen.pipelines import stem_insertion

        return getattr(stem_insertion, name)
    if name in ("build_pipeline", "pipeline_metadata"):
        from stemgen.pipelines import factory

        return getattr(factory, name)
    if name in ("make_scheduler", "SCHEDULER_NAMES"):
        from stemgen.pipelines import schedulers

        return getattr(schedulers, name)
    raise AttributeError(name)
