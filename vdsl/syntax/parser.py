"""Parse .vspec text with the LALR grammar; turn lark's errors into diagnostics."""

from __future__ import annotations

import functools

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from vdsl.errors import Diagnostic, SpecError
from vdsl.resources import grammar_path
from vdsl.source import SourceFile, Span
from vdsl.syntax.syntax_errors import SYNTAX_ERRORS, SyntaxErrorKind

# How each regexp terminal is named to a user; string terminals are shown quoted.
TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a decimal number",
    "STRING": 'a quoted file name ("...")',
    "HYPHENATED": "a class name such as mode-sensitive",
    "STATE_KIND": "'control' or 'timing'",
    "COMPARE_OP": "a comparison (==, !=, <, <=, >, >=)",
    "SHIFT_OP": "'<<' or '>>'",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "UNARY_OP": "'~' or '!'",
    "BUILTIN": "a builtin (sext, zext, concat, slt, sle, sra)",
    "$END": "the end of the file",
}


@functools.cache
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def parse(source: SourceFile) -> Tree[Token]:
    """The parse tree of `source`, or a `SpecError` with one syntax diagnostic."""
    try:
        return parser().parse(source.text)
    except UnexpectedInput as error:
        raise SpecError([syntax_diagnostic(source, error)]) from None


def describe_terminal(name: str) -> str:
    if name in TERMINAL_NAMES:
        return TERMINAL_NAMES[name]
    terminal = next((t for t in parser().terminals if t.name == name), None)
    if terminal is not None and isinstance(terminal.pattern, PatternStr):
        return f"'{terminal.pattern.value}'"
    return name.lower()


def describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    if token.type in ("NAME", "INT", "DECIMAL", "STRING", "HYPHENATED"):
        return f"{describe_terminal(token.type).removeprefix('a ').removeprefix('an ')} '{token}'"
    return f"'{token}'"


def _expected(names: set[str]) -> str:
    described = sorted({describe_terminal(n) for n in names})
    if len(described) > 6:
        return "; expected one of " + ", ".join(described[:6]) + ", ..."
    if len(described) == 1:
        return "; expected " + described[0]
    return "; expected " + ", ".join(described[:-1]) + " or " + described[-1]


def _match_example(error: UnexpectedInput) -> SyntaxErrorKind | None:
    examples = {kind: list(kind.examples) for kind in SYNTAX_ERRORS}
    try:
        return error.match_examples(parser().parse, examples, use_accepts=True)
    except Exception:  # noqa: BLE001 - an example that fails oddly must not hide the real error
        return None


def syntax_diagnostic(source: SourceFile, error: UnexpectedInput) -> Diagnostic:
    line = max(1, getattr(error, "line", 1) or 1)
    column = max(1, getattr(error, "column", 1) or 1)
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        lines = source.text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        span = Span(source, line, column, line, column + 1)
    elif isinstance(error, UnexpectedToken):
        token = error.token
        end_column = token.end_column if token.end_line == token.line and token.end_column else column + 1
        span = Span(source, line, column, line, max(end_column, column + 1))
    else:
        span = Span(source, line, column, line, column + 1)

    kind = _match_example(error)
    if kind is not None:
        return Diagnostic(kind.code, kind.message, span, kind.hint)
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = source.text[position] if position < len(source.text) else "?"
        shown = repr(char)[1:-1] if char.isprintable() else f"\\x{ord(char):02x}"
        return Diagnostic(
            "V001",
            f"unexpected character '{shown}'",
            span,
            "vspec text uses names, numbers, braces and operators; remove or quote this character",
        )
    assert isinstance(error, UnexpectedToken)
    return Diagnostic(
        "V002",
        f"unexpected {describe_token(error.token)}" + _expected(set(error.accepts or error.expected)),
        span,
        "check the line above for a missing or extra symbol",
    )
