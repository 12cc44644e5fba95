"""No input produces anything but diagnostics: grammar, byte, token and mutation fuzzing.

Every text given to `compile_text` must either compile or raise `SpecError`, whose
diagnostics render without lark internals; nothing else (no `KeyError`, `RecursionError`,
`InternalError`, lark exception) may escape.  The default runs are bounded; the `slow`
variants (`pytest -m slow`) run many more examples.
"""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark
from lark.lexer import PatternStr

from vdsl import RunError, SpecError, compile_files, compile_text, dump, run_program
from vdsl.resources import grammar_path
from vdsl.syntax.parser import parser

PG74 = (SPECS / "pg74.vspec").read_text(encoding="utf-8")

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QUICK = settings(FAST, max_examples=100)
QUICKER = settings(FAST, max_examples=50)
LONG = settings(FAST, max_examples=5000)




# ---------------------------------------------------------------- the property

LARK_INTERNALS = re.compile(r"__ANON|Token\(|Tree\(|\$END|Unexpected(Token|Characters|EOF)|Traceback")


def escaped(error: Exception, text: str) -> NoReturn:
    """Fail with a short report: a RecursionError's traceback takes pytest ages to print."""
    shown = text if len(text) < 300 else text[:150] + " ... " + text[-150:]
    pytest.fail(f"{type(error).__name__} escaped: {str(error)[:300]}\ninput: {shown!r}", pytrace=False)


def assert_only_diagnostics(text: str | bytes, run: bool = False) -> None:
    """`text` compiles, or fails with diagnostics a user can read; nothing else escapes.
    Bytes are written to a file and compiled from there, the way a user's file is read."""
    try:
        if isinstance(text, bytes):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "fuzz.vspec"
                path.write_bytes(text)
                spec = compile_files(path)
        else:
            spec = compile_text(text, "fuzz.vspec")
    except SpecError as error:
        assert error.diagnostics, "a SpecError carries at least one diagnostic"
        for diagnostic in error.diagnostics:
            assert re.fullmatch(r"V\d{3}", diagnostic.code), diagnostic
            assert diagnostic.message.strip(), diagnostic
            shown = diagnostic.render()
            assert not LARK_INTERNALS.search(shown), shown
        return
    except Exception as error:  # noqa: BLE001 - the property: nothing else may escape
        escaped(error, text)
    dump(spec)
    if run:
        for program in spec.programs:
            try:
                run_program(spec, program.name, max_steps=300)
            except RunError as error:
                assert str(error)


# ---------------------------------------------------------------- grammar fuzzing

KEYWORDS = frozenset(
    t.pattern.value for t in parser().terminals
    if isinstance(t.pattern, PatternStr) and t.pattern.value.isidentifier()
) | {"control", "timing", "pc", "sext", "zext", "concat", "slt", "sle", "sra"}

# Names the bundled spec and typical specs use, so that generated specs resolve further.
KNOWN_NAMES = ["A", "B", "P", "R", "M", "E", "m", "i", "p", "h", "s", "a", "x", "base", "bound",
               "supervisor", "user", "svc", "privileged", "LOAD", "HALT", "JMP", "pg74",
               "round_robin", "trap_and_emulate", "theorem1", "efficiency"]

TERMINAL_TEXT: dict[str, st.SearchStrategy[str]] = {
    "NAME": st.one_of(
        st.sampled_from(KNOWN_NAMES),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in KEYWORDS),
    ),
    "INT": st.one_of(
        st.integers(0, 300).map(str),
        st.integers(0, 2**80).map(str),
        st.integers(0, 0xFFFF).map(hex),
        st.sampled_from(["0b101", "1_000", "0x_ff", "0"]),
    ),
    "DECIMAL": st.sampled_from(["0.5", "0.8", "1.0", "12.25"]),
    "STRING": st.sampled_from(['"pg74.vspec"', '"missing.vspec"', '""', '"a b"']),
    "HYPHENATED": st.sampled_from(["mode-sensitive", "control-sensitive", "a-b-c"]),
    "LINE_COMMENT": st.sampled_from(["// note\n", "//\n", "// } { ( [\n"]),
    "BLOCK_COMMENT": st.sampled_from(["/* note */", "/*\n*/", "/* } */"]),
    "WHITESPACE": st.sampled_from([" ", "\n", "\t", "\r\n", "  "]),
}


def terminal_strategies() -> dict[str, st.SearchStrategy[str]]:
    """Sane text for every terminal, with spaces around it: from_lark only sometimes puts
    whitespace between tokens, and `machinem` is one name, not two tokens."""
    strategies = {}
    for terminal in parser().terminals:
        text = TERMINAL_TEXT.get(terminal.name)
        if text is None:
            text = st.from_regex(terminal.pattern.to_regexp(), fullmatch=True)
        strategies[terminal.name] = text.map(lambda t: f" {t} ")
    return strategies


# from_lark needs the grammar itself, which vdsl's parser (loaded from lark's cache) drops.
GRAMMAR_TEXT = from_lark(Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual"),
                         start="start", explicit=terminal_strategies())


@FAST
@given(GRAMMAR_TEXT)
def test_grammar_generated_text_compiles_or_gives_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


