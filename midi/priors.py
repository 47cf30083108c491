"""What decoding adds to a part model's outputs from what real players do (issue 19): the style's
rhythm (``style.with_style_rhythm``) and a note-length bias on the sustain head (``with_length_bias``);
the register prior comes after decoding (``register.place_octaves``). Each is stored in the model's
``config.json`` with its provenance and applies to the MIDI engine and the arranger alike."""

from __future__ import annotations

import numpy as np

from .features import SUSTAIN
from .register import place_octaves
from .sampling import decode_take
from .style import with_style_rhythm


def with_length_bias(out: np.ndarray, stem: str, setting: dict | None) -> np.ndarray:
    """``out`` with ``setting["sustain_bias"]`` subtracted from the sustain logits (a copy): a note is
    held while the sustain probability stays above sigmoid(bias) instead of 0.5, so notes end sooner.
    ``out`` itself without a setting or for drums (no sustain head)."""
    if not setting or stem == "drums":
        return out
    out = np.array(out, dtype=np.float32, copy=True)
    out[SUSTAIN] -= float(setting["sustain_bias"])
    return out


def prepare_outputs(out: np.ndarray, context: np.ndarray, stem: str, instruction: str, meta: dict) -> np.ndarray:
    """A model's outputs with the priors its ``config.json`` (``meta``) carries, ready for decoding."""
    out = with_style_rhythm(out, context, stem, instruction, meta.get("style_rhythm"))
    return with_length_bias(out, stem, meta.get("length"))


def decode_part(out: np.ndarray, context: np.ndarray, stem: str, instruction: str, meta: dict,
                density: float = 1.0, seed: int = 0, temperature: float | None = None,
                heard: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
    """Notes of a part from a model's raw outputs, the one decoding path of the generator and of
    ``tune.py``: the priors of ``meta`` (its ``config.json``), the take of ``seed`` at
    ``temperature`` (``sampling.decode_take``: drums with form, ``None``: the stem's default
    temperature) with its ``decode`` settings, then the register prior. ``heard``: the context as
    the model hears it (``generate.heard_context``), which sets the drums' bars, sections and rests;
    ``context`` itself when not given."""
    out = prepare_outputs(out, context, stem, instruction, meta)
    notes = decode_take(out, context if heard is None else heard, stem, meta.get("decode"), density, seed, temperature)
    return place_octaves(notes, out, context, stem, meta.get("register"))
