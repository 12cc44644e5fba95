"""Source text and positions: every IR node points back here through a `Span`."""

from __future__ import annotations

import attrs


@attrs.frozen
class SourceFile:
    """The text of one .vspec file and the name diagnostics use for it."""

    name: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


@attrs.frozen
class Span:
    """A range of a source file, 1-based lines and columns, end column exclusive."""

    source: SourceFile = attrs.field(repr=False, eq=False)
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def file(self) -> str:
        return self.source.name

    def location(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def excerpt(self) -> list[str]:
        """The source line and a caret line under the span (first line only)."""
        # Control characters (a binary file, an escape sequence) never reach the terminal.
        text = "".join(c if c.isprintable() else "\ufffd"
                       for c in self.source.line(self.line).expandtabs(1))
        if not text and self.line > len(self.source.text.splitlines()):
            return []
        end = self.end_column if self.end_line == self.line else len(text) + 1
        width = max(1, end - self.column)
        gutter = f"{self.line:>4} | "
        return [gutter + text, " " * (len(gutter) - 2) + "| " + " " * (self.column - 1) + "^" * width]
