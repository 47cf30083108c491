"""``StemInsertionPipeline``: InstructPix2Pix-style sampling of a missing stem's spectrogram.

Given the spectrogram image of a window of music without one stem (the *context*) and an
instruction, the pipeline samples the image of the missing stem (target ``stem``) or of the full
mix (target ``mix``). The UNet sees ``concat(noisy latents, context latents)`` and the instruction
through cross-attention; classifier-free guidance has two scales (audio, text) as in
InstructPix2Pix, with the three branches run as one batched UNet call.

"Latents" are what the UNet works on: the VAE latents of the image when the pipeline has a VAE
(``riffusion``), otherwise the image folded into ``patch_size**2`` channels by pixel-unshuffle
(``compact``, ``tiny``; exact and free). ``image_to_latents``/``latents_to_image`` hide which.

The conditioning conventions training must follow (kept here, in one place):
- ``predict_noise(noisy, context, t, text)`` concatenates ``[noisy, context]`` along channels;
- dropping the audio condition = zero context latents (``null_context``);
- dropping the text condition = the empty-string embedding (``encode_prompt([""])``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from stemgen.cards import write_card
from stemgen.codec.config import CodecConfig
from stemgen.models.text import TextEmbeddings, encode_text
from stemgen.pipelines.model_card import render_model_card
from stemgen.pipelines.schedulers import (
    DEFAULT_AUDIO_GUIDANCE,
    DEFAULT_SCHEDULER,
    DEFAULT_TEXT_GUIDANCE,
    make_scheduler,
)

TARGETS = ("stem", "mix")


@dataclass
class StemInsertionOutput(BaseOutput):
    """``images``: ``(B, 1, n_mels, num_frames)`` in [-1, 1] (torch, or numpy with ``output_type="np"``;
    ``None`` with ``output_type="latent"``); ``latents``: the final UNet-space sample."""

    images: torch.Tensor | np.ndarray | None
    latents: torch.Tensor


class StemInsertionPipeline(DiffusionPipeline):
    """Text-guided insertion of a missing stem into a spectrogram window.

    Components: ``unet`` (``UNet2DConditionModel``, ``2C`` inputs, ``C`` outputs), ``scheduler``
    (the training noise schedule; samplers are built from its config), ``text_encoder`` and
    ``tokenizer`` (CLIP or BERT-like), optional ``vae`` (``AutoencoderKL``). ``stemgen`` is the
    metadata dict stored in ``model_index.json``: codec config, preset, stem, target, patch size,
    text length, training data summary, license, base model.
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"
    _optional_components = ["vae"]

    def __init__(self, unet, scheduler, text_encoder, tokenizer, vae=None, stemgen: dict[str, Any] | None = None):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer, vae=vae)
        meta = dict(stemgen or {})
        meta.setdefault("target", "stem")
        if meta["target"] not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, not {meta['target']!r}")
        meta.setdefault("patch_size", 1)
        meta.setdefault("text_max_length", getattr(tokenizer, "model_max_length", 77) if tokenizer else 77)
        self.register_to_config(stemgen=meta)

    # ------------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.config.stemgen)

    def update_metadata(self, **values: Any) -> None:
        """Merge ``values`` into the stemgen metadata (e.g. ``training={...}`` after training)."""
        self.register_to_config(stemgen={**self.metadata, **values})

    @property
    def codec_config(self) -> CodecConfig:
        return CodecConfig.from_dict(self.metadata["codec"])

    @property
    def target(self) -> str:
        return self.metadata["target"]

    # ------------------------------------------------------------------ latent space
    @property
    def latent_channels(self) -> int:
        if self.vae is not None:
            return int(self.vae.config.latent_channels)
        return int(self.metadata["patch_size"]) ** 2

    @property
    def downsample_factor(self) -> int:
        """Image pixels per latent position along each axis."""
        if self.vae is not None:
            return 2 ** (len(self.vae.config.block_out_channels) - 1)
        return int(self.metadata["patch_size"])

    @property
    def latent_normalization(self) -> tuple[float, float]:
        """``(shift, scale)`` of VAE-less latents: ``latents = (patches - shift) * scale``.

        Spectrogram images are far from the unit-variance data a noise schedule assumes (a drums
        stem image has mean ~0.68 and std ~0.18 in [-1, 1]: mostly silence), which hides their
        structure under the noise until the last sampling steps; measured on the training targets
        when a model is trained from scratch (``stemgen.training``), as Stable Diffusion's VAE
        ``scaling_factor`` was. ``(0, 1)`` for models saved before this existed.
        """
        meta = self.metadata
        return float(meta.get("latent_shift", 0.0)), float(meta.get("latent_scale", 1.0))

    def image_to_latents(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B, 1, H, W)`` images in [-1, 1] -> UNet-space latents.

        With a VAE the grey image is repeated to RGB (Riffusion's images are grey RGB) and the
        posterior mode is used (deterministic, as InstructPix2Pix does for its context image);
        pass ``generator`` to sample the posterior instead (training targets).
        """
        if self.vae is None:
            shift, scale = self.latent_normalization
            return (F.pixel_unshuffle(images, self.downsample_factor) - shift) * scale
        x = images.to(self.vae.device, self.vae.dtype).expand(-1, 3, -1, -1)
        dist = self.vae.encode(x).latent_dist
        latents = dist.sample(generator) if generator is not None else dist.mode()
        return latents * self.vae.config.scaling_factor

    def latents_to_image(self, latents: torch.Tensor) -> torch.Tensor:
        """UNet-space latents -> ``(B, 1, H, W)`` images clamped to [-1, 1]."""
        if self.vae is None:
            shift, scale = self.latent_normalization
            image = F.pixel_shuffle(latents / scale + shift, self.downsample_factor)
        else:
            latents = latents.to(self.vae.device, self.vae.dtype) / self.vae.config.scaling_factor
            image = self.vae.decode(latents).sample.mean(dim=1, keepdim=True)
        return image.clamp(-1.0, 1.0)

    def mask_to_latents(self, mask: torch.Tensor, height: int | None = None) -> torch.Tensor:
        """``(B, 1, H, W)`` (or per-frame ``(B, 1, 1, W)``, expanded to ``height`` rows, default the
        codec's ``n_mels``) known-region mask, 1 = known -> latent resolution.

        A latent position counts as known only when every pixel it covers is known (min-pool), so
        the constraint never reaches into the region to be generated.
        """
        f = self.downsample_factor
        mask = mask.float()
        if mask.shape[-2] == 1:  # a per-frame mask
            mask = mask.expand(-1, -1, height or self.codec_config.n_mels, -1)
        return 1.0 - F.max_pool2d(1.0 - mask, kernel_size=f, stride=f)

    @staticmethod
    def null_context(context_latents: torch.Tensor) -> torch.Tensor:
        """The dropped audio condition (InstructPix2Pix convention: zeros in latent space)."""
        return torch.zeros_like(context_latents)

    # ------------------------------------------------------------------ conditioning
    def encode_prompt(self, instructions: list[str], device: torch.device | str | None = None) -> TextEmbeddings:
        """Instructions -> ``TextEmbeddings`` (``(B, L, D)`` states + mask); ``[""]`` is the unconditional one."""
        device = device or self._execution_device
        emb = encode_text(self.text_encoder, self.tokenizer, instructions, int(self.metadata["text_max_length"]), device)
        emb.hidden_states = emb.hidden_states.to(self.unet.dtype)
        return emb

    def predict_noise(
        self, noisy_latents: torch.Tensor, context_latents: torch.Tensor, timestep, text: TextEmbeddings
    ) -> torch.Tensor:
        """The UNet's prediction for ``concat(noisy, context)`` (the one place this layout is defined)."""
        x = torch.cat([noisy_latents, context_latents.to(noisy_latents.dtype)], dim=1)
        return self.unet(
            x, timestep, encoder_hidden_states=text.hidden_states, encoder_attention_mask=text.unet_mask
        ).sample

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        context: torch.Tensor,
        instruction: str | list[str],
        *,
        context_is_latents: bool = False,
        audio_guidance_scale: float = DEFAULT_AUDIO_GUIDANCE,
        text_guidance_scale: float = DEFAULT_TEXT_GUIDANCE,
        num_inference_steps: int = 25,
        scheduler: str | Any | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        known_image: torch.Tensor | None = None,
        known_mask: torch.Tensor | None = None,
        output_type: str = "pt",
        return_dict: bool = True,
    ) -> StemInsertionOutput | tuple:
        """Sample the missing stem (or the full mix, for ``target="mix"`` models) for a batch of windows.

        Args:
            context: the windows without the stem: ``(B, 1, n_mels, num_frames)`` spectrogram images in
                [-1, 1] from the model's codec, or UNet-space latents with ``context_is_latents=True``.
            instruction: one instruction for all windows, or one per window (``len == B``).
            context_is_latents: ``context`` is already in UNet space (skips ``image_to_latents``).
            audio_guidance_scale: InstructPix2Pix image guidance ``s_A``: how strongly to follow the
                context audio (1 = plain conditional; higher = closer fit to the context).
            text_guidance_scale: text guidance ``s_T``: how strongly to follow the instruction.
                The guided prediction is ``e(0,0) + s_A (e(A,0) - e(0,0)) + s_T (e(A,T) - e(A,0))``, with the
                three branches (full, text dropped, both dropped) batched in one UNet call; with both
                scales at 1 only the full branch runs.
            num_inference_steps: denoising steps (25 is a good default for ``dpm``).
            scheduler: sampler name (``"ddim"``, ``"dpm"`` = DPM-Solver++ 2M, ``"euler_a"``; default
                ``"dpm"``) or a diffusers scheduler instance; built from the model's noise schedule.
            generator: ``torch.Generator`` (or one per window) for the initial noise and ancestral
                samplers: the same seed gives the same output.
            latents: initial noise in UNet space, ``(B, C, h, w)``, instead of drawing it.
            known_image: inpainting constraint: ``(B, 1, n_mels, num_frames)`` images whose region
                ``known_mask == 1`` the output must keep (e.g. the previous window's generated stem in
                the overlap). At every step that region of ``x_t`` is replaced with the known image
                noised to the same level, so the rest is generated to continue it seamlessly.
            known_mask: ``(B, 1, n_mels, num_frames)`` or per-frame ``(B, 1, 1, num_frames)``, 1 = known.
            output_type: ``"pt"`` (torch images), ``"np"`` (numpy images) or ``"latent"`` (no decoding).
            return_dict: return a ``StemInsertionOutput`` rather than a tuple ``(images, latents)``.

        Returns:
            ``StemInsertionOutput(images, latents)``: images ``(B, 1, n_mels, num_frames)`` in [-1, 1].
        """
        device = self._execution_device
        dtype = self.unet.dtype

        # 1. context in UNet space
        context = context.to(device)
        context_latents = context if context_is_latents else self.image_to_latents(context)
        context_latents = context_latents.to(dtype)
        batch = context_latents.shape[0]

        # 2. instructions and the unconditional (empty) instruction
        instructions = [instruction] * batch if isinstance(instruction, str) else list(instruction)
        if len(instructions) == 1 and batch > 1:
            instructions = instructions * batch
        if len(instructions) != batch:
            raise ValueError(f"got {len(instructions)} instructions for {batch} windows")
        text = self.encode_prompt(instructions, device)
        guided = not (audio_guidance_scale == 1.0 and text_guidance_scale == 1.0)
        if guided:
            empty = self.encode_prompt([""], device)
            empty = TextEmbeddings(
                empty.hidden_states.expand(batch, -1, -1), empty.attention_mask.expand(batch, -1), empty.use_mask
            )
            # branch order: (audio+text, audio only, nothing)
            text = TextEmbeddings.cat([text, empty, empty])
            context_latents = torch.cat([context_latents, context_latents, self.null_context(context_latents)])

        # 3. sampler and timesteps (a fresh scheduler per call: the pipeline's own one is never mutated)
        if scheduler is None or isinstance(scheduler, str):
            sampler = make_scheduler(scheduler or DEFAULT_SCHEDULER, self.scheduler.config)
        else:
            sampler = scheduler
        sampler.set_timesteps(num_inference_steps, device=device)
        timesteps = sampler.timesteps

        # 4. initial noise
        shape = (batch, self.latent_channels, *context_latents.shape[-2:])
        noise = latents if latents is not None else randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        noise = noise.to(device, dtype)
        x = noise * sampler.init_noise_sigma

        # 5. optional inpainting constraint
        known_latents = mask_l = None
        if known_image is not None:
            if known_mask is None:
                raise ValueError("known_image needs known_mask")
            known_latents = self.image_to_latents(known_image.to(device)).to(dtype)
            mask_l = self.mask_to_latents(known_mask.to(device), known_image.shape[-2]).to(dtype)
            x = self._impose(x, known_latents, mask_l, noise, sampler, timesteps[:1])

        # 6. denoising loop
        for i, t in enumerate(self.progress_bar(timesteps)):
            x_in = torch.cat([x] * 3) if guided else x
            x_in = sampler.scale_model_input(x_in, t)
            eps = self.predict_noise(x_in, context_latents, t, text)
            if guided:
                e_full, e_audio, e_none = eps.chunk(3)
                eps = (
                    e_none
                    + audio_guidance_scale * (e_audio - e_none)
                    + text_guidance_scale * (e_full - e_audio)
                )
            x = sampler.step(eps, t, x, generator=generator).prev_sample
            if known_latents is not None:
                last = i == len(timesteps) - 1
                x = self._impose(x, known_latents, mask_l, noise, sampler, None if last else timesteps[i + 1 : i + 2])

        # 7. decode
        if output_type == "latent":
            images = None
        else:
            images = self.latents_to_image(x).float()
            if output_type == "np":
                images = images.cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return images, x
        return StemInsertionOutput(images=images, latents=x)

    @staticmethod
    def _impose(x, known, mask, noise, sampler, t_next):
        """Replace the known region of ``x`` with ``known`` noised to ``t_next`` (clean when ``None``)."""
        target = known if t_next is None else sampler.add_noise(known, noise, t_next)
        return mask * target + (1.0 - mask) * x

    # ------------------------------------------------------------------ save / load
    def save_pretrained(self, save_directory: str | Path, **kwargs) -> None:
        """Save every component as safetensors, the stemgen metadata and a model card ``README.md``."""
        kwargs["safe_serialization"] = True
        super().save_pretrained(save_directory, **kwargs)
        components = {
            name: type(module).__name__ for name, module in self.components.items() if module is not None
        }
        write_card(save_directory, render_model_card(self.metadata, components))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a saved model; safetensors only (``use_safetensors=True``) unless overridden explicitly.

        Bundled models (``stemgen.pipelines.bundle``) leave the text encoder to its package and store
        the UNet in fp16: the text encoder is filled in from the package, and without an explicit
        ``torch_dtype`` the pipeline comes back in fp32 like a full model.
        """
        from stemgen.pipelines.bundle import packaged_components

        kwargs.setdefault("use_safetensors", True)
        kwargs.update(packaged_components(pretrained_model_name_or_path, kwargs))
        pipe = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        if kwargs.get("torch_dtype") is None and pipe.unet.dtype != torch.float32:
            pipe.unet.to(torch.float32)
        return pipe
