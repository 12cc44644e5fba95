"""The evaluator on the concrete domain: one instruction, run on a chosen machine state.

Each test compiles a small spec, places one instruction in memory, sets the registers
and memory it reads, and runs a single step of the bare-machine emulator (which runs the
code `compile_instruction` generates from the evaluator).  Expected values are written
out by hand: they are what the language means, not what the code happens to compute.
"""

from __future__ import annotations

import functools

import pytest
import z3
from conftest import spec_from

from vdsl import Emulator, MachineState, RunResult
from vdsl.analysis.states import fresh_state, run_symbolic
from vdsl.ir import nodes as ir
from vdsl.semantics.concrete import Stop, compile_instruction

# ---------------------------------------------------------------- helpers


def execute(spec: ir.Spec, name: str, *operands: int, pc: int = 0,
            registers: dict[str, int] | None = None, memory: dict[int, int] | None = None,
            mode: str | None = None) -> RunResult:
    """Run one step: instruction `name` at `pc` (relocated like any fetch), on a state
    whose registers ("A", "R.base", ...) and memory words are the given ones."""
    isa = spec.isas[0]
    machine = isa.machine
    state = MachineState.empty(machine)
    for ref, value in (registers or {}).items():
        state.set(_ref(ref), value)
    if mode is not None:
        state.slots[state.mode_index] = machine.modes.index(mode)
    base = state.get(ir.StateRef(machine.relocation, "base")) if machine.relocation else 0
    instruction = isa.instruction(name)
    assert instruction is not None, name
    words = [instruction.opcode, *operands]
    state.memory[pc + base:pc + base + len(words)] = words
    for address, value in (memory or {}).items():
        state.memory[address] = value
    state.set(ir.StateRef(machine.pc), pc)
    return Emulator(isa, state).run(1)


def _ref(text: str) -> ir.StateRef:
    reg, _, field = text.partition(".")
    return ir.StateRef(reg, field or None)


def get(result: RunResult, ref: str) -> int:
    return result.state.get(_ref(ref))


def mode_of(result: RunResult) -> str:
    return result.state.machine.modes[result.state.mode]


def assert_continued(result: RunResult) -> None:
    """The step neither trapped nor halted."""
    assert (result.status, result.cause) == ("step_limit", None), result.message


# ---------------------------------------------------------------- operators

# name: (result register, expression over the placeholders x and y)
BINARY_FORMS = {
    "ADD": ("A", "{x} + {y}"),
    "SUB": ("A", "{x} - {y}"),
    "MUL": ("A", "{x} * {y}"),
    "DIV": ("A", "{x} / {y}"),
    "REM": ("A", "{x} % {y}"),
    "AND": ("A", "{x} & {y}"),
    "OR": ("A", "{x} | {y}"),
    "XOR": ("A", "{x} ^ {y}"),
    "SHL": ("A", "{x} << {y}"),
    "SHR": ("A", "{x} >> {y}"),
    "SRA": ("A", "sra({x}, {y})"),
    "EQ": ("F", "{x} == {y}"),
    "NE": ("F", "{x} != {y}"),
    "LT": ("F", "{x} < {y}"),
    "LE": ("F", "{x} <= {y}"),
    "GT": ("F", "{x} > {y}"),
    "GE": ("F", "{x} >= {y}"),
    "SLT": ("F", "slt({x}, {y})"),
    "SLE": ("F", "sle({x}, {y})"),
}
UNARY_FORMS = {"NEG": "-{x}", "INV": "~{x}"}
WIDTHS = (1, 7, 8, 16, 33, 64, 70)


@functools.cache
def alu(width: int) -> ir.Spec:
    """A machine of `width`-bit registers; every operator on registers (`_RR`), on two
    immediates (`_II`, folded at compile time) and on a register and an immediate (`_RI`)."""
    insts = []
    for name, (target, form) in BINARY_FORMS.items():
        insts.append(f"inst {name}_RR {{ {target} = {form.format(x='B', y='C')} }}")
        insts.append(f"inst {name}_II b, c {{ {target} = {form.format(x='b', y='c')} }}")
        insts.append(f"inst {name}_RI c {{ {target} = {form.format(x='B', y='c')} }}")
    for name, form in UNARY_FORMS.items():
        insts.append(f"inst {name}_R {{ A = {form.format(x='B')} }}")
        insts.append(f"inst {name}_I b {{ A = {form.format(x='b')} }}")
    insts += [
        "inst LAND { F = G && H }",
        "inst LOR { F = G || H }",
        "inst LNOT { F = !G }",
        "inst NOTEQ { F = !(B == C) }",
    ]
    body = "\n    ".join(insts)
    return spec_from(f"""
        machine alu {{
            word {width}
            memory E[32] word 80
            modes {{ supervisor > user }}
            reg A
            reg B
            reg C
            reg F: 1
            reg G: 1
            reg H: 1
            reg P: 16 pc
        }}
        isa alu for alu {{
            {body}
        }}
        """)


