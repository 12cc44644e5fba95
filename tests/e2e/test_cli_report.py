"""`vdsl report` as a user runs it: the page written whole, to a file or standard output, its
exit statuses, and nothing written when the spec has errors."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from conftest import SPECS, run_vdsl

PG74 = str(SPECS / "pg74.vspec")


def test_the_report_of_pg74_has_every_isa_scenario_and_diagram(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"  # its folder is made
    result = run_vdsl("report", PG74, "-o", str(target))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = target.read_text(encoding="utf-8")
    assert [isa for isa in re.findall(r"<h2>isa (\w+)</h2>", text)] == [
        "pg74", "pg74_getm", "pg74_lpa", "pg74_retu", "pg74_flat"]
    assert re.findall(r"<h3>scenario (\w+)</h3>", text) == [
        "two_guests", "getm", "retu", "retu_hybrid", "lpa", "takeover"]
    assert "47 of 47 expectations hold" in text
    # every diagram inline and well formed: an isa's classes, a scenario's four
    figures = re.findall(r"<figcaption>(.*?)</figcaption>", text)
    assert figures[:2] == ["classes of isa pg74", "classes of isa pg74_getm"]
    assert "traps of scenario getm" in figures and "schedule of scenario two_guests" in figures
    for svg in re.findall(r"<svg.*?</svg>", text, re.DOTALL):
        ElementTree.fromstring(svg)
    ids = re.findall(r' id="([^"]+)"', text)
    assert len(ids) == len(set(ids))  # one page, many SVGs: graphviz's ids prefixed per diagram
    # the divergences: takeover's STORE is also a violation of resource control
    assert "Guest task diverges at step 2 (pc 42): <code>STORE 5</code>" in text
    assert text.count('class="divergence selected"') == 4  # getm, retu, lpa, takeover


def test_to_standard_output_and_restricted_to_one_scenario_and_its_isa() -> None:
    result = run_vdsl("report", PG74, "--scenario", "retu", "-o", "-")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert re.findall(r"<h2>isa (\w+)</h2>", result.stdout) == ["pg74_retu"]
    assert re.findall(r"<h3>scenario (\w+)</h3>", result.stdout) == ["retu"]
    only_isa = run_vdsl("report", PG74, "--isa", "pg74_lpa", "-o", "-")
    assert re.findall(r"<h3>scenario (\w+)</h3>", only_isa.stdout) == ["lpa"]


def test_a_failing_expectation_still_writes_the_page_and_exits_1(write_spec, tmp_path: Path) -> None:
    spec = write_spec("""
        machine m { word 8  memory E[16]  modes { k > u }  reg A  reg P pc }
        isa m for m { inst GETM { A = M }  expect GETM innocuous }
    """)
    target = tmp_path / "r.html"
    result = run_vdsl("report", str(spec), "-o", str(target))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "vdsl: 1 expectation failed or undecided\n"
    assert "0 of 1 expectations hold" in target.read_text(encoding="utf-8")


def test_a_spec_with_errors_gets_its_diagnostics_and_nothing_is_written(write_spec, tmp_path: Path) -> None:
    spec = write_spec("machine m { word 8  memory E[16]  modes { k > u }  reg A  reg P pc }\n"
                      "isa m for m { inst X { B = 1 } }\n")
    target = tmp_path / "r.html"
    result = run_vdsl("report", str(spec), "-o", str(target))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"{spec}:2:24: error[V010]: undefined name 'B'\n"
                             "   2 | isa m for m { inst X { B = 1 } }\n"
                             "     |                        ^\n"
                             "  hint: declare it as a register of the machine, an operand, or with `let`\n"
                             "1 error\n")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [spec]  # no temporary file left behind either


def test_unknown_names_and_a_missing_output_exit_2(tmp_path: Path) -> None:
    result = run_vdsl("report", PG74, "--scenario", "getn", "-o", str(tmp_path / "r.html"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: there is no scenario 'getn'; did you mean 'getm'?\n"
    result = run_vdsl("report", PG74, "--isa", "pg74_get", "-o", str(tmp_path / "r.html"))
    assert result.stderr == "error: there is no isa 'pg74_get'; did you mean 'pg74_getm'?\n"
    assert list(tmp_path.iterdir()) == []
    result = run_vdsl("report", PG74)
    assert result.returncode == 2
    assert "the following arguments are required: -o/--output" in result.stderr
