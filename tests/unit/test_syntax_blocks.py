"""The brace scan behind "'}' is missing" (`vdsl.syntax.blocks`)."""

from __future__ import annotations

import pytest

from vdsl.syntax.blocks import scan_blocks


@pytest.mark.parametrize(("text", "open_blocks"), [
    ("machine m {\n  word 16\n", ["machine 'm'"]),
    ("isa i for m { inst INC a, b = \"01\" {", ["isa 'i'", "instruction 'INC'"]),
    ("machine m { control reg R {", ["machine 'm'", "register 'R'"]),
    ("isa i for m { inst A { if A == 0 {", ["isa 'i'", "instruction 'A'", "the 'if' block"]),
    ("isa i for m { inst A { if A == 0 { } else {", ["isa 'i'", "instruction 'A'", "the 'else' block"]),
    ("machine m { trap {", ["machine 'm'", "the trap declaration"]),
    ("isa i for m {\n    inst A\n    {", ["isa 'i'", "instruction 'A'"]),  # a brace on its own line
    ("machine m { // a } in a comment\n /* and { here */ reg A", ["machine 'm'"]),
    ('import "a{b.vspec"\nmachine m {', ["machine 'm'"]),  # braces in strings do not count
    ("machine m { } isa i for m { }", []),
])
def test_open_blocks_are_named_by_their_header(text: str, open_blocks: list[str]) -> None:
    assert [block.description for block in scan_blocks(text).open] == open_blocks


def test_a_brace_left_of_its_block_marks_the_inner_block_as_the_one_left_open() -> None:
    text = "isa i for m {\n    inst A {\n        A = 1\n}\n"
    scan = scan_blocks(text)
    assert scan.suspect is not None and scan.suspect.description == "instruction 'A'"
    assert scan.suspect_closed_at == text.rindex("}")


def test_a_well_indented_file_has_no_suspect() -> None:
    assert scan_blocks("isa i for m {\n    inst A {\n        A = 1\n    }\n}\n").suspect is None


def test_the_scan_stops_where_it_is_asked_to() -> None:
    text = "machine m { } isa i for m { inst A { } }"
    assert [b.description for b in scan_blocks(text, text.index("inst") + 9).open] == \
        ["isa 'i'", "instruction 'A'"]
