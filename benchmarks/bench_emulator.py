"""The emulator benchmark: issue 11's four workloads in one run, vdsl against py65 (a pure-Python
6502) and unicorn (QEMU's native code generator) where a twin of the program exists.

- **tight loop**: `loop.vspec`'s triple counting loop (its innermost loop is two instructions
  that jump to themselves); its 6502 twin on py65 and its x86 twin on unicorn.
- **multi-block loop**: `blocks.vspec`'s loop of three blocks linked by jumps, with loads and
  stores, run through a relocation register; its 6502 and x86 twins (which have no relocation:
  it is vdsl's cost to pay).
- **trap-heavy**: `traps.vspec`'s user program that makes a supervisor call in a loop on PG74's
  machine (ten instructions and one trap a call), bare: vdsl only (no twin has PG74's traps).
- **trap-and-emulate**: `monitor.vspec`'s innocuous guest, bare and under the trap-and-emulate
  monitor `vdsl run` builds (without the lockstep comparison): the monitored / bare ratio.

Each figure is CPU time (`time.process_time`) in this process, the median of `--repeat` runs
(the emulators alternate, so a slow spell of a shared machine hits all alike), and the report
prints issue 11's targets beside the figures and whether each is met.

    python benchmarks/bench_emulator.py [--instructions N] [--py65-instructions N] [--calls N]
                                        [--passes N] [--repeat R] [--json]

`main(argv)` returns the exit code and `benchmark(...)` the figures, so a test can run a tiny
case in about a second.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from vdsl import Emulator, Spec, compile_files, load_program

HERE = Path(__file__).parent
DEFAULT_INSTRUCTIONS = 3_000_000
DEFAULT_CALLS = 50_000
DEFAULT_PASSES = 500_000
DEFAULT_REPEAT = 5
COUNTS_ADDRESS = 0  # the outer, middle and inner counts of both loops: `data` at 0 and zero page $00


class BenchmarkError(Exception):
    """An emulator did not run its program as expected, so its rate would mean nothing."""


# ---------------------------------------------------------------- the loops and their twins

@attrs.frozen
class LoopCounts:
    """How many times each of three nested loops runs (1 to 256), and the instructions of one
    pass of the innermost loop."""

    outer: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))
    middle: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))
    inner: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))
    body: int = 2

    @property
    def instructions(self) -> int:
        """Per outer pass a load, the middle passes, a decrement and a branch; per middle pass a
        load, the inner passes, a decrement and a branch."""
        return self.outer * (3 + self.middle * (3 + self.body * self.inner))

    def as_bytes(self) -> list[int]:
        """The counts as the loops keep them; 256 is stored as 0 (they count down first)."""
        return [count % 256 for count in (self.outer, self.middle, self.inner)]


def loop_counts(instructions: int, body: int) -> LoopCounts:
    """The counts whose instruction count is nearest `instructions`, inner loops first."""
    largest = LoopCounts(256, 256, 256, body).instructions
    if not 1 <= instructions <= largest:
        raise ValueError(f"the loop runs 1 to {largest:,} instructions")

    def clamp(count: float) -> int:
        return min(256, max(1, round(count)))

    full_middle = LoopCounts(1, 256, 256, body).instructions
    if instructions >= full_middle:
        return LoopCounts(clamp(instructions / full_middle), 256, 256, body)
    full_inner = LoopCounts(1, 1, 256, body).instructions
    if instructions >= full_inner:
        return LoopCounts(1, clamp((instructions - 3) / (full_inner - 3)), 256, body)
    return LoopCounts(1, 1, clamp((instructions - 6) / body), body)


def assemble(origin: int, program: list[Any],
             branch: Callable[[int, int], int]) -> tuple[list[int], dict[str, int]]:
    """Bytes and label addresses of `program`: a label is a string; an instruction a list of
    bytes where ("rel", label) is a relative branch's offset byte and ("abs", label) a 6502
    absolute address (two bytes)."""
    labels: dict[str, int] = {}
    address = origin
    for item in program:
        if isinstance(item, str):
            labels[item] = address
        else:
            address += sum(2 if isinstance(b, tuple) and b[0] == "abs" else 1 for b in item)
    code: list[int] = []
    address = origin
    for item in program:
        if isinstance(item, str):
            continue
        size = sum(2 if isinstance(b, tuple) and b[0] == "abs" else 1 for b in item)
        for b in item:
            if isinstance(b, tuple) and b[0] == "rel":
                code.append(branch(address + size, labels[b[1]]))
            elif isinstance(b, tuple):
                code += [labels[b[1]] & 0xFF, labels[b[1]] >> 8]
            else:
                code.append(b)
        address += size
    return code, labels


def _relative(after: int, target: int) -> int:
    return (target - after) & 0xFF


@attrs.frozen
class Twin:
    """A vdsl benchmark loop and its 6502 and x86 twins (the same instructions, one for one)."""

    name: str
    spec: Path
    program: str
    body: int  # instructions of one pass of the innermost loop
    code_6502: list[Any]
    code_x86: list[Any]


ORIGIN_6502 = 0x0200
ORIGIN_X86 = 0x1000

# `loop.vspec`: LDY middle count, LDX inner count, DEX/BNE, DEY/BNE, DEC outer/BNE.  The x86
# loads set no flags (the 6502's do), but the branches test only what the decrements set.
TIGHT = Twin(
    "tight loop", HERE / "loop.vspec", "loop", 2,
    ["outer", [0xA4, 0x01], "middle", [0xA6, 0x02], "inner", [0xCA], [0xD0, ("rel", "inner")],
     [0x88], [0xD0, ("rel", "middle")], [0xC6, 0x00], [0xD0, ("rel", "outer")], "end", [0x00]],
    ["outer", [0x8A, 0x1D, 0x01, 0, 0, 0], "middle", [0x8A, 0x0D, 0x02, 0, 0, 0],   # mov bl, [1]; mov cl, [2]
     "inner", [0xFE, 0xC9], [0x75, ("rel", "inner")],                                # dec cl; jnz
     [0xFE, 0xCB], [0x75, ("rel", "middle")],                                        # dec bl; jnz
     [0xFE, 0x0D, 0x00, 0, 0, 0], [0x75, ("rel", "outer")], "end", [0xF4]],          # dec byte [0]; jnz; hlt
)

# `blocks.vspec`: block one LDA 4, STA 5, JMP two; block two INC 6, LDA 6, JMP three; block
# three STA 7, DEX, BNE one; then DEY/BNE and DEC/BNE as in the tight loop.
BLOCKS = Twin(
    "multi-block loop", HERE / "blocks.vspec", "blocks", 9,
    ["outer", [0xA4, 0x01], "middle", [0xA6, 0x02],
     "one", [0xA5, 0x04], [0x85, 0x05], [0x4C, ("abs", "two")],
     "three", [0x85, 0x07], [0xCA], [0xD0, ("rel", "one")],
     [0x88], [0xD0, ("rel", "middle")], [0xC6, 0x00], [0xD0, ("rel", "outer")], "end", [0x00],
     "two", [0xE6, 0x06], [0xA5, 0x06], [0x4C, ("abs", "three")]],
    ["outer", [0x8A, 0x1D, 0x01, 0, 0, 0], "middle", [0x8A, 0x0D, 0x02, 0, 0, 0],
     # mov al, [4]; mov [5], al; jmp two
     "one", [0xA0, 0x04, 0, 0, 0], [0xA2, 0x05, 0, 0, 0], [0xEB, ("rel", "two")],
     # mov [7], al; dec cl; jnz one
     "three", [0xA2, 0x07, 0, 0, 0], [0xFE, 0xC9], [0x75, ("rel", "one")],
     [0xFE, 0xCB], [0x75, ("rel", "middle")], [0xFE, 0x0D, 0x00, 0, 0, 0], [0x75, ("rel", "outer")],
     "end", [0xF4],
     # inc byte [6]; mov al, [6]; jmp three
     "two", [0xFE, 0x05, 0x06, 0, 0, 0], [0xA0, 0x06, 0, 0, 0], [0xEB, ("rel", "three")]],
)


def run_vdsl_loop(twin: Twin, spec: Spec, counts: LoopCounts) -> float:
    """CPU seconds of vdsl's emulator on the loop, from a fresh emulator to the loop's HALT."""
    program = spec.program(twin.program)
    assert program is not None
    isa = spec.isa(program.isa)
    assert isa is not None
    state = load_program(isa, program)
    offset = state.get(_ref("R.base")) if isa.machine.relocation is not None else 0
    state.memory[offset + COUNTS_ADDRESS:offset + COUNTS_ADDRESS + 3] = counts.as_bytes()
    emulator = Emulator(isa, state)  # fresh: the time includes compiling the code
    expected = counts.instructions + 1  # the loop, then HALT
    start = time.process_time()
    result = emulator.run(expected)
    seconds = time.process_time() - start
    registers = result.state.registers_json()
    if (result.status, result.steps) != ("halted", expected) or registers["X"] or registers["Y"] \
            or result.state.memory[offset + COUNTS_ADDRESS]:
        raise BenchmarkError(f"vdsl ran the {twin.name} wrongly: {result.message} (expected {expected:,} "
                             f"steps ending at HALT), X = {registers['X']}, Y = {registers['Y']}")
    return seconds


def _ref(text: str) -> Any:
    from vdsl.ir import nodes as ir

    reg, _, field = text.partition(".")
    return ir.StateRef(reg, field or None)


def run_py65(twin: Twin, counts: LoopCounts) -> float:
    """CPU seconds of py65's 6502 stepping exactly the loop's instructions."""
    from py65.devices.mpu6502 import MPU

    code, labels = assemble(ORIGIN_6502, twin.code_6502, _relative)
    mpu = MPU(pc=ORIGIN_6502)
    memory = mpu.memory
    memory[ORIGIN_6502:ORIGIN_6502 + len(code)] = code
    memory[COUNTS_ADDRESS:COUNTS_ADDRESS + 3] = counts.as_bytes()
    step = mpu.step  # bound once: the harness should cost py65 as little as it can
    start = time.process_time()
    for _ in range(counts.instructions):
        step()
    seconds = time.process_time() - start
    if (mpu.pc, mpu.x, mpu.y, memory[COUNTS_ADDRESS]) != (labels["end"], 0, 0, 0):
        raise BenchmarkError(f"py65 ran the {twin.name} wrongly: it stopped at ${mpu.pc:04X} with "
                             f"X = {mpu.x}, Y = {mpu.y}, expected ${labels['end']:04X} with both 0")
    return seconds


def run_unicorn(twin: Twin, counts: LoopCounts) -> float:
    """CPU seconds of unicorn's x86 on the loop's twin, from its first instruction to its HLT."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
    from unicorn.x86_const import UC_X86_REG_BL, UC_X86_REG_CL, UC_X86_REG_EIP

    code, labels = assemble(ORIGIN_X86, twin.code_x86, _relative)
    emulator = Uc(UC_ARCH_X86, UC_MODE_32)
    emulator.mem_map(0, 0x2000)
    emulator.mem_write(ORIGIN_X86, bytes(code))
    emulator.mem_write(COUNTS_ADDRESS, bytes(counts.as_bytes()))
    start = time.process_time()
    emulator.emu_start(ORIGIN_X86, labels["end"])
    seconds = time.process_time() - start
    state = (emulator.reg_read(UC_X86_REG_EIP), emulator.reg_read(UC_X86_REG_CL),
             emulator.reg_read(UC_X86_REG_BL), emulator.mem_read(COUNTS_ADDRESS, 1)[0])
    if state != (labels["end"], 0, 0, 0):
        raise BenchmarkError(f"unicorn ran the {twin.name} wrongly: it stopped at {state[0]:#x} with "
                             f"CL = {state[1]}, BL = {state[2]}, expected {labels['end']:#x} with both 0")
    return seconds