def run_binary(name: str, width: int, left: int, right: int) -> list[int]:
    """The operator's result computed the three ways: registers, immediates, mixed."""
    spec = alu(width)
    target = BINARY_FORMS[name][0]
    results = [
        execute(spec, f"{name}_RR", registers={"B": left, "C": right}),
        execute(spec, f"{name}_II", left, right),
        execute(spec, f"{name}_RI", right, registers={"B": left}),
    ]
    for result, size in zip(results, (1, 3, 2), strict=True):
        assert_continued(result)
        assert get(result, "P") == size
    return [get(result, target) for result in results]


BINARY_CASES = [
    # name, width, left, right, expected
    ("ADD", 1, 1, 1, 0),
    ("ADD", 8, 200, 100, 44),
    ("ADD", 16, 0xFFFF, 1, 0),
    ("ADD", 64, 2**64 - 1, 2, 1),
    ("ADD", 70, 2**69, 2**69, 0),
    ("SUB", 1, 0, 1, 1),
    ("SUB", 8, 3, 5, 254),
    ("SUB", 33, 0, 1, 2**33 - 1),
    ("SUB", 70, 5, 3, 2),
    ("MUL", 7, 12, 11, 4),          # 132 mod 128
    ("MUL", 8, 16, 17, 16),         # 272 mod 256
    ("MUL", 64, 2**32, 2**32, 0),
    ("MUL", 70, 2**69 + 1, 3, 2**69 + 3),  # 3 * 2**69 + 3 mod 2**70
    ("DIV", 8, 200, 7, 28),
    ("DIV", 8, 7, 200, 0),
    ("DIV", 8, 5, 0, 255),          # by zero: all ones
    ("DIV", 1, 0, 0, 1),
    ("DIV", 64, 0, 0, 2**64 - 1),
    ("DIV", 70, 2**70 - 1, 2**35, 2**35 - 1),
    ("REM", 8, 200, 7, 4),
    ("REM", 8, 5, 0, 5),            # by zero: the dividend
    ("REM", 16, 0, 0, 0),
    ("REM", 70, 2**70 - 1, 0, 2**70 - 1),
    ("AND", 8, 0b1100, 0b1010, 0b1000),
    ("AND", 70, 2**70 - 1, 2**69, 2**69),
    ("OR", 8, 0b1100, 0b1010, 0b1110),
    ("OR", 1, 0, 1, 1),
    ("XOR", 8, 0b1100, 0b1010, 0b0110),
    ("XOR", 64, 2**64 - 1, 1, 2**64 - 2),
    ("SHL", 8, 0x81, 1, 0x02),
    ("SHL", 8, 1, 7, 0x80),
    ("SHL", 8, 1, 8, 0),            # shift by the width
    ("SHL", 8, 0xFF, 200, 0),       # and far beyond it
    ("SHL", 1, 1, 1, 0),
    ("SHL", 70, 1, 69, 2**69),
    ("SHL", 70, 1, 70, 0),
    ("SHR", 8, 0x80, 7, 1),
    ("SHR", 8, 0xFF, 8, 0),
    ("SHR", 8, 0xFF, 255, 0),
    ("SHR", 16, 0xF000, 4, 0x0F00),
    ("SHR", 70, 2**69, 69, 1),
    ("SHR", 70, 2**70 - 1, 2**70 - 1, 0),
    ("SRA", 8, 0x80, 1, 0xC0),
    ("SRA", 8, 0x40, 1, 0x20),
    ("SRA", 8, 0x80, 7, 0xFF),
    ("SRA", 8, 0x80, 8, 0xFF),       # by the width or more: copies of the sign bit
    ("SRA", 8, 0x80, 200, 0xFF),
    ("SRA", 8, 0x7F, 200, 0),
    ("SRA", 1, 1, 1, 1),
    ("SRA", 70, 2**69, 68, 2**70 - 2),
    ("EQ", 8, 5, 5, 1),
    ("EQ", 8, 5, 6, 0),
    ("NE", 70, 2**69, 2**69, 0),
    ("NE", 1, 0, 1, 1),
    ("LT", 8, 0x7F, 0x80, 1),       # unsigned
    ("LT", 8, 0x80, 0x7F, 0),
    ("LT", 8, 4, 4, 0),
    ("LE", 8, 4, 4, 1),
    ("LE", 70, 2**69 + 1, 2**69, 0),
    ("GT", 8, 0x80, 0x7F, 1),
    ("GT", 8, 4, 4, 0),
    ("GE", 8, 4, 4, 1),
    ("GE", 16, 3, 0xFFFF, 0),
    ("SLT", 8, 0x80, 0x7F, 1),      # -128 < 127
    ("SLT", 8, 0x7F, 0x80, 0),
    ("SLT", 8, 0xFF, 0x00, 1),      # -1 < 0
    ("SLT", 8, 5, 5, 0),
    ("SLT", 1, 1, 0, 1),            # one bit: 1 is -1
    ("SLT", 70, 2**70 - 1, 1, 1),
    ("SLE", 8, 5, 5, 1),
    ("SLE", 8, 0x00, 0xFF, 0),      # 0 <= -1 is false
    ("SLE", 16, 0x8000, 0x8000, 1),
]




