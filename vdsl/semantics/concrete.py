"""The concrete domain: instruction semantics compiled to Python functions.

`PythonDomain` makes a value either a Python int (known while compiling) or the name of
a variable of the generated function.  Running the evaluator in it *is* code
generation: known values fold, unknown ones become lines of Python.  The templates
below are the single definition of concrete arithmetic: constant folding evaluates the
same template text that the generated code runs.

An instruction is compiled once per (opcode, operand values), so operands are
constants and register operands select their register at compile time.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import re
from collections.abc import Callable, Iterator
from typing import Protocol

import attrs

from vdsl.errors import InternalError
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import EXTRACT, EXTRACT_LOW, INSERT, mask
from vdsl.semantics.evaluator import Evaluator, Outcome

Value = int | str
Memory = tuple[tuple[Value, Value, Value], ...]  # pending (guard, address, value) stores

# {a}, {b}: operands; {w}: operand width; {m}: its mask; {s}: its sign bit.
UNARY = {
    "-": "(-{a}) & {m}",
    "~": "{a} ^ {m}",
    "!": "{a} ^ 1",
}
BINARY = {
    "+": "({a} + {b}) & {m}",
    "-": "({a} - {b}) & {m}",
    "*": "({a} * {b}) & {m}",
    "/": "({a} // {b} if {b} else {m})",
    "%": "({a} % {b} if {b} else {a})",
    "&": "{a} & {b}",
    "|": "{a} | {b}",
    "^": "{a} ^ {b}",
    "<<": "(({a} << {b}) & {m} if {b} < {w} else 0)",
    ">>": "{a} >> {b}",
    "==": "(1 if {a} == {b} else 0)",
    "!=": "(1 if {a} != {b} else 0)",
    "<": "(1 if {a} < {b} else 0)",
    "<=": "(1 if {a} <= {b} else 0)",
    ">": "(1 if {a} > {b} else 0)",
    ">=": "(1 if {a} >= {b} else 0)",
    "&&": "{a} & {b}",
    "||": "{a} | {b}",
    "slt": "(1 if ({a} ^ {s}) < ({b} ^ {s}) else 0)",
    "sle": "(1 if ({a} ^ {s}) <= ({b} ^ {s}) else 0)",
    "sra": "(((({a} ^ {s}) - {s}) >> ({b} if {b} < {w} else {w})) & {m})",
}
ITE = "({t} if {c} else {e})"
SEXT = "(({a} ^ {s}) - {s}) & {m}"


@functools.lru_cache(maxsize=65536)
def _fold(template: str) -> int:
    result = eval(template, {"__builtins__": {}})  # noqa: S307 - our own template text
    return int(result)


class PythonDomain:
    """Values are ints (known) or names of variables in the function being generated."""

    def __init__(self, machine: ir.Machine, operands: tuple[int, ...]) -> None:
        self.machine = machine
        self.operands = operands
        self.lines: list[str] = []
        self.loaded: dict[str, str] = {}  # slot -> the variable it was first loaded into
        self.current: dict[str, Value] = {}  # slot -> its latest value in this block
        self.current_pc: Value | None = None
        self.computed: dict[str, str] = {}  # pure code -> the variable holding it
        self.ites: dict[str, tuple[Value, Value, Value]] = {}  # variable -> (cond, then, else)
        self.count = 0
        self.register_index = {r.name: i for i, r in enumerate(machine.registers)}
        self.mode_index = len(machine.registers)

    def emit(self, code: str, pure: bool = True) -> Value:
        """A new variable holding `code`; pure code already computed reuses its variable."""
        if pure and code in self.computed:
            return self.computed[code]
        self.count += 1
        name = f"t{self.count}"
        self.lines.append(f"{name} = {code}")
        if pure:
            self.computed[code] = name
        return name

    def value(self, template: str, **parts: object) -> Value:
        code = template.format(**parts)
        if not any(isinstance(v, str) for k, v in parts.items() if k in ("a", "b", "c", "t", "e")):
            return _fold(code)
        return self.emit(code)

    # ------------------------------------------------------------ Domain
    def const(self, value: int, width: int) -> Value:
        return value & mask(width)

    def truth(self, condition: Value) -> bool | None:
        return bool(condition) if isinstance(condition, int) else None

    def unary(self, op: str, value: Value, width: int) -> Value:
        return self.value(UNARY[op], a=value, m=mask(width))

    def binary(self, op: str, left: Value, right: Value, width: int) -> Value:
        if op == "&&":
            if left == 0 or right == 0:
                return 0
            if left == 1 or left == right:
                return right
            if right == 1:
                return left
        elif op == "||":
            if left == 1 or right == 1:
                return 1
            if left == 0 or left == right:
                return right
            if right == 0:
                return left
        return self.value(BINARY[op], a=left, b=right, w=width, m=mask(width),
                          s=1 << (width - 1))

    def ite(self, condition: Value, then: Value, otherwise: Value, width: int) -> Value:
        if isinstance(condition, int):
            return then if condition else otherwise
        if then == otherwise:
            return then
        if then == 1 and otherwise == 0 and width == 1:
            return condition
        # ite(c, ite(c, a, b), ite(c, x, y)) is ite(c, a, y): branches merge many times.
        if then in self.ites and self.ites[then][0] == condition:
            then = self.ites[then][1]
        if otherwise in self.ites and self.ites[otherwise][0] == condition:
            otherwise = self.ites[otherwise][2]
        if then == otherwise:
            return then
        name = self.emit(ITE.format(c=condition, t=then, e=otherwise))
        assert isinstance(name, str)
        self.ites[name] = (condition, then, otherwise)
        return name

    def extract(self, value: Value, hi: int, lo: int, width: int) -> Value:
        if lo == 0 and hi == width - 1:
            return value
        return self.value(EXTRACT if lo else EXTRACT_LOW, a=value, lo=lo, m=mask(hi - lo + 1))

    def zext(self, value: Value, width: int, to: int) -> Value:
        return value

    def sext(self, value: Value, width: int, to: int) -> Value:
        return self.value(SEXT, a=value, s=1 << (width - 1), m=mask(to))

    def concat(self, parts: list[tuple[Value, int]]) -> Value:
        shift = 0
        terms: list[str] = []
        known = 0
        for value, width in reversed(parts):
            if isinstance(value, int):
                known |= value << shift
            else:
                terms.append(f"({value} << {shift})" if shift else value)
            shift += width
        if not terms:
            return known
        return self.emit(" | ".join(terms + ([str(known)] if known else [])))

    def insert(self, old: Value, width: int, lo: int, value: Value, value_width: int) -> Value:
        keep = mask(width) ^ (mask(value_width) << lo)
        return self.value(INSERT, a=old, b=value, lo=lo, keep=keep)

    def register(self, name: str, width: int) -> Value:
        return self.load_slot(f"r[{self.register_index[name]}]")

    def mode(self, width: int) -> Value:
        return self.load_slot(f"r[{self.mode_index}]")

    def pc(self, width: int) -> Value:
        if self.current_pc is not None:
            return self.current_pc
        return self.load_slot(f"r[{self.register_index[self.machine.pc]}]")

    def load_slot(self, slot: str) -> Value:
        if slot in self.current:
            return self.current[slot]
        if slot not in self.loaded:
            self.loaded[slot] = str(self.emit(slot, pure=False))
        return self.loaded[slot]

    def take_lines(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    def write_back(self, pc_slot: int, pc: Value) -> list[str]:
        """Lines storing every register changed so far in the block, and the pc."""
        lines = [f"{slot} = {value}" for slot, value in self.current.items()
                 if value != self.loaded.get(slot) and slot != f"r[{pc_slot}]"]
        return [*lines, f"r[{pc_slot}] = {pc}"]

    def operand(self, index: int, width: int) -> Value:
        return self.operands[index] & mask(width)

    def memory(self) -> Memory:
        return ()

    def load(self, memory: Memory, address: Value, address_width: int, width: int) -> Value:
        size = self.machine.memory.size
        if isinstance(address, int):
            value: Value = self.emit(f"E[{address}]", pure=False) if address < size else 0
        else:
            value = self.emit(f"(E[{address}] if {address} < {size} else 0)", pure=False)
        for guard, written_at, written in memory:
            hit = self.binary("&&", guard, self.binary("==", address, written_at, address_width), 1)
            value = self.ite(hit, written, value, width)
        return value

    def store(self, memory: Memory, guard: Value, address: Value, address_width: int, value: Value,
              width: int) -> Memory:
        return (*memory, (guard, address, value))


class Stop(enum.IntEnum):
    """Why compiled code returned: it ran out of block, halted, or trapped."""

    CONTINUE = 0
    HALTED = 1
    TRAPPED = 2


CompiledBlock = Callable[..., tuple[int, Stop, int]]
"""`block(r, E, W, L, G, budget) -> (steps, stop, cause)`: run a straight-line run of
instructions.

