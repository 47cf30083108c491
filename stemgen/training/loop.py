"""The training loop: one readable function in the spirit of the diffusers training examples.

    result = train_model(TrainConfig(data="ds/", out="model/", preset="tiny", max_steps=100))

Works the same in one process and under ``accelerate launch`` (DDP: every process runs this; the
data order gives each its own slice of every global batch). What happens, in order:
1. data: manifest rows -> cached codec images (``training.data``), built by the main process first;
2. model: the starting pipeline (``training.model``), optional LoRA, EMA of the trainable weights;
3. resume from the latest complete checkpoint in ``MODEL/checkpoints`` (unless ``resume=False``);
4. loop over optimizer steps: InstructPix2Pix loss (``training.objective``), gradient accumulation,
   clipping, LR warm-up then constant/cosine, EMA update, logging, checkpoints, validation;
5. the final model (EMA weights, LoRA merged) saved with ``save_pretrained`` plus metadata.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from stemgen.ema import ExponentialMovingAverage
from stemgen.errors import StemgenInputError
from stemgen.training import checkpoint as ckpt
from stemgen.training.config import TrainConfig
from stemgen.training.data import (
    TripletDataset,
    cache_dir_for,
    check_dataset,
    data_summary,
    load_split,
    target_statistics,
)
from stemgen.training.metrics import TRAIN_LOG, JsonlLog, Throughput
from stemgen.training.model import (
    add_lora,
    is_stemgen_model,
    merge_lora,
    save_lora_adapter,
    save_pipeline_atomic,
    start_pipeline,
    trainable_parameters,
)
from stemgen.training.objective import DropoutProbs, PromptCache, diffusion_loss
from stemgen.training.order import ResumableBatchSampler, step_generator

log = logging.getLogger(__name__)
ProgressFactory = Callable[[int, str], Callable | None]


@dataclass
class TrainResult:
    model: str
    steps: int
    resumed_from: int | None
    final_loss: float | None
    samples_per_s: float
    wall_s: float
    train_loop_s: float
    examples: dict = field(default_factory=dict)
    num_processes: int = 1
    device: str = "cpu"
    peak_memory_mb: float | None = None
    validation_loss: float | None = None
    lora_rank: int = 0
    ema: bool = True

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def train_model(cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train (or resume training) a stem-insertion model; see the module docstring."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    out = cfg.out
    check_dataset(cfg.data)  # before anything is created or imported at length
    accelerator = Accelerator(
        # several processes but no GPU (e.g. `accelerate launch --multi_gpu` on a CPU box): DDP over gloo
        cpu=not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1,
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    device = accelerator.device
    main = accelerator.is_main_process
    set_seed(cfg.seed)

    def bar(total: int, desc: str):
        if not (progress and main):
            return None
        pbar = tqdm(total=total, desc=desc, leave=False)
        return pbar.update

    # 1. data --------------------------------------------------------------------------------
    from stemgen.codec.config import get_preset
    from stemgen.models.configs import get_model_preset

    codec = get_preset(get_model_preset(cfg.preset).codec)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    cache_dir = cache_dir_for(cfg.data, out, cfg.cache_dir)
    stem_filter = cfg.stem
    splits = {}
    with accelerator.main_process_first():
        for split in ("train", "valid"):
            splits[split] = load_split(
                cfg.data, split, codec, cache_dir, device, stem_filter, build=main, progress_factory=bar
            )
    train_data = splits["train"]
    if len(train_data) == 0:
        reason = "no usable training examples" + (f" ({len(train_data.skipped)} unreadable)" if train_data.skipped else "")
        raise StemgenInputError(cfg.data / "train.jsonl", reason + (f" for stem '{stem_filter}'" if stem_filter else ""))
    stem = _single_stem(train_data.rows, cfg.data, stem_filter)
    summary = data_summary(cfg.data, splits)
    train_set = TripletDataset(train_data, cfg.target)
    if len(splits["valid"]) == 0 and main:
        log.warning("%s: no valid split; validation uses training windows", cfg.data)
    valid_set = TripletDataset(splits["valid"] if len(splits["valid"]) else train_data, cfg.target)

    # 2. model -------------------------------------------------------------------------------
    pipe = start_pipeline(cfg.preset, stem, cfg.target, cfg.base_model, cfg.seed)
    pipe.set_progress_bar_config(disable=True)
    if pipe.vae is None and not is_stemgen_model(cfg.base_model):
        # a fresh pixel-space model: unit-variance latents (see StemInsertionPipeline.latent_normalization);
        # deterministic, so a resumed run computes the same values
        mean, std = target_statistics(train_data, cfg.target)
        pipe.update_metadata(latent_shift=round(mean, 4), latent_scale=round(1.0 / max(std, 1e-3), 4))
    frozen_dtype = _frozen_dtype(cfg.mixed_precision, device)
    pipe.text_encoder.to(device, frozen_dtype)
    if pipe.vae is not None:
        pipe.vae.to(device, frozen_dtype)
    unet = pipe.unet.to(device)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    if cfg.lora_rank:
        add_lora(unet, cfg.lora_rank, cfg.lora_alpha)
    unet.train()
    params = trainable_parameters(unet)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = "cosine" if cfg.lr_schedule == "cosine" else "constant_with_warmup"
    # stepped by us once per optimizer step (not prepared: accelerate would step it once per process)
    lr_scheduler = get_scheduler(
        schedule, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps
    )
    train_unet, optimizer = accelerator.prepare(unet, optimizer)
    ema = ExponentialMovingAverage(params, cfg.ema_decay).to(device) if cfg.ema_decay > 0 else None
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    probs = DropoutProbs(cfg.cond_dropout_text, cfg.cond_dropout_audio, cfg.cond_dropout_both)
    prompts = PromptCache(pipe, device)

    run_state = ckpt.RunState({**cfg.resume_signature(), "ema": ema is not None})
    accelerator.register_for_checkpointing(lr_scheduler, run_state, *([ema] if ema is not None else []))

    # 3. resume ------------------------------------------------------------------------------
    train_log = JsonlLog(out / TRAIN_LOG, enabled=main)
    resumed_from = None
    if main:
        ckpt.remove_partial(out)
    accelerator.wait_for_everyone()
    latest = ckpt.latest_checkpoint(out) if cfg.resume else None
    if latest is not None:
        accelerator.load_state(str(latest))
        resumed_from = run_state.global_step
        train_log.truncate_after(run_state.global_step)
        log.info("resumed from %s (step %d)", latest, run_state.global_step)
    elif main:
        # a fresh start: earlier checkpoints and logs belong to another run
        shutil.rmtree(ckpt.checkpoint_root(out), ignore_errors=True)
        shutil.rmtree(out / "logs", ignore_errors=True)
        train_log.clear()
    accelerator.wait_for_everyone()
    if main:
        cfg.save(out / "training_config.json")
    accelerator.init_trackers("train")
    writer = _tensorboard_writer(accelerator)

    # 4. loop --------------------------------------------------------------------------------
    world, rank = accelerator.num_processes, accelerator.process_index
    start_micro = run_state.global_step * cfg.grad_accum
    sampler = ResumableBatchSampler(
        len(train_set), cfg.batch_size, cfg.seed, start_micro, cfg.max_steps * cfg.grad_accum, rank, world
    )
    loader = DataLoader(
        train_set, batch_sampler=sampler, num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    samples_per_step = cfg.batch_size * world * cfg.grad_accum
    pbar = tqdm(
        total=cfg.max_steps, initial=run_state.global_step, desc="training", disable=not (progress and main),
        dynamic_ncols=True,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    throughput = Throughput()
    loop_time, loop_samples = 0.0, 0
    t_loop = time.perf_counter()
    accumulated = torch.zeros((), device=device)
    last_loss: float | None = None
    last_val: float | None = None
    micro = start_micro
    for batch in loader:
        gen = step_generator(cfg.seed, micro, rank, device)
        micro += 1
        with accelerator.accumulate(train_unet):
            loss = diffusion_loss(pipe, train_unet, noise_scheduler, batch, gen, probs, device, prompts)
            accelerator.backward(loss)
            if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        accumulated += loss.detach()
        if not accelerator.sync_gradients:
            continue

        lr = lr_scheduler.get_last_lr()[0]
        lr_scheduler.step()
        if ema is not None:
            ema.update(params)
        run_state.global_step += 1
        run_state.samples_seen += samples_per_step
        step = run_state.global_step
        last_loss = float(accelerator.reduce(accumulated / cfg.grad_accum, reduction="mean"))
        accumulated.zero_()
        throughput.add(samples_per_step)
        loop_samples += samples_per_step
        pbar.update(1)
        pbar.set_postfix(loss=f"{last_loss:.4f}")
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            rate = throughput.rate()
            record = {"step": step, "loss": last_loss, "lr": lr, "samples_per_s": round(rate, 3),
                      "epoch": round(run_state.samples_seen / len(train_set), 4)}
            train_log.write(record)
            accelerator.log({"train/loss": last_loss, "train/lr": lr, "train/samples_per_s": rate}, step=step)

        if step % cfg.validate_every == 0 or step == cfg.max_steps:
            loop_time += time.perf_counter() - t_loop
            last_val = _validate(accelerator, pipe, unet, ema, params, noise_scheduler, valid_set, cfg, writer, step)
            train_log.write({"step": step, "validation_loss": last_val})
            t_loop = time.perf_counter()
            throughput.rate()  # restart the rate window after the pause
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            loop_time += time.perf_counter() - t_loop
            ckpt.save_checkpoint(accelerator, out, step, cfg.keep_checkpoints)
            t_loop = time.perf_counter()
            throughput.rate()
    loop_time += time.perf_counter() - t_loop
    pbar.close()
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None

    # 5. final model -------------------------------------------------------------------------
    accelerator.wait_for_everyone()
    if main:
        _save_final(pipe, unet, ema, params, cfg, summary, run_state.global_step, last_loss)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if last_loss is None:  # nothing left to train (already at max_steps): report the logged loss
        last_loss = next((r["loss"] for r in reversed(train_log.records()) if "loss" in r), None)
    return TrainResult(
        model=str(out),
        steps=run_state.global_step,
        resumed_from=resumed_from,
        final_loss=last_loss,
        samples_per_s=round(loop_samples / loop_time, 3) if loop_time > 0 and loop_samples else 0.0,
        wall_s=round(time.perf_counter() - t_start, 2),
        train_loop_s=round(loop_time, 2),
        examples=summary["examples"],
        num_processes=world,
        device=str(device),
        peak_memory_mb=round(peak, 1) if peak is not None else None,
        validation_loss=last_val,
        lora_rank=cfg.lora_rank,
        ema=ema is not None,
    )


def _single_stem(rows: list[dict], data_dir: Path, stem_filter: str | None) -> str:
    """A model adds one stem: the dataset's, or the one chosen with ``--stem``."""
    stems = sorted({r.get("stem") for r in rows})
    if len(stems) != 1:
        raise StemgenInputError(data_dir, f"dataset mixes stems ({', '.join(map(str, stems))}): choose one with --stem")
    return stems[0] if stem_filter is None else stem_filter


