"""Where on the neck a bass (or guitar) part sits: a register prior for decoding (issue 19).

The part model picks each note's pitch as pitch-class logit + register logit per lane
(``features.pitch_logits``). Its pitch classes are right far more often than its octaves: on the
valid songs the bundled bass model's median pitch was 4.3 semitones from the real line's, worse
than always playing around the training set's median (3.2), and the error is no octave offset but
a line that wanders within and across octaves. The song's context says little about where the
real bassist plays (the context's pitch quantiles correlate 0.25 with the real median), so the
prior is mostly the players' habit learned from the training parts: a Gaussian over pitch
around ``center`` (semitones, MIDI pitch) of ``width``, added to the model's register logits when
the octave of each decoded note is chosen. The pitch classes (harmony), onsets and lengths are the
model's; only which octave of them sounds changes (adding the prior before decoding changed the
pitch classes too and cost pitch-class F1: 0.49 -> 0.46 at width 3 on the valid songs).

``center`` is ``intercept + slope * context median`` (the salience-weighted median of the context's
absolute pitches, ``context.SLICES["pitch"]``), fitted on the training split; ``width`` is chosen
on the valid split (``stemgen midi eval`` figures). Both are stored in the model's ``config.json``
under ``"register"`` with their provenance, so the MIDI engine and the arranger (whose context has
the same pitch group, from audio) decode alike.
"""

from __future__ import annotations

import numpy as np

from stemgen.midifile.lanes import N_PITCHES, PITCH_LOW

from .context import PITCH_CONTEXT_LOW, SLICES
from .features import REG0


def context_median_pitch(context: np.ndarray) -> float | None:
    """Salience-weighted median MIDI pitch of a ``(106, T)`` context's pitch group; None when the
    context has no pitch group or nothing pitched sounds."""
    if context.shape[0] < SLICES["pitch"].stop:
        return None
    weight = np.asarray(context[SLICES["pitch"]], np.float64).sum(axis=1)
    if weight.sum() <= 0:
        return None
    cdf = np.cumsum(weight) / weight.sum()
    return float(PITCH_CONTEXT_LOW + np.searchsorted(cdf, 0.5))


def register_center(context: np.ndarray, setting: dict) -> float:
    """The prior's centre for a song: ``intercept + slope * context median``; the training parts' mean
    median (``real_median_mean``) when the context has no pitch (drums alone)."""
    median = context_median_pitch(context)
    if median is None:
        return float(setting.get("real_median_mean", setting["intercept"]))
    return float(setting["intercept"] + setting.get("slope", 0.0) * median)


def place_octaves(notes: list[tuple[int, int, int, int]], out: np.ndarray, context: np.ndarray, stem: str,
                  setting: dict | None) -> list[tuple[int, int, int, int]]:
    """Decoded ``notes`` ``(start_step, end_step, pitch, velocity)`` moved to the octave of their pitch
    class that the model's register logit (``out`` (C, T)) plus the Gaussian prior prefers; the pitch
    classes, onsets and lengths stay. ``notes`` unchanged when ``setting`` is None or the stem has no
    pitch. A chord whose notes land on one pitch keeps it once."""
    if not setting or stem not in PITCH_LOW or not notes:
        return notes
    center = register_center(context, setting)
    low = PITCH_LOW[stem]
    pitches = low + np.arange(N_PITCHES)
    prior = -0.5 * ((pitches - center) / float(setting["width"])) ** 2
    placed = {}
    for start, end, pitch, vel in notes:
        lanes = np.flatnonzero(pitches % 12 == pitch % 12)
        score = np.asarray(out[REG0 + lanes, start], np.float64) + prior[lanes]
        new = int(pitches[lanes[int(np.argmax(score))]])
        placed.setdefault((start, new), (start, end, new, vel))
    return sorted(placed.values())


def fit_center(context_medians: list[float | None], real_medians: list[float]) -> dict:
    """Least-squares ``intercept``/``slope`` of the real parts' median pitch on the context median
    (songs without a context median are left out of the slope, and count for the intercept)."""
    x = np.array([m for m in context_medians if m is not None], np.float64)
    y = np.array([r for m, r in zip(context_medians, real_medians) if m is not None], np.float64)
    if x.size >= 3 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
    else:
        slope, intercept = 0.0, float(np.median(real_medians))
    return {"intercept": round(float(intercept), 3), "slope": round(float(slope), 4)}


def fit_from_folder(root, stem: str, split: str = "train") -> dict:
    """``fit_center`` on the songs of ``split`` under ``root`` (context without ``stem``, as
    ``context_from_grid`` gives the model), with the figures that say where it came from."""
    from .context import context_from_grid
    from .evaluate import MIN_NOTES, load_song
    from .splits import files_in_split

    ctx_medians, real_medians = [], []
    for path in files_in_split(root, split):
        song = load_song(path)
        real = song.real[stem]
        if len(real) < MIN_NOTES:
            continue
        ctx_medians.append(context_median_pitch(context_from_grid(song.grid, stem)))
        real_medians.append(float(np.median([n[2] for n in real])))
    return fit_center(ctx_medians, real_medians) | {
        "fitted_on": f"{root} / {split}: {len(real_medians)} songs with a {stem} part",
        "real_median_mean": round(float(np.mean(real_medians)), 2)}


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.midi.register DATA STEM MODEL_DIR --width W``: fit the centre on DATA's
    train split and store it with ``width`` (chosen on the valid split) in MODEL_DIR/config.json."""
    import argparse
    import json
    from pathlib import Path

    from stemgen.fileio import atomic_write_text

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("stem")
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--width", type=float, required=True)
    ap.add_argument("--chosen", default="", help="what the width was chosen on (stored as provenance)")
    args = ap.parse_args(argv)
    meta_path = args.model_dir / "config.json"
    meta = json.loads(meta_path.read_text())
    meta["register"] = fit_from_folder(args.data, args.stem) | {"width": args.width, "width_chosen": args.chosen}
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    print(json.dumps(meta["register"]))


if __name__ == "__main__":
    main()
