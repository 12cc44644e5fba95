"""The single changes a design-space sweep tries, and how each is applied to the resolved IR.

Three documented families (`FAMILIES`), each a change an architect or a hypervisor writer can
make without redesigning the machine:

- **trap**: make an instruction trap (cause `privileged`) in the guest mode and the modes less
  privileged than it, before it does anything else: `if M >= GUEST { trap privileged }`;
- **pin**: have the monitor hold a piece of control state at a value while guests run (a control
  field or register of at most `PIN_WIDTH` bits, at each of its values): a pin of the guest context;
- **exit**: add an instruction to a virtualization extension's exit set (only under a
  hardware-assisted policy: elsewhere nothing exits).

A change is a small value (names and numbers): it travels to a worker as it is and is applied
there to the spec the worker compiled.  Nothing about an instruction is written down here: the
analysis decides what the changed isa is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem, control_items, item

FAMILIES = ("trap", "pin", "exit")
PIN_WIDTH = 2  # flags and small fields (x86 IOPL, RISC-V TVM): wider state is not pinned by a sweep


@attrs.frozen(order=True)
class Change:
    """One change: `trap NAME`, `pin ITEM = VALUE` or `exit NAME`."""

    family: str
    target: str  # an instruction, or a piece of state (`EFLAGS.IOPL`)
    value: int = 0  # the pinned value

    def text(self, mode: str) -> str:
        """The change as a sentence's clause, guests running in `mode`."""
        if self.family == "trap":
            return f"make {self.target} trap in {mode}"
        if self.family == "pin":
            return f"pin {self.target} = {self.value}"
        return f"make {self.target} exit"

    def __str__(self) -> str:
        return f"pin {self.target} = {self.value}" if self.family == "pin" else f"{self.family} {self.target}"


def describe(changes: Iterable[Change], mode: str) -> str:
    """A set of changes as one sentence: `pin EFLAGS.IOPL = 0 and make SGDT, SIDT and SMSW trap in ring3`."""
    chosen = sorted(changes)
    clauses = [c.text(mode) for c in chosen if c.family == "pin"]
    for family, verb in (("trap", f"trap in {mode}"), ("exit", "exit")):
        names = [c.target for c in chosen if c.family == family]
        if names:
            clauses.append(f"make {_listed(names)} {verb}")
    return _listed(clauses) if clauses else "change nothing"


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------- the candidates


def trap_changes(isa: ir.Isa, names: Iterable[str]) -> list[Change]:
    """Make each of the instructions `names` trap in the guest mode."""
    return [Change("trap", name) for name in names if isa.instruction(name) is not None]


def pin_changes(isa: ir.Isa, context: ir.GuestContext) -> list[Change]:
    """Every value of every control flag or small field not pinned yet (not the mode, nor the
    relocation register: the monitor sets those itself)."""
    machine = isa.machine
    pinned = [item(machine, p.target) for p in context.pins]
    found: list[Change] = []
    for candidate in _pinnable(machine):
        if any(p.covers(candidate) or candidate.covers(p) for p in pinned):
            continue
        width = candidate.width(machine)
        if width <= PIN_WIDTH:
            found.extend(Change("pin", candidate.name, value) for value in range(1 << width))
    return found


def _pinnable(machine: ir.Machine) -> list[StateItem]:
    """Control state a monitor could hold, field by field where a register has fields."""
    found: list[StateItem] = []
    for candidate in control_items(machine):
        if candidate.reg is None or candidate.reg == machine.relocation:
            continue
        reg = machine.register(candidate.reg) if candidate.field is None else None
        if reg is not None and reg.fields:
            found.extend(StateItem(reg.name, f, mode_name=machine.mode_name) for f in reg.fields)
        else:
            found.append(candidate)
    return found


def exit_changes(isa: ir.Isa, names: Iterable[str]) -> list[Change]:
    """Make each of the instructions `names` leave the guest (with a virtualization extension)."""
    extension = isa.virtualization
    if extension is None:
        return []
    return [Change("exit", name) for name in names
            if isa.instruction(name) is not None and name not in extension.exits]


# ---------------------------------------------------------------- applying them


def apply_changes(isa: ir.Isa, hypervisor: ir.Hypervisor | None,
                  changes: Sequence[Change]) -> tuple[ir.Isa, ir.Hypervisor | None]:
    """The isa (and the policy, when the sweep checks one) with `changes` made.  Pins go to the
    guest context the check uses: the policy's when there is one, else the isa's."""
    context = hypervisor.context if hypervisor is not None else isa.context
    guest = isa.machine.modes.index(context.mode)
    traps = {c.target for c in changes if c.family == "trap"}
    instructions = tuple(_trapping(i, isa.machine, guest) if i.name in traps else i for i in isa.instructions)
    isa = attrs.evolve(isa, instructions=instructions)
    exits = tuple(c.target for c in changes if c.family == "exit")
    if exits and isa.virtualization is not None:
        isa = attrs.evolve(isa, virtualization=attrs.evolve(
            isa.virtualization, exits=isa.virtualization.exits + exits))
    pins = tuple(ir.Pin(_state_ref(isa.machine, c.target), c.value) for c in changes if c.family == "pin")
    if pins:
        context = attrs.evolve(context, pins=context.pins + pins)
        if hypervisor is None:
            isa = attrs.evolve(isa, context=context)
    if hypervisor is not None:
        hypervisor = attrs.evolve(hypervisor, context=context,
                                  isa=isa if hypervisor.isa is not None else None)
    return isa, hypervisor


def _trapping(instruction: ir.Instruction, machine: ir.Machine, guest: int) -> ir.Instruction:
    """`if M >= guest { trap privileged }` before the instruction's own body (modes are numbered
    from the most privileged, so `>=` is the guest mode and those below it)."""
    width = machine.mode_width
    condition = ir.Binary(">=", ir.Mode(width), ir.Const(guest, width), 1)
    guard = ir.If(condition, (ir.Trap("privileged"),), ())
    return attrs.evolve(instruction, body=(guard, *instruction.body))


def _state_ref(machine: ir.Machine, name: str) -> ir.StateRef:
    reg, _, field = name.partition(".")
    return ir.StateRef(reg, field or None)


def state_item(machine: ir.Machine, name: str) -> StateItem:
    """The piece of state a pin change names."""
    return item(machine, _state_ref(machine, name))
