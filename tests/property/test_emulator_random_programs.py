"""Compiled regions run exactly as the reference interpretation (one instruction at a time).

Regions keep registers and flag fields in locals, link blocks by constant jumps, run a block
that jumps to itself as a loop, and fold relocation and privilege checks for the context they
are specialised on; every one of those is a chance to get a state, a step count or a trap
wrong.  Two kinds of random input, each run with regions and with `single_step`, must end in
the same state, status, steps and traps:

- random starting states and budgets for the bundled programs (registers, the mode and a few
  memory words overwritten, so that code runs in contexts nobody wrote a test for);
- random small programs of a relocated 6502-like machine's instructions (`blocks.vspec`) and of
  PG74's, jumps landing anywhere in them, started in either mode.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from conftest import ROOT, SPECS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vdsl import Emulator, MachineState, compile_files, load_program
from vdsl.ir import nodes as ir

SPEC_FILES = [SPECS / "pg74.vspec", SPECS / "s370.vspec", SPECS / "x86-32.vspec", SPECS / "riscv.vspec",
              ROOT / "benchmarks" / "loop.vspec", ROOT / "benchmarks" / "blocks.vspec",
              ROOT / "benchmarks" / "traps.vspec", ROOT / "benchmarks" / "monitor.vspec"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def spec(path: Path) -> ir.Spec:
    return compile_files(path)


def programs() -> list[tuple[Path, str]]:
    return [(path, program.name) for path in SPEC_FILES for program in spec(path).programs]


def outcome(isa: ir.Isa, state: MachineState, budget: int, single_step: bool) -> tuple[object, ...]:
    emulator = Emulator(isa, state.copy(), single_step=single_step)
    result = emulator.run(budget)
    # run twice more on the same emulator: a second visit compiles, a third runs compiled code
    second = emulator.run(budget)
    third = emulator.run(budget)
    final = third.state
    if not single_step:
        event("regions ran" if emulator.regions else "no region")
    return (result.status, result.steps, second.status, second.steps, third.status, third.steps,
            emulator.counters.traps, final.slots, final.memory)


def same_runs(isa: ir.Isa, state: MachineState, budget: int) -> None:
    assert outcome(isa, state, budget, False) == outcome(isa, state, budget, True)


@SETTINGS
@given(st.sampled_from(programs()), st.integers(1, 3000), st.data())
def test_bundled_programs_from_random_states(chosen: tuple[Path, str], budget: int, data: st.DataObject) -> None:
    path, name = chosen
    program = spec(path).program(name)
    assert program is not None
    isa = spec(path).isa(program.isa)
    assert isa is not None
    machine = isa.machine
    state = load_program(isa, program)
    for index, reg in enumerate(machine.registers):
        if reg.name != machine.relocation and data.draw(st.booleans(), label=f"change {reg.name}"):
            state.slots[index] = data.draw(st.integers(0, (1 << reg.width) - 1), label=reg.name)
    state.slots[state.mode_index] = data.draw(st.integers(0, len(machine.modes) - 1), label="mode")
    for _ in range(data.draw(st.integers(0, 3), label="pokes")):
        address = data.draw(st.integers(0, machine.memory.size - 1), label="address")
        state.memory[address] = data.draw(st.integers(0, (1 << machine.memory.width) - 1), label="word")
    same_runs(isa, state, budget)


def random_program(isa: ir.Isa, data: st.DataObject, start: int, span: int) -> list[int]:
    """Words of a few random instructions whose operands (addresses, jump targets) fall in `span`,
    then a jump back to the start, so that the program loops (and its regions are compiled)."""
    words: list[int] = []
    for _ in range(data.draw(st.integers(1, 12), label="length")):
        inst = data.draw(st.sampled_from([i for i in isa.instructions if i.encoding is None]), label="inst")
        operands = [data.draw(st.integers(0, span - 1), label=o.name) for o in inst.operands]
        words.extend(inst.words(operands))
    jump = isa.instruction("JMP")
    assert jump is not None
    return words + list(jump.words([start]))


@pytest.mark.parametrize(("path", "isa_name", "code"), [
    (ROOT / "benchmarks" / "blocks.vspec", "blocks6502", 16),   # relocated through R = (128, 128)
    (SPECS / "pg74.vspec", "pg74", 16),                          # PG74, with its trap mechanism
])
@SETTINGS
@given(data=st.data(), budget=st.integers(1, 2000))
def test_random_programs(path: Path, isa_name: str, code: int, data: st.DataObject, budget: int) -> None:
    isa = spec(path).isa(isa_name)
    assert isa is not None
    machine = isa.machine
    state = MachineState.empty(machine)
    if machine.relocation is not None:
        base = 128 if isa_name == "blocks6502" else data.draw(st.sampled_from([0, 64, 256]), label="base")
        bound = 128
        state.set(ir.StateRef(machine.relocation, "base"), base)
        state.set(ir.StateRef(machine.relocation, "bound"), bound)
    else:  # pragma: no cover - both machines relocate
        base = 0
    words = random_program(isa, data, code, code + 32)
    state.memory[base + code:base + code + len(words)] = words
    if isa_name == "pg74":  # a supervisor PSW to trap into: supervisor mode at the program, R = (base, 128)
        state.memory[4:8] = [0, code, base, 128]
    state.set(ir.StateRef(machine.pc), code)
    state.slots[state.mode_index] = data.draw(st.integers(0, len(machine.modes) - 1), label="mode")
    for index, reg in enumerate(machine.registers):
        if reg.name not in (machine.relocation, machine.pc):
            state.slots[index] = data.draw(st.integers(0, (1 << reg.width) - 1), label=reg.name)
    same_runs(isa, state, budget)
