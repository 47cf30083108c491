"""LLM endpoint faults end in the offline fallback, in a time that does not grow with the dataset.

Every test talks to a real local HTTP server (tests/fake_llm.py) through the real ``openai``
client: a 200 with broken JSON or an empty body, a hang, a dropped connection, 429 with
``Retry-After: 60``, and a URL whose port does not exist. The writer must stop asking after a
handful of consecutive failures (the circuit breaker), use the offline writer for every row, and
report what went wrong. Wall-time bounds are generous (seconds); the old behaviour took minutes.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from typer.testing import CliRunner

from fake_llm import FakeLLM, Reply, good_reply, hang
from stemgen.instructions import InstructionRequest, LLMWriter, make_writer, validate_instruction
from stemgen.instructions.limits import DEFAULTS, ENV_VARS, resolve_limits

MODEL = "fake-annotator"
CONCURRENCY = 8
BREAKER = DEFAULTS["breaker_failures"]
# The first wave of requests is all that may reach a dead endpoint: once the breaker opens,
# nothing more is sent, however many rows are left.
MAX_CALLS = BREAKER + CONCURRENCY

# name -> (server behaviour, the error kind the writer must report)
FAULTS = {
    "broken_json": (lambda call, body: Reply(body='{"choices": [{"message": '), "bad_response"),
    "empty_body": (lambda call, body: Reply(body=""), "bad_response"),
    "hang": (lambda call, body: hang(), "timeout"),
    "dropped_connection": (lambda call, body: Reply(drop=True), "connection"),
    "retry_after_60": (lambda call, body: Reply(status=429, headers=(("Retry-After", "60"),)), "http_429"),
}
BAD_PORT_URL = "http://127.0.0.1:99999/v1"


def requests_for(n: int) -> list[InstructionRequest]:
    return [InstructionRequest("drums", f"song {i}", {"tempo_bpm": 90.0 + i}, ("funk",)) for i in range(n)]


@pytest.fixture
def fast_timeout(monkeypatch):
    """A 1 s per-request timeout through the documented variable (the default, 20 s, is for real runs)."""
    monkeypatch.setenv(ENV_VARS["timeout_s"], "1")


def assert_fallback(results, n: int) -> None:
    assert [r.origin for r in results] == ["fallback"] * n
    for res in results:
        validate_instruction(res.text, "drums")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_endpoint_fault_falls_back_fast(fault, tmp_path, fast_timeout):
    behaviour, kind = FAULTS[fault]
    with FakeLLM(behaviour) as server:
        writer = make_writer(base_url=server.url, model=MODEL, cache_path=tmp_path / "c.sqlite", concurrency=CONCURRENCY)
        t0 = time.monotonic()
        results = writer.write(requests_for(50))
        elapsed = time.monotonic() - t0
        calls = server.calls
    assert_fallback(results, 50)
    assert elapsed < 8, f"{fault}: {elapsed:.1f} s for 50 rows"
    # Sent requests include those cancelled on their way when the breaker opened.
    assert calls <= writer.request_count <= MAX_CALLS
    faults = writer.faults
    assert faults["breaker_open"] is True and kind in faults["breaker_reason"]
    assert faults["errors"][kind] >= BREAKER and faults["llm_errors"] == sum(faults["errors"].values())
    summary = writer.summary()
    assert summary["fallback"] == 50 and summary["breaker_open"] is True and summary["llm_errors"] >= BREAKER
    json.dumps(summary)  # what the dataset summary carries
    writer.close()


def test_invalid_port_falls_back_without_a_request(tmp_path, caplog):
    writer = make_writer(base_url=BAD_PORT_URL, model=MODEL, cache_path=tmp_path / "c.sqlite")
    t0 = time.monotonic()
    results = writer.write(requests_for(50))
    assert time.monotonic() - t0 < 5
    assert_fallback(results, 50)
    assert writer.request_count == 0
    faults = writer.faults
    assert faults["breaker_open"] is True and "port" in faults["breaker_reason"].lower()
    assert "invalid endpoint URL" in caplog.text
    writer.close()


def test_requests_do_not_grow_with_the_dataset(tmp_path):
    """Ten times the rows, the same handful of requests to a dead endpoint."""
    sent = []
    for n in (20, 200):
        with FakeLLM(lambda call, body: Reply(drop=True)) as server:
            writer = make_writer(base_url=server.url, model=MODEL, cache_path=tmp_path / f"{n}.sqlite")
            assert_fallback(writer.write(requests_for(n)), n)
            sent.append(server.calls)
            writer.close()
    assert sent[1] <= MAX_CALLS and sent[0] <= MAX_CALLS


def test_breaker_stays_open_for_the_rest_of_the_run(tmp_path):
    with FakeLLM(lambda call, body: Reply(status=503)) as server:
        writer = make_writer(base_url=server.url, model=MODEL, cache_path=tmp_path / "c.sqlite")
        writer.write(requests_for(10))
        # Counted by the client: a request cancelled on its way when the breaker opened may still
        # reach the server after write() returns, so the server's count is not settled yet.
        sent_first = writer.request_count
        server.behaviour = good_reply  # the endpoint recovers: this run does not ask again
        assert_fallback(writer.write(requests_for(10)), 10)
        assert writer.request_count == sent_first and writer.faults["breaker_open"] is True
        assert server.calls <= sent_first
        writer.close()


def test_intermittent_failures_do_not_open_the_breaker(tmp_path):
    """Every even song's first request fails with 500: the retry succeeds and the breaker stays shut."""
    failed_once: set[str] = set()

    def flaky(call: int, body: dict) -> Reply:
        caption = body["messages"][-1]["content"]
        song = int(caption.split("Caption of the music: song ")[1].split()[0])
        if song % 2 == 0 and caption not in failed_once:
            failed_once.add(caption)
            return Reply(status=500)
        return good_reply(call, body)

    with FakeLLM(flaky) as server:
        writer = make_writer(base_url=server.url, model=MODEL, cache_path=tmp_path / "c.sqlite", concurrency=2,
                             backoff_s=0.01)
        results = writer.write(requests_for(30))
    assert [r.origin for r in results] == ["llm"] * 30
    faults = writer.faults
    assert faults["breaker_open"] is False and faults["errors"] == {"http_5xx": 15} and faults["llm_errors"] == 15
    writer.close()