`r` holds the registers then the mode; `E` is memory; `W` maps each memory word that
holds compiled code to a function that forgets that code; `L`, when not None, receives
`(address, old, new)` for every memory write (the trace); `G` is the access guard of
guarded code (see `AccessGuard`), unused otherwise.  `steps` counts the instructions
executed, the trapping one included; `cause` is the trap cause's index when `stop` is
TRAPPED.  A block whose last instruction jumps back to its start runs again, in the same
call, while at least a whole block's worth of `budget` steps is left."""

CompiledInstruction = Callable[..., tuple[Stop, int]]
"""`step(r, E, W, L) -> (stop, cause)`: one instruction, as a `CompiledBlock` runs it."""


class AccessGuard(Protocol):
    """What guarded code checks every physical access against: the window [lo, hi) a
    guest may touch, minus the words in `holes`; an access outside it is reported with
    `violation(address, write, pc)`, and then happens as the hardware does it."""

    lo: int
    hi: int
    holes: frozenset[int]

    def violation(self, address: int, write: bool, pc: int) -> None: ...


@attrs.frozen
class BlockInstruction:
    """One instruction of a block: what it is, its operands, and where it starts."""

    instruction: ir.Instruction
    operands: tuple[int, ...]
    offset: int  # words from the start of the block


