"""Which audio model a request uses: one from the list the operator configured, picked by name.

The list is what ``stemgen models DIR...`` shows for the folders given as ``stemgen ui --models DIR``:
the bundled models (``models/``), ``$STEMGEN_MODEL`` and the model folders in each DIR. It is read
once, when the page is built. A folder path typed in the page is refused without being looked at,
unless the operator started the page with ``--allow-any-model-folder``; even then a folder inside
Gradio's upload folder or the page's output folder is refused (anyone can put files there), and
uploaded files found there are deleted. Page messages name models by their list name, never by path.

Loaded pipelines are cached (one at a time: a model can be large, and requests usually reuse the same
one).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemgen.errors import StemgenInputError

from .settings import MODEL_BUNDLED, MODEL_LOCAL, UISettings
from .workspace import discard_upload

TRAIN_HINT = (
    "Train one with `stemgen dataset build SONGS --stem {stem} --out DATA` then "
    "`stemgen train --data DATA --out MODEL --preset compact`, and start the page with "
    "`stemgen ui --models MODEL`."
)
FOLDERS_OFF = (
    "this server only uses the models in its list; typing a model folder needs the server to be started "
    "with --allow-any-model-folder"
)
UPLOADED_FOLDER = "uploaded files are never loaded as a model"


@dataclass(frozen=True)
class ModelInfo:
    """A model folder, the stemgen metadata from its ``model_index.json`` and its name on the page."""

    path: Path
    meta: dict[str, Any]
    name: str  # shown on the page and taken by the API; never a path
    origin: str = "typed"  # "bundled" | "env" | "local" (a --models folder) | "typed" (--allow-any-model-folder)
    default: bool = False  # the model `stemgen generate` uses for its stem without --model

    @property
    def stem(self) -> str | None:
        return self.meta.get("stem")

    def describe(self) -> str:
        preset = self.meta.get("preset", "?")
        return f"`{self.name}` ({self.stem}, preset {preset}, target {self.meta.get('target', 'stem')})"


def read_model_info(folder: Path, name: str | None = None, origin: str = "typed") -> ModelInfo | None:
    """The folder's stemgen metadata, or ``None`` when it is not a stemgen audio model."""
    try:
        meta = json.loads((folder / "model_index.json").read_text()).get("stemgen")
    except (OSError, ValueError, AttributeError):
        return None
    if not (isinstance(meta, dict) and "codec" in meta):
        return None
    return ModelInfo(folder, meta, name or folder.name, origin)


def no_model_message(stem: str) -> str:
    return f"No {stem} audio model is installed. " + TRAIN_HINT.format(stem=stem)


