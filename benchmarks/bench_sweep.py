"""The sweep benchmark: jobs per second of a fixes sweep and of a random-guest campaign, run in
this process, on a local pool of 2 processes and on a Dask LocalCluster of 2 workers.

A fixes sweep of RISC-V `rv_s` (every trap and pin change, then the candidate sets: each job a
reclassification of a variant) and a campaign of random guests on PG74's `pg74_retu` under
trap-and-emulate and hybrid (each job one guest, bare and monitored in lockstep).  Every figure
includes what a user waits for: starting the workers and compiling the spec in each.  From the
pool's figures it estimates the worker-seconds a job costs and what a cluster would take.

    python benchmarks/bench_sweep.py [--guests N] [--fixes-isa ISA] [--families trap,pin]
                                     [--where serial,pool,local] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vdsl.analysis.jobs import forget
from vdsl.ir.vocabulary import Step
from vdsl.resources import data_dir
from vdsl.scale.campaign import Campaign, run_campaign
from vdsl.scale.jobs import LOCAL, Executor
from vdsl.scale.sweep import SpecSource, sweep_fixes

PLACES = {"serial": Executor(workers=1), "pool": Executor(workers=2),
          "local": Executor(workers=2, scheduler=LOCAL)}


class _Counter:
    """A progress factory that counts the jobs handed to the executor."""

    def __init__(self) -> None:
        self.jobs = 0

    def __call__(self, _what: str, total: int) -> Step:
        self.jobs += total
        return lambda _done: None


def _timed(run: Callable[[_Counter], object]) -> dict[str, Any]:
    counter = _Counter()
    start = time.perf_counter()
    done = run(counter)
    seconds = time.perf_counter() - start
    figures = {"jobs": counter.jobs, "seconds": seconds, "jobs_per_second": counter.jobs / seconds}
    if isinstance(done, Campaign):  # its jobs are batches of guests
        figures.update(guests=len(done.outcomes), guests_per_second=len(done.outcomes) / seconds)
    return figures


def measure(guests: int, fixes_isa: str, places: Sequence[str],
            families: Sequence[str] = ("trap", "pin")) -> dict[str, Any]:
    riscv = SpecSource.read([data_dir("specs") / "riscv.vspec"])
    pg74 = SpecSource.read([data_dir("specs") / "pg74.vspec"])
    result: dict[str, Any] = {"load_before": os.getloadavg()[0], "fixes": {}, "guests": {}}
    # The workers share a disk cache of decided questions, as `vdsl sweep` gives them: each place
    # starts from an empty one (set before any worker starts, so that every worker sees it).
    cache = Path(tempfile.mkdtemp(prefix="vdsl-bench-sweep-"))
    before = os.environ.get("VDSL_CACHE_DIR")
    os.environ["VDSL_CACHE_DIR"] = str(cache)
    for place in places:
        executor = PLACES[place]
        shutil.rmtree(cache, ignore_errors=True)
        forget()  # nor what this process remembers
        result["fixes"][place] = _timed(lambda steps, e=executor: sweep_fixes(  # type: ignore[misc]
            riscv, fixes_isa, families, executor=e, steps=steps, cache=True))
        result["guests"][place] = _timed(lambda steps, e=executor: run_campaign(  # type: ignore[misc]
            pg74, "pg74_retu", None, ("trap_and_emulate", "hybrid"), guests, executor=e, steps=steps))
    shutil.rmtree(cache, ignore_errors=True)
    if before is None:  # the caller's environment as it was (a test runs this in its process)
        del os.environ["VDSL_CACHE_DIR"]
    else:
        os.environ["VDSL_CACHE_DIR"] = before
    result["load_after"] = os.getloadavg()[0]
    if "pool" in places:
        for kind, unit in (("fixes", "jobs"), ("guests", "guests")):  # worker-seconds each, on 2 workers
            pool = result[kind]["pool"]
            result[kind]["worker_seconds_per_job"] = 2 * pool["seconds"] / pool[unit]
        per_guest = result["guests"]["worker_seconds_per_job"]
        result["estimate"] = {"guests": 1_000_000, "workers": 64,
                              "minutes": 1_000_000 * per_guest / 64 / 60}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guests", type=int, default=20, help="random guests per technique (default 20)")
    parser.add_argument("--fixes-isa", default="rv_s", help="the riscv isa to sweep for fixes (default rv_s)")
    parser.add_argument("--families", default="trap,pin", help="the changes the fixes sweep tries "
                                                               "(default trap,pin)")
    parser.add_argument("--where", default="serial,pool,local",
                        help="where to run: serial, pool (2 processes), local (a Dask LocalCluster of 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    places = [p for p in args.where.split(",") if p]
    unknown = [p for p in places if p not in PLACES]
    if unknown:
        parser.error(f"unknown place {unknown[0]}: choose from {', '.join(PLACES)}")
    result = measure(args.guests, args.fixes_isa, places, tuple(args.families.split(",")))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"sweep throughput (load average {result['load_before']:.2f} before, "
          f"{result['load_after']:.2f} after)")
    for kind, title in (("fixes", f"fixes sweep of {args.fixes_isa}"),
                        ("guests", "guest campaign on pg74_retu")):
        for place in places:
            figures = result[kind][place]
            line = (f"  {title:<28} {place:<7} {figures['jobs']:>4} jobs in {figures['seconds']:7.2f} s: "
                    f"{figures['jobs_per_second']:6.2f} jobs/s")
            if "guests" in figures:
                line += f" ({figures['guests']} guests: {figures['guests_per_second']:.1f} guests/s)"
            print(line)
        if "worker_seconds_per_job" in result[kind]:
            each = "guest" if kind == "guests" else "job"
            print(f"  {'':<28} about {result[kind]['worker_seconds_per_job']:.3f} worker-seconds per {each}")
    if "estimate" in result:
        estimate = result["estimate"]
        print(f"  estimate: {estimate['guests']:,} guests on {estimate['workers']} workers: "
              f"about {estimate['minutes']:.0f} minutes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