# ---------------------------------------------------------------- traps and the monitor

def _sibling(name: str) -> ModuleType:
    """Another script of `benchmarks/`, imported as a module."""
    if name in sys.modules:
        return sys.modules[name]
    found = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    found.loader.exec_module(module)
    return module


TRAPS_SPEC = HERE / "traps.vspec"
CALLS_ADDRESS = 11  # svc_loop's count of the calls still to make


def run_trap_heavy(spec: Spec, calls: int) -> tuple[int, float]:
    """(instructions, CPU seconds) of `svc_loop` making `calls` supervisor calls, bare."""
    program = spec.program("svc_loop")
    assert program is not None
    isa = spec.isa(program.isa)
    assert isa is not None
    state = load_program(isa, program)
    state.memory[CALLS_ADDRESS] = calls
    emulator = Emulator(isa, state)
    start = time.process_time()
    result = emulator.run(10**9)
    seconds = time.process_time() - start
    if result.status != "halted" or emulator.counters.traps != calls:
        raise BenchmarkError(f"vdsl ran the trap-heavy program wrongly: {result.message}, "
                             f"{emulator.counters.traps:,} traps for {calls:,} calls")
    return result.steps, seconds


PASSES_PER_ROUND = 50_000


def trap_and_emulate_runs(passes: int) -> dict[str, Callable[[], tuple[int, int]]]:
    """The innocuous guest, bare and under the monitor: each run returns (instructions, traps)."""
    monitor = _sibling("bench_monitor")
    spec = compile_files(monitor.SPEC)
    found = spec.program("long_countdown")
    assert found is not None
    per_round = min(passes, PASSES_PER_ROUND)
    rounds = max(1, round(passes / per_round))
    program = attrs.evolve(found, data=tuple(
        (a, {12: per_round, 13: rounds}.get(a, v)) for a, v in found.data))
    scenario = monitor._scenario(spec, "innocuous", program)
    return {"bare": monitor._bare(scenario), "trap_and_emulate": monitor._monitored(scenario, lockstep=False)}


