"""StemInsertionPipeline (tiny preset): dual CFG batching, samplers, inpainting, save/load, model card."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe():
    from stemgen.pipelines import build_pipeline

    p = build_pipeline("tiny", stem="bass", training={"songs": 3, "source": "unit test"})
    p.set_progress_bar_config(disable=True)
    return p


def _context(batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(batch, 1, 32, 64, generator=g) * 2 - 1


def test_tiny_shapes_and_latent_space(pipe):
    assert pipe.unet.config.in_channels == 2 * pipe.latent_channels == 8
    images = _context()
    latents = pipe.image_to_latents(images)
    assert latents.shape == (2, 4, 16, 32)
    assert torch.equal(pipe.latents_to_image(latents), images)  # patching is exact


def test_latent_normalization_is_applied_and_inverted():
    from stemgen.pipelines import build_pipeline

    p = build_pipeline("tiny", stem="drums")
    assert p.latent_normalization == (0.0, 1.0)  # models saved without it behave as before
    images = 0.7 + 0.2 * torch.randn(2, 1, 32, 64, generator=torch.Generator().manual_seed(0))
    images = images.clamp(-1, 1)
    p.update_metadata(latent_shift=float(images.mean()), latent_scale=float(1 / images.std()))
    latents = p.image_to_latents(images)
    assert abs(float(latents.mean())) < 1e-3 and abs(float(latents.std()) - 1.0) < 0.05
    torch.testing.assert_close(p.latents_to_image(latents), images)


def test_dual_cfg_runs_three_branches_in_one_call(pipe, monkeypatch):
    batches = []
    forward = pipe.unet.forward

    def spy(x, t, **kw):
        batches.append((x.shape, kw["encoder_hidden_states"].shape))
        return forward(x, t, **kw)

    monkeypatch.setattr(pipe.unet, "forward", spy)
    out = pipe(_context(), ["add a walking bass", "add slap bass"], num_inference_steps=3)
    assert out.images.shape == (2, 1, 32, 64)
    assert len(batches) == 3
    assert batches[0] == ((6, 8, 16, 32), (6, 16, 32))  # (full, text dropped, both dropped) x 2 windows
    batches.clear()
    pipe(_context(), "add bass", num_inference_steps=2, audio_guidance_scale=1.0, text_guidance_scale=1.0)
    assert batches[0][0][0] == 2  # no guidance: one branch


def test_guidance_scales_change_the_output(pipe):
    g = lambda: torch.Generator().manual_seed(0)
    a = pipe(_context(), "add bass", num_inference_steps=2, generator=g()).images
    b = pipe(_context(), "add bass", num_inference_steps=2, generator=g(), text_guidance_scale=2.0).images
    c = pipe(_context(), "add bass", num_inference_steps=2, generator=g()).images
    assert torch.equal(a, c) and not torch.equal(a, b)


@pytest.mark.parametrize("name", ["ddim", "dpm", "euler_a"])
def test_schedulers_by_name(pipe, name):
    out = pipe(_context(1), "add bass", num_inference_steps=3, scheduler=name, generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 1, 32, 64) and torch.isfinite(out.images).all()
    assert out.images.min() >= -1 and out.images.max() <= 1


def test_unknown_scheduler_and_instruction_count(pipe):
    with pytest.raises(ValueError, match="unknown scheduler"):
        pipe(_context(1), "x", num_inference_steps=1, scheduler="heun")
    with pytest.raises(ValueError, match="instructions"):
        pipe(_context(3), ["a", "b"], num_inference_steps=1)


def test_inpainting_keeps_the_known_region(pipe):
    known = _context()
    mask = torch.zeros(2, 1, 1, 64)
    mask[..., :8] = 1  # the first 8 frames are known (an overlap with the previous window)
    out = pipe(_context(), "add bass", num_inference_steps=3, known_image=known, known_mask=mask,
               generator=torch.Generator().manual_seed(0)).images
    assert torch.equal(out[..., :8], known[..., :8])
    assert not torch.equal(out[..., 8:], known[..., 8:])


def test_save_load_round_trip_identical(pipe, tmp_path):
    from stemgen.pipelines import load_pipeline

    pipe.save_pretrained(tmp_path / "m")
    files = {p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert not any(f.endswith((".bin", ".pt", ".ckpt")) for f in files)
    assert {"unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "README.md"} <= files
    index = json.loads((tmp_path / "m" / "model_index.json").read_text())
    assert index["stemgen"]["stem"] == "bass" and index["stemgen"]["codec"]["name"] == "tiny"
    card = (tmp_path / "m" / "README.md").read_text()
    assert "library_name: diffusers" in card and "bass" in card and "unit test" in card

    loaded = load_pipeline(tmp_path / "m")
    assert loaded.metadata == pipe.metadata and loaded.codec_config == pipe.codec_config
    for name in ("dpm", "euler_a"):
        kw = dict(num_inference_steps=3, scheduler=name)
        a = pipe(_context(), "add bass", generator=torch.Generator().manual_seed(3), **kw).images
        b = loaded(_context(), "add bass", generator=torch.Generator().manual_seed(3), **kw).images
        assert torch.equal(a, b)


def test_load_pipeline_rejects_non_models(tmp_path):
    from stemgen.errors import StemgenInputError
    from stemgen.pipelines import load_pipeline

    with pytest.raises(StemgenInputError, match="not found"):
        load_pipeline(tmp_path / "missing")
    with pytest.raises(StemgenInputError, match="model_index.json"):
        load_pipeline(tmp_path)


def test_update_metadata_and_mix_target():
    from stemgen.pipelines import build_pipeline

    p = build_pipeline("tiny", target="mix")
    assert p.target == "mix"
    p.update_metadata(training={"steps": 5})
    assert p.metadata["training"] == {"steps": 5} and p.metadata["target"] == "mix"
    with pytest.raises(ValueError):
        build_pipeline("tiny", target="both")
    with pytest.raises(ValueError):
        build_pipeline("tiny", stem="vocals")


def test_compact_preset_minilm_offline_and_patches(monkeypatch):
    from stemgen.pipelines import build_pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    p = build_pipeline("compact", stem="guitar")
    assert type(p.text_encoder).__name__ == "BertModel" and p.text_encoder.config.hidden_size == 384
    emb = p.encode_prompt(["Add a clean funk guitar", ""])
    assert emb.hidden_states.shape == (2, 48, 384) and emb.unet_mask is not None
    assert emb.attention_mask[1].sum() == 2  # the empty instruction is just [CLS] [SEP]
    cfg = p.codec_config
    assert p.unet.config.in_channels == 2 * 64 and p.unet.config.out_channels == 64
    assert tuple(p.unet.config.sample_size) == (cfg.n_mels // 8, cfg.num_frames // 8)
    image = torch.rand(1, 1, cfg.n_mels, cfg.num_frames) * 2 - 1
    assert torch.equal(p.latents_to_image(p.image_to_latents(image)), image)
