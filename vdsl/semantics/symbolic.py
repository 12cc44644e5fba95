"""The symbolic domain: the same evaluator, with values as z3 bit-vector terms.

Booleans are 1-bit vectors, as in the concrete domain, so every operator means the
same in both; memory is a z3 array from physical addresses to words.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from vdsl.ir import nodes as ir


def _bool(value: z3.BitVecRef) -> z3.BoolRef:
    return value == z3.BitVecVal(1, 1)


def _shift_amount(amount: z3.BitVecRef, width: int) -> z3.BitVecRef:
    """The amount at the shifted value's width (z3 needs one width); amounts of the width or
    more become the width itself, which z3 shifts treat as in the language."""
    amount_width = amount.size()
    if amount_width == width:
        return amount
    if amount_width < width:
        return z3.ZeroExt(width - amount_width, amount)
    too_far = z3.UGE(amount, z3.BitVecVal(width, amount_width))
    return z3.If(too_far, z3.BitVecVal(width, width), z3.Extract(width - 1, 0, amount))


def insert(old: z3.BitVecRef, width: int, lo: int, value: z3.BitVecRef, value_width: int) -> z3.BitVecRef:
    """`old` with bits lo .. lo + value_width - 1 replaced by `value` (a field write)."""
    top = lo + value_width
    parts = ([z3.Extract(width - 1, top, old)] if top < width else []) + [value] \
        + ([z3.Extract(lo - 1, 0, old)] if lo > 0 else [])
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


_COMPARE: dict[str, Callable[[z3.BitVecRef, z3.BitVecRef], z3.BoolRef]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": z3.ULT,
    "<=": z3.ULE,
    ">": z3.UGT,
    ">=": z3.UGE,
    "slt": lambda a, b: a < b,
    "sle": lambda a, b: a <= b,
}


# Operators folded on constants (the logic ones also with one constant operand: x & 0 is 0).
_LOGIC: dict[str, Callable[[int, int], int]] = {
    "&&": lambda a, b: a & b, "&": lambda a, b: a & b, "||": lambda a, b: a | b, "|": lambda a, b: a | b,
}
_UNSIGNED: dict[str, Callable[[int, int], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class Z3Domain:
    """Values are z3 bit-vectors; the initial state is given as terms (usually fresh constants)."""

    def __init__(self, machine: ir.Machine, registers: dict[str, z3.BitVecRef], mode: z3.BitVecRef,
                 pc: z3.BitVecRef, operands: list[z3.BitVecRef], memory: z3.ArrayRef) -> None:
        self.machine = machine
        self.registers = registers
        self._mode = mode
        self._pc = pc
        self.operands = operands
        self._memory = memory
        self._truths: dict[int, bool | None] = {}
        self._constants: dict[tuple[int, int], z3.BitVecRef] = {}
        # The value of each constant `const` made, by the Python object's id (the constants are
        # kept in `_constants`): known without asking z3, so that the path conditions, flags and
        # guards that are plain constants fold here instead of growing terms z3 must simplify.
        self._values: dict[int, int] = {}
        self._kept: list[z3.BitVecRef] = []

    def const(self, value: int, width: int) -> z3.BitVecRef:
        key = (value, width)
        found = self._constants.get(key)
        if found is None:
            found = self._constants[key] = z3.BitVecVal(value, width)
            self._values[id(found)] = value
        return found

    def _bit(self, condition: z3.BoolRef) -> z3.BitVecRef:
        return z3.If(condition, self.const(1, 1), self.const(0, 1))

    def truth(self, condition: z3.BitVecRef) -> bool | None:
        value = self._values.get(id(condition))
        if value is not None:
            return bool(value)
        # z3 hash-conses terms: the same condition, asked again (every guarded write of a
        # register array or a register operand asks it), has the same id and is simplified once.
        key = condition.get_id()
        if key in self._truths:
            return self._truths[key]
        simple = z3.simplify(condition)
        known = bool(simple.as_long()) if z3.is_bv_value(simple) else None
        self._truths[key] = known
        self._kept.append(condition)  # keeps the id from being reused while it is cached
        return known

    def unary(self, op: str, value: z3.BitVecRef, width: int) -> z3.BitVecRef:
        known = self._values.get(id(value))
        if known is not None:
            folded = -known if op == "-" else ~known if op == "~" else known ^ 1
            return self.const(folded & ((1 << width) - 1), width)
        if op == "-":
            return -value
        if op == "~":
            return ~value
        return value ^ z3.BitVecVal(1, 1)  # "!" on a 1-bit value

    def binary(self, op: str, left: z3.BitVecRef, right: z3.BitVecRef, width: int) -> z3.BitVecRef:
        folded = self._folded(op, left, right, width)
        if folded is not None:
            return folded
        if op in _COMPARE:
            return self._bit(_COMPARE[op](left, right))
        if op in ("&&", "&"):
            return left & right
        if op in ("||", "|"):
            return left | right
        if op == "^":
            return left ^ right
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            return z3.UDiv(left, right)  # z3: x / 0 is all ones, as in the language
        if op == "%":
            return z3.URem(left, right)  # z3: x % 0 is x
        amount = _shift_amount(right, width)
        if op == "<<":
            return left << amount
        if op == ">>":
            return z3.LShR(left, amount)
        if op == "sra":
            return left >> amount
        raise ValueError(f"unknown operator {op}")

    def _folded(self, op: str, left: z3.BitVecRef, right: z3.BitVecRef, width: int) -> z3.BitVecRef | None:
        """The result, when constants make it one of the operands or a constant (else None)."""
        a, b = self._values.get(id(left)), self._values.get(id(right))
        if a is None and b is None:
            return None
        full = (1 << width) - 1
        if op in _LOGIC:
            if a is not None and b is not None:
                return self.const(_LOGIC[op](a, b), width)
            known, other = (a, right) if a is not None else (b, left)
            neutral, absorbing = (full, 0) if op in ("&&", "&") else (0, full)
            if known == neutral:
                return other
            if known == absorbing:
                return self.const(absorbing, width)
            return None
        if a is None or b is None:
            return None
        if op in _UNSIGNED:
            return self.const(int(_UNSIGNED[op](a, b)), 1)
        if op in ("+", "-"):
            return self.const((a + b if op == "+" else a - b) & full, width)
        return None

    def ite(self, condition: z3.BitVecRef, then: z3.BitVecRef, otherwise: z3.BitVecRef,
            width: int) -> z3.BitVecRef:
        known = self.truth(condition)
        if known is not None:
            return then if known else otherwise
        return z3.If(_bool(condition), then, otherwise)

    def extract(self, value: z3.BitVecRef, hi: int, lo: int, width: int) -> z3.BitVecRef:
        return value if (hi, lo) == (width - 1, 0) else z3.Extract(hi, lo, value)

    def zext(self, value: z3.BitVecRef, width: int, to: int) -> z3.BitVecRef:
        return z3.ZeroExt(to - width, value)

    def sext(self, value: z3.BitVecRef, width: int, to: int) -> z3.BitVecRef:
        return z3.SignExt(to - width, value)

    def concat(self, parts: list[tuple[z3.BitVecRef, int]]) -> z3.BitVecRef:
        return z3.Concat(*[value for value, _ in parts])

    def insert(self, old: z3.BitVecRef, width: int, lo: int, value: z3.BitVecRef,
               value_width: int) -> z3.BitVecRef:
        return insert(old, width, lo, value, value_width)

    def register(self, name: str, width: int) -> z3.BitVecRef:
        return self.registers[name]

    def mode(self, width: int) -> z3.BitVecRef:
        return self._mode

    def pc(self, width: int) -> z3.BitVecRef:
        return self._pc

    def operand(self, index: int, width: int) -> z3.BitVecRef:
        return self.operands[index]

    def memory(self) -> z3.ArrayRef:
        return self._memory

    def load(self, memory: z3.ArrayRef, address: z3.BitVecRef, address_width: int,
             width: int) -> z3.BitVecRef:
        return z3.Select(memory, address)

    def store(self, memory: z3.ArrayRef, guard: z3.BitVecRef, address: z3.BitVecRef,
              address_width: int, value: z3.BitVecRef, width: int) -> z3.ArrayRef:
        known = self.truth(guard)
        if known is False:
            return memory
        stored = z3.Store(memory, address, value)
        return stored if known else z3.If(_bool(guard), stored, memory)
