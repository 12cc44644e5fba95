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
from typing import Any, Protocol

import attrs

from vdsl.errors import InternalError
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import EXTRACT, EXTRACT_LOW, INSERT, extract_code, mask
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
        if len(hits) == 1:  # one store: its own test is the whole test
            hit, address = hits[0]
            self.out.line(f"if {hit}:")
            with self.out.indent():
                self.out.line(f"W[{address}]({address})")
        else:
            self.out.line("if " + " or ".join(hit for hit, _ in hits) + ":")
        with self.out.indent():
            if len(hits) > 1:
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
        return _define(source, "block", names)  # type: ignore[return-value]


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


def _balanced(code: str) -> bool:
    """Whether the parentheses of `code` pair up (it is one expression, not the middle of two)."""
    depth = 0
    for char in code:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


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


# ---------------------------------------------------------------- regions

@attrs.frozen
class RegionContext:
    """What a region is specialised on: the pc it starts at, the mode, and the relocation
    register's value (None: the machine relocates nothing).  Inside the region all three are
    constants, so privilege checks and relocation (bounds and base) fold away at compile time;
    the emulator looks regions up by this key, so entering a region *is* its guard."""

    pc: int
    mode: int
    relocation: int | None


RegionFetch = Callable[[int], "tuple[BlockInstruction, int] | None"]
"""`fetch(pc)`: the instruction at `pc` in the region's context and the physical address it
starts at, or None when fetching it would fault (outside the bound or memory, an illegal word,
an exit): the region then ends before it, and the emulator takes the fault."""


@attrs.frozen(slots=False)
class Region:
    """Compiled code for the blocks reachable from one pc in one context by constant jumps.

    `run` is a `CompiledBlock`; `first` the instructions of its entry block (a call needs at
    least that much budget); `words` the physical words of its code (a write to one forgets
    the region); `accesses` the constant physical addresses it may read or write, which
    guarded code checks once on entry instead of on every access; `stores` the constant ones it
    may write, which must hold no compiled code on entry (compiled code is watched between
    calls, never during one), so the region tests only computed addresses against `W`."""

    run: CompiledBlock
    context: RegionContext
    first: int
    words: frozenset[int]
    accesses: frozenset[int]
    blocks: int
    stores: frozenset[int] = frozenset()

    @functools.cached_property
    def span(self) -> tuple[int, int]:
        """The lowest and one past the highest word of its code and constant accesses."""
        touched = self.words | self.accesses
        return min(touched), max(touched) + 1