def _frozen_dtype(mixed_precision: str, device: torch.device) -> torch.dtype:
    """Frozen text encoder / VAE in half precision on a GPU (memory, speed); float32 on CPU."""
    if device.type != "cuda":
        return torch.float32
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def _tensorboard_writer(accelerator):
    if not accelerator.is_main_process:
        return None
    try:
        return accelerator.get_tracker("tensorboard", unwrap=True)
    except (ValueError, KeyError):
        return None


def _validate(accelerator, pipe, unet, ema, params, noise_scheduler, valid_set, cfg: TrainConfig, writer, step: int):
    """Validation loss and rendered windows with the weights that will be saved (EMA when enabled)."""
    from stemgen.training.validation import log_rendered, render_windows, validation_loss

    value = None
    if accelerator.is_main_process:
        if ema is not None:
            ema.store(params)
            ema.copy_to(params)
        unet.eval()
        try:
            with accelerator.autocast():
                value = validation_loss(pipe, noise_scheduler, valid_set, accelerator.device, cfg.seed, cfg.batch_size)
                rendered = render_windows(
                    pipe, valid_set, cfg.num_validation, cfg.validation_steps, cfg.seed, accelerator.device
                )
            log_rendered(rendered, writer, cfg.out, step, pipe.codec_config.sample_rate)
            accelerator.log({"validation/loss": value}, step=step)
        finally:
            unet.train()
            if ema is not None:
                ema.restore(params)
    accelerator.wait_for_everyone()
    return value


