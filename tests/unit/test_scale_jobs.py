"""Jobs run serially, on a local process pool and on a Dask LocalCluster, with the same results."""

from __future__ import annotations

import os

import pytest

from vdsl.errors import RunError
from vdsl.scale.jobs import LOCAL, Executor


def square(n: int) -> int:
    return n * n


def pid(_job: int) -> int:
    return os.getpid()


def fail_on_three(n: int) -> int:
    if n == 3:
        raise RunError("three is not allowed")
    return n


JOBS = list(range(12))


def test_serial_runs_in_this_process() -> None:
    done: list[str] = []
    executor = Executor(workers=1)
    assert executor.serial
    assert executor.map(square, JOBS, done.append) == [n * n for n in JOBS]
    assert done == [str(n) for n in JOBS]
    assert set(executor.map(pid, JOBS)) == {os.getpid()}


def test_pool_keeps_job_order_and_tells_each_job_done() -> None:
    done: list[str] = []
    assert Executor(workers=2).map(square, JOBS, done.append, name=lambda n: f"job {n}") == \
        [n * n for n in JOBS]
    assert sorted(done) == sorted(f"job {n}" for n in JOBS)


def test_pool_runs_in_other_processes() -> None:
    assert os.getpid() not in Executor(workers=2).map(pid, JOBS)


def test_a_failed_job_raises_its_own_error() -> None:
    with pytest.raises(RunError, match="three is not allowed"):
        Executor(workers=2).map(fail_on_three, JOBS)


def test_no_workers_is_refused() -> None:
    with pytest.raises(RunError, match="-j needs at least one worker, not 0"):
        Executor(workers=0)


def test_dask_local_cluster_gives_the_serial_results() -> None:
    done: list[str] = []
    executor = Executor(workers=2, scheduler=LOCAL)
    assert executor.map(square, JOBS, done.append) == [n * n for n in JOBS]
    assert len(done) == len(JOBS)
    with pytest.raises(RunError, match="three is not allowed"):
        executor.map(fail_on_three, JOBS)


def test_unreachable_scheduler_is_a_run_error() -> None:
    with pytest.raises(RunError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        Executor(workers=1, scheduler="tcp://127.0.0.1:9").map(square, JOBS)
