"""A parse tree for text that does not parse: what an editor holds while someone types.

The compiler stops at the first syntax error (`vdsl.syntax.parser.parse`); the editor features
need the declarations all the same.  Two things keep the parse going:

- **Declarations are parsed one by one.**  The text is cut before each top-level declaration
  that starts a line (`machine NAME`, `isa NAME`, `program NAME on`, `import "..."`, ...), and
  each piece is parsed alone (preceded by blank lines, so that positions stay those of the
  file): a broken instruction can cost the rest of its isa, never the next declaration.
- **A line that starts a declaration starts one.**  `inst` or `def` first on a line is read as
  the keyword even where a name could stand (after `A = A +`, half typed), so
  the instruction being typed does not swallow the next one.
- **Errors are repaired, LALR style.**  At an unexpected token the parser is given the fewest
  filler tokens (`}`, `)`, `]`, a number, a name) after which the token fits, reading a name
  that spells a keyword as that keyword; if none does within a few, the token is skipped.  At
  the end of a piece the open blocks are closed.  Fillers take the position of the token they
  stand before, and a filler name is empty, so the outline leaves it out.

The tree has lark's shape, so `vdsl.lsp.outline` reads it like any other; it is never lowered
to IR (the compiler's own parse gives the diagnostics).
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser

from vdsl.resources import grammar_path
from vdsl.source import SourceFile
from vdsl.syntax.parser import keyword_types, parser

# A line that begins a top-level declaration (at column 1, as every spec writes them).
DECLARATION_START = re.compile(
    r"^(?:(?:machine|isa|scenario|stack)\s+[A-Za-z_]\w*\s*(?:\{|extends\b|for\b|$)"
    r"|(?:program|hypervisor)\s+[A-Za-z_]\w*\s+on\b"
    r'|import\s+"|const\s+[A-Za-z_]\w*\s*=)',
    re.MULTILINE,
)
# Keywords that, first on a line, begin a declaration wherever they stand (a line starting with a
# top-level keyword starts a new piece anyway).
LINE_KEYWORDS = frozenset({"inst", "def"})
# The tokens a repair may insert, in the order they are tried.
FILLERS = (("RBRACE", "}"), ("RPAR", ")"), ("RSQB", "]"), ("INT", "0"), ("NAME", ""))
MAX_FILLERS = 3  # before one unexpected token
MAX_CLOSERS = 64  # at the end of a piece
MAX_REPAIRS = 200  # per piece: past this, the piece is given up


def parse_tolerantly(source: SourceFile) -> Tree[Token]:
    """A `start` tree of every declaration that could be read, broken ones repaired."""
    items: list[Tree[Token] | Token] = []
    for first_line, text in declaration_pieces(source.text):
        tree = _parsed_piece(first_line, text)
        if tree is not None:
            items.extend(tree.children)
    return Tree("start", items)


def declaration_pieces(text: str) -> list[tuple[int, str]]:
    """The text cut before each top-level declaration: (first line, piece) pairs."""
    starts = [0] + [m.start() for m in DECLARATION_START.finditer(text) if m.start() > 0]
    ends = starts[1:] + [len(text)]
    return [(text.count("\n", 0, start) + 1, text[start:end])
            for start, end in zip(starts, ends, strict=True)]


@functools.lru_cache(maxsize=512)
def _parsed_piece(first_line: int, text: str) -> Tree[Token] | None:
    """A piece's tree, kept: typing in one declaration parses that one again, not the file (the
    trees are shared, and nothing changes them)."""
    return _parse_piece("\n" * (first_line - 1) + text)


def _parse_piece(text: str) -> Tree[Token] | None:
    repairs = 0

    def on_error(error: UnexpectedInput) -> bool:
        nonlocal repairs
        repairs += 1
        if repairs > MAX_REPAIRS:
            return False
        if isinstance(error, UnexpectedToken) and error.interactive_parser is not None:
            return _repair(error.interactive_parser, error.token)
        return True  # an unexpected character: skip it

    try:
        tree: Tree[Token] = tolerant_parser().parse(text, on_error=on_error)
    except (UnexpectedInput, RecursionError):
        return None
    return tree


@functools.cache
def tolerant_parser() -> Lark:
    """The compiler's parser (`vdsl.syntax.parser.parser`, built with the same options), with
    declaration keywords that start a line read as keywords."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=False, cache=True,
                postlex=_LineKeywords(parser().options.postlex))


class _LineKeywords:
    """A post-lexer around the compiler's: `inst NAME` first on its line is the keyword `inst`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.always_accept = inner.always_accept

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # No look-ahead: after an error lark lexes on with a new stream, and a token held back
        # here would be lost.
        line = 0
        for token in self.inner.process(stream):
            if token.type == "NAME" and str(token) in LINE_KEYWORDS and token.line != line:
                token = Token.new_borrow_pos(keyword_types()[str(token)], str(token), token)
            line = token.end_line or line
            yield token


def _repair(state: InteractiveParser, token: Token) -> bool:
    """Feed the fillers (and the token itself) that let parsing go on; True to go on."""
    if token.type == "$END":
        closers = _closers(state, token)
        for filler in closers or ():
            state.feed_token(filler)
        return closers is not None
    for reading in _readings(token):
        fillers = _fillers_before(state, reading)
        if fillers is not None:
            for filler in fillers:
                state.feed_token(filler)
            state.feed_token(reading)
            return True
    return True  # nothing makes it fit: skip it


def _readings(token: Token) -> list[Token]:
    """The token as a keyword its text spells (the contextual lexer read it as a name where the
    keyword could not stand), then as it was lexed."""
    keyword = keyword_types().get(str(token))
    readings = [Token.new_borrow_pos(keyword, str(token), token)] if keyword and keyword != token.type else []
    return readings + [token]


def _fillers_before(state: InteractiveParser, token: Token) -> list[Token] | None:
    """The fewest fillers (at most MAX_FILLERS) after which `token` is accepted."""
    queue: collections.deque[tuple[InteractiveParser, list[Token]]] = collections.deque([(state, [])])
    while queue:
        current, fillers = queue.popleft()
        if fillers and _fed(current, token) is not None:
            return fillers
        if len(fillers) == MAX_FILLERS:
            continue
        for kind, text in FILLERS:
            filler = Token.new_borrow_pos(kind, text, token)
            after = _fed(current, filler)
            if after is not None:
                queue.append((after, [*fillers, filler]))
    return None


def _closers(state: InteractiveParser, end: Token) -> list[Token] | None:
    """Fillers that end every open construct, so that the end of the text is accepted."""
    fillers: list[Token] = []
    current = state
    while _fed(current, end) is None:
        if len(fillers) == MAX_CLOSERS:
            return None
        for kind, text in FILLERS:
            filler = Token.new_borrow_pos(kind, text, end)
            after = _fed(current, filler)
            if after is not None:
                current = after
                fillers.append(filler)
                break
        else:
            return None
    return fillers


def _fed(state: InteractiveParser, token: Token) -> InteractiveParser | None:
    """A copy of the parser after `token`, or None if it does not accept it."""
    trial: InteractiveParser = state.copy()  # type: ignore[no-untyped-call]  # values too: lark
    # appends to the list of a `x*` rule in place
    try:
        trial.feed_token(token)
    except UnexpectedToken:
        return None
    return trial
