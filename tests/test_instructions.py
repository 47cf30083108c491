"""Instruction requests, reply validation, the sqlite cache, the offline writer and make_writer."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from stemgen.instructions import (
    InstructionCache,
    InstructionRequest,
    InvalidInstruction,
    OfflineWriter,
    make_writer,
    validate_instruction,
)
from stemgen.instructions.prompt import build_messages, prompt_version

STYLE_TAGS = ["funk", "reggae", "jazz-swing", "rock-indie", "latin-samba", "hiphop", "afrobeat", "pop-soft",
              "blues-shuffle", "country", "soul-motown", "unknown-tag"]


def varied_requests(n: int, seed: int = 1) -> list[InstructionRequest]:
    """Requests like the dataset builder's: random descriptors (some missing), one style tag or none."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = {}
        for name, lo, hi in [("tempo_bpm", 60, 180), ("onset_density", 0.5, 10), ("loudness_db", -40, -8),
                             ("dynamics_db", 1, 15), ("brightness_hz", 500, 5000)]:
            if rng.random() < 0.8:
                d[name] = round(rng.uniform(lo, hi), 1)
        if rng.random() < 0.7:
            d["key"] = rng.choice(["A minor", "C major", "F# minor", "Eb major"])
        tags = (rng.choice(STYLE_TAGS),) if rng.random() < 0.8 else ()
        out.append(InstructionRequest(("drums", "bass", "guitar")[i % 3], f"window {i} of a song", d, tags))
    return out


# -- requests ---------------------------------------------------------------------------------

def test_request_key_is_stable_and_content_addressed():
    a = InstructionRequest("drums", "funky groove", {"tempo_bpm": 112.3, "key": "A minor"}, ("funk",))
    b = InstructionRequest("Drums ", "funky groove", {"key": "A minor", "tempo_bpm": np.float32(112.3)}, ["funk"])
    assert a.key == b.key and len(a.key) == 64
    assert b.tags == ("funk",) and hash(a) == hash(b) and a == b
    assert InstructionRequest("bass", "funky groove", a.descriptors, a.tags).key != a.key
    assert InstructionRequest("drums", "funky groove", {"tempo_bpm": 100.0}, a.tags).key != a.key


def test_request_key_changes_with_the_prompt_templates(monkeypatch):
    import stemgen.instructions.prompt as prompt

    r = InstructionRequest("drums", "x")
    before = r.key
    assert len(prompt_version()) == 16
    monkeypatch.setattr(prompt, "prompt_version", lambda: "edited-template")
    assert r.key != before


def test_request_tolerates_missing_and_odd_descriptors():
    r = InstructionRequest("guitar", "", {"tempo_bpm": float("nan"), "loudness_db": None, "x": np.int64(3)})
    assert len(r.key) == 64
    assert OfflineWriter().write([r])[0].text


def test_prompt_templates_render_caption_stem_and_descriptors():
    r = InstructionRequest("bass", "mellow jazz trio", {"tempo_bpm": 96, "key": "D minor"}, ("jazz",))
    system, user = build_messages(r)
    assert system["role"] == "system" and "professional music annotator" in system["content"]
    assert "ONE sentence" in system["content"] and "Add reggae beats" in system["content"]
    assert "mellow jazz trio" in user["content"] and "without the bass" in user["content"]
    assert "96 BPM" in user["content"] and "D minor" in user["content"] and "jazz" in user["content"]
    assert "$" not in user["content"]


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, stem, expected", [
    ("Add reggae beats", "drums", "Add reggae beats."),
    ('"Add soft acoustic drums to enhance emotion."', "drums", "Add soft acoustic drums to enhance emotion."),
    ("Instruction: Add indie drums with punchy beats.", "drums", "Add indie drums with punchy beats."),
    ("**Instruction:** “Generate percussion with a lively Latin flair.”", "drums",
     "Generate percussion with a lively Latin flair."),
    ("  insert a warm bassline that locks in with the kick. ", "bass", "Insert a warm bassline that locks in with the kick."),
    ("Layer in bright funky guitar chords!", "guitar", "Layer in bright funky guitar chords!"),
])
def test_validate_accepts_and_cleans(reply, stem, expected):
    assert validate_instruction(reply, stem) == expected


@pytest.mark.parametrize("reply, stem", [
    ("", "drums"),
    ("Sure! Here's an instruction: Add some drums.", "drums"),
    ("Add punchy drums.\nThis will make the song better.", "drums"),
    ("Add drums. They should be loud. And funky.", "drums"),
    ("The drums should be funky.", "drums"),
    ("Add a bright synth pad.", "drums"),
    ("Add a funky groove.", "bass"),
    ("Add " + "very " * 60 + "loud drums.", "drums"),
])
def test_validate_rejects(reply, stem):
    with pytest.raises(InvalidInstruction):
        validate_instruction(reply, stem)


# -- cache ------------------------------------------------------------------------------------

