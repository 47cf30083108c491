"""Training the part model: windows, augmentation, losses, calibration, saved folder, card."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stemgen.midi.cards import write_model_card
from stemgen.midi.context import SLICES
from stemgen.midi.examples import build_examples
from stemgen.midi.generate import MidiGenerator
from stemgen.midi.model import MidiModelConfig, PartModel, load_model
from stemgen.midi.train import (
    TrainSettings,
    WindowSampler,
    part_loss,
    train_stem_model,
    transpose_lanes,
)
from stemgen.midifile.grid import song_to_grid
from stemgen.midifile.io import load_midi

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def songs(band_midi_dir, tmp_path_factory):
    files = sorted(band_midi_dir.glob("*.mid"))[:4]
    return build_examples(files, ("drums", "bass", "guitar"), cache_dir=tmp_path_factory.mktemp("cache"))


def test_windows_transpose_context_and_target_together(songs):
    sampler = WindowSampler(songs, "bass", 64, seed=0)
    song = sampler.songs[0]
    roles = [r for r in song.roles if r != "bass"]
    start = int(np.flatnonzero(song.targets["bass"]["onset"].any(axis=0))[0])
    a, b = sampler.window_of(song, start, roles, 0), sampler.window_of(song, start, roles, 3)
    assert np.allclose(np.roll(a["context"][SLICES["chroma"]], 3, axis=0), b["context"][SLICES["chroma"]])
    pitch = SLICES["pitch"]
    assert np.allclose(a["context"][pitch][:-3], b["context"][pitch][3:]) and a["context"][pitch].any()
    assert np.array_equal(transpose_lanes(a["on"], 3), b["on"]) and a["on"].any()
    position = slice(SLICES["downbeat"].start, SLICES["bar_phase"].stop)
    assert np.array_equal(a["context"][position], b["context"][position])
    # The target stem is never in its own context: bass's low notes are not in bass_chroma alone.
    solo = sampler.window_of(song, start, [], 0)
    assert solo["context"][: SLICES["energy"].stop].sum() == 0 and solo["on"].any()


def test_loss_falls_when_fitting_one_batch(songs):
    torch.manual_seed(0)
    for stem in ("drums", "guitar"):
        model = PartModel(MidiModelConfig(stem, width=32, n_blocks=3, window=64))
        batch = WindowSampler(songs, stem, 64, seed=1).batch(8, None)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        first = float(part_loss(model, batch)[0].detach())
        for _ in range(60):
            loss, parts = part_loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert float(loss.detach()) < 0.6 * first, (stem, first, parts)


def test_short_run_saves_a_calibrated_model_that_generates(songs, band_midi_dir, tmp_path):
    settings = TrainSettings(steps=25, batch_size=4, seed=0)
    config = MidiModelConfig("bass", width=16, n_blocks=2, window=64)
    meta = train_stem_model(songs[:3], songs[3:], config, settings, tmp_path / "bass", progress=False,
                            extra_meta={"data": {"roots": ["tegridy_band_midi_nc"]}})
    assert meta["steps"] == 25 and meta["valid_songs"] == 1 and meta["decode"]["density_scale"][0] > 0
    # The held-out F1 was checked at the end (25 < CHECK_EVERY) and those weights kept.
    assert meta["metrics"]["kept_step"] == 25 and len(meta["metrics"]["valid_f1_curve"]) == 1
    model, saved = load_model(tmp_path / "bass")
    assert saved["metrics"]["valid_loss"] == meta["metrics"]["valid_loss"]
    card = write_model_card(tmp_path / "bass").read_text()
    assert "Non-commercial use only" in card and "CC BY-NC-SA 4.0" in card and "25 of batch 4" in card
    gen = MidiGenerator("bass", tmp_path / "bass")
    grid = song_to_grid(load_midi(sorted(band_midi_dir.glob("*.mid"))[5]), 4)
    notes = gen.notes_for(grid, "Add a bass line")
    assert all(24 <= p < 72 and e > s for s, e, p, _ in notes)
    # Density scales the number of onsets.
    gen.density = 2.0
    assert len(gen.notes_for(grid, "Add a bass line")) >= len(notes)


def test_a_model_that_never_heard_other_parts_gets_only_the_meter(songs, band_midi_dir, tmp_path):
    """Groove MIDI has drums only: such a model is given the meter, not harmony it never saw."""
    import copy

    settings = TrainSettings(steps=5, batch_size=2, seed=0)
    solo = [copy.copy(s) for s in songs[:2]]
    for s in solo:
        s.components = {r: c for r, c in s.components.items() if r == "drums"}
    meta = train_stem_model(solo, [], MidiModelConfig("drums", width=16, n_blocks=2, window=64), settings,
                            tmp_path / "solo", progress=False)
    assert meta["hears_other_parts"] is False
    gen = MidiGenerator("drums", tmp_path / "solo")
    grid = song_to_grid(load_midi(sorted(band_midi_dir.glob("*.mid"))[5]), 4)
    bare = copy.copy(grid)
    bare.tracks = []
    assert gen.notes_for(grid, "Add drums") == gen.notes_for(bare, "Add drums")
    gen.meta["hears_other_parts"] = True  # the check can fail: with the harmony, the part changes
    assert gen.notes_for(grid, "Add drums") != gen.notes_for(bare, "Add drums")
    meta = train_stem_model(songs[:2], [], MidiModelConfig("drums", width=16, n_blocks=2, window=64), settings,
                            tmp_path / "band", progress=False)
    assert meta["hears_other_parts"] is True


def test_cli_train_writes_model_command_and_card(band_midi_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from stemgen.cli.main import app

    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["midi", "train", str(band_midi_dir), "--stem", "guitar", "--out", str(out),
                                   "--steps", "3", "--batch-size", "2", "--width", "16", "--blocks", "2",
                                   "--max-songs", "3", "--cache", str(tmp_path / "cache"), "--json"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "config.json").read_text())
    assert meta["steps"] == 3 and meta["command"].startswith("stemgen ") and meta["kind"] == "stemgen-part-model-v1"
    assert "Non-commercial use only" in (out / "README.md").read_text()
    load_model(out)
