"""The ``riffusion`` path on a tiny Stable-Diffusion-format folder built offline.

The folder has the layout of Riffusion v1 (unet, vae, text_encoder, tokenizer, scheduler) but
tiny random weights, so the code that widens a real checkpoint's ``conv_in`` runs in CI.
"""

from __future__ import annotations

import json
import string

import pytest
import torch


def _write_clip_tokenizer(folder) -> None:
    """A hand-made byte-level BPE vocabulary: lowercase letters (plain and word-final) and a few merges."""
    folder.mkdir(parents=True)
    tokens = ["<|startoftext|>", "<|endoftext|>"]
    tokens += list(string.ascii_lowercase) + [c + "</w>" for c in string.ascii_lowercase]
    merges = [("a", "d"), ("ad", "d</w>"), ("r", "e"), ("b", "e")]
    tokens += ["ad", "add</w>", "re", "be"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer",
    }))


@pytest.fixture(scope="module")
def tiny_sd_folder(tmp_path_factory):
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    root = tmp_path_factory.mktemp("tiny_sd")
    torch.manual_seed(0)
    UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=2, norm_num_groups=32,
    ).save_pretrained(root / "unet")
    AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4,
        norm_num_groups=8, sample_size=32,
    ).save_pretrained(root / "vae")
    _write_clip_tokenizer(root / "tokenizer")
    CLIPTextModel(CLIPTextConfig(
        vocab_size=64, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )).save_pretrained(root / "text_encoder")
    # Stable Diffusion 1.5's noise schedule
    PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                  steps_offset=1).save_pretrained(root / "scheduler")
    return root


@pytest.fixture(scope="module")
def riffusion_pipe(tiny_sd_folder):
    from stemgen.pipelines import build_pipeline

    pipe = build_pipeline("riffusion", base_model=tiny_sd_folder, stem="drums")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_conv_in_widened_with_zero_new_weights(tiny_sd_folder, riffusion_pipe):
    from diffusers import UNet2DConditionModel

    original = UNet2DConditionModel.from_pretrained(tiny_sd_folder, subfolder="unet")
    conv = riffusion_pipe.unet.conv_in
    assert conv.in_channels == 8 and riffusion_pipe.unet.config.in_channels == 8
    assert riffusion_pipe.unet.config.out_channels == 4
    assert torch.equal(conv.weight[:, :4], original.conv_in.weight)
    assert torch.count_nonzero(conv.weight[:, 4:]) == 0
    assert torch.equal(conv.bias, original.conv_in.bias)
    # zero new weights: at initialisation the context does not change the prediction
    x = torch.randn(1, 4, 16, 16)
    text = torch.randn(1, 77, 32)
    with torch.no_grad():
        a = riffusion_pipe.unet(torch.cat([x, torch.randn(1, 4, 16, 16)], 1), 10, encoder_hidden_states=text).sample
        b = original(x, 10, encoder_hidden_states=text).sample
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_riffusion_components_and_metadata(riffusion_pipe, tiny_sd_folder):
    meta = riffusion_pipe.metadata
    assert meta["preset"] == "riffusion" and meta["codec"]["n_mels"] == 512
    assert meta["base_model"] == str(tiny_sd_folder)
    assert riffusion_pipe.vae is not None and riffusion_pipe.latent_channels == 4
    assert type(riffusion_pipe.text_encoder).__name__ == "CLIPTextModel"
    emb = riffusion_pipe.encode_prompt(["add drums", ""])
    assert emb.hidden_states.shape == (2, 77, 32) and emb.unet_mask is None  # SD convention: no mask


def test_riffusion_pipeline_samples_and_round_trips(riffusion_pipe, tmp_path):
    from stemgen.pipelines import load_pipeline

    context = torch.rand(2, 1, 32, 32) * 2 - 1  # small images: the VAE path, not the 512x512 size
    kwargs = dict(num_inference_steps=2, scheduler="ddim")
    out = riffusion_pipe(context, "add drums", generator=torch.Generator().manual_seed(0), **kwargs)
    assert out.images.shape == (2, 1, 32, 32) and out.latents.shape == (2, 4, 16, 16)
    mask = torch.zeros(2, 1, 1, 32)
    mask[..., :8] = 1
    known = torch.rand(2, 1, 32, 32) * 2 - 1
    inpainted = riffusion_pipe(context, "add drums", known_image=known, known_mask=mask, **kwargs)
    # in latent space the known columns are exact (VAE decoding then blurs them a little)
    torch.testing.assert_close(inpainted.latents[..., :4], riffusion_pipe.image_to_latents(known)[..., :4])
    riffusion_pipe.save_pretrained(tmp_path / "model")
    loaded = load_pipeline(tmp_path / "model")
    assert loaded.unet.config.in_channels == 8 and loaded.vae is not None
    again = loaded(context, "add drums", generator=torch.Generator().manual_seed(0), **kwargs)
    torch.testing.assert_close(out.images, again.images)
