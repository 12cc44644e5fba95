"""Name lookup and typing of instruction semantics: every expression gets its width."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import a_bits, bit_pair, bits, check_width, fit_hint, no_field, undefined, width_hint
from vdsl.source import Span

ARITHMETIC_OPS = {"+", "-", "*", "/", "%", "&", "|", "^"}


COMPARE_OPS = {"==", "!=", "<", "<=", ">", ">="}


LOGIC_OPS = {"&&", "||"}


SHIFT_OPS = {"<<", ">>"}


@attrs.define
class Scope:
    """Name lookup and typing of instruction semantics."""

    machine: ir.Machine
    operands: tuple[ir.OperandDecl, ...]
    locals: dict[str, int]
    sink: DiagnosticSink
    lets: dict[str, Span | None] = attrs.field(factory=dict)  # where each visible `let` is
    ended: dict[str, Span | None] = attrs.field(factory=dict)  # lets of blocks that have ended
    constants: dict[str, int] = attrs.field(factory=dict)  # `const` names (the Expander replaced their reads)

    # ------------------------------------------------------------ statements
    def block(self, stmts: Iterable[ir.Stmt]) -> tuple[ir.Stmt, ...]:
        inner = Scope(self.machine, self.operands, dict(self.locals), self.sink, dict(self.lets), self.ended,
                      self.constants)
        resolved = tuple(s for s in (inner.statement(s) for s in stmts) if s is not None)
        self.ended.update((name, span) for name, span in inner.lets.items() if name not in self.lets)
        return resolved

    def statement(self, stmt: ir.Stmt) -> ir.Stmt | None:
        if isinstance(stmt, ir.Let):
            return self.let(stmt)
        if isinstance(stmt, ir.Assign):
            return self.assign(stmt)
        if isinstance(stmt, ir.TupleAssign):
            return self.tuple_assign(stmt)
        if isinstance(stmt, ir.If):
            condition = self.condition(stmt.condition)
            return ir.If(condition, self.block(stmt.then), self.block(stmt.otherwise), span=stmt.span)
        if isinstance(stmt, ir.Trap):
            if stmt.cause not in self.machine.causes:
                undefined(self.sink, "trap cause", stmt.cause, stmt.span, self.machine.causes,
                           "declare it in the machine's trap block: `causes { "
                           f"{stmt.cause} }}`")
            return stmt
        return stmt

    def let(self, stmt: ir.Let) -> ir.Let | None:
        if self.lookup_kind(stmt.name) is not None:
            self.sink.error("V011", f"'{stmt.name}' is already defined", stmt.span,
                            "choose another name for the let binding")
            return None
        value = self.expr(stmt.value, None)
        if isinstance(value, ir.Const) and isinstance(stmt.value, ir.Number):
            value = self.expr(stmt.value, self.machine.word)
        self.locals[stmt.name] = width_of(value)
        self.lets[stmt.name] = stmt.span
        return ir.Let(stmt.name, value, span=stmt.span)

    def condition(self, expr: ir.Expr) -> ir.Expr:
        value = self.expr(expr, 1)
        width = width_of(value)
        if width > 1:  # 0: an error already reported
            self.sink.error("V024", f"a condition must be a comparison or a 1-bit value, "
                            f"not {a_bits(width)} value", expr.span,
                            "compare it, e.g. `A != 0`")
        return value

    def assign(self, stmt: ir.Assign) -> ir.Assign | None:
        target = self.target(stmt.target)
        if target is None or width_of(target) == 0:  # already reported
            self.expr(stmt.value, None)
            return None
        if isinstance(target, ir.Mode) and self.unknown_mode(stmt.value):
            return None
        if isinstance(stmt.value, ir.TupleExpr):
            if not isinstance(target, ir.MemAccess):
                self.sink.error("V026", "a tuple can only be stored to memory", stmt.value.span,
                                "store it with `mem[a] = (X, Y)`, one word per item")
                return None
            items = [self.expr(item, self.machine.memory.width) for item in stmt.value.items]
            flat = [w for item in items for w in self.flatten(item)]
            return ir.Assign(target, ir.TupleExpr(tuple(flat), span=stmt.value.span), span=stmt.span)
        width = width_of(target)
        value = self.expr(stmt.value, width)
        self.check_same_width(value, width, stmt.value.span, target_name(target))
        return ir.Assign(target, value, span=stmt.span)

    def tuple_assign(self, stmt: ir.TupleAssign) -> ir.TupleAssign | None:
        targets = [self.target(t) for t in stmt.targets]
        value = stmt.value
        if not isinstance(value, ir.MemAccess):
            self.sink.error("V026", "a tuple of targets is loaded from memory, one word each",
                            value.span, "write `(X, Y) = mem[a]`")
            return None
        address = self.expr(value.address, self.machine.word)
        if any(t is None for t in targets):
            return None
        flat = [w for t in targets if t is not None for w in self.flatten(t)]
        for t in flat:
            if isinstance(t, ir.MemAccess):
                self.sink.error("V026", "memory cannot be a target of a tuple load", t.span,
                                "load registers, fields or the mode")
                return None
        return ir.TupleAssign(tuple(flat), attrs.evolve(value, address=address,
                                                        width=self.machine.memory.width),
                              span=stmt.span)

    def flatten(self, expr: ir.Expr) -> list[ir.Expr]:
        """A register made entirely of fields takes one word per field in tuples and PSWs."""
        if isinstance(expr, ir.Reg):
            reg = self.machine.register(expr.reg)
            if reg is not None and reg.fields and sum(f.width for f in reg.fields) == reg.width:
                return [ir.Field(reg.name, f.name, f.lo, f.width, span=expr.span) for f in reg.fields]
        return [expr]

    def target(self, expr: ir.Expr) -> ir.Expr | None:
        if isinstance(expr, ir.Name):
            kind = self.lookup_kind(expr.name)
            if kind in ("register", "mode", "reg-operand", "banked", "array"):
                return self.expr(expr, None)
            if kind is None:
                self.expr(expr, None)  # reports it undefined
                return None
            what = {"local": "a let binding", "operand": "an immediate operand",
                    "mode-value": "a mode name", "next": "`next`", "const": "a constant"}[kind]
            self.sink.error("V013", f"cannot assign to '{expr.name}': it is {what}", expr.span,
                            {"local": "a let binding cannot change; bind a new name with `let`",
                             "operand": "immediate operands are constants; assign a register",
                             "const": "a `const` names a number; assign a register",
                             "mode-value": f"to change mode, assign {self.machine.mode_name} = "
                                           f"{expr.name}",
                             "next": f"to jump, assign the pc {self.machine.pc}"}[kind])
            return None
        if isinstance(expr, ir.Member):
            return self.expr(expr, None)
        if isinstance(expr, ir.MemAccess):
            return self.expr(expr, None)
        if isinstance(expr, ir.SliceExpr) and self.array_of(expr) is not None:
            return self.expr(expr, None)
        self.sink.error("V013", "cannot assign to this expression", expr.span,
                        "assign a register, a field, the mode, `mem[...]` or `phys[...]`")
        return None

    # ------------------------------------------------------------ expressions
    def lookup_kind(self, name: str) -> str | None:
        if name in self.locals:
            return "local"
        for operand in self.operands:
            if operand.name == name:
                return "reg-operand" if operand.kind == "reg" else "operand"
        if self.machine.register(name) is not None:
            return "register"
        if self.machine.bank(name) is not None:
            return "banked"
        if self.machine.array(name) is not None:
            return "array"
        if name == self.machine.mode_name:
            return "mode"
        if name in self.machine.modes:
            return "mode-value"
        if name == "next":
            return "next"
        if name in self.constants:
            return "const"
        return None

    def names(self) -> list[str]:
        return (list(self.locals) + [o.name for o in self.operands]
                + [r.name for r in self.machine.registers] + [b.name for b in self.machine.banks]
                + [a.name for a in self.machine.arrays] + [self.machine.mode_name]
                + list(self.machine.modes) + list(self.constants))

    def check_same_width(self, value: ir.Expr, width: int, span: Span | None, what: str) -> None:
        actual = width_of(value)
        if actual != width and actual > 0:
            self.sink.error("V012", f"width mismatch: {what} is {bits(width)}, the value is "
                            f"{bits(actual)}", span, fit_hint(actual, width))

    def expr(self, expr: ir.Expr, want: int | None) -> ir.Expr:
        """The typed form of `expr`; `want` is the width a bare number should take."""
        if isinstance(expr, ir.Number):
            width = want if want else max(1, expr.value.bit_length())
            if expr.value >= 1 << width:
                self.sink.error("V023", f"the number {expr.value} does not fit in {bits(width)}",
                                expr.span, f"the largest {width}-bit value is {(1 << width) - 1}")
            return ir.Const(expr.value & ((1 << width) - 1), width, span=expr.span)
        if isinstance(expr, ir.Name):
            return self.name(expr, want)
        if isinstance(expr, ir.Member):
            reg = self.machine.register(expr.base)
            if reg is None:
                undefined(self.sink, "register", expr.base, expr.span,
                           [r.name for r in self.machine.registers])
                return ir.Const(0, 0, span=expr.span)
            field = reg.field(expr.member)
            if field is None:
                no_field(self.sink, reg, expr.member, expr.span)
                return ir.Const(0, 0, span=expr.span)
            return ir.Field(reg.name, field.name, field.lo, field.width, span=expr.span)
        if isinstance(expr, ir.MemAccess):
            address = self.expr(expr.address, self.machine.word)
            return ir.MemAccess(address, expr.physical, self.machine.memory.width, span=expr.span)
        if isinstance(expr, ir.Unary):
            return self.unary(expr, want)
        if isinstance(expr, ir.Binary):
            return self.binary(expr, want)
        if isinstance(expr, ir.CondExpr):
            return self.conditional(expr, want)
        if isinstance(expr, ir.SliceExpr):
            return self.slice(expr)
        if isinstance(expr, ir.Call):
            return self.call(expr, want)
        if isinstance(expr, ir.TupleExpr):
            self.sink.error("V026", "a tuple can only be stored to memory", expr.span,
                            "store it with `mem[a] = (X, Y)`")
            return ir.Const(0, 0, span=expr.span)
        return expr  # already resolved

    def name(self, expr: ir.Name, want: int | None = None) -> ir.Expr:
        kind = self.lookup_kind(expr.name)
        if kind == "local":
            return ir.Local(expr.name, self.locals[expr.name], span=expr.span)
        if kind in ("operand", "reg-operand"):
            index = next(i for i, o in enumerate(self.operands) if o.name == expr.name)
            operand = self.operands[index]
            assert operand.width is not None
            return ir.Operand(index, operand.name, operand.kind, operand.width, span=expr.span)
        if kind == "register":
            reg = self.machine.register(expr.name)
            assert reg is not None
            return ir.Reg(reg.name, reg.width, span=expr.span)
        if kind == "banked":
            return ir.Banked(expr.name, self.machine.target_width(expr.name), span=expr.span)
        if kind == "array":
            array = self.machine.array(expr.name)
            assert array is not None
            self.sink.error("V043", f"'{expr.name}' is a register array: name one of its registers",
                            expr.span, f"write `{expr.name}[i]` (i from 0 to {len(array.elements) - 1}), "
                            f"or `{array.elements[-1]}`")
            return ir.Const(0, 0, span=expr.span)
        # The mode reads as its number (0 = most privileged) and, like a number, widens to
        # the width its context wants: `A = M`, `M == user`.
        width = self.machine.mode_width
        wider = want if want and want > width else None
        if kind == "mode":
            mode = ir.Mode(width, span=expr.span)
            return ir.Call("zext", (mode, ir.Const(wider, wider.bit_length())), wider,
                           span=expr.span) if wider else mode
        if kind == "mode-value":
            return ir.Const(self.machine.modes.index(expr.name), wider or width, span=expr.span)
        if kind == "next":
            pc = self.machine.register(self.machine.pc)
            return ir.NextPc(pc.width if pc else self.machine.word, span=expr.span)
        if expr.name in self.ended:  # a `let` of a block that has ended
            where = self.ended[expr.name]
            line = f" at line {where.line}" if where is not None else ""
            self.sink.error("V010", f"'{expr.name}' is out of scope", expr.span,
                            f"the `let {expr.name}`{line} is seen only inside its own block; declare it "
                            f"before the block, or choose its value with a conditional expression: "
                            f"`let {expr.name} = if C {{ X }} else {{ Y }}`")
            return ir.Const(0, 0, span=expr.span)
        undefined(self.sink, "name", expr.name, expr.span, self.names(),
                   "declare it as a register of the machine, an operand, or with `let`")
        return ir.Const(0, 0, span=expr.span)

    def unary(self, expr: ir.Unary, want: int | None) -> ir.Expr:
        if expr.op == "!":
            operand = self.condition(expr.operand)
            return ir.Unary("!", operand, 1, span=expr.span)
        operand = self.expr(expr.operand, want)
        return ir.Unary(expr.op, operand, width_of(operand), span=expr.span)

    def binary(self, expr: ir.Binary, want: int | None) -> ir.Expr:
        op = expr.op
        if op in LOGIC_OPS:
            left, right = self.condition(expr.left), self.condition(expr.right)
            return ir.Binary(op, left, right, 1, span=expr.span)
        if op in SHIFT_OPS:
            left = self.expr(expr.left, want)
            right = self.expr(expr.right, width_of(left) or None)
            return ir.Binary(op, left, right, width_of(left), span=expr.span)
        if op in COMPARE_OPS and (
                (self.is_mode(expr.left) and self.unknown_mode(expr.right))
                or (self.is_mode(expr.right) and self.unknown_mode(expr.left))):
            return ir.Const(0, 1, span=expr.span)
        operand_want = None if op in COMPARE_OPS else want
        left, right = self.pair(expr.left, expr.right, operand_want)
        lw, rw = width_of(left), width_of(right)
        if lw != rw and lw > 0 and rw > 0:
            self.sink.error("V012", f"width mismatch: '{op}' needs operands of one width, not "
                            f"{bit_pair(lw, rw)}", expr.span, width_hint(min(lw, rw), max(lw, rw)))
        width = 1 if op in COMPARE_OPS else max(lw, rw)
        return ir.Binary(op, left, right, width, span=expr.span)

    def conditional(self, expr: ir.CondExpr, want: int | None) -> ir.Expr:
        """`if C { X } else { Y }`: both branches of one width, a number taking the other's."""
        condition = self.condition(expr.condition)
        if self.adapts(expr.then) and self.adapts(expr.otherwise) and not want:
            want = max(_natural_width(expr.then, self.machine), _natural_width(expr.otherwise, self.machine))
        then, otherwise = self.pair(expr.then, expr.otherwise, want)
        tw, ow = width_of(then), width_of(otherwise)
        if tw != ow and tw > 0 and ow > 0:
            self.sink.error("V012", f"width mismatch: the branches of a conditional expression are "
                            f"{bit_pair(tw, ow)}", expr.span, width_hint(min(tw, ow), max(tw, ow)))
        return ir.CondExpr(condition, then, otherwise, max(tw, ow), span=expr.span)

    def is_mode(self, expr: ir.Expr) -> bool:
        return isinstance(expr, ir.Name) and self.lookup_kind(expr.name) == "mode"

    def unknown_mode(self, expr: ir.Expr) -> bool:
        """Report a name compared with or assigned to the mode that is no mode (V014)."""
        if not isinstance(expr, ir.Name) or self.lookup_kind(expr.name) is not None:
            return False
        modes = self.machine.modes
        self.sink.error("V014", f"unknown mode '{expr.name}'", expr.span,
                        did_you_mean(expr.name, modes)
                        or f"the modes of '{self.machine.name}' are {', '.join(modes)}")
        return True

    def adapts(self, expr: ir.Expr) -> bool:
        """Whether `expr` takes its width from its context: numbers and the mode."""
        if isinstance(expr, ir.Name):
            return self.lookup_kind(expr.name) in ("mode", "mode-value")
        if isinstance(expr, ir.Number):
            return True
        if isinstance(expr, ir.Unary) and expr.op in ("-", "~"):
            return self.adapts(expr.operand)
        if isinstance(expr, ir.Binary) and expr.op in SHIFT_OPS:
            return self.adapts(expr.left)  # as wide as the value it shifts
        if isinstance(expr, ir.Binary) and expr.op in ARITHMETIC_OPS:
            return self.adapts(expr.left) and self.adapts(expr.right)
        if isinstance(expr, ir.Call) and expr.func == "sra":
            return self.adapts(expr.args[0])  # as wide as the value it shifts
        if isinstance(expr, ir.CondExpr):
            return self.adapts(expr.then) and self.adapts(expr.otherwise)
        return False

    def pair(self, left: ir.Expr, right: ir.Expr, want: int | None) -> tuple[ir.Expr, ir.Expr]:
        """Type two operands; a number (or the mode) takes the width of the other side."""
        if self.adapts(left) and self.adapts(right) and not want:
            want = max(_natural_width(left, self.machine), _natural_width(right, self.machine))
        if self.adapts(left) and not self.adapts(right):
            typed_right = self.expr(right, want)
            return self.expr(left, width_of(typed_right) or want), typed_right
        typed_left = self.expr(left, want)
        return typed_left, self.expr(right, width_of(typed_left) or want)

    def constant(self, expr: ir.Expr, what: str) -> int | None:
        if isinstance(expr, ir.Number):
            return expr.value
        self.sink.error("V031", f"{what} must be a number", expr.span,
                        "slice bounds and widths are fixed when the spec is compiled")
        return None

    def array_of(self, expr: ir.SliceExpr) -> ir.RegisterArray | None:
        """The register array `X` of `X[i]`, if `expr` indexes one."""
        if isinstance(expr.value, ir.Name) and self.lookup_kind(expr.value.name) == "array":
            return self.machine.array(expr.value.name)
        return None

    def indexed(self, expr: ir.SliceExpr, array: ir.RegisterArray) -> ir.Expr:
        """`X[i]`: the element of array X that `i` selects; a number must name one."""
        count = len(array.elements)
        if expr.lo is not None:
            self.sink.error("V043", f"'{array.name}' is a register array: index it with one number",
                            expr.span, f"write `{array.name}[i]` for an element and slice that element, "
                            f"e.g. `{array.elements[0]}[3:0]`")
            return ir.Const(0, 0, span=expr.span)
        index = self.expr(expr.hi, None)
        if isinstance(index, ir.Const) and index.width > 0 and index.value >= count:
            self.sink.error("V023", f"'{array.name}' has registers 0 to {count - 1}, not {index.value}",
                            expr.hi.span, f"index it below {count}")
            return ir.Const(0, 0, span=expr.span)
        width = self.machine.target_width(array.elements[0])
        return ir.Indexed(array.name, index, width, span=expr.span)

    def slice(self, expr: ir.SliceExpr) -> ir.Expr:
        array = self.array_of(expr)
        if array is not None:
            return self.indexed(expr, array)
        value = self.expr(expr.value, None)
        hi = self.constant(expr.hi, "a slice bound")
        lo = self.constant(expr.lo, "a slice bound") if expr.lo is not None else hi
        width = width_of(value)
        if hi is None or lo is None or width == 0:
            return ir.Const(0, 0, span=expr.span)
        if lo > hi:
            self.sink.error("V031", f"the slice [{hi}:{lo}] has its bounds the wrong way round",
                            expr.span, f"write the high bit first: [{lo}:{hi}]")
            return ir.Const(0, 0, span=expr.span)
        if hi >= width:
            self.sink.error("V031", f"bits [{hi}:{lo}] are outside {a_bits(width)} value "
                            f"(bits {width - 1}..0)", expr.span, "bits are numbered from 0")
            return ir.Const(0, 0, span=expr.span)
        return ir.Slice(value, hi, lo, hi - lo + 1, span=expr.span)

    def call(self, expr: ir.Call, want: int | None) -> ir.Expr:
        func, args = expr.func, expr.args
        arity = {"sext": 2, "zext": 2, "slt": 2, "sle": 2, "sra": 2}.get(func)
        if arity is not None and len(args) != arity:
            self.sink.error("V032", f"{func} takes {arity} arguments, not {len(args)}", expr.span,
                            _builtin_usage(func))
            return ir.Const(0, 0, span=expr.span)
        if func in ("sext", "zext"):
            size = self.constant(args[1], f"the width given to {func}")
            value = self.expr(args[0], None)
            if size is None:
                return ir.Const(0, 0, span=expr.span)
            if size < width_of(value) or not check_width(self.sink, size, args[1].span, f"the {func} width"):
                if size < width_of(value):
                    self.sink.error("V032", f"{func} cannot narrow {a_bits(width_of(value))} value to "
                                    f"{size} bits", expr.span, "use a slice, e.g. `X[7:0]`, to narrow")
                return ir.Const(0, 0, span=expr.span)
            return ir.Call(func, (value, ir.Const(size, size.bit_length() or 1)), size, span=expr.span)
        if func == "concat":
            if len(args) < 2:
                self.sink.error("V032", "concat takes at least two values", expr.span, _builtin_usage(func))
                return ir.Const(0, 0, span=expr.span)
            parts = []
            for arg in args:
                if isinstance(arg, ir.Number):
                    self.sink.error("V032", "a number in concat has no width", arg.span,
                                    "give it one with zext, e.g. `zext(0, 4)`")
                parts.append(self.expr(arg, None))
            return ir.Call(func, tuple(parts), sum(width_of(p) for p in parts), span=expr.span)
        if func in ("slt", "sle"):
            left, right = self.pair(args[0], args[1], None)
            if width_of(left) != width_of(right):
                self.sink.error("V012", f"width mismatch: {func} needs operands of one width, not "
                                f"{width_of(left)} and {width_of(right)} bits", expr.span,
                                width_hint(min(width_of(left), width_of(right)),
                                            max(width_of(left), width_of(right))))
            return ir.Call(func, (left, right), 1, span=expr.span)
        # sra
        value = self.expr(args[0], want)
        amount = self.expr(args[1], width_of(value) or None)
        return ir.Call(func, (value, amount), width_of(value), span=expr.span)


