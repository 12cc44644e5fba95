"""What binary translation patches and paravirtualization replaces: the guest instructions that
would not give the virtual machine's result if the real machine ran them.

In code the guest runs in a virtual mode more privileged than the guest mode (its kernel, run
deprivileged) they are Theorem 1's offenders in the monitor's guest context: sensitive and not
privileged.  In its other modes (its user mode, run in the real mode it names) they are Theorem
3's: sensitive to the state the monitor owns and not privileged.  Both are decided per
instruction *with its operand values* (an instruction is an opcode with its operands: a `CSRRW`
of a user CSR is run directly even though `CSRRW` of `mstatus` is patched).  A policy may name them instead
(`hypercalls { ... }`): then exactly those mnemonics are replaced.  The analysis runs only for
instructions a guest actually executes or contains, and each answer is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import attrs

from vdsl.ir import nodes as ir


class Patcher:
    """Decides, and remembers, which (instruction, operands) the monitor must run itself."""

    def __init__(self, isa: ir.Isa, context: ir.GuestContext, names: Sequence[str] | None = None) -> None:
        self.isa = attrs.evolve(isa, context=context)
        self.names = frozenset(names) if names is not None else None
        self.by_name: dict[tuple[str, str], bool | None] = {}
        self.by_operands: dict[tuple[str, tuple[int, ...], str], bool] = {}

    def needed(self, instruction: ir.Instruction, operands: tuple[int, ...], kernel: bool = True) -> bool:
        """Whether the monitor must run this instruction in the guest's place, in code its kernel
        runs (`kernel`) or in code its user mode runs."""
        if self.names is not None:
            return instruction.name in self.names
        theorem = "T1" if kernel else "T3"
        key = (instruction.name, operands, theorem)
        found = self.by_operands.get(key)
        if found is None:
            found = self._decide(instruction, operands, theorem)
            self.by_operands[key] = found
        return found

    def anywhere(self, instruction: ir.Instruction, operands: tuple[int, ...]) -> bool:
        """Whether it is needed in some mode (a paravirtual guest is rewritten before it runs)."""
        return self.needed(instruction, operands, True) or self.needed(instruction, operands, False)

    def _decide(self, instruction: ir.Instruction, operands: tuple[int, ...], theorem: str) -> bool:
        from vdsl.analysis.classify import any_known, classify_instruction, guest_context  # z3, when needed
        from vdsl.analysis.questions import T1_SENSITIVITIES, Questions

        questions = Questions(self.isa, guest_context(self.isa))
        if (instruction.name, theorem) not in self.by_name:
            report = classify_instruction(questions, instruction)
            self.by_name[(instruction.name, theorem)] = report.offends(theorem)
        offends = self.by_name[(instruction.name, theorem)]
        if offends is False:
            return False
        if not instruction.operands or offends is None:
            return True  # an undecided question: patch, so that the guest stays correct
        fixed = questions.restricted(lambda values: [v == o for v, o in zip(values, operands, strict=True)])
        sensitivities = T1_SENSITIVITIES if theorem == "T1" else ("user-sensitive",)
        answers = {q: fixed.ask(q, functools.partial(fixed.question, instruction, q))
                   for q in ("privileged", *sensitivities)}
        offences = [fixed.offence(instruction, answers, s).known for s in sensitivities]
        return any_known(offences) is not False
