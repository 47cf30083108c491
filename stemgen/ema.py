"""Exponential moving average of trained weights: the one EMA of every trainer (the diffusion UNet's
in ``stemgen.training``, the part models' in ``stemgen.midi.train``).

Kept here rather than borrowed from ``diffusers.training_utils.EMAModel`` so that it tracks only
the parameters that train (LoRA matrices and ``conv_in`` in a LoRA run, everything otherwise) and
has a plain ``state_dict``/``load_state_dict`` that ``accelerator.save_state`` checkpoints with the
rest of the run. The decay warms up as ``min(decay, (1 + n) / (10 + n))``: the first updates
would otherwise pull the average towards the random (or base) initialisation for thousands of steps.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class ExponentialMovingAverage:
    """Shadow copies (float32) of a fixed list of parameters, updated after each optimizer step."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], decay: float):
        self.decay = float(decay)
        self.num_updates = 0
        # float32 shadows even under mixed precision: a 0.9999 average is lost in bf16's 8-bit mantissa
        self.shadow = [p.detach().float().clone() for p in parameters]
        self._backup: list[torch.Tensor] | None = None

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        decay = self.current_decay()
        params = list(parameters)
        if len(params) != len(self.shadow):
            raise ValueError("EMA: parameter list changed size")
        values = [p.detach().to(s.device, torch.float32) for s, p in zip(self.shadow, params)]
        # one fused kernel per device instead of ~700 small ones for a full-size UNet
        torch._foreach_lerp_(self.shadow, values, 1.0 - decay)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Write the averaged weights into ``parameters`` (for saving or validation)."""
        for shadow, param in zip(self.shadow, parameters):
            param.copy_(shadow.to(param.device, param.dtype))

    @torch.no_grad()
    def store(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Keep the raw weights aside so ``restore`` can bring them back after a validation pass."""
        self._backup = [p.detach().clone() for p in parameters]

    @torch.no_grad()
    def restore(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        if self._backup is None:
            raise RuntimeError("EMA.restore called without store")
        for saved, param in zip(self._backup, parameters):
            param.copy_(saved)
        self._backup = None

    def to(self, device: torch.device | str) -> "ExponentialMovingAverage":
        self.shadow = [s.to(device) for s in self.shadow]
        return self

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": [s.cpu() for s in self.shadow]}

    def load_state_dict(self, state: dict) -> None:
        shadow = state["shadow"]
        if len(shadow) != len(self.shadow):
            raise ValueError("EMA checkpoint does not match the model's trainable parameters")
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.shadow = [s.to(old.device, torch.float32) for s, old in zip(shadow, self.shadow)]
