"""Circuit breaker of the LLM writer: stop asking an endpoint that keeps failing.

It opens after ``threshold`` consecutive failed requests (any success in between resets the run)
or at once on a failure no retry can fix (wrong key, model or URL), and then stays open for the
writer's life: one build run. It also keeps the counts the run summary reports.
"""

from __future__ import annotations

import threading
from collections import Counter


class CircuitBreaker:
    def __init__(self, threshold: int):
        if threshold < 1:
            raise ValueError("the breaker threshold must be >= 1")
        self.threshold = threshold
        self.errors: Counter[str] = Counter()  # failed requests per kind (timeout, connection, http_5xx, ...)
        self.reason: str | None = None  # why it opened; None while closed
        self._consecutive = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0

    def failure(self, kind: str, detail: str) -> bool:
        """Count one failed request; True when this failure opened the breaker."""
        with self._lock:
            self.errors[kind] += 1
            self._consecutive += 1
            if self.reason is None and self._consecutive >= self.threshold:
                self.reason = f"{self._consecutive} failed requests in a row (last: {kind}, {detail})"
                return True
            return False

    def trip(self, reason: str) -> bool:
        """Open at once; True when it was closed."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason = reason
            return True

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "llm_errors": sum(self.errors.values()),
                "errors": dict(self.errors),
                "breaker_open": self.reason is not None,
                "breaker_reason": self.reason,
            }
