"""Which instruction a memory word starts: the one definition the emulator, the monitor and the
trace share.

An isa without encodings is decoded by opcode: the word is the instruction's index.  An isa
with encodings is decoded by pattern: the word's fixed bits match at most one instruction
(the resolver has checked that no two patterns overlap).  A word's instruction is looked up
once and remembered, so a hot loop does not scan the patterns again.
"""

from __future__ import annotations

from collections.abc import Sequence

from vdsl.ir import nodes as ir


class Decoder:
    """Finds an isa's instruction by the first word it occupies."""

    def __init__(self, isa: ir.Isa) -> None:
        self.instructions = isa.instructions
        self.patterns = tuple((inst.encoding.mask, inst.encoding.value, inst)
                              for inst in isa.instructions if inst.encoding is not None)
        self.matched: dict[int, ir.Instruction | None] = {}

    def instruction(self, word: int) -> ir.Instruction | None:
        """The instruction whose first word `word` is; None: no instruction (an illegal word)."""
        if not self.patterns:
            return self.instructions[word] if word < len(self.instructions) else None
        if word not in self.matched:
            self.matched[word] = next((inst for mask, value, inst in self.patterns if word & mask == value),
                                      None)
        return self.matched[word]

    def at(self, memory: Sequence[int], address: int) -> tuple[ir.Instruction, tuple[int, ...]] | None:
        """The instruction at `address` and its operand values, when it has one and all its words
        lie in memory."""
        if not 0 <= address < len(memory):
            return None
        inst = self.instruction(memory[address])
        if inst is None or address + inst.size > len(memory):
            return None
        return inst, inst.operand_values(memory[address:address + inst.size])