class ModelChoices:
    """The audio models one page may use, and the check of every request's model choice.

    ``choice`` is ``MODEL_BUNDLED`` (the bundled model for the stem), the name of a listed model, or,
    only with ``allow_any_folder``, ``MODEL_LOCAL`` together with a folder path.
    """

    def __init__(
        self,
        models: list[ModelInfo],
        allow_any_folder: bool = False,
        upload_root: Path | None = None,
        protected: tuple[Path, ...] = (),
    ):
        self.models = {m.name: m for m in models}
        self.allow_any_folder = allow_any_folder
        self.upload_root = upload_root
        # Folders whose files come from page users (uploads, outputs): never a model.
        self.protected = tuple(p for p in (upload_root, *protected) if p is not None)

    @classmethod
    def from_settings(cls, settings: UISettings, upload_root: Path | None = None) -> ModelChoices:
        """The list ``stemgen models`` makes from the settings' folders (audio models of the page's stems)."""
        from stemgen.api import list_models

        found = []
        for entry in list_models(list(settings.model_folders), models_dir=settings.models_dir):
            if entry.kind != "audio" or entry.stem not in settings.stems:
                continue
            info = read_model_info(Path(entry.path), origin=entry.origin)
            if info is not None:
                found.append((info, entry.default))
        names = unique_names([info.path for info, _ in found])
        models = [
            ModelInfo(info.path, info.meta, name, info.origin, default)
            for (info, default), name in zip(found, names, strict=True)
        ]
        return cls(models, settings.allow_any_model_folder, upload_root, (settings.work_dir,))

    # ------------------------------------------------------------------ what the page offers
    def choices(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for the page's model picker."""
        listed = [(f"{m.name} ({m.stem})", m.name) for m in self.models.values()]
        local = [(MODEL_LOCAL, MODEL_LOCAL)] if self.allow_any_folder else []
        return [(MODEL_BUNDLED, MODEL_BUNDLED), *listed, *local]

    def bundled_for(self, stem: str) -> ModelInfo | None:
        """The model "Bundled model" means for ``stem``: the default of `stemgen generate` when listed,
        else the first bundled (or ``$STEMGEN_MODEL``) model for the stem."""
        candidates = [m for m in self.models.values() if m.stem == stem and m.origin in ("bundled", "env")]
        return next((m for m in candidates if m.default), candidates[0] if candidates else None)

    def status(self, stem: str, choice: str, folder: str | None) -> str:
        """One Markdown line for the page: which model will be used, or why none can be."""
        if choice == MODEL_LOCAL and self.allow_any_folder and not (folder or "").strip():
            return "Enter the path of a local model folder (made by `stemgen train`)."
        try:
            info = self._pick(stem, choice, folder)
        except StemgenInputError as exc:
            prefix = f"`{exc.file}`: " if exc.file else ""
            return f"⚠️ {prefix}{exc.reason}"
        kind = {"bundled": "bundled", "env": "$STEMGEN_MODEL", "typed": "local folder"}.get(info.origin, "listed")
        return f"Model: {kind} {info.describe()}."

    # ------------------------------------------------------------------ checking a request
    def resolve(self, stem: str, choice: str, folder: str | None) -> ModelInfo:
        """The model a request should use; ``StemgenInputError`` with a clear reason otherwise.

        A refused folder inside Gradio's upload folder (someone uploaded a ``model_index.json`` and
        typed its folder) is deleted.
        """
        try:
            return self._pick(stem, choice, folder)
        except StemgenInputError:
            typed = (folder or "").strip()
            if typed and self.upload_root is not None:
                discard_upload(Path(typed).expanduser(), self.upload_root)
            raise

    def _pick(self, stem: str, choice: str, folder: str | None) -> ModelInfo:
        typed = (folder or "").strip()
        if typed and not self.allow_any_folder:
            raise StemgenInputError(None, FOLDERS_OFF)  # refused before anything at that path is read
        if choice == MODEL_LOCAL:
            if not self.allow_any_folder:
                raise StemgenInputError(None, FOLDERS_OFF)
            return self._typed_folder(stem, typed)
        if choice == MODEL_BUNDLED:
            info = self.bundled_for(stem)
            if info is None:
                raise StemgenInputError(None, no_model_message(stem))
            return info
        info = self.models.get(choice)
        if info is None:
            names = ", ".join([MODEL_BUNDLED, *self.models]) if self.models else MODEL_BUNDLED
            raise StemgenInputError(None, f"model must be one of: {names} (not {choice!r})")
        if info.stem != stem:
            raise StemgenInputError(info.name, f"this model adds {info.stem}, not {stem}")
        return info

    def _typed_folder(self, stem: str, typed: str) -> ModelInfo:
        if not typed:
            raise StemgenInputError(None, "enter the path of a local model folder, or choose a model from the list")
        path = Path(typed).expanduser()
        if any(_inside(path, root) for root in self.protected):
            raise StemgenInputError(None, UPLOADED_FOLDER)
        info = read_model_info(path)
        if info is None:
            raise StemgenInputError(
                path.name, "not a stemgen model folder (needs model_index.json with stemgen metadata)"
            )
        if info.stem != stem:
            raise StemgenInputError(path.name, f"this model adds {info.stem}, not {stem}")
        return info


def unique_names(folders: list[Path]) -> list[str]:
    """Short page names for model folders: the folder's name, with its parent's when two share it."""
    reserved = {MODEL_BUNDLED, MODEL_LOCAL}
    names: list[str] = []
    for folder in folders:
        clash = sum(f.name == folder.name for f in folders) > 1
        name = f"{folder.parent.name}/{folder.name}" if clash else folder.name
        base, n = name, 2
        while name in names or name in reserved:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def _inside(path: Path, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


class PipelineCache:
    """Keeps the most recently used diffusion model loaded (``stemgen.api.DiffusionInserter``);
    reloads when the folder's index changes."""

    def __init__(self, device: str | None = None):
        self._device = device
        self._lock = threading.Lock()
        self._key: tuple[str, float, str] | None = None
        self._inserter = None

    def get(self, folder: Path, stem: str):
        key = (str(folder.resolve()), (folder / "model_index.json").stat().st_mtime, stem)
        with self._lock:
            if key != self._key:
                from stemgen import api

                self._inserter = None  # free the old model before loading the new one
                self._inserter = api.load_inserter(stem, "diffusion", folder, device=self._device or "auto")
                self._key = key
            return self._inserter
