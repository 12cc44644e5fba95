"""The analysis benchmark: classify a bundled spec's instruction sets, witnesses included.

Prints the wall time of `classify_isa` for every isa of the spec (default: the x86-32
spec, the largest), the number of z3 questions asked, and, as a yardstick measured in
the same run, the time to classify PG74's base isa: the ratio says how much bigger the
job is, whatever the machine's speed today.  The issue's target: x86-32 under 30 s on
a 2-core machine.

    python benchmarks/bench_classify.py [SPEC] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vdsl import compile_files
from vdsl.analysis import classify, jobs
from vdsl.resources import data_dir


def _classify_fresh(isa: Any) -> tuple[float, int]:
    """Seconds to classify an isa from scratch, and the questions answered."""
    jobs.forget()  # time the work, not the cache
    start = time.perf_counter()
    report = classify.classify_isa(isa)
    seconds = time.perf_counter() - start
    return seconds, sum(len(i.answers) for i in report.instructions)


def measure(spec_path: Path) -> dict[str, Any]:
    spec = compile_files(spec_path)
    reference = compile_files(data_dir("specs") / "pg74.vspec").isa("pg74")
    assert reference is not None
    reference_seconds, _ = _classify_fresh(reference)
    isas = []
    for isa in spec.isas:
        seconds, questions = _classify_fresh(isa)
        isas.append({"isa": isa.name, "instructions": len(isa.instructions), "questions": questions,
                     "seconds": seconds})
    total = sum(i["seconds"] for i in isas)
    return {"spec": str(spec_path), "isas": isas, "seconds": total,
            "reference": {"isa": "pg74", "seconds": reference_seconds},
            "ratio_to_reference": total / reference_seconds if reference_seconds else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", type=Path, default=data_dir("specs") / "x86-32.vspec")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"no such spec: {args.spec}", file=sys.stderr)
        return 2
    result = measure(args.spec)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"classifying {result['spec']}, witnesses included:")
    for isa in result["isas"]:
        print(f"  {isa['isa']:<20} {isa['instructions']:>4} instructions, {isa['questions']:>5} questions "
              f"in {isa['seconds']:7.2f} s")
    print(f"  total {result['seconds']:.2f} s; the same run classifies pg74 in "
          f"{result['reference']['seconds']:.2f} s (ratio {result['ratio_to_reference']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