def ends_block(machine: ir.Machine, instruction: ir.Instruction, operands: tuple[int, ...]) -> bool:
    """Whether straight-line execution may stop after this instruction: it may jump, halt,
    or move the relocation window (which changes where the next fetch goes)."""
    domain = PythonDomain(machine, operands)
    outcome = Evaluator(machine, domain).run(instruction)
    return (outcome.pc_written != 0 or outcome.halted != 0
            or (machine.relocation is not None and machine.relocation in outcome.written))


class _Emitter:
    """Lines of Python source, indented by `indent()` blocks."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.level = 0

    def line(self, text: str) -> None:
        self.lines.append((self.level, text))

    def extend(self, texts: list[str]) -> None:
        for text in texts:
            self.line(text)

    @contextlib.contextmanager
    def indent(self) -> Iterator[None]:
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    def source(self, base: int) -> str:
        kept = _without_dead_temporaries(self.lines)
        return "\n".join("    " * (base + level) + text for level, text in kept) + "\n"


class _BlockCompiler:
    """Generates the Python function for one block of instructions.

    Registers stay in local variables between the instructions and are written back at
    the end, or before an early return: a trap (the trapping instruction commits nothing)
    or a write to compiled code (the rest of the block may be stale).  The block repeats
    while its last instruction jumps back to its start (a tight loop runs without
    returning to the emulator).  Guarded code checks each access of an instruction that
    does not trap against the guard `G` before its stores happen.
    """

    def __init__(self, machine: ir.Machine, guarded: bool) -> None:
        self.machine = machine
        self.guarded = guarded
        self.domain = PythonDomain(machine, ())
        self.evaluator = Evaluator(machine, self.domain)
        self.pc_slot = self.domain.register_index[machine.pc]
        self.out = _Emitter()

    def compile(self, block: list[BlockInstruction]) -> CompiledBlock:
        domain = self.domain
        start_pc = domain.load_slot(f"r[{self.pc_slot}]")
        for count, item in enumerate(block, start=1):
            domain.operands = item.operands
            domain.current_pc = domain.binary("+", start_pc, item.offset, self.evaluator.pc_width) \
                if item.offset else start_pc
            outcome = self.evaluator.run(item.instruction)
            self.out.extend(domain.take_lines())
            self.trap_exit(outcome, count)
            for name in outcome.written:
                domain.current[f"r[{domain.register_index[name]}]"] = outcome.registers[name]
            if outcome.mode is not None:
                domain.current[f"r[{domain.mode_index}]"] = outcome.mode
            if self.guarded:
                self.guard_checks(outcome)
            self.stores(outcome, count)
            if count == len(block):
                self.block_end(outcome, count, start_pc)
        return self.function(block)

    def trap_exit(self, outcome: Outcome[Value, Memory], count: int) -> None:
        if outcome.trapped == 0:
            return
        self.out.line(f"if {outcome.trapped}:")
        with self.out.indent():
            self.out.extend(self.domain.write_back(self.pc_slot, self.domain.current_pc or 0))
            self.out.line(f"return (n + {count}, {int(Stop.TRAPPED)}, {outcome.cause})")

    def guard_checks(self, outcome: Outcome[Value, Memory]) -> None:
        """Report every access outside the guard's window (the instruction did not trap)."""
        pc = self.domain.current_pc
        accesses = [(when, address, False) for when, address in outcome.reads]
        accesses += [(when, address, True) for when, address, _ in outcome.memory]
        for when, address, write in accesses:
            if when == 0:
                continue
            outside = f"not glo <= {address} < ghi or {address} in gholes"
            self.out.line(f"if {outside}:" if when == 1 else f"if {when} and ({outside}):")
            with self.out.indent():
                self.out.line(f"G.violation({address}, {write}, {pc})")

    def stores(self, outcome: Outcome[Value, Memory], count: int) -> None:
        """All of the instruction's stores happen; then, if one hit compiled code, the code
        it hit is forgotten and the block ends (what follows may be stale)."""
        hits = []
        for guard, address, value in outcome.memory:
            if guard == 0:
                continue
            store = [f"if L is not None: L.append(({address}, E[{address}], {value}))",
                     f"E[{address}] = {value}"]
            hit = f"{address} in W"
            if guard == 1:
                self.out.extend(store)
            else:
                self.out.line(f"if {guard}:")
                with self.out.indent():
                    self.out.extend(store)
                hit = f"({guard} and {hit})"
            hits.append((hit, address))
        if not hits:
            return
        self.out.line("if " + " or ".join(hit for hit, _ in hits) + ":")
        with self.out.indent():
            for hit, address in hits:
                self.out.line(f"if {hit}: W[{address}]({address})")
            self.out.extend(self.domain.write_back(self.pc_slot, outcome.next_pc))
            self.out.line(f"return (n + {count}, {int(Stop.CONTINUE)}, 0)")

    def block_end(self, outcome: Outcome[Value, Memory], count: int, start_pc: Value) -> None:
        self.out.extend(self.domain.write_back(self.pc_slot, outcome.next_pc))
        if outcome.halted != 0:
            self.out.line(f"if {outcome.halted}: return (n + {count}, {int(Stop.HALTED)}, 0)")
        self.out.line(f"n += {count}")
        if self.machine.relocation in outcome.written:  # the next fetch may go elsewhere
            self.out.line(f"return (n, {int(Stop.CONTINUE)}, 0)")
        else:
            self.out.line(f"if n + {count} > budget or {outcome.next_pc} != {start_pc}: "
                          f"return (n, {int(Stop.CONTINUE)}, 0)")

    def function(self, block: list[BlockInstruction]) -> CompiledBlock:
        head = "def block(r, E, W, L, G, budget):\n    n = 0\n"
        if self.guarded:
            head += "    glo, ghi, gholes = G.lo, G.hi, G.holes\n"
        source = head + "    while True:\n" + self.out.source(2)
        names = " ".join(item.instruction.name for item in block)
        namespace: dict[str, object] = {}
        try:
            exec(compile(source, f"<vdsl {names}>", "exec"), namespace)  # noqa: S102
        except SyntaxError as error:  # pragma: no cover - a bug in code generation
            raise InternalError(f"generated code for {names} does not compile: {error}\n{source}") from error
        function = namespace["block"]
        function.source = source  # type: ignore[attr-defined]
        return function  # type: ignore[return-value]


