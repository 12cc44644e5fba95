"""The canonical layout of .vspec text, printed from its tokens and comments (never from the IR).

The layout keeps what the author chose and normalizes what has one right answer:

- line breaks are the author's: a statement, a one-line block, a long line broken in two stay;
- an item (a declaration, a statement, a program word) that begins a line is indented four
  spaces per level of nesting; a program's labels one level less; a `}` at the start of a line
  goes with the line that opened its block; a line that continues an item keeps its indentation
  relative to the item's first line (hand alignment moves with it), never less;
- a comment on a line of its own is indented like the code line below it (like a block's items
  above its `}`, like a program's words above a label);
- between tokens on a line, one space, or none (`f(x)`, `mem[a]`, `R.base`, `a, b`, `x: 16`,
  `s[7:0]`, `-x`); two spaces between two statements on one line (`{ A = 1  B = 2 }`);
- two or more spaces before an end-of-line comment, an instruction's body, a register's fields
  or a program word are alignment: the column is kept (moved with the line's indentation);
- at most one blank line in a row, none at the start, after a `{` or before a `}`; no trailing
  spaces; one newline at the end.

`format_text` proves it changed only the layout: the result must lex to the same tokens and
comments as the input, or it raises `InternalError`.
"""

from __future__ import annotations

import bisect
import functools
import re
from typing import Any

import attrs
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from vdsl.errors import InternalError
from vdsl.resources import grammar_path
from vdsl.source import SourceFile
from vdsl.syntax.parser import _NamesEverywhere, parse, terminal_regexps

INDENT = 4
# Nodes whose items sit between their `{` and their last child, the closing `}`.
CONTAINERS = frozenset({"machine", "isa", "program", "hypervisor", "scenario", "stack", "trap_decl",
                        "virtualization", "block"})
CALLS = frozenset({"call", "helper_call", "call_stmt", "helper_def"})
ALIGNED_PADDING = 2  # this many spaces or more before an aligned token is alignment, kept


@attrs.frozen
class Item:
    """A declaration, a statement or a program word: what a line may begin with."""

    depth: int  # levels of nesting: 0 for a top-level declaration
    kind: str  # "top", "statement", "word" or "label" (the last two in programs)


@attrs.frozen
class Spacing:
    """How a token sits among its neighbours on a line."""

    glue_before: bool = False  # no space before it
    glue_after: bool = False  # no space after it
    aligns: bool = False  # padding before it is alignment


@attrs.frozen
class Element:
    """A token or a comment of the source, with what the layout needs to know about it."""

    kind: str  # the token's type, or "comment"
    text: str
    start: int  # offsets in the source
    end: int
    line: int  # 1-based, where it begins
    column: int  # 0-based, where it begins
    end_line: int
    end_column: int  # 0-based, exclusive, on end_line
    spacing: Spacing = Spacing()
    within: Item | None = None  # the innermost item it belongs to
    starts: Item | None = None  # the item it is the first token of
    closes: int | None = None  # a block's closing brace: the depth of the line that opened it

    @property
    def comment(self) -> bool:
        return self.kind == "comment"


@attrs.frozen
class _Line:
    elements: tuple[Element, ...]
    blank_before: bool  # the author left a blank line above it

    @property
    def lead(self) -> Element | None:
        """The first token (not comment) of the line."""
        return next((e for e in self.elements if not e.comment), None)


def format_text(text: str, name: str = "<text>") -> str:
    """`text` in the canonical layout; a `SpecError` (the syntax diagnostic `check` gives) when it
    does not parse; an `InternalError`, never a changed token, should the layout go wrong."""
    parse(SourceFile(name, text))
    elements = _elements(text)
    formatted = _print(elements)
    before, after = [(e.kind, e.text) for e in elements], _signature(formatted, name)
    if before != after:
        index = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
                     min(len(before), len(after)))
        was = before[index][1] if index < len(before) else "the end"
        became = after[index][1] if index < len(after) else "the end"
        raise InternalError(f"formatting {name} would change its tokens, not only its layout "
                            f"(token {index + 1}: {was!r} would become {became!r}); nothing was changed")
    return formatted


# ---------------------------------------------------------------- tokens and comments


