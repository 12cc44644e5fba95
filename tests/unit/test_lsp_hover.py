"""Hover text: the declaration, and what vdsl knows of it (classification, kind, rank, address)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_lsp import TINY
from tests.unit.test_lsp_navigation import at
from vdsl.lsp.checking import Classified, classify_document, compile_document
from vdsl.lsp.hover import CLASSIFYING, hover_text
from vdsl.lsp.navigation import load_scope

PATH = Path("/nowhere/tiny.vspec")


@pytest.fixture(scope="module")
def classified() -> Classified:
    compiled = compile_document(PATH, {PATH: TINY})
    assert compiled.spec is not None
    return classify_document(compiled.spec, PATH)


def hover(needle: str, offset: int = 0, classified: Classified | None = None, text: str = TINY) -> str | None:
    compiled = compile_document(PATH, {PATH: text})
    reports = classified.reports if classified is not None else None
    return hover_text(load_scope(PATH, text, {}), *at(text, needle, offset), compiled.spec, reports)


def test_an_instruction_shows_its_classification_once_known(classified: Classified) -> None:
    assert hover("inst GETM", 5) == f"```vspec\ninst GETM\n```\n\nisa tiny: {CLASSIFYING}"
    assert hover("inst GETM", 5, classified) == (
        "```vspec\ninst GETM\n```\n\n**mode-sensitive, behaviour-sensitive**\n\n"
        "isa tiny, guests run in user\n\n"
        "T1 offender: mode-sensitive, not privileged (T1's condition: every sensitive instruction is privileged)"
        "\n\nT2 offender: mode-sensitive, not privileged (T2's condition: T1's condition holds and no "
        "unprivileged instruction reads timing state)")
    # used in a program, in an expect line: the same instruction
    assert hover("GETM\n    HALT", 0, classified) == hover("inst GETM", 5, classified)
    assert hover("isa tiny", 4, classified) == (
        "```vspec\nisa tiny for tiny\n```\n\nguests run in user\n\n"
        "T1's condition fails: sensitive but not privileged: GETM (mode-sensitive)\n\n"
        "T2's condition fails: sensitive or timing-dependent but not privileged: GETM (mode-sensitive)\n\n"
        "T3's condition holds: every user-sensitive instruction is privileged")
    lpsw = hover("LPSW privileged", 0, classified)
    assert lpsw is not None and lpsw.endswith("breaks none of T1, T2, T3's conditions")


def test_registers_modes_labels() -> None:
    assert hover("reg R", 4) == ("```vspec\ncontrol reg R { base: 4, bound: 4 }\n```\n\n"
                                 "control register, 8 bits\n\nfields: base [3:0], bound [7:4]")
    assert hover("reg P", 4) == "```vspec\nreg P pc\n```\n\nprogram counter, 8 bits"
    assert hover("base:", 0) == "```vspec\nbase: 4\n```\n\nfield of R: bits 3..0 (4 bits)"
    assert hover("R) = mem", 0) == hover("reg R", 4)
    assert hover("user }", 0) == "```vspec\nmode user: rank 1 of 2 (rank 0 is the most privileged)\n```"
    assert hover("M == user", 0) == ("```vspec\nmodes { supervisor > user }\n```\n\n"
                                     "the mode register of machine tiny: supervisor > user (most privileged first)")
    assert hover("entry start", 6) == "```vspec\nlabel start\n```\n\naddress 0 in program count"


def test_a_file_with_errors_shows_the_declaration_as_written() -> None:
    broken = TINY.replace("inst ADD a  { A = A + mem[a] }", "inst ADD a  { A = A + ")
    assert hover("reg R", 4, text=broken) == "```vspec\ncontrol reg R { base: 4, bound: 4 }\n```"
    assert hover("A = M", 0, text=broken) == "```vspec\nreg A\n```"