@pytest.mark.parametrize(("name", "width", "left", "right", "expected"), BINARY_CASES,
                         ids=[f"{c[0]}-w{c[1]}-{c[2]:#x}-{c[3]:#x}" for c in BINARY_CASES])
def test_binary_operator(name: str, width: int, left: int, right: int, expected: int) -> None:
    # registers (runtime values), immediates (folded while compiling) and both mixed agree
    assert run_binary(name, width, left, right) == [expected] * 3


UNARY_CASES = [
    ("NEG", 1, 1, 1),
    ("NEG", 8, 1, 255),
    ("NEG", 8, 0, 0),
    ("NEG", 8, 0x80, 0x80),
    ("NEG", 64, 1, 2**64 - 1),
    ("NEG", 70, 2**69, 2**69),
    ("INV", 1, 0, 1),
    ("INV", 8, 0x0F, 0xF0),
    ("INV", 33, 0, 2**33 - 1),
    ("INV", 70, 1, 2**70 - 2),
]


@pytest.mark.parametrize(("name", "width", "value", "expected"), UNARY_CASES,
                         ids=[f"{c[0]}-w{c[1]}-{c[2]:#x}" for c in UNARY_CASES])
def test_unary_operator(name: str, width: int, value: int, expected: int) -> None:
    spec = alu(width)
    by_register = execute(spec, f"{name}_R", registers={"B": value})
    by_immediate = execute(spec, f"{name}_I", value)
    assert [get(by_register, "A"), get(by_immediate, "A")] == [expected, expected]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_operator_keeps_results_inside_the_width(width: int) -> None:
    top = 2**width - 1
    for name, (target, _) in BINARY_FORMS.items():
        for left, right in ((top, top), (top, 1), (1, top), (top, 0)):
            for value in run_binary(name, width, left, right):
                assert 0 <= value < 2 ** (1 if target == "F" else width), (name, left, right)


@pytest.mark.parametrize(("name", "g", "h", "expected"), [
    ("LAND", 1, 1, 1), ("LAND", 1, 0, 0), ("LAND", 0, 1, 0), ("LAND", 0, 0, 0),
    ("LOR", 1, 1, 1), ("LOR", 1, 0, 1), ("LOR", 0, 1, 1), ("LOR", 0, 0, 0),
    ("LNOT", 1, 0, 0), ("LNOT", 0, 0, 1),
])
def test_logic_operators(name: str, g: int, h: int, expected: int) -> None:
    assert get(execute(alu(8), name, registers={"G": g, "H": h}), "F") == expected


def test_not_of_a_comparison() -> None:
    assert get(execute(alu(8), "NOTEQ", registers={"B": 3, "C": 3}), "F") == 0
    assert get(execute(alu(8), "NOTEQ", registers={"B": 3, "C": 4}), "F") == 1


# ---------------------------------------------------------------- bits, fields


BITS = spec_from("""
    machine bits {
        word 8
        memory E[32] word 16
        modes { supervisor > user }
        reg X: 8
        reg Y: 16
        reg Z: 4
        reg F: 1
        reg S { lo: 4, mid: 8, hi: 4 }
        reg P pc
    }
    isa bits for bits {
        inst SEXT { Y = sext(X, 16) }
        inst ZEXT { Y = zext(X, 16) }
        inst SEXT1 { Y = sext(F, 16) }
        inst SEXT_SAME { X = sext(X, 8) }
        inst SEXT_I v: 8 { Y = sext(v, 16) }
        inst ZEXT_I v: 8 { Y = zext(v, 16) }
        inst CAT { Y = concat(Z, X, Z) }
        inst CAT_I v: 4 { Y = concat(v, X, zext(F, 4)) }
        inst HIGH { Z = X[7:4] }
        inst BIT { F = X[7] }
        inst LOWBIT { F = X[0] }
        inst MIDDLE { X = Y[11:4] }
        inst WHOLE { Y = Y[15:0] }
        inst HIGH_I v: 8 { Z = v[7:4] }
        inst SLICE_SUM { X = (Y + 0x0100)[15:8] }
        inst FIELD_WRITE { S.mid = X }
        inst FIELD_WRITE_HI { S.hi = Z }
        inst FIELD_WRITE_LO { S.lo = Z }
        inst FIELD_READ { X = S.mid }
        inst FIELD_ADD { S.mid = S.mid + 1 }
    }
    """)


