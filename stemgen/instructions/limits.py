"""How long the LLM writer may spend on a faulty endpoint: per-request timeout, retries, backoff
cap (which also caps a server's ``Retry-After``) and the circuit breaker's threshold.

With the defaults, an endpoint that hangs, drops connections or answers garbage costs about one
request timeout (20 s) per run, whatever the dataset size: the first wave of requests fails, the
breaker opens after 5 consecutive failures, and every remaining row uses the offline writer.
Each limit can be set by argument, else by environment variable, else the default.
"""

from __future__ import annotations

import os

DEFAULTS: dict[str, float | int] = {
    "timeout_s": 20.0,  # whole request, connect to last byte
    "max_retries": 2,  # extra attempts per instruction after the first
    "max_backoff_s": 5.0,  # longest wait before a retry, a server's Retry-After included
    "breaker_failures": 5,  # consecutive failed requests that stop the writer asking for the run
}
ENV_VARS: dict[str, str] = {
    "timeout_s": "STEMGEN_LLM_TIMEOUT_S",
    "max_retries": "STEMGEN_LLM_MAX_RETRIES",
    "max_backoff_s": "STEMGEN_LLM_MAX_BACKOFF_S",
    "breaker_failures": "STEMGEN_LLM_BREAKER_FAILURES",
}
_MINIMUM = {"timeout_s": 0.001, "max_retries": 0, "max_backoff_s": 0.0, "breaker_failures": 1}


def resolve_limits(**given: float | int | None) -> dict[str, float | int]:
    """Each limit from ``given`` (when not None), else its environment variable, else the default.

    Raises ValueError naming the variable when its value is not a number in range.
    """
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown LLM limits: {', '.join(sorted(unknown))}")
    limits: dict[str, float | int] = {}
    for name, default in DEFAULTS.items():
        value, source = given.get(name), name
        if value is None:
            raw = os.environ.get(ENV_VARS[name], "").strip()
            value, source = (raw, ENV_VARS[name]) if raw else (default, name)
        kind = int if isinstance(default, int) else float
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source}={value!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not number >= _MINIMUM[name]:  # also rejects NaN
            raise ValueError(f"{source}={value!r} must be at least {_MINIMUM[name]}")
        limits[name] = number
    return limits
