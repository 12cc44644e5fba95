"""Run independent jobs on a local process pool, or on Dask distributed past one machine.

DESIGN §8: classification questions, sweep variants and random-guest runs are independent
jobs.  A job is a picklable value (spec text and names, never a z3 object) handed to a
module-level function; results come back in the order the jobs were given, whatever order
they finished in, so a parallel run reports exactly what a serial one does.

Where they run (`Executor`):
- one worker, or a single job: in this process, one after the other;
- `workers` processes of a local pool (the default, one per core);
- a Dask scheduler: `local` starts a `LocalCluster` of `workers` processes, an address
  (`tcp://HOST:PORT`) joins a running cluster whose workers have vdsl installed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import attrs

from vdsl.errors import RunError
from vdsl.ir.vocabulary import Step

J = TypeVar("J")
R = TypeVar("R")

LOCAL = "local"
"""The scheduler name that starts a Dask `LocalCluster` on this machine."""

DASK_HINT = "install Dask with `pip install 'vdsl[dask]'`"


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _validated_workers(_instance: object, _attribute: object, value: int) -> None:
    if value < 1:
        raise RunError(f"-j needs at least one worker, not {value}")


@attrs.frozen
class Executor:
    """Where jobs run: `workers` at once, on a local pool or on the Dask `scheduler` (None: no Dask)."""

    workers: int = attrs.field(factory=default_workers, validator=_validated_workers)
    scheduler: str | None = None

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.workers == 1

    def describe(self) -> str:
        where = "this process" if self.serial else (
            f"a local pool of {self.workers} processes" if self.scheduler is None
            else f"a Dask LocalCluster of {self.workers} workers" if self.scheduler == LOCAL
            else f"the Dask scheduler at {self.scheduler}")
        return where

    def map(self, function: Callable[[J], R], jobs: Sequence[J], step: Step | None = None,
            name: Callable[[J], str] = str) -> list[R]:
        """`[function(job) for job in jobs]`, run where this executor says; `step` is told the
        `name` of each job as it finishes.  A failed job's exception is raised here (a
        `VdslError` stays what it was) and the jobs not yet started are cancelled."""
        if not jobs:
            return []
        if self.serial or (self.scheduler is None and len(jobs) == 1):
            return list(_serially(function, jobs, step, name))
        if self.scheduler is None:
            return _on_pool(function, jobs, min(self.workers, len(jobs)), step, name)
        return _on_dask(function, jobs, self, step, name)


def _serially(function: Callable[[J], R], jobs: Sequence[J], step: Step | None,
              name: Callable[[J], str]) -> Iterator[R]:
    for job in jobs:
        result = function(job)
        if step is not None:
            step(name(job))
        yield result


def _pool_context() -> Any:
    """Fork from a clean server process where there is one: no threads of ours (a progress bar,
    a language server) are copied into the workers, and vdsl is imported once, not per worker."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["vdsl.analysis.classify", "vdsl.monitor.run"])
        return context
    return multiprocessing.get_context("spawn")


def _on_pool(function: Callable[[J], R], jobs: Sequence[J], workers: int, step: Step | None,
             name: Callable[[J], str]) -> list[R]:
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        futures = [pool.submit(function, job) for job in jobs]
        return _gathered(futures, jobs, as_completed(futures), step, name)


def _gathered(futures: Sequence[Future[R]], jobs: Sequence[J], finished: Iterator[Any],
              step: Step | None, name: Callable[[J], str]) -> list[R]:
    """The futures' results in job order, once `finished` (their completion order) has given
    them all; the first failure cancels the rest and is raised."""
    index = {id(future): i for i, future in enumerate(futures)}
    failure: BaseException | None = None
    try:
        for future in finished:
            failure = future.exception()
            if failure is not None:
                raise failure
            if step is not None:
                step(name(jobs[index[id(future)]]))
    except BaseException:  # a job's failure, or an interrupt: nothing more is worth running
        for future in futures:
            future.cancel()
        raise
    return [future.result() for future in futures]


def _on_dask(function: Callable[[J], R], jobs: Sequence[J], executor: Executor, step: Step | None,
             name: Callable[[J], str]) -> list[R]:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError as error:
        raise RunError(f"--scheduler needs Dask distributed, which is not installed; {DASK_HINT}") \
            from error
    with _dask_client(Client, LocalCluster, executor) as client:
        futures = client.map(function, list(jobs), pure=False)
        try:
            return _gathered(futures, jobs, dask_completed(futures), step, name)  # type: ignore[no-untyped-call]
        finally:
            client.cancel(futures)


def _dask_client(client_class: Any, cluster_class: Any, executor: Executor) -> Any:
    if executor.scheduler == LOCAL:
        # silence_logs: Dask's warnings (a slow worker killed at close on a busy machine) are not
        # the user's business; a failure still reaches them as the job's exception
        cluster = cluster_class(n_workers=executor.workers, threads_per_worker=1, processes=True,
                                dashboard_address=None, silence_logs=logging.ERROR)
        return _ClientOnCluster(client_class(cluster), cluster)
    try:
        return client_class(executor.scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise RunError(f"cannot reach the Dask scheduler at {executor.scheduler}: {error}") from error


class _ClientOnCluster:
    """A client and the local cluster it owns, closed together."""

    def __init__(self, client: Any, cluster: Any) -> None:
        self.client, self.cluster = client, cluster

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()
