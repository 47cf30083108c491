"""Errors that carry the offending file and a one-line reason.

Every user-facing failure on bad input is a ``StemgenInputError``: batch jobs catch it, record
``{"file": ..., "reason": ...}`` in their summary and go on with the rest.
"""

from __future__ import annotations

from pathlib import Path


class StemgenError(Exception):
    """Base class for errors stemgen raises on purpose."""


class StemgenInputError(StemgenError):
    """Bad input: names the file and says why in one line."""

    def __init__(self, file: str | Path | None, reason: str):
        self.file = str(file) if file is not None else None
        self.reason = reason
        super().__init__(f"{self.file}: {reason}" if self.file else reason)

    def __reduce__(self):
        # Picklable with its two arguments, so it crosses from worker processes intact.
        return (type(self), (self.file, self.reason))

    def as_record(self) -> dict:
        return {"file": self.file, "reason": self.reason}


class MissingDependencyError(StemgenError):
    """An optional tool, model or system package is not available; the message says how to get it."""


class WorkerCrashed(RuntimeError):
    """The item's worker process died (twice: once in a shared pool, once on its own); here, below
    ``stemgen.workers`` and its Ray backend, so that both raise the same error."""

    def __init__(self) -> None:
        super().__init__("the worker process crashed while processing this file")
