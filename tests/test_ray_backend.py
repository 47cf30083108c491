"""``--backend ray``: the batch jobs on a real local Ray cluster write what the local pool writes.

One `ray start --head` cluster (2 CPUs, 500 MB object store) serves the whole module and is shut
down at the end, every process of it checked gone. The jobs run as real commands on real data
(band MIDI songs with a tiny random model, MUSDB/Groove stems and MIDI, the SoundFont renderer);
kills are real SIGKILLs of a Ray worker mid-task and of the driver mid-run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from typer.testing import CliRunner

from process_helpers import partial_files
from ray_cluster import LOOPBACK_ENV, RayCluster
from stemgen.cli.main import app
from stemgen.midifile.subtract import strip_role
from stemgen.workers_ray import STAGE_PREFIX, new_staging_folder, staged_files
from test_midi_generate import tiny_models  # noqa: F401 - the shared tiny-model fixture

if not os.environ.get("CI"):  # CI installs the ray extra (make test): there a missing Ray fails the module
    pytest.importorskip("ray", reason="the ray extra is not installed (make test installs it)")

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    c = RayCluster()
    yield c
    alive = c.stop()
    assert not alive, f"Ray processes outlived the cluster: {[(p.pid, p.name()) for p in alive]}"


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stemgen.cli.main", *args]


def arranger_command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "build_arranger_data.py"), *args]


def run(cmd: list[str], timeout: float = 600) -> tuple[int, dict, str]:
    """Run a command; its exit code, last JSON line on stdout and stderr."""
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, **LOOPBACK_ENV), capture_output=True, text=True,
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary (exit {proc.returncode}): {proc.stderr[-3000:]}"
    return proc.returncode, json.loads(lines[-1]), proc.stderr


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, env=dict(os.environ, **LOOPBACK_ENV), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition, timeout: float, proc: subprocess.Popen, what: str):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def files(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip and p.name != ".stemgen.lock"}


def ray_address(cluster: RayCluster) -> str:
    """``auto`` (the command of the issue) when this is the only Ray cluster on the machine."""
    gcs = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "gcs_server"]
    return "auto" if len(gcs) == 1 else cluster.address


# --- the staging folder a task writes into -----------------------------------------------------

def test_staged_files_come_back_in_write_order_without_partial_files(tmp_path):
    (tmp_path / "audio" / "x").mkdir(parents=True)
    (tmp_path / "songs").mkdir()
    for i, rel in enumerate(["audio/x/0001_stem.flac", "audio/x/0000_mix.flac", "songs/x.json"]):
        (tmp_path / rel).write_bytes(b"%d" % i)
        os.utime(tmp_path / rel, ns=(10**18 + i, 10**18 + i))  # written in this order
    (tmp_path / "audio" / "x" / ".0002_mix.flac.abcd1234.part.flac").write_bytes(b"half")
    assert staged_files(tmp_path) == [("audio/x/0001_stem.flac", b"0"), ("audio/x/0000_mix.flac", b"1"),
                                      ("songs/x.json", b"2")]


def test_a_new_staging_folder_removes_those_of_dead_workers(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{STAGE_PREFIX}{gone.pid}-abcd"
    live = tmp_path / f"{STAGE_PREFIX}{os.getpid()}-efgh"
    for folder in (dead, live):
        (folder / "audio").mkdir(parents=True)
        (folder / "audio" / "a.flac").write_bytes(b"x")
    fresh = new_staging_folder()
    assert fresh.is_dir() and fresh.parent == tmp_path and fresh.name.startswith(f"{STAGE_PREFIX}{os.getpid()}-")
    assert not dead.exists() and live.is_dir()


# --- choosing the backend -------------------------------------------------------------------

def test_backend_options_fail_before_any_work_with_one_line(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    args = ["midi", "batch", str(tmp_path / "in"), str(tmp_path / "out"), "--stem", "drums", "--json"]
    res = runner.invoke(app, [*args, "--backend", "cluster"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"] == "--backend must be one of local, ray, not 'cluster'"
    res = runner.invoke(app, [*args, "--backend", "ray", "--ray-address", "127.0.0.1:9"])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert json.loads(res.stdout)["error"].startswith("--ray-address 127.0.0.1:9: no Ray cluster answers there")
    res = runner.invoke(app, ["dataset", "build", str(tmp_path / "in"), "--out", str(tmp_path / "ds"), "--stem", "drums",
                              "--json", "--backend", "ray", "--ray-address", "nowhere"])
    assert res.exit_code == 1 and "expected auto or HOST:PORT" in json.loads(res.stdout)["error"], res.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "ds").exists()

    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real_find_spec(name, *a))
    res = runner.invoke(app, [*args, "--backend", "ray"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["error"] == "--backend ray needs Ray, which is not installed: pip install 'stemgen[ray]'"


# --- the three jobs on the cluster ------------------------------------------------------------

@pytest.fixture(scope="module")
def midi_songs(band_midi_dir, tmp_path_factory):
    """Four band songs without their guitar (one in a subfolder) and a file that is no MIDI."""
    root = tmp_path_factory.mktemp("midi_in")
    (root / "sub").mkdir()
    for i, f in enumerate(sorted(band_midi_dir.glob("*.mid"))[:4]):
        (root / ("sub" if i == 3 else "") / f.name).write_bytes(strip_role(f.read_bytes(), "guitar"))
    (root / "broken.mid").write_bytes(b"not a MIDI file")
    return root


def test_midi_batch_on_ray_writes_what_local_writes_and_resumes(cluster, tiny_models, midi_songs, tmp_path):
    def batch(out: Path, *extra: str):
        return run(command("midi", "batch", str(midi_songs), str(out), "--stem", "guitar",
                           "--model", str(tiny_models / "guitar"), "--json", *extra))

    code, local, _ = batch(tmp_path / "local", "--workers", "1")
    code_ray, on_ray, err = batch(tmp_path / "ray", "--backend", "ray", "--ray-address", ray_address(cluster))
    assert code == code_ray == 3, err[-2000:]  # some files failed: the broken one
    assert on_ray["processed"] == local["processed"] == 4 and on_ray["failed"] == local["failed"]
    assert [f["file"] for f in on_ray["failed"]] == [str(midi_songs / "broken.mid")]
    expected = files(tmp_path / "local")
    assert len(expected) == 4 and files(tmp_path / "ray") == expected  # byte for byte
    assert not any(tmp_path.glob("ray/**/*.part*"))

    code, again, err = batch(tmp_path / "ray", "--backend", "ray", "--ray-address", cluster.address)
    assert code == 3 and again["skipped"] == 4 and again["processed"] == 0, err[-2000:]
    assert files(tmp_path / "ray") == expected


@pytest.fixture(scope="module")
def stem_sources(tmp_path_factory, musdb_song, groove_dir):
    """MUSDB stems (7 s), a Groove drum MIDI song (rendered), a broken MIDI file."""
    root = tmp_path_factory.mktemp("stem_sources")
    shutil.copytree(musdb_song, root / "musdb" / musdb_song.name)
    (root / "midi").mkdir()
    shutil.copy(groove_dir / "drummer1/eval_session/1_funk-groove1_138_beat_4-4.mid", root / "midi")
    (root / "midi" / "broken.mid").write_bytes(b"not a MIDI file")
    return root


def _comparable(dataset_json: Path) -> dict:
    """dataset.json without what differs by folder, timing or backend."""
    meta = json.loads(dataset_json.read_text())
    for key in ("manifest", "manifests", "wall_s", "realtime_factor", "worker_crashes"):
        meta["summary"].pop(key)
    return meta


def test_dataset_build_on_ray_writes_what_local_writes_when_a_worker_is_killed(cluster, stem_sources, tmp_path):
    args = ["dataset", "build", str(stem_sources), "--stem", "drums", "--preset", "compact", "--json"]
    code, local, _ = run(command(*args, "--out", str(tmp_path / "local"), "--workers", "2"))
    assert code == 3 and local["items"] > 0 and local["songs"]["failed"] == 1

    proc = start(command(*args, "--out", str(tmp_path / "ray"), "--backend", "ray", "--ray-address", cluster.address))
    try:
        busy = wait_for(cluster.task_workers, 300, proc, "a Ray worker running a song")
        busy[0].kill()  # SIGKILL mid-song: its song is run again elsewhere
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err[-3000:]
    on_ray = json.loads(out.splitlines()[-1])
    assert on_ray["worker_crashes"] >= 1 and on_ray["songs"] == local["songs"] and on_ray["errors"] == local["errors"]
    skip = ("dataset.json", "instruction_cache.sqlite")  # timings; the cache's page layout
    expected = files(tmp_path / "local", skip)
    assert any(k.endswith(".flac") for k in expected) and files(tmp_path / "ray", skip) == expected
    assert _comparable(tmp_path / "ray" / "dataset.json") == _comparable(tmp_path / "local" / "dataset.json")


def _npz_arrays(folder: Path) -> dict:
    return {str(p.relative_to(folder)): {k: v for k, v in np.load(p).items()} for p in sorted(folder.rglob("*.npz"))}


def _markers(folder: Path) -> dict:
    """The arranger data's per-song markers without CPU timings."""
    out = {}
    for p in sorted(folder.glob("*/*__v*.json")):
        marker = json.loads(p.read_text())
        marker.pop("render_cpu_s")
        for r in marker["records"]:
            r.pop("seconds")
        out[str(p.relative_to(folder))] = marker
    return out


