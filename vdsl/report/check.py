"""`vdsl check` and `vdsl explain` outputs: text and JSON from the classification reports.

Back-ends are pure: each takes reports and returns a string or a JSON-ready dict; only
`vdsl.cli` prints.  The JSON shape is documented in `docs/reference/json.md`.
"""

from __future__ import annotations

from typing import Any

from vdsl.analysis.classify import InstructionReport, IsaReport
from vdsl.analysis.questions import SOLVER_RLIMIT, Answer, Witness
from vdsl.analysis.states import ConcreteRun
from vdsl.ir.layout import register_items
from vdsl.ir.vocabulary import THEOREM_CONDITIONS, THEOREMS

QUESTION_TITLES = {
    "privileged": "privileged",
    "control-sensitive": "control-sensitive",
    "mode-sensitive": "mode-sensitive",
    "location-sensitive": "location-sensitive",
    "control-state-sensitive": "sensitive to other control state",
    "user-sensitive": "user-sensitive (Theorem 3)",
    "timing-sensitive": "timing-sensitive",
}
COLUMNS = (("privileged", "privileged"), ("control", "control-sensitive"), ("mode", "mode-sensitive"),
           ("location", "location-sensitive"), ("state", "control-state-sensitive"),
           ("user", "user-sensitive"), ("timing", "timing-sensitive"))


def context_text(report: IsaReport) -> str:
    pins = ", ".join(f"{item.name} = {value}" for item, value in report.context.pins)
    source = report.isa.context.source
    return f"guests run in {report.guest_mode}" + (f", pinned {pins}" if pins else "") + (
        f" (from {source})" if source.startswith("hypervisor") else "")


# ---------------------------------------------------------------- check, text


def check_text(reports: list[IsaReport]) -> str:
    return "\n\n".join(_isa_text(r) for r in reports) + "\n"


def _isa_text(report: IsaReport) -> str:
    isa = report.isa
    lines = [f"isa {isa.name} (machine {isa.machine.name}), {context_text(report)}"]
    width = max([len("instruction")] + [len(i.name) for i in report.instructions])
    header = "  " + "instruction".ljust(width) + "  " + "  ".join(title for title, _ in COLUMNS)
    lines.append(header)
    marks = {True: "yes", False: "-", None: "?"}
    for inst in report.instructions:
        row = "  ".join(marks[inst.known(q)].ljust(len(title)) for title, q in COLUMNS)
        lines.append(f"  {inst.name.ljust(width)}  {row}  {'innocuous' if inst.sensitivity is False else ''}"
                     .rstrip())
    lines.append("")
    for theorem in THEOREMS:
        lines.append("  " + verdict_text(report, theorem))
    undecided = [(i.name, q, i.answers[q].undecided) for i in report.instructions for q in i.undecided]
    if undecided:
        plural = "s" if len(undecided) != 1 else ""
        lines.append(f"  undecided ('?' in the table): {len(undecided)} question{plural}")
        lines.extend(f"    {name} {q}: {why}" for name, q, why in undecided)
        lines.append(f"  hint: give z3 more room with --rlimit N (default {SOLVER_RLIMIT}), or simplify "
                     "the instruction")
    for result in report.expectations:
        status = "ok" if result.holds else "FAILED" if result.decided else "UNDECIDED"
        lines.append(f"  expect {' '.join(result.expectation.words)}: {status} ({result.detail})")
    return "\n".join(lines)


def verdict_text(report: IsaReport, theorem: str) -> str:
    """One theorem's verdict in DESIGN's words: a failing condition is never 'not virtualizable'."""
    verdict = report.verdicts[theorem]
    if verdict.holds:
        return f"{theorem}'s condition holds: {THEOREM_CONDITIONS[theorem]}"
    maybe = ", ".join(r.name for r in verdict.undecided)
    if not verdict.decided:
        return f"{theorem}'s condition is undecided: z3 could not decide whether {maybe} break it"
    offenders = ", ".join(f"{r.name} ({_offence(r, theorem)})" for r in verdict.offending)
    kind = {"T1": "sensitive", "T2": "sensitive or timing-dependent", "T3": "user-sensitive"}[theorem]
    return f"{theorem}'s condition fails: {kind} but not privileged: {offenders}" + (
        f" (undecided for {maybe})" if maybe else "")


def _offence(report: InstructionReport, theorem: str) -> str:
    """Why an instruction breaks a theorem, in its most specific classes."""
    if theorem == "T3":
        return "user-sensitive"
    found = [c for c in ("control-sensitive", "mode-sensitive", "location-sensitive") if report.holds(c)]
    if report.holds("control-state-sensitive"):
        found.append("reads control state")
    if not found and report.holds("timing-sensitive"):
        found.append("reads timing state")
    return ", ".join(found)


# ---------------------------------------------------------------- check, JSON


