"""The bare machine: load a program, run it on compiled instruction semantics."""

from __future__ import annotations

from collections.abc import Callable

from vdsl.emulator.machine import Emulator, RunResult, StepRecord
from vdsl.emulator.state import MachineState, load_program
from vdsl.errors import RunError, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import DEFAULT_MAX_STEPS

__all__ = ["DEFAULT_MAX_STEPS", "Emulator", "MachineState", "RunResult", "StepRecord",
           "load_program", "run_program"]


def run_program(spec: ir.Spec, name: str, max_steps: int = DEFAULT_MAX_STEPS,
                trace: Callable[[StepRecord], None] | None = None) -> RunResult:
    """Run program `name` of `spec` on the bare machine."""
    program = spec.program(name)
    if program is None:
        names = [p.name for p in spec.programs]
        hint = did_you_mean(name, names) or (
            "the programs are " + ", ".join(names) if names else "the spec defines no program")
        raise RunError(f"there is no program '{name}'; {hint}")
    isa = spec.isa(program.isa)
    assert isa is not None
    return Emulator(isa, load_program(isa, program)).run(max_steps, trace)
