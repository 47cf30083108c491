"""Guitar styles (midi/style.py) on real band songs: styles read from the parts' programs and from
instructions alike; the style-separation metric is 0 for the same rhythm under every style, 1 for
the real parts, and the rhythm prior moves onsets where the style's real players put them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemgen.midi.context import context_from_grid
from stemgen.midi.evaluate import load_song
from stemgen.midi.features import ONSET, output_channels
from stemgen.midi.style import (
    beat_position_share,
    beat_positions,
    instruction_for,
    rhythm_histogram,
    style_of_grid,
    style_of_instruction,
    style_separation,
    with_style_rhythm,
)

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")
# Valid-split songs whose busiest guitar track is of each group.
SONGS = {"acoustic": ("Tegridy-Select_93cc0df395.mid", "Tegridy-Original_eccb2b1c10.mid"),
         "clean": ("Tiny-Karaoke_704b0ae3b4.mid", "Tiny-Karaoke_9880a5298e.mid"),
         "driven": ("Tiny-Karaoke_4c13c5351b.mid", "Tiny-Karaoke_5d057c8896.mid")}
_CACHE: dict = {}


def song(name):
    if name not in _CACHE:
        _CACHE[name] = load_song(BAND / "midi" / name)
    return _CACHE[name]


def test_styles_from_programs_and_words():
    for style, names in SONGS.items():
        assert all(style_of_grid(song(n).grid) == style for n in names)
        assert style_of_instruction(instruction_for(style)) == style
    assert style_of_instruction("Add a funky muted guitar.") == "muted"
    assert style_of_instruction("Add some crunchy blues rock guitar") == "driven"


def real_histograms():
    return {s: [rhythm_histogram(song(n).real["guitar"], song(n).grid) for n in names] for s, names in SONGS.items()}


def test_style_separation_real_is_one_identical_is_zero():
    real = real_histograms()
    assert style_separation(real, real)["ratio"] == pytest.approx(1.0)
    same = {s: [real["acoustic"][0]] * 2 for s in SONGS}  # one part played whatever the style asked
    sep = style_separation(same, real)
    assert sep["ratio"] == 0.0 and sep["real"] > 0.05
    # Random onsets spread evenly over the bar: far less apart than real styles, never 1.
    rng = np.random.default_rng(0)
    noise = {s: [np.bincount(rng.integers(0, 16, 400), minlength=16) / 400 for _ in range(2)] for s in SONGS}
    assert style_separation(noise, real)["ratio"] < 0.5


def test_beat_positions_follow_the_grid():
    g = song(SONGS["acoustic"][0]).grid
    pos = beat_positions(context_from_grid(g, "guitar"))
    assert np.array_equal(pos, np.arange(g.n_steps) % 4)
    share = beat_position_share(song(SONGS["acoustic"][0]).real["guitar"], pos)
    assert share.sum() == pytest.approx(1.0)


def test_rhythm_prior_moves_onsets_to_the_styles_positions():
    g = song(SONGS["acoustic"][0]).grid
    ctx = context_from_grid(g, "guitar")
    out = np.zeros((output_channels("guitar"), g.n_steps), np.float32)
    setting = {"strength": 1.0, "log_ratio": {"acoustic": [1.0, -1.0, -1.0, -1.0]}}
    moved = with_style_rhythm(out, ctx, "guitar", instruction_for("acoustic"), setting)
    on_beat = np.arange(g.n_steps) % 4 == 0
    assert np.all(moved[ONSET][on_beat] == 1.0) and np.all(moved[ONSET][~on_beat] == -1.0)
    assert with_style_rhythm(out, ctx, "guitar", instruction_for("clean"), setting) is out  # no figures
    assert with_style_rhythm(out, ctx, "bass", instruction_for("acoustic"), setting) is out
    assert np.all(out == 0)  # the model's outputs are not modified in place


def test_shipped_guitar_model_strums_nearer_the_real_off_beat_share():
    """The bundled guitar model put most of its onsets on the "&" under style words (0.57-0.78 on the
    valid songs, real parts 0.20-0.48); its stored prior takes them towards the real shares."""
    from stemgen.midi.form_metrics import as_array, pitched_metrics
    from stemgen.midi.generate import MidiGenerator

    gen = MidiGenerator("guitar")
    setting = gen.meta["style_rhythm"]
    assert set(setting["log_ratio"]) == {"acoustic", "clean", "muted", "driven"} and "train" in setting["provenance"]

    def offbeat(notes):
        return pitched_metrics(as_array(notes), as_array([]), 4)["offbeat"]

    errors = {"prior": [], "none": []}
    for style, names in SONGS.items():
        for name in names:
            s = song(name)
            ctx = context_from_grid(s.grid, "guitar")
            real = offbeat(s.real["guitar"])
            for key, value in (("prior", setting), ("none", None)):
                gen.meta["style_rhythm"] = value
                errors[key].append(abs(offbeat(gen.notes_from_context(ctx, instruction_for(style))) - real))
    gen.meta["style_rhythm"] = setting
    # per song 0.15 with the prior (strength 0.7; per style, the target, see the next test) vs 0.29 without
    assert np.mean(errors["prior"]) < min(0.16, 0.6 * np.mean(errors["none"]))


def test_muted_and_distorted_strum_within_15_points_of_their_real_players():
    """Issue 19's target per style, for the two styles that missed it, on every valid song of the
    style with the takes' default sampling: the off-beat share under the style's words within 15
    points of the real parts' (the stored strength 0.7; at 0.6 the distorted songs came out 17 points
    too often on the "&", the muted ones 10)."""
    from stemgen.midi.form_metrics import as_array, pitched_metrics
    from stemgen.midi.generate import MidiGenerator

    from stemgen.midifile.grid import song_to_grid

    gen = MidiGenerator("guitar")

    def offbeat(notes):
        return pitched_metrics(as_array(notes), as_array([]), 4)["offbeat"]

    songs = {"driven": SONGS["driven"],
             "muted": ("Children-Songs_985ab8792b.mid", "Children-Songs_c604b16dd3.mid", "Tiny-Karaoke_562763d727.mid",
                       "Tiny-Karaoke_c1054defb6.mid", "Tiny-Karaoke_d254575fc5.mid")}
    for style, names in songs.items():
        real, made = [], []
        for name in names:
            s = song(name)
            assert style_of_grid(s.grid) == style
            real.append(offbeat(s.real["guitar"]))
            ctx = context_from_grid(song_to_grid(s.without("guitar")[0], 4), "guitar")  # as style.evaluate_styles
            made.append(offbeat(gen.notes_from_context(ctx, instruction_for(style))))
        assert abs(np.mean(made) - np.mean(real)) < 0.15, (style, made, real)


def test_rhythm_prior_strength_per_style():
    """A strength per style (the arranger's): each style's figures at its own strength; a strength
    dict without the style asked is an error, not a silent default."""
    from stemgen.midi.style import strength_for, strength_text

    g = song(SONGS["acoustic"][0]).grid
    ctx = context_from_grid(g, "guitar")
    out = np.zeros((output_channels("guitar"), g.n_steps), np.float32)
    setting = {"strength": {"acoustic": 0.5, "clean": 2.0},
               "log_ratio": {"acoustic": [1.0, 0.0, 0.0, 0.0], "clean": [1.0, 0.0, 0.0, 0.0]}}
    on_beat = np.arange(g.n_steps) % 4 == 0
    for style, value in (("acoustic", 0.5), ("clean", 2.0)):
        moved = with_style_rhythm(out, ctx, "guitar", instruction_for(style), setting)
        assert np.all(moved[ONSET][on_beat] == value) and np.all(moved[ONSET][~on_beat] == 0)
    assert strength_for({"strength": 0.8}, "muted") == 0.8
    assert strength_text(setting["strength"]) == "acoustic 0.5, clean 2" and strength_text(0.8) == "0.8"
    with pytest.raises(KeyError):
        strength_for(setting, "muted")


def test_sentences_without_style_words_take_their_own_strength():
    """A sentence that names no style (the renderer's default sound, clean) takes the ``unstyled``
    strength with the clean figures; "clean electric" keeps the clean strength, "Add guitar" the
    plain one; without an ``unstyled`` strength such sentences take the clean one."""
    from stemgen.midi.style import PLAIN, UNSTYLED, has_style_words, strength_for

    g = song(SONGS["acoustic"][0]).grid
    ctx = context_from_grid(g, "guitar")
    out = np.zeros((output_channels("guitar"), g.n_steps), np.float32)
    one = [1.0, 0.0, 0.0, 0.0]
    setting = {"strength": {"clean": 2.0, PLAIN: 0.5, UNSTYLED: 0.0}, "log_ratio": {"clean": one, PLAIN: one}}
    on_beat = np.arange(g.n_steps) % 4 == 0

    def beat_logit(instruction, setting=setting):
        moved = with_style_rhythm(out, ctx, "guitar", instruction, setting)
        return float(moved[ONSET][on_beat].mean())

    assert not has_style_words("Lay down quiet guitar chords at around 200 BPM.")
    assert has_style_words("Add a clean electric guitar part.")
    assert beat_logit("Lay down quiet guitar chords at around 200 BPM.") == 0.0
    assert beat_logit(instruction_for("clean")) == 2.0
    assert beat_logit("Add guitar") == 0.5
    without = {"strength": {"clean": 2.0, PLAIN: 0.5}, "log_ratio": setting["log_ratio"]}
    assert beat_logit("Lay down quiet guitar chords.", without) == 2.0
    assert strength_for({"strength": 0.8}, "clean", "Add a guitar part") == 0.8


def test_sentences_without_style_words_take_their_own_figures_where_the_prior_has_them():
    """With ``unstyled`` figures in the prior (fitted on the offline writer's sentences), a sentence
    without style words decodes with them at the ``unstyled`` strength, not with the clean ones;
    "clean electric" keeps the clean figures and "Add guitar" the plain ones."""
    from stemgen.midi.style import PLAIN, UNSTYLED, prior_key

    g = song(SONGS["acoustic"][0]).grid
    ctx = context_from_grid(g, "guitar")
    out = np.zeros((output_channels("guitar"), g.n_steps), np.float32)
    ratios = {"clean": [1.0, 0.0, 0.0, 0.0], PLAIN: [0.0, 0.0, 1.0, 0.0], UNSTYLED: [0.0, 1.0, 0.0, 0.0]}
    setting = {"strength": {"clean": 2.0, PLAIN: 0.5, UNSTYLED: 3.0}, "log_ratio": ratios}
    where = beat_positions(ctx)
    window = "Lay down quiet guitar chords at around 200 BPM."
    assert prior_key(window, ratios) == UNSTYLED and prior_key(instruction_for("clean"), ratios) == "clean"
    for instruction, position, value in ((window, 1, 3.0), (instruction_for("clean"), 0, 2.0), ("Add guitar", 2, 0.5)):
        moved = with_style_rhythm(out, ctx, "guitar", instruction, setting)[ONSET]
        assert np.all(moved[where == position] == value) and np.all(moved[where != position] == 0), instruction


def test_bar_groove_gives_every_bar_the_songs_common_shape():
    """``priors.with_bar_groove`` on a real song's bars: at share 1 every full bar ranks its steps
    alike (the same shape, the bar's own level); at 0.5 half-way; each bar keeps its mean (a quiet bar
    stays quiet for the rests); drums and a missing setting are left alone."""
    from stemgen.midi.drum_form import bar_bounds_from_context
    from stemgen.midi.priors import with_bar_groove

    g = song(SONGS["clean"][0]).grid
    ctx = context_from_grid(g, "guitar")
    rng = np.random.default_rng(0)
    out = rng.normal(size=(output_channels("guitar"), g.n_steps)).astype(np.float32)
    bounds = bar_bounds_from_context(ctx)
    lengths = np.diff(bounds)
    full = bounds[:-1][lengths == np.bincount(lengths).argmax()]
    steps = full[:, None] + np.arange(int(np.bincount(lengths).argmax()))[None]
    assert full.size > 8

    def shapes(x):
        bars = x[ONSET][steps].astype(np.float64)
        return bars - bars.mean(axis=1, keepdims=True), bars.mean(axis=1)

    before, level = shapes(out)
    same, same_level = shapes(with_bar_groove(out, ctx, "guitar", {"share": 1.0}))
    assert np.allclose(same, same[0], atol=1e-5) and np.allclose(same_level, level, atol=1e-5)
    assert not np.allclose(before, before[0], atol=0.5)
    half, _ = shapes(with_bar_groove(out, ctx, "guitar", {"share": 0.5}))
    assert np.allclose(half, 0.5 * (before + before.mean(axis=0)), atol=1e-5)
    assert with_bar_groove(out, ctx, "drums", {"share": 1.0}) is out
    assert with_bar_groove(out, ctx, "guitar", None) is out
