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