@functools.cache
def _full_parser() -> Lark:
    """vdsl's grammar with every token kept in the tree: the braces and keywords too."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=False, keep_all_tokens=True, cache=True,
                postlex=_NamesEverywhere())


@functools.cache
def _comment_pattern() -> re.Pattern[str]:
    return re.compile(terminal_regexps("LINE_COMMENT", "BLOCK_COMMENT"))


def _signature(text: str, name: str) -> list[tuple[str, str]]:
    """What the layout must not change: every token and comment, in order, without positions
    (a comment without the trailing spaces of its lines)."""
    try:
        return [(element.kind, element.text) for element in _elements(text)]
    except UnexpectedInput as error:
        raise InternalError(f"formatting {name} would make text that does not parse: {error}") from None


class _Positions:
    """Offsets of a text to 1-based lines and 0-based columns."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def of(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1]

    def element(self, kind: str, text: str, start: int, end: int, **role: Any) -> Element:
        return Element(kind, text, start, end, *self.of(start), *self.of(end), **role)


def _elements(text: str) -> list[Element]:
    """The tokens of `text` (which parses), with their roles in the layout, and its comments."""
    positions = _Positions(text)
    elements: list[Element] = []
    end = 0
    for token in _tokens(_full_parser().parse(text), positions):
        elements.extend(_comment(positions, m) for m in _comment_pattern().finditer(text, end, token.start))
        elements.append(token)
        end = token.end
    elements.extend(_comment(positions, m) for m in _comment_pattern().finditer(text, end))
    return elements


def _comment(positions: _Positions, match: re.Match[str]) -> Element:
    """A comment: printed without trailing spaces on its lines; padding before it aligns it."""
    text = "\n".join(line.rstrip() for line in match.group().split("\n"))
    return positions.element("comment", text, match.start(), match.end(), spacing=Spacing(aligns=True))


def _tokens(tree: Tree[Token], positions: _Positions) -> list[Element]:
    """Every token of the tree in order, with its spacing, its item and the block it closes.
    Iterative: a spec may nest parentheses deeper than Python's recursion limit."""
    found: list[Element] = []
    starts: dict[int | None, Item] = {}  # the first token of each item, by its offset
    for child in tree.children:
        starts[_first_token(child).start_pos] = _item(tree, child, 0)
    # (node, its parent, the parent's parent, the innermost item, that item's depth)
    stack: list[tuple[Tree[Token] | Token, Tree[Token], Tree[Token] | None, Item | None, int]] = [
        (child, tree, None, None, -1) for child in reversed(tree.children)]
    while stack:
        node, parent, grandparent, within, depth = stack.pop()
        if isinstance(node, Token):
            closing = parent.data in CONTAINERS and parent.children[-1] is node
            found.append(positions.element(
                node.type, str(node), node.start_pos or 0, node.end_pos or 0,
                spacing=_spacing(node, parent, grandparent), within=within,
                starts=starts.pop(node.start_pos, None), closes=depth if closing else None))
            continue
        item = starts.get(_first_token(node).start_pos)
        if item is not None:
            within, depth = item, item.depth
        for child in node.children[_items(node)]:
            starts[_first_token(child).start_pos] = _item(node, child, depth + 1)
        stack.extend((child, node, parent, within, depth) for child in reversed(node.children))
    return found


def _items(node: Tree[Token]) -> slice:
    """Which children of a node are items: those between a container's braces."""
    if node.data not in CONTAINERS:
        return slice(0, 0)
    opening = next(i for i, c in enumerate(node.children) if isinstance(c, Token) and c == "{")
    return slice(opening + 1, len(node.children) - 1)


def _first_token(node: Tree[Token] | Token) -> Token:
    while isinstance(node, Tree):
        node = node.children[0]
    return node


def _item(container: Tree[Token], child: Tree[Token] | Token, depth: int) -> Item:
    if container.data == "start":
        return Item(depth, "top")
    if container.data == "program":
        return Item(depth, "label" if isinstance(child, Tree) and child.data == "label_def" else "word")
    return Item(depth, "statement")


def _spacing(token: Token, parent: Tree[Token], grandparent: Tree[Token] | None) -> Spacing:
    """Whether the token takes no space before or after it, and whether padding before it aligns."""
    text, rule = str(token), parent.data
    index = next(i for i, c in enumerate(parent.children) if c is token)
    if token.type == "STRING":
        return Spacing()
    if text in (",", ";", ")", "]"):
        return Spacing(glue_before=True)
    if text == ".":
        return Spacing(glue_before=True, glue_after=True)
    if text == ":":  # `x: 16`, `label:`, but `s[7:0]`
        return Spacing(glue_before=True, glue_after=rule in ("slice", "bit_range"))
    if text == "(":  # `f(x)`, but `(M, P) = ...`
        before = parent.children[index - 1] if index else None
        call = rule in CALLS and isinstance(before, Token) and before.type in ("NAME", "BUILTIN")
        return Spacing(glue_before=call, glue_after=True)
    if text == "[":  # `mem[a]`, `E[4]`, but a field's bits: `IF [9]`
        return Spacing(glue_before=rule != "bit_range", glue_after=True)
    if rule == "unary" and index == 0:
        return Spacing(glue_after=True)
    if text == "{":  # an instruction's body or a register's fields may be aligned in a column
        body = rule == "field_list" or (rule == "block" and grandparent is not None
                                        and grandparent.data == "inst")
        return Spacing(aligns=body)
    return Spacing()


