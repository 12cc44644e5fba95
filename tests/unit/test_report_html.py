"""The HTML report (`vdsl.report.html`): built from the reports the JSON outputs use, every piece
of text escaped, the first divergence marked, traces bounded, nothing fetched from elsewhere."""

from __future__ import annotations

import re
from functools import cache

import pytest
from conftest import SPECS, spec_from

from vdsl import compile_files
from vdsl.analysis.classify import IsaReport, classify_isa
from vdsl.monitor.results import ScenarioRun
from vdsl.monitor.run import run_scenario
from vdsl.report import html
from vdsl.report.html import Diagram, ReportInput, convert


@cache
def getm() -> tuple[IsaReport, ScenarioRun]:
    """PG74's isa with GETM, and the scenario whose guest kernel diverges at it (step 1)."""
    spec = compile_files(SPECS / "pg74.vspec")
    isa = spec.isa("pg74_getm")
    scenario = spec.scenario("getm")
    assert isa is not None and scenario is not None
    return classify_isa(isa), run_scenario(scenario, trace=True)


def page(**changes: object) -> str:
    report, run = getm()
    fields: dict[str, object] = {"files": ("specs/pg74.vspec",), "version": "0.1.0", "isas": (report,),
                                 "runs": (run,)}
    return convert(ReportInput(**{**fields, **changes}))  # type: ignore[arg-type]


def test_the_page_has_the_verdicts_the_classification_and_the_witnesses() -> None:
    text = page()
    assert text.startswith("<!DOCTYPE html>\n") and text.endswith("</html>\n")
    assert "<title>vdsl report: specs/pg74.vspec</title>" in text
    assert "vdsl 0.1.0" in text
    assert "<h2>isa pg74_getm</h2>" in text
    assert "T1&#x27;s condition fails: sensitive but not privileged: GETM (mode-sensitive)" in text
    assert "T3&#x27;s condition holds: every user-sensitive instruction is privileged" in text
    assert "<code>expect T1 fails with GETM</code>" in text
    # the classification row of GETM: not privileged, mode-sensitive, breaking T1 and T2
    row = re.search(r'<tr class="offender"><td><a href="#explain-pg74_getm-GETM">GETM</a></td>(.*?)</tr>', text)
    assert row is not None
    assert re.findall(r'class="mark-(\w+)"', row.group(1)) == ["no", "no", "yes", "no", "no", "no", "no"]
    assert "T1</span>" in row.group(1) and "T3</span>" not in row.group(1)
    # GETM's witness: the two modes side by side, A differing after the step
    evidence = re.search(r'<details id="explain-pg74_getm-GETM".*?</details>', text, re.DOTALL)
    assert evidence is not None
    assert "mode-sensitive: yes" in evidence.group(0)
    assert ("<th>mode supervisor before</th><th>mode supervisor after</th><th>mode user before</th>"
            "<th>mode user after</th>") in evidence.group(0)
    assert '<tr><th>A</th><td>0</td><td class="differs">0</td><td>0</td><td class="changed differs">1</td></tr>' \
        in evidence.group(0)


def test_the_scenario_shows_its_guests_and_the_first_divergence_with_its_cause() -> None:
    text = page()
    assert '<h2>Scenarios side by side</h2>' in text
    assert '<h3>scenario getm</h3>' in text
    box = re.search(r'<div class="divergence-box" id="scenario-getm-divergence-kernel">.*?</div>\s*(?=<h4>)',
                    text, re.DOTALL)
    assert box is not None
    assert "Guest kernel diverges at step 1 (pc 20): <code>GETM</code>" in box.group(0)
    assert '<tr class="differs"><td>A</td><td>0</td><td>0</td><td>1</td></tr>' in box.group(0)
    assert "why: GETM is mode-sensitive, behaviour-sensitive: it breaks T1&#x27;s condition" in box.group(0)
    assert '<a href="#scenario-getm-divergence-kernel">at step 1</a>' in text


def test_the_trace_starts_at_the_divergence_with_both_states_of_its_step() -> None:
    text = page()
    row = re.search(r'<tr data-row="(\d+)" data-state="kernel:1" id="trace-getm-divergence-kernel" '
                    r'class="divergence selected">(.*?)</tr>', text)
    assert row is not None
    assert "<td>GETM</td><td>divergence</td><td>user / supervisor</td><td>differences A</td>" in row.group(2)
    trace = re.search(r'<div class="trace" tabindex="0" data-start="(\d+)">', text)
    assert trace is not None and trace.group(1) == row.group(1)  # the events before it are all shown
    panel = re.search(r'<div class="step-state" data-state="kernel:1">(.*?)</div><div', text, re.DOTALL)
    assert panel is not None  # the only panel not hidden
    assert "guest kernel, step 1 (pc 20), run directly on the real machine" in panel.group(1)
    assert '<tr class="differs"><td>A</td><td>0</td><td>1</td></tr>' in panel.group(1)
    assert text.count('<div class="step-state" data-state="kernel:1"') == 1


def test_long_traces_are_cut_and_the_page_says_where(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "TRACE_HEAD", 2)
    monkeypatch.setattr(html, "TRACE_WINDOW", 1)
    _, run = getm()
    spec = compile_files(SPECS / "pg74.vspec")
    scenario = spec.scenario("two_guests")
    assert scenario is not None
    longer = run_scenario(scenario, trace=True)
    text = page(runs=(run, longer))
    count = len(longer.events)
    assert f"Showing 2 of {count} events: the first 2, and 1 on either side of each divergence and " \
           "violation." in text
    assert f"&hellip; events 3&ndash;{count} not shown ({count - 2}) &hellip;" in text
    # getm's divergence is its second event: the window around it adds the third
    assert f"Showing 3 of {len(run.events)} events" in text
    assert f"&hellip; events 4&ndash;{len(run.events)} not shown" in text


def test_every_text_is_escaped() -> None:
    text = page(files=('<script>alert("x")</script>.vspec',), version="<b>1</b>",
                diagrams_note="a <note> & more")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.vspec" in text
    assert "&lt;b&gt;1&lt;/b&gt;" in text and "a &lt;note&gt; &amp; more" in text
    spec = spec_from("""
        machine m { word 8  memory E[16]  modes { k > u }  reg A  reg P pc }
        isa m for m { inst GETM { A = M }  expect GETM innocuous }
    """)
    isa = spec.isa("m")
    assert isa is not None
    failing = convert(ReportInput(("m.vspec",), "0.1.0", (classify_isa(isa),)))
    assert "<code>expect GETM innocuous</code>" in failing and "FAILED" in failing
    assert "0 of 1 expectations hold" in failing


def test_nothing_is_fetched_from_elsewhere_and_the_diagrams_are_inline() -> None:
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
           ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<!-- Generated by graphviz -->\n'
           '<svg width="62pt" height="116pt" xmlns="http://www.w3.org/2000/svg"><g id="d0"></g></svg>\n')
    text = page(diagrams=(Diagram("classes", "isa", "pg74_getm", svg),
                          Diagram("traps", "scenario", "getm", svg)))
    assert text.count('<svg width="62pt"') == 2
    assert "<!DOCTYPE svg" not in text and "graphviz -->" not in text
    assert "<figcaption>classes of isa pg74_getm</figcaption>" in text
    assert "<summary>Diagrams: traps</summary>" in text
    assert re.findall(r'(?:src|href)\s*=\s*"(?!#)[^"]*"', text) == []
    assert re.findall(r"url\(", text) == []
    assert "<link" not in text and "@import" not in text
