"""`vdsl check` and `vdsl explain` outputs: text and JSON from the classification reports.

Back-ends are pure: each takes reports and returns a string or a JSON-ready dict; only
`vdsl.cli` prints.  The JSON shape is documented in `docs/reference/json.md`.
"""

from __future__ import annotations

from typing import Any

from vdsl.analysis.classify import InstructionReport, IsaReport, PolicyReport, any_known
from vdsl.analysis.questions import Answer, Offence, Witness
from vdsl.analysis.states import ConcreteRun
from vdsl.ir.layout import register_items, trap_words
from vdsl.ir.vocabulary import SOLVER_RLIMIT, THEOREM_CONDITIONS, THEOREMS

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
    for inst in report.instructions:
        marks = zip(table_marks(inst), COLUMNS, strict=True)
        row = "  ".join(mark.ljust(len(title)) for mark, (title, _) in marks)
        lines.append(f"  {inst.name.ljust(width)}  {row}  {'innocuous' if inst.sensitivity is False else ''}"
                     .rstrip())
    some = [i.name for i in report.instructions if i.privileged_where_sensitive]
    if some:
        lines.append(f"  some: privileged for every operand value that makes it sensitive, not for all "
                     f"({', '.join(some)}); not an offender")
    lines.append("")
    premise = premise_text(report)
    if premise:
        lines.append("  " + premise)
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


def table_marks(inst: InstructionReport) -> list[str]:
    """An instruction's cells in the classification table, one per column: yes, - (no), ? (undecided),
    or for privileged, some (privileged for every operand value that makes it sensitive)."""
    marks = {True: "yes", False: "-", None: "?"}
    return ["some" if q == "privileged" and inst.privileged_where_sensitive else marks[inst.known(q)]
            for _, q in COLUMNS]


PREMISE_CONDITION = "no instruction run by a guest reaches the trap areas"


def premise_text(report: IsaReport) -> str:
    """The theorems' premise, when it does not hold: which instructions a guest can rewrite the
    trap areas with (nothing when it holds: the theorem lines say so)."""
    premise = report.premise
    if premise.holds:
        return ""
    machine = report.isa.machine
    words = sorted(trap_words(machine))
    area = f"{machine.memory.name}[{words[0]}..{words[-1]}]" if words else "none"
    why = "the machine does not relocate" if machine.relocation is None \
        else "relocation does not keep them out"
    if not premise.decided:
        return (f"the theorems' premise is undecided: z3 could not decide whether "
                f"{', '.join(r.name for r in premise.undecided)} reach the trap areas ({area})")
    return (f"the theorems' premise fails: run by a guest, {', '.join(r.name for r in premise.offending)} "
            f"can rewrite the trap areas ({area}; {why})")


def verdict_text(report: IsaReport, theorem: str) -> str:
    """One theorem's verdict in DESIGN's words: a failing condition is never 'not virtualizable'."""
    verdict = report.verdicts[theorem]
    if verdict.holds:
        return f"{theorem}'s condition holds: {THEOREM_CONDITIONS[theorem]}"
    if verdict.premise_fails:
        return f"{theorem}'s premise fails, though its condition holds: {THEOREM_CONDITIONS[theorem]}"
    if verdict.premise is None and not verdict.offending and not verdict.undecided:
        return f"{theorem}'s premise is undecided; its condition holds: {THEOREM_CONDITIONS[theorem]}"
    maybe = ", ".join(r.name for r in verdict.undecided)
    if not verdict.decided:
        return f"{theorem}'s condition is undecided: z3 could not decide whether {maybe} break it"
    offenders = ", ".join(f"{r.name} ({_offence(r, theorem)})" for r in verdict.offending)
    kind = {"T1": "sensitive", "T2": "sensitive or timing-dependent", "T3": "user-sensitive"}[theorem]
    return f"{theorem}'s condition fails: {kind} but not privileged: {offenders}" + (
        f" (undecided for {maybe})" if maybe else "")


OFFENCE_WORDS = {"control-state-sensitive": "reads control state", "timing-sensitive": "reads timing state"}


