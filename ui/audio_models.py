"""Which audio model a request uses: the bundled one for the stem, or a local model folder.

Bundled models are found by reading ``model_index.json`` files under ``models/`` (their stemgen
metadata says which stem they add), so the page picks them up as soon as they ship without code
changes. Loaded pipelines are cached (one at a time: a model can be large, and requests usually
reuse the same one).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemgen.errors import StemgenInputError

from .settings import MODEL_BUNDLED, MODEL_LOCAL, UISettings

TRAIN_HINT = (
    "Train one with `stemgen dataset build SONGS --stem {stem} --out DATA` then "
    "`stemgen train --data DATA --out MODEL --preset compact`, and enter the MODEL folder under "
    "*Advanced settings → Local model folder*."
)


@dataclass(frozen=True)
class ModelInfo:
    """A model folder and the stemgen metadata from its ``model_index.json``."""

    path: Path
    meta: dict[str, Any]

    @property
    def stem(self) -> str | None:
        return self.meta.get("stem")

    def describe(self) -> str:
        preset = self.meta.get("preset", "?")
        return f"`{self.path.name}` ({self.stem}, preset {preset}, target {self.meta.get('target', 'stem')})"


def read_model_info(folder: Path) -> ModelInfo | None:
    """The folder's stemgen metadata, or ``None`` when it is not a stemgen audio model."""
    index = folder / "model_index.json"
    try:
        meta = json.loads(index.read_text()).get("stemgen")
    except (OSError, ValueError):
        return None
    return ModelInfo(folder, meta) if isinstance(meta, dict) and "codec" in meta else None


def bundled_models(models_dir: Path) -> list[ModelInfo]:
    """Every stemgen audio model under ``models_dir`` (a few levels deep), sorted by path."""
    if not models_dir.is_dir():
        return []
    found = []
    for depth in ("*/model_index.json", "*/*/model_index.json", "*/*/*/model_index.json"):
        found += [info for p in models_dir.glob(depth) if (info := read_model_info(p.parent))]
    return sorted(found, key=lambda m: str(m.path))


def bundled_model_for(models_dir: Path, stem: str) -> ModelInfo | None:
    return next((m for m in bundled_models(models_dir) if m.stem == stem), None)


def no_model_message(stem: str) -> str:
    return f"No {stem} audio model is installed. " + TRAIN_HINT.format(stem=stem)


def model_status(settings: UISettings, stem: str, choice: str, folder: str | None) -> str:
    """One Markdown line for the page: which model will be used, or why none can be."""
    if choice == MODEL_LOCAL:
        if not folder:
            return "Enter the path of a local model folder (made by `stemgen train`)."
        info = read_model_info(Path(folder).expanduser())
        if info is None:
            return (
                f"⚠️ `{Path(folder).name}` is not a stemgen model folder (no `model_index.json` with stemgen metadata)."
            )
        if info.stem != stem:
            return f"⚠️ That model adds **{info.stem}**, not {stem}: choose the {info.stem} stem or another model."
        return f"Model: local folder {info.describe()}."
    info = bundled_model_for(settings.models_dir, stem)
    if info is None:
        return f"⚠️ **{no_model_message(stem)}**"
    return f"Model: bundled {info.describe()}."


def resolve_model(settings: UISettings, stem: str, choice: str, folder: str | None) -> Path:
    """The model folder a request should use; ``StemgenInputError`` with a clear reason otherwise."""
    if choice == MODEL_LOCAL:
        if not settings.allow_local_models:
            raise StemgenInputError(None, "this server does not allow loading models from local folders")
        if not folder or not folder.strip():
            raise StemgenInputError(None, "enter the path of a local model folder, or choose the bundled model")
        path = Path(folder.strip()).expanduser()
        info = read_model_info(path)
        if info is None:
            raise StemgenInputError(
                path.name, "not a stemgen model folder (needs model_index.json with stemgen metadata)"
            )
        if info.stem != stem:
            raise StemgenInputError(path.name, f"this model adds {info.stem}, not {stem}")
        return path
    if choice != MODEL_BUNDLED:
        raise StemgenInputError(None, f"model must be '{MODEL_BUNDLED}' or '{MODEL_LOCAL}', not {choice!r}")
    info = bundled_model_for(settings.models_dir, stem)
    if info is None:
        raise StemgenInputError(None, no_model_message(stem))
    return info.path


class PipelineCache:
    """Keeps the most recently used pipeline loaded; reloads when the folder's index changes."""

    def __init__(self, device: str | None = None):
        self._device = device
        self._lock = threading.Lock()
        self._key: tuple[str, float] | None = None
        self._pipe = None

    def get(self, folder: Path):
        key = (str(folder.resolve()), (folder / "model_index.json").stat().st_mtime)
        with self._lock:
            if key != self._key:
                from stemgen.pipelines import load_pipeline

                self._pipe = None  # free the old model before loading the new one
                self._pipe = load_pipeline(folder, device=self._device or _default_device())
                self._key = key
            return self._pipe


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
