"""`stemgen midi train`: a tiny real run through the command line on a few band MIDI songs, then
the model it wrote adds a part with `stemgen midi generate`."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from stemgen.cli.main import app
from stemgen.midifile.io import load_midi
from stemgen.midifile.subtract import strip_role
from stemgen.splits import split_of

runner = CliRunner()


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
def test_midi_train_then_generate_with_the_model(band_midi_dir, tmp_path):
    data = tmp_path / "band"
    data.mkdir()
    files = sorted(band_midi_dir.glob("*.mid"))
    train = [f for f in files if split_of(f) == "train"][:3]
    valid = [f for f in files if split_of(f) == "valid"][:1]
    test = [f for f in files if split_of(f) == "test"][:1]
    for f in train + valid + test:
        shutil.copy(f, data / f.name)
    model = tmp_path / "bass-model"
    res = runner.invoke(app, ["midi", "train", str(data), "--stem", "bass", "--out", str(model), "--steps", "30",
                              "--batch-size", "4", "--width", "16", "--max-songs", "3", "--threads", "1", "--json"])
    assert res.exit_code == 0, res.output
    summary = last_json(res.stdout)
    assert summary["steps"] == 30 and summary["train_songs"] == 3 and summary["valid_songs"] == 1
    assert math.isfinite(summary["metrics"]["train_loss_last100"])
    config = json.loads((model / "config.json").read_text())
    assert config["config"]["stem"] == "bass" and config["steps"] == 30
    assert (model / "model.safetensors").stat().st_size > 10_000
    # The training songs are recorded, the held-out song never reached training.
    assert train[0].name in json.dumps(config) and test[0].name not in json.dumps(config)

    song = tmp_path / "no_bass.mid"
    song.write_bytes(strip_role(test[0].read_bytes(), "bass"))
    out = tmp_path / "with_bass.mid"
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "bass", "--model", str(model),
                              "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert len(load_midi(out).tracks) == len(load_midi(song).tracks) + 1
    assert 32 <= last_json(res.stdout)["program"] <= 39
