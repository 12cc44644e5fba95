"""The emulator benchmark: vdsl's bare machine against py65 on the same counting loop, and
unicorn (QEMU's native code generator) as the reference for native speed.

The emulators run one triple counting loop, instruction for instruction: vdsl runs
program `loop` of `loop.vspec` (a small 6502-like machine), py65 runs the same loop
in 6502 machine code, unicorn its x86 twin (the same instructions, one for one).  Each
is timed with `time.perf_counter` in this process, best of `--repeat` runs, and the
report gives instructions per second for each and the ratios vdsl / py65 (above 1: vdsl
is faster) and vdsl / unicorn.  Unicorn is measured when it is installed (vdsl's test
extra has it), on the largest loop (it would finish a small one in microseconds).

    python benchmarks/bench_emulator.py [--instructions N] [--py65-instructions N]
                                        [--repeat R] [--json]

`main(argv)` returns the exit code and `benchmark(...)` returns the figures, so a
test can run a small case (`--instructions 10000`) in well under a second.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from vdsl import Emulator, Spec, compile_files, load_program

LOOP_SPEC = Path(__file__).with_name("loop.vspec")
LOOP_PROGRAM = "loop"
COUNTS_ADDRESS = 0  # the outer, middle and inner counts: loop.vspec's `data 0` and 6502 zero page $00
DEFAULT_INSTRUCTIONS = 3_000_000
DEFAULT_REPEAT = 3

# The 6502 twin of loop.vspec's program.  Its branches are relative: the offset counts
# from the byte after the two-byte BNE.
ORIGIN_6502 = 0x0200
OUTER_6502, MIDDLE_6502, INNER_6502 = 0x0200, 0x0202, 0x0204
END_6502 = 0x020E


def _bne(at: int, target: int) -> list[int]:
    return [0xD0, (target - (at + 2)) & 0xFF]


LOOP_6502 = [
    0xA4, 0x01,                  # $0200 outer:  LDY $01
    0xA6, 0x02,                  # $0202 middle: LDX $02
    0xCA,                        # $0204 inner:  DEX
    *_bne(0x0205, INNER_6502),   # $0205         BNE inner
    0x88,                        # $0207         DEY
    *_bne(0x0208, MIDDLE_6502),  # $0208         BNE middle
    0xC6, 0x00,                  # $020A         DEC $00
    *_bne(0x020C, OUTER_6502),   # $020C         BNE outer
    0x00,                        # $020E         BRK: never run, the benchmark stops here
]
assert ORIGIN_6502 + len(LOOP_6502) - 1 == END_6502


# The x86 twin, for unicorn: the counts at 0..2 as on the 6502, the code at ORIGIN_X86.  The
# loads set no flags (the 6502's do), but the branches test only what DEC set, so the
# instructions executed are the same, one for one.
ORIGIN_X86 = 0x1000


def _jnz(at: int, target: int) -> list[int]:
    return [0x75, (target - (at + 2)) & 0xFF]


LOOP_X86 = [
    0x8A, 0x1D, 0x01, 0x00, 0x00, 0x00,  # 0x1000 outer:  mov bl, [1]     (LDY)
    0x8A, 0x0D, 0x02, 0x00, 0x00, 0x00,  # 0x1006 middle: mov cl, [2]     (LDX)
    0xFE, 0xC9,                          # 0x100C inner:  dec cl          (DEX)
    *_jnz(0x100E, 0x100C),               # 0x100E         jnz inner
    0xFE, 0xCB,                          # 0x1010         dec bl          (DEY)
    *_jnz(0x1012, 0x1006),               # 0x1012         jnz middle
    0xFE, 0x0D, 0x00, 0x00, 0x00, 0x00,  # 0x1014         dec byte [0]    (DEC)
    *_jnz(0x101A, 0x1000),               # 0x101A         jnz outer
    0xF4,                                # 0x101C         hlt: never run, the benchmark stops here
]
END_X86 = ORIGIN_X86 + len(LOOP_X86) - 1


class BenchmarkError(Exception):
    """An emulator did not run the loop as expected, so its rate would mean nothing."""


@attrs.frozen
class LoopCounts:
    """How many times each of the three nested loops runs, each from 1 to 256."""

    outer: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))
    middle: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))
    inner: int = attrs.field(validator=attrs.validators.in_(range(1, 257)))

    @property
    def instructions(self) -> int:
        """Instructions the loop executes: per middle pass LDX, the DEX/BNE pairs, DEY,
        BNE; per outer pass LDY, the middle passes, DEC, BNE."""
        return self.outer * (3 + self.middle * (3 + 2 * self.inner))

    def as_bytes(self) -> list[int]:
        # Both machines count down before testing for zero, so 256 is stored as 0.
        return [count % 256 for count in (self.outer, self.middle, self.inner)]


LARGEST_LOOP = LoopCounts(256, 256, 256)


def loop_counts(instructions: int) -> LoopCounts:
    """The loop counts whose instruction count is nearest `instructions`, inner loops first."""
    if not 1 <= instructions <= LARGEST_LOOP.instructions:
        raise ValueError(f"the loop runs 1 to {LARGEST_LOOP.instructions:,} instructions")

    def clamp(count: float) -> int:
        return min(256, max(1, round(count)))

    full_middle = LoopCounts(1, 256, 256).instructions
    if instructions >= full_middle:
        return LoopCounts(clamp(instructions / full_middle), 256, 256)
    full_inner = LoopCounts(1, 1, 256).instructions
    if instructions >= full_inner:
        return LoopCounts(1, clamp((instructions - 3) / (full_inner - 3)), 256)
    return LoopCounts(1, 1, clamp((instructions - 6) / 2))


@attrs.frozen
class Measurement:
    """One emulator's best run of the loop."""

    emulator: str
    counts: LoopCounts
    instructions: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.instructions / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "instructions": self.instructions,
            "loop": attrs.asdict(self.counts),
            "seconds": self.seconds,
            "instructions_per_second": self.per_second,
        }