@pytest.mark.parametrize(("name", "registers", "target", "expected"), [
    ("SEXT", {"X": 0x80}, "Y", 0xFF80),
    ("SEXT", {"X": 0x7F}, "Y", 0x007F),
    ("SEXT", {"X": 0xFF}, "Y", 0xFFFF),
    ("ZEXT", {"X": 0x80}, "Y", 0x0080),
    ("ZEXT", {"X": 0xFF}, "Y", 0x00FF),
    ("SEXT1", {"F": 1}, "Y", 0xFFFF),
    ("SEXT1", {"F": 0}, "Y", 0),
    ("SEXT_SAME", {"X": 0x80}, "X", 0x80),
    ("CAT", {"Z": 0xA, "X": 0x5C}, "Y", 0xA5CA),
    ("CAT", {"Z": 0x0, "X": 0xFF}, "Y", 0x0FF0),
    ("HIGH", {"X": 0xA5}, "Z", 0xA),
    ("BIT", {"X": 0x80}, "F", 1),
    ("BIT", {"X": 0x7F}, "F", 0),
    ("LOWBIT", {"X": 0x01}, "F", 1),
    ("MIDDLE", {"Y": 0xABCD}, "X", 0xBC),
    ("WHOLE", {"Y": 0xABCD}, "Y", 0xABCD),
    ("SLICE_SUM", {"Y": 0xFF00}, "X", 0x00),   # the sum wraps at 16 bits before the slice
    ("SLICE_SUM", {"Y": 0x1234}, "X", 0x13),
    ("FIELD_READ", {"S": 0xABCD}, "X", 0xBC),
])
def test_extension_concat_slice(name: str, registers: dict[str, int], target: str, expected: int) -> None:
    assert get(execute(BITS, name, registers=registers), target) == expected


@pytest.mark.parametrize(("name", "operand", "registers", "target", "expected"), [
    ("SEXT_I", 0x80, {}, "Y", 0xFF80),
    ("SEXT_I", 0x7F, {}, "Y", 0x007F),
    ("ZEXT_I", 0x80, {}, "Y", 0x0080),
    ("CAT_I", 0xA, {"X": 0x5C, "F": 1}, "Y", 0xA5C1),
    ("HIGH_I", 0xA5, {}, "Z", 0xA),
])
def test_extension_concat_slice_of_immediates(name: str, operand: int, registers: dict[str, int],
                                              target: str, expected: int) -> None:
    assert get(execute(BITS, name, operand, registers=registers), target) == expected


@pytest.mark.parametrize(("name", "registers", "expected"), [
    ("FIELD_WRITE", {"S": 0xABCD, "X": 0x12}, 0xA12D),
    ("FIELD_WRITE", {"S": 0x0000, "X": 0xFF}, 0x0FF0),
    ("FIELD_WRITE", {"S": 0xFFFF, "X": 0x00}, 0xF00F),
    ("FIELD_WRITE_HI", {"S": 0xABCD, "Z": 0x1}, 0x1BCD),
    ("FIELD_WRITE_LO", {"S": 0xABCD, "Z": 0x1}, 0xABC1),
    ("FIELD_ADD", {"S": 0xAFFD}, 0xA00D),      # the field wraps inside its 8 bits
])
def test_field_write_changes_only_the_fields_bits(name: str, registers: dict[str, int],
                                                  expected: int) -> None:
    result = execute(BITS, name, registers=registers)
    assert get(result, "S") == expected
    others = {ref: value for ref, value in registers.items() if ref != "S"}
    assert {ref: get(result, ref) for ref in others} == others


# ---------------------------------------------------------------- statements


STATEMENTS = spec_from("""
    machine stmt {
        word 16
        memory E[64]
        modes { kernel > supervisor > user }
        reg A
        reg B
        reg C
        reg P pc
        control reg K { x: 8, y: 8 }
    }
    isa stmt for stmt {
        inst SWAP { let old = A  A = B  B = old }
        inst CHAIN { A = B  C = A + 1 }
        inst LET_SNAPSHOT { let before = A + 1  A = 100  C = before }
        inst BRANCH_LETS {
            let t = B + 1
            if A == 0 { let u = t + 10  C = u } else { let u = t + 20  C = u + u }
        }
        inst NESTED {
            if A == 0 { if B == 0 { C = 1 } else { C = 2 } } else { if B == 0 { C = 3 } }
        }
        inst CLASSIFY { if A < 10 { C = 1 } else if A < 20 { C = 2 } else { C = 3 } }
        inst CLASSIFY_I a { if a < 10 { C = 1 } else if a < 20 { C = 2 } else { C = 3 } }
        inst NOP { }
        inst NOP1 a { }
        inst NOP3 a, b, c { }
        inst JMP a { P = a }
        inst JZ a { if A == 0 { P = a } }
        inst JMP_REG { P = A }
        inst CALL a { B = next  P = a }
        inst SKIP { P = next + 1 }
        inst NEXT a, b { C = next }
        inst WRITE_THEN_TRAP { A = 1  K.x = 2  M = user  mem[10] = 5  P = 40  trap privileged }
        inst WRITE_THEN_MAYBE_TRAP { A = 1  mem[10] = 5  if B == 1 { trap privileged } }
        inst WRITE_THEN_FAULT { A = 1  mem[10] = 5  B = mem[64] }
        inst WRITE_THEN_HALT { A = 1  K = 0x1234  M = user  mem[10] = 5  halt }
        inst HALT_THEN_WRITE { A = 1  halt  A = 2  mem[10] = 5 }
        inst MAYBE_HALT { if A == 0 { halt }  B = 7 }
        inst SET_MODE v: 2 { M = v }
        inst SET_USER { M = user }
        inst MODE_CODE { if M == kernel { C = 1 } else if M == supervisor { C = 2 } else { C = 3 } }
        inst STORE_TUPLE a { mem[a] = (A, K, B) }
        inst LOAD_TUPLE a { (B, K, M) = mem[a] }
        inst LOAD_FIELDS a { (K.y, A) = mem[a] }
        inst STORE_THEN_LOAD { mem[3] = A  C = mem[3] }
        inst PICK { C = if A < 10 { 1 } else if A < 20 { 2 } else { 3 } }
        inst GUARDED_LOAD { C = if A == 0 { mem[64] } else { B } }
    }
    """)


