"""``stemgen dataset build`` end to end, through the CLI, on real data from ../shared/data."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from stemgen.cli.main import app
from stemgen.data.manifest import load_hf_dataset, read_manifest
from stemgen.splits import split_of

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
    # ... and it is the split of stemgen.splits, which the part models use too.
    assert all(r["split"] == split_of(r["source"], (0.5, 0.25, 0.25)) for r in rows)


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


BUILD_ARGS = ("--stem", "drums", "--preset", "compact", "--splits", "0.5,0.25,0.25")


def manifest_ids(out) -> set[str]:
    return {r["id"] for split in ("train", "valid", "test") for r in read_manifest(out, split)}


@pytest.mark.slow
def test_kill_9_workers_die_and_a_rerun_sweeps_partial_files(built, sources, tmp_path):
    """kill -9 of the main process: its workers end too; kill -9 of all of them mid-write: the
    rerun removes the half-written files and completes the same dataset."""
    from process_helpers import cleanup, descendants, kill_all_while_writing, start_cli, survivors, wait_for

    ref_out, ref = built
    out = tmp_path / "killed"
    args = ("dataset", "build", str(sources), "--out", str(out), *BUILD_ARGS, "--workers", "2", "--json")
    proc = start_cli(*args)
    workers = []
    try:
        # Both workers up and the first examples on disk: the build is mid-song.
        wait_for(lambda: len(descendants(proc)) >= 2 and any(out.glob("audio/*/*/*.flac")), 240, proc, "examples")
        workers = descendants(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        alive = survivors(workers, timeout=5)
        assert not alive, f"workers outlived their killed parent: {[(p.pid, p.cmdline()) for p in alive]}"
        assert len(list((out / "songs").glob("*.json"))) < 5, "the build finished before it was killed"

        # Now kill the whole process tree while a file is half written.
        proc = start_cli(*args)
        partial = kill_all_while_writing(proc, out, timeout=240)
    finally:
        cleanup(proc, workers)
    assert partial and all(p.exists() for p in partial)

    again = build(str(sources), "--out", str(out), *BUILD_ARGS, "--workers", "2")
    assert again["_exit_code"] == 0 and again["errors"] == []
    assert again["songs"]["processed"] >= 1 and again["songs"]["processed"] + again["songs"]["resumed"] == 5
    assert not any(p.exists() for p in partial)
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    assert again["items"] == ref["items"] and manifest_ids(out) == manifest_ids(ref_out)
    rows = [r for split in ("train", "valid", "test") for r in read_manifest(out, split)]
    for row in rows:  # every listed file is whole: it decodes to a full window
        for key in ("mix_audio", "context_audio", "stem_audio"):
            assert sf.info(row[key]).frames == int(row["duration_s"] * row["sample_rate"])


@pytest.mark.slow
def test_a_crashed_worker_costs_a_retry_not_the_songs(sources, built, tmp_path):
    """A worker SIGKILLed mid-build (as by a native crash or the OOM killer) breaks the pool; the
    songs it shared the pool with are redone and the dataset is complete."""
    import psutil

    from stemgen.data.builder import BuildConfig, build_dataset
    from stemgen.data.windows import SilencePolicy

    ref_out, ref = built
    killed = []
    others = {p.pid for p in psutil.Process().children()}  # e.g. a server another test left running

    def kill_a_worker(phase: str, done: int, total: int) -> None:
        if phase == "songs" and done >= 1 and not killed:
            workers = [p for p in psutil.Process().children() if p.pid not in others and _running(p)]
            assert workers, "no worker process to kill"
            workers[0].kill()
            killed.append(workers[0].pid)

    config = BuildConfig(tmp_path / "crash", "drums", preset="compact", split_ratios=(0.5, 0.25, 0.25),
                         silence=SilencePolicy(), workers=2)
    summary = build_dataset([sources], config, progress=kill_a_worker)
    assert killed and summary.worker_crashes >= 1
    assert summary.errors == [] and summary.songs["failed"] == 0 and summary.songs["processed"] == 5
    assert summary.items == ref["items"] and manifest_ids(tmp_path / "crash") == manifest_ids(ref_out)
    assert not [p for p in (tmp_path / "crash").rglob("*") if ".part" in p.name]


def _running(p) -> bool:
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_out_that_cannot_be_written_fails_before_any_work(sources, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.geteuid() == 0:  # root writes through file modes: use a folder no one can write in
        readonly = Path("/sys/kernel")
    for out, reason in ((a_file, "is a file, not a folder"), (a_file / "sub", "a parent is a file"),
                        (readonly, "not writable")):
        result = runner.invoke(app, ["dataset", "build", str(sources), "--out", str(out), *BUILD_ARGS])
        assert result.exit_code == 1, result.output
        assert result.output.count("\n") == 1 and f"error: {out}: " in result.output and reason in result.output, result.output
    assert a_file.read_text() == "not a folder"


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
    assert s["items"] > 0 and s["_exit_code"] == 3, s  # 3: examples written, some songs failed
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