def _offence(report: InstructionReport, theorem: str) -> str:
    """Why an instruction breaks a theorem: the sensitivities that, for some operands, come
    without privilege (timing only when nothing else does)."""
    found = [o.sensitivity for o in report.offending(theorem)]
    if "timing-sensitive" in found and len(found) > 1:
        found.remove("timing-sensitive")
    return ", ".join(OFFENCE_WORDS.get(s, s) for s in found)


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
        "premise": {"holds": report.premise.holds, "decided": report.premise.decided,
                    "condition": PREMISE_CONDITION,
                    "offending": [r.name for r in report.premise.offending],
                    "undecided": [r.name for r in report.premise.undecided]},
        "theorems": {
            t: {"holds": v.holds, "decided": v.decided, "premise": v.premise,
                "condition": THEOREM_CONDITIONS[t],
                "offending": [{"name": r.name, "classes": list(r.classes),
                               "offences": [o.sensitivity for o in r.offending(t)]} for r in v.offending],
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
        "offends": {t: report.offends(t) for t in THEOREMS},
        "privileged_where_sensitive": report.privileged_where_sensitive,
        "evidence": {q: answer_json(a) for q, a in report.answers.items()},
        "premise": answer_json(report.premise) if report.premise is not None else None,
    }


def precise_offences(report: InstructionReport) -> list[Offence]:
    """The offences that needed questions of their own: an instruction with operands, sensitive,
    and not privileged for every operand value (otherwise its answers settle them)."""
    if not report.operands or report.known("privileged") is not False:
        return []
    return [o for s, o in report.offences.items() if report.known(s) is not False]


def offence_json(offence: Offence) -> dict[str, Any]:
    if offence.undecided is not None:
        return {"sensitivity": offence.sensitivity, "holds": None, "undecided": offence.undecided}
    if not offence.holds:
        return {"sensitivity": offence.sensitivity, "holds": False, "proved": offence.proof}
    assert offence.sensitive is not None and offence.unprivileged is not None
    assert offence.sensitive.witness is not None and offence.unprivileged.witness is not None
    return {"sensitivity": offence.sensitivity, "holds": True, "operands": dict(offence.operands),
            "sensitive": witness_json(offence.sensitive.witness),
            "unprivileged": witness_json(offence.unprivileged.witness)}


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
        lines.extend(_answer_text(QUESTION_TITLES[question], answer))
    if instruction.premise is not None:
        lines.append("")
        lines.extend(_answer_text("reaches the trap areas from a guest mode (the theorems' premise)",
                                  instruction.premise))
    offences = precise_offences(instruction)
    if offences:
        lines.append("")
        lines.append("sensitive and, for the same operands, not privileged (an offence): "
                     + {True: "yes", False: "no", None: "undecided"}[any_known(o.known for o in offences)])
        for offence in offences:
            lines.extend("  " + line for line in _offence_text(offence))
    return "\n".join(lines) + "\n"


def _answer_text(title: str, answer: Answer) -> list[str]:
    if answer.undecided is not None:
        return [f"{title}: undecided", f"  {answer.undecided}"]
    if answer.witness is None:
        return [f"{title}: {'yes' if answer.holds else 'no'}", f"  proved: {answer.proof}"]
    word = "yes" if answer.holds else "no"
    return [f"{title}: {word}", *("  " + line for line in _witness_text(answer.witness))]


def _offence_text(offence: Offence) -> list[str]:
    title = QUESTION_TITLES[offence.sensitivity]
    if offence.undecided is not None:
        return [f"{title}: undecided", f"  {offence.undecided}"]
    if not offence.holds:
        return [f"{title}: no", f"  proved: {offence.proof}"]
    assert offence.sensitive is not None and offence.unprivileged is not None
    assert offence.sensitive.witness is not None and offence.unprivileged.witness is not None
    operands = ", ".join(f"{name} = {value}" for name, value in offence.operands)
    return [f"{title}: yes, for {operands}",
            *("  " + line for line in _witness_text(offence.sensitive.witness, operands=False)),
            f"  and not privileged for {operands}:",
            *("  " + line for line in _witness_text(offence.unprivileged.witness, operands=False))]


def _witness_text(witness: Witness, operands: bool = True) -> list[str]:
    lines = []
    if witness.operands and operands:
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
    return {"isa": report.isa.name, "guest_mode": report.guest_mode, **instruction_json(instruction),
            "offences": [offence_json(o) for o in precise_offences(instruction)]}


# ---------------------------------------------------------------- the policy check


def policy_text(report: PolicyReport) -> str:
    """`policy NAME (...) on isa ISA: holds|fails ...`, the exits, and each failing instruction
    with what its two runs did."""
    policy = report.hypervisor
    where = "guests in their own modes" if policy.technique == "hardware_assisted" else \
        f"guests run in {policy.context.mode}"
    head = f"policy {policy.name} ({policy.technique}, {where}) on isa {report.isa.name}: "
    if report.holds:
        head += "holds: every instruction that runs directly gives the virtual machine's result"
    elif report.failing:
        count = len(report.failing)
        one = count == 1
        head += (f"fails: {count} instruction{'' if one else 's'} run{'s' if one else ''} directly and "
                 f"give{'s' if one else ''} another result than the virtual machine's: "
                 + ", ".join(report.failing))
    else:
        head += "undecided for " + ", ".join(report.undecided)
    lines = [head]
    if report.exits:
        lines.append("  exits (the monitor runs them): " + ", ".join(report.exits))
    for name, answer in report.results:
        if answer is None or answer.known is not False or answer.witness is None:
            continue
        witness = answer.witness
        operands = ", ".join(f"{n} = {v}" for n, v in witness.operands)
        lines.append(f"  {name}" + (f" ({operands})" if operands else "") + ":")
        lines.extend(f"    {shown}" for shown in witness.shows)
    return "\n".join(lines) + "\n"


def policy_json(report: PolicyReport) -> dict[str, Any]:
    failing = []
    for name, answer in report.results:
        if answer is not None and answer.known is False and answer.witness is not None:
            failing.append({"instruction": name, "operands": dict(answer.witness.operands),
                            "offset": answer.witness.shift, "shows": list(answer.witness.shows)})
    return {"hypervisor": report.hypervisor.name, "technique": report.hypervisor.technique,
            "isa": report.isa.name, "holds": report.holds, "exits": list(report.exits),
            "failing": failing, "undecided": list(report.undecided)}