def test_let_binds_a_value_and_register_reads_see_earlier_writes() -> None:
    swapped = execute(STATEMENTS, "SWAP", registers={"A": 1, "B": 2})
    assert (get(swapped, "A"), get(swapped, "B")) == (2, 1)
    chained = execute(STATEMENTS, "CHAIN", registers={"A": 1, "B": 5})
    assert (get(chained, "A"), get(chained, "C")) == (5, 6)
    snapshot = execute(STATEMENTS, "LET_SNAPSHOT", registers={"A": 1})
    assert (get(snapshot, "A"), get(snapshot, "C")) == (100, 2)


@pytest.mark.parametrize(("a", "expected"), [(0, 15), (1, 2 * 25)])
def test_let_bindings_are_scoped_to_their_branch(a: int, expected: int) -> None:
    # both branches bind `u`; each sees its own
    assert get(execute(STATEMENTS, "BRANCH_LETS", registers={"A": a, "B": 4}), "C") == expected


@pytest.mark.parametrize(("a", "b", "expected"), [(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 99)])
def test_nested_if(a: int, b: int, expected: int) -> None:
    result = execute(STATEMENTS, "NESTED", registers={"A": a, "B": b, "C": 99})
    assert get(result, "C") == expected


@pytest.mark.parametrize(("a", "expected"), [(0, 1), (9, 1), (10, 2), (19, 2), (20, 3), (0xFFFF, 3)])
def test_if_else_if_else(a: int, expected: int) -> None:
    assert get(execute(STATEMENTS, "CLASSIFY", registers={"A": a}), "C") == expected
    assert get(execute(STATEMENTS, "CLASSIFY_I", a), "C") == expected


@pytest.mark.parametrize(("a", "expected"), [(0, 1), (9, 1), (10, 2), (19, 2), (20, 3), (0xFFFF, 3)])
def test_a_conditional_expression_picks_a_branch(a: int, expected: int) -> None:
    assert get(execute(STATEMENTS, "PICK", registers={"A": a}), "C") == expected


def test_only_the_branch_a_conditional_expression_picks_is_evaluated() -> None:
    """`mem[64]` is outside memory: it traps when chosen, and is not even read otherwise, in the
    compiled emulator and in z3 alike."""
    assert execute(STATEMENTS, "GUARDED_LOAD", registers={"A": 0}).cause == "memory"
    assert get(execute(STATEMENTS, "GUARDED_LOAD", registers={"A": 1, "B": 7}), "C") == 7
    machine = STATEMENTS.isas[0].machine
    inst = STATEMENTS.isas[0].instruction("GUARDED_LOAD")
    assert inst is not None
    state = fresh_state(machine, "s")
    run = run_symbolic(machine, inst, state, [])
    solver = z3.Solver()
    solver.add(run.outcome.trapped == 1, state.registers["A"] != 0)
    assert solver.check() == z3.unsat


@pytest.mark.parametrize(("name", "operands", "size"), [
    ("NOP", (), 1), ("NOP1", (7,), 2), ("NOP3", (7, 8, 9), 4),
])
def test_pc_advances_past_the_instruction_by_default(name: str, operands: tuple[int, ...],
                                                     size: int) -> None:
    result = execute(STATEMENTS, name, *operands, pc=20)
    assert_continued(result)
    assert get(result, "P") == 20 + size


def test_writing_the_pc_replaces_the_advance() -> None:
    assert get(execute(STATEMENTS, "JMP", 40, pc=20), "P") == 40
    assert get(execute(STATEMENTS, "JMP", 20, pc=20), "P") == 20      # a jump to itself
    assert get(execute(STATEMENTS, "JMP_REG", pc=20, registers={"A": 33}), "P") == 33
    assert get(execute(STATEMENTS, "SKIP", pc=20), "P") == 22


@pytest.mark.parametrize(("a", "expected_pc"), [(0, 40), (1, 22)])
def test_conditional_pc_write(a: int, expected_pc: int) -> None:
    assert get(execute(STATEMENTS, "JZ", 40, pc=20, registers={"A": a}), "P") == expected_pc


def test_next_is_the_address_after_the_instruction() -> None:
    call = execute(STATEMENTS, "CALL", 40, pc=20)
    assert (get(call, "B"), get(call, "P")) == (22, 40)
    after = execute(STATEMENTS, "NEXT", 1, 2, pc=20)
    assert (get(after, "C"), get(after, "P")) == (23, 23)


