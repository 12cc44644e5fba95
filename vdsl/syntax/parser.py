"""Parse .vspec text with the LALR grammar; turn lark's errors into diagnostics."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import attrs
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from vdsl.errors import Diagnostic, Related, SpecError
from vdsl.resources import grammar_path
from vdsl.source import SourceFile, Span
from vdsl.syntax.blocks import line_of, scan_blocks
from vdsl.syntax.syntax_errors import COMPARISON_STATEMENT, SYNTAX_ERRORS, UNCLOSED_BLOCK, SyntaxErrorKind

# How each regexp terminal is named to a user; string terminals are shown quoted.
TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a decimal number",
    "STRING": 'a quoted string ("...")',
    "HYPHENATED": "a class name such as mode-sensitive",
    "STATE_KIND": "'control'/'timing'",
    "COMPARE_OP": "a comparison",
    "SHIFT_OP": "'<<'/'>>'",
    "ADD_OP": "'+'/'-'",
    "MUL_OP": "'*'/'/'/'%'",
    "UNARY_OP": "'~'/'!'",
    "BUILTIN": "a builtin (sext, zext, ...)",
    "$END": "end of file",
}
# What a user most likely left out comes first in an "expected ..." list.
FIRST = ("a name", "a number", "end of file")


class _NamesEverywhere:
    """A do-nothing post-lexer whose one job is `always_accept`: the contextual lexer then
    tries NAME in every parser state, so `registerX` is one (unexpected) name rather than
    the keyword `reg` followed by `isterX`."""

    always_accept = ("NAME",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        return stream


@functools.cache
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # the LALR tables, in the temp folder, keyed by the grammar's hash
        postlex=_NamesEverywhere(),
    )


MAX_NESTING = 200  # parse-tree depth; the later phases recurse over the tree


def parse(source: SourceFile) -> Tree[Token]:
    """The parse tree of `source`, or a `SpecError` with one syntax diagnostic."""
    try:
        tree = parser().parse(source.text)
    except UnexpectedInput as error:
        raise SpecError([syntax_diagnostic(source, error)]) from None
    _check_nesting(source, tree)
    return tree


def _check_nesting(source: SourceFile, tree: Tree[Token]) -> None:
    """Reject absurdly deep nesting here, with a position, rather than overflow later."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            span = Span(source, meta.line, meta.column, meta.line, meta.column + 1) \
                if not meta.empty else None
            raise SpecError([Diagnostic(
                "V030", f"the spec is nested too deeply to compile (more than {MAX_NESTING} levels)",
                span, "split deeply nested expressions with `let`, or nested ifs into several "
                "instructions")])
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))


def describe_terminal(name: str) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    terminal = next((t for t in parser().terminals if t.name == name), None)
    if terminal is not None and isinstance(terminal.pattern, PatternStr):
        return f"'{terminal.pattern.value}'"
    return name.lower()


def terminal_regexps(*names: str) -> str:
    """The grammar's own regexps of these terminals, as one alternation (comments, strings), for
    the scans that read text without parsing it."""
    patterns = {t.name: t.pattern.to_regexp() for t in parser().terminals}
    return "|".join(patterns[name] for name in names)


@functools.cache
def keyword_types() -> dict[str, str]:
    """Each keyword's terminal (`isa` -> ISA): where names are always accepted, a keyword out of
    place reaches an error as a NAME."""
    return {t.pattern.value: t.name for t in parser().terminals
            if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()}


def describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "NAME" and str(token) in keyword_types():
        return f"'{token}'"  # a keyword where it cannot stand
    if token.type in ("NAME", "INT", "DECIMAL", "STRING", "HYPHENATED"):
        return f"{describe_terminal(token.type).removeprefix('a ').removeprefix('an ')} '{token}'"
    return f"'{token}'"


def _expected(names: set[str]) -> str:
    described = sorted({describe_terminal(n) for n in names},
                       key=lambda d: (FIRST.index(d) if d in FIRST else len(FIRST), d))
    if len(described) > 8:
        return "; expected one of " + ", ".join(described[:8]) + ", ..."
    if len(described) == 1:
        return "; expected " + described[0]
    return "; expected " + ", ".join(described[:-1]) + " or " + described[-1]


@attrs.frozen
class _Signature:
    """Where a parse failed: the LALR state (not the stack depth), what it accepted, the token."""

    error: str
    state: int | None
    accepts: frozenset[str]
    token_type: str | None
    token: str | None


def _signature(error: UnexpectedInput) -> _Signature:
    state = getattr(getattr(error, "state", None), "position", None)
    kind = type(error).__name__
    if isinstance(error, UnexpectedToken):
        return _Signature(kind, state, frozenset(error.accepts or error.expected), error.token.type,
                          str(error.token))
    return _Signature(kind, state, frozenset(getattr(error, "allowed", ()) or ()), None, None)


@functools.cache
def _example_signatures() -> tuple[tuple[_Signature, SyntaxErrorKind], ...]:
    """Each example of the table parsed once: the signature of the error it makes."""
    found = []
    for kind in SYNTAX_ERRORS:
        for example in kind.examples:
            try:
                parser().parse(example)
            except UnexpectedInput as error:
                found.append((_signature(error), kind))
    return tuple(found)


def _match_example(error: UnexpectedInput) -> SyntaxErrorKind | None:
    """The table entry whose example failed the same way: same state, same expectations,
    and, for kinds that say so, the same kind of token; an example that failed at the very
    same token text is preferred."""
    signature = _signature(error)
    if signature.state is None:
        return None
    matches = [
        (example.token != signature.token, index, kind)
        for index, (example, kind) in enumerate(_example_signatures())
        if (example.error, example.state, example.accepts)
        == (signature.error, signature.state, signature.accepts)
        and not (kind.same_token and example.token_type != signature.token_type)
    ]
    return min(matches, key=lambda match: match[:2])[2] if matches else None