@attrs.frozen
class Report:
    """Both measurements of one benchmark run."""

    vdsl: Measurement
    py65: Measurement
    repeat: int
    unicorn: Measurement | None = None  # when unicorn is installed

    @property
    def ratio(self) -> float:
        """vdsl's rate over py65's: above 1, vdsl runs more instructions per second."""
        return self.vdsl.per_second / self.py65.per_second

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "counting loop, vdsl bare machine vs py65",
            "repeat": self.repeat,
            "vdsl": self.vdsl.to_json(),
            "py65": self.py65.to_json(),
            "ratio_vdsl_over_py65": self.ratio,
            "unicorn": self.unicorn.to_json() if self.unicorn is not None else None,
            "ratio_vdsl_over_unicorn": self.vdsl.per_second / self.unicorn.per_second
            if self.unicorn is not None else None,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
        }

    def to_text(self) -> str:
        twins = "6502 and x86 twins" if self.unicorn is not None else "6502 twin"
        lines = [f"The counting loop of {LOOP_SPEC.name} and its {twins}, best of {self.repeat} "
                 f"run{'s' if self.repeat > 1 else ''} each (Python {platform.python_version()}):"]
        for m in (self.vdsl, self.py65, *([self.unicorn] if self.unicorn is not None else [])):
            counts = m.counts
            lines.append(f"  {m.emulator:<7} {m.instructions:>11,} instructions "
                         f"({counts.outer} x {counts.middle} x {counts.inner} loop) in {m.seconds:7.3f} s: "
                         f"{m.per_second:>11,.0f} instructions/s")
        if self.py65.counts != self.vdsl.counts:
            lines.append("  py65 ran a loop of another size (--py65-instructions); "
                         "instructions/s is a rate, so the figures still compare")
        lines.append(f"  ratio vdsl / py65: {self.ratio:.2f} (above 1: vdsl is faster)")
        if self.unicorn is not None:
            lines.append(f"  ratio vdsl / unicorn: {self.vdsl.per_second / self.unicorn.per_second:.4f} "
                         "(unicorn runs native code: the reference, not a rival)")
        else:
            lines.append("  unicorn is not installed: no native reference (pip install unicorn)")
        return "\n".join(lines)


def run_vdsl(spec: Spec, counts: LoopCounts) -> Measurement:
    """Time vdsl's emulator on the loop, from a freshly loaded program to its HALT."""
    program = spec.program(LOOP_PROGRAM)
    assert program is not None
    isa = spec.isa(program.isa)
    assert isa is not None
    state = load_program(isa, program)
    state.memory[COUNTS_ADDRESS:COUNTS_ADDRESS + 3] = counts.as_bytes()
    # A fresh emulator, so the time includes compiling each instruction on first use.
    emulator = Emulator(isa, state)
    expected = counts.instructions + 1  # the loop, then HALT
    start = time.perf_counter()
    result = emulator.run(expected)
    seconds = time.perf_counter() - start
    registers = result.state.registers_json()
    if (result.status, result.steps) != ("halted", expected) or registers["X"] or registers["Y"] \
            or result.state.memory[COUNTS_ADDRESS]:
        raise BenchmarkError(f"vdsl ran the loop wrongly: {result.message} (expected {expected:,} steps "
                             f"ending at HALT), X = {registers['X']}, Y = {registers['Y']}")
    return Measurement("vdsl", counts, result.steps, seconds)


