"""Checkpoints: ``accelerator.save_state`` into ``MODEL/checkpoints/step-XXXXXX``, atomically.

Every process writes into ``.step-XXXXXX.tmp`` (accelerate saves the model and optimizer from the
main process and one RNG file per process); once all are done the main process renames it to
``step-XXXXXX``. A run killed mid-save leaves only a ``.tmp`` folder, which is ignored and removed,
so ``latest_checkpoint`` never returns a half-written state. The last K are kept.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

CHECKPOINT_DIR = "checkpoints"
_STEP_RE = re.compile(r"^step-(\d{6,})$")
RUN_STATE_FILE = "stemgen_run.json"


class RunState:
    """The counters of a run, checkpointed with ``register_for_checkpointing``."""

    def __init__(self, signature: dict):
        self.global_step = 0
        self.samples_seen = 0
        self.signature = dict(signature)

    def state_dict(self) -> dict:
        return {"global_step": self.global_step, "samples_seen": self.samples_seen, "signature": self.signature}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("signature", {})
        changed = {k: (saved.get(k), v) for k, v in self.signature.items() if saved.get(k) != v}
        if changed:
            detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ValueError(f"cannot resume: settings differ from the checkpoint ({detail}); use --no-resume")
        self.global_step = int(state["global_step"])
        self.samples_seen = int(state["samples_seen"])


def checkpoint_root(out: Path) -> Path:
    return Path(out) / CHECKPOINT_DIR


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as ``(step, path)``, oldest first."""
    root = checkpoint_root(out)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_RE.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(out: Path) -> Path | None:
    found = list_checkpoints(out)
    return found[-1][1] if found else None


def remove_partial(out: Path) -> None:
    """Delete ``.tmp`` folders left by a save that was killed."""
    root = checkpoint_root(out)
    if root.is_dir():
        for path in root.glob(".step-*.tmp"):
            shutil.rmtree(path, ignore_errors=True)


def save_checkpoint(accelerator, out: Path, step: int, keep: int) -> Path:
    """Save the full training state for ``step``; returns the final folder. Call on every process."""
    root = checkpoint_root(out)
    final = root / f"step-{step:06d}"
    tmp = root / f".step-{step:06d}.tmp"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / RUN_STATE_FILE).write_text(json.dumps({"step": step}) + "\n")
        if final.exists():  # re-saving the same step after a resume: replace it
            shutil.rmtree(final)
        tmp.rename(final)
        for _, old in list_checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
