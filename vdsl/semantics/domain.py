"""The value domain the evaluator computes in.

The evaluator (`vdsl.semantics.evaluator`) knows the meaning of every statement and
expression; a domain knows what a value *is*.  The compiled emulator's domain makes
values Python integers or names of generated variables; the analysis domain (z3)
makes them bit-vector terms.  Both run the same evaluator, so they cannot drift apart.

Conventions every domain follows:
- a value of width w is an unsigned integer in [0, 2**w); booleans are 1-bit values;
- `/` by zero gives all ones and `%` by zero gives the dividend (as z3 and RISC-V do);
- shifts by the width or more give 0 (`sra`: copies of the sign bit).
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

V = TypeVar("V")
Mem = TypeVar("Mem")


class Domain(Protocol, Generic[V, Mem]):
    """Operations on values of one domain; widths are always given explicitly."""

    def const(self, value: int, width: int) -> V: ...

    def truth(self, condition: V) -> bool | None:
        """The condition's value when the domain already knows it (lets dead code be skipped)."""

    def unary(self, op: str, value: V, width: int) -> V:
        """`-` (negate), `~` (invert), `!` (1-bit not)."""

    def binary(self, op: str, left: V, right: V, width: int) -> V:
        """An operator of the language; `width` is the operands' width (comparisons give 1 bit)."""

    def ite(self, condition: V, then: V, otherwise: V, width: int) -> V: ...

    def extract(self, value: V, hi: int, lo: int, width: int) -> V:
        """Bits hi..lo of a `width`-bit value."""

    def zext(self, value: V, width: int, to: int) -> V: ...

    def sext(self, value: V, width: int, to: int) -> V: ...

    def concat(self, parts: list[tuple[V, int]]) -> V:
        """Join (value, width) parts, the first in the high bits."""

    def insert(self, old: V, width: int, lo: int, value: V, value_width: int) -> V:
        """`old` with bits lo .. lo + value_width - 1 replaced by `value` (a field write)."""

    # machine state
    def register(self, name: str, width: int) -> V:
        """The value a register holds when the instruction starts."""

    def mode(self, width: int) -> V: ...

    def pc(self, width: int) -> V:
        """The address of the instruction being executed."""

    def operand(self, index: int, width: int) -> V: ...

    def memory(self) -> Mem:
        """Memory as the instruction starts."""

    def load(self, memory: Mem, address: V, address_width: int, width: int) -> V:
        """The word at a physical address known to be inside memory when it matters."""

    def store(self, memory: Mem, guard: V, address: V, address_width: int, value: V, width: int) -> Mem:
        """Memory after writing `value` at `address` when `guard` holds."""
