"""``stemgen train``: fine-tune or train a stem-insertion model on a stemgen dataset.

A thin layer over ``stemgen.training.train_model``. Runs as is on one device, and on many GPUs
(or CPU processes) through accelerate::

    accelerate launch --num_processes 4 -m stemgen.cli.main train --data ds --out model --preset compact
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from stemgen.cli.common import JSON_OPTION_HELP, emit_summary, fail, progress_enabled


def train(
    data: Path = typer.Option(..., "--data", help="Dataset folder from `stemgen dataset build`."),
    out: Path = typer.Option(..., "--out", help="Model folder (checkpoints, logs, and the final pipeline)."),
    preset: str = typer.Option("compact", "--preset", help="riffusion | compact | compact-small | tiny (codec + model size)."),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="Start from: a Stable-Diffusion-format folder or hub id (riffusion), or a stemgen model folder."
    ),
    target: str = typer.Option("stem", "--target", help="stem (the new stem alone) | mix (the full mix, the paper's)."),
    stem: Optional[str] = typer.Option(None, "--stem", help="Only rows of this stem (when the dataset mixes stems)."),
    max_steps: int = typer.Option(1000, "--max-steps", help="Optimizer steps in total (a resumed run continues to this)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Windows per process per micro-step."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Micro-steps per optimizer step."),
    lr: float = typer.Option(1e-4, "--lr", help="Peak learning rate (AdamW)."),
    lr_schedule: str = typer.Option("constant", "--lr-schedule", help="constant | cosine (after the warm-up)."),
    warmup_steps: int = typer.Option(100, "--warmup-steps", help="Linear warm-up steps."),
    mixed_precision: str = typer.Option("no", "--mixed-precision", help="no | fp16 | bf16."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing", help="Trade compute for UNet memory."),
    lora_rank: int = typer.Option(0, "--lora-rank", help="LoRA rank on the UNet attention (0 = full fine-tuning)."),
    ema_decay: float = typer.Option(0.9999, "--ema-decay", help="EMA decay of the UNet weights (0 = no EMA)."),
    cond_dropout_text: float = typer.Option(0.05, "--cond-dropout-text", help="P(drop the instruction only)."),
    cond_dropout_audio: float = typer.Option(0.05, "--cond-dropout-audio", help="P(drop the context audio only)."),
    cond_dropout_both: float = typer.Option(0.05, "--cond-dropout-both", help="P(drop both)."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Save a resumable checkpoint every N steps."),
    keep_checkpoints: int = typer.Option(3, "--keep-checkpoints", help="Checkpoints kept (the newest)."),
    validate_every: int = typer.Option(500, "--validate-every", help="Validation loss and rendered clips every N steps."),
    num_validation: int = typer.Option(2, "--num-validation", help="Validation windows rendered to audio."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the latest checkpoint in OUT."),
    seed: int = typer.Option(0, "--seed", help="Seeds initialisation, data order, noise and dropout."),
    num_workers: int = typer.Option(2, "--num-workers", help="DataLoader worker processes."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Codec-image cache (default DATA/cache)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Train a model that adds the missing stem, from a stemgen dataset (accelerate; CPU or GPUs)."""
    import logging

    from stemgen.errors import StemgenError
    from stemgen.training import TrainConfig, train_model

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = TrainConfig(
            data=data, out=out, preset=preset, base_model=base_model, target=target, stem=stem,
            max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr, lr_schedule=lr_schedule,
            warmup_steps=warmup_steps, mixed_precision=mixed_precision, gradient_checkpointing=gradient_checkpointing,
            lora_rank=lora_rank, ema_decay=ema_decay, cond_dropout_text=cond_dropout_text,
            cond_dropout_audio=cond_dropout_audio, cond_dropout_both=cond_dropout_both,
            checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, validate_every=validate_every,
            num_validation=num_validation, resume=resume, seed=seed, num_workers=num_workers, cache_dir=cache_dir,
        )
        from stemgen.models.configs import get_model_preset

        get_model_preset(preset)
        result = train_model(cfg, progress=progress_enabled(as_json))
    except (StemgenError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    summary = result.to_dict()
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under accelerate launch: one summary, from rank 0
        return
    emit_summary(
        summary,
        as_json,
        [
            f"model: {summary['model']}",
            f"steps: {summary['steps']}" + (f" (resumed from {summary['resumed_from']})" if summary["resumed_from"] else ""),
            f"final loss: {summary['final_loss']}",
            f"samples/s: {summary['samples_per_s']}  wall: {summary['wall_s']} s",
        ],
    )
