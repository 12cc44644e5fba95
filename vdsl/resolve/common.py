"""What every resolver needs: unique names, `extends` order, widths, state references, wording."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from vdsl.errors import DiagnosticSink, Related, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.source import Span

MAX_WIDTH = 4096


D = TypeVar("D")


def unique(sink: DiagnosticSink, decls: list[D], kind: str) -> dict[str, D]:
    found: dict[str, D] = {}
    for decl in decls:
        name = decl.name  # type: ignore[attr-defined]
        if name in found:
            first = found[name].span  # type: ignore[attr-defined]
            hint = "rename one of them" + (", or use `extends` to derive a variant"
                                           if kind in ("machine", "isa") else "")
            sink.error("V011", f"{kind} '{name}' is defined twice", decl.span,  # type: ignore[attr-defined]
                       hint, first_defined(first))
        else:
            found[name] = decl
    return found


def first_defined(span: Span | None) -> tuple[Related, ...]:
    """The related location of a name defined twice: where it was defined first."""
    return (Related("first defined here", span),) if span is not None else ()


def undefined(sink: DiagnosticSink, what: str, name: str, span: Span | None,
               candidates: Iterable[str], hint: str | None = None) -> None:
    sink.error("V010", f"undefined {what} '{name}'", span,
               did_you_mean(name, candidates) or hint or f"declare the {what} before using it")


def extends_order(sink: DiagnosticSink, decls: dict[str, D], kind: str) -> list[D]:
    """Declarations ordered so that each comes after what it extends; cycles reported."""
    order: list[D] = []
    state: dict[str, str] = {}

    def visit(decl: D, chain: list[str]) -> bool:
        name = decl.name  # type: ignore[attr-defined]
        if state.get(name) == "done":
            return True
        if state.get(name) == "active":
            sink.error("V027", f"{kind} '{name}' extends itself: {' -> '.join([*chain, name])}",
                       decl.extends_span, "remove one `extends` from the chain")  # type: ignore[attr-defined]
            return False
        state[name] = "active"
        base = decl.extends  # type: ignore[attr-defined]
        ok = True
        if base is not None:
            if base in decls:
                ok = visit(decls[base], [*chain, name])
            else:
                undefined(sink, kind, base, decl.extends_span, decls)  # type: ignore[attr-defined]
                ok = False
        state[name] = "done"
        if ok:
            order.append(decl)
        return ok

    for decl in decls.values():
        visit(decl, [])
    return order


def check_width(sink: DiagnosticSink, width: int, span: Span | None, what: str) -> bool:
    if not 1 <= width <= MAX_WIDTH:
        sink.error("V023", f"{what} must be between 1 and {MAX_WIDTH} bits, not {width}", span,
                   "widths count bits, e.g. 16 or 32")
        return False
    return True


def check_state_ref(sink: DiagnosticSink, ref: ir.StateRef, registers: dict[str, ir.Register],
                     mode_name: str) -> int | None:
    """The width of a referenced piece of state, or None after reporting it undefined."""
    if ref.reg == mode_name and ref.field is None:
        return -1  # the mode: width decided by the caller
    reg = registers.get(ref.reg)
    copies = [r.name for r in registers.values() if r.banked == ref.reg]
    if reg is None and copies:
        sink.error("V010", f"'{ref.reg}' is a banked register: name one of its copies", ref.span,
                   "its copies are " + ", ".join(copies))
        return None
    if reg is None:
        undefined(sink, "register", ref.reg, ref.span, [*list(registers), mode_name])
        return None
    if ref.field is None:
        return reg.width
    field = reg.field(ref.field)
    if field is None:
        no_field(sink, reg, ref.field, ref.span)
        return None
    return field.width


def no_field(sink: DiagnosticSink, reg: ir.Register, name: str, span: Span | None) -> None:
    hint = did_you_mean(name, [f.name for f in reg.fields]) or (
        f"the fields of '{reg.name}' are " + ", ".join(f.name for f in reg.fields) if reg.fields
        else f"declare fields with `reg {reg.name} {{ {name} }}`")
    sink.error("V010", f"register '{reg.name}' has no field '{name}'", span, hint)


def check_state_value(sink: DiagnosticSink, machine: ir.Machine, ref: ir.StateRef, value: int,
                       span: Span | None, mode_hint: str) -> None:
    """Check that `ref` names machine state and that `value` fits it (an init or a pin)."""
    registers = {r.name: r for r in machine.registers}
    width = check_state_ref(sink, ref, registers, machine.mode_name)
    if width == -1:
        if value >= len(machine.modes):
            sink.error("V014", f"there is no mode number {value}", span, mode_hint)
    elif width is not None and value >= 1 << width:
        sink.error("V023", f"the value {value} does not fit in {bits(width)}", span,
                   f"the largest {width}-bit value is {(1 << width) - 1}")


def check_pins(sink: DiagnosticSink, machine: ir.Machine, pins: tuple[ir.Pin, ...]) -> None:
    for pin in pins:
        if pin.target.reg == machine.mode_name and pin.target.field is None:
            sink.error("V038", "the mode cannot be pinned", pin.span,
                       "say where guests run with `guests run in MODE`")
        else:
            check_state_value(sink, machine, pin.target, pin.value, pin.span, "")


def bits(width: int) -> str:
    return "1 bit" if width == 1 else f"{width} bits"


def bit_pair(first: int, second: int) -> str:
    """'16 and 8 bits', but '16 bits and 1 bit'."""
    return f"{first} and {second} bits" if 1 not in (first, second) else \
        f"{bits(first)} and {bits(second)}"


def a_bits(width: int) -> str:
    """'a 16-bit', 'an 8-bit', 'an 11-bit': the article as the number is spoken."""
    article = "an" if str(width).startswith("8") or width in (11, 18) else "a"
    return f"{article} {width}-bit"


def fit_hint(actual: int, wanted: int) -> str:
    """How to make an `actual`-bit value fit where `wanted` bits are needed."""
    if actual < wanted:
        return f"widen the value with zext(x, {wanted}) or sext(x, {wanted})"
    return f"keep the low bits with a slice x[{wanted - 1}:0]"


def width_hint(narrow: int, wide: int) -> str:
    return f"widen the narrower value with zext(x, {wide}) or sext(x, {wide}), or narrow the " \
           f"wider one with a slice x[{narrow - 1}:0]"
