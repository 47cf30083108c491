"""Takes: a seed gives another, equally plausible part (issue 19).

The part models are decoded by keeping the most probable notes, as many as the model expects;
that gives one part per song. ``decode_take`` draws instead: with ``temperature`` > 0 the choice is
a Gumbel-top-k sample (Kool et al. 2019: adding ``temperature`` x Gumbel noise to the logits and
keeping the top k draws k items without replacement with weights ``exp(logit / temperature)``),
with the same number of notes as the deterministic decoding, so a take differs in which notes it
plays, not in how busy it is. The noise is drawn per position in the bar and repeated in every bar
(a take varies the part the same way in each bar, so its repeats stay). ``temperature`` 0 is the
deterministic decoding; the same seed always gives the same take.

- drums: ``drum_form.decode_drums`` draws each section's groove bar this way and the fills from the seed;
- bass / guitar: the onset logits are re-ranked by their Gumbel keys (each step takes the logit
  of its rank in the perturbed order, so the song's sum of onset probabilities, which sets the note
  count, is unchanged) and the pitch (register) logits get zero-mean Gumbel noise (the argmax of
  a Gumbel-perturbed logit is a draw from their softmax).
"""

from __future__ import annotations

import numpy as np

from stemgen.midifile.lanes import N_PITCHES

from .features import ONSET, REG0, decode_with

# Per stem, chosen on the valid split (docs/EVALUATION.md, "Drums with form, feel and takes"): the
# F1 stays ahead of every baseline with a margin (drums 0.515 vs 0.49; bass 0.324 vs 0.26 at 0.3,
# 0.30 at 0.5; guitar 0.266 vs 0.25 at 0.1, 0.244 at 0.3, behind retrieval).
DEFAULT_TEMPERATURE = {"drums": 0.5, "bass": 0.3, "guitar": 0.1}
MAX_TEMPERATURE = 3.0  # beyond it a take is noise (F1 falls towards a random part)
EULER_GAMMA = 0.5772156649  # the mean of a standard Gumbel variable


def sample_logits(out: np.ndarray, temperature: float, rng: np.random.Generator,
                  bar_pos: np.ndarray | None = None) -> np.ndarray:
    """Pitched-part outputs (C, T) whose deterministic decoding is a draw (see the module docstring).
    ``bar_pos``: each step's position in its bar; the noise is then drawn per position and the same
    in every bar, so a take changes the part the same way in each bar and keeps its repeats."""
    if temperature <= 0:
        return out
    out = np.array(out, dtype=np.float32, copy=True)
    T = out.shape[1]
    where = np.arange(T) if bar_pos is None else np.asarray(bar_pos, np.int64)
    n = int(where.max()) + 1 if T else 0
    onset = out[ONSET]
    keys = onset + temperature * rng.gumbel(size=n)[where]
    ranked = np.empty_like(onset)
    ranked[np.argsort(-keys, kind="stable")] = np.sort(onset)[::-1]
    out[ONSET] = ranked
    noise = rng.gumbel(size=(N_PITCHES, n))[:, where] - EULER_GAMMA
    out[REG0:REG0 + N_PITCHES] += temperature * noise.astype(np.float32)
    return out


def checked_temperature(temperature: float) -> float:
    """``temperature`` as a float; ``ValueError`` naming the option unless 0 <= it <= ``MAX_TEMPERATURE``."""
    value = float(temperature)
    if not 0.0 <= value <= MAX_TEMPERATURE:  # also false for NaN
        raise ValueError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {temperature}")
    return value


def resolved_temperature(stem: str, temperature: float | None) -> float:
    """``temperature`` checked, or the stem's default (``DEFAULT_TEMPERATURE``) for ``None``."""
    return DEFAULT_TEMPERATURE[stem] if temperature is None else checked_temperature(temperature)


def decode_take(out: np.ndarray, context: np.ndarray, stem: str, decode: dict | None, density: float = 1.0,
                seed: int = 0, temperature: float | None = None, instruction: str = "",
                song_start: bool = True) -> list[tuple[int, int, int, int]]:
    """Notes ``(start_step, end_step, pitch, velocity)`` of one take from a part model's outputs
    ``out`` (C, T) for ``context`` (106, T): drums with form (``drum_form``; ``instruction`` sets
    the drummer profile where the model's ``decode`` plays one), bass/guitar drawn at
    ``temperature`` (0: the most probable notes; ``None``: ``DEFAULT_TEMPERATURE[stem]``).
    ``song_start``: False for an excerpt cut from inside a song (``drum_form.decode_drums``)."""
    temperature = resolved_temperature(stem, temperature)
    if stem == "drums":
        from .drum_form import decode_drums

        return decode_drums(out, context, decode, density, seed, temperature, instruction=instruction,
                            song_start=song_start)
    from .drum_form import bar_bounds_from_context

    bounds = bar_bounds_from_context(context)
    bar_pos = np.arange(out.shape[1]) - np.repeat(bounds[:-1], np.diff(bounds))
    return decode_with(sample_logits(out, temperature, np.random.default_rng(seed), bar_pos), stem, decode, density)
