"""Batch jobs on a Ray cluster (``--backend ray``): one task per item, results gathered here.

``stemgen.workers.run_jobs`` comes here for the Ray backend. What the cluster must offer
(README "Running on a cluster"): every node runs the same stemgen with the same optional tools
(FluidSynth, SoundFonts), and sees the inputs (and ``--model`` folders) at the same paths as the
driver. The output folder need not be shared: a task writes into a staging folder on its own
node and returns the files' bytes; only this process (the driver) writes into the output
folder, atomically, and it alone writes manifests and summaries. So:

* a killed driver leaves at most ``.part`` files of its own, which the next run sweeps (the job
  holds ``folder_lock``); Ray ends the tasks of a driver that is gone;
* a killed worker or a lost node never touches the output; its item is run again (``RETRIES``
  times, like the local pool's retries), then fails alone with ``WorkerCrashed``;
* a staging folder left by a killed worker is removed by the next task on that node.

Each task asks for one CPU; at most two tasks per cluster CPU are in flight, so the driver holds
a bounded number of results however long the batch. Per-worker initializers (a model to load)
run once per Ray worker process, before its first item.
"""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

from stemgen.errors import MissingDependencyError, StemgenInputError, WorkerCrashed
from stemgen.fileio import atomic_write_bytes, is_partial_file

RETRIES = 2  # a crashed item is tried 1 + RETRIES times, as in the local pool
TASKS_PER_CPU = 2  # in flight: enough to keep every CPU busy while the driver writes results
STAGE_PREFIX = "stemgen-stage-"
INSTALL_HINT = "pip install 'stemgen[ray]'"
CONNECT_TIMEOUT_S = 10


def require_ray() -> None:
    """A one-line ``MissingDependencyError`` when Ray is not installed."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError(f"--backend ray needs Ray, which is not installed: {INSTALL_HINT}")


def connect(address: str) -> bool:
    """Join the Ray cluster at ``address`` (``auto`` or HOST:PORT); False when this process is
    already connected (then the caller must not shut Ray down)."""
    require_ray()
    import ray

    if ray.is_initialized():
        return False
    check_address(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        # Never start a cluster here: a driver joins one that runs (``ray start``).
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError, timeouts
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StemgenInputError(None, f"--ray-address {address}: no Ray cluster to join ({first_line})") from None
    return True


def check_address(address: str) -> None:
    """Fail at once when nothing listens at HOST:PORT (Ray itself would retry for ever)."""
    if address == "auto":
        return  # ray.init finds the local cluster or fails at once
    host, _, port = address.removeprefix("ray://").rpartition(":")  # ray://: a Ray Client server
    if not host or not port.isdigit():
        raise StemgenInputError(None, f"--ray-address {address}: expected auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise StemgenInputError(None, f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def run_on_ray(
    items: Sequence[Any],
    fn_into: Callable[[Any, Path], Any],
    out_dir: Path,
    on_result: Callable[[Any, Any], None],
    address: str,
    initializer: Callable | None = None,
    initargs: tuple = (),
    on_crash: Callable[[], None] | None = None,
) -> None:
    """``stemgen.workers.run_jobs`` on the cluster at ``address`` (see the module docstring)."""
    items = list(items)
    if not items:
        return
    joined = connect(address)
    try:
        _gather(items, fn_into, Path(out_dir), on_result, initializer, initargs, on_crash)
    finally:
        if joined:
            import ray

            ray.shutdown()


def _gather(items, fn_into, out_dir: Path, on_result, initializer, initargs, on_crash) -> None:
    import ray
    from ray.exceptions import RayError, RayTaskError

    # max_retries=0: crashes come back here, to be counted (on_crash) and retried like locally.
    task = ray.remote(num_cpus=1, max_retries=0)(run_task)
    window = max(1, int(ray.cluster_resources().get("CPU", 1))) * TASKS_PER_CPU
    queue = deque((i, 0) for i in range(len(items)))  # (item index, crashes so far)
    pending: dict = {}

    def submit() -> None:
        while queue and len(pending) < window:
            i, crashes = queue.popleft()
            pending[task.remote(fn_into, items[i], initializer, initargs)] = (i, crashes)

    submit()
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i, crashes = pending.pop(ref)
            try:
                outcome, files = ray.get(ref)
            except RayTaskError as exc:  # the wrapper itself failed (not the job: that comes back as a value)
                outcome, files = exc.cause if isinstance(exc.cause, Exception) else RuntimeError(str(exc)), []
            except RayError:  # the worker process died or its node was lost
                if on_crash:
                    on_crash()
                if crashes < RETRIES:
                    queue.append((i, crashes + 1))
                else:
                    on_result(items[i], WorkerCrashed())
                continue
            for rel, data in files:  # in the order the task wrote them: a resume marker last
                atomic_write_bytes(out_dir / rel, data)
            on_result(items[i], outcome)
        submit()


# --- in a Ray worker -------------------------------------------------------------------------

_INITIALIZED: dict[tuple, BaseException | None] = {}  # per worker process: initializer -> its error


def run_task(fn_into: Callable, item: Any, initializer: Callable | None, initargs: tuple) -> tuple[Any, list]:
    """``(outcome, files)``: ``fn_into(item, staging)``'s return value (or the exception it raised,
    as a value, as the local pool reports it) and the ``(relative path, bytes)`` it wrote."""
    error = _initialize(initializer, initargs)
    if error is not None:
        return _sendable(error), []
    staging = new_staging_folder()
    try:
        try:
            outcome = fn_into(item, staging)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
            return _sendable(exc), []
        return outcome, staged_files(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _initialize(initializer: Callable | None, initargs: tuple) -> BaseException | None:
    """Run ``initializer(*initargs)`` once per worker process; its error, if it failed."""
    if initializer is None:
        return None
    key = (initializer.__module__, initializer.__qualname__, repr(initargs))
    if key not in _INITIALIZED:
        try:
            initializer(*initargs)
            _INITIALIZED[key] = None
        except Exception as exc:  # noqa: BLE001 - reported per item, as locally
            _INITIALIZED[key] = exc
    return _INITIALIZED[key]


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles (it crosses to the driver), else a RuntimeError with its text."""
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def new_staging_folder() -> Path:
    """A fresh folder in this node's temp dir; first removes the ones of dead processes (a worker
    killed mid-item cannot clean up after itself)."""
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(f"{STAGE_PREFIX}*"):
        pid = old.name[len(STAGE_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=tmp))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def staged_files(staging: Path) -> list[tuple[str, bytes]]:
    """The finished files under ``staging`` as ``(relative path, bytes)``, oldest first (a job
    writes its resume marker last; the path breaks ties)."""
    files = [p for p in staging.rglob("*") if p.is_file() and not is_partial_file(p)]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, str(p.relative_to(staging))))
    return [(str(p.relative_to(staging)), p.read_bytes()) for p in files]
