"""Resolve instruction encodings: bit patterns in an instruction word, decodetree-style.

A pattern is written most significant bit first, as parts separated by spaces: runs of fixed
bits (`0`, `1`, and `.` for a bit any value matches) and operand fields: `NAME` (the whole
operand, at its declared width), `NAME:WIDTH`, or a slice `NAME[HI:LO]` / `NAME[BIT]` for an
operand split over several fields (RISC-V's store and branch offsets).  Its width is the memory
word's.  An operand in fields is held in those bits (a `reg` operand as the register's
position); the operands not in the pattern follow the word, one extension word each, in
declaration order.  An isa encodes all its instructions or none, and no word matches two
patterns: the decoder finds at most one instruction for every word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import a_bits, bits
from vdsl.source import Span

_PART = re.compile(r"\S+")
_FIXED = re.compile(r"[01.]+")
_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::([0-9]+)|\[([0-9]+)(?::([0-9]+))?\])?")
_PATTERN_HINT = ("write fixed bits as 0, 1 or . (any bit), and operands as NAME, NAME:WIDTH or "
                 "NAME[HI:LO], separated by spaces")


@attrs.frozen
class _Part:
    """One part of a pattern: fixed bits (`operand` None), or a field holding an operand's bits
    `value_lo ..` (`value_lo` None: the whole operand)."""

    text: str
    width: int
    span: Span | None
    operand: int | None = None
    value_lo: int | None = None


def resolve_encoding(sink: DiagnosticSink, decl: ir.EncodingDecl, instruction: str,
                     declared: Sequence[ir.OperandDecl], operands: Sequence[ir.OperandDecl],
                     machine: ir.Machine) -> tuple[ir.Encoding | None, tuple[ir.OperandDecl, ...]]:
    """The encoding a pattern declares (None after reporting what is wrong with it), and the
    operands with the widths their fields give to immediates declared without one.

    `declared` are the operands as written and `operands` as resolved, one for one."""
    errors_before = len(sink.diagnostics)
    written = _split(decl)
    parts = [p for text, span in written
             if (p := _part(sink, text, span, instruction, declared, machine)) is not None]
    if not written:
        sink.error("V050", f"the encoding of '{instruction}' is empty", decl.span, _PATTERN_HINT)
    widths: dict[int, int] = {}  # the operands held in fields, by index, and their widths
    for index in sorted({p.operand for p in parts if p.operand is not None}):
        width = _operand_bits(sink, [p for p in parts if p.operand == index], declared[index])
        if width is not None:
            widths[index] = width
    if len(sink.diagnostics) > errors_before:
        return None, tuple(operands)
    total = sum(p.width for p in parts)
    word = machine.memory.width
    if total != word:
        fixed = sum(p.width for p in parts if p.operand is None)
        sink.error("V051", f"the encoding of '{instruction}' is {bits(total)}, but a memory word of "
                   f"'{machine.name}' is {bits(word)}", decl.span,
                   f"it has {fixed} fixed bit{'s' if fixed != 1 else ''} and fields of "
                   f"{bits(total - fixed)}: {'remove' if total > word else 'add'} {bits(abs(total - word))}")
        return None, tuple(operands)
    sized = tuple(attrs.evolve(o, width=widths[i]) if i in widths and o.kind == "imm" and
                  declared[i].width is None else o for i, o in enumerate(operands))
    mask = value = 0
    fields = []
    lo = total
    for part in parts:
        lo -= part.width
        if part.operand is not None:
            fields.append(ir.EncodingField(part.operand, lo, part.width, part.value_lo or 0))
            continue
        for k, bit in enumerate(reversed(part.text)):
            if bit != ".":
                mask |= 1 << (lo + k)
                value |= int(bit) << (lo + k)
    extension = tuple(i for i in range(len(operands)) if i not in widths)
    encoding = ir.Encoding(" ".join(p.text for p in parts), mask, value, tuple(fields), extension,
                           span=decl.span)
    return encoding, sized


def _split(decl: ir.EncodingDecl) -> list[tuple[str, Span | None]]:
    """The parts of a pattern, each with its place in the string (which lies on one line)."""
    span = decl.span
    found = []
    for match in _PART.finditer(decl.text):
        where = None
        if span is not None:
            column = span.column + 1 + match.start()  # + 1: the opening quote
            where = Span(span.source, span.line, column, span.line, column + len(match.group()))
        found.append((match.group(), where))
    return found


def _part(sink: DiagnosticSink, text: str, span: Span | None, instruction: str,
          declared: Sequence[ir.OperandDecl], machine: ir.Machine) -> _Part | None:
    """A part of a pattern, with the width it takes in the word."""
    if _FIXED.fullmatch(text):
        return _Part(text, len(text), span)
    match = _FIELD.fullmatch(text)
    if match is None:
        sink.error("V050", f"'{text}' is neither fixed bits nor an operand field", span, _PATTERN_HINT)
        return None
    name, written, hi, lo = match.groups()
    index = next((i for i, o in enumerate(declared) if o.name == name), None)
    if index is None:
        names = [o.name for o in declared]
        sink.error("V052", f"'{name}' is not an operand of '{instruction}'", span,
                   did_you_mean(name, names) or (
                       f"the operands of '{instruction}' are {', '.join(names)}" if names
                       else f"declare it: `inst {instruction} {name}: WIDTH = ...`"))
        return None
    if hi is not None:
        low = int(lo) if lo is not None else int(hi)
        if int(hi) < low:
            sink.error("V050", f"the slice '{text}' is reversed", span,
                       f"write the high bit first: {name}[{low}:{hi}]")
            return None
        word = machine.memory.width
        if int(hi) >= word:  # an operand held in one word has no more bits than the word
            sink.error("V053", f"'{text}' holds bit {int(hi)} of operand '{name}', but an operand held in "
                       f"{a_bits(word)} word has at most {bits(word)}", span,
                       f"its bits are {word - 1} to 0 at most")
            return None
        return _Part(text, int(hi) - low + 1, span, index, low)
    operand = declared[index]
    if written is not None:
        width = int(written)
        if width == 0:
            sink.error("V050", f"field '{name}' is 0 bits wide", span, "a field is at least 1 bit wide")
            return None
        if operand.kind == "imm" and operand.width is not None and width != operand.width:
            sink.error("V053", f"operand '{name}' is {bits(operand.width)}, but its field is {bits(width)}",
                       span, f"make them agree, or write `{name}` alone: the field takes the operand's width")
            return None
        return _Part(text, width, span, index)
    if operand.kind == "reg":  # wide enough for the position of every register it may name
        positions = [code for code, _ in machine.operand_targets(operand)] or [0]
        return _Part(text, max(max(positions).bit_length(), 1), span, index)
    if operand.width is None:
        sink.error("V053", f"field '{name}' needs a width: operand '{name}' declares none", span,
                   f"write `{name}:WIDTH` in the pattern, or declare the operand `{name}: WIDTH`")
        return None
    return _Part(text, operand.width, span, index)


def _operand_bits(sink: DiagnosticSink, parts: list[_Part], operand: ir.OperandDecl) -> int | None:
    """The width of an operand held in fields: every bit of it in exactly one field."""
    whole = [p for p in parts if p.value_lo is None]
    if whole and len(parts) > 1:
        twice = parts[1] if parts[0] in whole else whole[0]
        sink.error("V054", f"operand '{operand.name}' is held in two fields", twice.span,
                   f"remove one; to split an operand over several fields, use slices: {operand.name}[HI:LO]")
        return None
    if whole:
        return whole[0].width
    width = operand.width if operand.kind == "imm" and operand.width is not None else \
        max(p.width + (p.value_lo or 0) for p in parts)
    held: set[int] = set()
    for part in parts:
        low = part.value_lo or 0
        for bit in range(low, low + part.width):
            if bit >= width:
                sink.error("V053", f"operand '{operand.name}' is {bits(width)}, but '{part.text}' holds "
                           f"its bit {bit}", part.span, f"its bits are {width - 1} to 0")
                return None
            if bit in held:
                sink.error("V054", f"bit {bit} of operand '{operand.name}' is held in two fields", part.span,
                           "each bit of an operand is held in one field")
                return None
            held.add(bit)
    missing = [bit for bit in range(width) if bit not in held]
    if missing:
        sink.error("V053", f"bit{'s' if len(missing) > 1 else ''} {_bit_ranges(missing)} of operand "
                   f"'{operand.name}' {'are' if len(missing) > 1 else 'is'} in no field", parts[0].span,
                   "every bit of an operand split over fields is held in one of them")
        return None
    return width


def _bit_ranges(bits_: list[int]) -> str:
    """'11, 4..0': bits from the highest, runs shortened."""
    runs: list[list[int]] = []
    for bit in sorted(bits_, reverse=True):
        if runs and runs[-1][-1] == bit + 1:
            runs[-1].append(bit)
        else:
            runs.append([bit])
    return ", ".join(f"{r[0]}..{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def check_encodings(sink: DiagnosticSink, isa: str, decls: Sequence[ir.InstructionDecl],
                    instructions: Sequence[ir.Instruction], machine: ir.Machine) -> None:
    """An isa encodes all its instructions or none (V056), and no word matches two patterns
    (V055): the decoder finds at most one instruction for every word."""
    encoded = [d for d in decls if d.encoding is not None]
    plain = [d for d in decls if d.encoding is None]
    if encoded and plain:
        sink.error("V056", f"instruction '{plain[0].name}' has no encoding, but '{encoded[0].name}' "
                   f"in isa '{isa}' has one", plain[0].span,
                   f"an isa encodes all its instructions or none: give '{plain[0].name}' a pattern, "
                   f"`inst {plain[0].name} ... = \"...\" {{ ... }}`")
        return
    patterns = [i for i in instructions if i.encoding is not None]
    for k, second in enumerate(patterns):
        for first in patterns[:k]:
            a, b = first.encoding, second.encoding
            assert a is not None and b is not None
            if (a.value ^ b.value) & a.mask & b.mask:
                continue  # a fixed bit tells them apart
            word = format(a.value | b.value, f"0{machine.memory.width}b")
            where = f" (at {a.span.location()})" if a.span else ""
            sink.error("V055", f"the encodings of '{first.name}'{where} and '{second.name}' overlap: "
                       f"the word {word} matches both", b.span,
                       "make a fixed bit differ between them: a word decodes to one instruction")
            break  # one overlap per instruction is enough to fix
