"""What hovering over a name shows: the declaration, and what vdsl knows of it.

An instruction shows its classification in `vdsl check`'s and `vdsl explain`'s words, an isa its
theorems' verdicts (both from the `IsaReport`s the background check made); a register its kind,
width and fields, a mode its rank, a label its address (from the resolved spec).  Until those
are known (the file has errors, or the classification is still running) the declaration as
written is shown, with the reason for an instruction.
"""

from __future__ import annotations

from collections.abc import Mapping

from vdsl.analysis.classify import InstructionReport, IsaReport
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import THEOREM_CONDITIONS, THEOREMS
from vdsl.lsp.navigation import Scope, Target, target_at
from vdsl.lsp.outline import Symbol
from vdsl.report.check import _offence, context_text, premise_text, verdict_text

CLASSIFYING = "classifying… (the classification shows here when the background check is done)"
KIND_WORDS = {"general": "ordinary", "control": "control", "timing": "timing"}


def hover_text(scope: Scope, line: int, column: int, spec: ir.Spec | None,
               reports: Mapping[str, IsaReport] | None, waiting: str = CLASSIFYING) -> str | None:
    """Markdown for the name at a position; `spec` is the file's resolved spec (None: it has
    errors), `reports` its classification by isa name (None: not there yet, for the reason
    `waiting` gives)."""
    target = target_at(scope, line, column)
    if target is None:
        return None
    symbol = target.symbol
    facts = _facts(scope, target, spec, reports, waiting)
    return "\n\n".join([f"```vspec\n{symbol.detail or symbol.name}\n```", *facts])


def _facts(scope: Scope, target: Target, spec: ir.Spec | None,
           reports: Mapping[str, IsaReport] | None, waiting: str) -> list[str]:
    symbol, top = target.symbol, (target.path[0] if target.path else None)
    if symbol.kind == "isa" and reports is not None and symbol.name in reports:
        return isa_facts(reports[symbol.name])
    if symbol.kind == "instruction":
        isa = scope.isa_of(top) if top is not None and top is not symbol else None
        return _classification(isa, symbol.name, reports, waiting) if isa is not None else []
    machine = scope.machine_of(top) if top is not None and top is not symbol else None
    resolved = spec.machine(machine.name) if spec is not None and machine is not None else None
    if symbol.kind in ("register", "bank", "field") and resolved is not None:
        owner = target.reference.owner if target.reference is not None else \
            next((p.name for p in target.path if p.kind == "register"), None)
        return register_facts(resolved, symbol, owner)
    if symbol.kind == "modes" and resolved is not None:
        return [f"the mode register of machine {resolved.name}: " + " > ".join(resolved.modes)
                + " (most privileged first)"]
    if symbol.kind == "label" and spec is not None and top is not None:
        program = spec.program(top.name)
        address = dict(program.labels).get(symbol.name) if program is not None else None
        return [f"address {address} in program {top.name}"] if address is not None else []
    return []


def _classification(isa: Symbol, instruction: str, reports: Mapping[str, IsaReport] | None,
                    waiting: str) -> list[str]:
    """An instruction's facts in the report of the isa it is used in, or why there are none."""
    if reports is None:
        return [f"isa {isa.name}: {waiting}"]
    report = reports.get(isa.name)
    if report is None:
        return [f"isa {isa.name} is classified in the file that declares it"]
    found = report.instruction(instruction)
    return instruction_facts(report, found) if found is not None else [f"isa {isa.name} has no {instruction}"]


def isa_facts(report: IsaReport) -> list[str]:
    """An isa's guest context, its theorems' premise when it fails, and their verdicts."""
    premise = premise_text(report)
    return [context_text(report), *([premise] if premise else []),
            *(verdict_text(report, theorem) for theorem in THEOREMS)]


def instruction_facts(report: IsaReport, instruction: InstructionReport) -> list[str]:
    """An instruction's classes and what they mean for each theorem, as `vdsl check` says it."""
    classes = ", ".join(instruction.classes) or "in no class decided"
    facts = [f"**{classes}**" + (f" (undecided: {', '.join(instruction.undecided)})"
                                 if instruction.undecided else ""),
             f"isa {report.isa.name}, {context_text(report)}"]
    for theorem in THEOREMS:
        offends = instruction.offends(theorem)
        if offends is True:
            facts.append(f"{theorem} offender: {_offence(instruction, theorem)}, not privileged "
                         f"({theorem}'s condition: {THEOREM_CONDITIONS[theorem]})")
        elif offends is None:
            facts.append(f"{theorem}: undecided whether it breaks the condition")
    if len(facts) == 2:
        facts.append("breaks none of T1, T2, T3's conditions")
    return facts


def register_facts(machine: ir.Machine, symbol: Symbol, owner: str | None) -> list[str]:
    """A register's kind, width and fields (a field's place in its register); an array's or a
    banked register's copies."""
    if symbol.kind == "field":
        register = machine.register(owner or "")
        field = next((f for f in register.fields if f.name == symbol.name), None) if register else None
        if register is None or field is None:
            return []
        kind = f"{field.kind} field" if field.kind != "general" else "field"
        high = field.lo + field.width - 1
        return [f"{kind} of {register.name}: bits {high}..{field.lo} ({field.width} bits)"]
    name = symbol.name
    array, bank, register = machine.array(name), machine.bank(name), machine.register(name)
    if array is not None:
        return [f"register array: {len(array.elements)} registers of {array.width} bits, "
                f"{array.elements[0]} .. {array.elements[-1]}"]
    if bank is not None:
        copies = "; ".join(f"{copy} in {', '.join(machine.modes[m] for m in modes)}"
                           for copy, modes in bank.copies)
        return [f"banked {KIND_WORDS.get(bank.kind, bank.kind)} register, {bank.width} bits: {copies}"]
    if register is None:
        return []
    kind = "program counter" if register.is_pc else f"{KIND_WORDS.get(register.kind, register.kind)} register"
    facts = [f"{kind}, {register.width} bits" + (", hard-wired to 0" if register.is_zero else "")]
    if register.fields:
        facts.append("fields: " + ", ".join(
            f"{f.name} [{f.lo + f.width - 1}:{f.lo}]" + (f" ({f.kind})" if f.kind != "general" else "")
            for f in register.fields))
    return facts
