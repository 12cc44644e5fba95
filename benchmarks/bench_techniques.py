"""The techniques benchmark: one x86 guest kernel under each technique, in one run.

The guest (`techniques.vspec`) loops: it clears IF with POPF, reads the flags back with PUSHF,
sets IF again with POPF, and counts; a `CLI`/`STI` pair (privileged with IOPL pinned to 0) traps
under the classic monitors.  It runs bare and under trap-and-emulate, binary translation,
paravirtualization and VT-x (the bundled x86-32 hypervisors), each measured in this process with
`time.perf_counter` (the median of `--repeat` runs), without lockstep; one more run of each with
lockstep says whether it is equivalent to the bare run.  Reported per technique: guest
instructions per second (the bare run's rate is the reference, measured in the same run), the
share run directly, the modelled cycles under the policy's cost model, and equivalence.

    python benchmarks/bench_techniques.py [--loops N] [--repeat R] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from vdsl import Emulator, compile_files, load_program
from vdsl.ir import nodes as ir
from vdsl.monitor.run import run_scenario

SPEC = Path(__file__).with_name("techniques.vspec")
LOOPS_ADDRESS = 0x90  # the program reads its loop count from this word
TECHNIQUES = {"trap_and_emulate": "deprivileging", "binary_translation": "vmware_bt",
              "paravirtual": "xen_pv", "hardware_assisted": "kvm"}
DEFAULT_LOOPS = 2_000
DEFAULT_REPEAT = 3


class BenchmarkError(Exception):
    """A run did not do what the benchmark measures."""


@attrs.frozen
class Figures:
    technique: str
    hypervisor: str
    instructions: int
    seconds: float
    efficiency: float
    cycles: int
    equivalent: bool

    @property
    def per_second(self) -> float:
        return self.instructions / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"hypervisor": self.hypervisor, "instructions": self.instructions, "seconds": self.seconds,
                "instructions_per_second": self.per_second, "efficiency": self.efficiency,
                "cycles": self.cycles, "equivalent": self.equivalent}


def _program(spec: ir.Spec, loops: int) -> ir.Program:
    found = spec.program("flags_loop")
    assert found is not None
    data = tuple((a, loops if a == LOOPS_ADDRESS else v) for a, v in found.data)
    return attrs.evolve(found, data=data)


def _scenario(spec: ir.Spec, hypervisor: str, program: ir.Program) -> ir.Scenario:
    policy = next(h for h in spec.hypervisors if h.name == hypervisor)
    return ir.Scenario(f"bench_{hypervisor}", spec.isa("x86_32"), (policy,),  # type: ignore[arg-type]
                       (ir.Guest("kernel", program, "ring0"),), ())


def _median(run: Any, repeat: int) -> tuple[Any, float]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def benchmark(loops: int = DEFAULT_LOOPS, repeat: int = DEFAULT_REPEAT) -> dict[str, Any]:
    spec = compile_files(SPEC)
    program = _program(spec, loops)
    isa = spec.isa("x86_32")
    assert isa is not None

    def bare() -> int:
        state = load_program(isa, program)
        state.slots[state.mode_index] = 0
        result = Emulator(isa, state).run(10**9)
        if result.status != "halted":
            raise BenchmarkError(f"the bare guest did not halt: {result.message}")
        return result.steps

    steps, seconds = _median(bare, repeat)
    reference = steps / seconds if seconds else 0.0
    figures = []
    for technique, hypervisor in TECHNIQUES.items():
        scenario = _scenario(spec, hypervisor, program)

        def monitored(scenario: ir.Scenario = scenario) -> Any:
            (guest,) = run_scenario(scenario, max_steps=10**9, lockstep=False).guests
            if guest.status != "halted":
                raise BenchmarkError(f"{scenario.name}: {guest.status} {guest.message}")
            return guest

        guest, seconds = _median(monitored, repeat)
        (checked,) = run_scenario(scenario, max_steps=10**9, lockstep=True).guests
        figures.append(Figures(technique, hypervisor, guest.counters.instructions, seconds,
                               guest.counters.efficiency, guest.cycles, checked.equivalent))
    return {"python": platform.python_version(), "loops": loops, "repeat": repeat,
            "bare": {"instructions": steps, "instructions_per_second": reference},
            "techniques": {f.technique: f.to_json() | {"ratio_to_bare": f.per_second / reference if reference
                                                      else 0.0} for f in figures}}


def to_text(report: dict[str, Any]) -> str:
    bare = report["bare"]
    lines = [f"x86 guest kernel, {report['loops']} loops of POPF/PUSHF/POPF and CLI/STI, "
             f"median of {report['repeat']} (python {report['python']})",
             f"  {'bare':20} {bare['instructions_per_second'] / 1e3:9.1f} k instructions/s",
             f"  {'technique':20} {'k instr/s':>9} {'of bare':>8} {'direct':>7} {'cycles':>9}  equivalent"]
    for name, figures in report["techniques"].items():
        lines.append(f"  {name:20} {figures['instructions_per_second'] / 1e3:9.1f} "
                     f"{figures['ratio_to_bare']:8.3f} {figures['efficiency']:7.3f} {figures['cycles']:9d}  "
                     f"{'yes' if figures['equivalent'] else 'no'}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--loops", type=int, default=DEFAULT_LOOPS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = benchmark(args.loops, args.repeat)
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json else to_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
