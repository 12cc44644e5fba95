"""Where machine state lives: the pieces of state that definitions, monitors and reports
name, and how registers made of fields are laid out in memory words.

A `StateItem` is the mode, a whole register, or one field of a register.  The analysis
reads it from symbolic states, the emulator and the monitor from concrete ones; both go
through the item, so they look at the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs

from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask


@attrs.frozen
class StateItem:
    """The mode (`reg` None), a whole register (`field` None), or a register's field."""

    reg: str | None
    field: ir.RegisterField | None = None
    mode_name: str = attrs.field(default="M", eq=False)  # what the machine calls its mode register

    @classmethod
    def mode(cls, machine: ir.Machine) -> StateItem:
        return cls(None, mode_name=machine.mode_name)

    @property
    def is_mode(self) -> bool:
        return self.reg is None

    @property
    def name(self) -> str:
        if self.reg is None:
            return self.mode_name
        return f"{self.reg}.{self.field.name}" if self.field else self.reg

    def width(self, machine: ir.Machine) -> int:
        if self.reg is None:
            return machine.mode_width
        if self.field is not None:
            return self.field.width
        reg = machine.register(self.reg)
        assert reg is not None
        return reg.width

    def covers(self, other: StateItem) -> bool:
        """Whether every bit of `other` belongs to this item."""
        if self.reg != other.reg:
            return False
        return self.field is None or self.field == other.field


def compared_bits(machine: ir.Machine, excluded: Sequence[StateItem]) -> list[tuple[int, ir.Register, int]]:
    """(index, register, mask of the bits compared) for every register with bits outside the
    excluded items: the one definition of "outside" for symbolic and concrete comparisons."""
    compared = []
    for index, reg in enumerate(machine.registers):
        keep = 0 if any(i.reg == reg.name and i.field is None for i in excluded) else (1 << reg.width) - 1
        for excluded_item in excluded:
            if excluded_item.reg == reg.name and excluded_item.field is not None:
                keep &= ~(((1 << excluded_item.field.width) - 1) << excluded_item.field.lo)
        if keep:
            compared.append((index, reg, keep))
    return compared


def item(machine: ir.Machine, ref: ir.StateRef) -> StateItem:
    """The item a state reference (`M`, `R`, `R.base`) names; the resolver has checked it."""
    if ref.reg == machine.mode_name and ref.field is None:
        return StateItem.mode(machine)
    reg = machine.register(ref.reg)
    assert reg is not None
    field = reg.field(ref.field) if ref.field else None
    assert ref.field is None or field is not None
    return StateItem(reg.name, field, mode_name=machine.mode_name)


def is_packed(reg: ir.Register) -> bool:
    """A register made entirely of fields (like R = (base, bound)): it is stored as one
    memory word per field, and reports show it field by field."""
    return bool(reg.fields) and sum(f.width for f in reg.fields) == reg.width


def psw_words(ref: ir.StateRef, registers: dict[str, ir.Register]) -> list[ir.StateRef]:
    """How a state reference is laid out in memory words: one word per field of a packed
    register, else one word."""
    reg = registers.get(ref.reg)
    if ref.field is None and reg is not None and is_packed(reg):
        return [ir.StateRef(reg.name, f.name, span=ref.span) for f in reg.fields]
    return [ref]


def psw_items(machine: ir.Machine, refs: tuple[ir.StateRef, ...]) -> list[StateItem]:
    """The items of a trap PSW, one per memory word."""
    registers = {r.name: r for r in machine.registers}
    return [item(machine, word) for ref in refs for word in psw_words(ref, registers)]


def trap_words(machine: ir.Machine) -> frozenset[int]:
    """The memory words of the trap mechanism (the saved PSW, the new PSW, the cause, what its
    `entry` block reaches from the reset state): a monitor owns them, and a guest that can
    write them can take the machine."""
    trap = machine.trap
    if trap is None:
        return frozenset()
    words = set(range(trap.save_at, trap.save_at + len(psw_items(machine, trap.save))))
    words |= set(range(trap.load_at, trap.load_at + len(psw_items(machine, trap.load))))
    if trap.cause_at is not None:
        words.add(trap.cause_at)
    if trap.entry:
        from vdsl.emulator.traps import entry_words  # the entry block's words, found by running it

        words |= entry_words(machine)
    return frozenset(words)


def _items_of_kind(machine: ir.Machine, kind: str, whole: str | None = None) -> list[StateItem]:
    """Registers of a kind (and the register named `whole`) as whole items; else their fields of it."""
    items = []
    for reg in machine.registers:
        if reg.kind == kind or reg.name == whole:
            items.append(StateItem(reg.name, mode_name=machine.mode_name))
        else:
            items.extend(StateItem(reg.name, f, mode_name=machine.mode_name)
                         for f in reg.fields if f.kind == kind)
    return items


def control_items(machine: ir.Machine) -> list[StateItem]:
    """The mode, control registers, control fields and the relocation register."""
    return [StateItem.mode(machine), *_items_of_kind(machine, "control", machine.relocation)]


def unshadowed(machine: ir.Machine, control: StateItem, shadowed: Sequence[StateItem]) -> list[StateItem]:
    """The parts of a piece of control state that a virtualization extension's `shadow` list
    leaves to the monitor: none when one item covers it, the bits outside the shadowed fields
    (as runs of bits) when it is a register some of whose fields are shadowed, else all of it."""
    if any(s.covers(control) for s in shadowed):
        return []
    inside = [s.field for s in shadowed if s.reg == control.reg and s.field is not None]
    if control.reg is None or control.field is not None or not inside:
        return [control]
    reg = machine.register(control.reg)
    assert reg is not None
    kept = mask(reg.width)
    for field in inside:
        kept &= ~(mask(field.width) << field.lo)
    runs: list[StateItem] = []
    lo = 0
    while lo < reg.width:
        if not kept >> lo & 1:
            lo += 1
            continue
        hi = lo
        while hi + 1 < reg.width and kept >> (hi + 1) & 1:
            hi += 1
        bits = ir.RegisterField(f"[{hi}:{lo}]", lo, hi - lo + 1, reg.kind)
        runs.append(StateItem(reg.name, bits, mode_name=machine.mode_name))
        lo = hi + 1
    return runs


def timing_items(machine: ir.Machine) -> list[StateItem]:
    """Timing registers and timing fields."""
    return _items_of_kind(machine, "timing")


def register_items(machine: ir.Machine) -> Iterator[StateItem]:
    """Every register as items, split into its fields where it has fields, with the whole
    register too when the fields leave bits uncovered (for reports and diffs)."""
    for reg in machine.registers:
        if reg.fields:
            yield from (StateItem(reg.name, f, mode_name=machine.mode_name) for f in reg.fields)
            if not is_packed(reg):
                yield StateItem(reg.name, mode_name=machine.mode_name)
        else:
            yield StateItem(reg.name, mode_name=machine.mode_name)


def bank_swap(machine: ir.Machine, first: int, second: int) -> dict[str, str]:
    """The copies of banked registers that trade places when mode `first` becomes `second`,
    each way: a state in mode `second` whose copies are swapped so reads the same as one in
    mode `first`.  Empty without banked registers, or when both modes select the same copies."""
    swap: dict[str, str] = {}
    for bank in machine.banks:
        a, b = bank.copy(first), bank.copy(second)
        if a != b:
            swap[a], swap[b] = b, a
    return swap
