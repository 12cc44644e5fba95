"""The reference interpreter (`vdsl.semantics.reference`) agrees with both of the evaluator's domains.

The compiled emulator and z3 share one evaluator, so a wrong rule in it passes every comparison
between them. The reference interpreter is a separate tree walk written from the language
reference; here it runs the same instructions on the same random states as the compiled code
and the z3 domain: the bundled specs', an operator zoo, and random well-typed bodies (with
conditional expressions, memory through `mem` and `phys`, traps and halts).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_check_random_isas import BODIES
from test_check_random_isas import MACHINE as RANDOM_MACHINE
from test_semantics_domains import ISAS, Case, cases, symbolic_run

from vdsl import compile_text
from vdsl.analysis.states import run_concrete
from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask
from vdsl.semantics.reference import execute


def agree(isa: ir.Isa, inst: ir.Instruction, state: MachineState, operands: tuple[int, ...]) -> None:
    """The three executions of one instruction give one outcome."""
    machine = isa.machine
    reference = execute(machine, inst, operands, state)
    compiled = run_concrete(machine, inst, operands, state, "compiled")
    trapped, cause, symbolic = symbolic_run(isa, inst, state, operands)
    where = f"{inst.name} {operands} from {state.slots}"
    assert reference.cause == compiled.cause, where
    assert (reference.cause is not None) == trapped, where
    if trapped:
        assert cause is not None and machine.causes[cause] == reference.cause, where
        return
    assert reference.halted == compiled.halted, where
    assert reference.after.slots == compiled.after.slots == symbolic.slots, where
    assert reference.after.memory == compiled.after.memory == symbolic.memory, where


@settings(max_examples=200, deadline=None)
@given(cases())
def test_the_reference_agrees_on_the_bundled_and_operator_instructions(case: Case) -> None:
    isa_index, inst_index, slots, words, operands = case
    isa = ISAS[isa_index]
    state = MachineState.empty(isa.machine)
    state.slots[:] = slots
    for address, word in words:
        state.memory[address] = word
    agree(isa, isa.instructions[inst_index], state, operands)


@settings(max_examples=60, deadline=None)
@given(BODIES, st.data())
def test_the_reference_agrees_on_random_instructions(body: str, data: st.DataObject) -> None:
    spec = compile_text(RANDOM_MACHINE + "isa r for r {\n    inst I a { " + body + " }\n}\n", "random.vspec")
    isa = spec.isas[0]
    machine = isa.machine
    (inst,) = isa.instructions
    state = MachineState.empty(machine)
    state.slots[:] = [data.draw(st.integers(0, mask(r.width))) for r in machine.registers] + [
        data.draw(st.integers(0, len(machine.modes) - 1))]
    state.memory[:] = data.draw(st.lists(st.integers(0, mask(machine.memory.width)),
                                         min_size=machine.memory.size, max_size=machine.memory.size))
    agree(isa, inst, state, (data.draw(st.integers(0, mask(machine.word))),))


@settings(max_examples=150, deadline=None)
@given(cases().filter(lambda case: case[0] == 0))
def test_the_reference_agrees_on_every_operator(case: Case) -> None:
    """The operator zoo alone, so that each operator's edge cases (x / 0, shifts past the width,
    signed comparisons) are drawn often."""
    test_the_reference_agrees_on_the_bundled_and_operator_instructions.hypothesis.inner_test(case)
