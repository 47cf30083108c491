"""Run a stemgen command as a real process tree, kill it mid-work, and check what outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from stemgen.fileio import is_partial_file

REPO = Path(__file__).resolve().parents[1]


def start_cli(*args: str) -> subprocess.Popen:
    """``stemgen ARGS`` in a new process (own session, so that cleanup can reach every worker)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "stemgen.cli.main", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_for(condition, timeout: float, proc: subprocess.Popen, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def survivors(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """The processes still running (zombies count as dead) after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _running(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_partial_file(p)]


def kill_all_while_writing(proc: subprocess.Popen, folder: Path, timeout: float) -> list[Path]:
    """SIGKILL the command and all its workers at a moment when a write is half done.

    Freezes the process tree (SIGSTOP), looks for ``.part`` files under ``folder``; if there is
    one, kills every frozen process (which cannot finish the write), otherwise lets them run a
    moment and looks again. Returns the partial files left behind.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the command finished (exit {proc.returncode}) before a write was caught half done")
        tree = [psutil.Process(proc.pid)] + descendants(proc)
        for p in tree:
            _signal(p, signal.SIGSTOP)
        found = partial_files(folder)
        if found:
            for p in tree:
                _signal(p, signal.SIGKILL)
            proc.wait(10)
            survivors(tree, 5)
            return found
        for p in tree:
            _signal(p, signal.SIGCONT)
        time.sleep(0.003)
    raise AssertionError("no half-done write caught")


def _signal(p: psutil.Process, sig: int) -> None:
    try:
        p.send_signal(sig)
    except psutil.NoSuchProcess:
        pass


def cleanup(proc: subprocess.Popen, procs: list[psutil.Process] = ()) -> None:
    """Kill whatever a failed test left running (by pid, never by name)."""
    for p in [*procs, *descendants(proc)]:
        _signal(p, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