# ---------------------------------------------------------------- the report

@attrs.frozen
class Measurement:
    """One emulator on one workload: instructions and the CPU seconds of each run."""

    emulator: str
    instructions: int
    runs: tuple[float, ...]

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)

    @property
    def per_second(self) -> float:
        return self.instructions / self.seconds if self.seconds else float("inf")

    def to_json(self) -> dict[str, Any]:
        return {"instructions": self.instructions, "seconds": self.seconds, "runs": list(self.runs),
                "instructions_per_second": self.per_second}


@attrs.frozen
class Target:
    """One of issue 11's targets, and the figure this run measured for it."""

    what: str
    measured: float
    at_least: float
    unit: str

    @property
    def met(self) -> bool:
        return self.measured >= self.at_least

    def to_json(self) -> dict[str, Any]:
        return {"target": self.what, "measured": self.measured, "at_least": self.at_least, "met": self.met}


@attrs.frozen
class Report:
    """The four workloads' measurements, by workload then emulator, and the targets."""

    workloads: dict[str, dict[str, Measurement]]
    notes: dict[str, str]
    repeat: int

    def rate(self, workload: str, emulator: str) -> float:
        return self.workloads[workload][emulator].per_second

    @property
    def targets(self) -> list[Target]:
        tight, py65 = self.rate("tight_loop", "vdsl"), self.rate("tight_loop", "py65")
        return [
            Target("tight loop, vdsl", tight / 1e6, 20, "M instructions/s"),
            Target("tight loop, vdsl / py65 in the same run", tight / py65, 15, "x"),
            Target("multi-block loop, vdsl", self.rate("multi_block", "vdsl") / 1e6, 8, "M instructions/s"),
            Target("trap-heavy, vdsl bare", self.rate("trap_heavy", "vdsl") / 1e6, 1, "M instructions/s"),
            Target("trap-and-emulate of the innocuous guest / bare",
                   self.rate("trap_and_emulate", "trap_and_emulate") / self.rate("trap_and_emulate", "bare"),
                   0.9, "of bare"),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "issue 11's emulator workloads: vdsl, py65 and unicorn",
            "timer": "time.process_time",
            "repeat": self.repeat,
            "statistic": "median",
            "workloads": {name: {emulator: m.to_json() for emulator, m in runs.items()}
                          for name, runs in self.workloads.items()},
            "notes": self.notes,
            "targets": [t.to_json() for t in self.targets],
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
        }

    def to_text(self) -> str:
        lines = [f"vdsl's emulator, issue 11's workloads: CPU time, median of {self.repeat} "
                 f"(Python {platform.python_version()})"]
        for name, runs in self.workloads.items():
            lines.append(f"{name.replace('_', ' ')}:  {self.notes[name]}")
            for emulator, m in runs.items():
                lines.append(f"  {emulator:<17} {m.instructions:>12,} instructions in {m.seconds:8.4f} s: "
                             f"{m.per_second / 1e6:9.2f} M instructions/s")
        lines.append("targets:")
        for t in self.targets:
            lines.append(f"  {t.what:<50} {t.measured:8.2f} {t.unit:<17} (at least {t.at_least:g}): "
                         f"{'met' if t.met else 'NOT MET'}")
        return "\n".join(lines)


