"""`vdsl report`: one self-contained HTML page of everything vdsl decides and runs.

The page is built from the same reports the text and JSON outputs use (the classification,
the witnesses as `vdsl explain --format json` gives them, the scenario runs as `vdsl run
--format json` gives them, the run's trace and lockstep comparisons), so they cannot disagree.
It needs nothing else: CSS and a little JavaScript inline, the diagrams inline SVG, no URL.
The converter is pure; the command renders the diagrams and writes the file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from vdsl.analysis.classify import IsaReport, PolicyReport
from vdsl.emulator.state import MachineState, differences
from vdsl.ir import nodes as ir
from vdsl.ir.layout import is_packed
from vdsl.ir.vocabulary import THEOREMS
from vdsl.monitor.results import ComparedStep, Event, Explanation, ScenarioRun
from vdsl.report.check import (
    COLUMNS,
    QUESTION_TITLES,
    check_json,
    context_text,
    explain_json,
    policy_json,
    policy_text,
    premise_text,
    table_marks,
    verdict_text,
)
from vdsl.report.run import (
    SUMMARY_HEADER,
    explanation_text,
    how_text,
    instruction_text,
    scenario_json,
    summary_rows,
)

_MARK_CLASSES = {"yes": "yes", "-": "no", "?": "unsure", "some": "some"}
TRACE_HEAD = 150  # the trace's first events shown
TRACE_WINDOW = 12  # events shown on either side of each divergence and violation past the head


@attrs.frozen
class Diagram:
    """A diagram of one subject, rendered to SVG by the command (None: not rendered)."""

    kind: str
    subject: str  # "isa", "scenario", "hypervisor" or "stack"
    name: str
    svg: str | None


@attrs.frozen
class ReportInput:
    """What the page shows: the files, the isas' classifications with the policy checks their
    `expect policy` lines name, the scenario runs (with their traces) and the diagrams."""

    files: tuple[str, ...]
    version: str
    isas: tuple[IsaReport, ...] = ()
    policies: tuple[PolicyReport, ...] = ()
    runs: tuple[ScenarioRun, ...] = ()
    diagrams: tuple[Diagram, ...] = ()
    diagrams_note: str = ""  # why there are no diagrams, when there are none


def convert(page: ReportInput) -> str:
    """The HTML page."""
    title = "vdsl report: " + ", ".join(page.files)
    body = [_header(page)]
    body.extend(_isa_section(report, page) for report in page.isas)
    if page.runs:
        body.append(_scenarios_section(page))
    others = [d for d in page.diagrams if d.subject in ("hypervisor", "stack")]
    if others:
        body.append(_section("systems", "Hypervisors and stacks", _diagrams(others)))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n")


# ---------------------------------------------------------------- small pieces


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]", "_", p) for p in parts)


def _section(anchor: str, title: str, content: str, level: int = 2) -> str:
    return f'<section id="{_e(anchor)}">\n<h{level}>{_e(title)}</h{level}>\n{content}\n</section>'


def _badge(holds: bool | None, words: tuple[str, str, str] = ("holds", "fails", "undecided")) -> str:
    kind, word = ("ok", words[0]) if holds else ("bad", words[1]) if holds is False else ("unsure", words[2])
    return f'<span class="badge {kind}">{_e(word)}</span>'


def _table(header: Sequence[str], rows: Iterable[str], classes: str = "") -> str:
    """A table in a box that scrolls sideways when it is wider than the page; rows are `<tr>` HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return (f'<div class="scroll"><table class="{classes}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _row(cells: Iterable[str], css: str = "", raw: bool = False) -> str:
    """A row of escaped cells (`raw`: cells already HTML)."""
    tds = "".join(f"<td>{c if raw else _e(c)}</td>" for c in cells)
    return f'<tr class="{css}">{tds}</tr>' if css else f"<tr>{tds}</tr>"


def _expectations(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    rows = [_row([f"<code>expect {_e(r['expect'])}</code>",
                  _badge(r["holds"] if r["decided"] else None, ("ok", "FAILED", "UNDECIDED")),
                  _e(r["detail"])], raw=True) for r in results]
    return "<h4>Expectations</h4>" + _table(("expect", "result", "detail"), rows, "expectations")


def _header(page: ReportInput) -> str:
    expectations = [e for r in page.isas for e in r.expectations]
    expectations += [e for r in page.runs for e in r.expectations]
    held = sum(e.holds for e in expectations)
    problems = [f"{held} of {len(expectations)} expectations hold" if expectations else "no expect lines"]
    undecided = sum(len(i.undecided) for r in page.isas for i in r.instructions)
    if undecided:
        problems.append(f"{undecided} question{'s' if undecided != 1 else ''} undecided")
    problems += [f"guest {g.name} of scenario {r.scenario.name} did not finish" for r in page.runs
                 for g in r.guests if not g.finished]
    ok = held == len(expectations) and len(problems) == 1  # what the exit status says
    summary = "; ".join(problems)
    links = [f'<a href="#{_e(_slug("isa", r.isa.name))}">isa {_e(r.isa.name)}</a>' for r in page.isas]
    if page.runs:
        links.append('<a href="#scenarios">scenarios</a>')
        links.extend(f'<a href="#{_e(_slug("scenario", r.scenario.name))}">{_e(r.scenario.name)}</a>'
                     for r in page.runs)
    if any(d.subject in ("hypervisor", "stack") for d in page.diagrams):
        links.append('<a href="#systems">hypervisors and stacks</a>')
    files = ", ".join(f"<code>{_e(f)}</code>" for f in page.files)
    note = f'<p class="note">{_e(page.diagrams_note)}</p>' if page.diagrams_note else ""
    return (f"<header>\n<h1>vdsl report</h1>\n<p>Spec: {files} &middot; vdsl {_e(page.version)}</p>\n"
            f'<p>{_badge(ok, ("ok", "FAILED", ""))} {_e(summary)}</p>\n{note}'
            f'<nav>{" ".join(links)}</nav>\n</header>')


# ---------------------------------------------------------------- isas


def _isa_section(report: IsaReport, page: ReportInput) -> str:
    isa = report.isa
    expectations = check_json([report])["isas"][0]["expectations"]
    parts = [f"<p>Machine <code>{_e(isa.machine.name)}</code>, {_e(context_text(report))}.</p>",
             _verdicts(report), _expectations(expectations), _classification(report)]
    policies = [p for p in page.policies if p.isa.name == isa.name]
    if policies:
        parts.append("<h3>Policy checks</h3>" + "".join(_policy(p) for p in policies))
    diagrams = [d for d in page.diagrams if d.subject == "isa" and d.name == isa.name]
    if diagrams:
        parts.append("<h3>Diagram</h3>" + _diagrams(diagrams))
    parts.append("<h3>Witnesses</h3><p>Every claim with its evidence, as <code>vdsl explain</code> gives it. "
                 'In the tables, <span class="changed">a changed value</span> differs from the state '
                 'before, <span class="differs">a differing value</span> from the other run\'s.</p>')
    parts.extend(_instruction_evidence(report, inst) for inst in report.instructions)
    return _section(_slug("isa", isa.name), f"isa {isa.name}", "\n".join(parts))


def _verdicts(report: IsaReport) -> str:
    items = []
    premise = premise_text(report)
    if premise:
        items.append(f"<li>{_badge(report.premise.holds if report.premise.decided else None)} "
                     f"{_e(premise)}</li>")
    for theorem in THEOREMS:
        verdict = report.verdicts[theorem]
        holds = verdict.holds if verdict.decided else None
        items.append(f"<li>{_badge(holds)} {_e(verdict_text(report, theorem))}</li>")
    return f'<h3>Verdicts</h3><ul class="verdicts">{"".join(items)}</ul>'


def _classification(report: IsaReport) -> str:
    rows = []
    for inst in report.instructions:
        cells = [f'<a href="#{_e(_slug("explain", report.isa.name, inst.name))}">{_e(inst.name)}</a>']
        cells += [f'<span class="mark-{_MARK_CLASSES[mark]}">{mark}</span>' for mark in table_marks(inst)]
        offends = [t for t in THEOREMS if inst.offends(t) is True]
        cells.append("innocuous" if inst.sensitivity is False else "")
        cells.append(" ".join(f'<span class="badge bad">{t}</span>' for t in offends))
        rows.append(_row(cells, "offender" if offends else "", raw=True))
    some = [i.name for i in report.instructions if i.privileged_where_sensitive]
    note = (f'<p class="note">some: privileged for every operand value that makes it sensitive, not for all '
            f"({_e(', '.join(some))}); not an offender.</p>") if some else ""
    header = ("instruction", *(title for title, _ in COLUMNS), "class", "breaks")
    return "<h3>Classification</h3>" + _table(header, rows, "classification") + note


def _policy(report: PolicyReport) -> str:
    data = policy_json(report)
    head = policy_text(report).splitlines()[0]
    parts = [f"<p>{_badge(report.holds if report.decided else None)} {_e(head)}</p>"]
    if data["exits"]:
        parts.append(f"<p>Exits (the monitor runs them): {_e(', '.join(data['exits']))}</p>")
    rows = [_row([f["instruction"], ", ".join(f"{k} = {v}" for k, v in f["operands"].items()),
                  "" if f["offset"] is None else str(f["offset"]), "; ".join(f["shows"])])
            for f in data["failing"]]
    if rows:
        parts.append(_table(("instruction", "operands", "offset", "what the two runs show"), rows))
    return "".join(parts)


def _instruction_evidence(report: IsaReport, inst: Any) -> str:
    data = explain_json(report, inst)
    machine = report.isa.machine
    parts = []
    for question, answer in data["evidence"].items():
        parts.append(_answer(QUESTION_TITLES[question], answer, machine))
    if data["premise"] is not None:
        parts.append(_answer("reaches the trap areas from a guest mode (the theorems' premise)",
                             data["premise"], machine))
    for offence in data["offences"]:
        parts.append(_offence(offence, machine))
    classes = ", ".join(data["classes"]) or "none decided"
    offends = [t for t, o in data["offends"].items() if o is True]
    mark = "".join(f' <span class="badge bad">{t}</span>' for t in offends)
    anchor = _slug("explain", report.isa.name, inst.name)
    return (f'<details id="{_e(anchor)}" class="instruction"><summary><code>{_e(inst.name)}</code>: '
            f"{_e(classes)}{mark}</summary>\n{''.join(parts)}</details>")


def _answer(title: str, answer: dict[str, Any], machine: ir.Machine) -> str:
    if answer["holds"] is None:
        return f'<div class="answer"><h5>{_e(title)}: undecided</h5><p>{_e(answer["undecided"])}</p></div>'
    word = "yes" if answer["holds"] else "no"
    if "witness" not in answer:
        return _proved(title, word, answer["proved"])
    return f'<div class="answer"><h5>{_e(title)}: {word}</h5>{_witness(answer["witness"], machine)}</div>'


def _offence(offence: dict[str, Any], machine: ir.Machine) -> str:
    title = f"offence: {QUESTION_TITLES[offence['sensitivity']]} and, for the same operands, not privileged"
    if offence["holds"] is None:
        return f'<div class="answer"><h5>{_e(title)}: undecided</h5><p>{_e(offence["undecided"])}</p></div>'
    if not offence["holds"]:
        return _proved(title, "no", offence["proved"])
    return (f'<div class="answer offence"><h5>{_e(title)}: yes</h5>'
            f"{_witness(offence['sensitive'], machine)}<p>and not privileged for the same operands:</p>"
            f"{_witness(offence['unprivileged'], machine)}</div>")


def _proved(title: str, word: str, proof: str) -> str:
    return f'<div class="answer"><h5>{_e(title)}: {word}</h5><p class="proof">proved: {_e(proof)}</p></div>'


def _state_rows(state: dict[str, Any], machine: ir.Machine) -> list[tuple[str, str]]:
    """(name, value) of every register (field by field), the mode and the memory words of a state
    as the JSON outputs give it."""
    rows: list[tuple[str, str]] = []
    for name, value in state["registers"].items():
        if isinstance(value, dict):
            rows.extend((f"{name}.{field}", str(v)) for field, v in value["fields"].items())
            register = machine.register(name)
            if register is not None and not is_packed(register):  # bits outside its fields too
                rows.append((name, str(value["value"])))
        else:
            rows.append((name, str(value)))
    rows.append((machine.mode_name, str(state["mode"])))
    rows.extend((f"{machine.memory.name}[{a}]", str(v)) for a, v in state["memory"].items())
    return rows


def _witness(witness: dict[str, Any], machine: ir.Machine) -> str:
    """The runs side by side, before and after each: rows where something differs, the relocation
    register and the mode always, the memory words that matter."""
    parts = []
    if witness["operands"]:
        operands = ", ".join(f"{k} = {v}" for k, v in witness["operands"].items())
        shift = f"; relocation shifted by {witness['shift']}" if witness["shift"] is not None else ""
        parts.append(f"<p>operands: {_e(operands + shift)}</p>")
    if witness["shows"]:
        parts.append("<ul class='shows'>" + "".join(f"<li>{_e(s)}</li>" for s in witness["shows"]) + "</ul>")
    runs = witness["runs"]
    columns = [dict(_state_rows(run[moment], machine)) for run in runs for moment in ("before", "after")]
    names = list(dict.fromkeys(name for column in columns for name in column))
    always = {machine.mode_name} | ({n for n in names if n.split(".")[0] == machine.relocation}
                                    if machine.relocation else set())
    rows: list[str] = []
    for name in names:
        values = [column.get(name, "") for column in columns]
        if len(set(values)) == 1 and name not in always and not name.startswith(machine.memory.name + "["):
            continue
        cells = [f"<th>{_e(name)}</th>"]
        for index, value in enumerate(values):
            run, moment = divmod(index, 2)
            css = []
            if moment == 1 and value != values[index - 1]:
                css.append("changed")
            if len(runs) == 2 and value != values[index + 2 if run == 0 else index - 2]:
                css.append("differs")
            cells.append(f'<td class="{" ".join(css)}">{_e(value)}</td>' if css else f"<td>{_e(value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    traps = "".join(f"<td></td><td>{_e(run['trapped'] or 'no')}{' (halted)' if run['halted'] else ''}</td>"
                    for run in runs)
    rows.append(f"<tr><th>trap</th>{traps}</tr>")
    header = ["state"] + [f"{run['label']} {moment}" for run in runs for moment in ("before", "after")]
    parts.append(_table(header, rows, "witness"))
    return "".join(parts)


# ---------------------------------------------------------------- scenarios


def _scenarios_section(page: ReportInput) -> str:
    rows = []
    for values in summary_rows(list(page.runs)):
        name = values[0]
        link = f'<a href="#{_e(_slug("scenario", name))}">{_e(name)}</a>'
        equivalent = {"yes": _badge(True, ("yes", "no", "-")), "no": _badge(False, ("yes", "no", "-"))}.get(
            values[5], _e(values[5]))
        rows.append(_row([link, *(_e(v) for v in values[1:5]), equivalent, *(_e(v) for v in values[6:])],
                         raw=True))
    table = _table(SUMMARY_HEADER, rows, "summary")
    sections = "\n".join(_scenario(run, page) for run in page.runs)
    return _section("scenarios", "Scenarios side by side", table) + "\n" + sections


def _scenario(run: ScenarioRun, page: ReportInput) -> str:
    data = scenario_json(run)
    scenario = run.scenario
    chain = " under ".join(f"hypervisor {m.name}" for m in reversed(scenario.monitors))
    parts = [f"<p>{_e(chain)} on isa <code>{_e(scenario.isa.name)}</code>, {_e(run.technique)}; "
             f"{_e(run.cycles)} cycles, efficiency {run.efficiency:.3f}.</p>"]
    parts.append(_guests(data, run))
    parts.append(_expectations(data["expectations"]))
    parts.extend(_divergence(run, guest, found.divergence.explanation)
                 for guest, found in zip(data["guests"], run.guests, strict=True)
                 if found.divergence is not None)
    violations = [v for g in run.guests for v in g.violations]
    if violations:
        rows = [_row([v.guest, str(v.step), str(v.pc), v.instruction or "", v.detail,
                      explanation_text(v.explanation) if v.explanation is not None else ""])
                for v in violations]
        parts.append("<h4>Resource control violations</h4>"
                     + _table(("guest", "step", "pc", "instruction", "what", "why"), rows, "violations"))
    parts.append(_trace(run))
    diagrams = [d for d in page.diagrams if d.subject == "scenario" and d.name == scenario.name]
    if diagrams:
        kinds = ", ".join(d.kind for d in diagrams)
        parts.append(f'<details class="diagrams"><summary>Diagrams: {_e(kinds)}</summary>'
                     f"{_diagrams(diagrams)}</details>")
    return _section(_slug("scenario", scenario.name), f"scenario {scenario.name}", "\n".join(parts), 3)


def _guests(data: dict[str, Any], run: ScenarioRun) -> str:
    rows = []
    for guest in data["guests"]:
        counters = guest["counters"]
        equivalence = guest["equivalence"]
        if guest["management"] or not equivalence["checked"]:
            equivalent = '<span class="badge unsure">not compared</span>'
        elif equivalence["holds"]:
            equivalent = _badge(True, ("held", "FAILS", ""))
        else:
            step = equivalence["divergence"]["step"]
            anchor = _slug("scenario", run.scenario.name, "divergence", guest["name"])
            equivalent = f'{_badge(False, ("held", "FAILS", ""))} <a href="#{_e(anchor)}">at step {step}</a>'
        control = _badge(guest["resource_control"]["holds"], ("held", "FAILS", ""))
        partition = guest["partition"]
        memory = f"{partition['offset']}..{partition['offset'] + partition['size'] - 1}"
        counted = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counters.items()
                            if k not in ("instructions", "direct", "efficiency") and v)
        efficiency = f"{counters['efficiency']:.3f} ({counters['direct']} of {counters['instructions']})"
        rows.append(_row([_e(guest["name"]), _e(guest["program"]), _e(guest["start_mode"]), _e(memory),
                          _e(guest["status"]), equivalent, control, _e(efficiency), _e(guest["cycles"]),
                          _e(counted)], raw=True))
    header = ("guest", "program", "starts in", "memory", "status", "equivalence", "resource control",
              "efficiency", "cycles", "counters")
    return "<h4>Guests</h4>" + _table(header, rows, "guests")


def _divergence(run: ScenarioRun, guest: dict[str, Any], explanation: Explanation | None) -> str:
    """The first divergence of a guest: the step, the instruction, the state before it and both
    states after, the differing rows marked, and the class that explains it."""
    divergence = guest["equivalence"]["divergence"]
    machine = run.scenario.isa.machine
    anchor = _slug("scenario", run.scenario.name, "divergence", guest["name"])
    instruction = instruction_text(divergence["instruction"], tuple(divergence["operands"]))
    differing = {d["where"] for d in divergence["differences"]}
    columns = [_state_rows(divergence[k], machine) for k in ("before", "bare", "virtual")]
    extra = []
    if "halt" in differing:
        halt = next(d for d in divergence["differences"] if d["where"] == "halt")
        extra.append(_row(["halt", "", "halted" if halt["bare"] else "did not halt",
                           "halted" if halt["virtual"] else "did not halt"], "differs"))
    table = _state_table(("state", "before the step", "bare machine after", "virtual machine after"), columns,
                         differing, {machine.pc, machine.mode_name}, extra)
    why = explanation_text(explanation) if explanation is not None else ""
    trace_anchor = _slug("trace", run.scenario.name, "divergence", guest["name"])
    return (f'<div class="divergence-box" id="{_e(anchor)}"><h4>Guest {_e(guest["name"])} diverges at step '
            f'{_e(divergence["step"])} (pc {_e(divergence["pc"])}): <code>{_e(instruction)}</code></h4>'
            f"<p>{_e(how_text(divergence['how']))}; differs in "
            f"{_e(', '.join(d['where'] for d in divergence['differences']))}. "
            f'<a href="#{_e(trace_anchor)}">In the trace</a></p>{table}'
            + (f'<p class="why">why: {_e(why)}</p>' if why else "") + "</div>")


def _state_table(header: Sequence[str], columns: Sequence[Sequence[tuple[str, str]]], differing: set[str],
                 keep: set[str], extra: Sequence[str] = ()) -> str:
    """States side by side, one column each: the rows in `differing` marked; the rows kept, the
    differing ones and those whose values are not all the same first, the others folded away."""
    values = [dict(column) for column in columns]
    names = list(dict.fromkeys(name for column in columns for name, _ in column))
    shown, folded = list(extra), list[str]()
    for name in names:
        # a register shown whole as well as by field differs where one of its fields does
        differs = name in differing or any(d.startswith(name + ".") for d in differing)
        row = _row([name, *(v.get(name, "") for v in values)], "differs" if differs else "")
        interesting = differs or name in keep or len({v.get(name) for v in values}) > 1
        (shown if interesting else folded).append(row)
    table = _table(header, shown, "states")
    if folded:
        table += (f'<details class="rest"><summary>{len(folded)} more, the same in every column</summary>'
                  f"{_table(header, folded, 'states')}</details>")
    return table


def _diagrams(diagrams: Iterable[Diagram]) -> str:
    parts = []
    for diagram in diagrams:
        title = f"{diagram.kind} of {diagram.subject} {diagram.name}"
        if diagram.svg is None:
            continue
        parts.append(f'<figure class="diagram"><figcaption>{_e(title)}</figcaption>'
                     f'<div class="scroll">{_inline_svg(diagram.svg)}</div></figure>')
    return "".join(parts)


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG without its XML prolog, doctype and comments, to sit in the page."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else ""
    return re.sub(r"<!--.*?-->\n?", "", body, flags=re.DOTALL).strip()


# ---------------------------------------------------------------- the trace, step by step


def _shown_events(events: Sequence[Event]) -> list[int]:
    """The indices of the events shown: the first `TRACE_HEAD`, and `TRACE_WINDOW` on either side
    of each divergence and violation."""
    shown = set(range(min(TRACE_HEAD, len(events))))
    for index, event in enumerate(events):
        if event.kind in ("divergence", "violation"):
            shown.update(range(max(0, index - TRACE_WINDOW), min(len(events), index + TRACE_WINDOW + 1)))
    return sorted(shown)


def _trace(run: ScenarioRun) -> str:
    events = run.events
    if not events:
        return "<h4>Trace, step by step</h4><p>No events were recorded.</p>"
    name = run.scenario.name
    compared = {(c.guest, c.step): c for c in run.compared}
    shown = _shown_events(events)
    nested = len(run.scenario.monitors) > 1
    start = next((i for i in shown if events[i].kind == "divergence"), shown[0])
    rows: list[str] = []
    panels: dict[str, str] = {"": "<p>No comparison with the bare machine at this event: the bare twin "
                                  "stops at the first divergence, and a management VM has none.</p>"}
    previous = -1
    for index in [*shown, len(events)]:
        if index != previous + 1:
            rows.append(f'<tr class="gap"><td colspan="{9 if nested else 8}">&hellip; events {previous + 2}'
                        f"&ndash;{index} not shown ({index - previous - 1}) &hellip;</td></tr>")
        previous = index
        if index == len(events):
            break
        event = events[index]
        step = compared.get((event.guest, event.step))
        key = f"{event.guest}:{event.step}" if step is not None else ""
        if step is not None and key not in panels:
            previous_step = compared.get((event.guest, event.step - 1))
            panels[key] = _step_state(step, previous_step, run.scenario.isa.machine)
        css = [event.kind] if event.kind in ("divergence", "violation") else []
        css += ["selected"] if index == start else []
        anchor = f' id="{_e(_slug("trace", name, "divergence", event.guest))}"' \
            if event.kind == "divergence" else ""
        detail = "; ".join(f"{k} {_detail(v)}" for k, v in event.detail)
        cells = [str(index + 1), *([str(event.level)] if nested else []), event.guest, str(event.step),
                 str(event.pc), instruction_text(event.instruction, event.operands), event.kind,
                 f"{event.real_mode} / {event.virtual_mode}", detail]
        tds = "".join(f"<td>{_e(c)}</td>" for c in cells)
        classes = f' class="{" ".join(css)}"' if css else ""
        rows.append(f'<tr data-row="{index}" data-state="{_e(key)}"{anchor}{classes}>{tds}</tr>')
    header = ["#", *(["level"] if nested else []), "guest", "step", "pc", "instruction", "event",
              "real / virtual mode", "detail"]
    said = (f"Showing {len(shown)} of {len(events)} events: the first {TRACE_HEAD}, and {TRACE_WINDOW} on "
            "either side of each divergence and violation." if len(shown) < len(events)
            else f"All {len(events)} events.")
    first = events[start]
    start_key = f"{first.guest}:{first.step}" if (first.guest, first.step) in compared else ""
    panel_html = "".join(f'<div class="step-state" data-state="{_e(key)}"'
                         f'{"" if key == start_key else " hidden"}>{content}</div>'
                         for key, content in panels.items())
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return (f'<h4>Trace, step by step</h4><p class="note">{_e(said)} The bare and virtual states are those '
            "compared after the step. The first divergence is selected when there is one; click a row, or "
            "use the buttons or the arrow keys.</p>"
            f'<div class="trace" tabindex="0" data-start="{shown.index(start)}">'
            '<div class="controls"><button type="button" class="prev">&larr; previous</button> '
            '<button type="button" class="next">next &rarr;</button> '
            '<span class="position"></span></div>'
            f'<div class="trace-rows scroll"><table class="events"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            f'<div class="panels">{panel_html}</div></div>')


def _detail(value: object) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {v}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _step_state(step: ComparedStep, previous: ComparedStep | None, machine: ir.Machine) -> str:
    """The bare and virtual state after one step, side by side: the differing rows marked, the rows
    the step changed (since the guest's previous comparison) first."""
    bare = MachineState(machine, list(step.bare), [])
    virtual = MachineState(machine, list(step.virtual), [])
    differing = {d.where for d in differences(bare, virtual, addresses=())}
    words = machine.memory.name
    differing |= {f"{words}[{a}]" for a, left, right in step.memory if left != right}
    columns = [_slot_rows(bare) + [(f"{words}[{a}]", str(left)) for a, left, _ in step.memory],
               _slot_rows(virtual) + [(f"{words}[{a}]", str(right)) for a, _, right in step.memory]]
    keep = {machine.pc, machine.mode_name} | {f"{words}[{a}]" for a, _, _ in step.memory}
    if previous is not None:
        before = (_slot_rows(MachineState(machine, list(previous.bare), [])),
                  _slot_rows(MachineState(machine, list(previous.virtual), [])))
        keep |= {name for old, new in zip(before, columns, strict=True)
                 for (name, was), (_, now) in zip(old, new, strict=False) if was != now}
    title = f"guest {step.guest}, step {step.step} (pc {step.pc}), {how_text(step.how)}"
    return f"<p><strong>{_e(title)}</strong></p>" + _state_table(("state", "bare machine", "virtual machine"),
                                                                  columns, differing, keep)


def _slot_rows(state: MachineState) -> list[tuple[str, str]]:
    modes = state.machine.modes
    mode = modes[state.mode] if state.mode < len(modes) else str(state.mode)
    return _state_rows({"registers": state.registers_json(), "mode": mode, "memory": {}}, state.machine)


_CSS = """
:root { --ink: #1b1f24; --faint: #5a6470; --line: #d0d7de; --ok: #1a7f37; --bad: #c62828;
  --unsure: #9a6700; --changed: #fff3bf; --differs: #ffd7d5; --selected: #dbeafe; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; padding: 0 1.2rem 3rem; max-width: 78rem; }
header { border-bottom: 2px solid var(--line); padding: 0.8rem 0; margin-bottom: 1rem; }
h1 { margin: 0.2rem 0; font-size: 1.6rem; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.6rem; } h4 { margin: 1.2rem 0 0.4rem; } h5 { margin: 0.8rem 0 0.3rem; font-size: 0.95rem; }
nav { display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 0.92em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.3rem 0 0.8rem; font-size: 0.88rem; }
th, td { border: 1px solid var(--line); padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; position: sticky; top: 0; }
td { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
table.expectations td:last-child, table.guests td:last-child, table.violations td { font-family: inherit; }
.badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.7rem; font-size: 0.8rem;
  font-weight: 600; color: #fff; font-family: system-ui, sans-serif; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.badge.unsure { background: var(--unsure); }
ul.verdicts { list-style: none; padding: 0; } ul.verdicts li { margin: 0.25rem 0; }
.mark-yes { font-weight: 700; } .mark-no { color: var(--faint); }
.mark-unsure { color: var(--unsure); font-weight: 700; }
.mark-some { font-style: italic; }
tr.offender td:first-child { border-left: 4px solid var(--bad); }
.note, .proof { color: var(--faint); }
.changed { background: var(--changed); } .differs, tr.differs td { background: var(--differs); }
span.changed, span.differs { padding: 0 0.3rem; }
details.instruction { border: 1px solid var(--line); border-radius: 6px; margin: 0.3rem 0;
  padding: 0.2rem 0.7rem; }
details.instruction summary { cursor: pointer; }
.divergence-box { border: 2px solid var(--bad); border-radius: 6px; padding: 0 0.9rem 0.4rem;
  margin: 0.8rem 0; background: #fffafa; }
.why { font-weight: 600; }
figure.diagram { margin: 0.6rem 0 1.2rem; }
figure.diagram figcaption { color: var(--faint); font-size: 0.9rem; }
figure.diagram svg { display: block; max-width: 100%; height: auto; }
details.rest summary { cursor: pointer; color: var(--faint); font-size: 0.88rem; }
details.diagrams { margin: 0.8rem 0; } details.diagrams summary { cursor: pointer; font-weight: 600; }
.trace { border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem; }
.trace:focus { outline: 2px solid #0969da; }
.controls { margin-bottom: 0.4rem; }
.controls button { font: inherit; padding: 0.15rem 0.7rem; cursor: pointer; }
.position { color: var(--faint); margin-left: 0.5rem; }
.trace-rows { max-height: 22rem; overflow: auto; border: 1px solid var(--line); }
.trace-rows table { margin: 0; width: 100%; }
table.events tbody tr[data-row] { cursor: pointer; }
table.events tr.divergence td { background: var(--differs); font-weight: 700; }
table.events tr.violation td { background: var(--changed); }
table.events tr.selected td { background: var(--selected); outline: 2px solid #0969da; outline-offset: -2px; }
table.events tr.divergence.selected td { background: #f9b4ae; }
table.events tr.gap td { text-align: center; color: var(--faint); font-family: inherit; font-style: italic; }
.panels { margin-top: 0.5rem; }
@media (max-width: 700px) { body { padding: 0 0.6rem 2rem; font-size: 14px; }
  figure.diagram svg { max-width: none; } }
"""

# Moves the selected row of each trace and shows the states compared at its step; no library.
_SCRIPT = """
(function () {
  "use strict";
  var traces = document.querySelectorAll(".trace");
  Array.prototype.forEach.call(traces, function (trace) {
    var rows = Array.prototype.slice.call(trace.querySelectorAll("tr[data-row]"));
    var panels = trace.querySelectorAll(".step-state");
    var box = trace.querySelector(".trace-rows");
    var position = trace.querySelector(".position");
    var current = -1;
    function select(index, scroll) {
      if (index < 0 || index >= rows.length) { return; }
      if (current >= 0) { rows[current].classList.remove("selected"); }
      rows.forEach(function (row) { row.classList.remove("selected"); });
      current = index;
      var row = rows[index];
      row.classList.add("selected");
      var key = row.getAttribute("data-state");
      Array.prototype.forEach.call(panels, function (panel) {
        panel.hidden = panel.getAttribute("data-state") !== key;
      });
      position.textContent = "event " + (Number(row.getAttribute("data-row")) + 1) + " (" + (index + 1) +
        " of " + rows.length + " shown)";
      var r = row.getBoundingClientRect(), b = box.getBoundingClientRect();
      if (scroll !== false && (r.top < b.top + r.height || r.bottom > b.bottom)) {
        box.scrollTop += r.top - b.top - b.height / 2;
      }
    }
    window.addEventListener("hashchange", function () {
      var index = rows.indexOf(document.getElementById(decodeURIComponent(location.hash.slice(1))));
      if (index >= 0) { select(index, false); }
    });
    trace.querySelector(".prev").addEventListener("click", function () { select(current - 1); });
    trace.querySelector(".next").addEventListener("click", function () { select(current + 1); });
    rows.forEach(function (row, index) {
      row.addEventListener("click", function () { select(index); });
    });
    trace.addEventListener("keydown", function (event) {
      var moves = {ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1};
      if (moves[event.key]) { select(current + moves[event.key]); event.preventDefault(); }
    });
    select(Number(trace.getAttribute("data-start")) || 0);
  });
  // A link to a witness opens it.
  function openTarget() {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
"""
