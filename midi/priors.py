"""What decoding adds to a part model's outputs from what real players do (issue 19): the style's
rhythm (``style.with_style_rhythm``), a note-length bias on the sustain head (``with_length_bias``) and
one rhythm shared by the song's bars (``with_bar_groove``);
after decoding, rests in the bars the model expects little of (``with_rests``), the register
prior (``register.place_octaves``) and the guitarists' velocities (``velocity.with_velocity``), all
in ``after_decoding``. Each is stored in the model's
``config.json`` with its provenance and applies to the MIDI engine and the arranger alike."""

from __future__ import annotations

import numpy as np

from .features import ONSET, SUSTAIN
from .register import place_octaves
from .sampling import decode_take
from .style import with_style_rhythm
from .velocity import with_velocity


def with_length_bias(out: np.ndarray, stem: str, setting: dict | None) -> np.ndarray:
    """``out`` with ``setting["sustain_bias"]`` subtracted from the sustain logits (a copy): a note is
    held while the sustain probability stays above sigmoid(bias) instead of 0.5, so notes end sooner.
    ``out`` itself without a setting or for drums (no sustain head)."""
    if not setting or stem == "drums":
        return out
    out = np.array(out, dtype=np.float32, copy=True)
    out[SUSTAIN] -= float(setting["sustain_bias"])
    return out


def with_bar_groove(out: np.ndarray, context: np.ndarray, stem: str, setting: dict | None) -> np.ndarray:
    """``out`` with each bar's onset-logit shape moved ``setting["share"]`` of the way towards the
    song's common one (a copy): per bar of the song's most common length, the shape is the bar's
    onset logits less their mean over the bar, the common shape their mean over those bars. Each
    bar keeps its level (a quiet bar stays quiet for ``with_rests``), and at share 1 every bar ranks
    its steps alike, so the decoder plays one rhythm through the song (real guitarists repeat their
    bar: the plain "Add guitar" repeated its most common bar in 0.31 of the bars, the real parts 0.50).
    ``out`` itself without a setting, for drums (``drum_form`` has its own grooves) or with fewer
    than two such bars."""
    if not setting or stem == "drums":
        return out
    from .drum_form import bar_bounds_from_context

    bounds = bar_bounds_from_context(context)
    lengths = np.diff(bounds)
    if lengths.size < 2:
        return out
    length = int(np.bincount(lengths).argmax())
    full = bounds[:-1][lengths == length]
    if full.size < 2:
        return out
    steps = full[:, None] + np.arange(length)[None]  # (bars, length)
    bars = np.asarray(out[ONSET], np.float64)[steps]
    shape = bars - bars.mean(axis=1, keepdims=True)
    out = np.array(out, dtype=np.float32, copy=True)
    out[ONSET, steps] += (float(setting["share"]) * (shape.mean(axis=0) - shape)).astype(np.float32)
    return out


def with_rests(notes: list[tuple[int, int, int, int]], out: np.ndarray, context: np.ndarray, stem: str,
               setting: dict | None) -> list[tuple[int, int, int, int]]:
    """``notes`` without those that start in a bar where the model expects far fewer onsets than in
    the song's typical bar: the bar's mean onset probability (``out``'s onset head, per step) below
    ``setting["quiet_bar"]`` times the median bar's. Real bassists and guitarists rest in some bars
    (intros, breaks) where the decoder, which keeps a song-wide number of notes, still spreads a
    few. ``notes`` unchanged without a setting, for drums or without notes."""
    if not setting or stem == "drums" or not notes:
        return notes
    from .drum_form import bar_bounds_from_context, per_bar

    bounds = bar_bounds_from_context(context)
    prob = 1.0 / (1.0 + np.exp(-np.asarray(out[ONSET], np.float64)))
    bar_mean = per_bar(prob[None], bounds)[:, 0]
    quiet = bar_mean < float(setting["quiet_bar"]) * np.median(bar_mean)
    bar = np.clip(np.searchsorted(bounds, [n[0] for n in notes], side="right") - 1, 0, quiet.size - 1)
    return [n for n, b in zip(notes, bar) if not quiet[b]]


def after_decoding(notes: list[tuple[int, int, int, int]], out: np.ndarray, context: np.ndarray, stem: str,
                   meta: dict, seed: int = 0, instruction: str | None = None) -> list[tuple[int, int, int, int]]:
    """Decoded ``notes`` with the rests, the register prior (its centre from the ``instruction``'s
    register words when it has them) and the velocities of ``meta`` (the model's ``config.json``;
    velocities drawn from ``seed``); ``out``: the outputs they were decoded from (after ``prepare_outputs``)."""
    notes = with_rests(notes, out, context, stem, meta.get("rests"))
    notes = place_octaves(notes, out, context, stem, meta.get("register"), instruction)
    return with_velocity(notes, context, stem, meta.get("velocity"), seed)


def prepare_outputs(out: np.ndarray, context: np.ndarray, stem: str, instruction: str, meta: dict) -> np.ndarray:
    """A model's outputs with the priors its ``config.json`` (``meta``) carries, ready for decoding."""
    out = with_style_rhythm(out, context, stem, instruction, meta.get("style_rhythm"))
    out = with_bar_groove(out, context, stem, meta.get("bar_groove"))
    return with_length_bias(out, stem, meta.get("length"))


def decode_part(out: np.ndarray, context: np.ndarray, stem: str, instruction: str, meta: dict,
                density: float = 1.0, seed: int = 0, temperature: float | None = None,
                heard: np.ndarray | None = None, song_start: bool = True) -> list[tuple[int, int, int, int]]:
    """Notes of a part from a model's raw outputs, the one decoding path of the generator and of
    ``tune.py``: the priors of ``meta`` (its ``config.json``), the take of ``seed`` at
    ``temperature`` (``sampling.decode_take``: drums with form, ``None``: the stem's default
    temperature) with its ``decode`` settings, then the rests, the register prior and the velocities
    (``after_decoding``). ``heard``: the context as the model hears it (``generate.heard_context``),
    which sets the drums' bars, sections and rests; ``context`` itself when not given. ``song_start``:
    False for an excerpt cut from inside a song (no opening crash: ``drum_form.decode_drums``)."""
    out = prepare_outputs(out, context, stem, instruction, meta)
    notes = decode_take(out, context if heard is None else heard, stem, meta.get("decode"), density, seed, temperature,
                        instruction, song_start)
    return after_decoding(notes, out, context, stem, meta, seed, instruction)