def test_the_pc_advance_wraps_at_the_pc_width() -> None:
    machine = STATEMENTS.isas[0].machine
    nop1 = STATEMENTS.isas[0].instruction("NOP1")
    assert nop1 is not None
    state = MachineState.empty(machine)
    state.set(ir.StateRef("P"), 0xFFFF)
    step = compile_instruction(machine, nop1, (7,))
    assert step(state.slots, state.memory, {}, None) == (Stop.CONTINUE, 0)
    assert state.get(ir.StateRef("P")) == 1


INITIAL = {"A": 0xAAAA, "B": 0xBBBB, "C": 0xCCCC, "K": 0x5555}


def snapshot(result: RunResult) -> tuple[dict[str, int], str, list[int]]:
    return ({name: get(result, name) for name in ("A", "B", "C", "K", "P")}, mode_of(result),
            list(result.state.memory))


def test_an_instruction_that_writes_and_then_traps_changes_nothing() -> None:
    result = execute(STATEMENTS, "WRITE_THEN_TRAP", pc=20, registers=INITIAL, mode="kernel")
    assert (result.status, result.cause) == ("trap", "privileged")
    registers, mode, memory = snapshot(result)
    assert registers == {**INITIAL, "P": 20}
    assert mode == "kernel"
    assert memory[10] == 0


@pytest.mark.parametrize("b", [1, 0])
def test_a_runtime_trap_discards_the_writes_before_it(b: int) -> None:
    result = execute(STATEMENTS, "WRITE_THEN_MAYBE_TRAP", pc=20, registers={**INITIAL, "B": b})
    if b == 1:
        assert (result.status, result.cause) == ("trap", "privileged")
        assert (get(result, "A"), get(result, "P"), result.state.memory[10]) == (INITIAL["A"], 20, 0)
    else:
        assert_continued(result)
        assert (get(result, "A"), get(result, "P"), result.state.memory[10]) == (1, 21, 5)


def test_a_memory_trap_after_writes_changes_nothing() -> None:
    result = execute(STATEMENTS, "WRITE_THEN_FAULT", pc=20, registers=INITIAL)
    assert (result.status, result.cause) == ("trap", "memory")
    assert snapshot(result)[0] == {**INITIAL, "P": 20}
    assert result.state.memory[10] == 0


def test_halt_after_writes_commits_them() -> None:
    result = execute(STATEMENTS, "WRITE_THEN_HALT", pc=20, registers=INITIAL, mode="kernel")
    assert result.status == "halted"
    registers, mode, memory = snapshot(result)
    assert {name: registers[name] for name in ("A", "K")} == {"A": 1, "K": 0x1234}
    assert mode == "user"
    assert memory[10] == 5


def test_writes_after_halt_do_not_happen() -> None:
    result = execute(STATEMENTS, "HALT_THEN_WRITE", registers=INITIAL)
    assert result.status == "halted"
    assert get(result, "A") == 1
    assert result.state.memory[10] == 0


@pytest.mark.parametrize(("a", "status", "b"), [(0, "halted", INITIAL["B"]), (1, "step_limit", 7)])
def test_conditional_halt(a: int, status: str, b: int) -> None:
    result = execute(STATEMENTS, "MAYBE_HALT", registers={**INITIAL, "A": a})
    assert (result.status, get(result, "B")) == (status, b)


@pytest.mark.parametrize(("value", "mode"), [(0, "kernel"), (1, "supervisor"), (2, "user"),
                                             (3, "user")])  # 3 names no mode: the least privileged
def test_mode_writes(value: int, mode: str) -> None:
    result = execute(STATEMENTS, "SET_MODE", value, mode="supervisor")
    assert_continued(result)
    assert mode_of(result) == mode


@pytest.mark.parametrize(("mode", "code"), [("kernel", 1), ("supervisor", 2), ("user", 3)])
def test_mode_reads(mode: str, code: int) -> None:
    assert get(execute(STATEMENTS, "MODE_CODE", mode=mode), "C") == code
    assert mode_of(execute(STATEMENTS, "SET_USER", mode=mode)) == "user"


def test_tuple_store_takes_one_word_per_element_and_per_field() -> None:
    result = execute(STATEMENTS, "STORE_TUPLE", 30, registers={"A": 0x1111, "K": 0xBBAA, "B": 0x2222},
                     memory={34: 0x7777})
    assert_continued(result)
    assert result.state.memory[30:35] == [0x1111, 0xAA, 0xBB, 0x2222, 0x7777]


def test_tuple_load_takes_one_word_per_element_and_per_field() -> None:
    result = execute(STATEMENTS, "LOAD_TUPLE", 30, mode="kernel",
                     memory={30: 0x1234, 31: 0x01, 32: 0x02, 33: 2, 34: 0x7777})
    assert_continued(result)
    assert (get(result, "B"), get(result, "K.x"), get(result, "K.y"), mode_of(result)) == \
        (0x1234, 0x01, 0x02, "user")
    fields = execute(STATEMENTS, "LOAD_FIELDS", 30, registers={"K": 0x5555}, memory={30: 0x66, 31: 9})
    assert (get(fields, "K"), get(fields, "A")) == (0x6655, 9)


