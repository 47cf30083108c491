"""stemgen.workers.run_in_workers: results, errors, a failing initializer, workers that really die."""

from __future__ import annotations

import os
from pathlib import Path

from stemgen.errors import StemgenInputError
from stemgen.workers import WorkerCrashed, run_in_workers


def square_or_fail(x):
    if x == 3:
        raise ValueError("three is bad")
    return x * x


def refuse_to_start(model):
    raise StemgenInputError(model, "not a model")


def die_on(item):
    """``("poison", _)`` always kills its worker; ``("flaky", marker)`` kills it the first time only."""
    kind, marker = item
    if kind == "poison" or (kind == "flaky" and not Path(marker).exists()):
        Path(marker).touch()
        os._exit(9)  # what a segfault or the OOM killer does to a worker: no exception, no cleanup
    return kind


def run(items, fn, **kwargs):
    results, crashes = {}, []
    run_in_workers(items, fn, lambda item, outcome: results.__setitem__(item, outcome), 2,
                   start_method="fork", on_crash=lambda: crashes.append(1), **kwargs)
    return results, crashes


def test_results_and_exceptions_come_back_per_item():
    results, crashes = run([1, 2, 3, 4], square_or_fail)
    assert {k: v for k, v in results.items() if k != 3} == {1: 1, 2: 4, 4: 16}
    assert isinstance(results[3], ValueError) and "three is bad" in str(results[3]) and not crashes


def test_a_failing_initializer_is_each_items_error_not_a_crash():
    results, crashes = run([1, 2, 3], square_or_fail, initializer=refuse_to_start, initargs=("m/",))
    assert len(results) == 3 and not crashes
    assert all(isinstance(r, StemgenInputError) and r.reason == "not a model" for r in results.values())


def test_a_dying_worker_costs_a_retry_and_only_the_culprit_fails(tmp_path):
    items = [("ok", str(tmp_path / f"ok{i}")) for i in range(4)]
    items += [("flaky", str(tmp_path / "flaky")), ("poison", str(tmp_path / "poison"))]
    results, crashes = run(items, die_on)
    assert len(results) == len(items) and crashes
    assert isinstance(results[items[-1]], WorkerCrashed)  # dies every time, also alone
    assert [results[i] for i in items[:-1]] == ["ok"] * 4 + ["flaky"]  # retried after the crash
    assert (tmp_path / "flaky").exists()


def _hold_lock(folder, ready, release):
    from stemgen.fileio import folder_lock

    with folder_lock(folder):
        ready.set()
        release.wait(30)


def test_folder_lock_refuses_a_second_run_and_dies_with_its_holder(tmp_path):
    import multiprocessing as mp

    import pytest

    from stemgen.fileio import folder_lock

    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StemgenInputError, match="another stemgen run is writing"):
            with folder_lock(tmp_path, wait_s=0.3):
                pass
    finally:
        holder.kill()  # kill -9: the lock goes with the process
        holder.join(10)
    with folder_lock(tmp_path, wait_s=0.3):
        pass


def test_sweep_removes_only_what_atomic_writers_left(tmp_path):
    from stemgen.fileio import atomic_output, is_partial_file, sweep_partial_files

    keep = [tmp_path / "a.mid", tmp_path / "take.part.flac", tmp_path / ".hidden", tmp_path / "sub" / "b.part"]
    for p in keep:
        p.parent.mkdir(exist_ok=True)
        p.write_text("user file")
    with atomic_output(tmp_path / "sub" / "song.flac") as tmp:
        tmp.write_text("half")
        assert is_partial_file(tmp) and tmp.exists()
        left = tmp
        assert sweep_partial_files(tmp_path, recursive=False) == []  # it is in sub/
        assert sweep_partial_files(tmp_path) == [left] and not left.exists()
        tmp.write_text("half")  # (let the context manager finish normally)
    assert all(p.read_text() == "user file" for p in keep)
