"""Train one stem's lane-diffusion model on subtractive examples from MIDI folders.

One readable loop on purpose (CPU-sized runs of minutes): random windows of random songs, the
stem's own context block zeroed and each other role dropped with ``role_drop`` probability (so the
model also serves incomplete arrangements: guitar only → bass), the text dropped with
``text_drop`` probability (classifier-free guidance), and a known span at one or both window ends
in half the batches (what continuity between windows asks of it at generation time).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .examples import SongExample
from .features import role_slices
from .lanes import ROLES
from .model import LaneDenoiser, MidiModelConfig, alpha_sigma, save_model
from .sampling import sample_lanes

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-3
    ema_decay: float = 0.995
    text_drop: float = 0.15
    role_drop: float = 0.2
    known_prob: float = 0.5
    time_limit_s: float | None = None  # CPU seconds of this process (a shared machine's wall clock says little)
    seed: int = 0


class WindowSampler:
    """Random training windows (context, target, text index) from a list of songs."""

    def __init__(self, songs: list[SongExample], stem: str, window: int, text_index: dict[str, int], seed: int):
        self.songs = [s for s in songs if stem in s.targets]
        if not self.songs:
            raise ValueError(f"no training song has a {stem} part")
        self.stem, self.window, self.text_index = stem, window, text_index
        lengths = np.array([s.n_steps for s in self.songs], dtype=np.float64)
        self.p = lengths / lengths.sum()  # longer songs give more windows
        self.rng = np.random.default_rng(seed)
        self.slices = role_slices()

    def window_of(self, song: SongExample, start: int) -> tuple[np.ndarray, np.ndarray]:
        """``(context, target)`` for ``window`` steps from ``start``, padded with silence."""
        end = start + self.window
        ctx = song.context[:, start:end]
        tgt = song.targets[self.stem][:, start:end]
        pad = self.window - ctx.shape[1]
        if pad > 0:
            ctx = np.pad(ctx, ((0, 0), (0, pad)))
            tgt = np.pad(tgt, ((0, 0), (0, pad)), constant_values=-1.0)
        ctx = ctx.copy()
        ctx[self.slices[self.stem]] = 0.0
        return ctx, tgt

    def batch(self, size: int, role_drop: float, known_prob: float) -> dict[str, torch.Tensor]:
        ctxs, tgts, texts, masks = [], [], [], []
        for i in self.rng.choice(len(self.songs), size=size, p=self.p):
            song = self.songs[i]
            start = int(self.rng.integers(0, max(1, song.n_steps - self.window // 2)))
            ctx, tgt = self.window_of(song, start)
            for role in ROLES:
                if role != self.stem and self.rng.random() < role_drop:
                    ctx[self.slices[role]] = 0.0
            mask = np.zeros((1, self.window), np.float32)
            if self.rng.random() < known_prob:
                k = int(self.rng.integers(8, self.window // 2 + 1))
                side = self.rng.integers(0, 3)  # left, right, both ends
                if side in (0, 2):
                    mask[:, :k] = 1
                if side in (1, 2):
                    mask[:, -k:] = 1
            ctxs.append(ctx)
            tgts.append(tgt)
            masks.append(mask)
            texts.append(self.text_index[f"{song.path}|{self.stem}"])
        return {
            "context": torch.from_numpy(np.stack(ctxs)),
            "target": torch.from_numpy(np.stack(tgts)),
            "mask": torch.from_numpy(np.stack(masks)),
            "text_idx": torch.tensor(texts),
        }


def diffusion_loss(model: LaneDenoiser, batch: dict, text_emb: torch.Tensor, text_drop: float) -> torch.Tensor:
    """v-prediction MSE on the unknown steps of each window."""
    x0, mask = batch["target"], batch["mask"]
    b = x0.shape[0]
    t = torch.rand(b)
    noise = torch.randn_like(x0)
    a, s = alpha_sigma(t)
    x_t = a * x0 + s * noise
    v = a * noise - s * x0
    use_text = torch.rand(b) >= text_drop
    pred = model(x_t, t, text_emb[batch["text_idx"]], x0, mask, batch["context"], use_text)
    weight = (1 - mask).expand_as(pred)
    return ((pred - v) ** 2 * weight).sum() / weight.sum().clamp(min=1)


@torch.no_grad()
def onset_f1(pred: np.ndarray, real: np.ndarray, n_onset: int) -> float:
    """F1 of predicted vs real onset cells (lanes ``[:n_onset]`` > 0) over a batch of windows."""
    p, r = pred[:, :n_onset] > 0, real[:, :n_onset] > 0
    tp = float((p & r).sum())
    return 2 * tp / max(1.0, float(p.sum() + r.sum()))


def validate(model, sampler: WindowSampler, text_emb, n: int = 48, steps: int = 8) -> dict:
    """Held-out loss and onset F1 of sampled windows against the real stem (fixed seed)."""
    state = sampler.rng
    sampler.rng = np.random.default_rng(1234)
    batch = sampler.batch(n, role_drop=0.0, known_prob=0.0)
    sampler.rng = state
    torch.manual_seed(1234)
    loss = float(diffusion_loss(model, batch, text_emb, text_drop=0.0))
    gen = torch.Generator().manual_seed(1234)
    pred = sample_lanes(model, batch["context"], text_emb[batch["text_idx"]], steps=steps, guidance=1.5, generator=gen)
    n_onset = 9 if sampler.stem == "drums" else 48
    real = batch["target"].numpy()
    return {
        "valid_loss": round(loss, 4),
        "valid_onset_f1": round(onset_f1(pred.numpy(), real, n_onset), 4),
        "valid_density_ratio": round(float((pred[:, :n_onset] > 0).sum()) / max(1.0, float((real[:, :n_onset] > 0).sum())), 3),
    }


def train_stem_model(
    train_songs: list[SongExample],
    valid_songs: list[SongExample],
    config: MidiModelConfig,
    settings: TrainSettings,
    out_dir: str | Path,
    extra_meta: dict | None = None,
    progress: bool = True,
    init_from: str | Path | None = None,
) -> dict:
    """Train, validate and save to ``out_dir``; returns the metadata written to ``config.json``.

    ``init_from``: a saved model folder to continue from (its config must match ``config``).
    """
    from tqdm import tqdm

    from .text import embed_texts

    torch.manual_seed(settings.seed)
    stem = config.stem
    keys, texts = [], []
    for song in train_songs + valid_songs:
        if stem in song.instructions:
            keys.append(f"{song.path}|{stem}")
            texts.append(song.instructions[stem])
    text_emb = torch.from_numpy(embed_texts(texts))
    index = {k: i for i, k in enumerate(keys)}
    sampler = WindowSampler(train_songs, stem, config.window, index, settings.seed)
    valid = WindowSampler(valid_songs, stem, config.window, index, settings.seed + 1) if valid_songs else None

    model = LaneDenoiser(config)
    prior_steps = 0
    if init_from:
        from .model import load_model

        start, prior = load_model(init_from)
        model.load_state_dict(start.state_dict())
        model.train().requires_grad_(True)
        prior_steps = int(prior.get("steps", 0))
    ema = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(settings.ema_decay)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(i, settings.steps) / settings.steps))
    )
    t0, c0, losses, step = time.time(), time.process_time(), [], 0
    bar = tqdm(range(settings.steps), disable=not progress, desc=f"train {stem}", leave=False)
    for step in bar:
        batch = sampler.batch(settings.batch_size, settings.role_drop, settings.known_prob)
        loss = diffusion_loss(model, batch, text_emb, settings.text_drop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.update_parameters(model)
        losses.append(float(loss.detach()))
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        if settings.time_limit_s and time.process_time() - c0 > settings.time_limit_s:
            log.info("time limit reached after %d steps", step + 1)
            break
    final = ema.module.eval()
    metrics = {"train_loss_last100": round(float(np.mean(losses[-100:])), 4)}
    if valid is not None:
        metrics.update(validate(final, valid, text_emb))
    meta = {
        "steps": prior_steps + step + 1,
        "continued_from_steps": prior_steps,
        "batch_size": settings.batch_size,
        "train_seconds": round(time.time() - t0, 1),
        "train_cpu_seconds": round(time.process_time() - c0, 1),
        "train_songs": len(sampler.songs),
        "valid_songs": len(valid.songs) if valid else 0,
        "metrics": metrics,
        "parameters": sum(p.numel() for p in final.parameters()),
        **(extra_meta or {}),
    }
    save_model(final, out_dir, meta)
    return meta


def train_from_folder(
    root: str | Path,
    stem: str,
    out_dir: str | Path,
    settings: TrainSettings,
    config: MidiModelConfig | None = None,
    data_note: str = "",
    max_songs: int | None = None,
    progress: bool = True,
    init_from: str | Path | None = None,
) -> dict:
    """Song-level split of ``root`` (see ``splits``), examples, training, model folder in ``out_dir``."""
    from .examples import build_examples
    from .splits import files_in_split

    config = config or MidiModelConfig(stem)
    train_files = files_in_split(root, "train")[:max_songs]
    valid_files = files_in_split(root, "valid")[: max_songs and max(2, max_songs // 4)]
    train_songs = build_examples(train_files, (stem,), config.steps_per_beat)
    valid_songs = build_examples(valid_files, (stem,), config.steps_per_beat)
    extra = {
        "data": {"root": Path(root).name, "note": data_note, "split": "song-level: sha1(file name) % 100 "
                 "< 10 test, < 20 valid, else train; Groove MIDI: its info.csv split"},
        "train_files": [Path(p).name for p in train_files],
    }
    return train_stem_model(train_songs, valid_songs, config, settings, out_dir, extra, progress, init_from)
