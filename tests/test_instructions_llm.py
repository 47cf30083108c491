"""The LLM writer over real HTTP, with the real openai client, against a local fake endpoint.

The fake server implements POST /v1/chat/completions on 127.0.0.1 (ephemeral port) and is told
per call what to do: answer, fail with a status code, or sleep past the client's timeout. Timeouts
and backoffs are tiny so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from fake_llm import FakeLLM, Reply, good_reply
from stemgen.instructions import InstructionRequest, LLMWriter, make_writer, validate_instruction

SECRET = "sk-test-DO-NOT-LEAK-4f9a1c"
MODEL = "fake-annotator"


def requests_for(n: int, stem: str = "drums") -> list[InstructionRequest]:
    return [InstructionRequest(stem, f"song {i}", {"tempo_bpm": 90.0 + i}, ("funk",)) for i in range(n)]


def writer_for(server: FakeLLM, tmp_path, **kw) -> LLMWriter:
    options = dict(base_url=server.url, model=MODEL, api_key=SECRET, cache_path=tmp_path / "cache.sqlite",
                   timeout_s=2.0, max_retries=2, backoff_s=0.01, max_backoff_s=0.05)
    options.update(kw)
    writer = make_writer(**options)
    assert isinstance(writer, LLMWriter)
    return writer


def test_success_keeps_order_and_reports_progress(tmp_path):
    def shuffled(call: int, body: dict) -> Reply:  # later requests answer sooner: completion order differs
        return Reply(good_reply(call, body).text, delay=0.05 * (3 - call % 4))

    reqs = requests_for(12)
    seen: list[int] = []
    with FakeLLM(shuffled) as server:
        writer = writer_for(server, tmp_path)
        results = writer.write(reqs, progress=seen.append)
    assert [r.text for r in results] == [f"Add tight drums for song {i}." for i in range(12)]
    assert all(r.origin == "llm" for r in results)
    assert sum(seen) == 12 and server.calls == 12 and writer.request_count == 12
    assert writer.stats == {"llm": 12, "cache": 0, "fallback": 0}
    body = server.bodies[0]
    assert body["model"] == MODEL and body["messages"][0]["role"] == "system"
    assert "professional music annotator" in body["messages"][0]["content"]
    assert server.auth == {f"Bearer {SECRET}"}  # the key is used, just never shown


def held(n: int):
    """The first ``n`` replies wait until ``n`` requests are in flight at once (counted by the
    server), so concurrency is measured, not inferred from timing: a writer that sends fewer at
    once makes them give up waiting (``hold_timeouts``); one that sends more has its extra request
    arrive while they are held (a short ``delay`` after the gate opens), pushing ``max_in_flight``
    past ``n``."""

    def behaviour(call: int, body: dict) -> Reply:
        reply = good_reply(call, body)
        return Reply(reply.text, hold_until=n, hold_timeout=5.0, delay=0.2) if call < n else reply

    return behaviour


def test_at_least_eight_requests_in_flight(tmp_path):
    with FakeLLM(held(8)) as server:
        writer = writer_for(server, tmp_path, timeout_s=20.0)  # default concurrency: 8
        results = writer.write(requests_for(16))
    assert all(r.origin == "llm" for r in results)
    assert server.hold_timeouts == 0  # every wave had 8 at once ...
    assert server.max_in_flight == 8  # ... and never more than asked


def test_concurrency_is_configurable(tmp_path):
    with FakeLLM(held(12)) as server:
        results = writer_for(server, tmp_path, concurrency=12, timeout_s=20.0).write(requests_for(24))
    assert all(r.origin == "llm" for r in results)
    assert server.hold_timeouts == 0 and server.max_in_flight == 12


def test_one_request_at_a_time_when_asked(tmp_path):
    with FakeLLM() as server:
        writer_for(server, tmp_path, concurrency=1).write(requests_for(6))
    assert server.calls == 6 and server.max_in_flight == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_error_then_success(tmp_path, status):
    def flaky(call: int, body: dict) -> Reply:
        return Reply(status=status, headers=(("Retry-After", "0"),)) if call == 0 else good_reply(call, body)

    with FakeLLM(flaky) as server:
        writer = writer_for(server, tmp_path)
        results = writer.write(requests_for(1))
    assert results[0].origin == "llm" and results[0].text == "Add tight drums for song 0."
    assert server.calls == 2 and writer.request_count == 2


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after(tmp_path):
    writer = LLMWriter("http://127.0.0.1:9/v1", MODEL, backoff_s=1.0, max_backoff_s=30.0)
    delays = [writer._backoff(n, None) for n in range(5)]
    for n, d in enumerate(delays):
        assert 0.5 * 2**n <= d <= 2**n
    assert writer._backoff(0, 7.0) == 7.0 and writer._backoff(0, 100.0) == 30.0
    writer.close()


@pytest.mark.parametrize("garbage", [
    "Sure! Here's an instruction you could use: Add some drums. Let me know if you need more!",
    "The drums in this song would ideally be tight and funky, with a strong backbeat on two and four,\n"
    "and a hi-hat pattern that keeps sixteenth notes going throughout the verse and chorus sections.",
    "I cannot help with that.",
])
def test_garbage_reply_is_retried_then_falls_back(tmp_path, garbage):
    with FakeLLM(lambda call, body: Reply(garbage)) as server:
        writer = writer_for(server, tmp_path, max_retries=2)
        results = writer.write(requests_for(2))
    assert server.calls == 2 * 3  # first attempt + 2 retries each
    for res in results:
        assert res.origin == "fallback" and res.text != garbage
        validate_instruction(res.text, "drums")
    assert writer.stats["fallback"] == 2


def test_malformed_body_is_retried_then_succeeds(tmp_path):
    def broken_first(call: int, body: dict) -> Reply:
        return Reply(body='{"choices": []}') if call == 0 else good_reply(call, body)

    with FakeLLM(broken_first) as server:
        results = writer_for(server, tmp_path).write(requests_for(1))
    assert results[0].origin == "llm" and server.calls == 2


def test_reply_is_cleaned_of_quotes_and_prefix(tmp_path):
    with FakeLLM(lambda call, body: Reply('Instruction: "Add reggae beats"')) as server:
        results = writer_for(server, tmp_path).write(requests_for(1))
    assert results[0].text == "Add reggae beats." and results[0].origin == "llm"


def test_timeout_is_retried_then_falls_back(tmp_path):
    with FakeLLM(lambda call, body: Reply(good_reply(call, body).text, delay=1.5)) as server:
        writer = writer_for(server, tmp_path, timeout_s=0.3, max_retries=1)
        t0 = time.monotonic()
        results = writer.write(requests_for(1))
        elapsed = time.monotonic() - t0
    assert results[0].origin == "fallback" and server.calls == 2
    assert elapsed < 1.5  # gave up on its own timeout, did not wait for the server


def test_timeout_then_success(tmp_path):
    def slow_first(call: int, body: dict) -> Reply:
        return Reply(good_reply(call, body).text, delay=1.0 if call == 0 else 0.0)

    with FakeLLM(slow_first) as server:
        results = writer_for(server, tmp_path, timeout_s=0.3).write(requests_for(1))
    assert results[0].origin == "llm" and server.calls == 2


def test_rerun_with_the_cache_makes_zero_requests(tmp_path):
    reqs = requests_for(10)
    with FakeLLM() as server:
        first = writer_for(server, tmp_path).write(reqs)
        assert server.calls == 10
        again = writer_for(server, tmp_path)  # a new run: same cache file, same model
        seen: list[int] = []
        second = again.write(reqs, progress=seen.append)
        assert server.calls == 10 and again.request_count == 0
        assert [r.origin for r in second] == ["cache"] * 10 and sum(seen) == 10
        assert [r.text for r in second] == [r.text for r in first]
        assert again.summary() == {
            "llm": 0, "cache": 10, "fallback": 0, "requests": 0, "writer": "llm", "llm_errors": 0, "errors": {},
            "breaker_open": False, "breaker_reason": None, "invalid_replies": 0, "abandoned": 0,
        }
        writer_for(server, tmp_path, model="other-model").write(reqs[:2])  # another model: not cached
        assert server.calls == 12


def test_duplicate_requests_in_a_batch_are_asked_once(tmp_path):
    reqs = requests_for(3) * 2
    with FakeLLM() as server:
        results = writer_for(server, tmp_path).write(reqs)
    assert server.calls == 3
    assert [r.origin for r in results] == ["llm"] * 3 + ["cache"] * 3
    assert [r.text for r in results[:3]] == [r.text for r in results[3:]]


def test_fallbacks_are_not_cached(tmp_path):
    reqs = requests_for(3)
    with FakeLLM(lambda call, body: Reply(status=500)) as server:
        assert [r.origin for r in writer_for(server, tmp_path, max_retries=1).write(reqs)] == ["fallback"] * 3
    with FakeLLM() as server:
        results = writer_for(server, tmp_path).write(reqs)
    assert [r.origin for r in results] == ["llm"] * 3 and server.calls == 3


def test_bad_key_stops_asking_and_never_leaks_it(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    with FakeLLM(lambda call, body: Reply(status=401, body=echo)) as server:
        writer = writer_for(server, tmp_path, concurrency=2)
        results = writer.write(requests_for(10))
    assert [r.origin for r in results] == ["fallback"] * 10
    assert server.calls <= 2  # 401 is not retried, and the rest are not sent
    assert "HTTP 401" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(writer) and SECRET not in str(vars(writer))


def test_key_never_appears_in_logs_or_errors(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # openai and httpx debug logs included

    def mixed(call: int, body: dict) -> Reply:
        return [Reply(status=429), Reply(status=500), Reply("Sure! Drums."), good_reply(call, body)][call % 4]

    with FakeLLM(mixed) as server:
        writer = writer_for(server, tmp_path, max_retries=1, timeout_s=0.5)
        writer.write(requests_for(8))
    with pytest.raises(ValueError) as err:
        LLMWriter(server.url, "", api_key=SECRET)
    assert caplog.records  # the run was logged ...
    assert SECRET not in caplog.text  # ... without the key
    assert SECRET not in str(err.value) and SECRET not in repr(writer)


def test_unreachable_endpoint_falls_back_quickly(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    writer = LLMWriter(f"http://127.0.0.1:{port}/v1", MODEL, cache=tmp_path / "c.sqlite", concurrency=4,
                       timeout_s=0.5, max_retries=1, backoff_s=0.01, max_backoff_s=0.02)
    t0 = time.monotonic()
    results = writer.write(requests_for(40))
    assert [r.origin for r in results] == ["fallback"] * 40
    assert writer.request_count < 80  # the circuit breaker stopped asking
    assert time.monotonic() - t0 < 10


def test_environment_switches_the_llm_writer_on(tmp_path, monkeypatch):
    with FakeLLM() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("STEMGEN_LLM_MODEL", MODEL)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        writer = make_writer(cache_path=tmp_path / "c.sqlite")
        results = writer.write(requests_for(2, stem="bass"))
    assert [r.text for r in results] == ["Add tight bass for song 0.", "Add tight bass for song 1."]
    assert server.auth == {f"Bearer {SECRET}"}


def test_write_works_inside_a_running_event_loop(tmp_path):
    import asyncio

    async def main(writer: LLMWriter):
        return writer.write(requests_for(2))

    with FakeLLM() as server:
        results = asyncio.run(main(writer_for(server, tmp_path)))
    assert [r.origin for r in results] == ["llm", "llm"]
