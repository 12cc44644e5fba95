"""The one evaluator of instruction semantics, written against an abstract `Domain`.

An instruction is evaluated as a single path-merged pass: every statement runs under
a *live* condition (its branch conditions, and no trap or halt before it), writes are
`ite(live, new, old)`, and the outcome says under which condition the instruction
trapped, with which cause, or halted.  In a domain that knows its values (the compiled
emulator) the conditions fold away and dead branches are skipped.

Instruction semantics are atomic, as in PG74: a trapping instruction changes nothing
but what the trap mechanism itself saves and loads (the emulator does that part).  So
writes are guarded by the path and "not halted" only; the final state of an outcome
means something only where `trapped` is false.
"""

from __future__ import annotations

from typing import Generic

import attrs

from vdsl.errors import InternalError
from vdsl.ir import nodes as ir
from vdsl.semantics.domain import Domain, Mem, V

MEMORY_CAUSE = ir.BUILTIN_CAUSES.index("memory")
ILLEGAL_CAUSE = ir.BUILTIN_CAUSES.index("illegal")
CAUSE_WIDTH = 8


@attrs.define
class Outcome(Generic[V, Mem]):
    """What one instruction did: the final state, and when it trapped or halted."""

    registers: dict[str, V]
    written: set[str]
    mode: V | None  # None: the instruction never writes the mode
    mode_written: bool
    memory: Mem
    trapped: V
    cause: V
    halted: V
    pc_written: V
    next_pc: V
    reads: list[tuple[V, V]]  # (when, physical address) of every memory read


