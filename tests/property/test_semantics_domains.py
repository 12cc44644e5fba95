"""The symbolic (z3) domain and the compiled concrete domain agree on every instruction.

Both run the same evaluator; this checks the two domains' meaning of each operator by
evaluating instructions on random concrete states in both.
"""

from __future__ import annotations

import z3
from conftest import SPECS, spec_from
from hypothesis import given, settings
from hypothesis import strategies as st

from vdsl import compile_files
from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask
from vdsl.semantics.concrete import Stop, compile_instruction
from vdsl.semantics.evaluator import Evaluator
from vdsl.semantics.symbolic import Z3Domain

OPERATORS = spec_from("""
    machine m {
        word 12
        memory E[64] word 12
        modes { high > middle > low }
        reg A
        reg B
        reg C : 5
        reg ZERO zero
        reg P pc
        control reg F : 16 { IF [9], IOPL [13:12] }
        control reg R { base: 12, bound: 12 }
        relocate through R
        trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
    }
    isa ops for m {
        inst ARITH { A = (A + B) * (A - B) / (B | 1) % (A ^ 7) }
        inst DIVZ { A = A / B  B = A % B }
        inst SHIFTS { A = (A << C[3:0]) | (B >> C)  B = sra(B, zext(C, 12)) }
        inst SIGNED { if slt(A, B) { C = 1 } else if sle(A, B) { C = 2 } else { C = 3 } }
        inst BITS { A = concat(B[3:0], C, A[2:0])  B = sext(C, 12) }
        inst FLAGS { if F.IOPL < M { trap privileged }  F.IF = ~F.IF  A = zext(M, 12) }
        inst MEM a { A = mem[a]  mem[B] = (A, B)  phys[C] = B }
        inst JUMP a { if A == 0 { P = a } else { P = next } }
        inst MODE { M = A[1:0] }
        inst LOADS a { (R, M) = mem[a] }
        inst REGOP d: reg, s: reg { d = s + d  halt }
        inst CHOOSE a { A = if A < B { mem[a] } else if B == 0 { phys[C] } else { A - B } }
        inst ZEROS d: reg { d = ZERO + d + 1  ZERO = A }
    }
""")

ISAS = [OPERATORS.isas[0], *list(compile_files(*sorted(SPECS.glob("*.vspec"))).isas)]


def symbolic_run(isa: ir.Isa, inst: ir.Instruction, state: MachineState,
                 operands: tuple[int, ...]) -> tuple[bool, int | None, MachineState]:
    """Run one instruction in the z3 domain on a concrete state; read the outcome back."""
    machine = isa.machine
    aw = machine.address_width
    memory = z3.K(z3.BitVecSort(aw), z3.BitVecVal(0, machine.memory.width))
    for address, word in enumerate(state.memory):
        if word:
            memory = z3.Store(memory, z3.BitVecVal(address, aw), z3.BitVecVal(word, machine.memory.width))
    registers = {r.name: z3.BitVecVal(state.slots[i], r.width) for i, r in enumerate(machine.registers)}
    pc_reg = machine.register(machine.pc)
    assert pc_reg is not None
    domain = Z3Domain(
        machine, registers, z3.BitVecVal(state.mode, machine.mode_width),
        registers[machine.pc],
        [z3.BitVecVal(v, o.width or 1) for v, o in zip(operands, inst.operands, strict=True)],
        memory,
    )
    outcome = Evaluator(machine, domain).run(inst)
    value = lambda term: z3.simplify(term).as_long()  # noqa: E731
    if value(outcome.trapped):
        return True, value(outcome.cause), state
    result = state.copy()
    for name in outcome.written:
        result.slots[machine.register_index(name)] = value(outcome.registers[name])
    result.slots[machine.register_index(machine.pc)] = value(outcome.next_pc)
    if outcome.mode is not None:
        result.slots[result.mode_index] = value(outcome.mode)
    for address in range(machine.memory.size):
        result.memory[address] = value(z3.Select(outcome.memory, z3.BitVecVal(address, aw)))
    return False, None, result


Case = tuple[int, int, tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]


def values(width: int) -> st.SearchStrategy[int]:
    """A `width`-bit value, the edges (0, 1, the sign bit, all ones) half of the time: where
    division by zero, shifts past the width and signed comparisons differ."""
    edges = sorted({0, 1, 1 << (width - 1), mask(width)})
    return st.one_of(st.sampled_from(edges), st.integers(0, mask(width)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """(isa index, instruction index, register slots + mode, memory words, operands): plain
    data, so that a failing example prints small."""
    isa_index = draw(st.integers(0, len(ISAS) - 1))
    isa = ISAS[isa_index]
    inst_index = draw(st.integers(0, len(isa.instructions) - 1))
    inst = isa.instructions[inst_index]
    machine = isa.machine
    slots = tuple(draw(values(r.width)) for r in machine.registers)
    slots += (draw(st.integers(0, len(machine.modes) - 1)),)
    small = min(machine.memory.size, 64)
    words = tuple(draw(st.lists(st.tuples(st.integers(0, small - 1),
                                          st.integers(0, mask(machine.memory.width))), max_size=8)))
    general = [machine.register_index(r.name) for r in machine.general_registers]
    operands = tuple(
        draw(st.sampled_from(general)) if o.kind == "reg" else draw(values(o.width or 1))
        for o in inst.operands
    )
    return isa_index, inst_index, slots, words, operands


@settings(max_examples=150, deadline=None)
@given(cases())
def test_symbolic_and_compiled_domains_agree(case: Case) -> None:
    isa_index, inst_index, slots, words, operands = case
    isa = ISAS[isa_index]
    inst = isa.instructions[inst_index]
    state = MachineState.empty(isa.machine)
    state.slots[:] = slots
    for address, word in words:
        state.memory[address] = word
    concrete = state.copy()
    stop, concrete_cause = compile_instruction(isa.machine, inst, operands)(concrete.slots, concrete.memory, {}, None)
    trapped, cause, symbolic = symbolic_run(isa, inst, state, operands)
    assert (stop == Stop.TRAPPED) == trapped, inst.name
    if trapped:
        assert concrete_cause == cause
        assert concrete.slots == state.slots and concrete.memory == state.memory
    else:
        assert concrete.slots == symbolic.slots, inst.name
        assert concrete.memory == symbolic.memory, inst.name
