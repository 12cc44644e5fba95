"""Binary translation: guest-supervisor code is translated a block at a time before it runs.

A block is a straight run of the guest's instructions from where control enters it to the
first one that may jump (the emulator's own block boundary), at most `MAX_BLOCK` long.
Translating it decides, per instruction with its operand values, whether the real machine may
run it (most) or whether it becomes a call into the monitor (the `Patcher`'s offenders).  The
translation cache keeps each block with the code words it was translated from; a block whose
words the guest has since changed is dropped and translated again (an invalidation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from vdsl.ir import nodes as ir
from vdsl.monitor.results import GuestCounters, Translated, TranslatedBlock
from vdsl.semantics.concrete import ends_block

MAX_BLOCK = 64

Decode = Callable[[Sequence[int], int], "tuple[ir.Instruction, tuple[int, ...]] | None"]


@attrs.define
class _Entry:
    block: TranslatedBlock
    words: tuple[int, ...]  # the code words it was translated from
    hits: int = 0


class Translator:
    """One guest's translation cache."""

    def __init__(self, machine: ir.Machine, decode: Decode,
                 patch: Callable[[ir.Instruction, tuple[int, ...]], bool]) -> None:
        self.machine = machine
        self.decode = decode
        self.patch = patch
        self.blocks: dict[int, _Entry] = {}  # by the address a block starts at
        self.inside: dict[int, tuple[int, int]] = {}  # an instruction's address -> (block, index)
        self.history: list[_Entry] = []  # every block translated, in order

    def lookup(self, memory: Sequence[int], address: int,
               counters: GuestCounters) -> Translated | None:
        """The translated instruction at `address` (None: nothing decodes there; the monitor
        interprets it, and the fault it takes is the guest's)."""
        where = self.inside.get(address)
        if where is not None:
            entry = self.blocks.get(where[0])
            if entry is not None and self.unchanged(memory, where[0], entry):
                entry.hits += 1
                counters.hits += 1
                return entry.block.instructions[where[1]]
            if entry is not None:
                self.drop(where[0])
                counters.invalidations += 1
        entry = self.translate(memory, address)
        if entry is None:
            return None
        counters.blocks += 1
        counters.translated += len(entry.block.instructions)
        return entry.block.instructions[0]

    def unchanged(self, memory: Sequence[int], start: int, entry: _Entry) -> bool:
        return tuple(memory[start:start + len(entry.words)]) == entry.words

    def drop(self, start: int) -> None:
        entry = self.blocks.pop(start)
        for item in entry.block.instructions:
            if self.inside.get(item.address, (None,))[0] == start:
                del self.inside[item.address]

    def translate(self, memory: Sequence[int], start: int) -> _Entry | None:
        items: list[Translated] = []
        address = start
        while len(items) < MAX_BLOCK and address < len(memory):
            found = self.decode(memory, address)
            if found is None:
                break
            instruction, operands = found
            items.append(Translated(address, instruction.name, operands, self.patch(instruction, operands)))
            address += instruction.size
            if ends_block(self.machine, instruction, operands):
                break
        if not items:
            return None
        entry = _Entry(TranslatedBlock(start, tuple(items)), tuple(memory[start:address]))
        if start in self.blocks:
            self.drop(start)
        self.blocks[start] = entry
        self.history.append(entry)
        for index, item in enumerate(items):
            self.inside.setdefault(item.address, (start, index))
        return entry

    def translations(self) -> tuple[TranslatedBlock, ...]:
        """Every block translated, with the cache hits it served."""
        return tuple(attrs.evolve(e.block, hits=e.hits) for e in self.history)
