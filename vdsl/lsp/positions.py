"""Positions between vdsl and the protocol, converted here and nowhere else.

vdsl counts lines and columns from 1, columns in characters, a span's end column exclusive
(`vdsl.source.Span`); the protocol counts both from 0, columns in UTF-16 code units.
"""

from __future__ import annotations

from lsprotocol import types

from vdsl.source import SourceFile, Span


def utf16_column(text: str, column: int) -> int:
    """The protocol's character offset of 1-based `column` in a line."""
    return len(text[:max(0, column - 1)].encode("utf-16-le")) // 2


def to_range(span: Span) -> types.Range:
    source = span.source
    return types.Range(
        start=types.Position(line=span.line - 1, character=utf16_column(source.line(span.line), span.column)),
        end=types.Position(line=span.end_line - 1,
                           character=utf16_column(source.line(span.end_line), span.end_column)),
    )


def file_start() -> types.Range:
    """Where a diagnostic about a whole file goes: its first character."""
    return types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=1))


def whole_text(text: str) -> types.Range:
    """The range of all of a text: an edit replacing it replaces the document."""
    lines = text.split("\n")
    end = utf16_column(lines[-1], len(lines[-1]) + 1)
    return types.Range(start=types.Position(line=0, character=0),
                       end=types.Position(line=len(lines) - 1, character=end))


def from_position(source: SourceFile, position: types.Position) -> tuple[int, int]:
    """vdsl's (line, column) of a protocol position in `source`."""
    text = source.line(position.line + 1)
    units = 0
    for index, char in enumerate(text):
        if units >= position.character:
            return position.line + 1, index + 1
        units += 2 if ord(char) > 0xFFFF else 1
    return position.line + 1, len(text) + 1
