"""Where training numbers go: ``MODEL/train_log.jsonl`` (one JSON object per logged step) and
tensorboard (``MODEL/logs``, through accelerate's tracker). Main process only.

The JSON log is appended and flushed line by line, so a killed run keeps what it logged; on
resume, lines for steps after the checkpoint are dropped first, so the file reads as one
continuous run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

TRAIN_LOG = "train_log.jsonl"


class JsonlLog:
    """Append-only ``train_log.jsonl``."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drop records of steps > ``step`` (they belong to the part of a killed run that is redone)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if line.strip() and _step(line) <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def clear(self) -> None:
        if self.enabled and self.path.is_file():
            self.path.unlink()

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def records(self) -> list[dict]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, TypeError, ValueError):
        return 1 << 62  # unreadable (a line cut by the kill): drop it


class Throughput:
    """Samples per second over the steps since the last ``rate()`` call."""

    def __init__(self) -> None:
        self._t = time.perf_counter()
        self._samples = 0

    def add(self, samples: int) -> None:
        self._samples += samples

    def rate(self) -> float:
        now = time.perf_counter()
        value = self._samples / max(now - self._t, 1e-9)
        self._t, self._samples = now, 0
        return value
