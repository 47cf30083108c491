"""`stemgen midi batch`: several workers, bad output folders, exit codes, kill -9 and resume.

Real band MIDI songs with their guitar removed, a tiny random model on the real code paths, real
worker processes; kills are real SIGKILLs of the command or its workers.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from process_helpers import (
    cleanup,
    descendants,
    kill_all_while_writing,
    start_cli,
    survivors,
    wait_for,
)
from stemgen.cli.main import app
from stemgen.midifile.io import load_midi
from stemgen.midifile.subtract import strip_role
from test_midi_generate import tiny_models  # noqa: F401 - the shared tiny-model fixture

runner = CliRunner()


@pytest.fixture(scope="module")
def songs(band_midi_dir, tmp_path_factory):
    """Eight band songs (1.5-3.5 min) without their guitar, two of them in a subfolder."""
    root = tmp_path_factory.mktemp("in")
    (root / "sub").mkdir()
    for i, f in enumerate(sorted(band_midi_dir.glob("*.mid"))[:8]):
        (root / ("sub" if i % 4 == 3 else "") / f.name).write_bytes(strip_role(f.read_bytes(), "guitar"))
    return root


def batch_args(tiny_models, src, out, *extra):
    return ["midi", "batch", str(src), str(out), "--stem", "guitar", "--model", str(tiny_models / "guitar"),
            *extra]


def summary_of(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def outputs(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.mid")}


def test_two_workers_write_what_one_writes(tiny_models, songs, tmp_path):
    small = tmp_path / "in"
    small.mkdir()
    for f in sorted(songs.glob("*.mid"))[:3]:
        (small / f.name).write_bytes(f.read_bytes())
    results = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        res = runner.invoke(app, batch_args(tiny_models, small, out, "--workers", workers, "--json"))
        assert res.exit_code == 0, res.output
        s = summary_of(res.stdout)
        assert s["processed"] == 3 and s["failed"] == [] and s["skipped"] == 0
        results[workers] = outputs(out)
    assert len(results["2"]) == 3 and results["2"] == results["1"]  # same seed, same files, any worker count


def test_bad_output_folder_fails_before_any_work(tiny_models, songs, tmp_path):
    before = outputs(songs)
    a_file = tmp_path / "a_file.mid"
    a_file.write_bytes(b"MThd")
    cases = [
        (songs, "is the input folder"),
        (songs / ".", "is the input folder"),
        (a_file, "is a file, not a folder"),
        (a_file / "out", "a parent is a file"),
    ]
    for out, reason in cases:
        res = runner.invoke(app, batch_args(tiny_models, songs, out, "--json"))
        assert res.exit_code == 1, res.output
        error = summary_of(res.stdout)["error"]
        assert error.startswith(f"{out}: ") and reason in error and "Traceback" not in res.output, res.output
    assert outputs(songs) == before and a_file.read_bytes() == b"MThd"
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, batch_args(tiny_models, empty, tmp_path / "o", "--json"))
    assert res.exit_code == 1 and "no MIDI files" in summary_of(res.stdout)["error"]
    res = runner.invoke(app, ["midi", "batch", str(songs), str(tmp_path / "o"), "--stem", "piano"])
    assert res.exit_code == 2  # usage
    # A model that does not load: one error before any work, not one per file (nor a broken pool).
    res = runner.invoke(app, ["midi", "batch", str(songs), str(tmp_path / "o"), "--stem", "guitar", "--model",
                              str(empty), "--workers", "2", "--json"])
    assert res.exit_code == 1 and summary_of(res.stdout)["error"].startswith(f"{empty}: ") and "Traceback" not in res.output
    assert not list((tmp_path / "o").rglob("*.mid"))


def test_exit_code_says_whether_files_failed(tiny_models, songs, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "good.mid").write_bytes(next(songs.glob("*.mid")).read_bytes())
    (mixed / "broken.mid").write_bytes(b"MThd garbage")
    res = runner.invoke(app, batch_args(tiny_models, mixed, tmp_path / "o1", "--workers", "1", "--json"))
    s = summary_of(res.stdout)
    assert res.exit_code == 3 and s["processed"] == 1 and [os.path.basename(f["file"]) for f in s["failed"]] == ["broken.mid"]
    (mixed / "good.mid").unlink()
    res = runner.invoke(app, batch_args(tiny_models, mixed, tmp_path / "o2", "--workers", "1", "--json"))
    assert res.exit_code == 1 and summary_of(res.stdout)["processed"] == 0


@pytest.fixture(scope="module")
def short_songs(groove_dir, tmp_path_factory):
    """Ten real drum performances (28-59 s; short, so that rendering them is quick) to add guitar to."""
    root = tmp_path_factory.mktemp("short")
    (root / "sub").mkdir()
    for i, f in enumerate(sorted((groove_dir / "drummer1" / "eval_session").glob("*.mid"))):
        (root / ("sub" if i % 4 == 3 else "") / f.name).write_bytes(f.read_bytes())
    return root


def _workers(proc) -> list[psutil.Process]:
    """The pool's worker processes (not multiprocessing's resource tracker)."""
    workers = []
    for p in descendants(proc):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                workers.append(p)
        except psutil.Error:  # it just ended
            pass
    return workers


@pytest.mark.slow
def test_kill_9_then_resume(tiny_models, short_songs, tmp_path):
    """kill -9 of the command: its workers end too; kill -9 of everything mid-write: the rerun
    sweeps the half-written files; a worker killed mid-batch: its files are retried; the result
    is every song, each a whole MIDI file with the input tracks plus one."""
    out = tmp_path / "out"
    args = batch_args(tiny_models, short_songs, out, "--workers", "2", "--render", "--json")
    n_songs = len(list(short_songs.rglob("*.mid")))
    procs: list[psutil.Process] = []
    proc = start_cli(*args)
    try:
        wait_for(lambda: len(_workers(proc)) >= 2 and any(out.rglob("*.mid")), 240, proc, "the first output")
        procs = descendants(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        alive = survivors(procs, timeout=5)
        assert not alive, f"workers outlived their killed parent: {[(p.pid, p.cmdline()) for p in alive]}"
        assert len(list(out.rglob("*.wav"))) < n_songs, "the batch finished before it was killed"

        proc = start_cli(*args)
        partial = kill_all_while_writing(proc, out, timeout=240)
        assert partial and all(p.exists() for p in partial)

        proc = start_cli(*args)
        done_before = len(list(out.rglob("*.wav")))
        wait_for(lambda: len(_workers(proc)) >= 2 and len(list(out.rglob("*.wav"))) > done_before, 240, proc,
                 "an output of the resumed batch")
        procs = descendants(proc)
        _workers(proc)[0].kill()  # a crashed worker: its files must be retried, not lost
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        cleanup(proc, procs)
    assert proc.returncode == 0, stderr[-2000:]
    s = summary_of(stdout)
    assert s["failed"] == [] and s["processed"] + s["skipped"] == n_songs and s["processed"] >= 1
    assert not survivors(procs, timeout=5)
    assert not any(p.exists() for p in partial)
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    for src in short_songs.rglob("*.mid"):
        dst = out / src.relative_to(short_songs)
        assert len(load_midi(dst).tracks) == len(load_midi(src).tracks) + 1
        assert dst.with_suffix(".wav").stat().st_size > 100_000


def test_output_folder_inside_the_input_or_around_it(tiny_models, songs, tmp_path):
    song = next(songs.glob("*.mid"))
    inside = tmp_path / "songs"
    inside.mkdir()
    (inside / song.name).write_bytes(song.read_bytes())
    for _ in range(2):  # the rerun must not take the outputs in songs/out for inputs
        res = runner.invoke(app, batch_args(tiny_models, inside, inside / "out", "--workers", "1", "--json"))
        assert res.exit_code == 0, res.output
    assert summary_of(res.stdout)["skipped"] == 1 and sorted(p.relative_to(inside) for p in inside.rglob("*.mid")) == [
        Path(song.name), Path("out") / song.name]
    around = tmp_path / "around"
    (around / "in").mkdir(parents=True)
    (around / "in" / song.name).write_bytes(song.read_bytes())
    res = runner.invoke(app, batch_args(tiny_models, around / "in", around, "--workers", "1", "--json"))
    assert res.exit_code == 0 and summary_of(res.stdout)["processed"] == 1 and (around / song.name).is_file()
