"""Shared helpers for benchmarks: one JSON line per figure, with the device and configuration."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda"):
        import torch

        return f"cuda:{torch.cuda.get_device_name(0)}"
    return f"cpu:{os.cpu_count()}cores:{platform.machine()}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and finished children), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def emit(name: str, figure: float, unit: str, device: str = "cpu", **config) -> dict:
    """Print one benchmark figure as a JSON line and return it."""
    line = {"name": name, "figure": figure, "unit": unit, "device": device_name(device), "config": config}
    print(json.dumps(line), flush=True)
    sys.stdout.flush()
    return line
