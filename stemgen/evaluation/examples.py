"""Evaluation examples: the windows of one dataset split, loaded lazily as mono audio.

Every system is scored against the same ``EvalExample`` (context, real stem, real mix). Audio is
decoded on first use and kept in a small cache, because donor systems (random stem, retrieval)
read other examples' stems too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from stemgen.audio.io import load_audio
from stemgen.errors import StemgenInputError


@dataclass
class EvalExample:
    """One window: ``(n,)`` float32 mono arrays at ``sample_rate`` and the manifest row."""

    id: str
    song_id: str
    stem_name: str
    instruction: str
    sample_rate: int
    context: np.ndarray
    stem: np.ndarray
    mix: np.ndarray
    row: dict = field(repr=False)

    @property
    def tempo_hint_bpm(self) -> float:
        """The dataset's tempo descriptor for the window (0.0 when unknown)."""
        return float((self.row.get("descriptors") or {}).get("tempo_bpm") or 0.0)


class ExampleSet:
    """Rows of a split with lazily loaded, cached audio (``len``, indexing, ``rows``)."""

    def __init__(self, rows: list[dict], cache_size: int = 64):
        if not rows:
            raise ValueError("no examples to evaluate")
        self.rows = rows
        self._load = lru_cache(maxsize=cache_size)(self._load_uncached)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> EvalExample:
        return self._load(index)

    def _load_uncached(self, index: int) -> EvalExample:
        row = self.rows[index]
        sr = int(row.get("sample_rate") or 0) or None
        context, sr_c = load_audio(row["context_audio"], sample_rate=sr, mono=True)
        stem, _ = load_audio(row["stem_audio"], sample_rate=sr_c, mono=True)
        mix, _ = load_audio(row["mix_audio"], sample_rate=sr_c, mono=True)
        n = min(context.shape[-1], stem.shape[-1], mix.shape[-1])
        return EvalExample(
            id=str(row["id"]),
            song_id=str(row.get("song_id", row["id"])),
            stem_name=str(row.get("stem", "")),
            instruction=str(row.get("instruction") or f"Add {row.get('stem', 'the missing stem')}."),
            sample_rate=sr_c,
            context=context[0, :n],
            stem=stem[0, :n],
            mix=mix[0, :n],
            row=row,
        )


def load_split(
    data_dir: str | Path,
    split: str = "test",
    max_examples: int | None = None,
    donor_data: str | Path | None = None,
    donor_split: str | None = None,
) -> tuple[ExampleSet, ExampleSet]:
    """``(evaluated, donors)``: up to ``max_examples`` rows spread over the split, and the donor pool.

    The donor pool (stems for the random and retrieval baselines) is every row of the evaluated
    split unless ``donor_data``/``donor_split`` name another dataset or split.
    """
    rows = read_rows(data_dir, split)
    if not rows:
        raise StemgenInputError(Path(data_dir) / f"{split}.jsonl", f"split '{split}' has no examples")
    pool = ExampleSet(rows)
    if donor_data is not None or (donor_split is not None and donor_split != split):
        donor_rows = read_rows(donor_data or data_dir, donor_split or split)
        donors = ExampleSet(donor_rows) if donor_rows else pool
    else:
        donors = pool
    evaluated = pool if not max_examples or max_examples >= len(rows) else ExampleSet(_spread(rows, max_examples))
    return evaluated, donors


def read_rows(data_dir: str | Path, split: str) -> list[dict]:
    """The split's manifest rows; a missing or corrupt manifest is a ``StemgenInputError`` naming
    the file (and the first bad line)."""
    from stemgen.data.manifest import read_manifest

    path = Path(data_dir) / f"{split}.jsonl"
    if not Path(data_dir).is_dir():
        raise StemgenInputError(data_dir, "dataset folder not found")
    if not path.is_file():
        raise StemgenInputError(path, f"no manifest for split '{split}' (is {data_dir} a stemgen dataset?)")
    try:
        return read_manifest(data_dir, split)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:  # JSON errors are ValueErrors
        raise StemgenInputError(path, _manifest_problem(path) or f"unreadable manifest ({exc})") from None


def _manifest_problem(path: Path) -> str | None:
    """The first line of a manifest that is not a row with audio columns."""
    import json

    from stemgen.data.manifest import AUDIO_COLUMNS

    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                return f"line {n} is not valid JSON ({getattr(exc, 'msg', exc)})"
            if not isinstance(row, dict):
                return f"line {n} is not a JSON object"
            for col in AUDIO_COLUMNS:
                if not isinstance(row.get(col), str):
                    return f"line {n} has no '{col}' path"
    return None


def _spread(rows: list[dict], n: int) -> list[dict]:
    """``n`` rows spread evenly over the split (so a small run still sees several songs)."""
    idx = np.linspace(0, len(rows) - 1, n).round().astype(int)
    return [rows[i] for i in sorted(set(idx.tolist()))]
