"""A reference interpreter of instruction semantics: a plain tree walk over the resolved IR.

It shares nothing with `vdsl.semantics.evaluator`, the one evaluator the emulator compiles and the
analysis runs in z3: statements run one after another on a copy of the state, an `if` runs the
branch it takes, a trap raises.  It is slow and simple on purpose, written from the language
reference ("What an instruction means"), so that a rule the evaluator gets wrong shows up as a
disagreement (`tests/property/test_semantics_reference.py`) instead of passing in both of the
evaluator's domains at once.
"""

from __future__ import annotations

import attrs

from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask


class _Trapped(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class _Halted(Exception):
    pass


@attrs.frozen
class Result:
    """The state after one instruction (the state before, if it trapped), and how it ended."""

    after: MachineState
    cause: str | None
    halted: bool


def execute(machine: ir.Machine, instruction: ir.Instruction, operands: tuple[int, ...],
            state: MachineState) -> Result:
    """Run `instruction` with `operands` on a copy of `state`."""
    run = _Run(machine, instruction, operands, state.copy())
    try:
        run.block(instruction.body, {})
    except _Trapped as trap:
        return Result(state.copy(), trap.cause, False)
    except _Halted:
        run.finish()
        return Result(run.state, None, True)
    run.finish()
    return Result(run.state, None, False)


@attrs.define
class _Run:
    machine: ir.Machine
    instruction: ir.Instruction
    operands: tuple[int, ...]
    state: MachineState
    pc_written: bool = False
    start_pc: int = 0  # the address of the instruction: what the pc reads until it is written

    def __attrs_post_init__(self) -> None:
        self.start_pc = self.get_register(self.machine.pc)

    # ------------------------------------------------------------ state
    def get_register(self, name: str) -> int:
        reg = self.machine.register(name)
        assert reg is not None
        return 0 if reg.is_zero else self.state.slots[self.machine.register_index(name)]

    def set_register(self, name: str, value: int) -> None:
        reg = self.machine.register(name)
        assert reg is not None
        if reg.is_zero:  # hard-wired: the write is ignored
            return
        self.state.slots[self.machine.register_index(name)] = value & mask(reg.width)
        if name == self.machine.pc:
            self.pc_written = True

    def named(self, operand: ir.Operand) -> str | None:
        """The register (or banked register) a register operand's value names."""
        targets = dict(self.machine.operand_targets(self.instruction.operands[operand.index]))
        return targets.get(self.operands[operand.index])

    def copy(self, name: str) -> str:
        """A register itself, or, for a banked register, the copy of the current mode."""
        bank = self.machine.bank(name)
        return name if bank is None else bank.copy(self.state.mode)

    def element(self, expr: ir.Indexed, lets: dict[str, int]) -> str:
        """The register `X[i]` names; an index past the last one traps `illegal`."""
        array = self.machine.array(expr.array)
        assert array is not None
        index = self.value(expr.index, lets)
        if index >= len(array.elements):
            raise _Trapped("illegal")
        return array.elements[index]

    def finish(self) -> None:
        """The pc advances past the instruction unless the instruction wrote it."""
        if not self.pc_written:
            pc = self.machine.register(self.machine.pc)
            assert pc is not None
            self.state.slots[self.machine.register_index(pc.name)] = \
                (self.start_pc + self.instruction.size) & mask(pc.width)

    def physical(self, address: int, physical: bool) -> int:
        """Where an access goes, or a memory trap."""
        size = self.machine.memory.size
        relocation = self.machine.relocation
        if physical or relocation is None:
            if address >= size:
                raise _Trapped("memory")
            return address
        reg = self.machine.register(relocation)
        assert reg is not None
        value = self.get_register(relocation)
        fields = {f.name: (value >> f.lo) & mask(f.width) for f in reg.fields}
        if address >= fields["bound"] or address + fields["base"] >= size:
            raise _Trapped("memory")
        return address + fields["base"]

    # ------------------------------------------------------------ statements
    def block(self, stmts: tuple[ir.Stmt, ...], lets: dict[str, int]) -> None:
        lets = dict(lets)  # a `let` lives until its block ends
        for stmt in stmts:
            self.statement(stmt, lets)

    def statement(self, stmt: ir.Stmt, lets: dict[str, int]) -> None:
        word = self.machine.memory.width
        if isinstance(stmt, ir.Let):
            lets[stmt.name] = self.value(stmt.value, lets)
        elif isinstance(stmt, ir.Assign) and isinstance(stmt.value, ir.TupleExpr):
            assert isinstance(stmt.target, ir.MemAccess)
            base = self.value(stmt.target.address, lets)
            for offset, item in enumerate(stmt.value.items):
                where = self.physical(base + offset, stmt.target.physical)
                self.state.memory[where] = self.value(item, lets) & mask(word)
        elif isinstance(stmt, ir.Assign):
            self.assign(stmt.target, self.value(stmt.value, lets), lets)
        elif isinstance(stmt, ir.TupleAssign):
            access = stmt.value
            assert isinstance(access, ir.MemAccess)
            base = self.value(access.address, lets)
            words = [self.state.memory[self.physical(base + k, access.physical)]
                     for k in range(len(stmt.targets))]
            for target, value in zip(stmt.targets, words, strict=True):
                self.assign(target, value & mask(_width(target)), lets)
        elif isinstance(stmt, ir.If):
            taken = stmt.then if self.value(stmt.condition, lets) else stmt.otherwise
            self.block(taken, lets)
        elif isinstance(stmt, ir.Trap):
            raise _Trapped(stmt.cause)
        elif isinstance(stmt, ir.Halt):
            raise _Halted
        else:  # pragma: no cover - the resolver produces no other statement
            raise TypeError(f"cannot run {type(stmt).__name__}")

    def assign(self, target: ir.Expr, value: int, lets: dict[str, int]) -> None:
        if isinstance(target, ir.Reg):
            self.set_register(target.reg, value)
        elif isinstance(target, ir.Field):
            old = self.get_register(target.reg)
            keep = ~(mask(target.width) << target.lo)
            self.set_register(target.reg, (old & keep) | ((value & mask(target.width)) << target.lo))
        elif isinstance(target, ir.Mode):
            count = len(self.machine.modes)
            self.state.slots[self.state.mode_index] = min(value, count - 1)  # no such mode: the least
        elif isinstance(target, ir.Operand):  # a register operand: the register it names
            name = self.named(target)
            if name is not None:
                self.set_register(self.copy(name), value)
        elif isinstance(target, ir.Banked):
            self.set_register(self.copy(target.reg), value)
        elif isinstance(target, ir.Indexed):
            self.set_register(self.element(target, lets), value)
        elif isinstance(target, ir.MemAccess):
            where = self.physical(self.value(target.address, lets), target.physical)
            self.state.memory[where] = value & mask(self.machine.memory.width)
        else:  # pragma: no cover
            raise TypeError(f"cannot assign to {type(target).__name__}")

    # ------------------------------------------------------------ expressions
    def value(self, expr: ir.Expr, lets: dict[str, int]) -> int:
        if isinstance(expr, ir.Const):
            return expr.value & mask(expr.width)
        if isinstance(expr, ir.Reg):
            return self.get_register(expr.reg)
        if isinstance(expr, ir.Field):
            return (self.get_register(expr.reg) >> expr.lo) & mask(expr.width)
        if isinstance(expr, ir.Mode):
            return self.state.mode
        if isinstance(expr, ir.Operand):
            operand = self.operands[expr.index]
            if expr.kind == "imm":
                return operand & mask(expr.width)
            name = self.named(expr)
            return self.get_register(self.copy(name)) & mask(expr.width) if name is not None else 0
        if isinstance(expr, ir.Banked):
            return self.get_register(self.copy(expr.reg))
        if isinstance(expr, ir.Indexed):
            return self.get_register(self.element(expr, lets))
        if isinstance(expr, ir.Local):
            return lets[expr.name]
        if isinstance(expr, ir.NextPc):
            return (self.start_pc + self.instruction.size) & mask(expr.width)
        if isinstance(expr, ir.Slice):
            return (self.value(expr.value, lets) >> expr.lo) & mask(expr.hi - expr.lo + 1)
        if isinstance(expr, ir.Unary):
            return _unary(expr.op, self.value(expr.operand, lets), _width(expr.operand))
        if isinstance(expr, ir.Binary):
            # both sides always run (`&&` and `||` too: their memory reads may trap)
            left, right = self.value(expr.left, lets), self.value(expr.right, lets)
            return _binary(expr.op, left, right, _width(expr.left))
        if isinstance(expr, ir.CondExpr):
            chosen = expr.then if self.value(expr.condition, lets) else expr.otherwise
            return self.value(chosen, lets)
        if isinstance(expr, ir.Call):
            return self.call(expr, lets)
        if isinstance(expr, ir.MemAccess):
            return self.state.memory[self.physical(self.value(expr.address, lets), expr.physical)]
        raise TypeError(f"cannot evaluate {type(expr).__name__}")  # pragma: no cover

    def call(self, expr: ir.Call, lets: dict[str, int]) -> int:
        args = [self.value(a, lets) for a in expr.args]
        widths = [_width(a) for a in expr.args]
        if expr.func == "zext":
            return args[0]
        if expr.func == "sext":
            to = expr.args[1].value if isinstance(expr.args[1], ir.Const) else widths[0]
            return _signed(args[0], widths[0]) & mask(to)
        if expr.func == "concat":
            result = 0
            for value, width in zip(args, widths, strict=True):
                result = (result << width) | value
            return result
        return _binary(expr.func, args[0], args[1], widths[0])


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) & 1 else value


def _unary(op: str, value: int, width: int) -> int:
    if op == "-":
        return -value & mask(width)
    if op == "~":
        return ~value & mask(width)
    return 0 if value else 1  # "!"


def _binary(op: str, a: int, b: int, width: int) -> int:
    m = mask(width)
    if op == "+":
        return (a + b) & m
    if op == "-":
        return (a - b) & m
    if op == "*":
        return (a * b) & m
    if op == "/":
        return a // b if b else m
    if op == "%":
        return a % b if b else a
    if op in ("&", "&&"):
        return a & b
    if op in ("|", "||"):
        return a | b
    if op == "^":
        return a ^ b
    if op == "<<":
        return (a << b) & m if b < width else 0
    if op == ">>":
        return a >> b if b < width else 0
    if op == "sra":
        return (_signed(a, width) >> min(b, width)) & m
    if op in ("slt", "sle"):
        x, y = _signed(a, width), _signed(b, width)
        return int(x < y if op == "slt" else x <= y)
    return int({"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _width(expr: ir.Expr) -> int:
    width = getattr(expr, "width", None)
    assert isinstance(width, int), expr
    return width
