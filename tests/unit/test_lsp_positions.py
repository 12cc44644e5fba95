"""vdsl's 1-based, character columns against the protocol's 0-based, UTF-16 ones."""

from __future__ import annotations

from lsprotocol import types

from vdsl.lsp.positions import from_position, to_range, utf16_column, whole_text
from vdsl.source import SourceFile, Span

SOURCE = SourceFile("t.vspec", "reg A\n// 𝔸é\nreg B // 😀 x\n")


def test_columns_count_utf16_code_units() -> None:
    assert utf16_column("reg A", 1) == 0
    assert utf16_column("// 𝔸é", 5) == 5  # 𝔸 is two code units
    assert utf16_column("// 𝔸é", 6) == 6


def test_spans_to_ranges_and_back() -> None:
    span = Span(SOURCE, 3, 12, 3, 13)  # the x after the emoji
    assert to_range(span) == types.Range(start=types.Position(line=2, character=12),
                                         end=types.Position(line=2, character=13))
    assert from_position(SOURCE, types.Position(line=2, character=12)) == (3, 12)
    assert from_position(SOURCE, types.Position(line=0, character=4)) == (1, 5)
    assert from_position(SOURCE, types.Position(line=0, character=99)) == (1, 6)
    assert from_position(SOURCE, types.Position(line=99, character=0)) == (100, 1)


def test_the_whole_text() -> None:
    assert whole_text("reg A\n") == types.Range(start=types.Position(line=0, character=0),
                                                end=types.Position(line=1, character=0))
    assert whole_text("a\n😀") == types.Range(start=types.Position(line=0, character=0),
                                             end=types.Position(line=1, character=2))
