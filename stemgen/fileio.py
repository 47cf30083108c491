"""Atomic file output: write under a temporary name in the same folder, then rename.

A reader (or a resumed job) sees either the old file or the whole new one, never half a file:
the rename is atomic on one filesystem, and a failed write removes its temporary file. A process
killed mid-write (``kill -9``) cannot clean up, so it leaves its temporary ``.part`` file behind:
jobs that write into a folder call ``sweep_partial_files`` when they start, under
``folder_lock`` so that they never sweep a live run's files.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from stemgen.errors import StemgenInputError

# atomic_output's temporary names: ".<name>.<8 mkstemp characters>.part<suffix>"
_PARTIAL_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.part(\.[A-Za-z0-9]+)?$")
LOCK_NAME = ".stemgen.lock"


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_DEFAULT_MODE = _default_mode()


@contextmanager
def atomic_output(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` when the block succeeds.

    ``suffix`` (default: ``path``'s own) lets libraries that pick a format from the file name
    (soundfile, numpy) see the right extension.
    """
    path = Path(path)
    tmp = _temporary_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temporary_beside(path: Path, suffix: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix if suffix is not None else path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _DEFAULT_MODE)  # mkstemp makes 0600 files; outputs get the usual permissions
    return Path(tmp)


@contextmanager
def atomic_outputs(paths: list[str | Path]) -> Iterator[list[Path]]:
    """Temporary paths for several files that form one result (a stem, its mix, its MIDI): all of
    them replace ``paths`` when the block succeeds, none of them otherwise.

    The renames run with termination signals held back (``signals_deferred``), so a SIGTERM
    while they run still leaves the whole set; one during the writing leaves nothing.
    """
    paths = [Path(p) for p in paths]
    tmps: list[Path] = []
    try:
        for path in paths:
            tmps.append(_temporary_beside(path))
        yield list(tmps)
        with signals_deferred():
            for tmp, path in zip(tmps, paths):
                os.replace(tmp, path)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def is_partial_file(path: str | Path) -> bool:
    """Whether ``path`` is the temporary file of an ``atomic_output`` (finished or not)."""
    return bool(_PARTIAL_NAME.match(Path(path).name))


def sweep_partial_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Remove the ``.part`` files that killed writers left in ``folder`` (and its subfolders
    when ``recursive``); returns them. Only safe while no other process writes there: hold
    ``folder_lock(folder)``.
    """
    removed = []
    for root, dirs, files in os.walk(folder):
        if not recursive:
            dirs.clear()
        for name in files:
            if _PARTIAL_NAME.match(name):
                path = Path(root) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def ensure_writable_folder(path: str | Path) -> Path:
    """Create ``path`` if needed and check that files can be written in it, before any work
    starts; a ``StemgenInputError`` naming the folder otherwise."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StemgenInputError(path, "is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StemgenInputError(path, "cannot create the folder: a parent is a file") from None
    except OSError as exc:
        raise StemgenInputError(path, f"cannot create the folder ({exc.strerror or exc})") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".stemgen-write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StemgenInputError(path, f"folder is not writable ({exc.strerror or exc})") from None
    return path


@contextmanager
def folder_lock(folder: str | Path, wait_s: float = 3.0, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (file ``.stemgen.lock`` in it) while one job writes
    there; a second job fails with a clear error instead of sweeping the first one's files.

    The lock dies with the process holding it (and with forked workers that inherited it), so a
    killed run never leaves a stale lock; ``wait_s`` lets a killed run's workers finish exiting.
    ``remove``: delete the lock file when done (for folders of user files, such as ``generate
    --out``); a waiting job that then holds the deleted file's lock notices and locks anew.
    """
    try:
        import fcntl
    except ImportError:  # not on POSIX: no locking
        yield
        return
    lock_path = Path(folder) / LOCK_NAME
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, _DEFAULT_MODE)
        locked = _lock(fcntl, fd, folder, deadline)
        if not (remove and locked) or _same_file(fd, lock_path):
            break
        os.close(fd)  # the holder removed the file we locked: lock the new one
    try:
        yield
    finally:
        if remove and locked:
            lock_path.unlink(missing_ok=True)  # still holding it: no one else can be inside
        os.close(fd)


def _lock(fcntl, fd: int, folder, deadline: float) -> bool:
    """Lock ``fd`` (True), or find the filesystem has no locks (False); waits until ``deadline``."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise StemgenInputError(folder, "another stemgen run is writing to this folder") from None
            time.sleep(0.1)
        except OSError:  # a filesystem without locks (some network mounts): go on unlocked
            return False


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


# --- termination signals ---------------------------------------------------------------------------
# By default SIGTERM ends Python at once: no cleanup, so ``atomic_output``'s temporary files stay.
# ``handle_termination`` turns SIGTERM/SIGHUP into ``SystemExit`` (and keeps SIGINT's
# KeyboardInterrupt), so the ``except BaseException`` clean-ups run; ``signals_deferred`` holds
# them back while a set of renames must finish together.
_TERMINATION = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"} | (
    {signal.SIGHUP: "SIGHUP"} if hasattr(signal, "SIGHUP") else {})
_deferring = 0
_pending: list[int] = []
_handler_pid: int | None = None


class Terminated(SystemExit):
    """Raised in the main thread when the process is asked to stop (exit code 128 + signal)."""


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.stderr.write(f"error: stopped by {_TERMINATION.get(signum, signum)}; unfinished outputs were removed\n")
    raise Terminated(128 + signum)


def _on_signal(signum, frame) -> None:
    if os.getpid() != _handler_pid:  # a forked worker: die as it would have without the handler
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _deferring:
        _pending.append(signum)
        return
    _raise_for(signum)


def handle_termination() -> None:
    """Install the handler (main thread of the main process only; a no-op elsewhere)."""
    global _handler_pid
    if threading.current_thread() is not threading.main_thread():
        return
    _handler_pid = os.getpid()
    for signum in _TERMINATION:
        signal.signal(signum, _on_signal)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Termination signals that arrive in the block take effect when it ends."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _pending:
        signum = _pending[0]
        _pending.clear()
        _raise_for(signum)
