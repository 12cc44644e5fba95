"""The compiled concrete semantics agree with a plain Python reference, at every width.

Two kinds of test:
- operators: for random widths (1..70) and operand values, the code generated for a
  one-instruction `A = B op C` agrees with the modular arithmetic written below, both when
  the operands are registers (runtime values) and when they are immediates (constants that
  the code generator folds while compiling);
- the emulator as a `RuleBasedStateMachine`: a small PG74-style accumulator machine driven
  by random pokes, register writes, single steps and longer runs, checked after every rule
  against an independent interpreter of the same machine, written here.
"""

from __future__ import annotations

import functools

import attrs
import pytest
from conftest import spec_from
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from vdsl import Emulator, MachineState, StepRecord
from vdsl.ir import nodes as ir
from vdsl.semantics.concrete import Stop, compile_instruction

MAX_WIDTH = 70

# ---------------------------------------------------------------- the reference arithmetic


def signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def reference_binary(op: str, width: int, a: int, b: int) -> int:
    """`a op b` on `width`-bit unsigned values, straight from the definitions."""
    modulus = 1 << width
    if op == "+":
        return (a + b) % modulus
    if op == "-":
        return (a - b) % modulus
    if op == "*":
        return (a * b) % modulus
    if op == "/":
        return modulus - 1 if b == 0 else a // b
    if op == "%":
        return a if b == 0 else a % b
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    if op == "<<":
        return 0 if b >= width else (a * 2**b) % modulus
    if op == ">>":
        return 0 if b >= width else a // 2**b
    if op == "sra":
        return (signed(a, width) >> min(b, width)) % modulus  # Python shifts negatives arithmetically
    if op == "slt":
        return int(signed(a, width) < signed(b, width))
    if op == "sle":
        return int(signed(a, width) <= signed(b, width))
    return int({"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def reference_unary(op: str, width: int, a: int) -> int:
    return {"-": -a % (1 << width), "~": (1 << width) - 1 - a}[op]


# name: (operator, is it a builtin call, does it give one bit)
BINARY = {
    "ADD": ("+", False, False), "SUB": ("-", False, False), "MUL": ("*", False, False),
    "DIV": ("/", False, False), "REM": ("%", False, False), "AND": ("&", False, False),
    "OR": ("|", False, False), "XOR": ("^", False, False), "SHL": ("<<", False, False),
    "SHR": (">>", False, False), "SRA": ("sra", True, False),
    "EQ": ("==", False, True), "NE": ("!=", False, True), "LT": ("<", False, True),
    "LE": ("<=", False, True), "GT": (">", False, True), "GE": (">=", False, True),
    "SLT": ("slt", True, True), "SLE": ("sle", True, True),
}
UNARY = {"NEG": "-", "INV": "~"}
# operands: registers B, C; immediates b, c.  RR: both at runtime; II: both folded; the rest mixed
FORMS = {"RR": ("B", "C"), "II": ("b", "c"), "RI": ("B", "c"), "IR": ("b", "C")}


def expression(name: str, x: str, y: str) -> str:
    op, call, _ = BINARY[name]
    return f"{op}({x}, {y})" if call else f"{x} {op} {y}"


@functools.cache
def alu(width: int) -> ir.Spec:
    insts = []
    for name, (_, _, one_bit) in BINARY.items():
        target = "F" if one_bit else "A"
        for form, (x, y) in FORMS.items():
            operands = ", ".join(o for o in (x, y) if o.islower())
            insts.append(f"inst {name}_{form} {operands} {{ {target} = {expression(name, x, y)} }}")
    for name, op in UNARY.items():
        insts.append(f"inst {name}_R {{ A = {op}B }}")
        insts.append(f"inst {name}_I b {{ A = {op}b }}")
    insts.append("inst AND1 { F = G && H }")
    insts.append("inst OR1 { F = G || H }")
    insts.append("inst NOT1 { F = !G }")
    newline = "\n"
    return spec_from(f"""
        machine alu {{
            word {width}
            memory E[8] word {MAX_WIDTH}
            modes {{ supervisor > user }}
            reg A
            reg B
            reg C
            reg F: 1
            reg G: 1
            reg H: 1
            reg P: 8 pc
        }}
        isa alu for alu {{
            {newline.join(insts)}
        }}
        """)


def execute(spec: ir.Spec, name: str, operands: tuple[int, ...], registers: dict[str, int]) -> MachineState:
    """Run the compiled code of one instruction on a state with these registers."""
    isa = spec.isas[0]
    instruction = isa.instruction(name)
    assert instruction is not None, name
    state = MachineState.empty(isa.machine)
    for reg, value in registers.items():
        state.set(ir.StateRef(reg), value)
    step = compile_instruction(isa.machine, instruction, operands)
    assert step(state.slots, state.memory, {}, None) == (Stop.CONTINUE, 0)
    assert state.get(ir.StateRef("P")) == instruction.size
    return state


@st.composite
def width_and_values(draw: st.DrawFn, count: int = 2) -> tuple[int, ...]:
    width = draw(st.integers(1, MAX_WIDTH))
    top = (1 << width) - 1
    special = st.sampled_from(sorted({0, 1, top, top - 1 if top else 0, 1 << (width - 1),
                                      (1 << (width - 1)) - 1, width, width - 1}))
    value = st.one_of(special, st.integers(0, top), st.integers(0, min(top, 2 * width + 2)))
    return (width, *(draw(value) for _ in range(count)))


@pytest.mark.parametrize("name", list(BINARY))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=width_and_values())
def test_binary_operators_agree_with_the_reference(name: str, case: tuple[int, int, int]) -> None:
    width, left, right = case
    op, _, one_bit = BINARY[name]
    target = "F" if one_bit else "A"
    expected = reference_binary(op, width, left, right)
    spec = alu(width)
    for form, (x, y) in FORMS.items():
        operands = tuple(v for v, o in ((left, x), (right, y)) if o.islower())
        state = execute(spec, f"{name}_{form}", operands, {"B": left, "C": right})
        assert state.get(ir.StateRef(target)) == expected, form


@pytest.mark.parametrize("name", list(UNARY))
@settings(max_examples=40, deadline=None)
@given(case=width_and_values(count=1))
def test_unary_operators_agree_with_the_reference(name: str, case: tuple[int, int]) -> None:
    width, value = case
    expected = reference_unary(UNARY[name], width, value)
    spec = alu(width)
    assert execute(spec, f"{name}_R", (), {"B": value}).get(ir.StateRef("A")) == expected
    assert execute(spec, f"{name}_I", (value,), {}).get(ir.StateRef("A")) == expected


@pytest.mark.parametrize(("name", "op"), [("AND1", "&"), ("OR1", "|"), ("NOT1", "!")])
@pytest.mark.parametrize("g", [0, 1])
@pytest.mark.parametrize("h", [0, 1])
def test_logic_operators_agree_with_the_reference(name: str, op: str, g: int, h: int) -> None:
    expected = {"&": g & h, "|": g | h, "!": 1 - g}[op]
    assert execute(alu(3), name, (), {"G": g, "H": h}).get(ir.StateRef("F")) == expected


# ---------------------------------------------------------------- slices and extensions


@st.composite
def slices(draw: st.DrawFn) -> tuple[int, int, int, int]:
    width, value = draw(width_and_values(count=1))
    hi = draw(st.integers(0, width - 1))
    lo = draw(st.integers(0, hi))
    return width, hi, lo, value


@settings(max_examples=60, deadline=None)
@given(case=slices())
def test_slices_agree_with_the_reference(case: tuple[int, int, int, int]) -> None:
    width, hi, lo, value = case
    spec = spec_from(f"""
        machine bits {{
            word {width}
            memory E[8] word {MAX_WIDTH}
            modes {{ supervisor > user }}
            reg B
            reg S: {hi - lo + 1}
            reg P: 8 pc
        }}
        isa bits for bits {{
            inst R {{ S = B[{hi}:{lo}] }}
            inst I b {{ S = b[{hi}:{lo}] }}
        }}
        """)
    expected = (value >> lo) % (1 << (hi - lo + 1))
    assert execute(spec, "R", (), {"B": value}).get(ir.StateRef("S")) == expected
    assert execute(spec, "I", (value,), {}).get(ir.StateRef("S")) == expected


@st.composite
def extensions(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    width, value, other = draw(width_and_values(count=2))
    to = draw(st.integers(width, MAX_WIDTH))
    low_width = draw(st.integers(1, MAX_WIDTH))
    return width, to, value, low_width, other % (1 << low_width)


@settings(max_examples=60, deadline=None)
@given(case=extensions())
def test_extensions_and_concat_agree_with_the_reference(case: tuple[int, int, int, int, int]) -> None:
    width, to, value, low_width, low = case
    spec = spec_from(f"""
        machine bits {{
            word {width}
            memory E[8] word {MAX_WIDTH}
            modes {{ supervisor > user }}
            reg B
            reg L: {low_width}
            reg X: {to}
            reg Y: {width + low_width}
            reg P: 8 pc
        }}
        isa bits for bits {{
            inst SEXT_R {{ X = sext(B, {to}) }}
            inst ZEXT_R {{ X = zext(B, {to}) }}
            inst SEXT_I b {{ X = sext(b, {to}) }}
            inst ZEXT_I b {{ X = zext(b, {to}) }}
            inst CAT_R {{ Y = concat(B, L) }}
            inst CAT_I b {{ Y = concat(b, L) }}
        }}
        """)
    sext = signed(value, width) % (1 << to)
    cat = value << low_width | low
    for suffix, operands in (("R", ()), ("I", (value,))):
        registers = {"B": value, "L": low}
        assert execute(spec, f"SEXT_{suffix}", operands, registers).get(ir.StateRef("X")) == sext
        assert execute(spec, f"ZEXT_{suffix}", operands, registers).get(ir.StateRef("X")) == value
        assert execute(spec, f"CAT_{suffix}", operands, registers).get(ir.StateRef("Y")) == cat


# ---------------------------------------------------------------- the emulator, statefully

WORD = 8
SIZE = 48
# name, operand count, semantics (for the reader; the reference below implements them)
ACC_INSTRUCTIONS = [
    ("LDI", 1, "v { A = v }"),
    ("LD", 1, "a { A = mem[a] }"),
    ("ST", 1, "a { mem[a] = A }"),
    ("ADD", 1, "a { A = A + mem[a] }"),
    ("SUB", 1, "a { A = A - mem[a] }"),
    ("DIV", 1, "a { A = A / mem[a] }"),
    ("SWAP", 0, "{ let t = A  A = B  B = t }"),
    ("SRA", 0, "{ A = sra(A, B) }"),
    ("JMP", 1, "a { P = a }"),
    ("JZ", 1, "a { if A == 0 { P = a } }"),
    ("SVC", 0, "{ A = A + 1  trap svc }"),
    ("LPSW", 1, "a { if M == user { trap privileged }  (M, P, R) = mem[a] }"),
    ("STP", 1, "a { phys[a] = B }"),
    ("HALT", 0, "{ if M == user { trap privileged }  halt }"),
    ("NOP", 0, "{ }"),
]
NAMES = [name for name, _, _ in ACC_INSTRUCTIONS]
MEMORY, PRIVILEGED, ILLEGAL, SVC = 0, 1, 2, 3
JUMPS = {"JMP", "JZ", "LPSW"}

ACC = spec_from(f"""
    machine acc {{
        word {WORD}
        memory E[{SIZE}]
        modes {{ supervisor > user }}
        reg A
        reg B
        reg P pc
        control reg R {{ base, bound }}
        relocate through R
        trap {{
            causes {{ svc }}
            save (M, P, R) -> E[0]
            load (M, P, R) <- E[4]
            cause -> E[8]
        }}
    }}
    isa acc for acc {{
        {" ".join(f"inst {name} {body}" for name, _, body in ACC_INSTRUCTIONS)}
    }}
    """)
ACC_ISA = ACC.isas[0]
REGISTERS = ("A", "B", "P", "R.base", "R.bound")


class Trap(Exception):
    """Raised by the reference when an instruction traps."""

    def __init__(self, cause: int) -> None:
        self.cause = cause


@attrs.define
class Reference:
    """The accumulator machine, interpreted directly from its definition."""

    A: int
    B: int
    P: int
    base: int
    bound: int
    M: int
    memory: list[int]

    def registers(self) -> dict[str, int]:
        return {"A": self.A, "B": self.B, "P": self.P, "R.base": self.base, "R.bound": self.bound}

    def relocate(self, address: int) -> int:
        if address >= self.bound or address + self.base >= SIZE:
            raise Trap(MEMORY)
        return address + self.base

    def step(self) -> str:
        """One step: `continue`, `halted` or `trap`."""
        before = attrs.evolve(self, memory=list(self.memory))
        try:
            return self.execute()
        except Trap as trap:
            # the trapping instruction changes nothing; the mechanism saves and loads the PSW
            self.A, self.B, self.P, self.M = before.A, before.B, before.P, before.M
            self.base, self.bound, self.memory = before.base, before.bound, before.memory
            self.memory[0:4] = [self.M, self.P, self.base, self.bound]
            self.memory[8] = trap.cause
            self.M, self.P, self.base, self.bound = (self.memory[4] & 1, *self.memory[5:8])
            return "trap"

    def execute(self) -> str:
        pc = self.P
        if pc >= self.bound or pc + self.base >= SIZE:
            raise Trap(MEMORY)
        opcode = self.memory[pc + self.base]
        if opcode >= len(ACC_INSTRUCTIONS):
            raise Trap(ILLEGAL)
        name, count, _ = ACC_INSTRUCTIONS[opcode]
        last = pc + count
        if last >= self.bound or last + self.base >= SIZE:
            raise Trap(MEMORY)
        operand = self.memory[pc + self.base + 1] if count else 0
        self.P = (pc + 1 + count) % 2**WORD
        mask = 2**WORD - 1
        if name == "LDI":
            self.A = operand
        elif name == "LD":
            self.A = self.memory[self.relocate(operand)]
        elif name == "ST":
            self.memory[self.relocate(operand)] = self.A
        elif name == "ADD":
            self.A = (self.A + self.memory[self.relocate(operand)]) & mask
        elif name == "SUB":
            self.A = (self.A - self.memory[self.relocate(operand)]) & mask
        elif name == "DIV":
            divisor = self.memory[self.relocate(operand)]
            self.A = self.A // divisor if divisor else mask
        elif name == "SWAP":
            self.A, self.B = self.B, self.A
        elif name == "SRA":
            self.A = (signed(self.A, WORD) >> min(self.B, WORD)) & mask
        elif name == "JMP":
            self.P = operand
        elif name == "JZ":
            if self.A == 0:
                self.P = operand
        elif name == "SVC":
            raise Trap(SVC)
        elif name == "LPSW":
            if self.M == 1:
                raise Trap(PRIVILEGED)
            words = [self.memory[self.relocate(operand + i)] for i in range(4)]
            self.M, self.P, self.base, self.bound = words[0] & 1, words[1], words[2], words[3]
        elif name == "STP":
            if operand >= SIZE:
                raise Trap(MEMORY)
            self.memory[operand] = self.B
        elif name == "HALT":
            if self.M == 1:
                raise Trap(PRIVILEGED)
            return "halted"
        return "continue"


def state_ref(text: str) -> ir.StateRef:
    reg, _, field = text.partition(".")
    return ir.StateRef(reg, field or None)


def state_of(reference: Reference) -> MachineState:
    state = MachineState.empty(ACC_ISA.machine)
    for ref, value in reference.registers().items():
        state.set(state_ref(ref), value)
    state.slots[state.mode_index] = reference.M
    state.memory[:] = reference.memory
    return state


word = st.integers(0, 2**WORD - 1)
opcode = st.integers(0, len(ACC_INSTRUCTIONS) - 1)
# mostly instructions and in-memory addresses, sometimes anything
small_word = st.one_of(opcode, st.integers(0, SIZE + 2), word)


class AccumulatorMachine(RuleBasedStateMachine):
    """The emulator, with its compiled-code caches, against the reference interpreter."""

    def __init__(self) -> None:
        super().__init__()
        self.reference: Reference
        self.state: MachineState
        self.emulator: Emulator

    @initialize(memory=st.lists(st.one_of(opcode, opcode, st.integers(0, SIZE + 2), word),
                                min_size=SIZE, max_size=SIZE),
                a=word, b=word, pc=st.integers(0, SIZE + 2), base=st.integers(0, 8),
                bound=st.one_of(st.integers(SIZE - 12, SIZE + 2), word), user=st.booleans(),
                handler=st.one_of(st.none(), st.integers(9, SIZE - 1)))
    def boot(self, memory: list[int], a: int, b: int, pc: int, base: int, bound: int, user: bool,
             handler: int | None) -> None:
        if handler is not None:
            # a supervisor trap vector: the machine keeps running after traps
            memory[4:8] = [0, handler, 0, SIZE]
        self.reference = Reference(a, b, pc, base, bound, int(user), memory)
        self.restart()

    def restart(self) -> None:
        """A new emulator on the reference's state (an emulator only notices writes made by
        the program it runs, so memory changed from outside needs a new one)."""
        self.state = state_of(self.reference)
        self.emulator = Emulator(ACC_ISA, self.state)

    @rule(address=st.integers(0, SIZE - 1), value=small_word)
    def poke(self, address: int, value: int) -> None:
        self.reference.memory[address] = value
        self.restart()

    @rule(name=st.sampled_from(NAMES), operand=small_word)
    def place_instruction_at_pc(self, name: str, operand: int) -> None:
        instruction = ACC_ISA.instruction(name)
        assert instruction is not None
        at = self.reference.P + self.reference.base
        words = [instruction.opcode, operand][:instruction.size]
        for offset, value in enumerate(words):
            if at + offset < SIZE:
                self.reference.memory[at + offset] = value
        self.restart()

    @rule(body=st.lists(st.tuples(st.sampled_from(["ST", "STP", "SWAP", "LDI", *NAMES]), st.integers(0, 12)),
                        min_size=1, max_size=6),
          steps=st.sampled_from([64, 100]))
    def run_loop_at_pc(self, body: list[tuple[str, int]], steps: int) -> None:
        """Place a loop at the pc whose stores and jumps aim inside the loop itself, and run
        it: it rewrites code that is compiled and cached, often in the block that is running."""
        pc = self.reference.P
        at = pc + self.reference.base
        words: list[int] = []
        for name, offset in [*body, ("JMP", 0)]:
            instruction = ACC_ISA.instruction(name)
            assert instruction is not None
            words.append(instruction.opcode)
            if instruction.operands:
                words.append(at + offset if name == "STP" else (pc + offset) % 2**WORD)
        for index, value in enumerate(words):
            if at + index < SIZE:
                self.reference.memory[at + index] = value
        self.restart()
        self.run_steps(steps)

    @rule(ref=st.sampled_from(REGISTERS), value=st.one_of(st.integers(0, SIZE + 2), word))
    def set_register(self, ref: str, value: int) -> None:
        # registers do not hold code: the emulator and its caches stay
        setattr(self.reference, {"R.base": "base", "R.bound": "bound"}.get(ref, ref), value)
        self.state.set(state_ref(ref), value)

    @rule(user=st.booleans())
    def set_mode(self, user: bool) -> None:
        self.reference.M = int(user)
        self.state.slots[self.state.mode_index] = int(user)

    @rule()
    def single_step(self) -> None:
        records: list[StepRecord] = []
        old_pc = self.reference.P
        expected = self.reference.step()
        result = self.emulator.run(1, trace=records.append)
        (record,) = records
        event(f"single step: {record.trapped or expected}")
        assert record.pc == old_pc
        assert (record.trapped is not None) == (expected == "trap")
        assert result.status == ("halted" if expected == "halted" else "step_limit")
        if record.trapped is None and record.instruction not in JUMPS:
            instruction = ACC_ISA.instruction(record.instruction or "")
            assert instruction is not None
            assert self.state.get(ir.StateRef("P")) == (old_pc + instruction.size) % 2**WORD
        self.check_agreement()

    @rule(steps=st.sampled_from([2, 5, 63, 64, 65, 100, 200]))
    def run_steps(self, steps: int) -> None:
        # long enough runs execute compiled blocks rather than single instructions
        expected_steps = 0
        status = "step_limit"
        while expected_steps < steps:
            expected_steps += 1
            if self.reference.step() == "halted":
                status = "halted"
                break
        result = self.emulator.run(steps)
        event(f"run of {steps} steps: {status}")
        assert (result.status, result.steps) == (status, expected_steps)
        self.check_agreement()

    def check_agreement(self) -> None:
        registers = {ref: self.state.get(state_ref(ref)) for ref in REGISTERS}
        assert registers == self.reference.registers()
        assert self.state.mode == self.reference.M
        assert self.state.memory == self.reference.memory

    @invariant()
    def registers_stay_inside_their_widths(self) -> None:
        if not hasattr(self, "state"):
            return
        machine = ACC_ISA.machine
        for index, reg in enumerate(machine.registers):
            assert 0 <= self.state.slots[index] < 2**reg.width, reg.name
        assert 0 <= self.state.mode < len(machine.modes)

    @invariant()
    def memory_words_stay_inside_the_word_width(self) -> None:
        if not hasattr(self, "state"):
            return
        assert len(self.state.memory) == SIZE
        assert all(0 <= value < 2**WORD for value in self.state.memory)


TestAccumulatorMachine = AccumulatorMachine.TestCase
TestAccumulatorMachine.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)


@pytest.mark.slow
def test_accumulator_machine_long_run() -> None:
    run_state_machine_as_test(AccumulatorMachine,
                              settings=settings(max_examples=1000, stateful_step_count=100, deadline=None))
