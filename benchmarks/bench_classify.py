"""The analysis benchmark: classify a bundled spec's instruction sets, witnesses included.

In one run, for every isa of the spec together (default: the x86-32 spec, the largest), the
wall time of deciding every question:

- serially, in this process, with no cache (`vdsl check -j 1 --no-cache`);
- on a local pool of `--jobs` processes (default 2), with no cache;
- on that pool with an empty disk cache (cold: every answer decided and written);
- with that cache filled (warm: every answer read);
- and `vdsl check SPEC -j N` as a user runs it, in a new process (start-up, parsing and the
  spec's policy checks included): on an empty cache, then again on the cache it filled.

As a yardstick measured in the same run it also classifies PG74's base isa serially: the ratio
says how big the job is, whatever the machine's speed today.  The machine's load average is
printed beside the figures: other work on the machine slows every one of them.

    python benchmarks/bench_classify.py [SPEC] [--jobs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vdsl import compile_files
from vdsl.analysis import jobs
from vdsl.analysis.cache import DiskCache
from vdsl.analysis.classify import IsaReport, classify_isas
from vdsl.analysis.jobs import Decider
from vdsl.ir.nodes import Isa
from vdsl.resources import data_dir
from vdsl.scale.jobs import Executor

ROOT = Path(__file__).resolve().parent.parent


def _classified(isas: Sequence[Isa], decider: Decider) -> tuple[float, list[IsaReport]]:
    """Seconds to classify the isas with `decider`, from nothing remembered in this process."""
    jobs.forget()
    start = time.perf_counter()
    reports = classify_isas(isas, decider=decider)
    return time.perf_counter() - start, reports


def _cli_check(spec: Path, cache: Path, workers: int) -> float:
    """Seconds of `vdsl check SPEC -j workers` in a new process, with the cache in `cache`."""
    env = {**os.environ, "VDSL_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    start = time.perf_counter()
    # this Python, this checkout's vdsl, a spec path the caller gave: nothing untrusted is run
    subprocess.run([sys.executable, "-m", "vdsl.cli", "check", str(spec), "--quiet", "-j", str(workers)],  # noqa: S603
                   env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def measure(spec_path: Path, workers: int = 2) -> dict[str, Any]:
    spec = compile_files(spec_path)
    isas = list(spec.isas)
    reference = compile_files(data_dir("specs") / "pg74.vspec").isa("pg74")
    assert reference is not None
    reference_seconds, _ = _classified([reference], Decider())
    pool = Executor(workers=workers)
    figures: dict[str, float] = {}
    runs: dict[str, Callable[[Path], Decider]] = {
        "serial": lambda _: Decider(),
        "pool": lambda _: Decider(pool),
        "cold": lambda cache: Decider(pool, DiskCache(cache)),
        "warm": lambda cache: Decider(pool, DiskCache(cache)),
    }
    with tempfile.TemporaryDirectory(prefix="vdsl-bench-cache-") as folder:
        cache = Path(folder)
        results = {}
        for name, decider_for in runs.items():
            decider = decider_for(cache)
            figures[name], results[name] = _classified(isas, decider)
            figures[f"{name} decided"] = decider.decided
            figures[f"{name} cached"] = decider.cached
    with tempfile.TemporaryDirectory(prefix="vdsl-bench-cache-") as folder:
        figures["cli cold"] = _cli_check(spec_path, Path(folder), workers)
        figures["cli warm"] = _cli_check(spec_path, Path(folder), workers)
    serial = results["serial"]
    same = all(r == serial for r in results.values())  # witnesses included, whoever decided them
    return {
        "spec": str(spec_path), "workers": workers, "load": os.getloadavg()[0],
        "isas": [{"isa": r.isa.name, "instructions": len(r.instructions),
                  "questions": sum(len(i.answers) for i in r.instructions)} for r in serial],
        "seconds": {k: v for k, v in figures.items() if not k.endswith(("decided", "cached"))},
        "jobs": {k: int(v) for k, v in figures.items() if k.endswith(("decided", "cached"))},
        "same_results": same,
        "reference": {"isa": "pg74", "seconds": reference_seconds},
        "ratio_to_reference": figures["serial"] / reference_seconds if reference_seconds else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", type=Path, default=data_dir("specs") / "x86-32.vspec")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="the pool's processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"no such spec: {args.spec}", file=sys.stderr)
        return 2
    result = measure(args.spec, args.jobs)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if result["same_results"] else 1
    instructions = sum(i["instructions"] for i in result["isas"])
    questions = sum(i["questions"] for i in result["isas"])
    seconds, counts = result["seconds"], result["jobs"]
    print(f"classifying {result['spec']} ({len(result['isas'])} isas, {instructions} instructions, "
          f"{questions} questions), witnesses included; load average {result['load']:.1f}:")
    rows = [("serial (-j 1 --no-cache)", "serial"), (f"-j {args.jobs} --no-cache", "pool"),
            (f"-j {args.jobs}, cold cache", "cold"), (f"-j {args.jobs}, warm cache", "warm")]
    for label, key in rows:
        print(f"  {label:<26} {seconds[key]:7.2f} s  ({counts[f'{key} decided']} decided, "
              f"{counts[f'{key} cached']} read from the cache)")
    for key in ("cold", "warm"):
        print(f"  {f'vdsl check -j {args.jobs}, {key} cache':<26} {seconds[f'cli {key}']:7.2f} s  "
              "(a new process: start-up, parsing, policy checks)")
    print(f"  the same answers and witnesses every way: {'yes' if result['same_results'] else 'NO'}")
    print(f"  the same run classifies pg74 in {result['reference']['seconds']:.2f} s "
          f"(ratio {result['ratio_to_reference']:.1f})")
    return 0 if result["same_results"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
