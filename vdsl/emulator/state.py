"""Concrete machine state and loading a program into it."""

from __future__ import annotations

from typing import Any

import attrs

from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem, item, psw_items
from vdsl.semantics.bits import extract, insert, mask

StateRefOrItem = ir.StateRef | StateItem


@attrs.define
class MachineState:
    """Registers, then the mode, in `slots`; `memory` is the physical memory E."""

    machine: ir.Machine
    slots: list[int]
    memory: list[int]

    @classmethod
    def empty(cls, machine: ir.Machine) -> MachineState:
        slots = [0] * (len(machine.registers) + 1)
        state = cls(machine, slots, [0] * machine.memory.size)
        if machine.relocation is not None:
            # Until a program says otherwise, relocation covers all of memory.
            reg = machine.register(machine.relocation)
            assert reg is not None
            bound = reg.field("bound")
            assert bound is not None
            state.set(ir.StateRef(reg.name, bound.name), min(machine.memory.size, mask(bound.width)))
        return state

    @property
    def mode_index(self) -> int:
        return len(self.machine.registers)

    @property
    def mode(self) -> int:
        return self.slots[self.mode_index]

    def copy(self) -> MachineState:
        return MachineState(self.machine, list(self.slots), list(self.memory))

    def _item(self, ref: StateRefOrItem) -> StateItem:
        return ref if isinstance(ref, StateItem) else item(self.machine, ref)

    def get(self, ref: StateRefOrItem) -> int:
        """The value of the mode, a register or a field."""
        found = self._item(ref)
        if found.reg is None:
            return self.mode
        value = self.slots[self.machine.register_index(found.reg)]
        return value if found.field is None else extract(value, found.field.lo, found.field.width)

    def set(self, ref: StateRefOrItem, value: int) -> None:
        """Set the mode (a mode's index), a register or a field (the value is cut to its width)."""
        found = self._item(ref)
        if found.reg is None:
            least_privileged = len(self.machine.modes) - 1
            self.slots[self.mode_index] = min(value & mask(self.machine.mode_width), least_privileged)
            return
        index = self.machine.register_index(found.reg)
        reg = self.machine.registers[index]
        if found.field is None:
            self.slots[index] = value & mask(reg.width)
        else:
            self.slots[index] = insert(self.slots[index], reg.width, found.field.lo, value, found.field.width)

    def psw(self, refs: tuple[ir.StateRef, ...]) -> list[StateItem]:
        """The items of a trap PSW, one per memory word."""
        return psw_items(self.machine, refs)

    def registers_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for index, reg in enumerate(self.machine.registers):
            value = self.slots[index]
            if reg.fields:
                fields = {f.name: extract(value, f.lo, f.width) for f in reg.fields}
                result[reg.name] = {"value": value, "fields": fields}
            else:
                result[reg.name] = value
        return result


def load_program(isa: ir.Isa, program: ir.Program) -> MachineState:
    """The machine state a program starts in: code and data in memory, inits applied."""
    machine = isa.machine
    state = MachineState.empty(machine)
    for placed in program.instructions:
        inst = isa.instruction(placed.name)
        assert inst is not None
        words = (inst.opcode, *placed.operands)
        state.memory[placed.address:placed.address + len(words)] = list(words)
    for address, value in program.data:
        state.memory[address] = value
    state.slots[state.mode_index] = machine.modes.index(program.start_mode)
    state.set(ir.StateRef(machine.pc), program.entry)
    for init in program.inits:
        state.set(init.target, init.value)
    return state
