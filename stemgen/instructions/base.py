"""Common interface of the instruction writers: ordered ``write`` plus counters for run summaries."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import Counter
from typing import Callable, Sequence

from .request import ORIGINS, InstructionRequest, InstructionResult

Progress = Callable[[int], None]


class InstructionWriter(ABC):
    """Writes one instruction per request, in order.

    ``progress``, when given, is called with the number of results just finished (tqdm's
    ``update`` fits). ``stats`` counts results per origin over the writer's life; ``request_count``
    counts HTTP requests sent (0 for writers that send none).
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self.request_count = 0

    def write(
        self, requests: Sequence[InstructionRequest], progress: Progress | None = None
    ) -> list[InstructionResult]:
        results = self._write(list(requests), progress)
        with self._counts_lock:
            self._counts.update(r.origin for r in results)
        return results

    @abstractmethod
    def _write(self, requests: list[InstructionRequest], progress: Progress | None) -> list[InstructionResult]:
        """Write the instructions (same length and order as ``requests``)."""

    @property
    def stats(self) -> dict[str, int]:
        """Results per origin so far: ``{"llm": n, "cache": n, "fallback": n}``."""
        with self._counts_lock:
            return {origin: self._counts.get(origin, 0) for origin in ORIGINS}

    @property
    def faults(self) -> dict:
        """Endpoint faults so far (the LLM writer's failed requests and circuit breaker); {} when none can occur."""
        return {}

    def summary(self) -> dict:
        """What a run summary reports about instructions (origins, requests, faults)."""
        return {**self.stats, "requests": self.request_count, "writer": self.name, **self.faults}

    @property
    def name(self) -> str:
        return "offline"

    def close(self) -> None:
        """Release resources (the cache file); the writer must not be used afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
