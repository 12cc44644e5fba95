"""The monitor benchmark: a guest under trap-and-emulate against the same guest bare.

Two PG74 guests from `monitor.vspec`, each measured in this process with `time.perf_counter`,
bare and monitored runs alternating, the median of `--repeat` runs counting:

- `countdown`, a mostly innocuous user program: instructions per second bare (the guest's
  virtual machine alone on the emulator) and under the monitor (run directly, traps taken by
  the dispatcher; no lockstep comparison), and their ratio (target: at least 0.9);
- `svc_storm`, a guest kernel whose user program makes a supervisor call in a loop: traps per
  second bare (the machine's compiled trap mechanism) and under the monitor (each call a real
  trap, reflected into the guest's vector; each return an LPSW the monitor emulates).

The lockstep rate (every instruction compared with a bare twin, as `vdsl run` does) is reported
for the innocuous guest too.

    python benchmarks/bench_monitor.py [--passes N] [--calls N] [--repeat R] [--json]

`main(argv)` returns the exit code and `benchmark(...)` the figures, so a test can run a small case.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from vdsl import Emulator, compile_files, load_program
from vdsl.ir import nodes as ir
from vdsl.monitor.run import run_scenario

SPEC = Path(__file__).with_name("monitor.vspec")
COUNT_ADDRESS = 11  # both programs keep their count at E[11]
DEFAULT_PASSES = 60_000
DEFAULT_CALLS = 5_000
DEFAULT_REPEAT = 5


class BenchmarkError(Exception):
    """A run did not do what the benchmark measures, so its rate would mean nothing."""


@attrs.frozen
class Rate:
    """How many events (instructions or traps) a run had, and the median seconds it took."""

    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@attrs.frozen
class Report:
    innocuous_bare: Rate
    innocuous_monitored: Rate
    innocuous_lockstep: Rate
    traps_bare: Rate
    traps_monitored: Rate

    @property
    def ratio(self) -> float:
        return self.innocuous_monitored.per_second / self.innocuous_bare.per_second

    def to_json(self) -> dict[str, Any]:
        def rate(r: Rate, unit: str) -> dict[str, Any]:
            return {unit: r.events, "seconds": r.seconds, f"{unit}_per_second": r.per_second}

        return {
            "python": platform.python_version(),
            "innocuous": {"bare": rate(self.innocuous_bare, "instructions"),
                          "trap_and_emulate": rate(self.innocuous_monitored, "instructions"),
                          "lockstep": rate(self.innocuous_lockstep, "instructions"),
                          "ratio": self.ratio},
            "trap_heavy": {"bare": rate(self.traps_bare, "traps"),
                           "trap_and_emulate": rate(self.traps_monitored, "traps")},
        }

    def to_text(self) -> str:
        return "\n".join([
            f"innocuous guest, {self.innocuous_bare.events:,} instructions:",
            f"  bare              {self.innocuous_bare.per_second / 1e6:8.3f} M instructions/s",
            f"  trap-and-emulate  {self.innocuous_monitored.per_second / 1e6:8.3f} M instructions/s"
            f"   ({self.ratio:.2f} of bare; target 0.9)",
            f"  lockstep check    {self.innocuous_lockstep.per_second / 1e6:8.3f} M instructions/s",
            f"trap-heavy guest, {self.traps_bare.events:,} supervisor calls:",
            f"  bare              {self.traps_bare.per_second / 1e3:8.1f} k traps/s",
            f"  trap-and-emulate  {self.traps_monitored.per_second / 1e3:8.1f} k traps/s",
        ]) + "\n"


def _with_count(spec: ir.Spec, program: str, count: int) -> ir.Program:
    found = spec.program(program)
    assert found is not None
    data = tuple((a, count if a == COUNT_ADDRESS else v) for a, v in found.data)
    return attrs.evolve(found, data=data)


def _scenario(spec: ir.Spec, name: str, program: ir.Program) -> ir.Scenario:
    scenario = spec.scenario(name)
    assert scenario is not None
    guests = tuple(attrs.evolve(g, program=program) for g in scenario.guests)
    return attrs.evolve(scenario, guests=guests)


def _bare(scenario: ir.Scenario) -> Callable[[], tuple[int, int]]:
    """Run the guest alone on its virtual machine: (instructions, traps)."""
    (guest,) = scenario.guests
    size = scenario.monitor.memory_per_guest or scenario.isa.machine.memory.size
    machine = attrs.evolve(scenario.isa.machine, memory=attrs.evolve(scenario.isa.machine.memory, size=size))
    isa = attrs.evolve(scenario.isa, machine=machine)

    def run() -> tuple[int, int]:
        state = load_program(isa, guest.program)
        state.slots[state.mode_index] = machine.modes.index(guest.mode)
        emulator = Emulator(isa, state)
        result = emulator.run(10**9)
        if result.status != "halted":
            raise BenchmarkError(f"the bare {guest.program.name} did not halt: {result.message}")
        return result.steps, emulator.counters.traps

    return run


def _monitored(scenario: ir.Scenario, lockstep: bool) -> Callable[[], tuple[int, int]]:
    def run() -> tuple[int, int]:
        (guest,) = run_scenario(scenario, max_steps=10**9, lockstep=lockstep).guests
        if guest.status != "halted" or (lockstep and not guest.equivalent):
            raise BenchmarkError(f"{guest.program} under the monitor: {guest.status} {guest.message}")
        return guest.counters.instructions, guest.counters.traps

    return run


def _measure(runs: dict[str, Callable[[], tuple[int, int]]], repeat: int,
             events: Callable[[tuple[int, int]], int]) -> dict[str, Rate]:
    """Run each in turn, `repeat` times; the median seconds of each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            result = run()
            times[name].append(time.perf_counter() - start)
            counts[name] = events(result)
    return {name: Rate(counts[name], statistics.median(times[name])) for name in runs}


def benchmark(passes: int = DEFAULT_PASSES, calls: int = DEFAULT_CALLS,
              repeat: int = DEFAULT_REPEAT) -> Report:
    spec = compile_files(SPEC)
    innocuous = _scenario(spec, "innocuous", _with_count(spec, "countdown", passes))
    heavy = _scenario(spec, "trap_heavy", _with_count(spec, "svc_storm", calls))
    rates = _measure({"bare": _bare(innocuous), "monitored": _monitored(innocuous, lockstep=False)},
                     repeat, lambda r: r[0])
    lockstep = _measure({"lockstep": _monitored(innocuous, lockstep=True)}, 1, lambda r: r[0])
    traps = _measure({"bare": _bare(heavy), "monitored": _monitored(heavy, lockstep=False)},
                     repeat, lambda r: r[1])
    if rates["bare"].events != rates["monitored"].events:
        raise BenchmarkError("the bare and monitored countdowns ran different instruction counts")
    return Report(rates["bare"], rates["monitored"], lockstep["lockstep"], traps["bare"], traps["monitored"])


def _positive(text: str) -> int:
    value = int(text)
    if value < 1 or value > 65535:
        raise argparse.ArgumentTypeError("must be between 1 and 65535 (a 16-bit count word)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--passes", type=_positive, default=DEFAULT_PASSES,
                        help="countdown passes, 5 instructions each (at most 65535)")
    parser.add_argument("--calls", type=_positive, default=DEFAULT_CALLS,
                        help="supervisor calls of svc_storm (at most 65535)")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs of each, alternating")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        report = benchmark(args.passes, args.calls, args.repeat)
    except BenchmarkError as error:
        print(f"bench_monitor: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