def _natural_width(expr: ir.Expr, machine: ir.Machine) -> int:
    """The fewest bits an adapting expression (numbers, the mode) needs."""
    if isinstance(expr, ir.Number):
        return max(1, expr.value.bit_length())
    if isinstance(expr, ir.Unary):
        return _natural_width(expr.operand, machine)
    if isinstance(expr, ir.Binary) and expr.op in SHIFT_OPS:
        return _natural_width(expr.left, machine)
    if isinstance(expr, ir.Binary):
        return max(_natural_width(expr.left, machine), _natural_width(expr.right, machine))
    if isinstance(expr, ir.Call):
        return _natural_width(expr.args[0], machine)
    if isinstance(expr, ir.CondExpr):
        return max(_natural_width(expr.then, machine), _natural_width(expr.otherwise, machine))
    return machine.mode_width


def width_of(expr: ir.Expr) -> int:
    width = getattr(expr, "width", None)
    return width if isinstance(width, int) else 0


def target_name(target: ir.Expr) -> str:
    if isinstance(target, ir.Reg | ir.Banked):
        return f"register '{target.reg}'"
    if isinstance(target, ir.Indexed):
        return f"a register of '{target.array}'"
    if isinstance(target, ir.Field):
        return f"field '{target.reg}.{target.field}'"
    if isinstance(target, ir.Mode):
        return "the mode"
    if isinstance(target, ir.Operand):
        return f"operand '{target.name}'"
    return "the memory word"


def _builtin_usage(func: str) -> str:
    return {
        "sext": "sext(value, width) sign-extends to a wider width",
        "zext": "zext(value, width) zero-extends to a wider width",
        "concat": "concat(high, ..., low) joins values, the first in the high bits",
        "slt": "slt(a, b) is a signed a < b",
        "sle": "sle(a, b) is a signed a <= b",
        "sra": "sra(value, amount) shifts right, copying the sign bit",
    }[func]
