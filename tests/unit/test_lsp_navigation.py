"""Definitions and completions, from outlines, across imports and on broken text."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import SPECS
from vdsl.lsp.navigation import completions, definition, load_scope
from vdsl.source import SourceFile, Span

SPEC = textwrap.dedent("""\
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
        inst CALL { trap svc }
        def twice(v) = v + v
        inst DBL { A = twice(A) }
    }
    isa j extends i { inst NOP { A = A } }
    program p on j {
    start:
        LOAD 1
        NOP
        entry start
    }
    hypervisor h on i { guests run in usr }
    scenario s { hypervisor h  guest g runs p in usr }
    """)


def at(text: str, needle: str, offset: int = 0, occurrence: int = 0) -> tuple[int, int]:
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def where(span: Span | None) -> tuple[int, int] | None:
    return (span.line, span.column) if span is not None else None


def test_definitions() -> None:
    scope = load_scope(Path("t.vspec"), SPEC, {})
    cases = {
        ("x + R", 0): ("let x", 4), ("R.base", 0): ("reg R", 4), ("base }", 0): ("base:", 0),
        ("M, R) ->", 0): ("modes", 0), ("E[0]", 0): ("memory E", 7), ("svc }", 0, 1): ("svc }", 0),
        ("twice(A)", 0): ("def twice", 4), ("v + v", 0): ("def twice(v", 10), ("a] ", 0): ("LOAD a", 5),
        ("for m", 4): ("machine m", 8), ("extends i", 8): ("isa i", 4), ("on j", 3): ("isa j", 4),
        ("NOP\n", 0): ("inst NOP", 5), ("LOAD 1", 0): ("inst LOAD", 5), ("entry start", 6): ("start:", 0),
        ("in usr", 3): ("usr }", 0), ("hypervisor h ", 11): ("hypervisor h on", 11), ("runs p", 5): ("program p", 8),
        ("A = A }", 0): ("reg A", 4),  # in isa j: through `extends i` and `for m`
    }
    for use, declaration in cases.items():
        needle, offset, *occurrence = use
        assert where(definition(scope, *at(SPEC, needle, offset, *occurrence))) == at(SPEC, *declaration), use


def test_a_declared_name_is_its_own_definition_and_unknown_names_have_none() -> None:
    scope = load_scope(Path("t.vspec"), SPEC, {})
    assert where(definition(scope, *at(SPEC, "reg R", 4))) == at(SPEC, "reg R", 4)
    assert definition(scope, *at(SPEC, "word 8", 1)) is None
    assert definition(scope, 99, 1) is None


def test_definitions_in_imported_files(tmp_path: Path) -> None:
    text = 'import "pg74.vspec"\nisa mine extends pg74 { inst NOP { A = A } }\n'
    scope = load_scope(tmp_path / "mine.vspec", text, {})
    found = definition(scope, *at(text, "extends pg74", 8))
    assert found is not None and Path(found.file) == SPECS / "pg74.vspec" and found.line == 26
    register = definition(scope, *at(text, "A = A", 0))
    assert register is not None and (register.line, register.column) == (14, 9)
    # An open document's unsaved text stands in for the file
    scope = load_scope(tmp_path / "mine.vspec", 'import "other.vspec"\nisa mine extends o { }\n',
                       {tmp_path / "other.vspec": "\n\nisa o { }\n"})
    found = definition(scope, 2, 19)
    assert found is not None and (found.line, found.column) == (3, 5)


def labels(text: str, needle: str, offset: int = 0) -> set[str]:
    return {c.label for c in completions(load_scope(Path("t.vspec"), text, {}), *at(text, needle, offset))}


def test_completions_by_place() -> None:
    assert {"x", "a", "A", "R", "M", "sup", "E", "twice", "let", "zext"} <= labels(SPEC, "x + R", 0)
    assert labels(SPEC, "R.base", 2) == {"base", "bound"}
    assert labels(SPEC, "for m", 4) == {"m"}
    assert labels(SPEC, "extends i", 8) == {"i", "j"}
    assert {"LOAD", "NOP", "CALL", "start", "data", "org"} <= labels(SPEC, "LOAD 1", 0)
    assert labels(SPEC, "in usr", 3) == {"sup", "usr"}
    assert labels(SPEC, "runs p", 5) == {"p"}
    assert labels(SPEC, "trap svc", 5) == {"svc"}
    expecting = SPEC.replace("inst DBL", "expect LOAD priv\n    inst DBL")
    assert {"LOAD", "T1", "privileged", "innocuous", "holds"} <= labels(expecting, "LOAD priv", 9)
    end = {c.label for c in completions(load_scope(Path("t.vspec"), SPEC, {}), SPEC.count("\n") + 1, 1)}
    assert {"machine", "isa", "program", "import"} <= end


def test_completions_on_a_broken_file() -> None:
    broken = SPEC.replace("inst DBL { A = twice(A) }", "inst DBL { A = R.")
    assert labels(broken, "R.\n", 2) == {"base", "bound"}
    typing = SPEC.replace("inst DBL { A = twice(A) }", "inst DBL { A = tw")
    assert {"twice", "A", "R"} <= labels(typing, "= tw", 4)


def test_a_source_file_scope_reads_nothing_it_cannot(tmp_path: Path) -> None:
    scope = load_scope(tmp_path / "t.vspec", 'import "missing.vspec"\nimport "/"\nmachine m { }\n', {})
    assert [s.name for s in scope.top("machine")] == ["m"]
    assert len(scope.outlines) == 1
    assert isinstance(scope.main.source, SourceFile)
