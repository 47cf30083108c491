"""LLM writer: asks any OpenAI-compatible chat endpoint for instructions, many requests in flight.

Flow per ``write``: cache look-up (hits cost nothing) → the remaining unique requests go to the
endpoint through ``openai.AsyncOpenAI``, at most ``concurrency`` at a time → each reply is
validated; endpoint failures (timeouts, connection errors, 429/408/409/5xx, a 200 whose body is
not a chat completion) are retried with exponential backoff and jitter, capped (a server's
``Retry-After`` included) at ``max_backoff_s``; well-formed replies that are not a usable
instruction are re-asked at once → good replies are cached, the rest get the offline writer's
sentence (origin ``"fallback"``, not cached).

Faulty endpoints cost a bounded time, not one that grows with the dataset: every request has a
total timeout, and a circuit breaker (``breaker.py``) stops all asking after a few consecutive
failed requests (or at once for a wrong key, model or URL), cancelling the requests still in
flight; every row left then falls back at once. ``faults`` reports the counts.

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
from urllib.parse import urlsplit

import openai

from .base import InstructionWriter, Progress
from .breaker import CircuitBreaker
from .cache import InstructionCache
from .limits import DEFAULTS
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


class _Failed(Exception):
    """A failed request (already counted by the breaker); ``retry`` after ``delay_hint`` s or the backoff."""

    def __init__(self, reason: str, retry: bool = True, delay_hint: float | None = None):
        super().__init__(reason)
        self.reason, self.retry, self.delay_hint = reason, retry, delay_hint


class _Abandoned(Exception):
    """The request was cancelled because the breaker opened meanwhile."""


def _retry_after(err: openai.APIStatusError) -> float | None:
    """Seconds from a ``Retry-After`` header (numeric form only), if the server sent one."""
    try:
        return max(0.0, float(err.response.headers.get("retry-after", "")))
    except (TypeError, ValueError, AttributeError):
        return None


def _url_problem(base_url: str | None) -> str | None:
    """Why ``base_url`` cannot be an endpoint (bad scheme, no host, port out of range), or None."""
    if base_url is None:
        return None
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a port that is out of range or not a number
    except ValueError as err:
        return f"invalid endpoint URL {base_url!r}: {err}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"invalid endpoint URL {base_url!r}: expected http(s)://host[:port]/path"
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


class _Run:
    """One ``write``'s event loop, its requests in flight, and an event set when the breaker opens."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.opened = asyncio.Event()
        self.in_flight: set[asyncio.Future] = set()

    def stop(self) -> None:
        """Called in the loop once the breaker opens: wake sleepers, cancel requests in flight."""
        self.opened.set()
        for request in list(self.in_flight):
            request.cancel()