def check_json(reports: list[IsaReport], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """`ok` is what the exit status says: every expectation and every required theorem holds."""
    return {
        "ok": all(r.holds for report in reports for r in report.expectations)
        and all(report.verdicts[t].holds for report in reports for t in required)
        and not any(i.undecided for report in reports for i in report.instructions),
        "diagnostics": [],
        "isas": [_isa_json(r) for r in reports],
    }


def _isa_json(report: IsaReport) -> dict[str, Any]:
    return {
        "name": report.isa.name,
        "machine": report.isa.machine.name,
        "guest_mode": report.guest_mode,
        "pins": {item.name: value for item, value in report.context.pins},
        "context_from": report.isa.context.source,
        "instructions": [instruction_json(i) for i in report.instructions],
        "theorems": {
            t: {"holds": v.holds, "decided": v.decided, "condition": THEOREM_CONDITIONS[t],
                "offending": [{"name": r.name, "classes": list(r.classes)} for r in v.offending],
                "undecided": [r.name for r in v.undecided]}
            for t, v in report.verdicts.items()
        },
        "expectations": [{"expect": " ".join(e.expectation.words), "holds": e.holds, "decided": e.decided,
                          "detail": e.detail}
                         for e in report.expectations],
    }


def instruction_json(report: InstructionReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "classes": list(report.classes),
        "undecided": list(report.undecided),
        "evidence": {q: answer_json(a) for q, a in report.answers.items()},
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    if answer.undecided is not None:
        return {"holds": None, "undecided": answer.undecided}
    if answer.witness is None:
        return {"holds": answer.holds, "proved": answer.proof}
    return {"holds": answer.holds, "witness": witness_json(answer.witness)}


def witness_json(witness: Witness) -> dict[str, Any]:
    addresses = _interesting_addresses(witness)
    return {
        "operands": dict(witness.operands),
        "shift": witness.shift,
        "runs": [
            {
                "label": run.label,
                "before": _state_json(run, run.before, addresses),
                "after": _state_json(run, run.after, addresses),
                "trapped": run.cause,
                "halted": run.halted,
            }
            for run in witness.runs
        ],
        "shows": list(witness.shows),
        "reads": list(witness.reads),
    }


def _interesting_addresses(witness: Witness) -> list[int]:
    """Memory words worth showing: read or written by a run, or different between the runs (not
    for a relocation witness, whose second memory is the first moved: every word would differ)."""
    runs, shift = witness.runs, witness.shift
    found: set[int] = set(witness.reads)
    for run in runs:
        found.update(a for a, (x, y) in enumerate(zip(run.before.memory, run.after.memory, strict=True))
                     if x != y)
    if len(runs) == 2 and shift is None:
        for attribute in ("before", "after"):
            a, b = (getattr(r, attribute).memory for r in runs)
            found.update(k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return sorted(found)[:64]


def _state_json(run: ConcreteRun, state: Any, addresses: list[int]) -> dict[str, Any]:
    machine = state.machine
    return {
        "mode": machine.modes[state.mode] if state.mode < len(machine.modes) else state.mode,
        "registers": state.registers_json(),
        "memory": {str(a): state.memory[a] for a in addresses},
    }


# ---------------------------------------------------------------- explain


def explain_text(report: IsaReport, instruction: InstructionReport) -> str:
    lines = [
        f"{instruction.name} in isa {report.isa.name} ({context_text(report)})",
        f"classes: {', '.join(instruction.classes) or 'none decided'}"
        + (f" (undecided: {', '.join(instruction.undecided)})" if instruction.undecided else ""),
    ]
    for question, answer in instruction.answers.items():
        lines.append("")
        title = QUESTION_TITLES[question]
        if answer.undecided is not None:
            lines.append(f"{title}: undecided")
            lines.append(f"  {answer.undecided}")
            continue
        lines.append(f"{title}: {'yes' if answer.holds else 'no'}")
        if answer.witness is None:
            lines.append(f"  proved: {answer.proof}")
            continue
        lines.extend("  " + line for line in _witness_text(answer.witness))
    return "\n".join(lines) + "\n"


def _witness_text(witness: Witness) -> list[str]:
    lines = []
    if witness.operands:
        lines.append("operands: " + ", ".join(f"{name} = {value}" for name, value in witness.operands))
    lines.extend(f"shows: {line}" for line in witness.shows)
    lines.extend(_side_by_side(witness))
    return lines


def _side_by_side(witness: Witness) -> list[str]:
    """A table: one row per piece of state, before and after for each run."""
    runs = witness.runs
    machine = runs[0].before.machine
    moments = ("before", "after")
    rows: list[list[str]] = [["state"] + [f"{r.label} {moment}" for r in runs for moment in moments]]
    items = list(register_items(machine))
    for item in items:
        values = [getattr(r, moment).get(item) for r in runs for moment in ("before", "after")]
        # the relocation register is shown always: it places every memory word of the table
        if len(set(values)) > 1 or item.reg == machine.relocation:
            rows.append([item.name] + [str(v) for v in values])
    modes = [getattr(r, moment).mode for r in runs for moment in ("before", "after")]
    rows.append([machine.mode_name] + [machine.modes[m] if m < len(machine.modes) else str(m) for m in modes])
    for address in _interesting_addresses(witness):
        rows.append([f"{machine.memory.name}[{address}]"]
                    + [str(getattr(r, moment).memory[address]) for r in runs for moment in moments])
    rows.append(["trap"] + [x for r in runs for x in ("", r.cause or "no")])
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def explain_json(report: IsaReport, instruction: InstructionReport) -> dict[str, Any]:
    return {"isa": report.isa.name, "guest_mode": report.guest_mode, **instruction_json(instruction)}
