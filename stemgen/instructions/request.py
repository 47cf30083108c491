"""What a writer is asked for (``InstructionRequest``) and what it answers (``InstructionResult``).

A request's ``key`` is content-addressed: the same stem, caption, descriptors and tags under the
same prompt templates always give the same key, so the cache survives reruns and a prompt edit
invalidates it on its own.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Origin = Literal["llm", "cache", "fallback"]
ORIGINS: tuple[Origin, ...] = ("llm", "cache", "fallback")

# Descriptor floats are rounded before hashing so that platform-level float noise
# (e.g. float32 vs float64 from different feature extractors) does not defeat the cache.
_FLOAT_DIGITS = 3


def _canonical_value(value: Any) -> Any:
    """Make a descriptor value JSON-serialisable and stable (numpy scalars, tuples, NaN)."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        try:
            value = value.item()  # numpy scalar / 0-d array
        except (TypeError, ValueError):
            pass
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, _FLOAT_DIGITS)
    if isinstance(value, Mapping):
        return {str(k): _canonical_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v) for v in value]
    return str(value)


def digest(payload: Any) -> str:
    """sha256 hex digest of the canonical (sorted, compact) JSON of ``payload``."""
    text = json.dumps(_canonical_value(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InstructionRequest:
    """One instruction to write: add ``stem`` to music described by ``caption``/``descriptors``/``tags``.

    ``descriptors`` may hold any of ``tempo_bpm``, ``onset_density`` (onsets/s of the stem),
    ``loudness_db``, ``dynamics_db``, ``brightness_hz``, ``key`` (e.g. "A minor"); all optional.
    """

    stem: str
    caption: str = ""
    descriptors: dict = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Normalise in place (frozen, hence object.__setattr__) so that equal content means equal key.
        object.__setattr__(self, "stem", str(self.stem).strip().lower())
        object.__setattr__(self, "caption", str(self.caption or "").strip())
        object.__setattr__(self, "descriptors", dict(self.descriptors or {}))
        object.__setattr__(self, "tags", tuple(str(t).strip() for t in (self.tags or ()) if str(t).strip()))

    def content(self) -> dict:
        """The canonical content of the request (what the key and the offline seed are made of)."""
        return {
            "stem": self.stem,
            "caption": self.caption,
            "descriptors": _canonical_value(self.descriptors),
            "tags": list(self.tags),
        }

    @property
    def key(self) -> str:
        """Stable cache key: sha256 of the request content plus the prompt template version."""
        from .prompt import prompt_version  # local import: prompt.py imports this module

        return digest({**self.content(), "prompt_version": prompt_version()})

    def __hash__(self) -> int:  # the dict field makes the generated hash unusable
        return hash(digest(self.content()))


@dataclass(frozen=True)
class InstructionResult:
    """A written instruction and where it came from: the LLM, the cache, or the offline fallback."""

    text: str
    origin: Origin
