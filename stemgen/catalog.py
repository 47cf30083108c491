"""The model registry: which models are on this machine (bundled ones under ``models/`` and local ones
the user trained), and which folder a stem and engine use (``resolve_model``).

Reads only small JSON files (``model_index.json`` for audio models, ``config.json`` for MIDI
models), never weights, so listing is instant and works offline.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from stemgen.generation.defaults import ENV_VAR, MODELS_DIR, find_default_model


@dataclass
class ModelEntry:
    """One model folder: where it is, what it adds, and what its weights may be used for."""

    path: str
    kind: str  # "audio" (diffusion) | "midi" (MIDI part model) | "arranger" (part model for audio)
    origin: str  # "bundled" | "local" | "env"
    stem: str | None
    preset: str | None
    license: str | None
    size_bytes: int
    default: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def read_entry(folder: Path, origin: str) -> ModelEntry | None:
    """The entry for ``folder`` if it is an audio or MIDI stemgen model, else None."""
    index = folder / "model_index.json"
    if index.is_file():
        meta = _json(index).get("stemgen") or {}
        return ModelEntry(str(folder), "audio", origin, meta.get("stem"), meta.get("preset"), meta.get("license"),
                          _size(folder))
    config = folder / "config.json"
    if config.is_file() and (folder / "model.safetensors").is_file():
        data = _json(config)
        inner = data.get("config") if isinstance(data.get("config"), dict) else {}
        return ModelEntry(str(folder), "midi", origin, inner.get("stem") or data.get("stem"), "midi",
                          data.get("license") or _card_license(folder), _size(folder))
    return None


def list_models(search: list[Path] | None = None, models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    """Bundled models (``models_dir``, ``models_dir/midi`` and ``models_dir/arranger``), ``$STEMGEN_MODEL``, and model folders
    directly inside each of ``search`` (or ``search`` itself when it is a model folder)."""
    entries: list[ModelEntry] = []
    seen: set[Path] = set()

    def add(folder: Path, origin: str, kind: str | None = None) -> None:
        key = folder.resolve()
        if key in seen or not folder.is_dir():
            return
        entry = read_entry(folder, origin)
        if entry is not None:
            entry.kind = kind if kind and entry.kind == "midi" else entry.kind
            seen.add(key)
            entries.append(entry)

    for root, kind in ((models_dir, None), (models_dir / "midi", None), (models_dir / "arranger", "arranger")):
        for folder in _children(root):
            add(folder, "bundled", kind)
    if os.environ.get(ENV_VAR):
        add(Path(os.environ[ENV_VAR]), "env")
    for root in search or []:
        for folder in [root, *_children(root)]:
            add(folder, "local")
    _mark_defaults(entries)
    return entries


def _mark_defaults(entries: list[ModelEntry]) -> None:
    """Flag the model ``stemgen generate`` uses without ``--engine``/``--model`` for each stem: the
    default engine's (``DEFAULT_ENGINE``) bundled part model or diffusion model."""
    from stemgen.generation.defaults import DEFAULT_ENGINE

    for stem, engine in DEFAULT_ENGINE.items():
        try:
            default = resolve_model(stem, engine).resolve()
        except Exception:  # no default for this stem
            continue
        for entry in entries:
            if entry.kind in ("audio", "arranger") and Path(entry.path).resolve() == default:
                entry.default = True


def resolve_model(stem: str, engine: str, model: str | Path | None = None) -> Path:
    """The one model lookup: ``model`` when given, else the bundled default folder for ``stem`` and
    ``engine`` (``arranger``: its part model, else the MIDI one; ``diffusion``: ``$STEMGEN_MODEL`` or
    the bundled spectrogram model, ``MissingDependencyError`` saying how to train one; ``midi``: the
    bundled MIDI part model)."""
    from stemgen.arranger.engine import default_model_dir
    from stemgen.midi.generate import resolve_model_dir

    if model is not None and str(model) != "":
        return Path(model)
    if engine == "arranger":
        return default_model_dir(stem)
    if engine == "diffusion":
        return find_default_model(stem)
    if engine == "midi":
        return resolve_model_dir(stem, None)
    raise ValueError(f"unknown engine '{engine}' (arranger, diffusion or midi)")


def _card_license(folder: Path) -> str | None:
    """The data license a model card (``README.md``) names, when the config does not record one."""
    from stemgen.sources.license import guess_license

    found = guess_license(folder, folder)
    return None if found == "unknown" else found


def _children(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
