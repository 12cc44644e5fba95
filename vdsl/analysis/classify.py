"""Classify every instruction of an ISA and decide Theorems 1, 2 and 3 (Popek & Goldberg).

Classes are derived from the answers of `vdsl.analysis.questions`; nothing is written
down.  Theorem 1 (sensitive ⊆ privileged) is *sufficient only*: when its condition
fails the report says so and names the instructions, never "not virtualizable".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs
import z3

from vdsl.analysis.jobs import Decider
from vdsl.analysis.questions import (
    PREMISE,
    T1_SENSITIVITIES,
    Answer,
    GuestContext,
    Offence,
    PolicyMap,
    Questions,
    runs_directly,
    workspace,
)
from vdsl.analysis.states import fresh_state
from vdsl.errors import Diagnostic, RunError, SpecError, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.dump import dump
from vdsl.ir.layout import control_items, item, unshadowed
from vdsl.ir.vocabulary import POLICY, SOLVER_RLIMIT, THEOREMS, Step
from vdsl.resolve.policies import no_policy_check


def any_known(values: Iterable[bool | None]) -> bool | None:
    """Kleene's or: True if one is, False if all are not, None (undecided) otherwise."""
    found: bool | None = False
    for value in values:
        if value:
            return True
        if value is None:
            found = None
    return found


def _and_not(a: bool | None, b: bool | None) -> bool | None:
    """Kleene's `a and not b`."""
    if a is False or b is True:
        return False
    if a is None or b is None:
        return None
    return True


