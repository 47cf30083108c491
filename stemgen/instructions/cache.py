"""Persistent instruction cache: one sqlite file, keyed by request key + model name.

Only LLM replies go in (fallbacks stay out so that a later run with a working endpoint fills them).
Each ``put`` commits at once: a killed build keeps every reply it already paid for. One connection
guarded by a lock serves all threads; WAL lets other processes read while one writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instructions (
    key     TEXT NOT NULL,
    model   TEXT NOT NULL,
    text    TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, model)
)
"""
# sqlite limits the number of bound parameters per statement; stay well below it.
_CHUNK = 500


class InstructionCache:
    """``get_many``/``put`` of instruction texts; ``path=None`` gives a private in-memory cache."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path) if self.path else ":memory:", timeout=30.0, check_same_thread=False
        )
        with self._lock:
            if self.path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL is safe with WAL (no corruption); it only skips an fsync per commit.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()

    def get_many(self, keys: Iterable[str], model: str) -> dict[str, str]:
        """Cached texts for the given keys under ``model`` (missing keys are absent)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, text FROM instructions WHERE model = ? AND key IN ({marks})",
                    (model, *chunk),
                )
                found.update(rows.fetchall())
        return found

    def get(self, key: str, model: str) -> str | None:
        return self.get_many([key], model).get(key)

    def put(self, key: str, model: str, text: str) -> None:
        """Store (or replace) one reply and commit."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO instructions (key, model, text, created) VALUES (?, ?, ?, ?)",
                (key, model, text, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM instructions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "InstructionCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"InstructionCache({str(self.path) if self.path else ':memory:'})"
