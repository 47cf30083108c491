"""LLM writer: asks any OpenAI-compatible chat endpoint for instructions, many requests in flight.

Flow per ``write``: cache look-up (hits cost nothing) → the remaining unique requests go to the
endpoint through ``openai.AsyncOpenAI``, at most ``concurrency`` at a time → each reply is
validated; transient failures (429, 408/409, 5xx, timeouts, connection errors) are retried with
exponential backoff and jitter, invalid replies are re-asked → good replies are cached, the rest
get the offline writer's sentence (origin ``"fallback"``, not cached).

The API key lives only in the client; it is never logged, put in an error or shown in a repr:
log lines and reasons are built from status codes and exception class names, never from the
server's error text (which may echo the key).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import openai

from .base import InstructionWriter, Progress
from .cache import InstructionCache
from .offline import compose_instruction
from .prompt import build_messages
from .request import InstructionRequest, InstructionResult
from .validate import InvalidInstruction, validate_instruction

log = logging.getLogger(__name__)
T = TypeVar("T")

# Local servers (vLLM, llama.cpp, Ollama) ignore the key, but the client insists on having one.
_PLACEHOLDER_KEY = "sk-no-key-required"
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_FATAL_STATUS = frozenset({401, 403, 404})  # wrong key or model: every further request would fail too


class _Secret:
    """Holds the API key; its repr/str never show it (tracebacks with locals, ``vars()`` dumps)."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


class _Retry(Exception):
    """A transient failure worth retrying after ``delay_hint`` seconds (or the backoff)."""

    def __init__(self, reason: str, delay_hint: float | None = None, transport: bool = True):
        super().__init__(reason)
        self.reason, self.delay_hint, self.transport = reason, delay_hint, transport


class _GiveUp(Exception):
    """A failure that retrying cannot fix."""


def _retry_after(err: openai.APIStatusError) -> float | None:
    """Seconds from a ``Retry-After`` header (numeric form only), if the server sent one."""
    try:
        return max(0.0, float(err.response.headers.get("retry-after", "")))
    except (TypeError, ValueError, AttributeError):
        return None


