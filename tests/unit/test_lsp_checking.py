"""A document's diagnostics (every one of the failing phase) and `check`'s findings."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_lsp import TINY
from vdsl.lsp.checking import classify_document, compile_document


def test_unsaved_text_stands_in_for_files(tmp_path: Path) -> None:
    main, imported = tmp_path / "main.vspec", tmp_path / "tiny.vspec"
    imported.write_text("this is not a spec", encoding="utf-8")
    text = 'import "tiny.vspec"\nisa mine extends tiny { inst NOP { A = A } }\n'
    compiled = compile_document(main, {main: text, imported: TINY})
    assert compiled.diagnostics == () and compiled.spec is not None
    assert compiled.spec.isa("mine") is not None


def test_every_diagnostic_of_the_phase_with_related_places(tmp_path: Path) -> None:
    path = tmp_path / "t.vspec"
    text = TINY.replace("A = M }", "A = Q }").replace("inst HALT", "inst LOAD a { A = a }\n    inst HALT")
    compiled = compile_document(path, {path: text})
    assert compiled.spec is None
    assert [(d.code, d.span.line if d.span else None) for d in compiled.diagnostics] == [("V010", 15), ("V011", 17)]
    [related] = compiled.diagnostics[1].related
    assert (related.message, related.span.line) == ("first defined here", 13)


def test_a_file_that_cannot_be_read_is_a_diagnostic(tmp_path: Path) -> None:
    compiled = compile_document(tmp_path / "missing.vspec", {})
    assert [d.code for d in compiled.diagnostics] == ["V018"]


def test_findings_are_what_check_reports(tmp_path: Path) -> None:
    path = tmp_path / "t.vspec"
    text = TINY.replace("expect T3 holds", "expect T1 holds")
    compiled = compile_document(path, {path: text})
    assert compiled.spec is not None
    classified = classify_document(compiled.spec, path)
    assert sorted(classified.reports) == ["tiny"]
    [finding] = classified.findings
    assert (finding.level, finding.code, finding.message) == ("error", "expect", "expect T1 holds: fails (T1 fails (GETM))")
    assert finding.span is not None and finding.span.line == 19