def test_tuple_load_of_words_wider_than_a_field_keeps_the_low_bits() -> None:
    result = execute(STATEMENTS, "LOAD_TUPLE", 30, memory={30: 1, 31: 0x1FF, 32: 0x2FE, 33: 0})
    assert (get(result, "K.x"), get(result, "K.y")) == (0xFF, 0xFE)


def test_a_load_after_a_store_in_one_instruction_sees_the_stored_word() -> None:
    result = execute(STATEMENTS, "STORE_THEN_LOAD", registers={"A": 42}, memory={3: 7})
    assert (get(result, "C"), result.state.memory[3]) == (42, 42)


# ---------------------------------------------------------------- register operands


OPERANDS = spec_from("""
    machine regs {
        word 16
        memory E[64]
        modes { supervisor > user }
        reg A
        reg B
        reg C
        reg P pc
        control reg K
    }
    isa regs for regs {
        inst MOV d: reg, s: reg { d = s }
        inst ADDR d: reg, s: reg { d = d + s }
        inst SETR d: reg, v { d = v }
        inst READ s: reg { C = s + 1 }
    }
    """)
REGS = {"A": 10, "B": 20, "C": 30, "K": 40}
A, B, C = 0, 1, 2  # register operands are register numbers, in declaration order


@pytest.mark.parametrize(("name", "operands", "expected"), [
    ("MOV", (C, A), {"C": 10}),
    ("MOV", (A, C), {"A": 30}),
    ("MOV", (B, B), {}),
    ("ADDR", (B, C), {"B": 50}),
    ("ADDR", (A, A), {"A": 20}),
    ("SETR", (B, 0xFFFF), {"B": 0xFFFF}),
    ("READ", (B,), {"C": 21}),
    ("READ", (C,), {"C": 31}),
])
def test_register_operands_select_the_named_register(name: str, operands: tuple[int, ...],
                                                     expected: dict[str, int]) -> None:
    result = execute(OPERANDS, name, *operands, registers=REGS)
    assert_continued(result)
    assert {name: get(result, name) for name in REGS} == {**REGS, **expected}


# ---------------------------------------------------------------- memory


RELOCATED = spec_from("""
    machine reloc {
        word 16
        memory E[64]
        modes { supervisor > user }
        reg A
        reg P pc
        control reg R { base, bound }
        relocate through R
    }
    isa reloc for reloc {
        inst LD a { A = mem[a] }
        inst ST a { mem[a] = A }
        inst LD_AT { A = mem[A] }
        inst ST_AT { mem[A] = A }
        inst LDP a { A = phys[a] }
        inst STP a { phys[a] = A }
        inst LDP_AT { A = phys[A] }
    }
    """)
BARE = spec_from("""
    machine bare {
        word 16
        memory E[64]
        modes { supervisor > user }
        reg A
        reg P pc
        relocate none
    }
    isa bare for bare {
        inst LD a { A = mem[a] }
        inst ST a { mem[a] = A }
        inst LD_AT { A = mem[A] }
    }
    """)


def relocated(name: str, *operands: int, base: int, bound: int, a: int = 0,
              memory: dict[int, int] | None = None) -> RunResult:
    # the instruction sits at pc 0, i.e. at physical address `base`
    return execute(RELOCATED, name, *operands, registers={"R.base": base, "R.bound": bound, "A": a},
                   memory=memory)


@pytest.mark.parametrize(("address", "base", "bound", "physical"), [
    (5, 10, 20, 15),
    (19, 10, 20, 29),     # the last word inside the bound
    (13, 50, 14, 63),     # the last word of memory
    (40, 0, 64, 40),     # base 0: the address is the physical address
])
def test_mem_is_relocated_through_the_base(address: int, base: int, bound: int, physical: int) -> None:
    memory = {physical: 0x4242}
    for name, operands in (("LD", (address,)), ("LD_AT", ())):
        a = 0 if operands else address
        result = relocated(name, *operands, base=base, bound=bound, a=a, memory=memory)
        assert_continued(result)
        assert get(result, "A") == 0x4242
    stored = relocated("ST", address, base=base, bound=bound, a=0x5151)
    assert_continued(stored)
    assert stored.state.memory[physical] == 0x5151


@pytest.mark.parametrize(("address", "base", "bound"), [
    (20, 10, 20),         # a >= bound
    (0xFFFF, 10, 20),
    (14, 50, 20),         # a + base >= memory size, inside the bound
    (63, 1, 64),
])
def test_mem_outside_the_bound_or_memory_traps(address: int, base: int, bound: int) -> None:
    for name, operands, a in (("LD", (address,), 0x1234), ("LD_AT", (), address),
                              ("ST", (address,), 0x1234), ("ST_AT", (), address)):
        result = relocated(name, *operands, base=base, bound=bound, a=a)
        assert (result.status, result.cause) == ("trap", "memory"), name
        assert (get(result, "A"), get(result, "P")) == (a, 0), name
        assert result.state.memory == result.initial_memory, name


