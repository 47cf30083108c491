"""Where the bundled default models live, and a clear error when none is installed."""

from __future__ import annotations

import os
from pathlib import Path

from stemgen.errors import MissingDependencyError
from stemgen.stems import REGISTRY

ENV_VAR = "STEMGEN_MODEL"
# The engine each stem uses unless one is chosen: "arranger" (analysis + part model + sampled
# instruments, stemgen.arranger.engine) or "diffusion" (the spectrogram model). Set from the evaluation.
ENGINES = ("arranger", "diffusion")
DEFAULT_ENGINE = {s: spec.default_engine for s, spec in REGISTRY.items()}
# The repository's models/ folder (bundled small checkpoints with model cards).
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def default_model_candidates(stem: str) -> list[Path]:
    """Folders searched, in order: ``$STEMGEN_MODEL``, ``models/<the stem's diffusion_model>`` (``stemgen-<stem>``), ``models/stemgen-default``."""
    found = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    return found + [MODELS_DIR / REGISTRY[stem].diffusion_model, MODELS_DIR / "stemgen-default"]


def find_default_model(stem: str) -> Path:
    """The default model folder for ``stem``, or ``MissingDependencyError`` saying how to get one."""
    for path in default_model_candidates(stem):
        if (path / "model_index.json").is_file():
            return path
    raise MissingDependencyError(
        f"no default {stem} model is installed (looked in {', '.join(str(p) for p in default_model_candidates(stem))}); "
        f"train one with `stemgen dataset build ... --stem {stem} --out DATA` and "
        "`stemgen train --data DATA --out MODEL --preset compact`, then pass `--model MODEL` "
        f"(or set {ENV_VAR}=MODEL)"
    )
