"""Fast unit tests for the pieces that make training resumable and its conditioning dropout right."""

from __future__ import annotations

import pytest
import torch

from stemgen.ema import ExponentialMovingAverage
from stemgen.training.config import TrainConfig
from stemgen.training.objective import DropoutProbs, dropout_masks
from stemgen.training.order import (
    ResumableBatchSampler,
    global_positions,
    step_generator,
)


def test_every_example_once_per_epoch_and_epochs_differ():
    n = 7
    first, second = global_positions(n, 0, 0, n), global_positions(n, 0, n, n)
    assert sorted(first) == sorted(second) == list(range(n))
    assert first != second
    assert global_positions(n, 0, 3, 6) == (first + second)[3:9]  # slices straddle epoch boundaries


def test_ranks_split_each_global_batch_and_resume_starts_mid_stream():
    n, b = 10, 2
    ranks = [ResumableBatchSampler(n, b, seed=1, start_micro=0, end_micro=5, rank=r, world_size=2) for r in (0, 1)]
    batches = [list(s) for s in ranks]
    for micro in range(5):
        merged = batches[0][micro] + batches[1][micro]
        assert merged == global_positions(n, 1, micro * 4, 4)
    resumed = list(ResumableBatchSampler(n, b, seed=1, start_micro=3, end_micro=5, rank=1, world_size=2))
    assert resumed == batches[1][3:]


def test_step_generator_depends_only_on_seed_step_rank():
    cpu = torch.device("cpu")
    a = torch.rand(4, generator=step_generator(5, 10, 0, cpu))
    assert torch.equal(a, torch.rand(4, generator=step_generator(5, 10, 0, cpu)))
    assert not torch.equal(a, torch.rand(4, generator=step_generator(5, 11, 0, cpu)))
    assert not torch.equal(a, torch.rand(4, generator=step_generator(5, 10, 1, cpu)))


def test_dropout_cases_have_their_probabilities():
    gen = torch.Generator().manual_seed(0)
    text, audio = dropout_masks(200_000, DropoutProbs(text=0.1, audio=0.2, both=0.05), gen, "cpu")
    only_text = (text & ~audio).float().mean().item()
    only_audio = (audio & ~text).float().mean().item()
    both = (text & audio).float().mean().item()
    assert only_text == pytest.approx(0.1, abs=0.005)
    assert only_audio == pytest.approx(0.2, abs=0.005)
    assert both == pytest.approx(0.05, abs=0.005)
    none_t, none_a = dropout_masks(1000, DropoutProbs(0, 0, 0), gen, "cpu")
    assert not none_t.any() and not none_a.any()


def test_ema_warms_up_tracks_and_round_trips():
    p = torch.nn.Parameter(torch.zeros(3))
    ema = ExponentialMovingAverage([p], decay=0.99)
    with torch.no_grad():
        p.fill_(1.0)
    ema.update([p])  # first decay = min(0.99, 1/10): mostly the new value
    assert ema.shadow[0][0].item() == pytest.approx(0.9)
    state = ema.state_dict()
    other = ExponentialMovingAverage([p], decay=0.5)
    other.load_state_dict(state)
    assert other.num_updates == 1 and torch.equal(other.shadow[0], ema.shadow[0])
    ema.store([p])
    ema.copy_to([p])
    assert p[0].item() == pytest.approx(0.9)
    ema.restore([p])
    assert p[0].item() == 1.0


def test_config_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="target"):
        TrainConfig(data=tmp_path, out=tmp_path, target="drums")
    with pytest.raises(ValueError, match="dropout"):
        TrainConfig(data=tmp_path, out=tmp_path, cond_dropout_text=0.6, cond_dropout_audio=0.6)
    with pytest.raises(ValueError, match="max-steps"):
        TrainConfig(data=tmp_path, out=tmp_path, max_steps=0)


from test_model_riffusion import tiny_sd_folder  # noqa: E402,F401  (fixture: a tiny SD-format folder)


def test_objective_on_the_riffusion_path(tiny_sd_folder):  # noqa: F811
    """VAE latents, CLIP without mask, dropout and the widened conv_in: one loss + backward."""
    from diffusers import DDPMScheduler

    from stemgen.pipelines import build_pipeline
    from stemgen.training.objective import diffusion_loss

    pipe = build_pipeline("riffusion", base_model=tiny_sd_folder, stem="drums")
    images = torch.rand(2, 1, 64, 64) * 2 - 1  # any size the VAE divides; 512x512 in real use
    batch = {"target": images, "context": images.flip(-1), "instruction": ["add drums", "add beats"]}
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    gen = torch.Generator().manual_seed(0)
    loss = diffusion_loss(pipe, pipe.unet, noise_scheduler, batch, gen, DropoutProbs(0, 0, 0), torch.device("cpu"))
    loss.backward()
    assert torch.isfinite(loss)
    grad = pipe.unet.conv_in.weight.grad
    assert grad is not None and grad[:, 4:].abs().sum() > 0, "the context must reach the widened conv_in"


def test_prompt_cache_matches_the_encoder_and_encodes_each_instruction_once():
    from stemgen.pipelines import build_pipeline
    from stemgen.training.objective import PromptCache

    pipe = build_pipeline("tiny", stem="drums")
    calls: list[list[str]] = []
    encode = pipe.encode_prompt

    def counting(texts, device=None):
        calls.append(list(texts))
        return encode(texts, device)

    pipe.encode_prompt = counting
    cache = PromptCache(pipe, torch.device("cpu"), max_items=2)
    batch = ["add drums", "", "add drums", "add soft drums", "add a fill"]
    first = cache(batch)
    again = cache(batch)
    expected = encode(batch, "cpu")
    for got in (first, again):
        torch.testing.assert_close(got.hidden_states, expected.hidden_states)
        assert torch.equal(got.attention_mask, expected.attention_mask)
        assert got.use_mask == expected.use_mask
    # first call: the 4 distinct texts in one batch; second: only those past max_items=2 again
    assert calls == [["add drums", "", "add soft drums", "add a fill"], ["add soft drums", "add a fill"]]