# ---------------------------------------------------------------- the layout


def _print(elements: list[Element]) -> str:
    lines = _lines(elements)
    indents = _indents(lines)
    blanks = _blank_lines(lines)
    printed: list[str] = []
    for line, indent, blank in zip(lines, indents, blanks, strict=True):
        if blank:
            printed.append("")
        printed.append(_print_line(line, indent))
    return "\n".join(printed) + "\n" if printed else ""


def _lines(elements: list[Element]) -> list[_Line]:
    """The elements in the author's lines: a line breaks where the source breaks."""
    lines: list[_Line] = []
    current: list[Element] = []
    blank = False
    for element in elements:
        if current and element.line > current[-1].end_line:
            lines.append(_Line(tuple(current), blank))
            blank = element.line > current[-1].end_line + 1
            current = []
        current.append(element)
    if current:
        lines.append(_Line(tuple(current), blank))
    return lines


def _indents(lines: list[_Line]) -> list[int]:
    """Each line's indentation: from its first token's item, or (a comment line) the code below."""
    indents: list[int | None] = [None] * len(lines)
    line_of: dict[int, int] = {}  # an item's first line, by the item's identity
    for number, line in enumerate(lines):
        for element in line.elements:
            if element.starts is not None:
                line_of[id(element.starts)] = number
    for number, line in enumerate(lines):
        lead = line.lead
        if lead is None:
            continue
        if lead.closes is not None:
            indents[number] = INDENT * lead.closes
        elif lead.starts is not None:
            outdent = 1 if lead.starts.kind == "label" else 0
            indents[number] = INDENT * max(0, lead.starts.depth - outdent)
        else:  # a continuation: keep the author's indentation relative to the item's first line
            assert lead.within is not None
            first = line_of[id(lead.within)]
            extra = line.elements[0].column - lines[first].elements[0].column
            indents[number] = (indents[first] or 0) + max(0, extra)
    below = 0
    for number in reversed(range(len(lines))):
        found = indents[number]
        if found is None:
            indents[number] = below
            continue
        lead = lines[number].lead
        assert lead is not None
        # a comment above a `}` goes with the block's items, one above a label with the program's words
        below = found + INDENT if lead.closes is not None or (
            lead.starts is not None and lead.starts.kind == "label") else found
    return [i or 0 for i in indents]


def _blank_lines(lines: list[_Line]) -> list[bool]:
    """Whether a blank line goes above each line: where the author left one (or more), except at
    the start, after a line that opens a block and before a line that closes one."""
    blanks = []
    for number, line in enumerate(lines):
        first = line.elements[0]
        code_above = [e for e in lines[number - 1].elements if not e.comment] if number else []
        opens = bool(code_above) and code_above[-1].text == "{"
        closes = not first.comment and first.text == "}"
        blanks.append(line.blank_before and number > 0 and not opens and not closes)
    return blanks


def _print_line(line: _Line, indent: int) -> str:
    first = line.elements[0]
    text = " " * indent + first.text
    column = _end_column(text)
    previous = first
    for element in line.elements[1:]:
        spaces = _spaces_between(previous, element)
        padded = element.line == previous.end_line and element.column - previous.end_column >= ALIGNED_PADDING
        if spaces and padded and "\n" not in text and _aligns(element):
            wanted = element.column - first.column + indent  # its column, moved with the line
            spaces = max(spaces, wanted - column)
        text += " " * spaces + element.text
        column = _end_column(text)
        previous = element
    return text


def _end_column(text: str) -> int:
    return len(text) - (text.rfind("\n") + 1)


def _aligns(element: Element) -> bool:
    return element.spacing.aligns or (element.starts is not None and element.starts.kind in ("word", "label"))


def _spaces_between(left: Element, right: Element) -> int:
    if left.comment or right.comment:
        return 1
    if left.spacing.glue_after or right.spacing.glue_before:
        return 0
    if right.starts is not None and right.starts.kind in ("top", "statement") and left.text not in ("{", ";"):
        return 2
    return 1
