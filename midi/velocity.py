"""How hard a guitarist plays each note: a velocity model learned from real guitar parts (issue 19).

The part model's velocity head comes out nearly flat (a spread of 2.8 between the 10th and 90th
percentile of a song's velocities on the valid songs; real guitar parts 15.6), so after decoding
each note's velocity is redrawn around the part's own level (the decoded velocities' median):

- **accent** by metric position (downbeat, other beat, the "&", the 16ths between) and by whether
  the onset is a chord or a single note: the mean offset from the song's median velocity in the
  real parts (train songs that vary their velocities at all);
- **per-song dynamics**: how far velocities spread in a song, predicted from the context's own onset
  velocities (a MIDI file whose other parts are sequenced at one velocity has a flat guitar too:
  the spread of the context's onset strengths correlates 0.47 with the real guitar's spread on the
  train songs) by least squares, clipped to the train songs' range; the accents scale with it;
- the rest of the spread as seeded Gaussian noise, per onset (a strum as a whole louder or softer)
  and per note within a chord, in the real parts' proportion, plus the **strum**: the mean
  velocity step from a chord's lowest to its highest note.

The fitted figures live in the model's ``config.json`` under ``"velocity"`` with their provenance;
the arranger's guitar model carries a copy with ``slope`` 0 (the analysed audio's onset strengths
are on another scale than MIDI velocities, and no figure of the analysed context tells a song's
dynamics) and one spread for every song, chosen on the rendered valid songs (``--spread``), so both
engines decode alike through ``priors.after_decoding``.
"""

from __future__ import annotations

import numpy as np

from .context import SLICES

POSITIONS = ("downbeat", "beat", "eighth", "sixteenth")
Z_90_10 = 2 * 1.2815516  # the 90th minus the 10th percentile of a unit Gaussian
DYNAMIC = 5.0  # a real part whose velocity spread is above this counts as played with dynamics
MIN_ONSET_VALUES = 10


