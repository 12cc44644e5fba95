"""The VM map f: how a guest's virtual machine state is placed on the real machine.

While a guest runs, the real machine holds the guest's own state (its general registers,
its pc, its memory in its partition) and the monitor's: the mode is the guest's virtual
mode deprivileged to the policy's guest mode (never more privileged), the relocation
register is the guest's virtual one moved into its partition, and every other piece of
control state holds the monitor's value (a pin, else its value when the monitor booted).
The monitor keeps the guest's virtual mode, relocation and control state itself.  Banked
registers read alike: the copies the real mode selects hold the guest's copies for its virtual
mode (and the other way round), so a guest kernel deprivileged to user mode sees its own stack
pointer, not its user one.
"""

from __future__ import annotations

import attrs

from vdsl.emulator.state import MachineState
from vdsl.errors import RunError
from vdsl.ir import nodes as ir
from vdsl.ir.layout import bank_swap, control_items, item
from vdsl.monitor.allocator import Allocator, Partition
from vdsl.semantics.bits import mask


@attrs.frozen
class VmMap:
    """f for one guest: its partition, its real mode, and the state the monitor owns."""

    machine: ir.Machine
    partition: Partition
    guest_mode: int  # the real mode the guest's most privileged modes are deprivileged to
    owned: tuple[int, ...]  # per register: the bits the monitor owns (control state, R)
    monitor_values: tuple[int, ...]  # per register: the monitor's values of those bits
    allocator: Allocator
    relocation_index: int | None = None  # the relocation register's slot
    native_modes: bool = False  # a virtualization extension: the guest runs, and changes, its own modes

    @classmethod
    def build(cls, machine: ir.Machine, partition: Partition, context: ir.GuestContext,
              allocator: Allocator, extension: ir.Virtualization | None = None) -> VmMap:
        """With a virtualization `extension` the guest runs in its own modes, and the state the
        hardware shadows for it is its own; the monitor owns the rest of the control state."""
        owned = [0] * len(machine.registers)
        for control in control_items(machine):
            if control.reg is None:
                continue  # the mode is mapped, not owned bit for bit
            index = machine.register_index(control.reg)
            reg = machine.registers[index]
            field = control.field
            owned[index] |= mask(reg.width) if field is None else mask(field.width) << field.lo
        for ref in extension.shadow if extension is not None else ():
            shadowed = item(machine, ref)
            assert shadowed.reg is not None
            index = machine.register_index(shadowed.reg)
            field = shadowed.field
            owned[index] &= ~(mask(machine.registers[index].width) if field is None
                              else mask(field.width) << field.lo)
        boot = MachineState.empty(machine)
        for pin in context.pins:
            boot.set(item(machine, pin.target), pin.value)
        relocation = machine.register_index(machine.relocation) if machine.relocation else None
        guest_mode = 0 if extension is not None else machine.modes.index(context.mode)
        return cls(machine, partition, guest_mode, tuple(owned),
                   tuple(boot.slots[:len(machine.registers)]), allocator, relocation,
                   native_modes=extension is not None)

    def real_mode(self, virtual_mode: int) -> int:
        """Modes more privileged than the guest mode run in the guest mode (ring compression)."""
        return max(virtual_mode, self.guest_mode)

    def real_relocation(self, virtual: MachineState) -> int | None:
        """The real value of the relocation register for this virtual state (None: no relocation)."""
        machine = self.machine
        index = self.relocation_index
        if index is None:
            return None
        real = self.allocator.relocation(self.partition, virtual.slots[index])
        if real is None:
            raise RunError(f"guest {self.partition.guest}: its relocation base moved into its partition "
                           f"(at {self.partition.offset}) does not fit register {machine.relocation}")
        return real

    def enter(self, virtual: MachineState, real: MachineState) -> None:
        """Load the real machine for the guest: its own state, the monitor's control state."""
        slots = real.slots
        own = self.banked(virtual).slots
        for index, (owned, monitor) in enumerate(zip(self.owned, self.monitor_values, strict=True)):
            slots[index] = (own[index] & ~owned) | (monitor & owned)
        slots[real.mode_index] = self.real_mode(virtual.mode)
        relocation = self.real_relocation(virtual)
        if relocation is not None and self.relocation_index is not None:
            slots[self.relocation_index] = relocation

    def leave(self, real: MachineState, virtual: MachineState) -> None:
        """Take the guest's own state back from the real machine (the monitor keeps the rest)."""
        slots = virtual.slots
        swap = self.swap(virtual)
        own = real.swapped(swap).slots if swap else real.slots
        for index, owned in enumerate(self.owned):
            slots[index] = (own[index] & ~owned) | (slots[index] & owned)
        if self.native_modes:  # the guest's own mode changes are its own
            slots[virtual.mode_index] = real.mode

    def swap(self, virtual: MachineState) -> dict[str, str]:
        """The banked copies that trade places between the virtual mode and the real one: the
        real machine's copies for its mode hold the guest's copies for its virtual mode."""
        return bank_swap(self.machine, virtual.mode, self.real_mode(virtual.mode))

    def banked(self, virtual: MachineState) -> MachineState:
        """The virtual state with its banked copies where the real mode reads them."""
        swap = self.swap(virtual)
        return virtual.swapped(swap) if swap else virtual

    def unexpected(self, virtual: MachineState, real: MachineState) -> list[str]:
        """The mode and relocation changes the real machine shows that the monitor did not make."""
        found = []
        if real.mode != self.real_mode(virtual.mode) and not self.native_modes:
            found.append(self.machine.mode_name)
        relocation = self.real_relocation(virtual)
        index = self.relocation_index
        if relocation is not None and index is not None and real.slots[index] != relocation:
            found.append(self.machine.relocation or "")
        return found
