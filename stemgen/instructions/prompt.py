"""Load the annotator prompt templates from ``stemgen.prompts`` and render chat messages."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from string import Template

from .request import InstructionRequest

PROMPT_PACKAGE = "stemgen.prompts"
SYSTEM_TEMPLATE = "annotator_system.txt"
USER_TEMPLATE = "annotator_user.txt"


@lru_cache(maxsize=None)
def load_template(name: str) -> str:
    """Text of one template file shipped in ``stemgen.prompts``."""
    return resources.files(PROMPT_PACKAGE).joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def prompt_version() -> str:
    """Short content hash of the templates: part of every cache key, so prompt edits invalidate it."""
    h = hashlib.sha256()
    for name in (SYSTEM_TEMPLATE, USER_TEMPLATE):
        h.update(name.encode() + b"\0" + load_template(name).encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def describe_descriptors(descriptors: dict) -> str:
    """Human-readable one-liner of the measured descriptors the LLM may use (missing ones skipped)."""
    parts: list[str] = []
    fmt = {
        "tempo_bpm": "tempo about {:.0f} BPM",
        "onset_density": "{:.1f} onsets per second in the removed stem",
        "loudness_db": "loudness {:.0f} dB",
        "dynamics_db": "dynamic range {:.0f} dB",
        "brightness_hz": "spectral brightness {:.0f} Hz",
    }
    for name, pattern in fmt.items():
        value = descriptors.get(name)
        if isinstance(value, (int, float)) and value == value:  # skip None/NaN
            parts.append(pattern.format(float(value)))
    if descriptors.get("key"):
        parts.append(f"key {descriptors['key']}")
    return ", ".join(parts) or "none"


def build_messages(request: InstructionRequest) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for one instruction for ``request``."""
    user = Template(load_template(USER_TEMPLATE)).safe_substitute(
        caption=request.caption or "(no caption)",
        details=describe_descriptors(request.descriptors),
        tags=", ".join(request.tags) or "none",
        stem=request.stem,
    )
    return [
        {"role": "system", "content": load_template(SYSTEM_TEMPLATE).strip()},
        {"role": "user", "content": user.strip()},
    ]
