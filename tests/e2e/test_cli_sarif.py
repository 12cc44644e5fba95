"""`--format sarif` on `check` and `run`: one SARIF 2.1.0 log on standard output, valid against the
official schema whatever happened (all well, an expectation that fails, errors in the spec, a
request vdsl cannot carry out), with the exit status of the text format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SPECS, run_vdsl, sarif_errors

MACHINE = ("machine m {\n    word 8\n    memory E[16]\n    modes { s > u }\n    reg A\n    reg P pc\n"
           "    control reg F\n}\n")
WRONG = MACHINE + "isa i for m {\n    inst RD { A = F }\n    expect T1 holds\n}\n"  # T1 fails: RD reads F
BROKEN = MACHINE + "isa i for m {\n    inst RD { A = G }\n    inst WR { F = H }\n}\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "wrong.vspec").write_text(WRONG, encoding="utf-8")
    (tmp_path / "broken.vspec").write_text(BROKEN, encoding="utf-8")
    return tmp_path


def sarif_of(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any]]:
    """The exit status and the SARIF log of a vdsl command, checked against the schema."""
    result = run_vdsl(*args, "--format", "sarif", cwd=cwd)
    log = json.loads(result.stdout)
    assert sarif_errors(log) == []
    assert "Traceback" not in result.stderr
    return result.returncode, log


def places(log: dict[str, Any]) -> list[tuple[str, str, str, int, int, int, int]]:
    """(ruleId, level, uri, startLine, startColumn, endLine, endColumn) of each result."""
    found = []
    for result in log["runs"][0]["results"]:
        where = result["locations"][0]["physicalLocation"]
        region = where["region"]
        found.append((result["ruleId"], result["level"], where["artifactLocation"]["uri"], region["startLine"],
                      region["startColumn"], region["endLine"], region["endColumn"]))
    return found


def test_a_spec_that_holds_is_an_empty_log() -> None:
    status, log = sarif_of("check", "specs/pg74.vspec", cwd=ROOT)
    assert status == 0
    run = log["runs"][0]
    assert run["results"] == [] and run["invocations"] == [{"executionSuccessful": True}]
    assert run["tool"]["driver"]["name"] == "vdsl"


def test_an_expectation_that_fails(folder: Path) -> None:
    status, log = sarif_of("check", "wrong.vspec", cwd=folder)
    assert status == 1
    assert places(log) == [("expect", "error", "wrong.vspec", 11, 12, 11, 20)]
    assert log["runs"][0]["results"][0]["message"]["text"] == "expect T1 holds: fails (T1 fails (RD))"
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": True}]


def test_errors_in_the_spec_are_results(folder: Path) -> None:
    status, log = sarif_of("check", "broken.vspec", cwd=folder)
    assert status == 2
    assert places(log) == [("V010", "error", "broken.vspec", 10, 19, 10, 20),
                           ("V010", "error", "broken.vspec", 11, 19, 11, 20)]
    assert log["runs"][0]["results"][0]["message"]["text"] == (
        "undefined name 'G' (hint: declare it as a register of the machine, an operand, or with `let`)")
    assert log["runs"][0]["tool"]["driver"]["rules"] == [{
        "id": "V010", "shortDescription": {"text": "undefined name"},
        "help": {"text": "See docs/reference/diagnostics.md#v010-undefined-name"}}]


def test_related_locations(folder: Path) -> None:
    # A machine defined in two files: the result is at the second, the first is a related location.
    (folder / "again.vspec").write_text("\n" + MACHINE, encoding="utf-8")
    status, log = sarif_of("check", "wrong.vspec", "again.vspec", cwd=folder)
    assert status == 2
    (result,) = log["runs"][0]["results"]
    assert (result["ruleId"], result["message"]["text"]) == (
        "V011", "machine 'm' is defined twice (hint: rename one of them, or use `extends` to derive a variant)")
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "again.vspec"
    assert result["relatedLocations"] == [{"id": 1, "message": {"text": "first defined here"}, "physicalLocation": {
        "artifactLocation": {"uri": "wrong.vspec", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 1, "endLine": 8, "endColumn": 2}}}]


def test_each_file_in_one_log(folder: Path) -> None:
    status, log = sarif_of("check", "--each", "wrong.vspec", "broken.vspec", str(SPECS / "pg74.vspec"),
                           cwd=folder)
    assert status == 2
    assert [p[:3] for p in places(log)] == [("expect", "error", "wrong.vspec"), ("V010", "error", "broken.vspec"),
                                            ("V010", "error", "broken.vspec")]
    assert [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == ["V010", "expect"]
    assert [r["ruleIndex"] for r in log["runs"][0]["results"]] == [1, 0, 0]


def test_a_run_whose_expectation_fails() -> None:
    status, log = sarif_of("run", "specs/pg74.vspec", "-s", "getm", "--technique", "hybrid", cwd=ROOT)
    assert status == 1
    ((rule, level, uri, line, column, _, _),) = places(log)
    assert (rule, level, uri) == ("expect", "error", "specs/pg74.vspec")
    text = (SPECS / "pg74.vspec").read_text(encoding="utf-8").splitlines()[line - 1]
    assert text[column - 1:].startswith("kernel divergence at GETM")
    status, log = sarif_of("run", "specs/pg74.vspec", "-s", "two_guests", cwd=ROOT)
    assert (status, log["runs"][0]["results"]) == (0, [])


def test_a_file_outside_the_working_folder_is_an_absolute_uri(folder: Path) -> None:
    status, log = sarif_of("run", str(SPECS / "pg74.vspec"), "-s", "getm", "--technique", "hybrid", cwd=folder)
    assert status == 1
    assert places(log)[0][2] == (SPECS / "pg74.vspec").as_uri()


def test_a_request_vdsl_cannot_carry_out(folder: Path) -> None:
    result = run_vdsl("check", "wrong.vspec", "--isa", "nope", "--format", "sarif", cwd=folder)
    assert result.returncode == 2
    assert result.stderr == "error: there is no isa 'nope'; the isas are i\n"
    log = json.loads(result.stdout)
    assert sarif_errors(log) == []
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": False, "toolExecutionNotifications": [
        {"level": "error", "message": {"text": "there is no isa 'nope'; the isas are i"}}]}]
