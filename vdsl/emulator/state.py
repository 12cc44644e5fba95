"""Concrete machine state and loading a program into it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem, compared_bits, item, psw_items
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

    def swapped(self, swap: dict[str, str]) -> MachineState:
        """A copy with the registers of `swap` (a `bank_swap`) traded."""
        result = self.copy()
        index = self.machine.register_index
        for name, other in swap.items():
            result.slots[index(name)] = self.slots[index(other)]
        return result

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
            # Only instruction semantics (and the trap mechanism, compiled like them) turn an
            # arbitrary value into a mode; here the value must already name one.
            if not 0 <= value < len(self.machine.modes):
                raise ValueError(f"there is no mode number {value} in machine '{self.machine.name}'")
            self.slots[self.mode_index] = value
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


@attrs.frozen
class Difference:
    """One place where two states differ: a field, the bits of a register outside its
    fields (or a whole register without fields), the mode, or a memory word."""

    where: str  # "A", "EFLAGS.IF", "M", "E[12]"
    first: int
    second: int
    item: StateItem | None = None  # None for a memory word
    address: int | None = None


def differences(first: MachineState, second: MachineState, excluded: Sequence[StateItem] = (),
                addresses: Iterable[int] | None = None) -> list[Difference]:
    """Where two states of one machine differ, outside the excluded items: registers field by
    field, the mode, and the memory words at `addresses` (default: all of them).  The one
    definition of a state diff: witnesses, traces and the monitor's equivalence check use it."""
    machine = first.machine
    found: list[Difference] = []
    for index, reg, keep in compared_bits(machine, excluded):
        changed = (first.slots[index] ^ second.slots[index]) & keep
        if not changed:
            continue
        other = changed
        for field in reg.fields:
            bits = mask(field.width) << field.lo
            other &= ~bits
            if changed & bits:
                field_item = StateItem(reg.name, field, mode_name=machine.mode_name)
                found.append(Difference(field_item.name, first.get(field_item), second.get(field_item),
                                        field_item))
        if other:
            whole = StateItem(reg.name, mode_name=machine.mode_name)
            found.append(Difference(reg.name, first.slots[index], second.slots[index], whole))
    if not any(i.is_mode for i in excluded) and first.mode != second.mode:
        found.append(Difference(machine.mode_name, first.mode, second.mode, StateItem.mode(machine)))
    words = range(len(first.memory)) if addresses is None else sorted(set(addresses))
    name = machine.memory.name
    found.extend(Difference(f"{name}[{a}]", first.memory[a], second.memory[a], address=a)
                 for a in words if first.memory[a] != second.memory[a])
    return found


def load_program(isa: ir.Isa, program: ir.Program) -> MachineState:
    """The machine state a program starts in: code and data in memory, inits applied."""
    machine = isa.machine
    state = MachineState.empty(machine)
    for placed in program.instructions:
        inst = isa.instruction(placed.name)
        assert inst is not None
        words = inst.words(placed.operands)
        state.memory[placed.address:placed.address + len(words)] = list(words)
    for address, value in program.data:
        state.memory[address] = value
    state.slots[state.mode_index] = machine.modes.index(program.start_mode)
    state.set(ir.StateRef(machine.pc), program.entry)
    for init in program.inits:
        state.set(init.target, init.value)
    return state