@pytest.mark.slow
@LONG
@given(GRAMMAR_TEXT)
def test_grammar_generated_text_compiles_or_gives_diagnostics_long(text: str) -> None:
    assert_only_diagnostics(text)


SYNTAX_CODES = {"V001", "V002", "V003", "V004", "V005", "V006", "V007", "V008", "V009", "V020", "V021"}


def test_the_grammar_generator_reaches_the_resolver() -> None:
    # A generator whose texts never parse would test nothing but the lexer.
    parsed = 0

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(GRAMMAR_TEXT)
    def count(text: str) -> None:
        nonlocal parsed
        try:
            compile_text(text, "fuzz.vspec")
            parsed += 1
        except SpecError as error:
            if not any(d.code in SYNTAX_CODES for d in error.diagnostics):
                parsed += 1

    count()
    assert parsed >= 30


# ---------------------------------------------------------------- bytes and tokens


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_give_only_diagnostics(data: bytes) -> None:
    assert_only_diagnostics(data)


@pytest.mark.slow
@LONG
@given(st.binary(max_size=20000))
def test_random_bytes_give_only_diagnostics_long(data: bytes) -> None:
    assert_only_diagnostics(data)


@QUICKER
@given(st.binary(max_size=200).map(lambda junk: PG74.encode() + junk))
def test_bundled_spec_followed_by_random_bytes(data: bytes) -> None:
    assert_only_diagnostics(data)


TOKENS = sorted(KEYWORDS) + KNOWN_NAMES + list("{}[]():;,.=<>!~^&|+-*/%\"") + [
    "->", "<-", "==", "!=", "<=", ">=", "<<", ">>", "&&", "||", "0", "1", "16", "1024", "0x10",
    "0.5", '"pg74.vspec"', "mode-sensitive", "// c\n", "/* c */", "\n",
]


@QUICK
@given(st.lists(st.sampled_from(TOKENS), max_size=120).map(" ".join))
def test_token_soup_gives_only_diagnostics(text: str) -> None:
    assert_only_diagnostics(text)


@pytest.mark.slow
@LONG
@given(st.lists(st.sampled_from(TOKENS), max_size=400).map(" ".join))
def test_token_soup_gives_only_diagnostics_long(text: str) -> None:
    assert_only_diagnostics(text)


# ---------------------------------------------------------------- mutations of the bundled spec

SPEC_CHARACTERS = st.one_of(
    st.sampled_from(list("{}[]()<>=!~^&|+-*/%:;,.\"\n\t ") + list(string.ascii_letters + string.digits)),
    st.characters(),
)
EDIT = st.tuples(st.sampled_from(["delete", "insert", "replace", "duplicate"]),
                 st.floats(0, 1, allow_nan=False), SPEC_CHARACTERS, st.integers(1, 40))


def mutate(text: str, edits: list[tuple[str, float, str, int]]) -> str:
    for operation, where, character, length in edits:
        at = min(int(where * len(text)), max(len(text) - 1, 0))
        if operation == "delete":
            text = text[:at] + text[at + length:]
        elif operation == "insert":
            text = text[:at] + character + text[at:]
        elif operation == "replace":
            text = text[:at] + character + text[at + 1:]
        else:
            text = text[:at] + text[at:at + length] + text[at:]
    return text


@QUICK
@given(st.lists(EDIT, min_size=1, max_size=6))
def test_mutated_bundled_spec_gives_only_diagnostics(edits: list[tuple[str, float, str, int]]) -> None:
    assert_only_diagnostics(mutate(PG74, edits), run=True)


@pytest.mark.slow
@LONG
@given(st.lists(EDIT, min_size=1, max_size=30))
def test_mutated_bundled_spec_gives_only_diagnostics_long(edits: list[tuple[str, float, str, int]]) -> None:
    assert_only_diagnostics(mutate(PG74, edits), run=True)


def test_the_bundled_spec_itself_compiles_and_runs() -> None:
    assert_only_diagnostics(PG74, run=True)


# ---------------------------------------------------------------- deep nesting

MACHINE = "machine m { word 16 memory E[4] modes { s > u } reg A reg P pc }\n"
NESTINGS = {
    "parentheses": lambda n: f"A = {'(' * n}A{')' * n}",
    "sum": lambda n: "A = " + " + ".join(["A"] * n),
    "negations": lambda n: "A = " + "~" * n + "A",
    "ifs": lambda n: "if A == 0 { " * n + "halt" + " }" * n,
    "else-ifs": lambda n: "if A == 0 { halt }" + " else if A == 1 { halt }" * n,
}


@pytest.mark.parametrize("depth", [50, 400, 2000])
@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_deep_nesting_compiles_or_says_it_is_too_deep(kind: str, depth: int) -> None:
    text = MACHINE + "isa i for m { inst X { " + NESTINGS[kind](depth) + " } }"
    try:
        compile_text(text, "deep.vspec")
    except SpecError as error:
        assert [d.code for d in error.diagnostics] == ["V030"]
    except Exception as error:  # noqa: BLE001 - the property: nothing else may escape
        escaped(error, text)