def _run_sync(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    # Inside a loop (Gradio, Jupyter): asyncio.run would refuse, so use a private thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


class LLMWriter(InstructionWriter):
    """Instruction writer backed by an OpenAI-compatible chat completions endpoint.

    Args:
        base_url: endpoint, e.g. ``http://localhost:8000/v1`` (None: the OpenAI default).
        model: model name sent with every request; also part of the cache key.
        api_key: secret for the endpoint (never logged); None sends a placeholder.
        cache: an ``InstructionCache``, a path to its sqlite file, or None (in-memory only).
        concurrency: requests in flight at once.
        timeout_s: per-request timeout in seconds.
        max_retries: extra attempts per instruction after the first.
        backoff_s / max_backoff_s: first backoff delay and its cap (doubles per retry, jittered).
        temperature / max_tokens: sampling settings of the request.
        seed: sent to the endpoint (varied per attempt) and seeds the jitter and the fallback.

    Once the endpoint answers 401/403/404, or ``2 * concurrency`` instructions in a row are lost to
    transport errors, the writer stops asking for the rest of its life and falls back at once.
    """

    def __init__(
        self,
        base_url: str | None,
        model: str,
        api_key: str | None = None,
        *,
        cache: InstructionCache | str | Path | None = None,
        concurrency: int = 8,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        temperature: float = 0.7,
        max_tokens: int = 80,
        seed: int = 0,
    ):
        super().__init__()
        if not model:
            raise ValueError("LLMWriter needs a model name")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.base_url, self.model = base_url, model
        self._api_key = _Secret(api_key or _PLACEHOLDER_KEY)
        self.cache = cache if isinstance(cache, InstructionCache) else InstructionCache(cache)
        self.concurrency, self.timeout_s, self.max_retries = concurrency, timeout_s, max(0, max_retries)
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._fatal: str | None = None  # set once the endpoint is known to be unusable
        self._transport_failures = 0  # instructions in a row lost to transport errors

    @property
    def name(self) -> str:
        return "llm"

    def __repr__(self) -> str:
        return f"LLMWriter(base_url={self.base_url!r}, model={self.model!r}, concurrency={self.concurrency})"

    # -- write -------------------------------------------------------------------------------

    def _write(self, requests: list[InstructionRequest], progress: Progress | None) -> list[InstructionResult]:
        keys = [r.key for r in requests]
        cached = self.cache.get_many(keys, self.model)
        positions: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            positions.setdefault(key, []).append(i)
        results: list[InstructionResult | None] = [None] * len(requests)
        for key, text in cached.items():
            for i in positions[key]:
                results[i] = InstructionResult(text, "cache")
        hits = sum(len(positions[k]) for k in cached)
        if progress is not None and hits:
            progress(hits)

        pending = [k for k in positions if k not in cached]
        if pending:
            texts = _run_sync(lambda: self._ask_all([requests[positions[k][0]] for k in pending], positions, progress))
            failed = 0
            for key, text in zip(pending, texts):
                first, *dups = positions[key]
                if text is None:
                    failed += 1
                    for i in positions[key]:
                        results[i] = InstructionResult(compose_instruction(requests[i], self.seed), "fallback")
                else:
                    # Duplicates within a batch were served by one request: count them as cache hits.
                    results[first] = InstructionResult(text, "llm")
                    for i in dups:
                        results[i] = InstructionResult(text, "cache")
            if failed:
                log.warning(
                    "%d of %d instructions fell back to the offline writer (model %s)%s",
                    failed, len(pending), self.model, f": {self._fatal}" if self._fatal else "",
                )
        return results  # type: ignore[return-value]  # every slot is filled above

    async def _ask_all(
        self, requests: list[InstructionRequest], positions: dict[str, list[int]], progress: Progress | None
    ) -> list[str | None]:
        """Ask for every request concurrently; None where the instruction could not be had."""
        semaphore = asyncio.Semaphore(self.concurrency)
        client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self._api_key.value, timeout=self.timeout_s, max_retries=0
        )

        async def one(request: InstructionRequest) -> str | None:
            text = await self._ask(client, semaphore, request)
            if progress is not None:
                progress(len(positions[request.key]))
            return text

        async with client:
            return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _ask(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, request: InstructionRequest
    ) -> str | None:
        """One instruction with retries; None after the last attempt fails."""
        messages = build_messages(request)
        reason = "not attempted"
        transport = False
        for attempt in range(self.max_retries + 1):
            try:
                async with semaphore:
                    if self._fatal:  # checked once a slot is free: others may have failed meanwhile
                        return None
                    text = await self._request(client, messages, attempt)
                text = validate_instruction(text, request.stem)
            except InvalidInstruction as err:
                reason, transport = f"invalid reply ({err})", False
                log.debug("attempt %d: %s", attempt + 1, reason)
                continue  # re-ask at once (with another seed): the server is fine, the answer is not
            except _Retry as err:
                reason, transport = err.reason, err.transport
                log.debug("attempt %d: %s", attempt + 1, reason)
                if attempt < self.max_retries:
                    await asyncio.sleep(self._backoff(attempt, err.delay_hint))
                continue
            except _GiveUp as err:
                reason, transport = str(err), False
                break
            self.cache.put(request.key, self.model, text)
            with self._lock:
                self._transport_failures = 0
            return text
        log.debug("giving up on one instruction after %d attempt(s): %s", attempt + 1, reason)
        if transport:
            self._note_transport_failure(reason)
        return None

    async def _request(self, client: openai.AsyncOpenAI, messages: list[dict], attempt: int) -> str:
        """Send one chat request; map the client's errors to retry / give up."""
        with self._lock:
            self.request_count += 1
        try:
            # The client's own timeout covers each phase; wait_for bounds a reply that trickles in.
            response = await asyncio.wait_for(
                client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=self.seed + attempt,  # a new seed per attempt, so a re-ask can differ
                    n=1,
                ),
                timeout=self.timeout_s * 2 + 1,
            )
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise _Retry("timeout") from None
        except openai.APIConnectionError as err:
            raise _Retry(f"connection error ({type(err).__name__})") from None
        except openai.APIStatusError as err:
            status = err.status_code
            if status in _RETRYABLE_STATUS or status >= 500:
                raise _Retry(f"HTTP {status}", _retry_after(err)) from None
            if status in _FATAL_STATUS:
                self._fatal = f"HTTP {status} from the endpoint (check the base URL, model and key)"
            raise _GiveUp(f"HTTP {status}") from None
        except openai.APIError as err:  # e.g. a 200 whose body is not a chat completion
            raise InvalidInstruction(f"unreadable response ({type(err).__name__})") from None
        try:
            return response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise InvalidInstruction("response without a message") from None

    def _backoff(self, attempt: int, hint: float | None) -> float:
        """Exponential backoff with jitter (half to full delay), at least a server's Retry-After."""
        delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        with self._lock:
            delay *= 0.5 + 0.5 * self._rng.random()
        return min(self.max_backoff_s, max(delay, hint or 0.0))

    def _note_transport_failure(self, reason: str) -> None:
        """Stop asking an endpoint that has failed many instructions in a row (circuit breaker)."""
        with self._lock:
            self._transport_failures += 1
            if self._transport_failures >= 2 * self.concurrency and not self._fatal:
                self._fatal = f"endpoint unusable after {self._transport_failures} failed instructions in a row ({reason})"
                log.warning("LLM writer: %s; using the offline writer from now on", self._fatal)

    def close(self) -> None:
        self.cache.close()
