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

**Register words** (issue 19, fourth round): the context does not say which octave the bassist
plays (the real medians of the band songs spread from MIDI 30 to 47), the user can. An instruction
that says "deep", "low", "sub", "down low" asks for the low mode, "mid-range", "middle register" for
the middle and "high", "octave up", "up the neck" for the high mode (``register_word``); the prior's
centre is then that mode's centre (``setting["modes"]["centers"]``: the median of the training
parts' median pitches in the mode's band, the bands' bounds fitted on the train split by
``fit_modes``), the width stays. Without such words (or with words of two modes) the centre is the
context's as before; a stem whose setting has modes only (guitar) keeps the model's octaves.
The offline instruction writer names the same bands (``stemgen.instructions.vocab.REGISTER_BOUNDS``)
from a part's ``register_midi``, so training instructions describe the register of the part.
"""

from __future__ import annotations

import re

import numpy as np

from stemgen.midifile.lanes import N_PITCHES, PITCH_LOW

from .context import PITCH_CONTEXT_LOW, SLICES
from .features import REG0


# The words that pick a mode; "low end" (the bass's job) and "high-energy" (a tempo) are not registers.
REGISTER_WORDS = {
    "low": re.compile(r"\b(?:deep|deeper|low|lower|sub|octave (?:down|lower))\b"),
    "mid": re.compile(r"\b(?:mid|middle)[- ]?(?:range|register)\b|\bmiddle of the neck\b"),
    "high": re.compile(r"\b(?:high|higher|octave (?:up|higher)|up the neck)\b"),
}
_NOT_REGISTER = re.compile(r"\blow[- ]end\b|\bhigh[- ](?:energy|hat)\b")
MODES = tuple(REGISTER_WORDS)


def register_word(instruction: str | None) -> str | None:
    """The register mode (``"low"``, ``"mid"``, ``"high"``) an instruction asks for; None when it
    names none, or two (\"deep ... up the neck\": the words disagree)."""
    text = _NOT_REGISTER.sub(" ", str(instruction or "").lower())
    found = [mode for mode, words in REGISTER_WORDS.items() if words.search(text)]
    return found[0] if len(found) == 1 else None


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


def register_center(context: np.ndarray, setting: dict, instruction: str | None = None) -> float | None:
    """The prior's centre for a song: the centre of the mode the instruction's words ask for
    (``register_word``) when the setting has it; else ``intercept + slope * context median``, the
    training parts' mean median (``real_median_mean``) when the context has no pitch (drums alone);
    None when the setting has neither (no prior: the model's octaves)."""
    centers = (setting.get("modes") or {}).get("centers", {})
    word = register_word(instruction)
    if word in centers:
        return float(centers[word])
    if "intercept" not in setting:
        return None
    median = context_median_pitch(context)
    if median is None:
        return float(setting.get("real_median_mean", setting["intercept"]))
    return float(setting["intercept"] + setting.get("slope", 0.0) * median)


def place_octaves(notes: list[tuple[int, int, int, int]], out: np.ndarray, context: np.ndarray, stem: str,
                  setting: dict | None, instruction: str | None = None) -> list[tuple[int, int, int, int]]:
    """Decoded ``notes`` ``(start_step, end_step, pitch, velocity)`` moved to the octave of their pitch
    class that the model's register logit (``out`` (C, T)) plus the Gaussian prior around
    ``register_center`` (the instruction's register words, else the context) prefers; the pitch
    classes, onsets and lengths stay. ``notes`` unchanged when ``setting`` is None, gives no centre,
    or the stem has no pitch. A chord whose notes land on one pitch keeps it once."""
    if not setting or stem not in PITCH_LOW or not notes:
        return notes
    center = register_center(context, setting, instruction)
    if center is None:
        return notes
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


def fit_modes(described: list[float], real_medians: list[float], min_share: float = 0.1) -> dict:
    """The register bands and their centres: bounds ``low < b0 <= mid <= b1 < high`` (as the offline
    writer reads them) on the parts' described register (``descriptors.describe``'s ``register_midi``),
    each band with at least ``min_share`` of the songs, chosen to minimise the mean absolute
    distance of each part's median pitch from its band's centre (the median of the band's medians)."""
    x, y = np.asarray(described, np.float64), np.asarray(real_medians, np.float64)
    best = None
    for b0 in range(int(np.floor(x.min())) + 1, int(np.ceil(x.max()))):
        for b1 in range(b0 + 1, int(np.ceil(x.max())) + 1):
            bands = (x < b0, (x >= b0) & (x <= b1), x > b1)
            if min(b.mean() for b in bands) < min_share:
                continue
            centers = [float(np.median(y[b])) for b in bands]
            error = float(np.mean(np.abs(y - np.select(bands, centers))))
            if best is None or error < best[0]:
                best = (error, [b0, b1], centers)
    if best is None:
        raise ValueError(f"too few songs ({x.size}) for three register bands of {min_share:.0%} each")
    error, bounds, centers = best
    return {"bounds": bounds, "centers": dict(zip(MODES, centers)), "train_error": round(error, 2)}


def _training_parts(root, stem: str, split: str) -> tuple[list, list[float], list[float]]:
    """Per song of ``split`` with a ``stem`` part: the context's median pitch (context without
    ``stem``, as ``context_from_grid`` gives the model), the real part's median pitch and its
    described register (``register_midi``)."""
    from .context import context_from_grid
    from .descriptors import describe
    from .evaluate import MIN_NOTES, load_song
    from .splits import files_in_split

    ctx_medians, real_medians, described = [], [], []
    for path in files_in_split(root, split):
        song = load_song(path)
        real = song.real[stem]
        if len(real) < MIN_NOTES:
            continue
        ctx_medians.append(context_median_pitch(context_from_grid(song.grid, stem)))
        real_medians.append(float(np.median([n[2] for n in real])))
        described.append(describe(song.grid, stem, path)["register_midi"])
    return ctx_medians, real_medians, described


def fit_from_folder(root, stem: str, split: str = "train") -> dict:
    """``fit_center`` on the songs of ``split`` under ``root``, with the figures that say where it came from."""
    ctx_medians, real_medians, _ = _training_parts(root, stem, split)
    return fit_center(ctx_medians, real_medians) | {
        "fitted_on": f"{root} / {split}: {len(real_medians)} songs with a {stem} part",
        "real_median_mean": round(float(np.mean(real_medians)), 2)}


def fit_modes_from_folder(root, stem: str, split: str = "train") -> dict:
    """``fit_modes`` on the songs of ``split`` under ``root``, with its provenance."""
    _, real_medians, described = _training_parts(root, stem, split)
    return fit_modes(described, real_medians) | {
        "fitted_on": f"{root} / {split}: {len(real_medians)} songs with a {stem} part; bands on the part's "
                     "onset-weighted mean pitch (register_midi), centres = the median of the band's real medians"}


def centre_bounds(root, stem: str, split: str) -> dict:
    """How close any register centre that ignores the instruction can come on ``split``: the mean
    absolute distance (semitones) of the real parts' median pitch from the train songs' median, from
    ``split``'s own median (the best constant there is, an oracle) and from the fitted context
    centre (``fit_center`` on train); with the share of songs within 3 semitones of each."""
    train_ctx, train_real, _ = _training_parts(root, stem, "train")
    fit = fit_center(train_ctx, train_real)
    train_median = float(np.median(train_real))
    ctx, real, _ = _training_parts(root, stem, split)
    real = np.asarray(real, np.float64)
    centres = {
        "train_median": np.full_like(real, train_median),
        "oracle_constant": np.full_like(real, np.median(real)),
        "context_centre": np.array([train_median if m is None else fit["intercept"] + fit["slope"] * m
                                    for m in ctx]),
    }
    return {"split": split, "songs": int(real.size), "context_fit": fit} | {
        name: {"pitch_off": round(float(np.mean(np.abs(real - c))), 2),
               "within_3": round(float(np.mean(np.abs(real - c) <= 3)), 2)} for name, c in centres.items()}


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.midi.register DATA STEM MODEL_DIR --width W``: fit the centre on DATA's
    train split and store it with ``width`` (chosen on the valid split) in MODEL_DIR/config.json;
    with ``--modes``, fit the register words' bands and centres instead and add them to the setting
    (the context centre, if any, kept); with ``--bounds SPLIT``, print ``centre_bounds`` and store nothing."""
    import argparse
    import json
    from pathlib import Path

    from stemgen.fileio import atomic_write_text

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("stem")
    ap.add_argument("model_dir", type=Path, nargs="?")
    ap.add_argument("--width", type=float)
    ap.add_argument("--chosen", default="", help="what the width was chosen on (stored as provenance)")
    ap.add_argument("--modes", action="store_true", help="fit the register words' modes (register_word)")
    ap.add_argument("--bounds", metavar="SPLIT", help="print how close a centre without the instruction can come")
    args = ap.parse_args(argv)
    if args.bounds:
        print(json.dumps(centre_bounds(args.data, args.stem, args.bounds)))
        return
    if args.model_dir is None:
        ap.error("MODEL_DIR is required (except with --bounds)")
    meta_path = args.model_dir / "config.json"
    meta = json.loads(meta_path.read_text())
    setting = dict(meta.get("register") or {}) if args.modes else fit_from_folder(args.data, args.stem)
    if args.modes:
        setting["modes"] = fit_modes_from_folder(args.data, args.stem)
    if args.width is not None:
        setting |= {"width": args.width, "width_chosen": args.chosen}
    if "width" not in setting:
        ap.error("--width is required (the setting has none yet)")
    meta["register"] = setting
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    print(json.dumps(meta["register"]))


if __name__ == "__main__":
    main()