def test_a_trapping_store_writes_no_memory() -> None:
    result = relocated("ST", 20, base=10, bound=20, a=0x1234)
    assert result.status == "trap"
    assert 0x1234 not in result.state.memory


@pytest.mark.parametrize(("address", "base", "bound"), [
    (40, 10, 20),         # outside the bound: phys ignores relocation
    (63, 50, 2),
    (0, 30, 5),
])
def test_phys_is_not_relocated(address: int, base: int, bound: int) -> None:
    for name, operands, a in (("LDP", (address,), 0), ("LDP_AT", (), address)):
        result = relocated(name, *operands, base=base, bound=bound, a=a, memory={address: 0x4242})
        assert_continued(result)
        assert get(result, "A") == 0x4242
    stored = relocated("STP", address, base=base, bound=bound, a=0x5151)
    assert_continued(stored)
    assert stored.state.memory[address] == 0x5151


@pytest.mark.parametrize("address", [64, 65, 0xFFFF])
def test_phys_traps_only_outside_memory(address: int) -> None:
    for name, operands, a in (("LDP", (address,), 7), ("LDP_AT", (), address), ("STP", (address,), 7)):
        result = relocated(name, *operands, base=0, bound=0xFFFF, a=a)
        assert (result.status, result.cause) == ("trap", "memory"), name
        assert get(result, "A") == a


def test_without_relocation_mem_is_physical() -> None:
    loaded = execute(BARE, "LD", 63, memory={63: 9})
    assert (loaded.status, get(loaded, "A")) == ("step_limit", 9)
    for name, operands, a in (("LD", (64,), 0), ("LD_AT", (), 64), ("ST", (0xFFFF,), 0)):
        result = execute(BARE, name, *operands, registers={"A": a})
        assert (result.status, result.cause) == ("trap", "memory"), name


WIDE_ADDRESSES = spec_from("""
    machine narrow {
        word 8
        memory E[256]
        modes { supervisor > user }
        reg A
        reg B
        reg P pc
    }
    isa narrow for narrow {
        inst LD_WIDE { A = mem[concat(B, B)] }
        inst ST_WIDE { phys[zext(B, 16) + 0x400] = A }
    }
    """)


def test_an_address_wider_than_the_machine_word_traps_outside_memory() -> None:
    # concat(4, 4) is address 0x0404 = 1028, outside the 256-word memory: it must not
    # wrap around to a word inside it
    loaded = execute(WIDE_ADDRESSES, "LD_WIDE", registers={"B": 4}, memory={4: 77})
    assert (loaded.status, loaded.cause, get(loaded, "A")) == ("trap", "memory", 0)
    stored = execute(WIDE_ADDRESSES, "ST_WIDE", registers={"A": 99, "B": 4})
    assert (stored.status, stored.cause) == ("trap", "memory")
    assert 99 not in stored.state.memory


FULL_ADDRESS_SPACE = spec_from("""
    machine tiny {
        word 4
        memory E[16] word 8
        modes { supervisor > user }
        reg A
        reg B
        reg P: 8 pc
    }
    isa tiny for tiny {
        inst LOAD2 a { (A, B) = mem[a] }
        inst STORE2 a { mem[a] = (A, B) }
    }
    """)


def test_a_tuple_running_past_the_end_of_memory_traps() -> None:
    # words a and a + 1: with a = 15, the second word, 16, is outside the 16-word memory
    # (it must not wrap around to word 0 because addresses are 4 bits wide)
    loaded = execute(FULL_ADDRESS_SPACE, "LOAD2", 15, pc=3, memory={0: 9, 15: 5})
    assert (loaded.status, loaded.cause) == ("trap", "memory")
    assert (get(loaded, "A"), get(loaded, "B")) == (0, 0)
    stored = execute(FULL_ADDRESS_SPACE, "STORE2", 15, pc=3, registers={"A": 1, "B": 2})
    assert (stored.status, stored.cause) == ("trap", "memory")
    assert stored.state.memory[15] == 0


ZERO_REGISTER = spec_from("""
    machine z { word 16  memory E[64]  modes { sup > usr }  reg X0 zero  reg X1  reg P pc }
    isa z for z {
        inst LI d: reg, v { d = v }
        inst ADD d: reg, s: reg { d = d + s }
        inst W { X0 = X1 }
    }
""")


def test_a_zero_register_reads_0_and_ignores_writes() -> None:
    """Whatever its slot holds (a witness state may hold anything), X0 reads 0; writes, through a
    register operand too, change nothing."""
    x0 = ZERO_REGISTER.isas[0].machine.register_index("X0")
    assert get(execute(ZERO_REGISTER, "LI", x0, 5), "X0") == 0
    assert get(execute(ZERO_REGISTER, "W", registers={"X1": 9}), "X0") == 0
    x1 = ZERO_REGISTER.isas[0].machine.register_index("X1")
    result = execute(ZERO_REGISTER, "ADD", x1, x0, registers={"X0": 7, "X1": 3})
    assert (get(result, "X1"), get(result, "X0")) == (3, 7)  # X0 read as 0; its slot untouched
