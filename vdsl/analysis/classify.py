"""Classify every instruction of an ISA and decide Theorems 1, 2 and 3 (Popek & Goldberg).

Classes are derived from the answers of `vdsl.analysis.questions`; nothing is written
down.  Theorem 1 (sensitive ⊆ privileged) is *sufficient only*: when its condition
fails the report says so and names the instructions, never "not virtualizable".
"""

from __future__ import annotations

import functools

import attrs
import z3

from vdsl.analysis.questions import SOLVER_TIMEOUT_MS, Answer, GuestContext, Questions
from vdsl.analysis.states import fresh_state
from vdsl.errors import RunError, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.layout import item
from vdsl.ir.vocabulary import THEOREMS


@attrs.frozen
class InstructionReport:
    """The answers about one instruction, and the classes they give."""

    name: str
    answers: dict[str, Answer]

    def holds(self, question: str) -> bool:
        return self.answers[question].holds

    @property
    def behaviour_sensitive(self) -> bool:
        return any(self.holds(q) for q in ("mode-sensitive", "location-sensitive", "control-state-sensitive"))

    @property
    def sensitive(self) -> bool:
        return self.holds("control-sensitive") or self.behaviour_sensitive

    @property
    def classes(self) -> tuple[str, ...]:
        found = [c for c in ("privileged", "control-sensitive", "mode-sensitive", "location-sensitive")
                 if self.holds(c)]
        if self.behaviour_sensitive:
            found.append("behaviour-sensitive")
        found.extend(c for c in ("user-sensitive", "timing-sensitive") if self.holds(c))
        if not self.sensitive:
            found.append("innocuous")
        return tuple(found)


@attrs.frozen
class Verdict:
    """Whether a theorem's condition holds, and the instructions that break it."""

    theorem: str
    holds: bool
    offending: tuple[InstructionReport, ...]


@attrs.frozen
class IsaReport:
    """The classification of an ISA in a guest context, the theorems, the expectations."""

    isa: ir.Isa
    context: GuestContext
    instructions: tuple[InstructionReport, ...]
    verdicts: dict[str, Verdict]
    expectations: tuple[ir.ExpectationResult, ...]

    @property
    def guest_mode(self) -> str:
        return self.isa.machine.modes[self.context.mode]

    def instruction(self, name: str) -> InstructionReport | None:
        return next((i for i in self.instructions if i.name == name), None)


def guest_context(isa: ir.Isa, mode: str | None = None) -> GuestContext:
    """The isa's guest context, with its mode replaced by `mode` when given."""
    machine = isa.machine
    chosen = mode or isa.guest_mode
    if chosen not in machine.modes:
        hint = did_you_mean(chosen, machine.modes) or f"the modes of '{machine.name}' are " \
            + ", ".join(machine.modes)
        raise RunError(f"there is no mode '{chosen}' in machine '{machine.name}'; {hint}")
    pins = tuple((item(machine, p.target), p.value) for p in isa.context.pins)
    context = GuestContext(machine.modes.index(chosen), pins)
    solver = z3.Solver()
    solver.add(context.constraints(fresh_state(machine, "pins")))
    if solver.check() == z3.unsat:
        described = ", ".join(f"{item.name} = {value}" for item, value in pins)
        raise RunError(f"the guest context of isa {isa.name} is impossible: no state has {described}; "
                       "pin each piece of state once, to one value")
    return context


def classify_instruction(questions: Questions, instruction: ir.Instruction) -> InstructionReport:
    return _classify(questions.machine, instruction, questions.context, questions.timeout_ms)


@functools.lru_cache(maxsize=4096)
def _classify(machine: ir.Machine, instruction: ir.Instruction, context: GuestContext,
              timeout_ms: int) -> InstructionReport:
    """Variants of an isa share most instructions: each is decided once per context."""
    isa = ir.Isa("", machine, (instruction,), (), ir.GuestContext(machine.modes[context.mode]))
    return InstructionReport(instruction.name, Questions(isa, context, timeout_ms).ask_all(instruction))


def decide_theorems(reports: tuple[InstructionReport, ...]) -> dict[str, Verdict]:
    t1 = tuple(r for r in reports if r.sensitive and not r.holds("privileged"))
    t3 = tuple(r for r in reports if r.holds("user-sensitive") and not r.holds("privileged"))
    timing = tuple(r for r in reports if r.holds("timing-sensitive") and not r.holds("privileged")
                   and r not in t1)
    return {
        "T1": Verdict("T1", not t1, t1),
        "T2": Verdict("T2", not t1 and not timing, t1 + timing),
        "T3": Verdict("T3", not t3, t3),
    }


def classify_isa(isa: ir.Isa, guest_mode: str | None = None,
                 timeout_ms: int = SOLVER_TIMEOUT_MS) -> IsaReport:
    """Classify every instruction of `isa` (in its guest context, or with `guest_mode`)."""
    context = guest_context(isa, guest_mode)
    questions = Questions(isa, context, timeout_ms)
    reports = tuple(classify_instruction(questions, inst) for inst in isa.instructions)
    verdicts = decide_theorems(reports)
    partial = IsaReport(isa, context, reports, verdicts, ())
    return attrs.evolve(partial, expectations=tuple(check_expectation(partial, e) for e in isa.expects))


def check_expectation(report: IsaReport, expectation: ir.Expectation) -> ir.ExpectationResult:
    """Whether an `expect` line of the isa holds (its form was checked by the resolver)."""
    words = list(expectation.words)
    if words[0] in THEOREMS:
        verdict = report.verdicts[words[0]]
        wanted = words[1] == "holds"
        offending = sorted(r.name for r in verdict.offending)
        if len(words) > 2:  # `T1 fails with A B C`: exactly these break it
            named = sorted(words[3:])
            holds = verdict.holds == wanted and offending == named
            missing = sorted(set(named) - set(offending))
            extra = sorted(set(offending) - set(named))
            detail = f"{words[0]} {'holds' if verdict.holds else 'fails'}" + (
                f" ({', '.join(offending)})" if offending else "") + (
                f"; not breaking it: {', '.join(missing)}" if missing else "") + (
                f"; also breaking it: {', '.join(extra)}" if extra else "")
            return ir.ExpectationResult(expectation, holds, detail)
        detail = f"{words[0]} {'holds' if verdict.holds else 'fails'}" + (
            f" ({', '.join(offending)})" if offending else "")
        return ir.ExpectationResult(expectation, verdict.holds == wanted, detail)
    instruction = report.instruction(words[0])
    assert instruction is not None
    negated = words[1] == "not"
    wanted_class = words[-1]
    has = wanted_class in instruction.classes or (wanted_class == "sensitive" and instruction.sensitive)
    detail = f"{instruction.name} is " + ", ".join(instruction.classes)
    return ir.ExpectationResult(expectation, has != negated, detail)