def position_class(context: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Index into ``POSITIONS`` for each step of ``steps``: on a downbeat (the context's downbeat
    row), on another beat, two 16ths after a beat (the "&"), anything else; the 16th within the beat
    from the context's beat phase (``style.beat_positions``), so MIDI and audio contexts alike."""
    from .style import beat_positions

    steps = np.clip(np.asarray(steps, np.int64), 0, context.shape[1] - 1)
    within = beat_positions(context)[steps]
    down = np.asarray(context[SLICES["downbeat"]][0])[steps] > 0.5
    out = np.full(steps.shape, POSITIONS.index("sixteenth"), np.int64)
    out[within == 2] = POSITIONS.index("eighth")
    out[within == 0] = np.where(down[within == 0], POSITIONS.index("downbeat"), POSITIONS.index("beat"))
    return out


def context_onset_spread(context: np.ndarray) -> float:
    """The 90th minus the 10th percentile of the context's nonzero onset strengths (low, mid, high
    band) in MIDI velocity units (x 127); 0 when fewer than ``MIN_ONSET_VALUES`` onsets sound."""
    onsets = np.asarray(context[SLICES["onset_low"].start: SLICES["onset_high"].stop], np.float64)
    values = onsets[onsets > 0] * 127
    if values.size <= MIN_ONSET_VALUES:
        return 0.0
    return float(np.percentile(values, 90) - np.percentile(values, 10))


def song_spread(context: np.ndarray, setting: dict) -> float:
    """The velocity spread (90th - 10th percentile) the part gets in this song."""
    spread = setting["intercept"] + setting.get("slope", 0.0) * context_onset_spread(context)
    return float(np.clip(spread, 0.0, setting["max_spread"]))


def with_velocity(notes: list[tuple[int, int, int, int]], context: np.ndarray, stem: str, setting: dict | None,
                  seed: int = 0) -> list[tuple[int, int, int, int]]:
    """``notes`` ``(start_step, end_step, pitch, velocity)`` with velocities redrawn by ``setting``
    (see the module's docstring) from ``seed``; onsets, pitches and lengths unchanged. ``notes``
    themselves without a setting, for drums or without notes."""
    if not setting or stem == "drums" or not notes:
        return notes
    arr = np.array([n[:4] for n in notes], np.int64)
    level = float(np.median(arr[:, 3]))
    spread = song_spread(context, setting)
    scale = spread / float(setting["reference_spread"])
    starts, onset_of = np.unique(arr[:, 0], return_inverse=True)
    size = np.bincount(onset_of)
    chord = size[onset_of] >= 2
    offsets = np.asarray(setting["offsets"], np.float64)  # (4 positions, [single, chord])
    pos = position_class(context, arr[:, 0])
    # the strum: velocity rises by `strum` from a chord's lowest to its highest note
    order = np.lexsort((arr[:, 2], onset_of))
    rank = np.empty(len(arr), np.float64)
    first = np.r_[0, np.cumsum(size)[:-1]]
    rank[order] = np.arange(len(arr)) - first[onset_of[order]]
    ramp = np.where(chord, rank / np.maximum(size[onset_of] - 1, 1) - 0.5, 0.0)
    rng = np.random.default_rng(seed)
    sd = spread / Z_90_10
    share = float(setting["onset_share"])
    noise = (rng.standard_normal(starts.size)[onset_of] * sd * np.sqrt(share)
             + rng.standard_normal(len(arr)) * sd * np.sqrt(1 - share) * chord)
    vel = level + scale * (offsets[pos, chord.astype(np.int64)] + float(setting["strum"]) * ramp) + noise
    vel = np.clip(np.rint(vel), 1, 127).astype(np.int64)
    return [(int(s), int(e), int(p), int(v)) for (s, e, p, _), v in zip(arr, vel)]


def song_figures(notes: np.ndarray, context: np.ndarray) -> dict:
    """One real part's figures for the fit: its spread, the context's onset spread, per-note offsets
    from its median velocity with their position and chord flag, the within-chord and between-onset
    variances and the strum steps."""
    v = notes[:, 3].astype(np.float64)
    starts, onset_of = np.unique(notes[:, 0], return_inverse=True)
    size = np.bincount(onset_of)
    mean = np.bincount(onset_of, weights=v) / size
    strum = []
    for k in np.flatnonzero(size >= 2):
        chord_v, chord_p = v[onset_of == k], notes[onset_of == k, 2]
        strum.append(float(chord_v[np.argmax(chord_p)] - chord_v[np.argmin(chord_p)]))
    return {"spread": float(np.percentile(v, 90) - np.percentile(v, 10)),
            "context_spread": context_onset_spread(context),
            "offset": v - np.median(v), "position": position_class(context, notes[:, 0]),
            "chord": (size[onset_of] >= 2).astype(np.int64),
            "within": float(np.mean((v - mean[onset_of]) ** 2)) if (size >= 2).any() else np.nan,
            "between": float(np.var(mean)), "strum": float(np.mean(strum)) if strum else np.nan}


def fit(figures: list[dict]) -> dict:
    """The ``"velocity"`` setting from ``song_figures`` of real parts (see the module's docstring)."""
    spread = np.array([f["spread"] for f in figures])
    ctx = np.array([f["context_spread"] for f in figures])
    slope, intercept = np.polyfit(ctx, spread, 1)
    dyn = [f for f in figures if f["spread"] > DYNAMIC]
    offsets = np.zeros((len(POSITIONS), 2))
    for p in range(len(POSITIONS)):
        for c in (0, 1):  # the mean over songs of each song's mean offset there
            per_song = [f["offset"][(f["position"] == p) & (f["chord"] == c)].mean() for f in dyn
                        if ((f["position"] == p) & (f["chord"] == c)).any()]
            offsets[p, c] = np.mean(per_song) if per_song else 0.0
    within = np.nanmedian([f["within"] for f in dyn])
    between = np.median([f["between"] for f in dyn])
    return {"intercept": round(float(intercept), 3), "slope": round(float(slope), 4),
            "max_spread": round(float(spread.max()), 1), "mean_spread": round(float(spread.mean()), 2),
            "offsets": np.round(offsets, 2).tolist(), "positions": list(POSITIONS),
            "reference_spread": round(float(np.mean([f["spread"] for f in dyn])), 2),
            "onset_share": round(float(between / (between + within)), 3),
            "strum": round(float(np.nanmedian([f["strum"] for f in dyn])), 2),
            "songs": {"all": len(figures), "with_dynamics": len(dyn)}}


def fit_from_folder(root, stem: str = "guitar", split: str = "train") -> dict:
    """``fit`` on the real ``stem`` parts of ``split`` under ``root`` (contexts without ``stem``)."""
    from .context import context_from_grid
    from .evaluate import MIN_NOTES, load_song
    from .splits import files_in_split

    figures = []
    for path in files_in_split(root, split):
        song = load_song(path)
        real = np.array(song.real[stem], np.int64).reshape(-1, 4)
        if len(real) >= MIN_NOTES:
            figures.append(song_figures(real, context_from_grid(song.grid, stem)))
    return fit(figures) | {"fitted_on": f"{root} / {split}: {len(figures)} songs with a {stem} part"}


def main(argv: list[str] | None = None) -> None:
    """``python -m stemgen.midi.velocity DATA MODEL_DIR [--stem guitar] [--no-context [--spread S]]``: fit
    on DATA's train split and store it in MODEL_DIR/config.json under ``"velocity"`` (``--no-context``:
    slope 0, one spread for every song, for a model that hears analysed audio: the train songs' mean,
    or ``--spread``, a flat spread chosen elsewhere, e.g. on the arranger's rendered valid songs)."""
    import argparse
    import json
    from pathlib import Path

    from stemgen.fileio import atomic_write_text

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("data")
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--stem", default="guitar")
    ap.add_argument("--no-context", action="store_true")
    ap.add_argument("--spread", type=float, default=None,
                    help="with --no-context: this spread for every song instead of the train songs' mean")
    ap.add_argument("--chosen", default="", help="what the setting was checked on (stored as provenance)")
    args = ap.parse_args(argv)
    if args.spread is not None and not (args.no_context and 0 <= args.spread <= 127):
        ap.error("--spread needs --no-context and a spread between 0 and 127")
    setting = fit_from_folder(args.data, args.stem)
    if args.no_context:
        setting |= {"intercept": setting["mean_spread"] if args.spread is None else args.spread, "slope": 0.0}
    meta_path = args.model_dir / "config.json"
    meta = json.loads(meta_path.read_text())
    meta["velocity"] = setting | ({"chosen": args.chosen} if args.chosen else {})
    atomic_write_text(meta_path, json.dumps(meta, indent=2))
    print(json.dumps(meta["velocity"]))


if __name__ == "__main__":
    main()
