"""Every knob of a training run in one dataclass, so the CLI, the Python API and the tests agree.

The config is written next to the model (``MODEL/training_config.json``) and into each checkpoint's
resume check: resuming with a different batch layout or seed would silently break the promise
that a resumed run continues the same loss curve, so those fields must match.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

TARGETS = ("stem", "mix")
MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULES = ("constant", "cosine")
# Changing any of these between a checkpoint and its resume changes data order, noise or the
# optimisation itself, so resume refuses rather than continue a different run.
RESUME_KEYS = ("preset", "target", "stem", "batch_size", "grad_accum", "seed", "lora_rank", "base_model")


@dataclass
class TrainConfig:
    data: Path
    out: Path
    preset: str = "tiny"
    base_model: str | None = None  # hub id or local folder (riffusion preset); None = from scratch
    target: str = "stem"  # "stem": the new stem alone; "mix": the full mix (the paper's formulation)
    stem: str | None = None  # train on rows of this stem only (needed when the dataset mixes stems)
    max_steps: int = 1000  # optimizer steps
    batch_size: int = 4  # per process, per micro-step
    grad_accum: int = 1
    lr: float = 1e-4
    lr_schedule: str = "constant"
    warmup_steps: int = 100
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    lora_rank: int = 0  # 0 = full fine-tuning
    lora_alpha: float | None = None  # None = rank (scale 1)
    ema_decay: float = 0.9999  # 0 disables EMA
    cond_dropout_text: float = 0.05  # text dropped, audio kept
    cond_dropout_audio: float = 0.05  # audio dropped, text kept
    cond_dropout_both: float = 0.05  # both dropped: the unconditional branch of CFG
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    validate_every: int = 500
    num_validation: int = 2  # validation windows rendered to audio
    validation_steps: int = 20  # sampler steps for the rendered clips
    resume: bool = True
    seed: int = 0
    num_workers: int = 2
    cache_dir: Path | None = None  # codec-image cache; default DATA/cache, or MODEL/cache if read-only
    log_every: int = 1

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        self.out = Path(self.out)
        if self.cache_dir is not None:
            self.cache_dir = Path(self.cache_dir)
        self.validate()

    def validate(self) -> None:
        """Reject impossible settings up front with one clear line each."""
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {', '.join(TARGETS)}, not '{self.target}'")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISION)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}")
        for name in ("max_steps", "batch_size", "grad_accum", "checkpoint_every", "validate_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.lora_rank < 0 or self.warmup_steps < 0 or self.keep_checkpoints < 1:
            raise ValueError("--lora-rank and --warmup-steps must be >= 0, --keep-checkpoints >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("--ema-decay must be in [0, 1)")
        drops = (self.cond_dropout_text, self.cond_dropout_audio, self.cond_dropout_both)
        if min(drops) < 0 or sum(drops) > 1:
            raise ValueError("conditioning dropout probabilities must be >= 0 and sum to at most 1")

    def to_dict(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resume_signature(self) -> dict:
        return {key: getattr(self, key) for key in RESUME_KEYS}

    def save(self, path: Path) -> None:
        from stemgen.data.manifest import write_json_atomic

        write_json_atomic(path, self.to_dict())
