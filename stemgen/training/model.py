"""The model side of training: start a pipeline, add LoRA, pick what trains, and save the result.

Starting points (``--base-model``):
- none: a fresh pipeline for the preset (``stemgen.models.build_pipeline``; from scratch for
  ``compact``/``tiny``, Riffusion v1 by hub id for ``riffusion``);
- a stemgen model folder (``model_index.json`` of a ``StemInsertionPipeline``): continue training it;
- a Stable-Diffusion-format folder or hub id (``riffusion`` preset): widened to take the context.

LoRA (``--lora-rank R``): peft adapters on the UNet's attention projections (``to_q``, ``to_k``,
``to_v``, ``to_out.0``); ``conv_in`` stays fully trainable because its context half starts at
zero and must learn from nothing. The saved model has the adapters merged into the weights, so it
loads like any other; the adapter alone is also written to ``MODEL/lora/`` (a few MB).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
PIPELINE_CLASS = "StemInsertionPipeline"


def is_stemgen_model(path: str | Path | None) -> bool:
    index = Path(path) / "model_index.json" if path else None
    if index is None or not index.is_file():
        return False
    try:
        return json.loads(index.read_text()).get("_class_name") == PIPELINE_CLASS
    except json.JSONDecodeError:
        return False


def start_pipeline(preset: str, stem: str, target: str, base_model: str | None, seed: int):
    """The pipeline training starts from (see the module docstring)."""
    from stemgen.pipelines import build_pipeline
    from stemgen.pipelines.stem_insertion import StemInsertionPipeline

    if is_stemgen_model(base_model):
        pipe = StemInsertionPipeline.from_pretrained(base_model)
        meta = pipe.metadata
        if meta.get("preset") != preset:
            raise ValueError(f"{base_model}: a '{meta.get('preset')}' model, but --preset is '{preset}'")
        pipe.update_metadata(stem=stem, target=target)
        return pipe
    if preset != "riffusion" and base_model is not None:
        raise ValueError(f"--base-model for preset '{preset}' must be a stemgen model folder (from-scratch preset)")
    return build_pipeline(preset, stem=stem, target=target, base_model=base_model, seed=seed)


def add_lora(unet, rank: int, alpha: float | None = None) -> None:
    """Freeze the UNet, attach LoRA adapters to its attention, and unfreeze ``conv_in``."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=alpha if alpha is not None else rank, init_lora_weights="gaussian",
        target_modules=LORA_TARGETS,
    )
    unet.add_adapter(config)
    unet.conv_in.requires_grad_(True)


def trainable_parameters(unet) -> list[torch.nn.Parameter]:
    return [p for p in unet.parameters() if p.requires_grad]


def save_lora_adapter(unet, folder: Path) -> None:
    """The LoRA matrices alone (safetensors) plus ``conv_in`` and the adapter config."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    state.update({f"conv_in.{k}": v.detach().cpu().contiguous() for k, v in unet.conv_in.state_dict().items()})
    save_file(state, str(folder / "adapter_model.safetensors"))
    config = unet.peft_config["default"].to_dict()
    config = {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")


def merge_lora(unet) -> None:
    """Fold the adapters into the base weights and remove the peft layers."""
    unet.fuse_lora()
    unet.unload_lora()


def save_pipeline_atomic(pipe, out: Path) -> None:
    """``save_pretrained`` into a temp folder, then move each entry into ``out``.

    ``model_index.json`` moves last: a folder with it is a complete model, whatever else a kill
    left behind. Training artefacts already in ``out`` (checkpoints, logs) are left alone.
    """
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".final-", dir=out))
    try:
        pipe.save_pretrained(tmp)
        entries = sorted(tmp.iterdir(), key=lambda p: p.name == "model_index.json")
        (out / "model_index.json").unlink(missing_ok=True)
        for entry in entries:
            dest = out / entry.name
            if dest.is_dir():
                shutil.rmtree(dest)
            elif dest.exists():
                dest.unlink()
            entry.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