class _RegionDomain(PythonDomain):
    """`PythonDomain` that also follows the fields of packed registers: a value built by
    field inserts remembers its fields, so reading a field back costs nothing, and a
    register whose fields live in locals is only packed when something reads it whole."""

    def __init__(self, machine: ir.Machine) -> None:
        super().__init__(machine, ())
        # packed value -> (the bits outside every field, {field lo: (width, value)})
        self.parts: dict[str, tuple[Value, dict[int, tuple[int, Value]]]] = {}

    def reset(self) -> None:
        """Forget what the previous block computed: its temporaries are not defined here
        (`parts` stays: a temporary's name is unique in the region, and exits are rendered
        from it once every block is compiled)."""
        self.computed.clear()
        self.ites.clear()
        self.current.clear()
        self.loaded.clear()

    def packed(self, rest: Value, fields: dict[int, tuple[int, Value]]) -> Value:
        terms = [(value, lo) for lo, (_, value) in sorted(fields.items())]
        if all(isinstance(v, int) for v, _ in terms) and isinstance(rest, int):
            return rest | sum(int(v) << lo for v, lo in terms)
        code = " | ".join([str(rest)] + [f"({v} << {lo})" if lo else str(v) for v, lo in terms])
        name = self.emit(code)
        assert isinstance(name, str)
        self.parts[name] = (rest, dict(fields))
        return name

    def pack_code(self, value: Value) -> str:
        """Source of a packed register's whole value, without a temporary."""
        if isinstance(value, str) and value in self.parts:
            rest, fields = self.parts[value]
            return " | ".join([str(rest)] + [f"({v} << {lo})" if lo else str(v)
                                             for lo, (_, v) in sorted(fields.items())])
        return str(value)

    def field_code(self, value: Value, lo: int, width: int) -> Value:
        """The field at bit `lo` of a register value: from its parts when it has them."""
        if isinstance(value, str) and value in self.parts:
            found = self.parts[value][1].get(lo)
            if found is not None and found[0] == width:
                return found[1]
        return self.value(EXTRACT if lo else EXTRACT_LOW, a=value, lo=lo, m=mask(width))

    def extract(self, value: Value, hi: int, lo: int, width: int) -> Value:
        if isinstance(value, str) and value in self.parts:
            found = self.parts[value][1].get(lo)
            if found is not None and found[0] == hi - lo + 1:
                return found[1]
        return super().extract(value, hi, lo, width)

    def insert(self, old: Value, width: int, lo: int, value: Value, value_width: int) -> Value:
        if isinstance(old, str) and old in self.parts:
            rest, fields = self.parts[old]
            if fields.get(lo, (None,))[0] == value_width:
                return self.packed(rest, {**fields, lo: (value_width, value)})
        return super().insert(old, width, lo, value, value_width)

    def ite(self, condition: Value, then: Value, otherwise: Value, width: int) -> Value:
        if isinstance(condition, str) and isinstance(then, str) and isinstance(otherwise, str) \
                and then in self.parts and otherwise in self.parts and then != otherwise:
            (rest_a, a), (rest_b, b) = self.parts[then], self.parts[otherwise]
            if a.keys() == b.keys() and all(a[lo][0] == b[lo][0] for lo in a):
                return self.packed(self.ite(condition, rest_a, rest_b, width),
                                   {lo: (a[lo][0], self.ite(condition, a[lo][1], b[lo][1], a[lo][0]))
                                    for lo in a})
        return super().ite(condition, then, otherwise, width)


@attrs.frozen
class _Exit:
    """A return from a region, rendered once the region knows every register it writes."""

    values: dict[int, Value]  # slot -> its value at the exit
    pc: Value
    done: int  # instructions of this pass of the block that count (the trapping one included)
    stop: Stop
    cause: Value = 0
    advanced: bool = False  # after the block's end: `n` counts the pass already (see `_Advance`)


@attrs.frozen
class _Goto:
    """A jump to another block of the region, rendered once the blocks' order is known."""

    source: int  # the pc of the block jumping
    target: int


@attrs.frozen
class _Assign:
    """A block's end: its registers' values into their locals (one parallel assignment)."""

    targets: tuple[str, ...]
    values: tuple[str, ...]


@attrs.frozen
class _Advance:
    """A block's end: `n` counts the pass (a block that loops in place counts its passes)."""

    count: int


_Line = tuple[int, "str | _Exit | _Goto | _Assign | _Advance"]


