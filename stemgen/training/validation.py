"""Validation: a deterministic loss on the valid split, and a few windows rendered to audio.

The loss uses fixed noise, timesteps and no conditioning dropout (seeded by the validation
window's index), so numbers from different steps, or a resumed run, are comparable. The rendered
windows go through the whole inference path (pipeline sampling with both guidance scales, then
the codec and Griffin-Lim), are logged to tensorboard as audio and spectrogram images, and are
written as WAV under ``MODEL/validation/step-XXXXXX/``. Runs on the main process only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stemgen.training.objective import DropoutProbs, diffusion_loss
from stemgen.training.order import derive_seed

NO_DROPOUT = DropoutProbs(0.0, 0.0, 0.0)
MAX_LOSS_WINDOWS = 64


@torch.no_grad()
def validation_loss(pipe, noise_scheduler, dataset, device, seed: int, batch_size: int) -> float:
    """Mean denoising loss over up to ``MAX_LOSS_WINDOWS`` valid windows, with fixed randomness."""
    from torch.utils.data import default_collate

    n = min(len(dataset), MAX_LOSS_WINDOWS)
    total, count = 0.0, 0
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        gen = torch.Generator(device=device).manual_seed(derive_seed(seed, 0x7A11D, start))
        loss = diffusion_loss(pipe, pipe.unet, noise_scheduler, default_collate(items), gen, NO_DROPOUT, device)
        total += float(loss) * len(items)
        count += len(items)
    return total / max(count, 1)


@torch.no_grad()
def render_windows(pipe, dataset, count: int, steps: int, seed: int, device) -> list[dict]:
    """Sample ``count`` valid windows; returns per window the images and audio of context/target/generated."""
    from stemgen.codec import SpectrogramCodec

    codec = SpectrogramCodec(pipe.codec_config, device=device)
    rendered = []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        gen = torch.Generator(device=device).manual_seed(derive_seed(seed, 0x4E4D, i))
        out = pipe(item["context"][None].to(device), item["instruction"], num_inference_steps=steps, generator=gen)
        images = {"context": item["context"][None], "target": item["target"][None], "generated": out.images}
        audio = {name: codec.image_to_audio(img.to(device).float())[0].cpu().numpy() for name, img in images.items()}
        rendered.append({"instruction": item["instruction"], "images": images, "audio": audio})
    return rendered


def log_rendered(rendered: list[dict], writer, out: Path, step: int, sample_rate: int) -> None:
    """Write WAVs under ``out/validation/step-XXXXXX`` and, with a tensorboard ``writer``, audio + images."""
    from stemgen.audio.io import write_audio

    folder = out / "validation" / f"step-{step:06d}"
    for i, item in enumerate(rendered):
        for name, audio in item["audio"].items():
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            safe = audio / peak * 0.98 if peak > 0.98 else audio  # Griffin-Lim can overshoot
            write_audio(folder / f"{i}_{name}.wav", safe, sample_rate)
            if writer is not None:
                writer.add_audio(f"validation/{i}/{name}", torch.from_numpy(safe)[None], step, sample_rate=sample_rate)
        if writer is not None:
            # context | target | generated side by side, silence white as in the codec's images
            strip = torch.cat([item["images"][k][0].float().cpu() for k in ("context", "target", "generated")], dim=-1)
            writer.add_image(f"validation/{i}/spectrograms", (strip + 1.0) / 2.0, step)
            writer.add_text(f"validation/{i}/instruction", item["instruction"], step)