def test_cache_persists_and_separates_models(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    with InstructionCache(path) as cache:
        cache.put("k1", "model-a", "Add drums.")
    with InstructionCache(path) as cache:
        assert cache.get("k1", "model-a") == "Add drums."
        assert cache.get("k1", "model-b") is None
        assert cache.get_many(["k1", "k2"], "model-a") == {"k1": "Add drums."}
        assert len(cache) == 1


def test_cache_is_safe_with_concurrent_threads(tmp_path):
    cache = InstructionCache(tmp_path / "c.sqlite")
    start = threading.Barrier(8)  # all threads hit the cache at the same moment
    read_back: dict[int, list[str | None]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        # Threads only record what they saw: an assert here would fail silently (a thread's
        # exception is only a warning), so the main thread checks everything below.
        try:
            start.wait(timeout=30)
            seen = []
            for i in range(50):
                cache.put(f"{t}-{i}", "m", f"Add drums {t} {i}.")
                seen.append(cache.get(f"{t}-{i}", "m"))
            read_back[t] = seen
        except BaseException as err:  # noqa: BLE001 - reported to the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads), "a thread is stuck on the cache"
    assert errors == []
    assert read_back == {t: [f"Add drums {t} {i}." for i in range(50)] for t in range(8)}
    assert len(cache) == 400
    everything = cache.get_many([f"{t}-{i}" for t in range(8) for i in range(50)], "m")
    assert everything == {f"{t}-{i}": f"Add drums {t} {i}." for t in range(8) for i in range(50)}
    cache.close()


# -- offline writer ---------------------------------------------------------------------------

def test_offline_writer_is_deterministic_and_keeps_order():
    reqs = varied_requests(30)
    a, b = OfflineWriter(seed=0).write(reqs), OfflineWriter(seed=0).write(reqs)
    assert [r.text for r in a] == [r.text for r in b]
    assert [r.text for r in OfflineWriter(seed=0).write(reqs[::-1])] == [r.text for r in a][::-1]
    other = OfflineWriter(seed=1).write(reqs)
    assert sum(x.text != y.text for x, y in zip(a, other)) > len(reqs) // 2


def test_offline_writer_is_varied_and_always_asks_for_the_stem():
    reqs = varied_requests(50)
    seen = []
    writer = OfflineWriter()
    results = writer.write(reqs, progress=seen.append)
    texts = [r.text for r in results]
    assert len(set(texts)) >= 0.8 * len(texts)
    assert len({t.split()[0] for t in texts}) >= 3  # several verbs, not only "Add"
    for req, res in zip(reqs, results):
        assert res.origin == "fallback"
        assert validate_instruction(res.text, req.stem) == res.text  # one imperative sentence naming the stem
        assert " a a" not in res.text and " an an" not in res.text and "  " not in res.text
    assert sum(seen) == 50 and writer.stats == {"llm": 0, "cache": 0, "fallback": 50}


def test_offline_writer_uses_styles_and_descriptors():
    writer = OfflineWriter()
    funk = [InstructionRequest("drums", f"w{i}", {"tempo_bpm": 100 + i}, ("funk",)) for i in range(20)]
    assert sum("funk" in r.text.lower() for r in writer.write(funk)) >= 10
    soft = [InstructionRequest("drums", f"w{i}", {"loudness_db": -38.0, "onset_density": 1.0}) for i in range(30)]
    words = {"soft", "gentle", "delicate", "quiet", "sparse", "minimal", "understated", "restrained", "space", "sparse,"}
    hits = sum(bool(words & set(r.text.lower().replace(".", "").split())) for r in writer.write(soft))
    assert hits >= 10
    rushed = [InstructionRequest("drums", f"w{i}", {"tempo_bpm": 170, "loudness_db": -38.0}) for i in range(40)]
    fast, soft = {"upbeat", "driving", "energetic", "fast", "high-energy", "racing"}, {"soft", "gentle", "delicate", "quiet"}
    for r in writer.write(rushed):  # never "high-energy, quiet drums"
        words = set(r.text.lower().replace(",", "").replace(".", "").split())
        assert not (words & fast and words & soft), r.text
    keyed = [InstructionRequest("bass", f"w{i}", {"key": "A minor"}) for i in range(30)]
    assert any("A minor" in r.text for r in writer.write(keyed))
    drums_keyed = [InstructionRequest("drums", f"w{i}", {"key": "A minor"}) for i in range(30)]
    assert not any("minor" in r.text for r in writer.write(drums_keyed))


def test_offline_writer_handles_bare_requests_and_other_stems():
    texts = [r.text for r in OfflineWriter().write([InstructionRequest(s, "") for s in ("drums", "bass", "guitar")])]
    assert all(t.endswith(".") and t[0].isupper() for t in texts)
    assert "vocals" in OfflineWriter().write([InstructionRequest("vocals", "")])[0].text


# -- make_writer ------------------------------------------------------------------------------

def test_make_writer_without_endpoint_is_offline(monkeypatch):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STEMGEN_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(make_writer(), OfflineWriter)
    assert isinstance(make_writer(base_url="http://127.0.0.1:9/v1"), OfflineWriter)  # no model: offline


def test_make_writer_reads_the_environment(monkeypatch, tmp_path):
    from stemgen.instructions import LLMWriter

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("STEMGEN_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    writer = make_writer(cache_path=tmp_path / "c.sqlite", concurrency=12)
    assert isinstance(writer, LLMWriter)
    assert (writer.base_url, writer.model, writer.concurrency) == ("http://127.0.0.1:9/v1", "env-model", 12)
    assert "sk-env-secret" not in repr(writer)
    assert make_writer(model="arg-model").model == "arg-model"  # arguments win
    writer.close()
