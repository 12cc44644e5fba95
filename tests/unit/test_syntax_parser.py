"""The parser's diagnostics (`vdsl.syntax.parser`), driven by the syntax-error table.

Every example in `vdsl.syntax.syntax_errors.SYNTAX_ERRORS` is a test case: parsing it must give
exactly that kind's code, message and hint.  Inputs the table does not cover fall back to V001
(unexpected character) and V002 (unexpected token), whose messages must read as plain English:
no lark terminal names, no `__ANON_n`, no `Token(...)`.
"""

from __future__ import annotations

import re

import pytest
from conftest import spec_from

from vdsl import SpecError
from vdsl.errors import Diagnostic
from vdsl.syntax.parser import parser
from vdsl.syntax.syntax_errors import SYNTAX_ERRORS, UNCLOSED_BLOCK, SyntaxErrorKind


def syntax_error(text: str) -> Diagnostic:
    """The one diagnostic that parsing `text` gives."""
    with pytest.raises(SpecError) as caught:
        spec_from(text)
    diagnostics = caught.value.diagnostics
    assert len(diagnostics) == 1, [d.render() for d in diagnostics]
    return diagnostics[0]


def rendered(text: str) -> str:
    return syntax_error(text).render()


# ---------------------------------------------------------------- the table

TABLE_EXAMPLES = [
    pytest.param(kind, example, id=f"{kind.code}-{index}")
    for kind in SYNTAX_ERRORS
    for index, example in enumerate(kind.examples)
]


@pytest.mark.parametrize(("kind", "example"), TABLE_EXAMPLES)
def test_each_table_example_gives_its_kind(kind: SyntaxErrorKind, example: str) -> None:
    diagnostic = syntax_error(example)
    if kind is UNCLOSED_BLOCK:  # the message names the block: "instruction 'A' is not closed"
        block = "(machine|isa|instruction|program|hypervisor|scenario) '[a-zA-Z]'|the 'if' block"
        assert diagnostic.code == kind.code
        for template, text in ((kind.message, diagnostic.message), (kind.hint, diagnostic.hint or "")):
            pattern = re.escape(template.format(block="BLOCK")).replace("BLOCK", f"({block})")
            assert re.fullmatch(pattern, text), text
        return
    assert (diagnostic.code, diagnostic.message, diagnostic.hint) == (kind.code, kind.message, kind.hint)


def test_the_table_is_well_formed() -> None:
    codes = [kind.code for kind in SYNTAX_ERRORS]
    assert len(codes) == len(set(codes)), "each kind has its own code"
    for kind in SYNTAX_ERRORS:
        assert re.fullmatch(r"V\d{3}", kind.code)
        assert kind.message and kind.hint and kind.examples
        assert kind.code not in ("V001", "V002"), "V001 and V002 are the generic fallbacks"


# ---------------------------------------------------------------- fallbacks

V001_HINT = "vspec text is made of names, numbers, braces and operators; remove this character"
V002_HINT = "check the line above for a missing or extra symbol"

