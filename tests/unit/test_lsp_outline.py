"""The outline: declarations nested with their extents, and the names used with their roles."""

from __future__ import annotations

import textwrap

from vdsl.lsp.outline import Outline, Symbol, outline
from vdsl.source import SourceFile

SPEC = textwrap.dedent("""\
    import "pg74.vspec"
    const TEN = 10
    machine m {
        word 8
        memory E[64]
        modes { sup > usr }
        reg A
        control reg R { base: 4, bound: 4 }
        trap { causes { svc } save (M, R) -> E[0]; load (M, R) <- E[4] }
    }
    isa i for m {
        inst LOAD a { let x = mem[a]  A = x + R.base }
        def twice(v) = v + v
        expect LOAD innocuous
    }
    program p on i {
    start:
        LOAD TEN
        entry start
    }
    hypervisor h on i { guests run in usr }
    scenario s { hypervisor h  guest g runs p in usr }
    stack st { kind containers  container web "nginx" }
    """)


def tree(symbols: tuple[Symbol, ...]) -> list[object]:
    return [(s.kind, s.name, tree(s.children)) if s.children else (s.kind, s.name) for s in symbols]


def test_declarations_nest() -> None:
    found = outline(SourceFile("t.vspec", SPEC))
    assert tree(found.symbols) == [
        ("const", "TEN"),
        ("machine", "m", [("memory", "E"), ("modes", "M", [("mode", "sup"), ("mode", "usr")]), ("register", "A"),
                          ("register", "R", [("field", "base"), ("field", "bound")]), ("trap", "trap", [("cause", "svc")])]),
        ("isa", "i", [("instruction", "LOAD", [("operand", "a"), ("local", "x")]), ("helper", "twice", [("parameter", "v")])]),
        ("program", "p", [("label", "start")]),
        ("hypervisor", "h"),
        ("scenario", "s", [("guest", "g")]),
        ("stack", "st", [("container", "web")]),
    ]
    assert found.imports[0][0] == "pg74.vspec"


def test_extents_details_and_links() -> None:
    found = outline(SourceFile("t.vspec", SPEC))
    machine, isa = found.symbols[1], found.symbols[2]
    assert (machine.span.line, machine.span.end_line, machine.name_span.column) == (3, 10, 9)
    register = machine.children[3]
    assert register.detail == "control reg R { base: 4, bound: 4 }"
    assert (register.name_span.line, register.name_span.column, register.name_span.end_column) == (8, 17, 18)
    assert isa.detail == "isa i for m" and isa.target == "m"
    assert isa.children[0].detail == "inst LOAD a"
    assert isa.children[1].detail == "def twice(v)"
    assert machine.children[1].children[1].detail == "mode usr: rank 1 of 2 (rank 0 is the most privileged)"


def roles(found: Outline) -> set[tuple[str, str, str | None]]:
    return {(r.name, r.role, r.owner) for r in found.references}


def test_names_used_and_what_they_may_stand_for() -> None:
    found = outline(SourceFile("t.vspec", SPEC))
    assert {("M", "state", None), ("E", "state", None), ("m", "machine", None), ("x", "state", None),
            ("R", "state", None), ("base", "field", "R"), ("v", "state", None), ("LOAD", "instruction", None),
            ("i", "target", None), ("LOAD", "word", None), ("TEN", "word", None), ("start", "label", None),
            ("usr", "mode", None), ("h", "hypervisor", None), ("p", "program", None)} <= roles(found)


def test_positions() -> None:
    found = outline(SourceFile("t.vspec", SPEC))
    assert [s.name for s in found.path_at(12, 40)] == ["i", "LOAD"]
    reference = found.reference_at(12, 46)
    assert reference is not None and (reference.name, reference.role) == ("base", "field")
    declared = found.symbol_at(8, 18)  # just after the name
    assert declared is not None and declared[1].name == "R" and [s.name for s in declared[0]] == ["m"]
    assert found.symbol_at(1, 1) is None
