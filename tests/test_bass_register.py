"""The bass register prior (midi/register.py) on real band songs: octaves move towards the centre,
pitch classes, onsets and lengths stay; the shipped bass model carries the fitted prior and its
parts sit in the register the form metrics measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stemgen.midi.context import context_from_grid
from stemgen.midi.evaluate import load_song
from stemgen.midi.features import REG0, output_channels
from stemgen.midi.form_metrics import as_array, pitched_metrics
from stemgen.midi.register import context_median_pitch, fit_center, place_octaves, register_center
from stemgen.midifile.lanes import PITCH_LOW

BAND = Path("/work/shared/data/tegridy_band_midi_nc")
pytestmark = pytest.mark.skipif(not BAND.is_dir(), reason="shared band MIDI data missing")
SONG = "Tegridy-Select_93cc0df395.mid"  # valid split, a short pop song with bass


@pytest.fixture(scope="module")
def song():
    return load_song(BAND / "midi" / SONG)


def test_octaves_move_to_the_centre_and_nothing_else_changes(song):
    real = song.real["bass"]
    up = [(s, e, p + 12, v) for s, e, p, v in real]  # an octave too high: every octave wrong
    ctx = context_from_grid(song.grid, "bass")
    out = np.zeros((output_channels("bass"), song.grid.n_steps), np.float32)  # a model with no register opinion
    center = float(np.median([n[2] for n in real]))
    placed = place_octaves(up, out, ctx, "bass", {"intercept": center, "slope": 0.0, "width": 1.0})
    assert [(s, e, p % 12, v) for s, e, p, v in placed] == sorted((s, e, p % 12, v) for s, e, p, v in up)
    assert all(abs(p - center) <= 6 for _, _, p, _ in placed)
    before = pitched_metrics(as_array(up), as_array(real), 4)
    after = pitched_metrics(as_array(placed), as_array(real), 4)
    assert before["pitch_off"] == 12 and before["octave_err"] == 1.0
    assert after["pitch_off"] <= 3 and after["octave_err"] < 0.5


def test_the_model_register_logit_breaks_ties(song):
    """With a wide prior the model's own register logits choose the octave."""
    ctx = context_from_grid(song.grid, "bass")
    note = [(0, 4, 40, 100)]  # E2
    out = np.zeros((output_channels("bass"), song.grid.n_steps), np.float32)
    out[REG0 + 28 - PITCH_LOW["bass"], 0] = 5.0  # the model prefers E1
    assert place_octaves(note, out, ctx, "bass", {"intercept": 40, "slope": 0, "width": 30})[0][2] == 28
    assert place_octaves(note, out, ctx, "bass", {"intercept": 40, "slope": 0, "width": 1})[0][2] == 40
    assert place_octaves(note, out, ctx, "bass", None) == note


def test_centre_from_the_context(song):
    ctx = context_from_grid(song.grid, "bass")
    median = context_median_pitch(ctx)
    assert 36 <= median <= 84  # the song's chords and melody
    assert context_median_pitch(ctx[:34]) is None  # a 34-channel context has no pitch group
    assert register_center(ctx, {"intercept": 20.0, "slope": 0.25}) == pytest.approx(20 + 0.25 * median)
    assert register_center(ctx[:34], {"intercept": 20.0, "slope": 0.25, "real_median_mean": 37.0}) == 37.0
    fit = fit_center([50, 60, 70, None], [30, 35, 40, 33])
    assert fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(5.0)


def test_shipped_bass_model_plays_in_the_fitted_register(song):
    from stemgen.midi.generate import MidiGenerator

    gen = MidiGenerator("bass")
    setting = gen.meta["register"]
    assert {"intercept", "slope", "width", "fitted_on"} <= set(setting)
    ctx = context_from_grid(song.grid, "bass")
    notes = gen.notes_from_context(ctx, "Add bass.")
    center = register_center(ctx, setting)
    assert notes and all(abs(p - center) <= 6 for _, _, p, _ in notes)


def test_length_bias_shortens_the_shipped_bass_notes(song):
    from stemgen.midi.features import SUSTAIN
    from stemgen.midi.generate import MidiGenerator
    from stemgen.midi.priors import with_length_bias

    out = np.zeros((output_channels("bass"), 8), np.float32)
    assert with_length_bias(out, "bass", None) is out and with_length_bias(out, "drums", {"sustain_bias": 1}) is out
    assert np.all(with_length_bias(out, "bass", {"sustain_bias": 1.5})[SUSTAIN] == -1.5) and np.all(out == 0)
    gen = MidiGenerator("bass")
    ctx = context_from_grid(song.grid, "bass")
    setting = gen.meta["length"]
    short = gen.notes_from_context(ctx, "Add bass.")
    gen.meta["length"] = None
    long = gen.notes_from_context(ctx, "Add bass.")
    gen.meta["length"] = setting
    assert [n[0] for n in short] == [n[0] for n in long]  # the same onsets
    assert np.median([e - s for s, e, _, _ in short]) < np.median([e - s for s, e, _, _ in long])


def test_centre_bounds_on_the_valid_songs():
    """``--bounds``: the distance of the real bass lines from centres that ignore the instruction.
    The split's own median is the best constant there is (no constant is nearer on average), and the
    context centre is the one fitted on train and shipped with the bass model."""
    import json

    from stemgen.midi.register import centre_bounds

    bounds = centre_bounds(BAND, "bass", "valid")
    assert bounds["songs"] >= 30
    oracle = bounds["oracle_constant"]["pitch_off"]
    assert oracle <= bounds["train_median"]["pitch_off"] and 1.5 < oracle < 6
    shipped = json.loads((Path(__file__).parents[1] / "models/midi/band-bass/config.json").read_text())["register"]
    assert bounds["context_fit"]["intercept"] == pytest.approx(shipped["intercept"], abs=0.01)
    assert bounds["context_fit"]["slope"] == pytest.approx(shipped["slope"], abs=0.001)
    assert 0 < bounds["context_centre"]["pitch_off"] < bounds["train_median"]["pitch_off"]  # valid: the context helps
