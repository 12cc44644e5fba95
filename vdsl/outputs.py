"""Every output vdsl produces, in one table: what it converts, what it produces, and the pure
function that converts.  The command line picks from it; only `vdsl.cli` prints or writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from vdsl import diagrams
from vdsl.ir.vocabulary import DIAGRAM_KINDS
from vdsl.report import check, html, run, sarif


@attrs.frozen
class Output:
    name: str
    takes: tuple[str, ...]  # the subjects it converts
    produces: str  # text, json, html or graph (a graphviz.Digraph)
    convert: Callable[..., Any]
    needs: str = "spec"  # spec: the IR subject; classification: an IsaReport; run: a ScenarioRun
    description: str = ""


OUTPUTS: dict[str, Output] = {o.name: o for o in (
    Output("check-text", ("isa reports",), "text", check.check_text),
    Output("check-json", ("isa reports",), "json", check.check_json),
    Output("explain-text", ("instruction report",), "text", check.explain_text),
    Output("explain-json", ("instruction report",), "json", check.explain_json),
    Output("run-text", ("scenario run",), "text", run.scenario_text),
    Output("run-json", ("scenario runs",), "json", run.runs_json),
    Output("runs-summary-text", ("scenario runs",), "text", run.runs_summary_text),
    Output("program-text", ("bare run",), "text", run.bare_run_text),
    Output("program-json", ("bare run",), "json", run.bare_run_json),
    Output("findings-sarif", ("findings",), "json", sarif.convert),
    Output("report-html", ("report",), "html", html.convert,
           description="one self-contained page: classifications, witnesses, runs, traces and diagrams"),
    Output("layers", ("scenario", "hypervisor", "stack"), "graph", diagrams.layers,
           description="hardware, host OS, hypervisors, virtual machines, guests: who runs on what, "
                       "with each guest's native and real mode"),
    Output("rings", ("scenario", "hypervisor", "isa"), "graph", diagrams.rings,
           description="the machine's modes, who runs in each natively and under the monitor"),
    Output("classes", ("isa",), "graph", diagrams.classes, needs="classification",
           description="the isa's instructions by class, the theorems' offenders marked"),
    Output("traps", ("scenario",), "graph", diagrams.trap_flow, needs="run",
           description="where each guest's instructions went: directly, or trapped, emulated, reflected"),
    Output("schedule", ("scenario",), "graph", diagrams.schedule, needs="run",
           description="the real processor over time: the guests' slices and exits"),
)}

assert tuple(name for name, output in OUTPUTS.items() if output.produces == "graph") == DIAGRAM_KINDS
