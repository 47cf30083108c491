"""``stemgen dataset build`` end to end, through the CLI, on real data from ../shared/data."""

from __future__ import annotations

import json
import shutil

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from stemgen.cli.main import app
from stemgen.data.manifest import load_hf_dataset, read_manifest

runner = CliRunner()


def build(*args: str) -> dict:
    result = runner.invoke(app, ["dataset", "build", *args, "--json"], catch_exceptions=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary (exit {result.exit_code}): {result.output[-2000:]}"
    summary = json.loads(lines[-1])
    summary["_exit_code"] = result.exit_code
    return summary


@pytest.fixture(scope="module")
def sources(tmp_path_factory, musdb_song, slakh_track, band_midi_dir, groove_dir):
    """A small mixed collection: MUSDB18 stems, a Slakh track, two band MIDI songs, a Groove file."""
    root = tmp_path_factory.mktemp("sources")
    shutil.copytree(musdb_song, root / "musdb" / musdb_song.name)
    shutil.copytree(slakh_track, root / "slakh" / "Track00001")
    (root / "midi").mkdir()
    for name in sorted(p.name for p in band_midi_dir.glob("*.mid"))[:2]:
        shutil.copy(band_midi_dir / name, root / "midi" / name)
    shutil.copy(groove_dir / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid", root / "midi")
    # The collections' license notes travel with the copies.
    shutil.copy(musdb_song.parent / "README.md", root / "musdb" / "README.md")
    shutil.copy(band_midi_dir.parent / "README.md", root / "midi" / "README.md")
    return root


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "drums"
    summary = build(str(sources), "--out", str(out), "--stem", "drums", "--preset", "compact", "--splits", "0.5,0.25,0.25")
    return out, summary


def test_summary_and_manifest(built):
    out, s = built
    assert s["_exit_code"] == 0
    assert {"manifest", "items", "skipped", "errors", "instructions"} <= set(s)
    assert s["errors"] == [] and s["items"] > 10
    assert s["instructions"]["fallback"] == s["items"]  # no endpoint configured: offline writer
    assert s["songs"]["processed"] == 5
    # The Groove file is drums only: its windows have a silent context and are skipped, counted.
    assert s["skipped"].get("silent_context", 0) > 0
    rows = [r for split in ("train", "valid", "test") for r in read_manifest(out, split)]
    assert len(rows) == s["items"]
    assert all(r["instruction"] and r["caption"] for r in rows)
    assert {r["license"] for r in rows} == {"CC-BY-NC-SA-4.0"}
    # Song-level split: no song in two splits.
    splits_of = {}
    for r in rows:
        splits_of.setdefault(r["song_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())


def test_examples_are_consistent_audio(built):
    out, _ = built
    for row in read_manifest(out, "train")[:5]:
        mix, sr = sf.read(row["mix_audio"], dtype="float32")
        context, _ = sf.read(row["context_audio"], dtype="float32")
        stem, _ = sf.read(row["stem_audio"], dtype="float32")
        assert sr == 22050 == row["sample_rate"] and len(mix) == int(row["duration_s"] * sr)
        assert np.abs(mix - (context + stem)).max() < 3e-4  # 16-bit rounding of three files
        assert np.abs(stem).max() > 0.001


def test_loads_with_hf_datasets(built):
    out, s = built
    ds = load_hf_dataset(out)
    assert sum(len(split) for split in ds.values()) == s["items"]
    assert "instruction" in ds["train"].column_names


def test_rerun_resumes_without_rework(built, sources):
    out, s = built
    flac = sorted(out.glob("audio/*/*/*.flac"))[0]
    before = flac.stat().st_mtime_ns
    again = build(str(sources), "--out", str(out), "--stem", "drums", "--preset", "compact", "--splits", "0.5,0.25,0.25")
    assert again["songs"]["resumed"] == 5 and again["songs"]["processed"] == 0
    assert again["items"] == s["items"] and flac.stat().st_mtime_ns == before


def test_killed_song_is_redone_and_partial_files_never_listed(built, sources):
    out, s = built
    marker = sorted((out / "songs").glob("*.json"))[0]
    marker.unlink()  # as if the song was killed before finishing
    (out / "audio" / "train" / "stray.part.flac").parent.mkdir(parents=True, exist_ok=True)
    (out / "audio" / "train" / "stray.part.flac").write_bytes(b"half")
    again = build(str(sources), "--out", str(out), "--stem", "drums", "--preset", "compact", "--splits", "0.5,0.25,0.25")
    assert again["songs"]["processed"] == 1 and again["items"] == s["items"]
    listed = (out / "train.jsonl").read_text() + (out / "valid.jsonl").read_text() + (out / "test.jsonl").read_text()
    assert ".part" not in listed


def test_other_settings_need_another_folder(built, sources):
    out, _ = built
    s = build(str(sources), "--out", str(out), "--stem", "bass", "--preset", "compact")
    assert s["_exit_code"] == 1 and "other settings (split_ratios, stem)" in s["error"]


def test_guitar_from_musdb_is_reported_not_mislabelled(musdb_song, tmp_path):
    s = build(str(musdb_song), "--out", str(tmp_path / "g"), "--stem", "guitar", "--preset", "tiny")
    assert s["items"] == 0 and s["_exit_code"] != 0
    assert "guitar" in s["skipped_songs"][0]["reason"] and "other" in s["skipped_songs"][0]["reason"]


def test_bad_inputs_are_listed_and_the_build_goes_on(tmp_path, musdb_song):
    bad = tmp_path / "bad"
    shutil.copytree(musdb_song, bad / "good_song")
    (bad / "corrupt").mkdir()
    (bad / "corrupt" / "drums.wav").write_bytes(b"RIFF nonsense" * 10)
    (bad / "corrupt" / "bass.wav").write_bytes(b"RIFF nonsense" * 10)
    (bad / "empty.wav").write_bytes(b"")
    (bad / "notes.txt").write_text("not music")
    (bad / "uneven").mkdir()
    sf.write(bad / "uneven" / "drums.wav", np.zeros(16000, np.float32), 16000)
    sf.write(bad / "uneven" / "bass.wav", np.zeros(8000, np.float32), 8000)
    (bad / "broken.mid").write_bytes(b"MThd garbage")
    silent = mido.MidiFile()
    silent.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    silent.save(bad / "no_notes.mid")
    s = build(str(bad), "--out", str(tmp_path / "out"), "--stem", "drums", "--preset", "tiny")
    assert s["items"] > 0 and s["_exit_code"] == 0, s
    failed = {e["file"].split("/bad/")[-1]: e["reason"] for e in s["errors"]}
    assert set(failed) >= {"empty.wav", "broken.mid", "no_notes.mid"}, failed
    assert any(f.startswith("corrupt/") for f in failed), failed
    uneven = [reason for f, reason in failed.items() if f.startswith("uneven/")]
    assert "empty" in failed["empty.wav"] and uneven and "sample rate" in uneven[0]


def test_llm_instructions_then_zero_requests_on_rerun(musdb_song, tmp_path, monkeypatch):
    from fake_llm import FakeLLM

    out = tmp_path / "llm"
    with FakeLLM() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-never-printed")
        monkeypatch.setenv("STEMGEN_LLM_MODEL", "fake-annotator")
        first = build(str(musdb_song), "--out", str(out), "--stem", "bass", "--preset", "tiny")
        calls_after_first = server.calls
        second = build(str(musdb_song), "--out", str(out), "--stem", "bass", "--preset", "tiny")
    assert first["items"] > 0 and first["instructions"] == {"llm": first["items"], "cache": 0, "fallback": 0}
    assert calls_after_first == first["items"] == first["llm_requests"]
    assert server.calls == calls_after_first, "the rerun must make zero requests"
    assert second["instructions"] == {"llm": 0, "cache": first["items"], "fallback": 0}
    assert "sk-never-printed" not in json.dumps(first) + json.dumps(second)
    rows = read_manifest(out, "train") + read_manifest(out, "valid") + read_manifest(out, "test")
    assert all(r["instruction"].startswith("Add tight bass") and r["instruction_source"] == "cache" for r in rows)