class LLMWriter(InstructionWriter):
    """Instruction writer backed by an OpenAI-compatible chat completions endpoint.

    Args:
        base_url: endpoint, e.g. ``http://localhost:8000/v1`` (None: the OpenAI default).
        model: model name sent with every request; also part of the cache key.
        api_key: secret for the endpoint (never logged); None sends a placeholder.
        cache: an ``InstructionCache``, a path to its sqlite file, or None (in-memory only).
        concurrency: requests in flight at once.
        timeout_s: total time one request may take (connect to last byte).
        max_retries: extra attempts per instruction after the first.
        backoff_s / max_backoff_s: first backoff delay and its cap (doubles per retry, jittered);
            the cap also bounds how long a server's ``Retry-After`` is honoured.
        breaker_failures: consecutive failed requests after which the writer stops asking.
        temperature / max_tokens: sampling settings of the request.
        seed: sent to the endpoint (varied per attempt) and seeds the jitter and the fallback.

    Once the breaker is open (``breaker_failures`` failed requests in a row; or at once for
    401/403/404 or an invalid URL) the writer stops asking for the rest of its life and falls
    back at once. Defaults: ``stemgen.instructions.limits.DEFAULTS``; ``make_writer`` also reads
    them from the environment.
    """

    def __init__(
        self,
        base_url: str | None,
        model: str,
        api_key: str | None = None,
        *,
        cache: InstructionCache | str | Path | None = None,
        concurrency: int = 8,
        timeout_s: float = DEFAULTS["timeout_s"],
        max_retries: int = DEFAULTS["max_retries"],
        backoff_s: float = 1.0,
        max_backoff_s: float = DEFAULTS["max_backoff_s"],
        breaker_failures: int = DEFAULTS["breaker_failures"],
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
        self.breaker_failures = breaker_failures
        self.temperature, self.max_tokens, self.seed = temperature, max_tokens, seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._breaker = CircuitBreaker(breaker_failures)
        self._runs: set[_Run] = set()
        self.invalid_replies = 0  # well-formed replies that were not a usable instruction
        self.abandoned = 0  # requests cancelled in flight when the breaker opened
        problem = _url_problem(base_url)
        if problem:
            self._open(problem)

    @property
    def name(self) -> str:
        return "llm"

    def __repr__(self) -> str:
        return f"LLMWriter(base_url={self.base_url!r}, model={self.model!r}, concurrency={self.concurrency})"

    @property
    def faults(self) -> dict:
        """What went wrong with the endpoint: failed requests per kind, breaker state and reason."""
        with self._lock:
            extra = {"invalid_replies": self.invalid_replies, "abandoned": self.abandoned}
        return {**self._breaker.to_dict(), **extra}

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
                reason = self._breaker.reason
                log.warning(
                    "%d of %d instructions fell back to the offline writer (model %s)%s",
                    failed, len(pending), self.model, f": {reason}" if reason else "",
                )
        return results  # type: ignore[return-value]  # every slot is filled above

    async def _ask_all(
        self, requests: list[InstructionRequest], positions: dict[str, list[int]], progress: Progress | None
    ) -> list[str | None]:
        """Ask for every request concurrently; None where the instruction could not be had."""
        if self._breaker.is_open:
            if progress is not None:
                progress(sum(len(positions[r.key]) for r in requests))
            return [None] * len(requests)
        try:
            client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key.value, timeout=self.timeout_s, max_retries=0
            )
        except Exception as err:  # noqa: BLE001 - e.g. a URL httpx refuses: no request can be sent
            self._open(f"invalid endpoint URL {self.base_url!r} ({type(err).__name__})")
            return await self._ask_all(requests, positions, progress)
        semaphore = asyncio.Semaphore(self.concurrency)
        run = _Run()

        async def one(request: InstructionRequest) -> str | None:
            text = await self._ask(client, semaphore, run, request)
            if progress is not None:
                progress(len(positions[request.key]))
            return text

        with self._lock:
            self._runs.add(run)
        try:
            async with client:
                return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            with self._lock:
                self._runs.discard(run)

    async def _ask(
        self, client: openai.AsyncOpenAI, semaphore: asyncio.Semaphore, run: _Run, request: InstructionRequest
    ) -> str | None:
        """One instruction with retries; None once the attempts are spent or the breaker is open."""
        messages = build_messages(request)
        reason, delay = "not attempted", 0.0
        for attempt in range(self.max_retries + 1):
            if delay > 0:
                await self._pause(run, delay)
            try:
                async with semaphore:
                    if self._breaker.is_open:  # checked once a slot is free: others may have failed meanwhile
                        return None
                    text = await self._request(client, run, messages, attempt)
                text = validate_instruction(text, request.stem)
            except InvalidInstruction as err:
                # The endpoint works, the answer does not: re-ask at once (with another seed).
                reason, delay = f"invalid reply ({err})", 0.0
                with self._lock:
                    self.invalid_replies += 1
                log.debug("attempt %d: %s", attempt + 1, reason)
                continue
            except _Failed as err:
                reason = err.reason
                log.debug("attempt %d: %s", attempt + 1, reason)
                if not err.retry or self._breaker.is_open:
                    break
                delay = self._backoff(attempt, err.delay_hint)
                continue
            except _Abandoned:
                return None
            self.cache.put(request.key, self.model, text)
            return text
        log.debug("giving up on one instruction after %d attempt(s): %s", attempt + 1, reason)
        return None

    async def _pause(self, run: _Run, delay: float) -> None:
        """Sleep before a retry, waking early if the breaker opens meanwhile."""
        try:
            await asyncio.wait_for(run.opened.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _request(self, client: openai.AsyncOpenAI, run: _Run, messages: list[dict], attempt: int) -> str:
        """Send one chat request; return the reply's text or raise ``_Failed``/``_Abandoned``."""
        with self._lock:
            self.request_count += 1
        # The client's timeout covers each phase; wait_for bounds the whole request (a reply that
        # trickles in byte by byte, a connect that never completes).
        call = asyncio.ensure_future(asyncio.wait_for(
            client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=self.seed + attempt,  # a new seed per attempt, so a re-ask can differ
                n=1,
            ),
            timeout=self.timeout_s,
        ))
        run.in_flight.add(call)
        try:
            response = await call
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if call.cancelled() and self._breaker.is_open and not (task and task.cancelling()):
                with self._lock:
                    self.abandoned += 1
                raise _Abandoned from None
            raise
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise self._failure("timeout", f"no reply within {self.timeout_s:g} s") from None
        except openai.APIConnectionError as err:
            raise self._failure("connection", type(err).__name__) from None
        except openai.APIStatusError as err:
            raise self._status_failure(err) from None
        except Exception as err:  # noqa: BLE001 - a 200 whose body is not JSON, an unreadable response
            raise self._failure("bad_response", type(err).__name__) from None
        finally:
            run.in_flight.discard(call)
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError):
            raise self._failure("bad_response", "no chat completion in the body") from None
        self._breaker.success()
        return text

    def _status_failure(self, err: openai.APIStatusError) -> _Failed:
        status = err.status_code
        kind = "http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx"
        if status in _FATAL_STATUS:
            fatal = f"HTTP {status} from the endpoint (check the base URL, model and key)"
            return self._failure(kind, f"HTTP {status}", retry=False, fatal=fatal)
        retry = status in _RETRYABLE_STATUS or status >= 500
        return self._failure(kind, f"HTTP {status}", retry=retry, delay_hint=_retry_after(err) if retry else None)

    def _failure(
        self, kind: str, detail: str, retry: bool = True, delay_hint: float | None = None, fatal: str | None = None
    ) -> _Failed:
        """Count a failed request on the breaker, opening it if that was one too many or ``fatal``."""
        opened = self._breaker.trip(fatal) if fatal else False
        opened = self._breaker.failure(kind, detail) or opened
        if opened:
            self._announce_open()
        return _Failed(f"{kind} ({detail})", retry=retry, delay_hint=delay_hint)

    def _open(self, reason: str) -> None:
        if self._breaker.trip(reason):
            self._announce_open()

    def _announce_open(self) -> None:
        log.warning("LLM writer: %s; using the offline writer for the rest of this run", self._breaker.reason)
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.loop.call_soon_threadsafe(run.stop)

    def _backoff(self, attempt: int, hint: float | None) -> float:
        """Exponential backoff with jitter (half to full delay), at least a server's Retry-After,
        never more than ``max_backoff_s``."""
        delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
        with self._lock:
            delay *= 0.5 + 0.5 * self._rng.random()
        return min(self.max_backoff_s, max(delay, hint or 0.0))

    def close(self) -> None:
        self.cache.close()
