"""The tolerant parse: every declaration that can be read, from text that does not parse."""

from __future__ import annotations

import textwrap

import pytest
from lark import Token, Tree

from tests.conftest import SPECS
from vdsl.lsp.tolerant import declaration_pieces, parse_tolerantly
from vdsl.source import SourceFile
from vdsl.syntax.parser import parser


def declared(text: str) -> list[tuple[str, str]]:
    """(rule, name) of each declaration and instruction in the tolerant tree of `text`."""
    tree = parse_tolerantly(SourceFile("t.vspec", textwrap.dedent(text)))
    found = []
    for node in tree.iter_subtrees_topdown():
        if node.data in ("machine", "isa", "program", "inst", "helper_def", "reg_decl"):
            name = next((c for c in node.children if isinstance(c, Token) and c.type == "NAME"), None)
            found.append((str(node.data), str(name) if name is not None else ""))
    return found


def test_a_file_that_parses_gives_the_compilers_tree() -> None:
    text = (SPECS / "pg74.vspec").read_text(encoding="utf-8")
    assert parse_tolerantly(SourceFile("pg74.vspec", text)) == parser().parse(text)


def test_pieces_start_at_top_level_declarations_keeping_line_numbers() -> None:
    text = "machine m {\n}\n\nisa i for m {\n  inst X { }\n}\nprogram p on i { X }\n"
    assert [line for line, _ in declaration_pieces(text)] == [1, 4, 7]
    assert "".join(piece for _, piece in declaration_pieces(text)) == text


BROKEN = [
    pytest.param("""\
        machine m {
            word 8
            reg A
        """, [("machine", "m"), ("reg_decl", "A")], id="a block not closed at the end"),
    pytest.param("""\
        machine m {
            reg A
        isa i for m {
            inst X { A = 1 }
        }
        """, [("machine", "m"), ("reg_decl", "A"), ("isa", "i"), ("inst", "X")], id="a brace missing before a declaration"),
    pytest.param("""\
        isa i for m {
            inst X a { A = a + }
            inst Y { halt }
        }
        """, [("isa", "i"), ("inst", "X"), ("inst", "Y")], id="an operand missing"),
    pytest.param("""\
        isa i for m {
            inst X { A = A +
            inst Y { halt }
            def f(x) = x
        }
        """, [("isa", "i"), ("inst", "X"), ("inst", "Y"), ("helper_def", "f")], id="a half-written line"),
    pytest.param("""\
        machine m { word 8 @@@ reg A }
        program p on i { X Y
        """, [("machine", "m"), ("reg_decl", "A"), ("program", "p")], id="stray characters"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_text_keeps_its_declarations(text: str, expected: list[tuple[str, str]]) -> None:
    assert declared(text) == expected


def test_fillers_are_unnamed_and_any_text_gives_a_tree() -> None:
    tree = parse_tolerantly(SourceFile("t", "isa i for m { inst { } }"))
    assert isinstance(tree, Tree)
    for text in ["", "}", "{{{{", "\x00\"", "machine", "isa i for", "inst inst inst", "program p on"]:
        assert parse_tolerantly(SourceFile("t", text)).data == "start"
