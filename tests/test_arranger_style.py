"""The arranger's guitar styles on rendered band songs (``arranger_form.style_songs``, issue 19): the
off-beat share is read from the analysed context's beat phase (the analysed steps need not start on
a beat), the per-style report gives the real parts' own shares when fed the real parts, and the
arranger's stored rhythm prior (``models/arranger/guitar/config.json`` ``style_rhythm``) makes its
parts follow the real players of the style asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")
# Valid-split songs: an acoustic guitar whose analysed steps start on the "e" of a beat, and a muted one.
ACOUSTIC = BAND / "midi" / "Children-Songs_1dc3041d5a.mid"
MUTED = BAND / "midi" / "Children-Songs_985ab8792b.mid"
_SONGS: dict = {}


def rendered(path):
    """The ``StyleSong`` of the shipped arranger for ``path`` (rendered and analysed once per session)."""
    from stemgen.evaluation.arranger_form import style_songs

    if path not in _SONGS:
        _SONGS[path] = next(style_songs([path]))
    return _SONGS[path]


def test_offbeat_share_on_the_analysed_steps_follows_the_beat():
    """The real part put on the analysed steps keeps the off-beat share it has on the MIDI grid (its
    first minute) when the steps' places in the beat come from the analysed context; read from the
    step index, as the column did before, it counted the "a" in this song."""
    from stemgen.midi.evaluate import load_song
    from stemgen.midi.form_metrics import as_array, pitched_metrics
    from stemgen.midi.style import offbeat_share

    s = rendered(ACOUSTIC)
    assert s.style == "acoustic" and not np.array_equal(s.positions, np.arange(s.positions.size) % 4)
    song = load_song(ACOUSTIC)
    minute = song.grid.seconds_at_step(np.asarray([n[0] for n in song.real["guitar"]])) < 60
    midi_share = offbeat_share([n for n, keep in zip(song.real["guitar"], minute) if keep],
                               np.arange(song.grid.n_steps) % 4)
    assert abs(offbeat_share(s.real, s.positions) - midi_share) < 0.05
    by_index = pitched_metrics(as_array(s.real), as_array([]), 4)["offbeat"]
    assert abs(by_index - midi_share) > 0.2


def test_style_report_gives_the_real_shares_when_fed_the_real_parts():
    from dataclasses import replace

    from stemgen.midi.style import offbeat_share, style_report

    songs = [replace(rendered(p), parts={rendered(p).style: rendered(p).real}) for p in (ACOUSTIC, MUTED)]
    report = style_report(songs)
    for s in songs:
        row = report["offbeat"][s.style]
        assert row["songs"] == 1 and row["points"] == 0
        assert row["real"] == row["generated"] == pytest.approx(offbeat_share(s.real, s.positions))
    assert report["separation"]["ratio"] == pytest.approx(1.0)
    assert "songs" not in report and all(row["interval"] == [0, 0] for row in report["offbeat"].values())
    rows = style_report(songs, rows=True)["songs"]
    assert [r["song"] for r in rows] == [ACOUSTIC.name, MUTED.name] and rows[0]["real"] == rows[0]["generated"]


def test_arranger_guitar_follows_the_asked_styles_real_players():
    """The first two valid songs (acoustic guitars), each asked "acoustic strummed" and "funky muted"
    on the same rendered context. The stored prior (``models/arranger/guitar/config.json``
    ``style_rhythm``) pulls the acoustic part toward the acoustic players' off-beat share (0.33, the
    train parts on analysed audio; these two songs 0.44 on learned-cc's grid), and the muted words do
    not put fewer onsets on the "&" than the acoustic ones (real players on train: muted 0.50,
    acoustic 0.33). Measured on learned-cc's grid: 0.61 with the prior, 0.88 without; on the DSP's
    grid the prior brought these two within 15 points of 0.33 (0.30), on learned-cc's one song of the
    two stays on the "&" (0.67 vs its real 0.30); the six-song test below holds the ±15 target."""
    from stemgen.arranger.engine import Arranger
    from stemgen.midi.style import offbeat_share

    setting = Arranger("guitar").generator.meta["style_rhythm"]
    assert "train" in setting["provenance"] and set(setting["log_ratio"]) == {"acoustic", "clean", "muted", "driven", "plain"}
    songs = [rendered(p) for p in (BAND / "midi" / "Children-Songs_0f45d232d6.mid", ACOUSTIC)]
    shares = {asked: np.mean([offbeat_share(s.parts[asked], s.positions) for s in songs]) for asked in ("acoustic", "muted")}
    assert abs(shares["acoustic"] - 0.33) < 0.30, shares
    assert shares["muted"] > shares["acoustic"] - 0.1, shares


# The first twelve valid songs (all with a styled guitar part), rendered and analysed once per session.
VALID_12 = ("0f45d232d6", "1dc3041d5a", "6ed207df39", "985ab8792b", "a986557f11", "bacb4a9693", "c604b16dd3",
            "d31783c191", "f3d8c06b29", "f45f22ab8a", "f5ef831910", "fdb7933003")
_ANALYSED: dict = {}


def analysed(name):
    """``arranger_form.guitar_on_steps`` of a valid Children-Songs song: ``(style, real, analysis)``."""
    from stemgen.evaluation.arranger_form import guitar_on_steps

    if name not in _ANALYSED:
        _ANALYSED[name] = guitar_on_steps(BAND / "midi" / f"Children-Songs_{name}.mid")
    return _ANALYSED[name]


def test_acoustic_words_strum_within_15_points_of_the_real_acoustic_parts():
    """Issue 19's target per style on the six acoustic guitars among the first valid songs: the
    arranger asked "acoustic strummed" puts its share of onsets on the "&" within 15 points of the
    real parts' mean (0.50; the part 0.40 with the stored prior, per-style strength 0.9); without the
    prior 0.75, 25 points over."""
    from stemgen.arranger.engine import Arranger
    from stemgen.evaluation.arranger_form import bar_grid
    from stemgen.midi.context import context_from_analysis
    from stemgen.midi.style import instruction_for, offbeat_share

    arranger = Arranger("guitar")
    setting = arranger.generator.meta["style_rhythm"]
    real, made = [], {"prior": [], "none": []}
    for name in ("0f45d232d6", "1dc3041d5a", "a986557f11", "bacb4a9693", "f3d8c06b29", "f45f22ab8a"):
        style, notes, analysis = analysed(name)
        assert style == "acoustic"
        positions = bar_grid(context_from_analysis(analysis)).beat_position
        real.append(offbeat_share(notes, positions))
        for key, value in (("prior", setting), ("none", None)):
            arranger.generator.meta["style_rhythm"] = value
            made[key].append(offbeat_share(arranger.notes_for(analysis, instruction_for("acoustic")), positions))
    arranger.generator.meta["style_rhythm"] = setting
    assert abs(np.mean(made["prior"]) - np.mean(real)) < 0.15, (made, real)
    assert np.mean(made["none"]) - np.mean(real) > 0.15, (made, real)


def test_the_default_guitar_repeats_its_bar_like_the_real_parts():
    """The plain "Add guitar" on the first twelve valid songs: with the stored bar groove
    (``config.json`` ``"bar_groove"``, ``priors.with_bar_groove``) the part plays its most common bar
    more often, with fewer distinct rhythms per 8 bars, and its note F1 against the real part is not
    lower. On the DSP's grid 0.52 vs 0.42 without it (real 0.60); on learned-cc's grid (the default
    since the ninth round) 0.44 vs 0.39, the real parts 0.67 on these songs: still 0.23 short here
    (on all 33 valid songs 0.42 vs real 0.51; docs/EVALUATION.md, ninth round)."""
    from stemgen.evaluation.arranger_form import bar_grid, part_f1
    from stemgen.midi.context import context_from_analysis
    from stemgen.midi.form_metrics import form_metrics
    from stemgen.midi.generate import MidiGenerator

    gen = MidiGenerator("guitar", Path(__file__).resolve().parents[1] / "models" / "arranger" / "guitar")
    groove = gen.meta["bar_groove"]
    rows = {"groove": [], "none": [], "real": []}
    for name in VALID_12:
        _, real, analysis = analysed(name)
        context = context_from_analysis(analysis)
        grid = bar_grid(context)
        rows["real"].append(form_metrics(real, real, grid, "guitar"))
        for key, value in (("groove", groove), ("none", None)):
            gen.meta["bar_groove"] = value
            notes = gen.notes_from_context(context, "Add guitar")
            rows[key].append(form_metrics(notes, real, grid, "guitar") | part_f1(notes, real, False))
    gen.meta["bar_groove"] = groove
    mean = {k: {c: np.nanmean([r[c] for r in v]) for c in ("rep_share", "patterns_per_8")} for k, v in rows.items()}
    assert mean["groove"]["rep_share"] > mean["none"]["rep_share"] + 0.04, mean
    assert abs(mean["groove"]["rep_share"] - mean["real"]["rep_share"]) < 0.25, mean
    assert mean["groove"]["patterns_per_8"] < mean["none"]["patterns_per_8"] - 0.5, mean
    f1 = {k: np.mean([r["note_f1"] for r in rows[k]]) for k in ("groove", "none")}
    assert f1["groove"] >= f1["none"] - 0.005, f1


def test_the_default_instruction_gets_its_own_figures_where_the_prior_has_them():
    """The arranger's "Add guitar" (its default) takes the ``plain`` figures fitted on that text;
    other words pick their sound's style (none named: clean, at the weaker ``unstyled`` strength); a
    prior without ``plain`` figures (the MIDI engine's) gives "Add guitar" the clean ones."""
    from stemgen.midi.generate import MidiGenerator
    from stemgen.midi.style import PLAIN, prior_key, strength_for

    arranger = MidiGenerator("guitar", Path(__file__).resolve().parents[1] / "models" / "arranger" / "guitar")
    ratios = arranger.meta["style_rhythm"]["log_ratio"]
    assert prior_key("Add guitar", ratios) == prior_key("add guitar.", ratios) == PLAIN
    assert prior_key("Add a guitar part", ratios) == "clean"
    assert prior_key("Add a funky muted guitar", ratios) == "muted"
    assert prior_key("Add guitar", MidiGenerator("guitar").meta["style_rhythm"]["log_ratio"]) == "clean"
    # the windows' sentences name no style: the clean figures at their own, weaker strength (the
    # clean 0.8 cost the valid windows' onset F 0.015 on those sentences; docs/EVALUATION.md sixth round)
    setting = arranger.meta["style_rhythm"]
    window = "Lay down quiet guitar chords at around 200 BPM."
    assert prior_key(window, ratios) == "clean"
    clean = strength_for(setting, "clean", "Add a clean electric guitar part.")
    assert strength_for(setting, "clean", window) < clean


def test_the_style_prior_is_fitted_from_the_repository(tmp_path, monkeypatch):
    """``python -m stemgen.evaluation.arranger_style_fit`` on the first three train songs: the songs are
    rendered, analysed and cached under the analysis code's key (a song the analysis refuses too,
    as nothing), a second fit reads the cache instead of analysing again, and the stored prior's
    shares at strength 1 come nearer the real parts' than the model's own; the offline writer's
    sentences without style words get figures of their own (``unstyled``), set against the real parts
    of the songs with such a sentence and the model asked in those sentences."""
    import json
    import shutil

    from stemgen.evaluation import arranger_form, arranger_style_fit
    from stemgen.midi.audio_examples import analysis_key
    from stemgen.midi.generate import MidiGenerator
    from stemgen.midi.style import (PLAIN, UNSTYLED, beat_position_share, beat_positions, fit_style_rhythm_contexts,
                                    has_style_words, log_ratio, model_shares)

    model = tmp_path / "guitar"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "arranger" / "guitar", model)
    cache = tmp_path / "cache"
    arranger_style_fit.main([str(BAND), "--cache", str(cache), "--store", str(model), "--strength", "0.8",
                             "--max-songs", "3", "--passes", "6", "--unstyled-figures", "fitted"])
    stored = json.loads((model / "config.json").read_text())["style_rhythm"]
    assert stored["strength"] == 0.8 and stored["songs"]["real"]["plain"] == 3 and stored["passes"] == 6
    assert analysis_key() in stored["provenance"] and "arranger_style_fit" in stored["provenance"]
    assert len(list((cache / analysis_key()).glob("*.npz"))) == 3
    # another tracker's analyses live apart (a fit on learned-cc's grid never reads the DSP's)
    assert arranger_style_fit.cache_folder(cache, None) == cache / analysis_key()
    assert arranger_style_fit.cache_folder(cache, "learned-cc") != arranger_style_fit.cache_folder(cache, "dsp")

    refused = BAND / "midi" / "Children-Songs_90c8641453.mid"  # no reliable beat for the DSP tracker
    assert arranger_style_fit.analysed_example(refused, cache / analysis_key(), "numpy") is None

    def no_analysis(*_):
        raise AssertionError("analysed again instead of read from the cache")

    monkeypatch.setattr(arranger_form, "guitar_on_steps", no_analysis)
    examples = arranger_style_fit.train_examples(BAND, cache, max_songs=3)
    assert len(examples) == 3 and arranger_style_fit.analysed_example(refused, cache / analysis_key(), None) is None
    # by default such sentences keep the clean figures (at the unstyled strength): no figures of their own
    clean = tmp_path / "clean"
    shutil.copytree(model, clean)
    arranger_style_fit.main([str(BAND), "--cache", str(cache), "--store", str(clean), "--strength", "0.8",
                             "--max-songs", "3", "--passes", "1"])
    kept = json.loads((clean / "config.json").read_text())["style_rhythm"]
    assert UNSTYLED not in kept["log_ratio"] and kept["songs"]["real"][UNSTYLED] == 0

    # the offline writer's sentences without style words get figures of their own, set against the
    # real parts of those songs (whatever their style), not the clean ones
    sentences = [ex[3] for ex in examples]
    assert all(s is None or not has_style_words(s) for s in sentences)
    assert stored["songs"]["real"][UNSTYLED] == sum(s is not None for s in sentences) >= 2
    assert stored["log_ratio"][UNSTYLED] != stored["log_ratio"]["clean"]

    gen = MidiGenerator("guitar", model)
    fitted = dict(stored, strength=1.0)
    real = np.mean([ex[2] for ex in examples], axis=0)
    shares = {}
    for name, setting in (("own", None), ("fitted", fitted)):
        into = {s: [] for s in ("acoustic", "clean", "muted", "driven", PLAIN, UNSTYLED)}
        for _, context, _, sentence in examples:
            model_shares(gen, context, into, setting, plain=True, sentence=sentence)
        shares[name] = np.mean(into[PLAIN], axis=0)
    assert np.abs(shares["fitted"] - real).sum() < 0.5 * np.abs(shares["own"] - real).sum(), shares

    # one pass: half the log ratio of the real parts of the songs whose sentence names no style to the
    # model's own parts asked in those sentences (three songs are too few for the passes to settle
    # there: each song's sentence differs; on the 211 train songs eight passes meet the real shares)
    gen.meta.pop("style_rhythm")
    unstyled = [ex for ex in examples if ex[3] is not None]
    own = [beat_position_share(gen.notes_from_context(context, sentence), beat_positions(context))
           for _, context, _, sentence in unstyled]
    expected = 0.5 * np.asarray(log_ratio([ex[2] for ex in unstyled], own))
    one_pass = fit_style_rhythm_contexts(examples, gen, passes=1)["log_ratio"][UNSTYLED]
    assert np.allclose(one_pass, expected, atol=1e-3), (one_pass, expected)