def run_py65(counts: LoopCounts) -> Measurement:
    """Time py65's 6502 on the same loop, stepping exactly as many instructions as it runs."""
    from py65.devices.mpu6502 import MPU

    mpu = MPU(pc=ORIGIN_6502)
    memory = mpu.memory
    memory[ORIGIN_6502:ORIGIN_6502 + len(LOOP_6502)] = LOOP_6502
    memory[COUNTS_ADDRESS:COUNTS_ADDRESS + 3] = counts.as_bytes()
    step = mpu.step  # bound once: the harness should cost py65 as little as it can
    instructions = counts.instructions
    start = time.perf_counter()
    for _ in range(instructions):
        step()
    seconds = time.perf_counter() - start
    if (mpu.pc, mpu.x, mpu.y, memory[COUNTS_ADDRESS]) != (END_6502, 0, 0, 0):
        raise BenchmarkError(f"py65 ran the loop wrongly: it stopped at ${mpu.pc:04X} with "
                             f"X = {mpu.x}, Y = {mpu.y}, expected ${END_6502:04X} with both 0")
    return Measurement("py65", counts, instructions, seconds)


def run_unicorn(counts: LoopCounts) -> Measurement:
    """Time unicorn's x86 on the loop's twin, from its first instruction to the stop address."""
    from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
    from unicorn.x86_const import UC_X86_REG_BL, UC_X86_REG_CL, UC_X86_REG_EIP

    emulator = Uc(UC_ARCH_X86, UC_MODE_32)
    emulator.mem_map(0, 0x2000)
    emulator.mem_write(ORIGIN_X86, bytes(LOOP_X86))
    emulator.mem_write(COUNTS_ADDRESS, bytes(counts.as_bytes()))
    start = time.perf_counter()
    emulator.emu_start(ORIGIN_X86, END_X86)
    seconds = time.perf_counter() - start
    state = (emulator.reg_read(UC_X86_REG_EIP), emulator.reg_read(UC_X86_REG_CL),
             emulator.reg_read(UC_X86_REG_BL), emulator.mem_read(COUNTS_ADDRESS, 1)[0])
    if state != (END_X86, 0, 0, 0):
        raise BenchmarkError(f"unicorn ran the loop wrongly: it stopped at {state[0]:#x} with "
                             f"CL = {state[1]}, BL = {state[2]}, expected {END_X86:#x} with both 0")
    return Measurement("unicorn", counts, counts.instructions, seconds)


def benchmark(instructions: int = DEFAULT_INSTRUCTIONS, py65_instructions: int | None = None,
              repeat: int = DEFAULT_REPEAT) -> Report:
    """Measure both emulators on loops of about `instructions` (py65: `py65_instructions`)."""
    spec = compile_files(LOOP_SPEC)
    vdsl_counts = loop_counts(instructions)
    py65_counts = loop_counts(py65_instructions or instructions)
    vdsl_runs, py65_runs = [], []
    # Alternate the two so that a slow spell of a shared machine hits both alike.
    for _ in range(repeat):
        vdsl_runs.append(run_vdsl(spec, vdsl_counts))
        py65_runs.append(run_py65(py65_counts))
    unicorn_runs = [run_unicorn(LARGEST_LOOP) for _ in range(repeat)] \
        if importlib.util.find_spec("unicorn") is not None else []
    # The fastest run is the one least disturbed by the rest of the machine.
    return Report(min(vdsl_runs, key=lambda m: m.seconds), min(py65_runs, key=lambda m: m.seconds), repeat,
                  min(unicorn_runs, key=lambda m: m.seconds) if unicorn_runs else None)


def _instruction_count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= LARGEST_LOOP.instructions:
        raise argparse.ArgumentTypeError(f"{value:,} is out of range: the loop runs 1 to "
                                         f"{LARGEST_LOOP.instructions:,} instructions")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_emulator.py",
        description="Instructions per second of vdsl's bare-machine emulator and of py65, "
                    "on the same counting loop, and their ratio.")
    parser.add_argument("--instructions", type=_instruction_count, default=DEFAULT_INSTRUCTIONS,
                        metavar="N", help=f"about how many instructions vdsl runs "
                                          f"(default {DEFAULT_INSTRUCTIONS:,})")
    parser.add_argument("--py65-instructions", type=_instruction_count, metavar="N",
                        help="about how many instructions py65 runs (default: as many as vdsl)")
    parser.add_argument("--repeat", type=_positive, default=DEFAULT_REPEAT, metavar="R",
                        help=f"runs of each emulator; the fastest counts (default {DEFAULT_REPEAT})")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    # Before any timing: without py65 there is nothing to compare with.
    if importlib.util.find_spec("py65") is None:
        print("bench_emulator.py: py65 is needed for the comparison; install it with "
              "`pip install py65` (or vdsl's test extra)", file=sys.stderr)
        return 2
    try:
        report = benchmark(args.instructions, args.py65_instructions, args.repeat)
    except BenchmarkError as error:
        print(f"bench_emulator.py: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