def _save_final(pipe, unet, ema, params, cfg: TrainConfig, summary: dict, steps: int, final_loss: float | None) -> None:
    """EMA weights into the UNet, LoRA merged, metadata, ``save_pretrained`` (atomic)."""
    if ema is not None:
        ema.copy_to(params)
    if cfg.gradient_checkpointing:
        unet.disable_gradient_checkpointing()
    if cfg.lora_rank:
        save_lora_adapter(unet, cfg.out / "lora")
        merge_lora(unet)
    unet.eval()
    licenses = summary.get("licenses") or {}
    training = {
        **summary,
        "steps": steps,
        "final_loss": None if final_loss is None or math.isnan(final_loss) else round(final_loss, 6),
        "batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum, "lr": cfg.lr, "lr_schedule": cfg.lr_schedule,
        "warmup_steps": cfg.warmup_steps, "mixed_precision": cfg.mixed_precision, "lora_rank": cfg.lora_rank,
        "ema_decay": cfg.ema_decay, "seed": cfg.seed,
        "cond_dropout": {"text": cfg.cond_dropout_text, "audio": cfg.cond_dropout_audio, "both": cfg.cond_dropout_both},
    }
    # the model inherits the data's terms: one license when all rows share it, "other" otherwise
    pipe.update_metadata(
        target=cfg.target, training=training, license=next(iter(licenses)) if len(licenses) == 1 else "other"
    )
    for module in (pipe.text_encoder, pipe.vae):  # frozen parts were halved on a GPU: save them as loaded
        if module is not None and module.dtype != torch.float32:
            module.to(torch.float32)
    save_pipeline_atomic(pipe, cfg.out)