def test_arranger_data_on_ray_resumes_after_the_driver_is_killed(cluster, band_midi_dir, tmp_path):
    root = tmp_path / "songs"
    root.mkdir()
    for f in sorted(band_midi_dir.glob("*.mid"))[:3]:
        (root / f.name).symlink_to(f)
    args = ["--root", str(root), "--max-seconds", "8", "--stems", "bass", "--json"]
    code, local, err = run(arranger_command(*args, "--out", str(tmp_path / "local"), "--workers", "2"))
    assert code == 0 and local["songs"] == 3, err[-2000:]

    out = tmp_path / "ray"
    ray_args = [*args, "--out", str(out), "--backend", "ray", "--ray-address", cluster.address]
    proc = start(arranger_command(*ray_args))
    try:
        def whole_songs():  # not the .part files being written (the glob matches them too)
            return [p for p in out.glob("*/*__v*.json") if p not in partial_files(out)]

        wait_for(whole_songs, 300, proc, "the first song written")
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, mid-run
        finished = {p: p.stat().st_mtime_ns for p in whole_songs()}
        proc.wait(10)
        # Ray ends the dead driver's tasks; nothing but the driver writes into the output folder.
        deadline = time.monotonic() + 30
        while cluster.task_workers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not cluster.task_workers(), "Ray tasks of the killed driver still run"
        assert not (out / "summary.json").exists()
        for p in out.rglob("*"):  # whole files only, besides the .part files the rerun sweeps
            if p.suffix == ".json" and p not in partial_files(out):
                json.loads(p.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()

    code, on_ray, err = run(arranger_command(*ray_args))
    assert code == 0 and on_ray["songs"] == 3 and on_ray["failed"] == [], err[-2000:]
    assert not partial_files(out)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # resumed: the songs done before the kill were kept
    assert _markers(out) == _markers(tmp_path / "local") and _markers(out)
    got, expected = _npz_arrays(out), _npz_arrays(tmp_path / "local")
    assert got.keys() == expected.keys() and expected
    for name, arrays in expected.items():  # npz files carry their write time: compare the arrays
        assert got[name].keys() == arrays.keys()
        assert all(np.array_equal(got[name][k], v) for k, v in arrays.items()), name
    assert _without_cpu_s(on_ray["splits"]) == _without_cpu_s(local["splits"])
    assert _without_cpu_s(on_ray["cache"]) == _without_cpu_s(local["cache"])


def _without_cpu_s(splits: dict) -> dict:
    return {split: {stem: {k: v for k, v in s.items() if k != "cpu_s"} for stem, s in stems.items()}
            for split, stems in splits.items()}
