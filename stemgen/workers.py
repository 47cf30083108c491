"""Worker processes for batch jobs (``stemgen dataset build``, ``stemgen midi batch``).

Two guarantees the plain ``ProcessPoolExecutor`` lacks:

* Workers die with their parent. When the main process is killed (``kill -9``, OOM killer), an
  executor's workers would finish their task, keep writing, then wait forever on the task queue
  holding their memory. Each worker here runs a watchdog thread that ends the worker as soon as
  its parent process is gone (the worker is re-parented, so ``getppid()`` changes). Whatever a
  killed worker had half-written is a temporary ``.part`` file that the next run sweeps
  (``stemgen.fileio.sweep_partial_files``).
* A crashed worker (a segfault in native code, the OOM killer) breaks the whole pool; the items it
  shared the pool with are run again in a fresh pool, and the ones lost a second time one at a
  time, so only an item that crashes its worker on its own fails (with ``WorkerCrashed``).

``run_jobs`` is the seam batch jobs go through: the same job on this machine's pool (above) or on
a Ray cluster (``stemgen.workers_ray``), chosen by a ``Backend``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from stemgen.errors import WorkerCrashed

__all__ = ["LOCAL", "Backend", "WorkerCrashed", "run_in_workers", "run_jobs"]

PARENT_CHECK_INTERVAL_S = 0.25
ORPHAN_EXIT_CODE = 70  # the exit status of a worker that ended because its parent died


def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(ORPHAN_EXIT_CODE)  # no cleanup: a half-written file stays a .part file
        time.sleep(PARENT_CHECK_INTERVAL_S)


_INIT_ERROR: list[BaseException] = []  # in a worker: why its initializer failed


def _start_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    if os.getppid() != parent_pid:  # the parent died before this worker even started
        os._exit(ORPHAN_EXIT_CODE)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
    if initializer is not None:
        try:
            initializer(*initargs)
        except Exception as exc:  # noqa: BLE001 - reported per item, not as a broken pool
            _INIT_ERROR.append(exc)


def _call(fn: Callable, item: Any) -> Any:
    """In a worker: ``fn(item)``, or the initializer's error (e.g. a model that does not load):
    a failed initializer would otherwise end the worker and look like a crash."""
    if _INIT_ERROR:
        raise _INIT_ERROR[0]
    return fn(item)


def _context(start_method: str | None):
    # The watchdog needs the workers to be children of this process, which forkserver breaks.
    method = start_method or mp.get_start_method()
    return mp.get_context("spawn" if method == "forkserver" else method)


def run_in_workers(
    items: Sequence[Any],
    fn: Callable[[Any], Any],
    on_result: Callable[[Any, Any], None],
    workers: int,
    initializer: Callable | None = None,
    initargs: tuple = (),
    start_method: str | None = None,
    on_crash: Callable[[], None] | None = None,
) -> None:
    """Run ``fn(item)`` for every item in worker processes; call ``on_result(item, outcome)`` in
    this process as each finishes, ``outcome`` being the return value or the exception raised
    (``WorkerCrashed`` when the item's worker died on its own). ``fn`` and ``initializer`` must be
    picklable (module-level). ``on_crash()`` runs once for each pool a dead worker broke, after
    the pool is shut down and before the retry (e.g. to sweep what the dead worker half-wrote)."""
    pool_args = (fn, on_result, initializer, initargs, start_method, on_crash)
    lost = _run_pool(items, workers, *pool_args)
    lost = _run_pool(lost, workers, *pool_args)
    for item in lost:
        for again in _run_pool([item], 1, *pool_args):
            on_result(again, WorkerCrashed())


def _run_pool(items: Iterable, workers: int, fn, on_result, initializer, initargs, start_method, on_crash) -> list:
    """One pool over ``items``; returns the items lost to a crashed worker."""
    items = list(items)
    if not items:
        return []
    lost = []
    with ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(items))),
        mp_context=_context(start_method),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    ) as pool:
        futures = {pool.submit(_call, fn, item): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                outcome = future.result()
            except BrokenProcessPool:
                lost.append(item)
                continue
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
                outcome = exc
            on_result(item, outcome)
    if lost and on_crash:
        on_crash()
    return lost


BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Backend:
    """Where a batch job's items run: ``local`` (this machine's worker processes) or ``ray`` (the
    Ray cluster at ``ray_address``: ``auto`` for the one this machine belongs to, or HOST:PORT)."""

    name: str = "local"
    ray_address: str = "auto"

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            from stemgen.errors import StemgenInputError

            raise StemgenInputError(None, f"--backend must be one of {', '.join(BACKENDS)}, not '{self.name}'")


LOCAL = Backend()


def run_jobs(
    items: Sequence[Any],
    fn_into: Callable[[Any, Path], Any],
    out_dir: str | Path,
    on_result: Callable[[Any, Any], None],
    workers: int,
    backend: Backend = LOCAL,
    initializer: Callable | None = None,
    initargs: tuple = (),
    start_method: str | None = None,
    on_crash: Callable[[], None] | None = None,
) -> None:
    """``run_in_workers`` for jobs that write files: ``fn_into(item, folder)`` does one item,
    writing its files under ``folder``. Locally ``folder`` is ``out_dir`` itself; on Ray it is a
    staging folder on the task's node, whose files come back to this process, which writes them
    into ``out_dir`` atomically in the order they were written (a resume marker written last
    lands last) before ``on_result`` sees the item. Every other guarantee is ``run_in_workers``'."""
    if backend.name == "ray":
        from stemgen.workers_ray import run_on_ray

        run_on_ray(items, fn_into, Path(out_dir), on_result, backend.ray_address, initializer, initargs, on_crash)
        return
    run_in_workers(items, partial(_call_into, fn_into, Path(out_dir)), on_result, workers, initializer, initargs,
                   start_method, on_crash)


def _call_into(fn_into: Callable, folder: Path, item: Any) -> Any:
    return fn_into(item, folder)
