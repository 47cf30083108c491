"""Small datasets in the on-disk contract format (docs/CONTRACTS.md) for the training tests.

Made from the real MUSDB18 excerpt: the drums are the stem, bass + other + vocals the context,
and their sum the mix, cut into windows of the ``tiny`` codec preset. This stands in for
``stemgen dataset build`` where a test needs a dataset in seconds and without the builder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stemgen.audio.io import load_audio, write_audio
from stemgen.codec.config import get_preset

INSTRUCTIONS = ("Add rock drums", "Add punchy drums with a steady beat", "Add soft drums", "Add energetic drums")


def make_contract_dataset(song_dir: Path, out: Path, preset: str = "tiny", valid_windows: int = 1) -> Path:
    """Write ``out`` as a stemgen dataset: all windows of the song, the last ``valid_windows`` in valid."""
    codec = get_preset(preset)
    sr, n = codec.sample_rate, codec.window_samples
    stems = {name: load_audio(song_dir / f"{name}.wav", sample_rate=sr, mono=True)[0][0]
             for name in ("drums", "bass", "other", "vocals")}
    context = stems["bass"] + stems["other"] + stems["vocals"]
    mix = context + stems["drums"]
    scale = 1.0 / max(1.0, float(np.abs(mix).max()) / 0.99, float(np.abs(context).max()) / 0.99)
    parts = {"mix": mix * scale, "context": context * scale, "stem": stems["drums"] * scale}
    count = len(mix) // n
    rows: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    for k in range(count):
        split = "valid" if k >= count - valid_windows else "train"
        song_id = "musdb_80s_rock"
        rel = {}
        for name, audio in parts.items():
            path = Path("audio") / split / song_id / f"{k}_{name}.flac"
            write_audio(out / path, audio[k * n : (k + 1) * n], sr)
            rel[f"{name}_audio"] = str(path)
        rows[split].append({
            "id": f"{song_id}:{k}:drums", "song_id": song_id, "split": split, "stem": "drums", **rel,
            "start_s": k * n / sr, "duration_s": n / sr, "sample_rate": sr,
            "caption": "80s rock with bass, guitar and vocals", "instruction": INSTRUCTIONS[k % len(INSTRUCTIONS)],
            "instruction_source": "fallback", "descriptors": {}, "tags": ["rock"],
            "source": "musdb18", "layout": "stem_folder", "license": "musdb18-research",
        })
    for split, split_rows in rows.items():
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split_rows))
    settings = {"preset": preset, "sample_rate": sr, "window_s": n / sr, "hop_s": n / sr, "stem": "drums"}
    (out / "dataset.json").write_text(json.dumps({"settings": settings, "summary": {"examples": count}}))
    return out