@attrs.frozen
class InstructionReport:
    """The answers about one instruction, and the classes they give."""

    name: str
    answers: dict[str, Answer]
    offences: dict[str, Offence] = attrs.field(factory=dict)  # by sensitivity (Questions.offences)
    operands: tuple[str, ...] = ()  # the instruction's operand names
    premise: Answer | None = None  # whether, run by a guest, it reaches the trap areas

    def holds(self, question: str) -> bool:
        """The question was decided, and holds."""
        return self.answers[question].holds

    def known(self, question: str) -> bool | None:
        """True, False, or None when z3 could not decide the question."""
        return self.answers[question].known

    @property
    def undecided(self) -> tuple[str, ...]:
        """The questions z3 could not decide."""
        return tuple(q for q, a in self.answers.items() if a.undecided is not None)

    @property
    def behaviour_sensitivity(self) -> bool | None:
        questions = ("mode-sensitive", "location-sensitive", "control-state-sensitive")
        return any_known(self.known(q) for q in questions)

    @property
    def sensitivity(self) -> bool | None:
        """Whether it is sensitive: True, False, or None when that depends on an undecided question."""
        return any_known((self.known("control-sensitive"), self.behaviour_sensitivity))

    @property
    def behaviour_sensitive(self) -> bool:
        return self.behaviour_sensitivity is True

    @property
    def sensitive(self) -> bool:
        return self.sensitivity is True

    def offence(self, sensitivity: str) -> bool | None:
        """Whether some operand values make it `sensitivity` and, for those values, not privileged."""
        if sensitivity in self.offences:
            return self.offences[sensitivity].known
        return _and_not(self.known(sensitivity), self.known("privileged"))

    def offends(self, theorem: str) -> bool | None:
        """Whether it breaks the theorem's condition (None: that depends on an undecided question)."""
        if theorem == "T3":
            return self.offence("user-sensitive")
        t1 = any_known(self.offence(s) for s in T1_SENSITIVITIES)
        if theorem == "T1":
            return t1
        return any_known((t1, self.offence("timing-sensitive")))

    def offending(self, theorem: str) -> tuple[Offence, ...]:
        """The offences that break the theorem's condition (T2: T1's and timing)."""
        kinds = {"T1": T1_SENSITIVITIES, "T2": (*T1_SENSITIVITIES, "timing-sensitive"),
                 "T3": ("user-sensitive",)}[theorem]
        return tuple(self.offences[k] for k in kinds if k in self.offences and self.offences[k].holds)

    @property
    def privileged_where_sensitive(self) -> bool:
        """Not privileged for every operand, but sensitive only for operands where it is (proved)."""
        return (self.known("privileged") is False and self.sensitivity is True
                and self.offends("T1") is False)

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes decided to hold ("innocuous" when decided not sensitive)."""
        found = [c for c in ("privileged", "control-sensitive", "mode-sensitive", "location-sensitive")
                 if self.holds(c)]
        if self.behaviour_sensitive:
            found.append("behaviour-sensitive")
        found.extend(c for c in ("user-sensitive", "timing-sensitive") if self.holds(c))
        if self.sensitivity is False:
            found.append("innocuous")
        return tuple(found)


@attrs.frozen
class Verdict:
    """Whether a theorem's condition holds, the instructions that break it, and those that may
    (an undecided question stands between them and a verdict)."""

    theorem: str  # T1, T2, T3, or "premise"
    holds: bool  # decided, and holds (for a theorem: its premise too)
    offending: tuple[InstructionReport, ...]
    undecided: tuple[InstructionReport, ...] = ()
    premise: bool | None = True  # a theorem's premise holds (None: undecided)

    @property
    def decided(self) -> bool:
        """Holds or fails for certain: an offender is enough to fail; holding needs every answer."""
        return bool(self.offending) or (not self.undecided and self.premise is not None)

    @property
    def premise_fails(self) -> bool:
        """Its condition holds, but not its premise."""
        return self.premise is False and not self.offending and not self.undecided


@attrs.frozen
class IsaReport:
    """The classification of an ISA in a guest context, the theorems, the expectations."""

    isa: ir.Isa
    context: GuestContext
    instructions: tuple[InstructionReport, ...]
    verdicts: dict[str, Verdict]
    expectations: tuple[ir.ExpectationResult, ...]
    premise: Verdict = Verdict("premise", True, ())  # no guest-mode store reaches the trap areas

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
        last = isa.context.pins[-1]
        raise SpecError([Diagnostic("V035", f"the pins of isa {isa.name} cannot all hold: no state has "
                                    f"{described}", last.span, "pin each piece of state once, to one value")])
    return context


@attrs.frozen
class ClassifyJob:
    """The questions about one instruction in one guest context, as a job (`vdsl.analysis.jobs`):
    IR and numbers, no z3 objects, so that it can be sent to a worker and cached on disk."""

    machine: ir.Machine
    instruction: ir.Instruction
    context: GuestContext
    rlimit: int = SOLVER_RLIMIT

    @property
    def name(self) -> str:
        return self.instruction.name

    def identity(self) -> str:
        """Everything the answers depend on, as text (the disk cache's key)."""
        return "\n".join(("classify", machine_text(self.machine), dump(self.instruction),
                          context_text(self.context), f"rlimit {self.rlimit}"))

    def run(self) -> InstructionReport:
        with workspace():
            machine, instruction, context = self.machine, self.instruction, self.context
            isa = ir.Isa("", machine, (instruction,), (), ir.GuestContext(machine.modes[context.mode]))
            questions = Questions(isa, context, self.rlimit)
            answers = questions.ask_all(instruction)
            premise = questions.ask(PREMISE, lambda: questions.reaches_trap_areas(instruction))
            return InstructionReport(instruction.name, answers, questions.offences(instruction, answers),
                                     tuple(o.name for o in instruction.operands), premise)


def machine_text(machine: ir.Machine) -> str:
    """The machine's canonical text (`vdsl dump`'s), made once per machine object."""
    found = _MACHINE_TEXTS.get(id(machine))
    if found is None or found[0] is not machine:
        found = _MACHINE_TEXTS[id(machine)] = (machine, dump(machine))
        if len(_MACHINE_TEXTS) > 64:
            _MACHINE_TEXTS.pop(next(iter(_MACHINE_TEXTS)))
    return found[1]


_MACHINE_TEXTS: dict[int, tuple[ir.Machine, str]] = {}


def context_text(context: GuestContext) -> str:
    return f"guest mode {context.mode}; pins " + ", ".join(f"{i.name} = {v}" for i, v in context.pins)


def classify_instruction(questions: Questions, instruction: ir.Instruction,
                         decider: Decider | None = None) -> InstructionReport:
    """The answers about one instruction and its classes (decided once per process, by `decider`)."""
    job = ClassifyJob(questions.machine, instruction, questions.context, questions.rlimit)
    (report,) = (decider or Decider()).decide([job])
    return report


def decide_premise(reports: tuple[InstructionReport, ...]) -> Verdict:
    """The theorems' premise: no instruction run by a guest reaches the trap areas."""
    known = [(r, r.premise.known if r.premise is not None else False) for r in reports]
    offending = tuple(r for r, reaches in known if reaches is True)
    undecided = tuple(r for r, reaches in known if reaches is None)
    return Verdict("premise", not offending and not undecided, offending, undecided)


def decide_theorems(reports: tuple[InstructionReport, ...],
                    premise: Verdict | None = None) -> dict[str, Verdict]:
    """Each theorem's verdict: its condition, and the premise (`decide_premise`) it rests on."""
    holds = True if premise is None else premise.holds if premise.decided else None
    verdicts: dict[str, Verdict] = {}
    for theorem in THEOREMS:
        offending = tuple(r for r in reports if r.offends(theorem) is True)
        if theorem == "T2":  # T1's offenders first, then the timing-dependent ones
            first = verdicts["T1"].offending
            offending = first + tuple(r for r in offending if r not in first)
        undecided = tuple(r for r in reports if r.offends(theorem) is None)
        verdicts[theorem] = Verdict(theorem, not offending and not undecided and holds is True, offending,
                                    undecided, holds)
    return verdicts


def classify_isa(isa: ir.Isa, guest_mode: str | None = None, rlimit: int = SOLVER_RLIMIT,
                 policies: Mapping[str, PolicyReport] | None = None, step: Step | None = None,
                 decider: Decider | None = None) -> IsaReport:
    """Classify every instruction of `isa` (in its guest context, or with `guest_mode`); its
    `expect policy` lines are judged by `policies`, the policy checks of the hypervisors they
    name (`expected_policies`), by name.  `step` is told each instruction classified; `decider`
    decides them (default: one after the other, in this process, remembered)."""
    context = guest_context(isa, guest_mode)
    jobs = [ClassifyJob(isa.machine, inst, context, rlimit) for inst in isa.instructions]
    return _isa_report(isa, context, tuple((decider or Decider()).decide(jobs, step)), policies)


def classify_isas(isas: Sequence[ir.Isa], guest_mode: str | None = None, rlimit: int = SOLVER_RLIMIT,
                  policies: Callable[[ir.Isa], Mapping[str, PolicyReport]] | None = None,
                  steps: Callable[[ir.Isa], Step] | None = None,
                  decider: Decider | None = None) -> list[IsaReport]:
    """`classify_isa` of each isa, their instructions decided together: one pool for them all, and
    an instruction that variants share (in the same context) decided once.  `policies(isa)`
    gives an isa's policy checks, asked once every instruction is decided; `steps(isa)` the step
    told each of its instructions classified."""
    contexts = [guest_context(isa, guest_mode) for isa in isas]
    jobs = [[ClassifyJob(isa.machine, inst, context, rlimit) for inst in isa.instructions]
            for isa, context in zip(isas, contexts, strict=True)]
    told = [steps(isa) for isa in isas] if steps is not None else []
    owners: dict[str, list[int]] = {}  # an instruction's name: the isas that have it
    for number, isa in enumerate(isas):
        for inst in isa.instructions:
            owners.setdefault(inst.name, []).append(number)
    pending = {(number, inst.name) for number, isa in enumerate(isas) for inst in isa.instructions}

    def step(name: str) -> None:  # a job of this name is done: tell the first isa still waiting
        for number in owners[name]:
            if (number, name) in pending:
                pending.discard((number, name))
                told[number](name)
                return

    flat = (decider or Decider()).decide([job for each in jobs for job in each], step if told else None)
    reports, start = [], 0
    for isa, context in zip(isas, contexts, strict=True):
        done = tuple(flat[start:start + len(isa.instructions)])
        start += len(isa.instructions)
        reports.append(_isa_report(isa, context, done, policies(isa) if policies is not None else None))
    return reports


def _isa_report(isa: ir.Isa, context: GuestContext, done: tuple[InstructionReport, ...],
                policies: Mapping[str, PolicyReport] | None) -> IsaReport:
    premise = decide_premise(done)
    partial = IsaReport(isa, context, done, decide_theorems(done, premise), (), premise)
    expectations = tuple(check_expectation(partial, e, policies) for e in isa.expects)
    return attrs.evolve(partial, expectations=expectations)


def expected_policies(isa: ir.Isa) -> tuple[str, ...]:
    """The hypervisors whose policy check an `expect policy` line of `isa` names, each once."""
    return tuple(dict.fromkeys(e.words[1] for e in isa.expects if e.words[0] == POLICY))


def verdict_word(verdict: Verdict) -> str:
    if verdict.premise_fails:
        return "fails (its premise fails)"
    return "holds" if verdict.holds else "fails" if verdict.decided else "is undecided"


def class_of(instruction: InstructionReport, name: str) -> bool | None:
    """Whether the instruction is in the class `name` (an expectable class); None: undecided."""
    if name == "sensitive":
        return instruction.sensitivity
    if name == "innocuous":
        sensitivity = instruction.sensitivity
        return None if sensitivity is None else not sensitivity
    if name == "behaviour-sensitive":
        return instruction.behaviour_sensitivity
    return instruction.known(name)


def check_expectation(report: IsaReport, expectation: ir.Expectation,
                      policies: Mapping[str, PolicyReport] | None = None) -> ir.ExpectationResult:
    """Whether an `expect` line of the isa holds (its form was checked by the resolver); `expect
    policy` lines by `policies` (see `classify_isa`).  One that depends on a question z3 could
    not decide does not hold: nothing unproven is promised."""
    words = list(expectation.words)
    if words[0] in THEOREMS or words[0] == "premise":
        verdict = report.premise if words[0] == "premise" else report.verdicts[words[0]]
        return _verdict_expectation(expectation, 1, verdict.holds, verdict.decided, verdict_word(verdict),
                                    [r.name for r in verdict.offending], [r.name for r in verdict.undecided])
    if words[0] == POLICY and report.instruction(POLICY) is None:
        policy = (policies or {}).get(words[1])
        if policy is None:
            return ir.ExpectationResult(expectation, False, f"the policy check of hypervisor {words[1]} "
                                        "was not run", decided=False)
        return _verdict_expectation(expectation, 2, policy.holds, policy.decided, policy.word,
                                    list(policy.failing), list(policy.undecided))
    instruction = report.instruction(words[0])
    assert instruction is not None
    negated = words[1] == "not"
    has = class_of(instruction, words[-1])
    detail = f"{instruction.name} is " + (", ".join(instruction.classes) or "in no class decided")
    if has is None:
        detail += f"; whether it is {words[-1]} is undecided"
        return ir.ExpectationResult(expectation, False, detail, decided=False)
    return ir.ExpectationResult(expectation, has != negated, detail)


def _verdict_expectation(expectation: ir.Expectation, subject: int, holds: bool, decided: bool, word: str,
                         offending: list[str], undecided: list[str]) -> ir.ExpectationResult:
    """`SUBJECT holds`, `SUBJECT fails`, or `SUBJECT fails with A B C` (exactly these break it), for a
    theorem, the premise (`subject` one word) or a policy (two), given its verdict: whether it
    holds and is decided, its word for that, and the instructions that break it or may."""
    words = expectation.words
    offending, undecided = sorted(offending), sorted(undecided)
    detail = f"{' '.join(words[:subject])} {word}" + (f" ({', '.join(offending)})" if offending else "")
    if len(words) > subject + 1:
        named = sorted(words[subject + 2:])
        missing = sorted(set(named) - set(offending))
        extra = sorted(set(offending) - set(named))
        # an extra offender, or a named one decided not to offend, fails it whatever is undecided
        decided = bool(extra) or bool(set(missing) - set(undecided)) or not undecided
        result = decided and not missing and not extra
        detail += (f"; not breaking it: {', '.join(missing)}" if missing else "") + (
            f"; also breaking it: {', '.join(extra)}" if extra else "")
    else:
        result = decided and holds == (words[subject] == "holds")
    if undecided:
        detail += f"; undecided for {', '.join(undecided)}"
    return ir.ExpectationResult(expectation, result, detail, decided)


# ---------------------------------------------------------------- the policy check


@attrs.frozen
class PolicyReport:
    """Whether each instruction of an isa runs directly and correctly under a hypervisor's VM map:
    the exact question a hypervisor writer asks (DESIGN §7).  `results` has, per instruction,
    "exits" (it leaves the guest: the monitor runs it), or the answer to `runs_directly`."""

    hypervisor: ir.Hypervisor
    isa: ir.Isa
    results: tuple[tuple[str, Answer | None], ...]  # None: it exits

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(name for name, answer in self.results if answer is not None and answer.known is False)

    @property
    def undecided(self) -> tuple[str, ...]:
        return tuple(name for name, answer in self.results if answer is not None and answer.known is None)

    @property
    def exits(self) -> tuple[str, ...]:
        return tuple(name for name, answer in self.results if answer is None)

    @property
    def holds(self) -> bool:
        return not self.failing and not self.undecided

    @property
    def decided(self) -> bool:
        """Holds or fails for certain: a failing instruction is enough to fail."""
        return bool(self.failing) or not self.undecided

    @property
    def word(self) -> str:
        return "holds" if self.holds else "fails" if self.failing else "is undecided"


@attrs.frozen
class PolicyJob:
    """Whether one instruction runs directly under a policy's VM map, as a job (see `ClassifyJob`)."""

    machine: ir.Machine
    instruction: ir.Instruction
    context: GuestContext
    policy: PolicyMap
    rlimit: int = SOLVER_RLIMIT

    @property
    def name(self) -> str:
        return self.instruction.name

    def identity(self) -> str:
        policy = self.policy
        return "\n".join((
            "runs-directly", machine_text(self.machine), dump(self.instruction), context_text(self.context),
            f"technique {policy.technique}; guest mode {policy.guest_mode}; owned "
            + ", ".join(o.name for o in policy.owned) + "; exits " + ", ".join(sorted(policy.exits))
            + "; guest modes " + ", ".join(map(str, policy.guest_modes)), f"rlimit {self.rlimit}"))

    def run(self) -> Answer:
        with workspace():
            machine, mode = self.machine, self.context.mode
            isa = ir.Isa("", machine, (self.instruction,), (), ir.GuestContext(machine.modes[mode]))
            questions = Questions(isa, self.context, self.rlimit)
            return questions.ask("runs-directly",
                                 functools.partial(runs_directly, questions, self.instruction, self.policy))


def check_policy(isa: ir.Isa, hypervisor: ir.Hypervisor, rlimit: int = SOLVER_RLIMIT,
                 step: Step | None = None, decider: Decider | None = None) -> PolicyReport:
    """Decide, per instruction, whether direct execution under `hypervisor`'s VM map gives the
    virtual machine's result (binary translation and paravirtualization run no instruction
    directly that the classification finds wrong: their check is the classification).  `step`
    is told each instruction decided; `decider` decides them (see `classify_isa`)."""
    problem = no_policy_check(hypervisor, isa)
    if problem is not None:
        raise RunError(problem[0])
    extension = isa.virtualization if hypervisor.technique == "hardware_assisted" else None
    machine = isa.machine
    in_context = attrs.evolve(isa, context=hypervisor.context)
    context = guest_context(in_context)
    shadowed = [item(machine, ref) for ref in extension.shadow] if extension is not None else []
    owned = tuple(part for c in control_items(machine) if c.reg is not None and c.reg != machine.relocation
                  for part in unshadowed(machine, c, shadowed))
    all_modes = tuple(range(len(machine.modes)))
    guest_modes = extension.guest_modes(machine) if extension is not None else all_modes
    policy = PolicyMap(hypervisor.technique, context.mode, owned,
                       frozenset(extension.exits) if extension is not None else frozenset(),
                       guest_modes if guest_modes != all_modes else ())
    exiting = [i for i in isa.instructions if i.name in policy.exits]
    if step is not None:
        for instruction in exiting:
            step(instruction.name)
    jobs = [PolicyJob(machine, i, context, policy, rlimit) for i in isa.instructions
            if i.name not in policy.exits]
    answers = dict(zip((j.name for j in jobs), (decider or Decider()).decide(jobs, step), strict=True))
    return PolicyReport(hypervisor, isa, tuple((i.name, answers.get(i.name)) for i in isa.instructions))
