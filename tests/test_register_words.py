"""Register words (issue 19): the user's "deep" / "high" moves the bass and guitar register prior's
centre (midi/register.py), the offline writer names a part's register from its descriptors, and
``stemgen midi eval --instructions`` asks the model with them (midi/evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemgen.instructions import InstructionRequest
from stemgen.instructions.offline import compose_instruction, descriptor_levels
from stemgen.instructions.vocab import REGISTER_BOUNDS, REGISTER_CLAUSES
from stemgen.midi.register import fit_modes, place_octaves, register_center, register_word

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
MODELS = Path(__file__).resolve().parents[1] / "models" / "midi"
needs_band = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")
SONG = "Tegridy-Select_93cc0df395.mid"  # valid split, a short pop song with bass and guitar
# Valid songs whose real bass the writer describes as high, low and low (report of --instructions described).
EVAL_SONGS = ("Children-Songs_0f45d232d6.mid", "Children-Songs_1dc3041d5a.mid", "Children-Songs_6ed207df39.mid")


@pytest.mark.parametrize("text, mode", [
    ("Add a deep bass line.", "low"), ("sub bass, down low", "low"), ("Play it an octave lower.", "low"),
    ("A high bass line.", "high"), ("melodic, up the neck", "high"), ("Bass an octave up, please", "high"),
    ("Guitar in the middle register.", "mid"), ("a mid-range guitar part", "mid"),
    ("Add bass to fill out the low end.", None), ("A high-energy, slow bass groove.", None),
    ("Add bass to deepen the groove.", None), ("West African highlife guitar", None), ("", None), (None, None),
    ("A deep bass line up the neck.", None),  # two modes: the words disagree
])
def test_register_word(text, mode):
    assert register_word(text) == mode


def _request(stem: str, register: float | None, **extra) -> InstructionRequest:
    d = {"tempo_bpm": 120.0, "key": "C major", "onset_density": 2.5, "syncopation": 0.3} | extra
    if register is not None:
        d["register_midi"] = register
    return InstructionRequest(stem, "A 120 BPM pop piece in 4/4 in C major with drums, guitar", d, ("pop",))


def test_every_register_clause_says_its_mode():
    for stem, levels in REGISTER_CLAUSES.items():
        for level, phrases in levels.items():
            assert phrases and all(register_word(f"Add {stem} {p}.") == level for p in phrases), (stem, level)


@pytest.mark.parametrize("stem, values", [("bass", {"low": 31.0, "mid": 38.5, "high": 45.0}),
                                          ("guitar", {"low": 52.0, "mid": 60.0, "high": 67.0})])
def test_the_writer_names_the_parts_register(stem, values):
    for level, value in values.items():
        assert descriptor_levels(_request(stem, value))["register"] == level
        for seed in range(40):  # whatever else the sentence says, the register words read back
            text = compose_instruction(_request(stem, value), seed)
            assert register_word(text) == level, text
            assert text == compose_instruction(_request(stem, value), seed)  # deterministic per seed
    for seed in range(40):  # no register descriptor (generation: the part is missing): no register words
        assert register_word(compose_instruction(_request(stem, None), seed)) is None
    assert "register" not in descriptor_levels(_request("drums", 40.0))


def test_sentences_without_a_register_are_unchanged():
    """The register clause is drawn last: a request without ``register_midi`` gets the words it got
    before (these were written by the code before this change)."""
    request = _request("bass", None)
    assert [compose_instruction(request, s) for s in range(3)] == [
        "Generate a melodic pop bassline that sits on the 120 BPM tempo to deepen the groove.",
        "Bring in an electric polished pop bass groove at around 120 BPM to glue the rhythm section together.",
        "Add an upbeat electric bass part."]


def test_the_writer_bands_are_the_models_bands():
    for stem, bounds in REGISTER_BOUNDS.items():
        modes = json.loads((MODELS / f"band-{stem}" / "config.json").read_text())["register"]["modes"]
        assert tuple(modes["bounds"]) == bounds and set(modes["centers"]) == {"low", "mid", "high"}
        assert modes["centers"]["low"] < bounds[0] <= modes["centers"]["mid"] <= bounds[1] < modes["centers"]["high"]


def test_fit_modes_finds_the_bands():
    rng = np.random.default_rng(0)
    low, mid, high = rng.normal(31, 0.5, 30), rng.normal(38, 0.5, 30), rng.normal(45, 0.5, 30)
    described = np.concatenate([low, mid, high])
    fit = fit_modes(list(described), list(described + 0.3))
    assert 32 <= fit["bounds"][0] <= 37 and 39 <= fit["bounds"][1] <= 44
    assert fit["centers"] == pytest.approx({"low": 31.3, "mid": 38.3, "high": 45.3}, abs=0.5)
    assert fit["train_error"] < 1
    with pytest.raises(ValueError, match="too few songs"):
        fit_modes([30.0, 40.0], [30.0, 40.0])


def test_words_pick_the_mode_centre_else_the_context():
    ctx = np.zeros((106, 16), np.float32)  # no pitch sounds: the context centre is the training mean
    setting = {"intercept": 20.0, "slope": 0.25, "real_median_mean": 37.0, "width": 1.0,
               "modes": {"bounds": [36, 41], "centers": {"low": 33.0, "mid": 38.0, "high": 44.0}}}
    assert register_center(ctx, setting, "Add a deep bass line.") == 33.0
    assert register_center(ctx, setting, "Add a bass line up the neck.") == 44.0
    assert register_center(ctx, setting, "Add bass.") == register_center(ctx, setting) == 37.0
    modes_only = {"width": 2.0, "modes": setting["modes"]}  # the guitar: no context centre
    assert register_center(ctx, modes_only, "Add guitar.") is None
    notes = [(0, 4, 72, 90)]
    out = np.zeros((60, 16), np.float32)
    assert place_octaves(notes, out, ctx, "guitar", modes_only, "Add guitar.") is notes
    assert place_octaves(notes, out, ctx, "guitar", modes_only, "Add a low guitar part.")[0][2] in (48, 60)


@needs_band
@pytest.mark.parametrize("stem", ["bass", "guitar"])
def test_the_generator_follows_register_words_and_plain_words_decode_as_before(stem):
    from stemgen.midi.context import context_from_grid
    from stemgen.midi.evaluate import load_song
    from stemgen.midi.generate import MidiGenerator

    song = load_song(BAND / "midi" / SONG)
    gen = MidiGenerator(stem)  # the bundled model, its text encoder included
    ctx = context_from_grid(song.grid, stem)
    deep = gen.notes_from_context(ctx, f"Add a deep {stem} line.")
    high = gen.notes_from_context(ctx, f"Add a high {stem} line.")
    centers = gen.meta["register"]["modes"]["centers"]
    assert deep and high
    assert np.median([n[2] for n in deep]) + 3 < np.median([n[2] for n in high])
    assert abs(np.median([n[2] for n in deep]) - centers["low"]) <= 6
    assert abs(np.median([n[2] for n in high]) - centers["high"]) <= 6
    plain = f"Add a {stem} line that fits the song."
    setting = gen.meta["register"]
    with_modes = gen.notes_from_context(ctx, plain)
    gen.meta["register"] = {k: v for k, v in setting.items() if k != "modes"} if "intercept" in setting else None
    without_modes = gen.notes_from_context(ctx, plain)  # the decoding before register words existed
    gen.meta["register"] = setting
    assert with_modes == without_modes


@needs_band
def test_eval_asks_described_and_shuffled_instructions():
    from stemgen.midi.evaluate import evaluate, load_song, song_instructions

    class Recorder:
        description = "records what it is asked"

        def __init__(self):
            self.asked = []

        def generate(self, song, data, instruction, seed):
            from stemgen.midi.generate import GenerationResult

            self.asked.append(instruction)
            return GenerationResult([], instruction or "default", 33, 1)

    files = [BAND / "midi" / n for n in EVAL_SONGS]
    songs = [load_song(f) for f in files]
    described = song_instructions(songs, "bass", "described")
    assert [register_word(t) for t in described] == ["high", "low", "low"]
    assert song_instructions(songs, "bass", "shuffled") == described[1:] + described[:1]
    assert song_instructions(songs, "bass", "none") == [None] * 3
    with pytest.raises(ValueError, match="instructions must be one of"):
        song_instructions(songs, "bass", "random")
    for mode, expected in (("none", [None] * 3), ("described", described)):
        rec = Recorder()
        report = evaluate(files, ("bass",), {"bass": rec}, progress=False, baselines=(), instructions=mode)
        assert rec.asked == expected and report["instructions"] == mode
        assert report["instruction_texts"]["bass"] == [t or "default" for t in expected]


@needs_band
def test_eval_command_rejects_an_unknown_instructions_mode(tmp_path):
    from typer.testing import CliRunner

    from stemgen.cli.main import app

    res = CliRunner().invoke(app, ["midi", "eval", str(BAND), "--stems", "bass", "--instructions", "random"])
    assert res.exit_code == 2 and "--instructions" in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("stem, plain", [("bass", "the centre above"), ("guitar", "the model's own octaves")])
def test_the_model_card_states_the_register_words(stem, plain, tmp_path):
    import shutil

    from stemgen.midi.cards import write_model_card

    folder = tmp_path / f"band-{stem}"
    shutil.copytree(MODELS / f"band-{stem}", folder)
    card = write_model_card(folder).read_text()
    centers = json.loads((folder / "config.json").read_text())["register"]["modes"]["centers"]
    assert "\"deep\", \"low\", \"sub\" centres the octave prior" in card and f"on MIDI {centers['low']:g}" in card
    assert f"without such words {plain}" in card
