"""The canonical layout (`vdsl.syntax.fmt`): each rule on a small example, whole output compared;
every comment of every bundled spec kept in its place; errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, SPECS, comment_places

from vdsl import InternalError, SpecError, format_text
from vdsl.syntax import fmt

BUNDLED = sorted(SPECS.glob("*.vspec")) + sorted((ROOT / "tests" / "specs").glob("*.vspec"))


def formats(text: str, expected: str) -> None:
    """`text` formats to `expected`, and `expected` is formatted already."""
    expected = textwrap.dedent(expected).lstrip("\n")
    assert format_text(textwrap.dedent(text).lstrip("\n")) == expected
    assert format_text(expected) == expected


LAYOUTS = {
    "one space between tokens, two between items on a line": (
        "machine   m{word 16 memory E [4]  modes{s>u}reg A reg P pc}\n",
        "machine m { word 16  memory E[4]  modes { s > u }  reg A  reg P pc }\n"),
    "no space inside brackets, before commas, around dots, after unary operators": (
        "isa i for m{inst X a:8 , d : reg{A=-(sext(a,3))[2:1]  B = mem [a]  C = R . base  D = ~ ( A + 1 ) "
        "[ 3 : 0 ]  f ( a , d )}}\n",
        "isa i for m { inst X a: 8, d: reg { A = -(sext(a, 3))[2:1]  B = mem[a]  C = R.base  "
        "D = ~(A + 1)[3:0]  f(a, d) } }\n"),
    "a field's bits take a space, a slice none": (
        "machine m { control reg F: 8 { IF[1] , T [ 3 : 2 ] } }\n",
        "machine m { control reg F: 8 { IF [1], T [3:2] } }\n"),
    "a semicolon ends what it follows": (
        "machine m { trap { save (M, P) -> E[0];load (M, P) <- E[2]  cause -> E[4] } }\n",
        "machine m { trap { save (M, P) -> E[0]; load (M, P) <- E[2]  cause -> E[4] } }\n"),
    "four spaces a level; a closing brace with the line that opened it": (
        """
        isa i for m {
        inst X {
        if A == 0 {
        halt
          } else if A == 1 {
        A = 2
        }
        }
            def f(x) = x + 1
                }
        """,
        """
        isa i for m {
            inst X {
                if A == 0 {
                    halt
                } else if A == 1 {
                    A = 2
                }
            }
            def f(x) = x + 1
        }
        """),
    "a continuation keeps its indentation relative to its item's first line": (
        """
        isa i for m {
          def f(x) =
              if x == 0 { 1 }
              else { 2 }
          expect T1 holds,
                 T2 holds
        }
        """,
        """
        isa i for m {
            def f(x) =
                if x == 0 { 1 }
                else { 2 }
            expect T1 holds,
                   T2 holds
        }
        """),
    "a continuation is never less indented than its item": (
        """
        isa i for m {
            expect T1 holds,
          T2 holds
        }
        """,
        """
        isa i for m {
            expect T1 holds,
            T2 holds
        }
        """),
    "labels one level out, program words keep their columns": (
        """
        program p on m {
          data 4: 0, handler
          // boot
          boot:
              LOAD 10  ADD 11
           handler: HALT
        }
        """,
        """
        program p on m {
            data 4: 0, handler
            // boot
        boot:
            LOAD 10  ADD 11
        handler: HALT
        }
        """),
    "padding before an instruction's body or an end-of-line comment keeps its column": (
        """
        isa i for m {
          inst LOAD a   { A = mem[a] }      // load
          inst STORE a  { mem[a] = A }      // store
          inst HALT { halt } // one space is a space
          inst VERYLONGNAME a, b, c { A = a }        // pushed out
        }
        """,
        """
        isa i for m {
            inst LOAD a   { A = mem[a] }      // load
            inst STORE a  { mem[a] = A }      // store
            inst HALT { halt } // one space is a space
            inst VERYLONGNAME a, b, c { A = a }        // pushed out
        }
        """),
    "an aligned comment keeps its column when the code before it shrinks": (
        "machine m {\n    control reg F { a,  b }  // f\n}\n",
        "machine m {\n    control reg F { a, b }   // f\n}\n"),
    "an aligned column that the code outgrows gets one space": (
        "machine m {\n  reg R:16{a}  // r\n}\n",
        "machine m {\n    reg R: 16 { a } // r\n}\n"),
    "blank lines: at most one, none at the start, after an opening or before a closing brace": (
        "\n\n// head\n\n\n\nmachine m {\n\n    word 16   \n\n\n    reg A\n\n}\n\n\n\nconst X = 1",
        "// head\n\nmachine m {\n    word 16\n\n    reg A\n}\n\nconst X = 1\n"),
    "line ends are newlines": (
        "machine m {\r\n    word 16 // w\r\n}\r\n",
        "machine m {\n    word 16 // w\n}\n"),
    "own-line comments go with the code below, or the items above a closing brace": (
        """
        machine m { /* inline */ word 16
        /* a block
             comment */
                reg A
                  // last
        }
          // end
        """,
        """
        machine m { /* inline */ word 16
            /* a block
             comment */
            reg A
            // last
        }
        // end
        """),
    "nothing": ("", ""),
    "a comment alone": ("  // just a comment   \n", "// just a comment\n"),
}


@pytest.mark.parametrize(("text", "expected"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layout(text: str, expected: str) -> None:
    formats(text, expected)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_every_comment_of_a_bundled_spec_is_kept_in_its_place(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert comment_places(format_text(text)) == comment_places(text)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_the_bundled_specs_are_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text, f"run `vdsl fmt {path.relative_to(ROOT)}`"


def test_text_that_does_not_parse_gets_the_diagnostic_check_gives() -> None:
    with pytest.raises(SpecError) as caught:
        format_text("machine m {", "x.vspec")
    assert str(caught.value) == (
        "x.vspec:1:12: error[V003]: machine 'm' is not closed: '}' is missing\n"
        "   1 | machine m {\n"
        "     |            ^\n"
        "x.vspec:1:1: note: machine 'm' starts here\n"
        "   1 | machine m {\n"
        "     | ^^^^^^^^^^^\n"
        "  hint: add '}' where machine 'm' ends")


def test_a_layout_that_would_change_a_token_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "_print", lambda elements: "machine n { }\n")
    with pytest.raises(InternalError) as caught:
        format_text("machine m { }\n", "x.vspec")
    assert str(caught.value) == ("formatting x.vspec would change its tokens, not only its layout "
                                 "(token 2: 'm' would become 'n'); nothing was changed")


def test_a_layout_that_would_not_parse_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "_print", lambda elements: "machine m {\n")
    with pytest.raises(InternalError, match=r"^formatting x\.vspec would make text that does not parse: "):
        format_text("machine m { }\n", "x.vspec")


def test_parentheses_nested_past_the_recursion_limit_format() -> None:
    text = "isa i for m { inst X { A = " + "(" * 3000 + "A" + ")" * 3000 + " } }\n"
    assert format_text(text) == text
