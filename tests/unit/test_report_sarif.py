"""`vdsl.report.sarif`: findings as a SARIF 2.1.0 log, valid against the official schema; and the
table of codes its rules come from, which must say what the diagnostics reference says."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, sarif_errors

from vdsl.errors import Diagnostic, Related
from vdsl.report import sarif
from vdsl.report.codes import CODES, DIAGNOSTIC_CODES
from vdsl.report.findings import Finding
from vdsl.source import SourceFile, Span

REFERENCE = (ROOT / "docs" / "reference" / "diagnostics.md").read_text(encoding="utf-8")


def span(file: str, line: int, column: int, end_line: int, end_column: int) -> Span:
    return Span(SourceFile(file, ""), line, column, end_line, end_column)


def test_a_finding_becomes_a_result_at_its_place(tmp_path: Path) -> None:
    findings = [
        Finding("error", "V010", "undefined name 'G' (hint: did you mean 'A'?)", span("spec.vspec", 10, 19, 10, 20)),
        Finding("warning", "expect", "expect T1 holds: undecided (…)", span("sub/ä b.vspec", 3, 5, 4, 2)),
        Finding("notice", "V018", "cannot read 'gone.vspec'", file="gone.vspec"),
        Finding("error", "internal", "internal error (KeyError): 'x'"),
    ]
    log = sarif.convert(findings, tmp_path)
    assert sarif_errors(log) == []
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["V010", "V018", "expect", "internal"]
    assert run["tool"]["driver"]["rules"][0] == {
        "id": "V010", "shortDescription": {"text": "undefined name"},
        "help": {"text": "See docs/reference/diagnostics.md#v010-undefined-name"}}
    first, second, third, fourth = run["results"]
    assert first == {
        "ruleId": "V010", "ruleIndex": 0, "level": "error",
        "message": {"text": "undefined name 'G' (hint: did you mean 'A'?)"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "spec.vspec", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 10, "startColumn": 19, "endLine": 10, "endColumn": 20}}}]}
    assert (second["ruleIndex"], second["level"]) == (2, "warning")
    assert second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "sub/%C3%A4%20b.vspec"
    assert third["level"] == "note"
    assert third["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": "gone.vspec",
                                                                             "uriBaseId": "%SRCROOT%"}}}]
    assert "locations" not in fourth


def test_related_places_are_related_locations(tmp_path: Path) -> None:
    diagnostic = Diagnostic("V011", "machine 'm' is defined twice", span("b.vspec", 2, 1, 2, 8), "rename one",
                            related=(Related("first defined here", span("a.vspec", 1, 1, 9, 2)),))
    log = sarif.convert([Finding.of_diagnostic(diagnostic)], tmp_path)
    assert sarif_errors(log) == []
    (result,) = log["runs"][0]["results"]
    assert result["message"] == {"text": "machine 'm' is defined twice (hint: rename one)"}
    assert result["relatedLocations"] == [{"id": 1, "message": {"text": "first defined here"}, "physicalLocation": {
        "artifactLocation": {"uri": "a.vspec", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 1, "endLine": 9, "endColumn": 2}}}]


def test_a_file_outside_the_folder_is_an_absolute_uri(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "spec.vspec"
    inside = tmp_path / "here" / ".." / "here" / "spec.vspec"
    log = sarif.convert([Finding("error", "V010", "m", span(str(outside), 1, 1, 1, 2)),
                         Finding("error", "V010", "m", span(str(inside), 1, 1, 1, 2))], tmp_path / "here")
    assert sarif_errors(log) == []
    artifacts = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]]
    assert artifacts == [{"uri": outside.as_uri()}, {"uri": "spec.vspec", "uriBaseId": "%SRCROOT%"}]


def test_a_request_vdsl_cannot_carry_out_is_an_unsuccessful_invocation(tmp_path: Path) -> None:
    log = sarif.convert([], tmp_path, failure="there is no isa 'nope'")
    assert sarif_errors(log) == []
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": False, "toolExecutionNotifications": [
        {"level": "error", "message": {"text": "there is no isa 'nope'"}}]}]
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_the_schema_catches_what_it_should() -> None:
    # The validation is not vacuous: a wrong level and a 0 line break the schema.
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "vdsl"}}, "results": [
        {"message": {"text": "m"}, "level": "fatal", "locations": [
            {"physicalLocation": {"region": {"startLine": 0}}}]}]}]}
    errors = sarif_errors(bad)
    assert any("'fatal' is not one of" in e for e in errors) and any("'startLine': 0" in e for e in errors)


def test_the_codes_are_the_diagnostics_reference_sections() -> None:
    documented = dict(re.findall(r"^## (V0\d\d): (.+)$", REFERENCE, re.MULTILINE))
    assert documented == DIAGNOSTIC_CODES
    anchors = set(re.findall(r"^\| \[V0\d\d\]\(#([^)]+)\)", REFERENCE, re.MULTILINE))
    assert {sarif.diagnostic_anchor(code) for code in DIAGNOSTIC_CODES} == anchors
    used = {code for path in (ROOT / "vdsl").rglob("*.py")
            for code in re.findall(r"Finding\(\s*\"\w+\", \"(\w+)\"", path.read_text(encoding="utf-8"))}
    assert used - set(CODES) == set()