class Evaluator(Generic[V, Mem]):
    """Evaluates one instruction of a machine in a domain."""

    def __init__(self, machine: ir.Machine, domain: Domain[V, Mem]) -> None:
        self.machine = machine
        self.domain = domain
        self.true = domain.const(1, 1)
        self.false = domain.const(0, 1)
        self.pc_width = next(r.width for r in machine.registers if r.name == machine.pc)
        self.address_width = machine.address_width

    # ------------------------------------------------------------ entry point
    def run(self, instruction: ir.Instruction) -> Outcome[V, Mem]:
        d = self.domain
        self.registers: dict[str, V] = {}
        self.written: set[str] = set()
        self._mode: V | None = None
        self.mode_written = False
        self.locals: dict[str, V] = {}
        self.mem = d.memory()
        self.path = self.true
        self.stopped = self.false
        self.trapped = self.false
        self.halted = self.false
        self.cause = d.const(0, CAUSE_WIDTH)
        self.pc_written = self.false
        self.reads: list[tuple[V, V]] = []
        self.instruction = instruction
        self.block(instruction.body)
        pc = self.read_register(self.machine.pc)
        next_pc = d.ite(self.pc_written, pc, self.next_pc(), self.pc_width)
        mode = self.mode_value() if self.mode_written else None
        return Outcome(self.registers, self.written, mode, self.mode_written, self.mem,
                       self.trapped, self.cause, self.halted, self.pc_written, next_pc, self.reads)

    # ------------------------------------------------------------ helpers
    def live(self) -> V:
        """Whether the current statement runs: its path, and no trap or halt before it."""
        return self.domain.binary("&&", self.path, self.domain.unary("!", self.stopped, 1), 1)

    def effective(self) -> V:
        """Whether a write takes effect: as `live`, but a trap discards every write anyway."""
        return self.domain.binary("&&", self.path, self.domain.unary("!", self.halted, 1), 1)

    def is_dead(self, condition: V) -> bool:
        return self.domain.truth(condition) is False

    def read_register(self, name: str) -> V:
        if name not in self.registers:
            reg = self.machine.register(name)
            assert reg is not None
            if reg.is_zero:  # hard-wired: whatever the state holds, it reads 0
                return self.domain.const(0, reg.width)
            initial = self.domain.pc if reg.is_pc else lambda w: self.domain.register(name, w)
            self.registers[name] = initial(reg.width)
        return self.registers[name]

    def mode_value(self) -> V:
        if self._mode is None:
            self._mode = self.domain.mode(self.machine.mode_width)
        return self._mode

    def next_pc(self) -> V:
        return self.domain.binary("+", self.domain.pc(self.pc_width),
                                  self.domain.const(self.instruction.size, self.pc_width), self.pc_width)

    def fit(self, value: V, width: int, to: int) -> V:
        """A value resized to `to` bits: truncated or zero-extended (tuple words, PSWs)."""
        if to == width:
            return value
        if to < width:
            return self.domain.extract(value, to - 1, 0, width)
        return self.domain.zext(value, width, to)

    def raise_trap(self, condition: V, cause: int) -> None:
        """Trap with `cause` when `condition` holds (and nothing stopped the instruction yet)."""
        d = self.domain
        fires = d.binary("&&", condition, d.unary("!", self.stopped, 1), 1)
        if self.is_dead(fires):
            return
        self.cause = d.ite(fires, d.const(cause, CAUSE_WIDTH), self.cause, CAUSE_WIDTH)
        self.trapped = d.binary("||", self.trapped, fires, 1)
        self.stopped = d.binary("||", self.stopped, fires, 1)

    # ------------------------------------------------------------ statements
    def block(self, stmts: tuple[ir.Stmt, ...]) -> None:
        for stmt in stmts:
            if self.is_dead(self.live()):
                return
            self.statement(stmt)

    def statement(self, stmt: ir.Stmt) -> None:
        d = self.domain
        if isinstance(stmt, ir.Let):
            self.locals[stmt.name] = self.expr(stmt.value)
        elif isinstance(stmt, ir.Assign):
            if isinstance(stmt.value, ir.TupleExpr):
                assert isinstance(stmt.target, ir.MemAccess)
                base = self.expr(stmt.target.address)
                for offset, item in enumerate(stmt.value.items):
                    value = self.fit(self.expr(item), _width(item), self.machine.memory.width)
                    self.write_memory(base, _width(stmt.target.address), stmt.target.physical, value,
                                      offset)
            else:
                self.assign(stmt.target, self.expr(stmt.value))
        elif isinstance(stmt, ir.TupleAssign):
            access = stmt.value
            assert isinstance(access, ir.MemAccess)
            base = self.expr(access.address)
            words = [self.read_memory(base, _width(access.address), access.physical, offset)
                     for offset in range(len(stmt.targets))]
            for target, word in zip(stmt.targets, words, strict=False):
                self.assign(target, self.fit(word, self.machine.memory.width, _width(target)))
        elif isinstance(stmt, ir.If):
            condition = self.expr(stmt.condition)
            known = d.truth(condition)
            outer = self.path
            if known is not False:
                self.path = d.binary("&&", outer, condition, 1)
                self.scoped_block(stmt.then)
            if known is not True:
                self.path = d.binary("&&", outer, d.unary("!", condition, 1), 1)
                self.scoped_block(stmt.otherwise)
            self.path = outer
        elif isinstance(stmt, ir.Trap):
            self.raise_trap(self.path, self.machine.causes.index(stmt.cause))
        elif isinstance(stmt, ir.Halt):
            live = self.live()
            self.halted = d.binary("||", self.halted, live, 1)
            self.stopped = d.binary("||", self.stopped, live, 1)
        else:  # pragma: no cover - the resolver produces no other statement
            raise InternalError(f"cannot evaluate {type(stmt).__name__}")

    def scoped_block(self, stmts: tuple[ir.Stmt, ...]) -> None:
        saved = dict(self.locals)
        self.block(stmts)
        self.locals = saved

    def assign(self, target: ir.Expr, value: V) -> None:
        d = self.domain
        live = self.effective()
        if isinstance(target, ir.Reg):
            self.write_register(target.reg, live, value)
        elif isinstance(target, ir.Field):
            reg = self.machine.register(target.reg)
            assert reg is not None
            old = self.read_register(reg.name)
            new = d.insert(old, reg.width, target.lo, value, target.width)
            self.write_register(reg.name, live, new)
        elif isinstance(target, ir.Mode):
            width = self.machine.mode_width
            count = len(self.machine.modes)
            if count < 1 << width:  # values naming no mode mean the least privileged one
                value = d.ite(d.binary(">=", value, d.const(count, width), width),
                              d.const(count - 1, width), value, width)
            self._mode = d.ite(live, value, self.mode_value(), width)
            self.mode_written = True
        elif isinstance(target, ir.Operand):  # a register operand: the register it names
            for code, name in self.machine.operand_targets(self.instruction.operands[target.index]):
                selected = d.binary("==", self.operand(target), d.const(code, target.width), target.width)
                guard = d.binary("&&", live, selected, 1)
                if not self.is_dead(guard):
                    width = self.machine.target_width(name)
                    self.write_target(name, guard, self.fit(value, target.width, width))
        elif isinstance(target, ir.Indexed):
            index = self.index(target)
            for code, name in enumerate(self.array_elements(target)):
                selected = d.binary("==", index, d.const(code, _width(target.index)), _width(target.index))
                guard = d.binary("&&", live, selected, 1)
                if not self.is_dead(guard):
                    self.write_register(name, guard, value)
        elif isinstance(target, ir.Banked):
            self.write_target(target.reg, live, value)
        elif isinstance(target, ir.MemAccess):
            self.write_memory(self.expr(target.address), _width(target.address), target.physical, value)
        else:  # pragma: no cover
            raise InternalError(f"cannot assign to {type(target).__name__}")

    def write_target(self, name: str, guard: V, value: V) -> None:
        """Write a register, or the copy of a banked register the current mode selects."""
        bank = self.machine.bank(name)
        if bank is None:
            self.write_register(name, guard, value)
            return
        for copy, modes in bank.copies:
            selected = self.in_modes(modes)
            guard_copy = self.domain.binary("&&", guard, selected, 1)
            if not self.is_dead(guard_copy):
                self.write_register(copy, guard_copy, value)

    def read_target(self, name: str) -> V:
        """Read a register, or the copy of a banked register the current mode selects."""
        bank = self.machine.bank(name)
        if bank is None:
            return self.read_register(name)
        return self.select([(self.in_modes(modes), copy) for copy, modes in bank.copies], bank.width)

    def select(self, choices: list[tuple[V, str]], width: int) -> V:
        """The register whose condition holds: the conditions exclude each other, and the last
        register is the one read when none of the others' holds."""
        d = self.domain
        *others, (_, last) = choices
        result = self.read_register(last)
        for condition, name in reversed(others):
            known = d.truth(condition)
            if known is True:
                result = self.read_register(name)
            elif known is None:
                result = d.ite(condition, self.read_register(name), result, width)
        return result

    def in_modes(self, modes: tuple[int, ...]) -> V:
        """Whether the current mode is one of `modes`."""
        d = self.domain
        width = self.machine.mode_width
        mode = self.mode_value()
        found = self.false
        for m in modes:
            found = d.binary("||", found, d.binary("==", mode, d.const(m, width), width), 1)
        return found

    def array_elements(self, expr: ir.Indexed) -> tuple[str, ...]:
        """The elements an index of its width can reach (a narrow index reaches the first few)."""
        array = self.machine.array(expr.array)
        assert array is not None
        return array.elements[:1 << _width(expr.index)]

    def index(self, expr: ir.Indexed) -> V:
        """The element number of `X[i]`; a number past the last element traps `illegal`."""
        d = self.domain
        index, width = self.expr(expr.index), _width(expr.index)
        count = len(self.array_elements(expr))
        if count < 1 << width:
            outside = d.binary(">=", index, d.const(count, width), width)
            self.raise_trap(d.binary("&&", self.path, outside, 1), ILLEGAL_CAUSE)
        return index

    def write_register(self, name: str, guard: V, value: V) -> None:
        reg = self.machine.register(name)
        assert reg is not None
        if reg.is_zero:  # writes to a hard-wired register are ignored
            return
        old = self.read_register(name)
        self.registers[name] = self.domain.ite(guard, value, old, reg.width)
        self.written.add(name)
        if name == self.machine.pc:
            self.pc_written = self.domain.binary("||", self.pc_written, guard, 1)

    # ------------------------------------------------------------ memory
    def physical_address(self, address: V, width: int, physical: bool, offset: int = 0) -> V:
        """The physical address of word `offset` of a (relocated) access, as a value of the
        machine's address width; a memory trap when it is outside.  The check is done wide
        enough that neither a wide address nor address + offset + base can wrap around."""
        d = self.domain
        aw = max(self.address_width, width + 1)
        wide = self.fit(address, width, aw)
        if offset:
            wide = d.binary("+", wide, d.const(offset, aw), aw)
        size = d.const(self.machine.memory.size, aw)
        if physical or self.machine.relocation is None:
            where, outside = wide, d.binary(">=", wide, size, aw)
        else:
            reg = self.machine.register(self.machine.relocation)
            assert reg is not None
            value = self.read_register(reg.name)
            base_field, bound_field = reg.field("base"), reg.field("bound")
            assert base_field is not None and bound_field is not None
            base = self.fit(self.field(value, reg.width, base_field), base_field.width, aw)
            bound = self.fit(self.field(value, reg.width, bound_field), bound_field.width, aw)
            where = d.binary("+", wide, base, aw)
            outside = d.binary("||", d.binary(">=", wide, bound, aw), d.binary(">=", where, size, aw), 1)
        self.raise_trap(d.binary("&&", self.path, outside, 1), MEMORY_CAUSE)
        # Inside memory the address fits the machine's address width; outside, it trapped.
        return self.fit(where, aw, self.address_width)

    def read_memory(self, address: V, width: int, physical: bool, offset: int = 0) -> V:
        where = self.physical_address(address, width, physical, offset)
        self.reads.append((self.live(), where))
        return self.domain.load(self.mem, where, self.address_width, self.machine.memory.width)

    def write_memory(self, address: V, width: int, physical: bool, value: V, offset: int = 0) -> None:
        where = self.physical_address(address, width, physical, offset)
        live = self.effective()
        if not self.is_dead(live):
            self.mem = self.domain.store(self.mem, live, where, self.address_width, value,
                                         self.machine.memory.width)

    def field(self, value: V, width: int, field: ir.RegisterField) -> V:
        if field.lo == 0 and field.width == width:
            return value
        return self.domain.extract(value, field.lo + field.width - 1, field.lo, width)

    # ------------------------------------------------------------ expressions
    def operand(self, operand: ir.Operand) -> V:
        return self.domain.operand(operand.index, operand.width)

    def expr(self, expr: ir.Expr) -> V:
        d = self.domain
        if isinstance(expr, ir.Const):
            return d.const(expr.value, expr.width)
        if isinstance(expr, ir.Reg):
            return self.read_register(expr.reg)
        if isinstance(expr, ir.Banked):
            return self.read_target(expr.reg)
        if isinstance(expr, ir.Indexed):
            index, width = self.index(expr), _width(expr.index)
            return self.select([(d.binary("==", index, d.const(code, width), width), element)
                                for code, element in enumerate(self.array_elements(expr))], expr.width)
        if isinstance(expr, ir.Field):
            reg = self.machine.register(expr.reg)
            assert reg is not None
            field = reg.field(expr.field)
            assert field is not None
            return self.field(self.expr(ir.Reg(reg.name, reg.width)), reg.width, field)
        if isinstance(expr, ir.Mode):
            return self.mode_value()
        if isinstance(expr, ir.Operand):
            if expr.kind == "imm":
                return self.operand(expr)
            return self.read_operand_register(expr)
        if isinstance(expr, ir.Local):
            return self.locals[expr.name]
        if isinstance(expr, ir.NextPc):
            return self.next_pc()
        if isinstance(expr, ir.Slice):
            return d.extract(self.expr(expr.value), expr.hi, expr.lo, _width(expr.value))
        if isinstance(expr, ir.Unary):
            return d.unary(expr.op, self.expr(expr.operand), _width(expr.operand))
        if isinstance(expr, ir.Binary):
            return d.binary(expr.op, self.expr(expr.left), self.expr(expr.right), _width(expr.left))
        if isinstance(expr, ir.Call):
            return self.call(expr)
        if isinstance(expr, ir.CondExpr):
            return self.conditional(expr)
        if isinstance(expr, ir.MemAccess):
            return self.read_memory(self.expr(expr.address), _width(expr.address), expr.physical)
        raise InternalError(f"cannot evaluate {type(expr).__name__}")  # pragma: no cover

    def conditional(self, expr: ir.CondExpr) -> V:
        """Each branch is evaluated on its own path, as an `if` statement's blocks are: a memory
        read in the branch not taken neither traps nor counts as read."""
        d = self.domain
        condition = self.expr(expr.condition)
        known = d.truth(condition)
        if known is not None:
            return self.expr(expr.then if known else expr.otherwise)
        outer = self.path
        self.path = d.binary("&&", outer, condition, 1)
        then = self.expr(expr.then)
        self.path = d.binary("&&", outer, d.unary("!", condition, 1), 1)
        otherwise = self.expr(expr.otherwise)
        self.path = outer
        return d.ite(condition, then, otherwise, _width(expr))

    def read_operand_register(self, operand: ir.Operand) -> V:
        d = self.domain
        selected = self.operand(operand)
        result = d.const(0, operand.width)
        for code, name in self.machine.operand_targets(self.instruction.operands[operand.index]):
            condition = d.binary("==", selected, d.const(code, operand.width), operand.width)
            if self.is_dead(condition):
                continue
            value = self.fit(self.read_target(name), self.machine.target_width(name), operand.width)
            result = d.ite(condition, value, result, operand.width)
        return result

    def call(self, expr: ir.Call) -> V:
        d = self.domain
        args = expr.args
        if expr.func in ("zext", "sext"):
            value, width = self.expr(args[0]), _width(args[0])
            assert isinstance(args[1], ir.Const)
            extend = d.zext if expr.func == "zext" else d.sext
            return value if width == args[1].value else extend(value, width, args[1].value)
        if expr.func == "concat":
            return d.concat([(self.expr(a), _width(a)) for a in args])
        return d.binary(expr.func, self.expr(args[0]), self.expr(args[1]), _width(args[0]))


def _width(expr: ir.Expr) -> int:
    width = getattr(expr, "width", None)
    assert isinstance(width, int), expr
    return width
