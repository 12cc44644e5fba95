"""Classification diagrams: an isa's instructions grouped by class, the theorems' offenders
marked, the verdicts in the caption."""

from __future__ import annotations

import graphviz

from vdsl.analysis.classify import InstructionReport, IsaReport
from vdsl.diagrams.style import FAINT, FILL, INK, cell, font, legend, new_graph, table, text
from vdsl.ir.vocabulary import THEOREM_CONDITIONS, THEOREMS

# The sensitivities an offender can have, most specific first: each offender is listed under
# the first that comes without privilege (for some operands), with all its classes as tags.
_KINDS = (("control-sensitive", "control-sensitive: changes control state or halts"),
          ("mode-sensitive", "mode-sensitive: depends on the mode"),
          ("location-sensitive", "location-sensitive: depends on where it is in memory"),
          ("control-state-sensitive", "reads other control state"))
_TAGS = {"control-sensitive": "control", "mode-sensitive": "mode", "location-sensitive": "location",
         "control-state-sensitive": "state", "user-sensitive": "user", "timing-sensitive": "timing"}
_BADGE = {"T3": "#7f2704", "T2": "#525252"}


def _tags(report: InstructionReport) -> str:
    tags = [tag for question, tag in _TAGS.items() if report.holds(question)]
    if report.privileged_where_sensitive:  # privileged for the operands that make it sensitive
        tags.append("privileged where sensitive")
    if report.premise is not None and report.premise.known:  # the theorems' premise fails by it
        tags.append("reaches the trap areas")
    return " · ".join(tags)


def _badge(theorem: str) -> str:
    return cell(font(text(theorem), 9, bold=True, color="#ffffff"), fill=_BADGE[theorem], padding=4, border=0)


_TINT = {"privileged": "#e5f5e0", "offender": "#fee6ce", "innocuous": "#f7f7f7"}


def _entry(report: InstructionReport, offends: list[str], kind: str) -> list[str]:
    """One instruction's two cells: its name with its classes as tags, and its T3 (or T2) mark
    (a column of its own, so that the marks line up; the name spans both where there is none)."""
    # Every sensitive instruction that is not privileged breaks T1 (its column says so); T3 and
    # T2 (timing) are marked where they are broken too.
    marks = [t for t in offends if t in _BADGE and not (t == "T2" and "T1" in offends)]
    tags = _tags(report)
    name = font(text(report.name), 11, bold=True) + (
        font("&#160;&#160;" + text(tags), 9, color=FAINT) if tags else "")
    if not marks:
        return [cell(name, border=0, align="LEFT", padding=4, fill=_TINT[kind], colspan=2)]
    return [cell(name, border=0, align="LEFT", padding=4, fill=_TINT[kind]), _badge(marks[0])]


def _column(report: InstructionReport) -> str:
    """Where an instruction goes; "undecided" when z3 gave up on a question that places it."""
    if report.known("privileged") is True or report.privileged_where_sensitive:
        return "privileged"
    if report.offends("T1") is True:
        return "offender"
    if report.known("privileged") is False and report.sensitivity is False:
        return "innocuous"
    return "undecided"


def _heading(heading: str) -> list[str]:
    return [cell(font(text(heading), 10, italic=True), border=0, align="LEFT", padding=3,
                 fill=_TINT["offender"], colspan=2)]


def classes(report: IsaReport) -> graphviz.Digraph:
    """The instructions of one classified isa, in three columns: privileged; sensitive and not
    privileged (Theorem 1's offenders, by what makes them sensitive); innocuous."""
    offenders = {t: {r.name for r in report.verdicts[t].offending} for t in THEOREMS}

    def offends(r: InstructionReport) -> list[str]:
        return [t for t in THEOREMS if r.name in offenders[t]]

    placed = {r.name: _column(r) for r in report.instructions}
    privileged = [_entry(r, offends(r), "privileged") for r in report.instructions
                  if placed[r.name] == "privileged"]
    sensitive = [r for r in report.instructions if placed[r.name] == "offender"]
    offending: list[list[str]] = []
    for question, heading in _KINDS:
        members = [r for r in sensitive if next(q for q, _ in _KINDS if r.offence(q)) == question]
        if members:
            offending.append(_heading(heading))
            offending.extend(_entry(r, offends(r), "offender") for r in members)
    unplaced = [r for r in report.instructions if placed[r.name] == "undecided"]
    if unplaced:
        offending.append(_heading("undecided: z3 could not decide where it belongs"))
        offending.extend(_entry(r, offends(r), "offender") for r in unplaced)
    innocuous = [_entry(r, offends(r), "innocuous") for r in report.instructions
                 if placed[r.name] == "innocuous"]
    # One flat table, a list per column, so that every row has the height of one line.
    columns = (("privileged", "privileged", privileged),
               ("offender", "sensitive, not privileged: T1 offenders", offending),
               ("innocuous", "innocuous, not privileged", innocuous))
    rows = [[cell(font(text(title), 12, bold=True), fill=FILL[kind], padding=6, colspan=2)
             for kind, title, _ in columns]]
    for index in range(max(len(entries) for _, _, entries in columns) or 1):
        rows.append([c for kind, _, entries in columns
                     for c in (entries[index] if index < len(entries)
                               else [cell("", fill=_TINT[kind], border=0, padding=2, colspan=2)])])
    verdicts = []
    for theorem in THEOREMS:
        verdict = report.verdicts[theorem]
        status = ("holds" if verdict.holds else "premise fails" if verdict.premise_fails
                  else f"fails ({len(verdict.offending)})" if verdict.decided else "undecided")
        verdicts.append(cell(font(text(f"{theorem}: ") + font(text(status), 11, bold=True), 11) + "<BR/>"
                             + font(text(THEOREM_CONDITIONS[theorem]), 9, color=FAINT),
                             fill=FILL["caption"], padding=5, align="LEFT"))
    premise = report.premise
    if not premise.holds:
        names = premise.offending if premise.decided else premise.undecided
        status = "fails" if premise.decided else "undecided"
        reaching = ", ".join(r.name for r in names)
        verdicts.append(cell(font(text("premise: ") + font(text(status), 11, bold=True), 11) + "<BR/>"
                             + font(text(f"a guest reaches the trap areas: {reaching}"), 9, color=FAINT),
                             fill=FILL["caption"], padding=5, align="LEFT"))
    rows.append([cell(table([verdicts], spacing=3)[1:-1], border=0, colspan=6, padding=0)])
    label = table(rows, spacing=2)
    isa = report.isa
    pins = ", ".join(f"{item.name} = {value}" for item, value in report.context.pins)
    title = f"Classes of isa {isa.name}: guests run in {report.guest_mode}" + (
        f", pinned {pins}" if pins else "")
    graph = new_graph("classes", title, rankdir="LR")
    graph.node("classes", label=label)
    legend(graph, [(_BADGE["T3"], "#ffffff", "T3: user-sensitive, not privileged (no hybrid monitor)"),
                   (_BADGE["T2"], "#ffffff", "T2: reads timing state, not privileged"),
                   ("#ffffff", INK, "tags: control-, mode-, location-, state-, user-, timing-sensitive")],
           title="Marks")
    graph.edge("classes", "legend", style="invis")
    return graph