def test_retry_after_is_honoured_only_up_to_the_cap():
    writer = LLMWriter("http://127.0.0.1:9/v1", MODEL)
    assert writer._backoff(0, 60.0) == DEFAULTS["max_backoff_s"] <= 10  # not the server's minute
    assert writer._backoff(0, 3.0) >= 3.0  # a short Retry-After is respected
    writer.close()


def test_limits_come_from_the_environment(monkeypatch):
    assert DEFAULTS == {"timeout_s": 20.0, "max_retries": 2, "max_backoff_s": 5.0, "breaker_failures": 5}
    for name, value in {"timeout_s": "7.5", "max_retries": "1", "max_backoff_s": "2", "breaker_failures": "3"}.items():
        monkeypatch.setenv(ENV_VARS[name], value)
    assert resolve_limits() == {"timeout_s": 7.5, "max_retries": 1, "max_backoff_s": 2.0, "breaker_failures": 3}
    assert resolve_limits(max_retries=0)["max_retries"] == 0  # arguments win
    writer = make_writer(base_url="http://127.0.0.1:9/v1", model=MODEL)
    assert (writer.timeout_s, writer.max_retries, writer.max_backoff_s, writer.breaker_failures) == (7.5, 1, 2.0, 3)
    writer.close()
    monkeypatch.setenv(ENV_VARS["timeout_s"], "soon")
    with pytest.raises(ValueError, match="STEMGEN_LLM_TIMEOUT_S"):
        resolve_limits()
    monkeypatch.setenv(ENV_VARS["timeout_s"], "0")
    with pytest.raises(ValueError, match="STEMGEN_LLM_TIMEOUT_S"):
        resolve_limits()


# -- through `stemgen dataset build` -----------------------------------------------------------

runner = CliRunner()


def build(*args: str) -> tuple[dict, int, float]:
    from stemgen.cli.main import app

    t0 = time.monotonic()
    result = runner.invoke(app, ["dataset", "build", *args, "--json"], catch_exceptions=False)
    elapsed = time.monotonic() - t0
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary (exit {result.exit_code}): {result.output[-2000:]}"
    return json.loads(lines[-1]), result.exit_code, elapsed


BUILD_ARGS = ("--stem", "drums", "--preset", "tiny", "--hop", "0.12", "--workers", "1")


@pytest.fixture(scope="module")
def songs_done(musdb_song, tmp_path_factory):
    """A dataset whose songs are processed (48 windows of a real MUSDB18 excerpt), offline."""
    out = tmp_path_factory.mktemp("faults") / "base"
    summary, code, _ = build(str(musdb_song), "--out", str(out), *BUILD_ARGS)
    assert code == 0 and summary["items"] >= 40, summary
    return out


def resumed_copy(songs_done, tmp_path):
    """The processed songs without instructions: a build into it only writes instructions."""
    out = tmp_path / "ds"
    shutil.copytree(songs_done, out, ignore=shutil.ignore_patterns("*.jsonl", "instruction_cache.sqlite*"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS) + ["bad_port"])
def test_dataset_build_survives_endpoint_faults(fault, songs_done, musdb_song, tmp_path, monkeypatch, fast_timeout):
    out = resumed_copy(songs_done, tmp_path)
    monkeypatch.setenv("STEMGEN_LLM_MODEL", MODEL)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-printed")
    if fault == "bad_port":
        monkeypatch.setenv("OPENAI_BASE_URL", BAD_PORT_URL)
        summary, code, elapsed = build(str(musdb_song), "--out", str(out), *BUILD_ARGS)
        calls = 0
    else:
        with FakeLLM(FAULTS[fault][0]) as server:
            monkeypatch.setenv("OPENAI_BASE_URL", server.url)
            summary, code, elapsed = build(str(musdb_song), "--out", str(out), *BUILD_ARGS)
            calls = server.calls
    n = summary["items"]
    assert code == 0 and n >= 40 and summary["errors"] == []
    assert summary["instructions"] == {"llm": 0, "cache": 0, "fallback": n}
    assert elapsed < 20, f"{fault}: {elapsed:.1f} s"
    assert calls <= summary["llm_requests"] <= MAX_CALLS
    faults = summary["llm_faults"]
    assert faults["breaker_open"] is True and faults["breaker_reason"]
    assert faults["llm_errors"] >= (0 if fault == "bad_port" else BREAKER)
    rows = [json.loads(line) for split in ("train", "valid", "test") for line in (out / f"{split}.jsonl").read_text().splitlines()]
    assert len(rows) == n and all(r["instruction_source"] == "fallback" and r["instruction"] for r in rows)
    assert "sk-never-printed" not in json.dumps(summary)
