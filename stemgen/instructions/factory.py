"""``make_writer``: the LLM writer when an endpoint is configured, the offline writer otherwise."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .base import InstructionWriter
from .limits import resolve_limits
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
    timeout_s: float | None = None,
    max_retries: int | None = None,
    seed: int = 0,
    max_backoff_s: float | None = None,
    breaker_failures: int | None = None,
    **llm_options,
) -> InstructionWriter:
    """Pick the instruction writer from arguments, else the environment.

    Arguments win over ``OPENAI_BASE_URL``, ``STEMGEN_LLM_MODEL`` and ``OPENAI_API_KEY``. The LLM
    writer is used when a model is named together with a base URL (any OpenAI-compatible server)
    or with a key (the OpenAI API itself); otherwise the offline writer. ``cache_path`` is the
    sqlite file for LLM replies; ``llm_options`` go to :class:`LLMWriter` (``backoff_s``,
    ``temperature``, ``max_tokens``).

    The limits on a faulty endpoint (``timeout_s``, ``max_retries``, ``max_backoff_s``,
    ``breaker_failures``) come from the arguments, else ``STEMGEN_LLM_TIMEOUT_S``,
    ``STEMGEN_LLM_MAX_RETRIES``, ``STEMGEN_LLM_MAX_BACKOFF_S``, ``STEMGEN_LLM_BREAKER_FAILURES``,
    else :data:`stemgen.instructions.limits.DEFAULTS` (20 s, 2, 5 s, 5); a bad value is a ValueError.
    """
    base_url = base_url or os.environ.get(ENV_BASE_URL) or None
    model = model or os.environ.get(ENV_MODEL) or None
    api_key = api_key or os.environ.get(ENV_API_KEY) or None
    if model and (base_url or api_key):
        limits = resolve_limits(
            timeout_s=timeout_s, max_retries=max_retries, max_backoff_s=max_backoff_s, breaker_failures=breaker_failures
        )
        from .llm import LLMWriter  # imports openai only when it is used

        return LLMWriter(
            base_url, model, api_key, cache=cache_path, concurrency=concurrency, seed=seed, **limits, **llm_options
        )
    if base_url and not model:
        log.warning("an LLM base URL is set but no model (%s): using the offline instruction writer", ENV_MODEL)
    elif model:
        log.warning("an LLM model is set but no base URL (%s): using the offline instruction writer", ENV_BASE_URL)
    return OfflineWriter(seed=seed)
