"""Each Popek–Goldberg definition as a satisfiability question, answered with evidence.

A question builds one or two symbolic executions of an instruction (the same evaluator
the emulator compiles), asks z3 for states and operands that show the property, and
either gets a model — turned into concrete states, *replayed on the emulator*, and
reported as a `Witness` — or a proof that none exists (UNSAT).  A replay that does not
show what z3 claimed is a bug in vdsl and raises `InternalError`.

Executions that trap are excluded from every sensitivity question (the monitor gets
control through the trap anyway); memory traps are excluded everywhere, as in PG74.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence

import attrs
import z3

from vdsl.analysis.states import (
    ConcreteRun,
    Moved,
    SymbolicRun,
    SymbolicState,
    concrete_state,
    fresh_operands,
    fresh_state,
    moved_words,
    run_concrete,
    run_symbolic,
    swap_banks,
    valid,
)
from vdsl.emulator.state import MachineState, differences
from vdsl.errors import InternalError, VdslError
from vdsl.ir import nodes as ir
from vdsl.ir.layout import (
    StateItem,
    bank_swap,
    compared_bits,
    control_items,
    register_items,
    timing_items,
    trap_words,
)
from vdsl.ir.vocabulary import SOLVER_RLIMIT
from vdsl.semantics.bits import mask

# z3's resource limit per question: a count of its own elementary steps, so that a question is
# decided, or not, the same way on a busy machine and an idle one.  The hardest question of the
# bundled specs takes under 2 million; 250 million (SOLVER_RLIMIT) is about a minute of solving on
# a laptop.


class UndecidedError(VdslError):
    """z3 could not decide a question within its resource limit."""


_WORKSPACE = threading.RLock()


@contextlib.contextmanager
def workspace() -> Iterator[None]:
    """Run the block with a z3 context of its own as z3's default one: the terms and solvers made
    in it start from nothing, so that an answer, witness values included, is the same whatever
    was decided before it in this process (a pool's worker, the language server) or after.  One
    block at a time: z3's default context is a global."""
    with _WORKSPACE:
        saved = z3.z3._main_ctx  # type: ignore[attr-defined]
        z3.z3._main_ctx = z3.Context()  # type: ignore[attr-defined]
        try:
            yield
        finally:
            z3.z3._main_ctx = saved  # type: ignore[attr-defined]


def solver_for(rlimit: int) -> z3.Solver:
    """A solver for the questions' logic, with a resource limit.  Every question is quantifier-free
    bit-vectors and arrays (memory): z3's solver for that logic (QF_ABV) decides them with about
    40% less solving than its general one, to the same answers on every bundled spec."""
    solver = z3.SolverFor("QF_ABV")
    solver.set(rlimit=rlimit)
    return solver


@attrs.frozen
class GuestContext:
    """Where guests run: the real mode their kernel is deprivileged to, and the control
    state the monitor pins while they run (x86: IOPL = 0)."""

    mode: int
    pins: tuple[tuple[StateItem, int], ...] = ()

    def constraints(self, state: SymbolicState) -> list[z3.BoolRef]:
        return [state.get(item) == value for item, value in self.pins]

    def holds(self, state: MachineState) -> bool:
        return all(state.get(item) == value for item, value in self.pins)


@attrs.frozen
class Witness:
    """Concrete evidence: the operands, the runs on the emulator, and what they show."""

    operands: tuple[tuple[str, int], ...]
    runs: tuple[ConcreteRun, ...]
    shows: tuple[str, ...]  # one line per run, or per finding
    shift: int | None = None  # location-sensitivity: the relocation offset x
    reads: tuple[int, ...] = ()  # the memory words the runs read (to check a witness by hand)


@attrs.frozen
class Answer:
    """Whether a definition holds for an instruction, with a witness or a proof; or, when z3
    gave up, `undecided` says on what (and `holds` is False: nothing is claimed)."""

    question: str
    holds: bool
    witness: Witness | None = None
    proof: str | None = None
    undecided: str | None = None

    @property
    def known(self) -> bool | None:
        """True or False when decided, None when z3 gave up."""
        return None if self.undecided is not None else self.holds


# The sensitivities, each a question and what an offence is made of: T1's four, then Theorem
# 3's and timing (T2).  The report asks privilege first.
SENSITIVITIES = ("control-sensitive", "mode-sensitive", "location-sensitive", "control-state-sensitive",
                 "user-sensitive", "timing-sensitive")
T1_SENSITIVITIES = SENSITIVITIES[:4]
QUESTIONS = ("privileged", *SENSITIVITIES)
PREMISE = "reaches-trap-areas"  # the theorems' premise, asked of each instruction


@attrs.frozen
class Offence:
    """Whether some operand values make an instruction sensitive in one way and, for those same
    values, not privileged (an instruction is an opcode with its operand values: a `CSRRW csr`
    that traps for exactly the CSRs that are control state does not offend).  When it does, two
    answers at the same operands: the sensitivity's witness and the privilege's counterexample."""

    sensitivity: str
    holds: bool
    sensitive: Answer | None = None
    unprivileged: Answer | None = None
    proof: str | None = None
    undecided: str | None = None

    @property
    def known(self) -> bool | None:
        return None if self.undecided is not None else self.holds

    @property
    def operands(self) -> tuple[tuple[str, int], ...]:
        witness = self.sensitive.witness if self.sensitive is not None else None
        return witness.operands if witness is not None else ()


OperandConstraint = Callable[[list[z3.BitVecRef]], list[z3.BoolRef]]


class Questions:
    """The questions about the instructions of one ISA in one guest context."""

    def __init__(self, isa: ir.Isa, context: GuestContext, rlimit: int = SOLVER_RLIMIT,
                 operand_constraint: OperandConstraint | None = None,
                 runs: dict[tuple[object, ...], SymbolicRun] | None = None) -> None:
        self.isa = isa
        self.machine = isa.machine
        self.context = context
        self.rlimit = rlimit
        self.operand_constraint = operand_constraint  # every question asks only about such operands
        # The symbolic runs made, by their inputs' terms: the questions about an instruction run it
        # from the same fresh state again and again (z3 gives equal terms the same id).
        self.runs = runs if runs is not None else {}
        self.control = control_items(self.machine)
        # Control state besides the mode and the relocation base (their own questions); the
        # relocation register's other fields (the bound) count as ordinary control state.
        relocation = self.machine.relocation
        self.other_control = [i for i in self.control if i.reg is not None and i.reg != relocation]
        if self.machine.relocation is not None:
            reg = self.machine.register(self.machine.relocation)
            assert reg is not None
            self.other_control.extend(StateItem(reg.name, f) for f in reg.fields if f.name != "base")
        self.timing = timing_items(self.machine)

    # ------------------------------------------------------------ plumbing
    def solve(self, constraints: Sequence[z3.BoolRef], what: str) -> z3.ModelRef | None:
        solver = solver_for(self.rlimit)
        solver.add(*constraints)
        result = solver.check()
        if result == z3.sat:
            return solver.model()
        if result == z3.unsat:
            return None
        reason = solver.reason_unknown()
        if reason in ("max. resource limit exceeded", "resource limits reached", "canceled"):
            reason = f"resource limit {self.rlimit} reached"
        raise UndecidedError(f"z3 could not decide {what} ({reason})")

    def start(self, inst: ir.Instruction, tag: str = "s") -> tuple[SymbolicState, list[z3.BitVecRef],
                                                                   list[z3.BoolRef]]:
        state = fresh_state(self.machine, tag)
        operands = fresh_operands(inst, "op")
        constraints = valid(self.machine, inst, state, operands)
        if self.operand_constraint is not None:
            constraints += self.operand_constraint(operands)
        return state, operands, constraints

    def restricted(self, constraint: OperandConstraint) -> Questions:
        """The same questions, asked only about operands that satisfy `constraint`."""
        return Questions(self.isa, self.context, self.rlimit, constraint, self.runs)

    def run(self, inst: ir.Instruction, state: SymbolicState, operands: list[z3.BitVecRef]) -> SymbolicRun:
        """`inst` run symbolically from `state`, made once per inputs (the run it keeps keeps its
        inputs' terms, and so their ids, alive)."""
        key = (inst.name, state.mode.get_id(), state.memory.get_id(),
               *(value.get_id() for value in state.registers.values()), *(o.get_id() for o in operands))
        found = self.runs.get(key)
        if found is None:
            found = self.runs[key] = run_symbolic(self.machine, inst, state, operands)
        return found

    def mode_exists(self, mode: z3.BitVecRef) -> list[z3.BoolRef]:
        """`mode` names a mode (nothing to say when every value of its width does)."""
        count = len(self.machine.modes)
        return [z3.ULT(mode, count)] if count < 1 << self.machine.mode_width else []

    def mode_value(self, mode: int) -> z3.BitVecRef:
        return z3.BitVecVal(mode, self.machine.mode_width)

    def mode_name(self, mode: int) -> str:
        return self.machine.modes[mode] if mode < len(self.machine.modes) else str(mode)

    def replay(self, inst: ir.Instruction, model: z3.ModelRef, operands: list[z3.BitVecRef],
               starts: list[tuple[str, MachineState]]) -> tuple[tuple[tuple[str, int], ...],
                                                                  tuple[ConcreteRun, ...]]:
        values = tuple(model.eval(o, model_completion=True).as_long() for o in operands)
        runs = tuple(run_concrete(self.machine, inst, values, state, label) for label, state in starts)
        named = tuple((o.name, v) for o, v in zip(inst.operands, values, strict=True))
        return named, runs

    def reads(self, model: z3.ModelRef, runs: Sequence[SymbolicRun]) -> tuple[int, ...]:
        """The physical words the runs read, in the model."""
        found: set[int] = set()
        for run in runs:
            for when, address in run.outcome.reads:
                if z3.is_true(model.eval(when == 1, model_completion=True)):
                    value = model.eval(address, model_completion=True).as_long()
                    if value < self.machine.memory.size:
                        found.add(value)
        return tuple(sorted(found))

    def smaller(self, constraints: Sequence[z3.BoolRef], model: z3.ModelRef,
                values: Sequence[z3.BitVecRef]) -> z3.ModelRef:
        """A model of `constraints` whose `values` are all at most 1, else at most 8, when z3 finds
        one within a tenth of the limit: a witness a reader can follow.  Else `model`."""
        for small in (1, 8):
            found = self.prefer(constraints, *(z3.ULE(v, small) for v in values))
            if found is not None:
                return found
        return model

    def prefer(self, constraints: Sequence[z3.BoolRef], *wishes: z3.BoolRef) -> z3.ModelRef | None:
        """A model of `constraints` that also has `wishes`, when z3 finds one within a tenth of the
        limit (a simpler witness is worth a little solving, not an undecided question)."""
        solver = solver_for(max(1, self.rlimit // 10))
        solver.add(*constraints, *wishes)
        return solver.model() if solver.check() == z3.sat else None

    @staticmethod
    def confirm(claim: bool, inst: ir.Instruction, question: str, detail: str) -> None:
        if not claim:
            raise InternalError(f"the witness z3 found for '{inst.name} {question}' does not replay on "
                                f"the emulator ({detail}): the symbolic and concrete semantics disagree")

    # ------------------------------------------------------------ comparisons
    def differs(self, a: SymbolicRun, b: SymbolicRun, excluded: Sequence[StateItem],
                address: z3.BitVecRef, moved: Moved | None = None) -> z3.BoolRef:
        """The two results differ outside the excluded items (registers, mode, memory, halt).  When b
        ran from `moved` (a's state moved up), b's memory is compared where it holds a's words."""
        terms = [a.halted != b.halted]
        terms.extend(a.final.registers[reg.name] & keep != b.final.registers[reg.name] & keep
                     for _, reg, keep in compared_bits(self.machine, excluded))
        whole = {i.reg for i in excluded if i.field is None}
        if None not in whole:
            terms.append(a.final.mode != b.final.mode)
        if moved is not None:
            terms.append(moved.memory_differs(a.final.memory, b.final.memory, address))
        else:
            terms.append(z3.And(z3.ULT(address, self.machine.memory.size),
                                z3.Select(a.final.memory, address) != z3.Select(b.final.memory, address)))
        return z3.Or(terms)

    def differences(self, a: ConcreteRun, b: ConcreteRun, excluded: Sequence[StateItem]) -> list[str]:
        """What differs between two concrete results outside the excluded items (as `differs`)."""
        found = ["halt"] if a.halted != b.halted else []
        return found + [d.where for d in differences(a.after, b.after, excluded)]

    def moved_differences(self, a: ConcreteRun, b: ConcreteRun, excluded: Sequence[StateItem],
                          x: int) -> tuple[list[str], list[str]]:
        """As `differences`, when b ran from a's state moved up by x: what differs, named as a has
        it and as b has it (a's word w is b's word w + x)."""
        found = ["halt"] if a.halted != b.halted else []
        found.extend(d.where for d in differences(a.after, b.after, excluded, addresses=()))
        memory, words = self.machine.memory.name, moved_words(a.after, b.after, x)
        return found + [f"{memory}[{w}]" for w in words], found + [f"{memory}[{w + x}]" for w in words]

    def describe(self, run: ConcreteRun, names: Sequence[str] = ()) -> str:
        """`label: X becomes 1, Y stays 0` for the named state (all changes when none named)."""
        if run.trapped:
            return f"{run.label}: traps ({run.cause})"
        parts = []
        for item in register_items(self.machine):
            if names and item.reg not in names and item.name not in names:
                continue
            old, new = run.before.get(item), run.after.get(item)
            if old != new:
                parts.append(f"{item.name} becomes {new} (was {old})")
            elif names:
                parts.append(f"{item.name} stays {new}")
        old_mode, new_mode = run.before.mode, run.after.mode
        if old_mode != new_mode:
            parts.append(f"{self.machine.mode_name} becomes {self.mode_name(new_mode)} "
                         f"(was {self.mode_name(old_mode)})")
        elif self.machine.mode_name in names:
            parts.append(f"{self.machine.mode_name} stays {self.mode_name(new_mode)}")
        memory = self.machine.memory.name
        for address, (old, new) in enumerate(zip(run.before.memory, run.after.memory, strict=True)):
            if old != new and (not names or f"{memory}[{address}]" in names):
                parts.append(f"{memory}[{address}] becomes {new} (was {old})")
            elif f"{memory}[{address}]" in names:  # written with the value it held, or not written
                parts.append(f"{memory}[{address}] stays {new}")
        if run.halted:
            parts.append("halts")
        return f"{run.label}: " + (", ".join(parts) if parts else "changes nothing")

    # ------------------------------------------------------------ the definitions
    def guest_modes(self, mode: z3.BitVecRef) -> list[z3.BoolRef]:
        """`mode` is one guests run in on the real machine: the guest mode, or a less privileged
        mode (a guest's user mode, under ring compression)."""
        return [*self.mode_exists(mode), z3.UGE(mode, self.mode_value(self.context.mode))]

    def where_guests_run(self) -> str:
        guest = self.context.mode
        name = self.mode_name(guest)
        return f"mode {name}" if guest == len(self.machine.modes) - 1 else \
            f"mode {name} and the less privileged modes"

    def privileged(self, inst: ir.Instruction) -> Answer:
        """Traps in every mode guests run in (the guest mode and those less privileged) and not in
        the most privileged mode, for every state of the guest context and every operand
        (executions that memory-trap excluded)."""
        state, operands, base = self.start(inst)
        mode = z3.BitVec("guest_mode", self.machine.mode_width)
        considered, escapes, top, low = self.escape(inst, state, operands, mode)
        base += considered
        model = self.solve(base + [escapes], f"whether {inst.name} is privileged")
        if model is None:
            if self.solve(base, f"whether {inst.name} ever runs") is None:
                return Answer("privileged", False,
                              proof="every execution in the guest context memory-traps")
            where = "every state of the guest context" if self.context.pins else "every state"
            return Answer("privileged", True, proof=f"traps in {self.where_guests_run()} and not in "
                          f"mode {self.mode_name(0)}, for {where} and operand (z3: unsat)")
        start = concrete_state(self.machine, model, state)
        starts = []
        for value in (0, model.eval(mode, model_completion=True).as_long()):
            copy = start.copy()
            copy.slots[copy.mode_index] = value
            starts.append((f"mode {self.mode_name(value)}", copy))
        named, runs = self.replay(inst, model, operands, starts)
        top_run, low_run = runs
        self.confirm(not top_run.memory_trapped and not low_run.memory_trapped
                     and (top_run.trapped or not low_run.trapped), inst, "is not privileged",
                     f"{top_run.cause}, {low_run.cause}")
        shows = tuple(f"{r.label}: " + (f"traps ({r.cause})" if r.trapped else "does not trap")
                      for r in runs)
        return Answer("privileged", False, Witness(named, runs, shows, reads=self.reads(model, [top, low])))

    def escape(self, inst: ir.Instruction, state: SymbolicState, operands: list[z3.BitVecRef],
               mode: z3.BitVecRef) -> tuple[list[z3.BoolRef], z3.BoolRef, SymbolicRun, SymbolicRun]:
        """What privilege is about, from `state` in the guest context: the runs in the most
        privileged mode and in `mode` (one guests run in), neither memory-trapping; and when the
        instruction escapes privilege there (it traps in the first, or not in the second)."""
        top = self.run(inst, state.evolve(mode=self.mode_value(0)), operands)
        low = self.run(inst, state.evolve(mode=mode), operands)
        considered = [*self.context.constraints(state), *self.guest_modes(mode),
                      z3.Not(top.memory_trapped), z3.Not(low.memory_trapped)]
        return considered, z3.Or(top.trapped, z3.Not(low.trapped)), top, low

    def unprivileged_operands(self, inst: ir.Instruction) -> OperandConstraint:
        """Operands for which `inst` is not privileged: from some state of its own, it escapes."""
        def constraint(operands: list[z3.BitVecRef]) -> list[z3.BoolRef]:
            state = fresh_state(self.machine, "unprivileged")
            mode = z3.BitVec("unprivileged.guest_mode", self.machine.mode_width)
            considered, escapes, _, _ = self.escape(inst, state, operands, mode)
            return [*valid(self.machine, inst, state, operands), *considered, escapes]
        return constraint

    def offence(self, inst: ir.Instruction, answers: dict[str, Answer], sensitivity: str) -> Offence:
        """Whether some operand values make `inst` `sensitivity` and, for the same values, not
        privileged; the answers already given settle it when either is decided for all operands
        alike, or when the instruction has no operands."""
        sensitive, privileged = answers[sensitivity], answers["privileged"]
        if sensitive.known is False or privileged.known is True:
            return Offence(sensitivity, False, proof=f"not {sensitivity}" if sensitive.known is False
                           else "privileged for every operand")
        if sensitive.undecided is not None or privileged.undecided is not None:
            return Offence(sensitivity, False, undecided=sensitive.undecided or privileged.undecided)
        if not inst.operands:
            return Offence(sensitivity, True, sensitive, privileged)
        # Most often the sensitivity's own witness has operands for which the instruction escapes.
        assert sensitive.witness is not None
        escape = self.ask("privileged", lambda: self.at(sensitive.witness).privileged(inst))
        if escape.known is False:
            return Offence(sensitivity, True, sensitive, escape)
        joint = self.ask(sensitivity, lambda: self.restricted(self.unprivileged_operands(inst))
                         .question(inst, sensitivity))
        if joint.undecided is not None:
            return Offence(sensitivity, False, undecided=joint.undecided)
        if not joint.holds:
            return Offence(sensitivity, False, proof=f"for every operand value that makes it {sensitivity}, "
                           "it is privileged (z3: unsat)")
        assert joint.witness is not None
        escape = self.ask("privileged", lambda: self.at(joint.witness).privileged(inst))
        if escape.undecided is not None:
            return Offence(sensitivity, False, undecided=escape.undecided)
        self.confirm(not escape.holds and escape.witness is not None, inst, "is not privileged for the "
                     "operands that make it sensitive", "privileged for them")
        return Offence(sensitivity, True, joint, escape)

    def at(self, witness: Witness | None) -> Questions:
        """The questions asked only about the witness's operand values."""
        assert witness is not None
        values = [value for _, value in witness.operands]
        return self.restricted(lambda operands: [o == v for o, v in zip(operands, values, strict=True)])

    def control_sensitive(self, inst: ir.Instruction, in_context: bool = False) -> Answer:
        """Some non-trapping execution changes control state, or halts (the processor's run
        state is control state once guests share it).  In the guest context: in a mode guests
        run in; the state is the virtual machine's, so the pins do not bind it: a guest whose
        own IOPL is 3 runs POPF differently from the real machine, whose IOPL the monitor pins
        to 0."""
        state, operands, base = self.start(inst)
        if in_context:
            base += self.guest_modes(state.mode)
        run = self.run(inst, state, operands)
        changed = z3.Or([run.final.get(i) != state.get(i) for i in self.control] + [run.halted])
        where = f" in {self.where_guests_run()}" if in_context else ""
        model = self.solve(base + [z3.Not(run.trapped), changed],
                           f"whether {inst.name} changes control state{where}")
        if model is None:
            return Answer("control-sensitive", False,
                          proof=f"no execution{where} that does not trap changes control state or halts")
        label = f"mode {self.mode_name(model.eval(state.mode, model_completion=True).as_long())}"
        named, (concrete,) = self.replay(inst, model, operands,
                                         [(label, concrete_state(self.machine, model, state))])
        changes = [i.name for i in self.control if concrete.before.get(i) != concrete.after.get(i)]
        self.confirm(not concrete.trapped and (bool(changes) or concrete.halted), inst,
                     "changes control state", concrete.cause or "nothing changed")
        return Answer("control-sensitive", True,
                      Witness(named, (concrete,), (self.describe(concrete, changes),),
                              reads=self.reads(model, [run])))

    def mode_sensitive(self, inst: ir.Instruction) -> Answer:
        """Two states that differ only in the mode give different results (outside the mode), or
        the more privileged one traps and the other does not."""
        state, operands, base = self.start(inst)
        first, second = (z3.BitVec(f"mode{k}", self.machine.mode_width) for k in (1, 2))
        base += [*self.mode_exists(first), *self.mode_exists(second), z3.ULT(first, second)]
        a = self.run(inst, state.evolve(mode=first), operands)
        # A banked register reads the same in both: the second state holds in the copies of its
        # mode what the first holds in those of its own, and its result is compared the same way.
        b = self.run(inst, swap_banks(self.machine, state, first, second).evolve(mode=second), operands)
        b = attrs.evolve(b, final=swap_banks(self.machine, b.final, first, second))
        # The more privileged run stands for the guest's virtual mode, the other for the real one.
        banked = " (banked registers read alike)" if self.machine.banks else ""
        return self.pair(inst, "mode-sensitive", base, operands, a, b, [StateItem.mode(self.machine)],
                         f"no two states that differ only in the mode{banked} give different results, and "
                         "none traps in the more privileged mode only", virtual=(0,))

    @staticmethod
    def unlike(a: SymbolicRun, b: SymbolicRun, virtual: tuple[int, ...],
               differ: z3.BoolRef) -> list[z3.BoolRef]:
        """When two runs count as different: neither memory-traps, and either neither traps and
        the results differ (`differ`), or a run that may stand for the virtual machine (an index
        in `virtual`) traps while the other, the real machine, does not.  A trap only the virtual
        machine takes is a difference: the monitor gets control through the real machine's traps."""
        runs = (a, b)
        asymmetric = [z3.And(runs[i].trapped, z3.Not(runs[1 - i].trapped)) for i in virtual]
        return [z3.Not(a.memory_trapped), z3.Not(b.memory_trapped),
                z3.Or(z3.And(z3.Not(a.trapped), z3.Not(b.trapped), differ), *asymmetric)]

    @staticmethod
    def unlike_concrete(runs: tuple[ConcreteRun, ...], virtual: tuple[int, ...], found: list[str]) -> bool:
        """`unlike` on the replayed runs, with `found` the differences of their results."""
        a, b = runs
        if a.memory_trapped or b.memory_trapped:
            return False
        if not a.trapped and not b.trapped:
            return bool(found)
        return any(runs[i].trapped and not runs[1 - i].trapped for i in virtual)

    def pair(self, inst: ir.Instruction, question: str, base: list[z3.BoolRef],
             operands: list[z3.BitVecRef], a: SymbolicRun, b: SymbolicRun, excluded: list[StateItem],
             proof: str, virtual: tuple[int, ...]) -> Answer:
        """A two-state question: the runs are `unlike` (their results differ outside the excluded
        items, or only one that may be the virtual machine's traps)."""
        address = z3.BitVec("address", self.machine.address_width)
        model = self.solve(base + self.unlike(a, b, virtual, self.differs(a, b, excluded, address)),
                           f"whether {inst.name} is {question}")
        if model is None:
            return Answer(question, False, proof=proof)
        first, second = (concrete_state(self.machine, model, run.start) for run in (a, b))
        if question == "mode-sensitive":
            labels = [f"mode {self.mode_name(s.mode)}" for s in (first, second)]
        else:  # name each state by the values it was given for the varied items
            labels = [", ".join(f"{i.name} = {s.get(i)}" for i in excluded
                                if first.get(i) != second.get(i)) for s in (first, second)]
        starts = [(labels[0], first), (labels[1], second)]
        named, runs = self.replay(inst, model, operands, starts)
        swap = bank_swap(self.machine, first.mode, second.mode) if question == "mode-sensitive" else {}
        aligned = attrs.evolve(runs[1], after=runs[1].after.swapped(swap))
        found = self.differences(runs[0], aligned, excluded)
        self.confirm(self.unlike_concrete(runs, virtual, found), inst, f"is {question}",
                     "the runs memory-trap, trap alike, or agree")
        names = ([*found], [swap.get(n, n) for n in found])
        return Answer(question, True, Witness(named, runs, self.shows(runs, names),
                                              reads=self.reads(model, [a, b])))

    def shows(self, runs: tuple[ConcreteRun, ...], found: tuple[list[str], list[str]]) -> tuple[str, ...]:
        """One line per run: what differs (each run's names of it), or, when only one run traps, which."""
        if any(r.trapped for r in runs):
            return tuple(f"{r.label}: " + (f"traps ({r.cause})" if r.trapped else "does not trap")
                         for r in runs)
        return tuple(self.describe(r, names) for r, names in zip(runs, found, strict=True))

    def state_sensitive(self, inst: ir.Instruction, items: list[StateItem], question: str,
                        what: str, in_context: bool = False) -> Answer:
        """Two states that differ only in `items` give results that differ outside those items,
        or only one traps.  In the guest context both run in the guest mode and the first, the
        state the real machine holds, has the pins; the second, the virtual machine's, may
        differ in pinned state too, and only its traps count."""
        if not items:
            return Answer(question, False, proof=f"the machine has no {what}")
        state, operands, base = self.start(inst)
        if in_context:
            base += self.guest_modes(state.mode) + self.context.constraints(state)
        other = state
        for item in items:
            other = other.with_item(item, z3.BitVec(f"other.{item.name}", item.width(self.machine)))
        a = self.run(inst, state, operands)
        b = self.run(inst, other, operands)
        where = f" in {self.where_guests_run()}" if in_context else ""
        # Either state may be the real machine's, except in the guest context, where it is the first.
        virtual: tuple[int, ...] = (1,) if in_context else (0, 1)
        if question == "timing-sensitive":
            virtual = ()  # timing does not decide whether the monitor gets control
        return self.pair(inst, question, base, operands, a, b, items,
                         f"no two states{where} that differ only in {what} give different results"
                         + (" or trap differently" if virtual else ""), virtual=virtual)

    def location_sensitive(self, inst: ir.Instruction, in_context: bool = False) -> Answer:
        """Running with R's base shifted by x (and memory shifted with it) gives a result that
        is not the shifted original, or only one of the two runs traps."""
        machine = self.machine
        if machine.relocation is None:
            return Answer("location-sensitive", False, proof="the machine does not relocate addresses")
        state, operands, constraints = self.start(inst)
        if in_context:
            constraints += self.guest_modes(state.mode) + self.context.constraints(state)
        moved = Moved.of(machine, state)
        shift, base_item = moved.shift, moved.base
        constraints += [shift != 0, moved.inside]
        original = self.run(inst, state, operands)
        relocated = self.run(inst, moved.state, operands)
        constraints += moved.reads(relocated)
        constraints.append(moved.base_unwrapped(original.final))  # the shifted result exists
        k = z3.BitVec("k", machine.address_width)
        constraints.append(moved.word(moved.address(k)))
        not_shifted = [original.halted != relocated.halted,
                       original.final.mode != relocated.final.mode,
                       relocated.final.get(base_item) != original.final.get(base_item) + shift,
                       moved.memory_differs(original.final.memory, relocated.final.memory, k)]
        reg = machine.register(machine.relocation)
        assert reg is not None and base_item.field is not None
        keep = mask(reg.width) & ~(mask(base_item.field.width) << base_item.field.lo)
        before, after = original.final.registers, relocated.final.registers
        not_shifted.append(before[reg.name] & keep != after[reg.name] & keep)
        not_shifted.extend(before[r.name] != after[r.name] for r in machine.registers if r.name != reg.name)
        where = " among guest-context states" if in_context else ""
        question = constraints + self.unlike(original, relocated, (0, 1), z3.Or(not_shifted))
        model = self.solve(question, f"whether {inst.name} is location-sensitive{where}")
        if model is None:
            return Answer("location-sensitive", False,
                          proof=f"every relocated run{where} is the shifted original and traps alike")
        model = self.smaller(question, model, [shift, state.get(base_item), *operands])
        first = concrete_state(machine, model, state)
        x, second = moved.concrete(model, first)
        named, runs = self.replay(inst, model, operands, [("at R", first), (f"at R shifted by {x}", second)])
        found = self.unshifted(runs[0], runs[1], x, base_item)
        inside = moved.fits(first, x) and runs[0].after.get(base_item) + x < 1 << base_item.field.width
        self.confirm(inside and self.unlike_concrete(runs, (0, 1), found), inst, "is location-sensitive",
                     "a window wraps, the runs memory-trap, trap alike, or the relocated run is the "
                     "shifted original")
        return Answer("location-sensitive", True,
                      Witness(named, runs, self.shows(runs, (found, found)), shift=x,
                              reads=self.reads(model, [original, relocated])))

    def unshifted(self, original: ConcreteRun, moved: ConcreteRun, x: int, base: StateItem) -> list[str]:
        """Where the relocated result is not the original shifted by x (as `location_sensitive`)."""
        _, found = self.moved_differences(original, moved, [base], x)
        if moved.after.get(base) != original.after.get(base) + x:
            found.append(base.name)
        return found

    def reaches_trap_areas(self, inst: ir.Instruction) -> Answer:
        """The theorems' premise, for one instruction: run in a mode guests run in, from a state
        of the guest context whose relocation window (the monitor places it) leaves the trap
        areas out, it does not trap and changes a word of the trap areas (Popek and Goldberg's
        machines relocate every guest access, so no guest can rewrite the PSW a trap loads)."""
        machine = self.machine
        words = sorted(trap_words(machine))
        if not words:
            return Answer(PREMISE, False, proof="the machine has no trap areas")
        state, operands, constraints = self.start(inst)
        constraints += self.guest_modes(state.mode) + self.context.constraints(state)
        where = "any state"
        window = self.window()
        if window is not None:
            base, bound = (state.get(i) for i in window)
            wide = max(base.size(), bound.size(), machine.memory.size.bit_length()) + 2
            low, size = z3.ZeroExt(wide - base.size(), base), z3.ZeroExt(wide - bound.size(), bound)
            constraints.append(z3.ULE(low + size, machine.memory.size))
            constraints.extend(z3.Or(z3.ULT(word, low), z3.UGE(word, low + size)) for word in words)
            where = f"a state whose {window[0].reg} window leaves them out"
        run = self.run(inst, state, operands)
        # One word of the trap areas, as a variable: much easier for z3 than a disjunction over them.
        word = z3.BitVec("trap_word", machine.address_width)
        changed = [z3.Or([word == w for w in words]),
                   z3.Select(run.final.memory, word) != z3.Select(state.memory, word)]
        model = self.solve(constraints + [z3.Not(run.trapped), *changed],
                           f"whether {inst.name} reaches the trap areas")
        area = self.trap_area_text(words)
        if model is None:
            return Answer(PREMISE, False, proof=f"no execution in {self.where_guests_run()} from {where} "
                          f"that does not trap changes the trap areas ({area})")
        label = f"mode {self.mode_name(model.eval(state.mode, model_completion=True).as_long())}"
        named, (concrete,) = self.replay(inst, model, operands,
                                         [(label, concrete_state(machine, model, state))])
        memory = machine.memory.name
        hit = [f"{memory}[{w}]" for w in words if concrete.before.memory[w] != concrete.after.memory[w]]
        lo, size = (0, 0) if window is None else (concrete.before.get(i) for i in window)
        outside = all(not lo <= w < lo + size for w in words) and lo + size <= machine.memory.size
        self.confirm(not concrete.trapped and bool(hit) and outside, inst, "reaches the trap areas",
                     concrete.cause or "no trap-area word changed")
        return Answer(PREMISE, True, Witness(named, (concrete,), (self.describe(concrete, hit),),
                                             reads=self.reads(model, [run])))

    def window(self) -> tuple[StateItem, StateItem] | None:
        """The relocation register's base and bound, when the machine relocates."""
        if self.machine.relocation is None:
            return None
        reg = self.machine.register(self.machine.relocation)
        assert reg is not None
        base, bound = reg.field("base"), reg.field("bound")
        assert base is not None and bound is not None
        return StateItem(reg.name, base), StateItem(reg.name, bound)

    def trap_area_text(self, words: Sequence[int]) -> str:
        """`E[0..8]`, or `E[0..3], E[8]`: the trap areas, as ranges of words."""
        ranges: list[list[int]] = []
        for word in words:
            if ranges and ranges[-1][1] == word - 1:
                ranges[-1][1] = word
            else:
                ranges.append([word, word])
        memory = self.machine.memory.name
        return ", ".join(f"{memory}[{a}]" if a == b else f"{memory}[{a}..{b}]" for a, b in ranges)

    def user_sensitive(self, inst: ir.Instruction) -> Answer:
        """Sensitive for some state in the guest context (Theorem 3): control-sensitive there,
        location-sensitive among such states, or dependent there on other monitor-owned
        control state (a hybrid monitor runs virtual user mode directly on the real control
        state it owns, so such a read shows the guest the monitor's values).  The mode is
        fixed in the guest context, so mode-sensitivity does not count."""
        parts = [
            self.ask("user-sensitive", lambda: self.control_sensitive(inst, in_context=True)),
            self.ask("user-sensitive", lambda: self.location_sensitive(inst, in_context=True)),
            self.ask("user-sensitive", lambda: self.state_sensitive(
                inst, self.other_control, "user-sensitive", "declared control state", in_context=True)),
        ]
        for part in parts:
            if part.known:
                return attrs.evolve(part, question="user-sensitive")
        undecided = [p.undecided for p in parts if p.undecided is not None]
        if undecided:
            return Answer("user-sensitive", False, undecided="; ".join(undecided))
        return Answer("user-sensitive", False, proof="; ".join(str(p.proof) for p in parts))

    @staticmethod
    def ask(question: str, answer: Callable[[], Answer]) -> Answer:
        """`answer()`, or an undecided answer to `question` when z3 gives up on it."""
        try:
            return answer()
        except UndecidedError as error:
            return Answer(question, False, undecided=str(error))

    def question(self, inst: ir.Instruction, name: str) -> Answer:
        """The question `name` (one of the report's, in `QUESTIONS`) about `inst`."""
        if name == "privileged":
            return self.privileged(inst)
        if name == "control-sensitive":
            return self.control_sensitive(inst)
        if name == "mode-sensitive":
            return self.mode_sensitive(inst)
        if name == "location-sensitive":
            return self.location_sensitive(inst)
        if name == "control-state-sensitive":
            return self.state_sensitive(inst, self.other_control, name, "declared control state")
        if name == "user-sensitive":
            return self.user_sensitive(inst)
        assert name == "timing-sensitive", name
        return self.state_sensitive(inst, self.timing, name, "declared timing state")

    def ask_all(self, inst: ir.Instruction) -> dict[str, Answer]:
        """Every question about one instruction, in report order (one that z3 cannot decide is
        answered as undecided; the others are still asked)."""
        return {name: self.ask(name, functools.partial(self.question, inst, name)) for name in QUESTIONS}

    def offences(self, inst: ir.Instruction, answers: dict[str, Answer]) -> dict[str, Offence]:
        """Each sensitivity's offence (see `offence`)."""
        return {name: self.offence(inst, answers, name) for name in SENSITIVITIES}


# ---------------------------------------------------------------- the policy check (DESIGN §7)


@attrs.frozen
class PolicyMap:
    """A hypervisor policy's VM map, as the policy check needs it: the real mode each virtual
    mode runs in (deprivileged to the guest mode, or, with a virtualization extension, the
    guest's own), the control state the monitor owns while a guest runs (its values are the
    monitor's: pinned, or anything), and the instructions that exit to it."""

    technique: str
    guest_mode: int  # the real mode guest kernels are deprivileged to
    owned: tuple[StateItem, ...]  # monitor-owned control state (neither the mode nor the relocation)
    exits: frozenset[str] = frozenset()
    guest_modes: tuple[int, ...] = ()  # an extension's guest modes, when it has not every mode

    @property
    def native_modes(self) -> bool:
        return self.technique == "hardware_assisted"

    def real_mode(self, virtual: z3.BitVecRef) -> z3.BitVecRef:
        if self.native_modes:
            return virtual
        guest = z3.BitVecVal(self.guest_mode, virtual.size())
        return z3.If(z3.ULT(virtual, guest), guest, virtual)

    def direct_modes(self, virtual: z3.BitVecRef) -> list[z3.BoolRef]:
        """The virtual modes whose instructions the real machine runs directly."""
        if self.technique == "hybrid":  # the monitor interprets the guest's more privileged modes
            return [z3.UGE(virtual, self.guest_mode)]
        if self.native_modes and self.guest_modes:  # the monitor interprets the modes the hardware lacks
            return [z3.Or([virtual == mode for mode in self.guest_modes])]
        return []


def runs_directly(questions: Questions, inst: ir.Instruction, policy: PolicyMap) -> Answer:
    """Whether the real machine, running `inst` directly under the policy's VM map, gives the
    virtual machine's result: no virtual state (in a mode run directly, any operands) for which
    the real run completes without trapping and either the virtual machine would have trapped,
    or the results differ in the guest's state, or either run changed the monitor-owned state
    (the real run the monitor's values, the virtual one the guest's copy), the mode (beyond what
    the map allows), the relocation register, or the real run halted the processor.  On a machine
    that relocates, the guest sits anywhere in real memory, as in PG74's map: the real relocation
    base is the virtual one plus a partition offset (0 or not, both windows inside memory, never
    wrapping), and the real memory is the virtual memory moved up by it, so that an instruction
    that shows the guest R or a real address fails, as it is location-sensitive."""
    machine = questions.machine
    state, operands, base = questions.start(inst)
    virtual = state.mode
    base += policy.direct_modes(virtual)
    real_mode = policy.real_mode(virtual)
    real = swap_banks(machine, state, virtual, real_mode).evolve(mode=real_mode)
    for owned in policy.owned:
        real = real.with_item(owned, z3.BitVec(f"monitor.{owned.name}", owned.width(machine)))
    partition = Moved.of(machine, real, ("offset", "F_other", "E_real")) if machine.relocation else None
    if partition is not None:
        real = partition.state
        base.append(partition.inside)
    base += questions.context.constraints(real) if not policy.native_modes else []
    a = questions.run(inst, state, operands)
    b = questions.run(inst, real, operands)
    b_aligned = attrs.evolve(b, final=swap_banks(machine, b.final, virtual, real_mode))
    address = z3.BitVec("address", machine.address_width)
    excluded = [StateItem.mode(machine), *policy.owned]
    if partition is not None:
        # The bases differ by the offset; that neither run changes R is asked below.
        excluded.append(partition.base)
        base += [*partition.reads(b), partition.word(partition.address(address))]
    relocation = [StateItem(machine.relocation, mode_name=machine.mode_name)] if machine.relocation else []
    wrong = [
        a.trapped,  # the virtual machine traps: the monitor had to get control
        b.halted,  # the real processor stops
        questions.differs(a, b_aligned, excluded, address, partition),
        # the real run changed the monitor's state, or the virtual one changed the guest's copy of
        # it without the monitor hearing of it
        *[b.final.get(o) != real.get(o) for o in (*policy.owned, *relocation)],
        *[a.final.get(o) != state.get(o) for o in (*policy.owned, *relocation)],
    ]
    if policy.native_modes:
        wrong.append(b.final.mode != a.final.mode)
    else:
        wrong += [b.final.mode != real_mode, a.final.mode != virtual]
    question = base + [z3.Not(b.trapped), z3.Or(wrong)]
    model = questions.solve(question, f"whether {inst.name} runs directly under the policy")
    if model is None:
        return Answer("runs-directly", True, proof="every execution the real machine completes without a "
                      "trap gives the virtual machine's result (z3: unsat)")
    first = concrete_state(machine, model, state)
    offset = 0
    if partition is None:
        second = concrete_state(machine, model, real)
    else:
        # A failure that does not need the guest moved is shown with the guest unmoved; one that
        # does, with small numbers.
        if z3.is_true(model.eval(partition.shift != 0, model_completion=True)):
            model = questions.prefer(question, partition.shift == 0) or questions.smaller(
                question, model, [partition.shift, state.get(partition.base), *operands])
            first = concrete_state(machine, model, state)
        offset, second = partition.concrete(model, concrete_state(machine, model, partition.original))
    labels = [f"{side}, mode {questions.mode_name(start.mode)}"
              for side, start in (("virtual", first), ("real", second))]
    if offset:
        assert partition is not None
        where = partition.base.name
        labels = [f"{labels[0]}, {where} = {first.get(partition.base)}",
                  f"{labels[1]}, {where} = {second.get(partition.base)} (the partition at offset {offset})"]
    named, runs = questions.replay(inst, model, operands, list(zip(labels, (first, second), strict=True)))
    inside = partition is None or partition.fits(first, offset)
    questions.confirm(not runs[1].trapped and inside, inst, "runs directly",
                      "the real run traps" if inside else "the partition does not fit in memory")
    swap = bank_swap(machine, first.mode, second.mode)
    aligned = attrs.evolve(runs[1], after=runs[1].after.swapped(swap))
    if partition is None:
        found = questions.differences(runs[0], aligned, excluded)
        names = (found, found)
    else:
        names = questions.moved_differences(runs[0], aligned, excluded, offset)
    return Answer("runs-directly", False, Witness(named, runs, questions.shows(runs, names),
                                                  shift=offset or None, reads=questions.reads(model, [a, b])))
