"""Outputs are written all or none: a full disk, a SIGTERM while writing or between the renames,
a second run into the same folder, the temporary files of a killed run, NaN from a generator.

The signals are real (the process sends them to itself at a chosen point of the real writer, so
the test is deterministic), the full disk is a real tmpfs where the test may mount one, and a
real file-size limit (RLIMIT_FSIZE) otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from stemgen.cli.main import app
from stemgen.fileio import folder_lock, is_partial_file

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def song(musdb_song, tmp_path_factory) -> Path:
    """The real 6.8 s multitrack's mix (stereo 44.1 kHz), a clear beat."""
    path = tmp_path_factory.mktemp("song") / "song.wav"
    shutil.copy(musdb_song / "mixture.wav", path)
    return path


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ".stemgen.lock") if folder.exists() else []


def _run_cli_with(patch: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``stemgen ARGS`` in a real process, after ``patch`` (Python) has wrapped part of the writer."""
    code = textwrap.dedent(patch) + "\nfrom stemgen.cli.main import app\napp(prog_name='stemgen')\n"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)


# The process kills itself with SIGTERM right after the first audio file is written in full.
TERM_DURING_WRITES = """
import os, signal, soundfile
_write = soundfile.write
def write(*a, **k):
    _write(*a, **k)
    os.kill(os.getpid(), signal.SIGTERM)
soundfile.write = write
"""
# ... or right after the first of the final renames.
TERM_BETWEEN_RENAMES = """
import os, signal
_replace = os.replace
def replace(src, dst):
    _replace(src, dst)
    if not os.path.basename(str(src)).startswith('..'):  # a final rename, not a file's own temp
        os.kill(os.getpid(), signal.SIGTERM)
os.replace = replace
"""


@pytest.mark.parametrize("engine", ["arranger", "diffusion"])
def test_sigterm_while_writing_leaves_nothing(song, tmp_path, engine):
    out = tmp_path / "out"
    res = _run_cli_with(TERM_DURING_WRITES, "generate", str(song), "--engine", engine, "--steps", "2", "--out", str(out))
    assert res.returncode == 143, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == "error: stopped by SIGTERM; unfinished outputs were removed"
    assert _names(out) == []  # no stem, no mix, no .mid, no .part file


def test_sigterm_between_the_renames_leaves_the_whole_set(song, tmp_path):
    out = tmp_path / "out"
    res = _run_cli_with(TERM_BETWEEN_RENAMES, "generate", str(song), "--out", str(out))
    assert res.returncode == 143, res.stderr[-3000:]
    assert _names(out) == ["song_drums.mid", "song_drums.wav", "song_mix.wav"]  # the renames finished first
    assert sf.info(out / "song_mix.wav").frames == sf.info(song).frames


def test_a_later_run_sweeps_stale_partial_files(song, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".song_mix.wav.ab12cd34.part.wav", out / ".song_drums.mid.zz99yy88.part.mid"]
    for p in stale:
        p.write_bytes(b"half a file")
    keep = out / "notes.part.txt"  # not ours: kept
    keep.write_text("mine")
    res = runner.invoke(app, ["generate", str(song), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert _names(out) == ["notes.part.txt", "song_drums.mid", "song_drums.wav", "song_mix.wav"]
    assert all(is_partial_file(p) for p in stale)
    assert not (out / ".stemgen.lock").exists()  # no lock file left among the user's files


def test_a_second_run_into_a_locked_folder_fails_and_leaves_the_first_alone(song, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".song_mix.wav.ab12cd34.part.wav").write_bytes(b"the first run's file in progress")
    with folder_lock(out):  # the first run, still writing
        res = runner.invoke(app, ["generate", str(song), "--out", str(out), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout) == {"error": f"{out}: another stemgen run is writing to this folder"}
    assert _names(out) == [".song_mix.wav.ab12cd34.part.wav"]  # its temporary file was not swept


def test_two_real_runs_into_one_folder_never_mix_their_files(song, tmp_path):
    """Two processes at once: one writes its whole set, the other writes its whole set after it
    or fails naming the folder; never one run's .mid beside the other's .wav files."""
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-m", "stemgen.cli.main", "generate", str(song), "--out", str(out),
                               "--seed", str(seed), "--instruction", instr, "--json"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed, instr in ((1, "Add a brushed jazz kit"), (2, "Add an 808 kit"))]
    results = [(p.wait(timeout=240), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all("Traceback" not in r[2] for r in results), results
    ok = [json.loads(r[1]) for r in results if r[0] == 0]
    assert ok and all(r[0] in (0, 1) for r in results)
    for code, stdout, _ in results:
        if code == 1:
            assert "another stemgen run is writing to this folder" in json.loads(stdout)["error"]
    assert _names(out) == ["song_drums.mid", "song_drums.wav", "song_mix.wav"]
    # The .mid on disk comes from a run that exited 0 and wrote that many notes.
    import mido

    notes = sum(1 for t in mido.MidiFile(out / "song_drums.mid").tracks for m in t if m.type == "note_on" and m.velocity)
    assert notes in {r["notes"] for r in ok}


CAN_MOUNT = os.geteuid() == 0 and shutil.which("mount") is not None
needs_root = pytest.mark.skipif(not CAN_MOUNT, reason="mounting a tmpfs needs root and mount(8); the RLIMIT_FSIZE "
                                                      "test covers the writer without them")


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 256 KiB filesystem (tmpfs); the tests that use it are marked ``needs_root``."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True,
                             text=True)
    assert mounted.returncode == 0, f"mount tmpfs failed as root: {mounted.stderr.strip()}"
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@needs_root
@pytest.mark.parametrize("engine", ["arranger", "diffusion"])
def test_a_full_disk_is_a_one_line_error_and_leaves_nothing(song, tiny_disk, engine):
    res = runner.invoke(app, ["generate", str(song), "--engine", engine, "--steps", "2", "--out", str(tiny_disk), "--json"])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left on the device" in errors[0] and str(tiny_disk) in errors[0], res.stderr
    assert json.loads(res.stdout)["error"] == errors[0][len("error: "):]
    assert _names(tiny_disk) == []


@needs_root
def test_midi_generate_on_a_full_disk(tiny_disk, tmp_path):
    from midi_helpers import band_song_notes, make_midi

    song = tmp_path / "song.mid"
    make_midi(song, notes=[n for n in band_song_notes(8) if n[0] != 1])
    filler = tiny_disk / "filler"
    try:  # fill the disk
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    res = runner.invoke(app, ["midi", "generate", str(song), "--stem", "bass", "--out", str(tiny_disk / "o.mid")])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.stderr == f"error: {tiny_disk / 'o.mid'}: No space left on device\n", res.stderr
    assert _names(tiny_disk) == ["filler"]


def test_the_writer_under_a_file_size_limit_names_the_output_and_leaves_nothing(tmp_path):
    """A real failed write (the kernel refuses past RLIMIT_FSIZE), with no root needed."""
    code = textwrap.dedent(f"""
        import resource, signal, numpy as np
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        from stemgen.audio.io import write_audio_files
        out = {str(tmp_path)!r}
        try:
            write_audio_files([(out + '/a_drums.wav', np.zeros((2, 10_000), np.float32)),
                               (out + '/a_mix.wav', np.zeros((2, 100_000), np.float32))], 44100)
        except OSError as exc:
            print(exc.filename, '|', exc.strerror)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.strip() == f"{tmp_path / 'a_mix.wav'} | file too large for this process's size limit (nothing was written)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_signal_is_never_written(tmp_path, bad):
    from stemgen.audio.io import write_audio_files

    stem = np.zeros((2, 1000), np.float32)
    mix = stem.copy()
    mix[1, 500] = bad
    with pytest.raises(ValueError, match="a_mix.wav: the generated audio has NaN or infinite samples"):
        write_audio_files([(tmp_path / "a_drums.wav", stem), (tmp_path / "a_mix.wav", mix)], 44100)
    assert list(tmp_path.iterdir()) == []


def test_json_summaries_are_always_valid_json(capsys):
    from stemgen.cli.common import emit_summary

    emit_summary({"loss": float("nan"), "rows": [{"x": float("inf")}], "ok": 1.5}, as_json=True)
    out = capsys.readouterr().out
    assert json.loads(out) == {"loss": None, "rows": [{"x": None}], "ok": 1.5}
    assert "NaN" not in out and "Infinity" not in out


def test_a_removed_lock_file_still_excludes_and_hands_over(tmp_path):
    """``folder_lock(remove=True)``: the holder deletes the file; a job waiting on the deleted
    file locks the new one, and while it holds that, a third job is refused."""
    import threading
    import time

    from stemgen.errors import StemgenInputError

    events = []

    def second():
        with folder_lock(tmp_path, wait_s=10, remove=True):
            events.append("second in")
            time.sleep(0.5)
            with pytest.raises(StemgenInputError, match="another stemgen run is writing to this folder"):
                with folder_lock(tmp_path, wait_s=0.2, remove=True):
                    pass
            events.append("third refused")

    with folder_lock(tmp_path, remove=True):
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.5)
        assert events == []  # waiting for us
    worker.join(timeout=20)
    assert events == ["second in", "third refused"]
    assert not (tmp_path / ".stemgen.lock").exists()
