"""Model cards: the ``README.md`` beside every saved model (diffusion models:
``stemgen.pipelines.model_card``; part models: ``stemgen.midi.cards``; the arranger's part models).

Each kind of model renders its own text; this module is the one writer: where the card goes, how
its YAML front matter (Hugging Face card conventions) is spelled, and that it is written atomically
(a reader never sees half a card, a killed run leaves only a ``.part`` file the sweep removes).
"""

from __future__ import annotations

from pathlib import Path

from stemgen.fileio import atomic_write_text

CARD_NAME = "README.md"


def front_matter(fields: dict[str, str | list[str] | None]) -> str:
    """``---``-fenced YAML of ``fields`` in their order: lists one item a line, ``None`` left out."""
    lines = ["---"]
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            lines.append(f"{key}:")
            lines.extend(f"- {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    lines.append("---")
    return "\n".join(lines)


def write_card(folder: str | Path, text: str) -> Path:
    """Write ``text`` as the model card of ``folder`` (UTF-8, atomically); returns its path."""
    path = Path(folder) / CARD_NAME
    atomic_write_text(path, text)
    return path