FALLBACKS = [
    pytest.param(
        "machine m { word 16 } $",
        "test.vspec:1:23: error[V001]: unexpected character '$'\n"
        "   1 | machine m { word 16 } $\n"
        "     |                       ^\n"
        f"  hint: {V001_HINT}",
        id="V001-dollar",
    ),
    pytest.param(
        "machine m { memory E[\x00] }",
        "test.vspec:1:22: error[V001]: unexpected character '\\x00'\n"
        "   1 | machine m { memory E[\ufffd] }\n"  # control characters never reach the terminal
        "     |                      ^\n"
        f"  hint: {V001_HINT}",
        id="V001-control-character",
    ),
    pytest.param(
        "machine m { memory E[10 }",
        "test.vspec:1:25: error[V002]: unexpected '}'; expected ']'\n"
        "   1 | machine m { memory E[10 }\n"
        "     |                         ^\n"
        "  hint: write ']' here",
        id="V002-missing-bracket",
    ),
    pytest.param(
        "import foo",
        "test.vspec:1:8: error[V002]: unexpected name 'foo'; expected a quoted string (\"...\")\n"
        "   1 | import foo\n"
        "     |        ^^^\n"
        "  hint: write a quoted string (\"...\") here",
        id="V002-import-needs-a-string",
    ),
    pytest.param(
        "hypervisor h on m { guests run user }",
        "test.vspec:1:32: error[V002]: unexpected name 'user'; expected 'in'\n"
        "   1 | hypervisor h on m { guests run user }\n"
        "     |                                ^^^^\n"
        "  hint: write 'in' here",
        id="V002-keyword-expected",
    ),
    pytest.param(
        "machine m { trap { save (M) <- E[0] } }",
        "test.vspec:1:29: error[V002]: unexpected '<-'; expected '->'\n"
        "   1 | machine m { trap { save (M) <- E[0] } }\n"
        "     |                             ^^\n"
        "  hint: write '->' here",
        id="V002-arrow",
    ),
    pytest.param(
        "program p on i { data 1 22 }",
        "test.vspec:1:25: error[V002]: unexpected number '22'; expected ':'\n"
        "   1 | program p on i { data 1 22 }\n"
        "     |                         ^^\n"
        "  hint: write ':' here",
        id="V002-number",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FALLBACKS)
def test_fallback_messages(text: str, expected: str) -> None:
    assert rendered(text) == expected


# Inputs that reach lark's error paths in many different parser states.
NO_INTERNALS = [
    "machine m { word 16 } $", "machine m { word @ }", "machine m {\x00}", "machine m {é}",
    'import "unterminated', "import foo", "import", "machine", "machine m ]",
    "machine m { memory E[ }", "machine m { memory E[", "machine m { reg a : }",
    "machine m { trap { save (m) <- e[0] } }", "machine m { trap { load (m) -> e[0] } }",
    "machine m { trap { causes { } } }", "machine m { reg a pc pc }", "machine m { reg a { f [3:] } }",
    "isa i for m { inst a { a = (1, } }", "isa i for m { inst a { a = sext 1 } }",
    "isa i for m { inst a { let = 1 } }", "isa i for m { inst a { trap } }",
    "isa i for m { inst a { if a == 1 { halt } else } }", "isa i for m { inst a { a = b[ } }",
    "isa i for m { inst a { a = mem 1 } }", "isa i for m { inst a { (a) = mem[1] } }",
    "program p on i { data 1: }", "program p on i { mode }", "program p on i { init a = b }",
    "program p on i { org x }", "hypervisor h on m { allocate memory x per guest }",
    "hypervisor h on m { schedule }", "scenario s { expect }", "scenario s { expect a >= }",
    "scenario s { guest g runs }", "machine m { modes { s > } }", "machine m { relocate }",
]


def lark_internals(text: str, source: str) -> list[str]:
    """lark's own names found in `text` (terminal names the user did not write themselves)."""
    found = [marker for marker in ("__ANON", "Token(", "Tree(", "$END", "UnexpectedToken",
                                   "UnexpectedCharacters", "Traceback") if marker in text]
    for terminal in parser().terminals:
        pattern = rf"(?<![\w']){re.escape(terminal.name)}(?![\w'])"
        if re.search(pattern, text) and not re.search(pattern, source):
            found.append(terminal.name)
    return found


@pytest.mark.parametrize("text", NO_INTERNALS)
def test_no_lark_internals_reach_the_user(text: str) -> None:
    message = rendered(text)
    assert lark_internals(message, text) == [], message


# ---------------------------------------------------------------- clear fallbacks


def test_end_of_file_reads_as_english() -> None:
    assert rendered("machine m { memory E[") == (
        "test.vspec:1:22: error[V002]: unexpected end of file; expected a number\n"
        "   1 | machine m { memory E[\n"
        "     |                      ^\n"
        "  hint: write a number here"
    )


@pytest.mark.parametrize("text", [
    "isa i for m { inst A { A = (1, } }",
    "isa i for m { inst A { A = B[ } }",
    "isa i for m { inst A { A = sext(B, ) } }",
])
def test_a_missing_value_lists_names_and_numbers(text: str) -> None:
    # Where any expression may come, a name or a number is what the user most likely forgot;
    # the list of what was expected must not cut them off.
    message = syntax_error(text).message
    assert "a name" in message and "a number" in message, message


MACHINE_ITEM = next(kind for kind in SYNTAX_ERRORS if kind.code == "V033")


@pytest.mark.parametrize("text", [
    pytest.param("machine m { word 16 ] }", id="stray-bracket"),
    pytest.param("machine m { word 16 16 }", id="stray-number"),
])
def test_stray_symbols_in_a_closed_machine_ask_for_a_machine_item(text: str) -> None:
    # The block is closed: "'}' is missing" (V003) would send the user after the wrong mistake.
    diagnostic = syntax_error(text)
    assert (diagnostic.code, diagnostic.message) == ("V033", MACHINE_ITEM.message)


@pytest.mark.parametrize("text", [
    pytest.param("machine m {\n\tword 16 @\n}", id="in-a-machine"),
    pytest.param("isa i for m { @ }", id="in-an-isa"),
    pytest.param("machine m { modes { @ } }", id="in-modes"),
])
def test_a_character_no_token_starts_with_is_named_wherever_it_stands(text: str) -> None:
    # The character itself is the mistake, not a missing item around it.
    diagnostic = syntax_error(text)
    assert (diagnostic.code, diagnostic.message) == ("V001", "unexpected character '@'")


@pytest.mark.parametrize("text", [
    pytest.param("machine m { word 16 memory E[8] modes { s > u } reg P pc registerX }", id="after-an-item"),
    pytest.param("machine m { register A }", id="at-an-item"),
    pytest.param("machine m { wordy 16 }", id="a-longer-word"),
])
def test_a_keyword_is_never_the_start_of_a_longer_name(text: str) -> None:
    # `registerX` is one name, never the keyword `reg` followed by `isterX`.
    diagnostic = syntax_error(text)
    assert diagnostic.code in ("V002", "V033")
    assert "'isterX'" not in diagnostic.message and "'y'" not in diagnostic.message


def test_comma_before_an_instruction_body_is_not_a_missing_body() -> None:
    # `inst A, { }` has a body; the mistake is the comma with no operand before it.
    diagnostic = syntax_error("isa i for m { inst A, { } }")
    assert diagnostic.code != "V008", diagnostic.render()
    assert diagnostic.message.startswith("unexpected ','"), diagnostic.render()


@pytest.mark.parametrize("text", [
    "machine m { } bar",
    "machine m { word 16 } bar",
    "machine m { word 16 } }",
    "isa i for m { inst A { halt } } bar",
    "program p on i { HALT } 12",
])
def test_text_after_a_declaration_asks_for_a_declaration(text: str) -> None:
    kind = next(k for k in SYNTAX_ERRORS if k.code == "V004")
    diagnostic = syntax_error(text)
    assert (diagnostic.code, diagnostic.message) == ("V004", kind.message)


def test_an_unterminated_string_says_so() -> None:
    message = syntax_error('import "base.vspec\nmachine m { }').message
    assert "not closed" in message or "unterminated" in message, message


# ---------------------------------------------------------------- operators

OPERATOR_MACHINE = "machine m { word 16 memory E[4] modes { s > u } reg A reg P pc }\n"


@pytest.mark.parametrize("expression", [
    "A << 2", "A >> 2", "A<<2", "A >>2", "A & 1 | 2 ^ 3", "~A", "-A", "A * 2 / 3 % 4",
    "zext(A[3:0], 16)", "sra(A, 1)", "concat(A[7:0], A[15:8])",
])
def test_value_expressions_parse(expression: str) -> None:
    spec_from(OPERATOR_MACHINE + f"isa i for m {{ inst X {{ A = {expression} }} }}")


@pytest.mark.parametrize("condition", [
    "A < 2", "A <= 2", "A >= 2", "A > 2", "A<2", "A << 1 == 2", "A >> 1 < 2",
    "A < 2 && A > 1 || !(A == 3)", "slt(A, 2) || sle(A, 3)",
])
def test_conditions_parse(condition: str) -> None:
    spec_from(OPERATOR_MACHINE + f"isa i for m {{ inst X {{ if {condition} {{ halt }} }} }}")


# ---------------------------------------------------------------- positions


def test_position_and_caret_on_a_later_line() -> None:
    text = "machine m {\n    word 16\n    memory E[1024\n}\n"
    assert rendered(text) == (
        "test.vspec:4:1: error[V002]: unexpected '}'; expected ']'\n"
        "   4 | }\n"
        "     | ^\n"
        "  hint: write ']' at the end of the line above"
    )


def test_position_after_a_block_comment_spanning_lines() -> None:
    text = "/* one\n   two */\nmachine m {\n  word 16\n  memory E[4] word x\n}\n"
    assert rendered(text) == (
        "test.vspec:5:20: error[V002]: unexpected name 'x'; expected a number\n"
        "   5 |   memory E[4] word x\n"
        "     |                    ^\n"
        "  hint: write a number here"
    )


def test_caret_spans_the_whole_token() -> None:
    text = "program p on i {\n  data 1 22\n}"
    assert rendered(text) == (
        "test.vspec:2:10: error[V002]: unexpected number '22'; expected ':'\n"
        "   2 |   data 1 22\n"
        "     |          ^^\n"
        "  hint: write ':' here"
    )


def test_end_of_file_points_after_the_last_character() -> None:
    text = "machine m {\n  word 16\n"
    assert rendered(text) == (
        "test.vspec:2:10: error[V003]: machine 'm' is not closed: '}' is missing\n"
        "   2 |   word 16\n"
        "     |          ^\n"
        "test.vspec:1:1: note: machine 'm' starts here\n"
        "   1 | machine m {\n"
        "     | ^^^^^^^^^^^\n"
        "  hint: add '}' where machine 'm' ends"
    )


def test_tabs_keep_the_caret_under_the_token() -> None:
    text = "machine m {\n\tword x\n}"
    assert rendered(text) == (
        "test.vspec:2:7: error[V002]: unexpected name 'x'; expected a number\n"
        "   2 |  word x\n"
        "     |       ^\n"
        "  hint: write a number here"
    )


def test_windows_line_endings_count_lines_and_columns_the_same() -> None:
    assert rendered("machine m {\r\n  word x\r\n}") == rendered("machine m {\n  word x\n}")


def test_json_form_carries_the_span() -> None:
    diagnostic = syntax_error("program p on i {\n  data 1 22\n}")
    assert diagnostic.to_json() == {
        "code": "V002",
        "severity": "error",
        "message": "unexpected number '22'; expected ':'",
        "file": "test.vspec",
        "line": 2,
        "column": 10,
        "end_line": 2,
        "end_column": 12,
        "hint": "write ':' here",
        "related": [],
    }
