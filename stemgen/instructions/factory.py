"""``make_writer``: the LLM writer when an endpoint is configured, the offline writer otherwise."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .base import InstructionWriter
from .offline import OfflineWriter

log = logging.getLogger(__name__)

ENV_BASE_URL = "OPENAI_BASE_URL"  # the openai client's own variables
ENV_API_KEY = "OPENAI_API_KEY"
ENV_MODEL = "STEMGEN_LLM_MODEL"


def make_writer(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    cache_path: str | Path | None = None,
    concurrency: int = 8,
    timeout_s: float = 30.0,
    max_retries: int = 4,
    seed: int = 0,
    **llm_options,
) -> InstructionWriter:
    """Pick the instruction writer from arguments, else the environment.

    Arguments win over ``OPENAI_BASE_URL``, ``STEMGEN_LLM_MODEL`` and ``OPENAI_API_KEY``. The LLM
    writer is used when a model is named together with a base URL (any OpenAI-compatible server)
    or with a key (the OpenAI API itself); otherwise the offline writer. ``cache_path`` is the
    sqlite file for LLM replies; ``llm_options`` go to :class:`LLMWriter` (``backoff_s``,
    ``max_backoff_s``, ``temperature``, ``max_tokens``).
    """
    base_url = base_url or os.environ.get(ENV_BASE_URL) or None
    model = model or os.environ.get(ENV_MODEL) or None
    api_key = api_key or os.environ.get(ENV_API_KEY) or None
    if model and (base_url or api_key):
        from .llm import LLMWriter  # imports openai only when it is used

        return LLMWriter(
            base_url, model, api_key, cache=cache_path, concurrency=concurrency,
            timeout_s=timeout_s, max_retries=max_retries, seed=seed, **llm_options,
        )
    if base_url and not model:
        log.warning("an LLM base URL is set but no model (%s): using the offline instruction writer", ENV_MODEL)
    elif model:
        log.warning("an LLM model is set but no base URL (%s): using the offline instruction writer", ENV_BASE_URL)
    return OfflineWriter(seed=seed)