def syntax_diagnostic(source: SourceFile, error: UnexpectedInput) -> Diagnostic:
    span = _error_span(source, error)
    unclosed = _unclosed_block(source, error, span) if isinstance(error, UnexpectedToken) else None
    if unclosed is not None:
        return unclosed
    kind = _match_example(error)
    if kind is UNCLOSED_BLOCK:  # a '}' expected where the scan finds no open brace: say it plainly
        return Diagnostic(kind.code, kind.message.format(block="a block"), span, kind.hint.format(block="it"))
    if kind is COMPARISON_STATEMENT and span.column > 1 and source.line(span.line)[span.column - 2] == "=":
        # the statement's lexer took the first '=' of '==' for an assignment: point at both
        span = attrs.evolve(span, column=span.column - 1)
    if kind is not None:
        return Diagnostic(kind.code, kind.message, span, kind.hint)
    if isinstance(error, UnexpectedToken) and _assigns_in_a_condition(error):
        return Diagnostic("V009", "'=' assigns; use '==' to compare", span,
                          "a condition compares with '==': `if A == 0 { ... }`")
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = source.text[position] if position < len(source.text) else "?"
        shown = repr(char)[1:-1] if char.isprintable() else f"\\x{ord(char):02x}"
        if char == '"':
            return Diagnostic("V001", "a quoted string is not closed", span,
                              'end it with " on the same line')
        return Diagnostic(
            "V001",
            f"unexpected character '{shown}'",
            span,
            "vspec text is made of names, numbers, braces and operators; remove this character",
        )
    assert isinstance(error, UnexpectedToken)
    expected = set(error.accepts or error.expected)
    return Diagnostic("V002", f"unexpected {describe_token(error.token)}" + _expected(expected), span,
                      _unexpected_hint(source, error, expected))


def _error_span(source: SourceFile, error: UnexpectedInput) -> Span:
    line = max(1, getattr(error, "line", 1) or 1)
    column = max(1, getattr(error, "column", 1) or 1)
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        lines = source.text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        return Span(source, line, column, line, column + 1)
    if isinstance(error, UnexpectedToken):
        token = error.token
        end_column = token.end_column if token.end_line == token.line and token.end_column else column + 1
        return Span(source, line, column, line, max(end_column, column + 1))
    return Span(source, line, column, line, column + 1)


def _unexpected_hint(source: SourceFile, error: UnexpectedToken, expected: set[str]) -> str | None:
    """Only a hint that applies: what to write when one thing was expected; the line above when
    the surprise starts a line (the mistake may end the line before); else none."""
    described = {describe_terminal(name) for name in expected}
    at_line_start = _starts_its_line(source, error.token) and error.token.type != "$END"
    if len(described) == 1:
        return f"write {described.pop()} " + ("at the end of the line above" if at_line_start else "here")
    if at_line_start:
        return "check the line above for a missing or extra symbol"
    return None


def _starts_its_line(source: SourceFile, token: Token) -> bool:
    return token.type == "$END" or not source.line(token.line or 1)[:max((token.column or 1) - 1, 0)].strip()


MAX_MISSING_BRACES = 3


def _unclosed_block(source: SourceFile, error: UnexpectedToken, span: Span) -> Diagnostic | None:
    """A missing '}': at the end of the file, where '}' was expected; or at a keyword that one to
    three more '}' would let the parse go on with (`isa` while a machine is open, `inst` inside an
    instruction's body).  It names the block left open and points at where it starts; when a '}'
    that lines up with an outer block closed an inner one, the inner one is named."""
    token = error.token
    if token.type == "$END":
        if "RBRACE" not in (error.accepts or error.expected):
            return None
        scan = scan_blocks(source.text)
        if not scan.open:
            return None
        block, where, before = scan.open[-1], "", ""
    else:
        if str(token) not in keyword_types() or token.start_pos is None:
            return None
        missing = _braces_that_let_it_parse(error)
        scan = scan_blocks(source.text, token.start_pos)
        if missing is None or len(scan.open) < missing:
            return None
        block, where = scan.open[-missing], f" before {describe_token(token)}"
        before = f", before line {token.line}" if _starts_its_line(source, token) else where
    hint = UNCLOSED_BLOCK.hint.format(block=block.description) + before
    if scan.suspect is not None and scan.suspect_closed_at is not None and scan.suspect.start > block.brace:
        closing = line_of(source.text, scan.suspect_closed_at)
        hint = (UNCLOSED_BLOCK.hint.format(block=scan.suspect.description) +
                f"; the '}}' on line {closing} lines up with {block.description}")
        block, where = scan.suspect, ""
    return Diagnostic(
        "V003", UNCLOSED_BLOCK.message.format(block=block.description) + where, span, hint,
        related=(Related(f"{block.description} starts here", block.span(source)),),
    )


def _braces_that_let_it_parse(error: UnexpectedToken) -> int | None:
    """How many '}' inserted before the unexpected token make it acceptable (None: no number
    up to `MAX_MISSING_BRACES` does)."""
    state = getattr(error, "interactive_parser", None)
    if state is None:
        return None
    state = state.copy()
    brace = Token("RBRACE", "}")
    for count in range(1, MAX_MISSING_BRACES + 1):
        if "RBRACE" not in state.accepts():
            return None
        state.feed_token(brace)
        if keyword_types().get(str(error.token), error.token.type) in state.accepts():
            return count
    return None


def _assigns_in_a_condition(error: UnexpectedToken) -> bool:
    """`if A = 0`: '=' where a comparison could stand."""
    return error.token.type == "EQUAL" and "COMPARE_OP" in (error.accepts or error.expected)