def compile_block(machine: ir.Machine, block: list[BlockInstruction], guarded: bool = False) -> CompiledBlock:
    """One Python function running a straight-line run of instructions (see `_BlockCompiler`)."""
    return _BlockCompiler(machine, guarded).compile(block)


def compile_instruction(machine: ir.Machine, instruction: ir.Instruction,
                        operands: tuple[int, ...]) -> CompiledInstruction:
    """A Python function that executes `instruction` with these operand values."""
    block = compile_block(machine, [BlockInstruction(instruction, operands, 0)])

    def step(r: list[int], E: list[int], W: dict[int, Callable[[int], None]],
             L: list[tuple[int, int, int]] | None) -> tuple[Stop, int]:
        _, stop, cause = block(r, E, W, L, None, 1)
        return Stop(stop), cause

    step.source = block.source  # type: ignore[attr-defined]
    return step


_TEMPORARY = re.compile(r"\bt\d+\b")


def _without_dead_temporaries(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Drop `tN = ...` lines whose value nothing uses (loads the folding made useless)."""
    used: set[str] = set()
    kept: list[tuple[int, str]] = []
    for level, line in reversed(lines):
        target, _, code = line.partition(" = ")
        if _TEMPORARY.fullmatch(target):
            if target not in used:
                continue
            used.update(_TEMPORARY.findall(code))
        else:
            used.update(_TEMPORARY.findall(line))
        kept.append((level, line))
    return kept[::-1]