def test_strength_option_is_one_number_or_one_per_style():
    from stemgen.evaluation.arranger_style_fit import parse_strength

    assert parse_strength("0.8") == 0.8
    assert parse_strength("acoustic=0.9, clean=0.8") == {"acoustic": 0.9, "clean": 0.8}
    with pytest.raises(ValueError, match="--strength"):
        parse_strength("strong")


def test_the_fit_command_refuses_bad_input_and_stores_nothing(tmp_path, capsys):
    """No train songs under DATA, a folder that is not a model, or a strength that is not a number:
    a one-line error, and the model's ``config.json`` is left as it was."""
    import shutil

    from stemgen.evaluation.arranger_style_fit import main

    model = tmp_path / "guitar"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "arranger" / "guitar", model)
    before = (model / "config.json").read_bytes()
    for argv, said in (([str(tmp_path / "no_songs"), "--strength", "0.8"], "no train song"),
                       ([str(BAND), "--strength", "strong"], "--strength must be"),
                       ([str(BAND), "--strength", "0.8", "--store", str(tmp_path)], "not a stemgen MIDI model")):
        store = [] if "--store" in argv else ["--store", str(model)]
        with pytest.raises(SystemExit):
            main(argv + ["--cache", str(tmp_path / "cache")] + store)
        assert said in capsys.readouterr().err
    assert (model / "config.json").read_bytes() == before