class _RegionCompiler:
    """Generates one Python function for a region (see `compile_region`).

    Every register lives in a local for the whole call (`v3`; a register with fields as one
    local per field and one for the other bits, `v2_1`, `v2_r`), loaded on entry and written
    back once at each exit: a trap (before the trapping instruction commits), a halt, a write
    to compiled code, a jump out of the region, or the budget running out.  The blocks are an
    if-chain on a block number inside one loop; a block that jumps to itself loops in place.
    """

    def __init__(self, machine: ir.Machine, context: RegionContext, fetch: RegionFetch, guarded: bool,
                 max_blocks: int, max_block: int) -> None:
        self.machine = machine
        self.context = context
        self.fetch = fetch
        self.guarded = guarded
        self.max_blocks = max_blocks
        self.max_block = max_block
        self.domain = _RegionDomain(machine)
        self.evaluator = Evaluator(machine, self.domain)
        index = self.domain.register_index
        self.pc_slot = index[machine.pc]
        self.mode_slot = self.domain.mode_index
        self.constants: dict[int, int] = {self.mode_slot: context.mode}
        if machine.relocation is not None:
            assert context.relocation is not None
            self.constants[index[machine.relocation]] = context.relocation
        # registers kept as one local per field (and one for the other bits)
        self.split: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        for slot, reg in enumerate(machine.registers):
            if reg.fields and slot not in self.constants and slot != self.pc_slot:
                fields = [(f.lo, f.width) for f in reg.fields]
                rest = mask(reg.width)
                for lo, width in fields:
                    rest &= ~(mask(width) << lo)
                self.split[slot] = (rest, fields)
        self.written: set[int] = set()
        self.words: set[int] = set()
        self.accesses: set[int] = set()
        self.stored: set[int] = set()  # constant physical addresses stored to
        self.order: list[int] = []  # block pcs, in the order they were found
        self.code: dict[int, list[_Line]] = {}
        self.counts: dict[int, int] = {}
        self.self_loops: set[int] = set()

    # ------------------------------------------------------------ canonical locals
    def canonical(self, slot: int) -> None:
        """Make the domain see every register as its local (the state at a block's start)."""
        d = self.domain
        if slot in self.constants:
            d.current[f"r[{slot}]"] = self.constants[slot]
        elif slot in self.split:
            rest, fields = self.split[slot]
            d.current[f"r[{slot}]"] = d.packed(f"v{slot}_r" if rest else 0,
                                               {lo: (w, f"v{slot}_{lo}") for lo, w in fields})
        elif slot != self.pc_slot:
            d.current[f"r[{slot}]"] = f"v{slot}"

    def assignments(self) -> list[str | _Assign]:
        """Lines storing each register's current value into its local (a block's end)."""
        d = self.domain
        targets: list[str] = []
        values: list[str] = []
        for slot in sorted(self.written):
            value = d.current[f"r[{slot}]"]
            if slot in self.split:
                rest, fields = self.split[slot]
                pairs = [(f"v{slot}_{lo}", d.field_code(value, lo, w)) for lo, w in fields]
                if rest:
                    rest_value = d.parts[value][0] if isinstance(value, str) and value in d.parts \
                        else d.value("{a} & {m}", a=value, m=rest)
                    pairs.append((f"v{slot}_r", rest_value))
            else:
                pairs = [(f"v{slot}", value)]
            for target, code in pairs:
                if str(code) != target:
                    targets.append(target)
                    values.append(str(code))
        lines: list[str | _Assign] = [*d.take_lines()]  # fields extracted from whole values
        if targets:
            lines.append(_Assign(tuple(targets), tuple(values)))
        return lines

    def snapshot(self) -> dict[int, Value]:
        d = self.domain
        return {slot: d.current[f"r[{slot}]"] for slot in range(len(self.machine.registers) + 1)
                if slot != self.pc_slot}

    def render_exit(self, exit: _Exit, passes: str = "") -> list[str]:
        """`passes`: in a block that loops in place, the passes done before this one."""
        lines = []
        for slot, value in exit.values.items():
            if slot in self.constants:
                if value != self.constants[slot]:
                    lines.append(f"r[{slot}] = {value}")
            elif slot in self.written:
                lines.append(f"r[{slot}] = {self.domain.pack_code(value)}")
        lines.append(f"r[{self.pc_slot}] = {exit.pc}")
        if exit.advanced and not passes:
            steps = "n"
        else:
            steps = f"n + {passes}{exit.done}" if exit.done else f"n{' + ' + passes[:-3] if passes else ''}"
        lines.append(f"return ({steps}, {int(exit.stop)}, {exit.cause})")
        return lines

    # ------------------------------------------------------------ blocks
    def compile(self) -> Region:
        self.queue(self.context.pc)
        index = 0
        while index < len(self.order):
            self.block(self.order[index])
            index += 1
        return self.function()

    def queue(self, pc: int) -> bool:
        """Whether the block at `pc` is (now) part of the region."""
        if pc in self.code or pc in self.order:
            return True
        if len(self.order) >= self.max_blocks or self.fetch(pc) is None:
            return False
        self.order.append(pc)
        return True

    def block(self, start: int) -> None:
        d = self.domain
        out: list[_Line] = []
        self.code[start] = out
        d.reset()
        for slot in range(len(self.machine.registers) + 1):
            self.canonical(slot)
        level = 0
        pc = start
        count = 0
        visited: set[int] = set()
        while True:
            fetched = self.fetch(pc)
            assert fetched is not None
            item, address = fetched
            count += 1
            self.words.update(range(address, address + item.instruction.size))
            d.operands = item.operands
            d.current_pc = pc
            outcome = self.evaluator.run(item.instruction)
            out.extend((level, line) for line in d.take_lines())
            if outcome.trapped != 0:
                trap = _Exit(self.snapshot(), pc, count, Stop.TRAPPED, outcome.cause)
                if outcome.trapped == 1:
                    out.append((level, trap))
                    break
                out.append((level, f"if {outcome.trapped}:"))
                out.append((level + 1, trap))
            for name in outcome.written:
                slot = d.register_index[name]
                d.current[f"r[{slot}]"] = outcome.registers[name]
                if slot != self.pc_slot and slot not in self.constants:
                    self.written.add(slot)
            if outcome.mode is not None:
                d.current[f"r[{self.mode_slot}]"] = outcome.mode
            if self.guarded:
                out.extend((level, line) for line in self.guard_checks(outcome, pc))
            next_pc = outcome.next_pc
            out.extend(self.stores(outcome, level, count, next_pc))
            out.extend((level, line) for line in d.take_lines())
            context_changed = any(d.current[f"r[{slot}]"] != value for slot, value in self.constants.items())
            if outcome.halted != 0:
                halt = _Exit(self.snapshot(), next_pc, count, Stop.HALTED)
                if outcome.halted == 1:
                    out.append((level, halt))
                    break
                out.append((level, f"if {outcome.halted}:"))
                out.append((level + 1, halt))
            if context_changed:
                out.append((level, _Exit(self.snapshot(), next_pc, count, Stop.CONTINUE)))
                break
            # straight on, and through constant jumps (a trace), while the code is new to the block
            visited.add(pc)
            if isinstance(next_pc, int) and next_pc not in visited and count < self.max_block \
                    and self.fetch(next_pc) is not None:
                pc = next_pc
                continue
            self.successors(start, next_pc, out, level, count)
            break
        self.counts[start] = count

    def successors(self, start: int, next_pc: Value, out: list[_Line], level: int, count: int) -> None:
        """The block's end: its registers into their locals, then a jump to the next block (or
        to one of two, on a branch); a computed jump leaves the region."""
        d = self.domain
        branch = d.ites.get(next_pc) if isinstance(next_pc, str) else None
        if not isinstance(next_pc, int) and (branch is None or not isinstance(branch[1], int)
                                             or not isinstance(branch[2], int)):
            out.append((level, _Exit(self.snapshot(), next_pc, count, Stop.CONTINUE)))
            return
        condition = branch[0] if branch is not None else 0
        if isinstance(condition, str) and not _TEMPORARY.fullmatch(condition):
            condition = d.emit(condition, pure=False)  # a local the assignments may change
        out.extend((level, line) for line in d.take_lines())
        out.extend((level, line) for line in self.assignments())
        out.append((level, _Advance(count)))
        if isinstance(next_pc, int):
            out.append((level, self.goto(start, next_pc, count)))
        else:
            assert branch is not None
            out.append((level, f"if {condition}:"))
            out.append((level + 1, self.goto(start, int(branch[1]), count)))
            out.append((level, "else:"))
            out.append((level + 1, self.goto(start, int(branch[2]), count)))

    def goto(self, start: int, target: int, count: int) -> _Goto | _Exit:
        if self.queue(target):
            if target == start:
                self.self_loops.add(start)
            return _Goto(start, target)
        return _Exit({slot: self.canonical_value_at_start(slot) for slot in self.snapshot()}, target, count,
                     Stop.CONTINUE, advanced=True)

    def guard_checks(self, outcome: Outcome[Value, Memory], pc: int) -> list[str]:
        """Check each access at a computed address against the guard; constant addresses are
        checked once, on entry to the region (see `Region.accesses`)."""
        lines = []
        accesses = [(when, address, False) for when, address in outcome.reads]
        accesses += [(when, address, True) for when, address, _ in outcome.memory]
        for when, address, write in accesses:
            if when == 0:
                continue
            if isinstance(address, int):
                self.accesses.add(address)
                continue
            outside = f"not glo <= {address} < ghi or {address} in gholes"
            lines.append(f"if {outside}:" if when == 1 else f"if {when} and ({outside}):")
            lines.append(f"    G.violation({address}, {write}, {pc})")
        return lines

    def stores(self, outcome: Outcome[Value, Memory], level: int, count: int, next_pc: Value) -> list[_Line]:
        """The instruction's stores; then, if one hit compiled code, the code it hit is
        forgotten and the region returns (what follows may be stale)."""
        out: list[_Line] = []
        hits = []
        for guard, address, value in outcome.memory:
            if guard == 0:
                continue
            if guard == 1:
                out.append((level, f"E[{address}] = {value}"))
            else:
                out.append((level, f"if {guard}:"))
                out.append((level + 1, f"E[{address}] = {value}"))
            if isinstance(address, int):
                # compiled code is only watched between calls: the emulator checks on entry
                self.stored.add(address)
            else:
                hits.append((f"{address} in W" if guard == 1 else f"{guard} and {address} in W", address))
        if not hits:
            return out
        after = _Exit(self.snapshot(), next_pc, count, Stop.CONTINUE)
        if len(hits) == 1:
            hit, address = hits[0]
            out.append((level, f"if {hit}:"))
            out.append((level + 1, f"W[{address}]({address})"))
        else:
            out.append((level, "if " + " or ".join(f"({hit})" for hit, _ in hits) + ":"))
            for hit, address in hits:
                out.append((level + 1, f"if {hit}: W[{address}]({address})"))
        out.append((level + 1, after))
        return out

    # ------------------------------------------------------------ the function
    def function(self) -> Region:
        blocks = sorted(self.order)
        number = {pc: i for i, pc in enumerate(blocks)}
        body: list[tuple[int, str]] = []
        limits = sorted({self.counts[pc] for pc in blocks if pc not in self.self_loops})
        for pc in blocks:
            body.append((0, f"if b == {number[pc]}:  # pc {pc}"))
            body.extend((level + 1, line) for level, line in self.render_block(pc, number))
        text = "\n".join(line for _, line in body)
        loads = []
        for slot in range(len(self.machine.registers)):
            if slot in self.split:
                rest, fields = self.split[slot]
                for lo, width in fields:
                    if re.search(rf"\bv{slot}_{lo}\b", text):
                        loads.append(f"v{slot}_{lo} = {extract_code(f'r[{slot}]', lo, width)}")
                if rest and re.search(rf"\bv{slot}_r\b", text):
                    loads.append(f"v{slot}_r = r[{slot}] & {rest}")
            elif re.search(rf"\bv{slot}\b", text):
                loads.append(f"v{slot} = r[{slot}]")
        head = ["n = 0", *(f"lim{k} = budget - {k}" for k in limits), *loads]
        if self.guarded:
            head.append("glo, ghi, gholes = G.lo, G.hi, G.holes")
        head.append(f"b = {number[self.context.pc]}")
        lines = [(0, line) for line in head] + [(0, "while True:")] + [(level + 1, t) for level, t in body]
        kept = _without_dead_temporaries(lines)
        source = "def region(r, E, W, L, G, budget):\n" + "".join(
            "    " * (level + 1) + text + "\n" for level, text in kept)
        function = _define(source, "region", f"region at {self.context.pc}")
        return Region(function, self.context, self.counts[self.context.pc],  # type: ignore[arg-type]
                      frozenset(self.words), frozenset(self.accesses), len(blocks), frozenset(self.stored))

    def render_block(self, pc: int, number: dict[int, int]) -> list[tuple[int, str]]:
        """A block's source.  A block that jumps to itself runs as a `for` loop over the passes
        the budget allows (`for ... else` is the budget running out); the others check the
        budget once, on entry."""
        me, count = number[pc], self.counts[pc]
        looped = pc in self.self_loops
        start = _Exit({slot: self.canonical_value_at_start(slot) for slot in self.snapshot()}, pc, 0,
                      Stop.CONTINUE)
        out: list[tuple[int, str]] = []
        passes = f"{count} * i + " if looped else ""
        base = 1 if looped else 0
        if looped:
            out.append((0, f"m = (budget - n) // {count}"))
            out.append((0, "for i in range(m):"))
        else:
            out.append((0, f"if n > lim{count}:"))
            out.extend((1, line) for line in self.render_exit(start))
        lines = self.propagated(self.code[pc], passes)
        backward = False
        for level, line in lines:
            level += base
            if isinstance(line, _Exit):
                out.extend((level, text) for text in self.render_exit(line, passes))
            elif isinstance(line, _Advance):
                if not looped:
                    out.append((level, f"n += {line.count}"))
            elif isinstance(line, _Goto):
                if looped and line.target == pc:
                    out.append((level, "continue"))
                elif looped:
                    out.append((level, f"n += {count} * (i + 1)"))
                    out.append((level, f"b = {number[line.target]}"))
                    out.append((level, "break"))
                    backward |= number[line.target] < me
                else:
                    out.append((level, f"b = {number[line.target]}"))
                    if number[line.target] <= me:
                        out.append((level, "continue"))
            else:
                assert isinstance(line, str)
                out.append((level, line))
        if looped:
            out.append((0, "else:"))
            out.extend((1, line) for line in self.render_exit(start, f"{count} * m + "))
            if backward:
                out.append((0, f"if b < {me}: continue"))
        return out

    def propagated(self, code: list[_Line], passes: str) -> list[tuple[int, str | _Exit | _Goto | _Advance]]:
        """The block with exits rendered (to text, so that a renaming reaches the fields a packed
        register is written back from), a temporary that only goes into a local computed into
        the local directly (no parallel assignment at the end), and a branch on a comparison
        `(1 if c else 0)` made a branch on `c`."""
        lines: list[tuple[int, str | _Exit | _Goto | _Assign | _Advance]] = []
        for level, line in code:
            if isinstance(line, _Exit):
                lines.extend((level, text) for text in self.render_exit(line, passes))
            else:
                lines.append((level, line))
        texts = [self.line_text(line) for _, line in lines]
        assign_at = next((i for i, (_, line) in enumerate(lines) if isinstance(line, _Assign)), None)
        if assign_at is not None:
            assign = lines[assign_at][1]
            assert isinstance(assign, _Assign)
            targets, values = list(assign.targets), list(assign.values)
            for pair in range(len(targets) - 1, -1, -1):
                target, value = targets[pair], values[pair]
                if not _TEMPORARY.fullmatch(value) or values.count(value) != 1:
                    continue
                defined = next((i for i, (level, line) in enumerate(lines[:assign_at]) if level == 0
                                and isinstance(line, str) and line.startswith(f"{value} = ")), None)
                if defined is None:
                    continue
                uses = re.compile(rf"\b{target}\b")
                others = [v for j, v in enumerate(values) if j != pair]
                if any(uses.search(text) for text in texts[defined + 1:]) \
                        or any(uses.search(v) for v in others):
                    continue
                rename = re.compile(rf"\b{value}\b")
                for i in range(defined, len(lines)):
                    line = lines[i][1]
                    if isinstance(line, str):
                        lines[i] = (lines[i][0], rename.sub(target, line))
                        texts[i] = self.line_text(lines[i][1])
                del targets[pair], values[pair]
            lines[assign_at] = (lines[assign_at][0], _Assign(tuple(targets), tuple(values)))
        result: list[tuple[int, str | _Exit | _Goto | _Advance]] = []
        for i, (level, line) in enumerate(lines):
            if isinstance(line, _Assign):
                if len(line.targets) == 1:
                    result.append((level, f"{line.targets[0]} = {line.values[0]}"))
                elif line.targets:
                    result.append((level, f"{', '.join(line.targets)} = {', '.join(line.values)}"))
            elif isinstance(line, str) and line.startswith("if ") and line.endswith(":") \
                    and _TEMPORARY.fullmatch(line[3:-1]):
                result.append((level, self.inlined_condition(lines, i, line[3:-1])))
            else:
                result.append((level, line))
        return result

    def inlined_condition(self, lines: list[tuple[int, str | _Exit | _Goto | _Assign | _Advance]], at: int,
                          name: str) -> str:
        """`if c:` for `if tN:` where `tN = (1 if c else 0)`, when nothing `c` reads changes in between."""
        for i in range(at - 1, -1, -1):
            line = lines[i][1]
            if isinstance(line, str) and line.startswith(f"{name} = "):
                code = line[len(name) + 3:]
                match = re.fullmatch(r"\(1 if (.*) else 0\)", code)
                if match is None:
                    return f"if {name}:"
                condition = match.group(1)
                if not _balanced(condition):  # `(1 if a else 0) | (1 if b else 0)` is no comparison
                    return f"if {name}:"
                read = set(re.findall(r"\b[tv]\w+\b", condition))
                for later in lines[i + 1:at]:
                    text = later[1]
                    assigned: set[str] = set()
                    if isinstance(text, _Assign):
                        assigned = set(text.targets)
                    elif isinstance(text, str) and " = " in text:
                        assigned = {t.strip() for t in text.partition(" = ")[0].split(",")}
                    if assigned & read:
                        return f"if {name}:"
                return f"if {condition}:"
        return f"if {name}:"

    def line_text(self, line: str | _Exit | _Goto | _Assign | _Advance) -> str:
        if isinstance(line, str):
            return line
        if isinstance(line, _Exit):
            return "\n".join(self.render_exit(line))
        return ""

    def canonical_value_at_start(self, slot: int) -> Value:
        if slot in self.constants:
            return self.constants[slot]
        if slot in self.split:
            rest, fields = self.split[slot]
            return " | ".join([f"v{slot}_r" if rest else "0"]
                              + [f"(v{slot}_{lo} << {lo})" if lo else f"v{slot}_{lo}" for lo, _ in fields])
        return f"v{slot}"


def compile_region(machine: ir.Machine, context: RegionContext, fetch: RegionFetch, *, guarded: bool = False,
                   max_blocks: int = 16, max_block: int = 64) -> Region:
    """One Python function running the blocks reachable from `context.pc` by constant jumps
    (at most `max_blocks` blocks of at most `max_block` instructions), specialised on the
    context (see `RegionContext` and `_RegionCompiler`).  Its first instruction must fetch."""
    return _RegionCompiler(machine, context, fetch, guarded, max_blocks, max_block).compile()


def _define(source: str, name: str, what: str) -> Callable[..., Any]:
    """The function `name` that generated `source` defines (its source kept on it, for reading);
    `what` names the code in tracebacks and in the error a bug in generation gives."""
    namespace: dict[str, object] = {}
    try:
        exec(compile(source, f"<vdsl {what}>", "exec"), namespace)  # noqa: S102
    except SyntaxError as error:  # pragma: no cover - a bug in code generation
        raise InternalError(f"generated code for {what} does not compile: {error}\n{source}") from error
    function: Any = namespace[name]
    function.source = source
    return function  # type: ignore[no-any-return]
