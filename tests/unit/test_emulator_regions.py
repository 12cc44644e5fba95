"""Compiled regions against the reference interpretation: every program of every bundled spec
and benchmark, run at several step budgets with regions (registers in locals, blocks linked by
constant jumps, relocation folded per context) and one instruction at a time, ends in the same
state, with the same status, steps and traps."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from vdsl import Emulator, compile_files, load_program
from vdsl.ir import nodes as ir

SPEC_FILES = sorted(SPECS.glob("*.vspec")) + sorted((ROOT / "benchmarks").glob("*.vspec"))
BUDGETS = (1, 7, 500, 20_000)


def programs() -> list[tuple[Path, str]]:
    return [(path, program.name) for path in SPEC_FILES for program in compile_files(path).programs]


def run(isa: ir.Isa, program: ir.Program, budget: int, single_step: bool) -> tuple[object, ...]:
    emulator = Emulator(isa, load_program(isa, program), single_step=single_step)
    result = emulator.run(budget)
    state = result.state
    return (result.status, result.steps, result.cause, emulator.counters.traps, state.slots, state.memory)


@pytest.mark.parametrize(("path", "name"), programs(), ids=lambda p: p.stem if isinstance(p, Path) else p)
def test_regions_run_as_single_steps(path: Path, name: str) -> None:
    spec = compile_files(path)
    program = spec.program(name)
    assert program is not None
    isa = spec.isa(program.isa)
    assert isa is not None
    for budget in BUDGETS:
        assert run(isa, program, budget, False) == run(isa, program, budget, True), f"budget {budget}"


def test_a_region_runs_a_self_loop_in_one_call() -> None:
    """The counting loop's region holds its three loops; the inner one loops in place."""
    spec = compile_files(ROOT / "benchmarks" / "loop.vspec")
    program = spec.program("loop")
    assert program is not None
    isa = spec.isa(program.isa)
    assert isa is not None
    emulator = Emulator(isa, load_program(isa, program))
    result = emulator.run(3_032_390)
    assert result.status == "halted"
    (region,) = emulator.regions.values()
    assert region.blocks == 6
    inner = region.run.source.split("# pc 20", 1)[1].split("# pc 23", 1)[0]  # type: ignore[attr-defined]
    assert "for i in range(m):" in inner
    assert "r[" not in inner.split("else:")[0]  # no register goes to memory while the loop runs
