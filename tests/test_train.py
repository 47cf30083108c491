"""``stemgen train`` end to end on CPU with the ``tiny`` preset, on a dataset built by the real
``stemgen dataset build`` from the MUSDB18 excerpt in ../shared/data.

Covers: a few steps from the CLI (save, load, sample, logs, JSON summary), EMA weights differing
from the raw ones, resume after a SIGKILL continuing the uninterrupted loss curve, a LoRA run
that saves and loads, two-process DDP over gloo through ``accelerate launch``, and clean errors
for a missing or empty dataset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from stemgen.cli.main import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
# Small, fast and deterministic: one thread (a loaded 2-core box runs the tiny UNet ~5x faster
# single-threaded), no loader workers, no warm-up so every step moves the weights.
FAST = ["--preset", "tiny", "--batch-size", "2", "--warmup-steps", "0", "--num-workers", "0",
        "--num-validation", "1", "--validate-every", "1000"]


def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _json_line(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary in: {text[-3000:]}"
    return json.loads(lines[-1])


def _losses(model: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (model / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, musdb_song) -> Path:
    """5 windows of the tiny preset from the real MUSDB18 excerpt, built by ``stemgen dataset build``."""
    out = tmp_path_factory.mktemp("train") / "ds"
    result = runner.invoke(
        app,
        ["dataset", "build", str(musdb_song), "--out", str(out), "--stem", "drums", "--preset", "tiny",
         "--splits", "1,0,0", "--workers", "1", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output[-2000:]
    assert _json_line(result.stdout)["items"] >= 4
    return out


def train_cli(*args: str):
    return runner.invoke(app, ["train", *args], catch_exceptions=False)


def test_cli_trains_saves_and_loads(dataset, tmp_path):
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    model = tmp_path / "model"
    result = train_cli("--data", str(dataset), "--out", str(model), *FAST, "--max-steps", "3",
                       "--checkpoint-every", "3", "--validate-every", "3", "--ema-decay", "0.9", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])  # stdout is the JSON object alone
    assert summary["steps"] == 3 and summary["model"] == str(model)
    assert summary["final_loss"] > 0 and summary["samples_per_s"] > 0 and summary["wall_s"] > 0

    log = (model / "train_log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in log]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]
    assert all({"loss", "lr", "samples_per_s"} <= set(r) for r in records if "loss" in r)
    assert any("validation_loss" in r for r in records)
    assert list((model / "logs").rglob("events.out.tfevents*")), "no tensorboard events"
    assert (model / "validation" / "step-000003" / "0_generated.wav").is_file()
    assert (model / "README.md").is_file() and (model / "training_config.json").is_file()

    pipe = StemInsertionPipeline.from_pretrained(model)
    meta = pipe.metadata
    assert meta["preset"] == "tiny" and meta["stem"] == "drums" and meta["target"] == "stem"
    assert meta["training"]["steps"] == 3 and meta["training"]["examples"]["train"] >= 4
    assert meta["training"]["licenses"] and meta["training"]["hours"] > 0
    assert meta["codec"]["name"] == "tiny"
    # latents normalized with the training targets' statistics (a silent-ish spectrogram is not unit variance)
    assert -1 < meta["latent_shift"] < 1 and meta["latent_scale"] > 1
    codec = pipe.codec_config
    out = pipe(torch.zeros(1, 1, codec.n_mels, codec.num_frames), "Add rock drums", num_inference_steps=2,
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 1, codec.n_mels, codec.num_frames)

    # EMA: the saved UNet holds the averaged weights, the checkpoint the raw ones
    raw = load_file(str(model / "checkpoints" / "step-000003" / "model.safetensors"))
    saved = pipe.unet.state_dict()
    assert raw.keys() == saved.keys()
    differs = [k for k in raw if not torch.equal(raw[k], saved[k])]
    assert len(differs) > len(raw) // 2, "EMA weights should differ from the raw ones"


def test_resume_after_kill_matches_uninterrupted_run(dataset, tmp_path):
    """Kill a run (SIGKILL) after its first checkpoint, resume, compare with one uninterrupted run.

    Data order, noise, timesteps and dropout masks are functions of (seed, step, rank) and the
    optimizer/EMA/LR states come back from the checkpoint, so the curves agree to float rounding.
    """
    from stemgen.training import TrainConfig, train_model

    common = dict(data=dataset, preset="tiny", batch_size=2, grad_accum=2, warmup_steps=0, num_workers=0,
                  validate_every=1000, ema_decay=0.9, seed=3, cond_dropout_text=0.3, cond_dropout_audio=0.3,
                  cond_dropout_both=0.2)
    full = train_model(TrainConfig(out=tmp_path / "full", max_steps=5, checkpoint_every=1000, **common), progress=False)

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "stemgen.cli.main", "train", "--data", str(dataset), "--out", str(killed),
           "--preset", "tiny", "--batch-size", "2", "--grad-accum", "2", "--warmup-steps", "0", "--num-workers", "0",
           "--validate-every", "1000", "--ema-decay", "0.9", "--seed", "3", "--cond-dropout-text", "0.3",
           "--cond-dropout-audio", "0.3", "--cond-dropout-both", "0.2", "--max-steps", "1000", "--checkpoint-every", "2"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    try:
        while not (killed / "checkpoints" / "step-000002").is_dir():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()

    resumed = train_model(TrainConfig(out=killed, max_steps=5, checkpoint_every=1000, **common), progress=False)
    assert resumed.resumed_from is not None and 2 <= resumed.resumed_from < 5
    want, got = _losses(tmp_path / "full"), _losses(killed)
    assert sorted(got) == [1, 2, 3, 4, 5] == sorted(want)
    for step in want:  # same kernels, same thread count: equal up to float32 rounding
        assert got[step] == pytest.approx(want[step], rel=1e-5, abs=1e-7), (step, got, want)
    assert resumed.final_loss == pytest.approx(full.final_loss, rel=1e-5)
    a = load_file(str(tmp_path / "full" / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(killed / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def test_lora_run_saves_and_loads(dataset, tmp_path):
    from stemgen.pipelines import build_pipeline
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline
    from stemgen.training import TrainConfig, train_model

    out = tmp_path / "lora"
    result = train_model(
        TrainConfig(data=dataset, out=out, preset="tiny", max_steps=2, batch_size=2, warmup_steps=0, lr=1e-3,
                    num_workers=0, lora_rank=4, ema_decay=0.0, checkpoint_every=1000, validate_every=1000),
        progress=False,
    )
    assert result.steps == 2 and result.lora_rank == 4
    adapter = load_file(str(out / "lora" / "adapter_model.safetensors"))
    assert any("lora_A" in k for k in adapter) and "conv_in.weight" in adapter

    pipe = StemInsertionPipeline.from_pretrained(out)
    trained = pipe.unet.state_dict()
    base = build_pipeline("tiny", seed=0).unet.state_dict()
    assert trained.keys() == base.keys(), "LoRA layers should be merged away in the saved model"
    attn = [k for k in base if k.endswith("attn1.to_q.weight")]
    frozen = [k for k in base if "resnets" in k and k.endswith("conv1.weight")]
    assert attn and frozen
    assert any(not torch.equal(trained[k], base[k]) for k in attn), "LoRA delta not merged"
    assert all(torch.equal(trained[k], base[k]) for k in frozen), "non-LoRA weights must stay frozen"
    assert not torch.equal(trained["conv_in.weight"], base["conv_in.weight"]), "conv_in trains in a LoRA run"


def test_two_process_ddp_over_gloo(dataset, tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` on a machine without GPUs: DDP over gloo."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29617",
           "-m", "stemgen.cli.main", "train", "--data", str(dataset), "--out", str(out), *FAST,
           "--batch-size", "1", "--max-steps", "2", "--checkpoint-every", "2", "--json"]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = _json_line(proc.stdout)
    assert summary["num_processes"] == 2 and summary["steps"] == 2
    assert proc.stdout.count('"num_processes"') == 1, "one summary, from the main process"
    ckpt = out / "checkpoints" / "step-000002"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()
    assert (out / "model_index.json").is_file() and (out / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((out / "train_log.jsonl").read_text().splitlines()[-1])["step"] == 2


def test_missing_dataset_is_a_clean_error(tmp_path):
    result = train_cli("--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m"), *FAST, "--max-steps", "1")
    assert result.exit_code != 0
    assert "nope" in result.stderr and "dataset folder not found" in result.stderr
    assert "Traceback" not in result.output


def test_empty_dataset_is_a_clean_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for split in ("train", "valid", "test"):
        (empty / f"{split}.jsonl").write_text("")
    result = train_cli("--data", str(empty), "--out", str(tmp_path / "m"), *FAST, "--max-steps", "1", "--json")
    assert result.exit_code != 0
    assert "train.jsonl" in result.stderr and "no usable training examples" in result.stderr
    assert result.stdout.strip() == ""


def test_target_mix_trains_and_generates(dataset, tmp_path, musdb_song):
    """``--target mix`` (the paper's formulation): the model learns the full mix, its config says so,
    and ``stemgen generate`` derives the stem from it (generated mix minus the context)."""
    import numpy as np
    import soundfile as sf

    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    model = tmp_path / "mix_model"
    result = train_cli("--data", str(dataset), "--out", str(model), *FAST, "--target", "mix", "--max-steps", "2",
                       "--checkpoint-every", "1000", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    assert _json_line(result.stdout)["steps"] == 2
    pipe = StemInsertionPipeline.from_pretrained(model)
    assert pipe.metadata["target"] == "mix" and pipe.target == "mix" and pipe.metadata["stem"] == "drums"
    assert json.loads((model / "training_config.json").read_text())["target"] == "mix"

    mix, sr = sf.read(musdb_song / "mixture.wav", frames=2 * 44_100, always_2d=True)
    clip = tmp_path / "clip.wav"
    sf.write(clip, mix, sr)
    out = tmp_path / "out"
    res = runner.invoke(app, ["generate", str(clip), "--model", str(model), "--out", str(out), "--steps", "2", "--json"])
    assert res.exit_code == 0, res.output[-3000:]
    summary = _json_line(res.stdout)
    assert summary["settings"]["target"] == "mix"
    stem, stem_sr = sf.read(summary["stem"], always_2d=True)
    # the stem file has the input's channels, as the mix has (the model writes one)
    assert stem_sr == sr and stem.shape == mix.shape and np.isfinite(stem).all() and np.abs(stem).max() > 0
