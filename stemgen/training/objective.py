"""The InstructPix2Pix training objective on spectrogram images.

One call = one micro-batch: encode target and context into UNet space, drop conditions at random,
noise the target at random timesteps, predict, and return the MSE to the scheduler's target
(the noise for ``epsilon`` models, the velocity for ``v_prediction`` ones).

Conditioning dropout follows InstructPix2Pix, with the three cases as separate probabilities:
each example draws ``r ~ U[0, 1)`` and falls in
``[0, p_text)`` text dropped | ``[p_text, p_text + p_both)`` both dropped |
``[.., .. + p_audio)`` audio dropped | otherwise nothing dropped.
A dropped text is the empty-string embedding and a dropped audio the pipeline's ``null_context``
(zero latents): exactly the inputs of the unconditional branches the pipeline batches at sampling,
which is what makes its two guidance scales meaningful.

All randomness comes from the ``generator`` passed in, which the loop derives from
``(seed, micro-step, rank)``: a resumed run draws the same noise, timesteps and masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stemgen.models.text import TextEmbeddings


@dataclass(frozen=True)
class DropoutProbs:
    text: float = 0.05
    audio: float = 0.05
    both: float = 0.05


class PromptCache:
    """``pipe.encode_prompt`` memoised per instruction, for training.

    The text encoder is frozen, so an instruction always encodes to the same states; encoding each
    distinct one once saves the encoder's share of every later step (about 15% of a
    ``compact-small`` step on a CPU, where MiniLM costs more than the small UNet's forward pass).
    Past ``max_items`` instructions new ones are encoded every time rather than stored.
    """

    def __init__(self, pipe, device: torch.device, max_items: int = 20_000):
        self.pipe, self.device, self.max_items = pipe, device, max_items
        self._store: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._use_mask = True

    def __call__(self, instructions: list[str]) -> TextEmbeddings:
        missing = [t for t in dict.fromkeys(instructions) if t not in self._store]
        fresh: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if missing:
            emb = self.pipe.encode_prompt(missing, self.device)
            self._use_mask = emb.use_mask
            fresh = {t: (emb.hidden_states[i], emb.attention_mask[i]) for i, t in enumerate(missing)}
            room = self.max_items - len(self._store)
            self._store.update(list(fresh.items())[: max(room, 0)])
        rows = [self._store.get(t) or fresh[t] for t in instructions]
        return TextEmbeddings(torch.stack([h for h, _ in rows]), torch.stack([m for _, m in rows]), self._use_mask)


def dropout_masks(batch: int, probs: DropoutProbs, generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(drop_text, drop_audio)`` boolean masks of shape ``(batch,)``."""
    r = torch.rand(batch, generator=generator, device=device)
    drop_text = r < probs.text + probs.both
    drop_audio = (r >= probs.text) & (r < probs.text + probs.both + probs.audio)
    return drop_text, drop_audio


def diffusion_loss(
    pipe,
    unet,
    noise_scheduler,
    batch: dict,
    generator: torch.Generator,
    probs: DropoutProbs,
    device: torch.device,
    encode_prompt: Callable[[list[str]], TextEmbeddings] | None = None,
) -> torch.Tensor:
    """Mean squared error of the UNet's prediction for one micro-batch (a scalar, float32).

    ``pipe`` supplies the conventions (``image_to_latents``, ``null_context``, ``encode_prompt``,
    ``predict_noise``); ``unet`` is the module to run, which under DDP is the wrapped one, so the
    gradient all-reduce hooks fire. ``encode_prompt`` replaces ``pipe.encode_prompt`` (e.g. a
    ``PromptCache``).
    """
    target_images = batch["target"].to(device, non_blocking=True)
    context_images = batch["context"].to(device, non_blocking=True)
    instructions = list(batch["instruction"])
    n = target_images.shape[0]

    with torch.no_grad():
        # posterior sample for the target (as InstructPix2Pix), mode for the context; both exact
        # pixel-unshuffles for VAE-less presets
        latents = pipe.image_to_latents(target_images, generator=generator if pipe.vae is not None else None)
        context = pipe.image_to_latents(context_images)
        latents = latents.float()
        context = context.float()

        drop_text, drop_audio = dropout_masks(n, probs, generator, device)
        instructions = ["" if drop else text for text, drop in zip(instructions, drop_text.tolist())]
        text = encode_prompt(instructions) if encode_prompt else pipe.encode_prompt(instructions, device)
        keep = (~drop_audio).to(context.dtype).view(-1, 1, 1, 1)
        context = context * keep + pipe.null_context(context) * (1.0 - keep)

        noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (n,), generator=generator, device=device
        ).long()
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        prediction_type = noise_scheduler.config.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            raise ValueError(f"unsupported prediction type '{prediction_type}'")

    # predict_noise is the pipeline's single definition of the input layout; calling it with the
    # training module (maybe DDP-wrapped) keeps training and sampling in step by construction.
    pred = type(pipe).predict_noise(_UnetView(unet), noisy, context, timesteps, text)
    return F.mse_loss(pred.float(), target.float())


class _UnetView:
    """Stands in for the pipeline in ``predict_noise``, exposing the module to run as ``unet``."""

    def __init__(self, unet):
        self.unet = unet