def benchmark(instructions: int = DEFAULT_INSTRUCTIONS, py65_instructions: int | None = None,
              calls: int = DEFAULT_CALLS, passes: int = DEFAULT_PASSES,
              repeat: int = DEFAULT_REPEAT) -> Report:
    """Measure every workload, each emulator `repeat` times, alternating."""
    unicorn = importlib.util.find_spec("unicorn") is not None
    workloads: dict[str, dict[str, Measurement]] = {}
    notes: dict[str, str] = {}
    for key, twin in (("tight_loop", TIGHT), ("multi_block", BLOCKS)):
        spec = compile_files(twin.spec)
        counts = loop_counts(instructions, twin.body)
        py65_counts = loop_counts(py65_instructions or instructions, twin.body)
        # ten times vdsl's loop (it would finish a small one in microseconds), at most the largest
        largest = LoopCounts(256, 256, 256, twin.body).instructions
        native = loop_counts(min(10 * instructions, largest), twin.body)
        runs: dict[str, list[float]] = {"vdsl": [], "py65": [], "unicorn": []}
        for _ in range(repeat):
            runs["vdsl"].append(run_vdsl_loop(twin, spec, counts))
            runs["py65"].append(run_py65(twin, py65_counts))
            if unicorn:
                runs["unicorn"].append(run_unicorn(twin, native))
        workloads[key] = {"vdsl": Measurement("vdsl", counts.instructions + 1, tuple(runs["vdsl"])),
                          "py65": Measurement("py65", py65_counts.instructions, tuple(runs["py65"]))}
        if unicorn:
            workloads[key]["unicorn"] = Measurement("unicorn", native.instructions, tuple(runs["unicorn"]))
        notes[key] = f"{twin.spec.name} and its 6502{' and x86' if unicorn else ''} twins" + (
            "" if unicorn else " (unicorn is not installed: pip install unicorn)")
    traps_spec = compile_files(TRAPS_SPEC)
    trap_runs = [run_trap_heavy(traps_spec, calls) for _ in range(repeat)]
    workloads["trap_heavy"] = {"vdsl": Measurement("vdsl", trap_runs[0][0], tuple(s for _, s in trap_runs))}
    notes["trap_heavy"] = f"{TRAPS_SPEC.name}, {calls:,} supervisor calls on PG74's machine (no twin)"
    te_runs = trap_and_emulate_runs(passes)
    times: dict[str, list[float]] = {name: [] for name in te_runs}
    counted: dict[str, int] = {}
    for _ in range(repeat):
        for name, run in te_runs.items():
            start = time.process_time()
            counted[name] = run()[0]
            times[name].append(time.process_time() - start)
    if counted["bare"] != counted["trap_and_emulate"]:
        raise BenchmarkError("the bare and monitored innocuous guests ran different instruction counts")
    workloads["trap_and_emulate"] = {name: Measurement(name, counted[name], tuple(times[name]))
                                     for name in te_runs}
    notes["trap_and_emulate"] = "monitor.vspec's innocuous guest, bare and under the monitor (no lockstep)"
    return Report(workloads, notes, repeat)


