"""``generate_stem``: add a stem to a whole song with a stem-insertion pipeline.

Steps: load (any rate/channels) -> mono at the codec rate -> overlapping windows -> context
spectrogram images -> sample the stem's image (windows batched) with continuity between windows
-> Griffin-Lim back to audio -> overlap-add -> back to the input rate, trimmed to the input length
(sample-aligned) -> mix = input + stem (upmixed to the input's channels), made to fit under full
scale with the gain change reported.

Continuity between windows:
- ``"inpaint"`` (default): the overlap of a window with the previous one is constrained to the
  previous window's generated image (the known region of ``x_t`` is replaced by the known image
  noised to level ``t`` at every step), and Griffin-Lim starts from the previous audio's phase
  there; the overlap is then cross-faded. Windows in a chain run in order (see ``windows``).
- ``"crossfade"``: windows are generated independently and cross-faded over the overlap.

Target ``mix`` models generate the full mix; the stem is then ``decoded mix - context`` per window
(in the codec's sample rate). Because Griffin-Lim's phase differs from the input's, some of the
context leaks into such a stem; ``stem`` models avoid this and are the default.

Only the windows of one batch exist as images at any time (long files are streamed through the
model); the song itself is kept as audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemgen.audio.io import MAX_DURATION_S, MIN_DURATION_S, load_audio, resample, too_long_reason
from stemgen.audio.mixing import GainChange, fit_headroom, match_length
from stemgen.errors import StemgenInputError
from stemgen.generation.seams import seam_report
from stemgen.generation.windows import fade_weights, plan_windows, schedule
from stemgen.pipelines.schedulers import DEFAULT_AUDIO_GUIDANCE, DEFAULT_SCHEDULER, DEFAULT_TEXT_GUIDANCE

CONTINUITY = ("inpaint", "crossfade")
DEFAULT_OVERLAP_S = 0.64  # capped at 1/8 of a window (so short-window models do not double their work)


@dataclass
class GenerationResult:
    """Output of ``generate_stem``; audio is float32 ``(channels, samples)`` at ``sample_rate``.

    ``stem_audio`` is mono ``(1, n)``; ``mix_audio`` has the input's channels: ``input + stem`` times
    ``mix_gain.gain`` when the sum had to be turned down to fit under full scale (else exactly the
    sum). ``stem_gain`` is set when the stem alone would clip (then the *written* stem is scaled,
    the mix is not affected).
    """

    stem_audio: np.ndarray
    mix_audio: np.ndarray
    sample_rate: int
    timings: dict[str, float]
    mix_gain: GainChange | None = None
    stem_gain: GainChange | None = None
    seams: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def generate_stem(
    pipeline,
    audio: str | Path | np.ndarray,
    stem: str | None = None,
    instruction: str = "",
    *,
    sample_rate: int | None = None,
    audio_guidance_scale: float = DEFAULT_AUDIO_GUIDANCE,
    text_guidance_scale: float = DEFAULT_TEXT_GUIDANCE,
    num_inference_steps: int = 25,
    scheduler: str = DEFAULT_SCHEDULER,
    seed: int = 0,
    overlap_s: float | None = None,
    batch_size: int = 1,
    continuity: str = "inpaint",
    griffin_lim_iters: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    source: str | None = None,
    max_duration_s: float = MAX_DURATION_S,
) -> GenerationResult:
    """Generate the pipeline's stem for a whole song and the new mix.

    Args:
        pipeline: a loaded ``StemInsertionPipeline`` (its device/dtype are used as they are).
        audio: a path to an audio file (any format ``load_audio`` reads, any rate/channels), or a
            float array ``(channels, samples)``/``(samples,)`` with ``sample_rate``.
        stem: the stem to add; must be the one the model was trained for (``None``: the model's).
        instruction: the text instruction ("Add reggae beats").
        audio_guidance_scale, text_guidance_scale, num_inference_steps, scheduler: see
            ``StemInsertionPipeline.__call__``.
        seed: the same seed (and batch size) gives the same output.
        overlap_s: overlap between windows in seconds (default 0.64 s or 1/8 window if shorter; at
            most half a window; rounded to whole latent columns).
        batch_size: windows per UNet call (use 8-32 on a GPU).
        continuity: ``"inpaint"`` or ``"crossfade"`` (see the module doc).
        griffin_lim_iters: phase reconstruction iterations (default: the codec's).
        progress: called as ``progress(done_windows, total_windows)``.
        source: the name errors and ``info`` use for array input (e.g. the file it came from).
        max_duration_s: refuse longer input (memory grows with the song: the whole song, its
            stem and its mix are held as audio; ``stemgen generate --max-duration``).

    Raises:
        StemgenInputError: unreadable, empty, truncated, too short, too long or non-finite audio
            (names the file).
    """
    t_start = time.perf_counter()
    meta = pipeline.metadata
    model_stem = meta.get("stem")
    if stem is not None and model_stem is not None and stem != model_stem:
        raise ValueError(f"this model adds {model_stem}, not {stem} (pick a {stem} model with --model)")
    if continuity not in CONTINUITY:
        raise ValueError(f"continuity must be one of {CONTINUITY}, not {continuity!r}")
    codec_cfg = pipeline.codec_config
    source = str(audio) if isinstance(audio, (str, Path)) else (source or "<array>")

    # 1. input audio, and its mono version at the codec rate
    original, in_sr = _load(audio, sample_rate, source, max_duration_s)
    n_in = original.shape[-1]
    if n_in / in_sr < MIN_DURATION_S:
        raise StemgenInputError(source, f"too short ({n_in / in_sr:.3f} s; need at least {MIN_DURATION_S} s)")
    if n_in / in_sr > max_duration_s:
        raise StemgenInputError(source, too_long_reason(n_in / in_sr, max_duration_s))
    mono = resample(original.mean(axis=0, keepdims=True), in_sr, codec_cfg.sample_rate)[0]
    t_loaded = time.perf_counter()

    # 2. windows
    from stemgen.codec import SpectrogramCodec
    from stemgen.codec.phase import random_phase

    device = pipeline._execution_device
    codec = SpectrogramCodec(codec_cfg, device=device)
    plan = plan_windows(mono.size, codec_cfg.window_samples, codec_cfg.hop_length,
                        _overlap_frames(overlap_s, codec_cfg, pipeline.downsample_factor))
    padded = np.zeros(plan.padded_length, dtype=np.float32)
    padded[: mono.size] = mono
    out = np.zeros(plan.padded_length, dtype=np.float32)
    chained = continuity == "inpaint" and plan.overlap > 0
    ov_frames = plan.overlap // codec_cfg.hop_length
    hop_frames = plan.hop // codec_cfg.hop_length

    # the previous window of each chain: generated image and generated (decoded) audio
    prev: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    t_sample = t_decode = t_encode = 0.0
    done = 0
    for batch in schedule(plan.n_windows, batch_size, chained):
        t0 = time.perf_counter()
        ctx_audio = torch.from_numpy(np.stack([padded[plan.start(k) : plan.start(k) + plan.window] for k in batch]))
        context = codec.audio_to_image(ctx_audio.to(device))
        t1 = time.perf_counter()

        known_image = known_mask = None
        has_prev = [chained and (k - 1) in prev for k in batch]
        if any(has_prev):
            known_image = torch.zeros_like(context)
            known_mask = torch.zeros(len(batch), 1, 1, codec_cfg.num_frames, device=context.device)
            for i, k in enumerate(batch):
                if has_prev[i]:
                    known_image[i, ..., :ov_frames] = prev[k - 1][0][..., hop_frames:]
                    known_mask[i, ..., :ov_frames] = 1.0
        generators = [torch.Generator("cpu").manual_seed(seed * 100_003 + k) for k in batch]
        images = pipeline(
            context, instruction, audio_guidance_scale=audio_guidance_scale,
            text_guidance_scale=text_guidance_scale, num_inference_steps=num_inference_steps,
            scheduler=scheduler, generator=generators, known_image=known_image, known_mask=known_mask,
        ).images.float()
        t2 = time.perf_counter()

        # phase: random (fixed per window) or, in a chain, the previous audio's phase in the overlap
        phase = torch.stack([
            random_phase((1, codec.n_freqs, codec_cfg.num_frames), device, seed=seed * 100_003 + k)[0] for k in batch
        ])
        for i, k in enumerate(batch):
            if has_prev[i]:
                tail = torch.zeros(plan.window, device=device)
                tail[: plan.overlap] = prev[k - 1][1][plan.hop :]
                phase[i, :, :ov_frames] = codec.audio_to_phase(tail)[0, :, :ov_frames]
        generated = codec.image_to_audio(images, n_iter=griffin_lim_iters, init_phase=phase)
        stems = generated - ctx_audio.to(generated) if pipeline.target == "mix" else generated
        for i, k in enumerate(batch):
            s = plan.start(k)
            out[s : s + plan.window] += fade_weights(plan, k) * stems[i].cpu().numpy()
        prev = {k: (images[i], generated[i]) for i, k in enumerate(batch)} if chained else {}
        t3 = time.perf_counter()
        t_encode += t1 - t0
        t_sample += t2 - t1
        t_decode += t3 - t2
        done += len(batch)
        if progress is not None:
            progress(done, plan.n_windows)

    # 3. back to the input's rate and length; mix
    t_post = time.perf_counter()
    stem_mono = out[: mono.size]
    seams = seam_report(stem_mono, plan) if plan.n_windows > 1 else {"seams": 0}
    stem_in = match_length(resample(stem_mono[None], codec_cfg.sample_rate, in_sr), n_in).astype(np.float32)
    # Long songs: drop the codec-rate working copies before the mix is made (peak memory).
    del stem_mono, out, padded, mono, prev
    mix = original + stem_in  # broadcasts the mono stem to every input channel
    mix, mix_gain = fit_headroom(mix)
    stem_out, stem_gain = fit_headroom(stem_in)
    t_end = time.perf_counter()

    duration = n_in / in_sr
    total = t_end - t_start
    timings = {
        "load_s": round(t_loaded - t_start, 3),
        "encode_s": round(t_encode, 3),
        "sample_s": round(t_sample, 3),
        "decode_s": round(t_decode, 3),
        "postprocess_s": round(t_end - t_post, 3),
        "total_s": round(total, 3),
        "audio_s": round(duration, 3),
        "realtime_factor": round(duration / total, 3) if total > 0 else None,
    }
    info = {
        "source": source, "stem": model_stem, "target": pipeline.target, "instruction": instruction,
        "windows": plan.n_windows, "window_s": codec_cfg.window_seconds,
        "overlap_s": plan.overlap / codec_cfg.sample_rate, "continuity": continuity, "batch_size": batch_size,
        "steps": num_inference_steps, "scheduler": scheduler, "seed": seed,
        "audio_guidance_scale": audio_guidance_scale, "text_guidance_scale": text_guidance_scale,
        "input_sample_rate": in_sr, "input_channels": int(original.shape[0]), "codec": codec_cfg.name,
    }
    return GenerationResult(
        stem_audio=stem_out, mix_audio=mix.astype(np.float32), sample_rate=in_sr, timings=timings,
        mix_gain=mix_gain, stem_gain=stem_gain, seams=seams, info=info,
    )


def _load(audio: str | Path | np.ndarray, sample_rate: int | None, source: str,
          max_duration_s: float) -> tuple[np.ndarray, int]:
    if isinstance(audio, (str, Path)):
        return load_audio(audio, max_duration_s=max_duration_s)
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    arr = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if arr.size == 0:
        raise StemgenInputError(source, "audio has no samples")
    if not np.all(np.isfinite(arr)):
        raise StemgenInputError(source, "audio contains NaN or infinite samples")
    return arr, int(sample_rate)


def _overlap_frames(overlap_s: float | None, codec_cfg, multiple: int) -> int:
    """Overlap in whole frames, a multiple of the latent downsampling (so whole latent columns are known)."""
    if overlap_s is None:
        overlap_s = min(DEFAULT_OVERLAP_S, codec_cfg.window_seconds / 8)
    frames = int(round(overlap_s * codec_cfg.sample_rate / codec_cfg.hop_length))
    frames = (frames // multiple) * multiple
    return max(0, min(frames, (codec_cfg.num_frames // 2 // multiple) * multiple))
