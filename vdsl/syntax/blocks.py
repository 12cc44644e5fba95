"""Which braces are open at a place in a spec, and what each one opened: for the syntax error
that a missing '}' makes, which names the block and where it starts rather than the place the
parser happened to notice.

A light scan, not the parser: comments and strings are skipped, every '{' is a block whose
header is the text before it on its line ("inst INC", "if A == 0").  It also reads the
indentation: a '}' alone on its line that sits left of the block it closes most likely closes
an outer block, so the inner one is where the '}' is missing.
"""

from __future__ import annotations

import functools
import re

import attrs

from vdsl.source import SourceFile, Span


@functools.cache
def _scan() -> re.Pattern[str]:
    """Comments and strings (the grammar's own patterns, so braces in them do not count), then
    the symbols that open, close or end a header."""
    from vdsl.syntax.parser import terminal_regexps  # the parser reports with this module

    return re.compile(terminal_regexps("LINE_COMMENT", "BLOCK_COMMENT", "STRING") + r"|[{};\n]")

_HEADER_WORD = re.compile(r"[A-Za-z_][\w.]*|\S")

# What the first word of a block's header says it is.
_KINDS = {
    "machine": "machine", "isa": "isa", "inst": "instruction", "program": "program",
    "hypervisor": "hypervisor", "scenario": "scenario", "stack": "stack", "def": "helper",
    "reg": "register", "virtualization": "virtualization", "management": "management VM",
}
_UNNAMED = {"trap": "the trap declaration", "modes": "the modes list", "exits": "the exit list",
            "shadow": "the shadow list", "hypercalls": "the hypercall list", "else": "the 'else' block"}


@attrs.frozen
class OpenBlock:
    """A '{' with no '}' yet: what it opens (`instruction 'INC'`) and where its header starts."""

    description: str
    start: int  # offset of the header's first character
    brace: int  # offset of the '{'
    indent: int  # the indentation of the header's line

    def span(self, source: SourceFile) -> Span:
        """The header up to and including the brace (on the header's first line)."""
        line, column = _position(source.text, self.start)
        brace_line, brace_column = _position(source.text, self.brace)
        end = brace_column + 1 if brace_line == line else len(source.line(line)) + 1
        return Span(source, line, column, line, max(end, column + 1))


@attrs.frozen
class BlockScan:
    """The blocks open at the end of the scanned text, innermost last, and the first block a
    badly indented '}' suggests was left open."""

    open: tuple[OpenBlock, ...]
    suspect: OpenBlock | None
    suspect_closed_at: int | None = None  # the offset of the '}' that sits left of the suspect


def scan_blocks(text: str, end: int | None = None) -> BlockScan:
    """The blocks open at offset `end` of `text` (its end by default)."""
    stop = len(text) if end is None else end
    stack: list[OpenBlock] = []
    suspect: OpenBlock | None = None
    suspect_closed_at: int | None = None
    boundary = 0  # where the current header may start: after a newline, '{', '}' or ';'
    for match in _scan().finditer(text, 0, stop):
        symbol = match.group()
        if symbol == "{":
            stack.append(_block(text, boundary, match.start()))
        elif symbol == "}" and stack:
            closed = stack.pop()
            line_start = text.rfind("\n", 0, match.start()) + 1
            before = text[line_start:match.start()]
            if suspect is None and not before.strip() and len(before.expandtabs(4)) < closed.indent:
                suspect, suspect_closed_at = closed, match.start()
        if symbol in "{};\n":
            boundary = match.end()
    return BlockScan(tuple(stack), suspect, suspect_closed_at)


def line_of(text: str, offset: int) -> int:
    return _position(text, offset)[0]


def _block(text: str, boundary: int, brace: int) -> OpenBlock:
    header = text[boundary:brace]
    if not header.strip():  # a brace on a line of its own: the header is the line above
        above = text.rfind("\n", 0, max(boundary - 1, 0)) + 1
        boundary, header = above, text[above:brace]
    start = boundary + len(header) - len(header.lstrip())
    line_start = text.rfind("\n", 0, start) + 1
    indent = len(text[line_start:start].expandtabs(4)) if not text[line_start:start].strip() else 0
    return OpenBlock(_describe(header), start, brace, indent)


def _describe(header: str) -> str:
    words = _HEADER_WORD.findall(header)
    if not words:
        return "a block"
    first = words[0]
    for keyword in ("control", "timing"):  # `control reg R {`
        if first == keyword and len(words) > 1:
            words = words[1:]
            first = words[0]
    if first in _KINDS and len(words) > 1:
        return f"{_KINDS[first]} '{words[1]}'"
    if first in _UNNAMED:
        return _UNNAMED[first]
    if "else" in words:
        return "the 'else' block"
    if "if" in words:
        return "the 'if' block"
    return f"the block '{' '.join(words)[:30]}'"


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
