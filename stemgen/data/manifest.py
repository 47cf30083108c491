"""The dataset manifest: one JSON object per example, a JSON Lines file per split.

Loads with Hugging Face ``datasets`` in one line::

    datasets.load_dataset("json", data_files={s: f"{DIR}/{s}.jsonl" for s in ("train", "valid", "test")})

Audio columns (``mix_audio``, ``context_audio``, ``stem_audio``) are paths relative to DIR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from stemgen.fileio import atomic_write_text
from stemgen.splits import SPLITS

AUDIO_COLUMNS = ("mix_audio", "context_audio", "stem_audio")


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temp file beside ``path`` and rename it into place."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def write_split_manifests(out_dir: Path, rows: Iterable[dict]) -> dict[str, int]:
    """Write ``train/valid/test.jsonl`` (every split, possibly empty); returns rows per split."""
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for row in rows:
        by_split[row["split"]].append(row)
    for split, split_rows in by_split.items():
        split_rows.sort(key=lambda r: r["id"])
        text = "".join(json.dumps(r, default=str) + "\n" for r in split_rows)
        atomic_write_text(out_dir / f"{split}.jsonl", text)
    return {s: len(r) for s, r in by_split.items()}


def read_manifest(out_dir: str | Path, split: str) -> list[dict]:
    """Rows of one split, with audio paths made absolute."""
    out_dir = Path(out_dir)
    path = out_dir / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest for split '{split}' (is {out_dir} a stemgen dataset?)")
    rows = []
    with path.open() as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                for col in AUDIO_COLUMNS:
                    row[col] = str(out_dir / row[col])
                rows.append(row)
    return rows


def load_hf_dataset(out_dir: str | Path):
    """The manifest as a ``datasets.DatasetDict`` (splits that have rows)."""
    import datasets

    out_dir = Path(out_dir)
    files = {s: str(out_dir / f"{s}.jsonl") for s in SPLITS if (out_dir / f"{s}.jsonl").stat().st_size > 0}
    return datasets.load_dataset("json", data_files=files)
