"""Deciding the analysis's jobs: remembered, cached on disk, or run (DESIGN §8).

A job (`vdsl.analysis.classify.ClassifyJob`, `PolicyJob`) is one instruction's questions: a
picklable value carrying IR, never z3 objects, run in a z3 context of its own so that its
answer, witness values included, does not depend on what was decided before it or where.  A
`Decider` answers a list of jobs in their order:

1. from memory: the last 4096 jobs this process decided (variants of an isa share most of
   their instructions, and the language server and the monitor ask again and again);
2. from the disk cache (`vdsl.analysis.cache`), when it has one;
3. by running the rest on its `Executor` (vdsl.scale.jobs): a local process pool, or this
   process when there are too few jobs to pay for a pool's start-up.

`Decider()` decides serially with no disk cache (the API's default: the language server, the
monitor, `classify_isa` callers); the command line builds one from `-j` and `--no-cache`.
"""

from __future__ import annotations

import collections
import io
import pickle
import threading
from collections.abc import Hashable, Sequence
from typing import Any, Protocol, TypeVar

from vdsl.analysis.cache import DiskCache
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import Step
from vdsl.scale.jobs import Executor

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

REMEMBERED = 4096  # results kept in memory
SERIAL_BELOW = 12  # fewer jobs than this run in this process: a pool's start-up costs more


class Job(Hashable, Protocol[R_co]):
    """One independent piece of analysis: hashable and picklable, with a name for progress."""

    @property
    def name(self) -> str: ...

    @property
    def machine(self) -> ir.Machine: ...

    def identity(self) -> str: ...

    def run(self) -> R_co: ...


class _Memory:
    """The results of the last `size` jobs decided in this process (shared by every Decider)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.results: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, job: Hashable) -> tuple[bool, Any]:
        with self.lock:
            if job not in self.results:
                return False, None
            self.results.move_to_end(job)
            return True, self.results[job]

    def put(self, job: Hashable, result: Any) -> None:
        with self.lock:
            self.results[job] = result
            self.results.move_to_end(job)
            while len(self.results) > self.size:
                self.results.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.results.clear()


MEMORY = _Memory(REMEMBERED)


def forget() -> None:
    """Forget every result this process remembers (tests and benchmarks time the work)."""
    MEMORY.clear()


class Decider:
    """Answers jobs: from memory, from the disk cache, or by running them on `executor`.

    `decided` and `cached` count the jobs run and those read from the disk cache since it was made."""

    def __init__(self, executor: Executor | None = None, cache: DiskCache | None = None) -> None:
        self.executor = executor if executor is not None else Executor(workers=1)
        self.cache = cache
        self.decided = 0
        self.cached = 0

    def decide(self, jobs: Sequence[Job[R]], step: Step | None = None) -> list[R]:
        """Each job's result, in the order of `jobs` (a job given twice is decided once); `step` is
        told each job's name once its result is known."""
        places: dict[Job[R], list[int]] = {}
        for index, job in enumerate(jobs):
            places.setdefault(job, []).append(index)
        results: list[Any] = [None] * len(jobs)

        def known(job: Job[R], result: Any) -> None:
            for index in places[job]:
                results[index] = result
                if step is not None:
                    step(job.name)

        todo: list[Job[R]] = []
        for job in places:
            found, result = self._known(job)
            if found:
                known(job, result)
            else:
                todo.append(job)
        if not todo:
            return results
        executor = self.executor if len(todo) >= SERIAL_BELOW else Executor(workers=1)
        if executor.serial:
            for job in todo:
                result = job.run()
                known(job, result)
                self._remember(job, result, None)
        else:
            # the pool says which job finished by its place in `todo` (names need not be unique)
            position = {id(job): str(i) for i, job in enumerate(todo)}

            def finished(token: str) -> None:
                job = todo[int(token)]
                for _ in places[job]:
                    if step is not None:
                        step(job.name)

            stored = executor.map(run_and_dump, todo, finished, name=lambda job: position[id(job)])
            for job, blob in zip(todo, stored, strict=True):
                result = load_result(blob, job)
                for index in places[job]:
                    results[index] = result
                self._remember(job, result, blob)
        self.decided += len(todo)
        return results

    def _remember(self, job: Job[Any], result: Any, stored: bytes | None) -> None:
        MEMORY.put(job, result)
        if self.cache is not None:
            self.cache.put(job, stored if stored is not None else dump_result(result, job))

    def _known(self, job: Job[R]) -> tuple[bool, Any]:
        known, result = MEMORY.get(job)
        if known or self.cache is None:
            return known, result
        blob = self.cache.get(job)
        if blob is None:
            return False, None
        try:
            result = load_result(blob, job)
        except Exception:  # noqa: BLE001 - an entry that no longer loads is a miss
            return False, None
        self.cached += 1
        MEMORY.put(job, result)
        return True, result


def _name(job: Job[Any]) -> str:
    return job.name


def run_and_dump(job: Job[Any]) -> bytes:
    """Run a job (in a worker) and return its result as `dump_result` makes it."""
    return dump_result(job.run(), job)


# A result refers to its job's machine (a witness's states do): it is stored and sent without it,
# and joined again to the machine of the job that reads it, so a cached or pooled result is made
# of the same machine object as one decided here.
_MACHINE = "machine"


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, machine: ir.Machine) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.machine = machine

    def persistent_id(self, obj: Any) -> str | None:
        return _MACHINE if obj is self.machine else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, machine: ir.Machine) -> None:
        super().__init__(file)
        self.machine = machine

    def persistent_load(self, pid: Any) -> Any:
        if pid != _MACHINE:
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self.machine


def dump_result(result: Any, job: Job[Any]) -> bytes:
    """`result` as bytes, its references to the job's machine left out."""
    buffer = io.BytesIO()
    _Pickler(buffer, job.machine).dump(result)
    return buffer.getvalue()


def load_result(data: bytes, job: Job[Any]) -> Any:
    """A result `dump_result` made, joined to `job`'s machine."""
    return _Unpickler(io.BytesIO(data), job.machine).load()