def _count(largest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not 1 <= value <= largest:
            raise argparse.ArgumentTypeError(f"{value:,} is out of range: 1 to {largest:,}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_emulator.py",
        description="Instructions per second of vdsl's emulator on issue 11's four workloads, "
                    "beside py65 and unicorn, and the issue's targets.")
    largest = LoopCounts(256, 256, 256, TIGHT.body).instructions
    parser.add_argument("--instructions", type=_count(largest), default=DEFAULT_INSTRUCTIONS, metavar="N",
                        help="about how many instructions each loop runs on vdsl "
                             f"(default {DEFAULT_INSTRUCTIONS:,})")
    parser.add_argument("--py65-instructions", type=_count(largest), metavar="N",
                        help="about how many instructions py65 runs (default: as many as vdsl)")
    parser.add_argument("--calls", type=_count(65535), default=DEFAULT_CALLS, metavar="N",
                        help=f"supervisor calls of the trap-heavy program (default {DEFAULT_CALLS:,})")
    parser.add_argument("--passes", type=_count(PASSES_PER_ROUND * 65535), default=DEFAULT_PASSES,
                        metavar="N",
                        help=f"countdown passes of the innocuous guest, 5 instructions each "
                             f"(default {DEFAULT_PASSES:,})")
    parser.add_argument("--repeat", type=_count(1000), default=DEFAULT_REPEAT, metavar="R",
                        help=f"runs of each emulator; the median counts (default {DEFAULT_REPEAT})")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("py65") is None:  # before any timing: nothing to compare with
        print("bench_emulator.py: py65 is needed for the comparison; install it with "
              "`pip install py65` (or vdsl's test extra)", file=sys.stderr)
        return 2
    try:
        report = benchmark(args.instructions, args.py65_instructions, args.calls, args.passes, args.repeat)
    except BenchmarkError as error:
        print(f"bench_emulator.py: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
