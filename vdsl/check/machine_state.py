"""Machine state for the analysis: symbolic (z3) states, their concrete twins, and the
pieces of state the definitions talk about (the mode, control state, timing state).

A `StateItem` is one piece of state the definitions name: the mode, a whole register,
or one field of a register.  The same item reads a symbolic state and a concrete one,
so that a question asked of z3 and its replay on the emulator look at the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import z3

from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.semantics.concrete import TRAPPED, compile_instruction, mask
from vdsl.semantics.evaluator import MEMORY_CAUSE, Evaluator, Outcome
from vdsl.semantics.symbolic import Z3Domain


@attrs.frozen
class StateItem:
    """The mode (`reg` None), a whole register (`field` None), or a register's field."""

    reg: str | None
    field: ir.RegisterField | None = None
    mode_name: str = "M"  # what the machine calls its mode register

    @classmethod
    def mode(cls, machine: ir.Machine) -> StateItem:
        return cls(None, mode_name=machine.mode_name)

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

    def symbolic(self, state: SymbolicState) -> z3.BitVecRef:
        if self.reg is None:
            return state.mode
        value = state.registers[self.reg]
        if self.field is None:
            return value
        return z3.Extract(self.field.lo + self.field.width - 1, self.field.lo, value)

    def concrete(self, state: MachineState) -> int:
        if self.reg is None:
            return state.mode
        value = state.slots[state.machine.register_index(self.reg)]
        if self.field is None:
            return value
        return (value >> self.field.lo) & mask(self.field.width)


def control_items(machine: ir.Machine) -> list[StateItem]:
    """The mode, control registers, control fields and the relocation register."""
    items = [StateItem.mode(machine)]
    for reg in machine.registers:
        if reg.kind == "control" or reg.name == machine.relocation:
            items.append(StateItem(reg.name))
        else:
            items.extend(StateItem(reg.name, f) for f in reg.fields if f.kind == "control")
    return items


def timing_items(machine: ir.Machine) -> list[StateItem]:
    items = []
    for reg in machine.registers:
        if reg.kind == "timing":
            items.append(StateItem(reg.name))
        else:
            items.extend(StateItem(reg.name, f) for f in reg.fields if f.kind == "timing")
    return items


def state_ref_item(machine: ir.Machine, ref: ir.StateRef) -> StateItem:
    if ref.reg == machine.mode_name and ref.field is None:
        return StateItem.mode(machine)
    reg = machine.register(ref.reg)
    assert reg is not None
    return StateItem(reg.name, reg.field(ref.field) if ref.field else None)


# ---------------------------------------------------------------- symbolic states


@attrs.frozen
class SymbolicState:
    registers: dict[str, z3.BitVecRef]
    mode: z3.BitVecRef
    memory: z3.ArrayRef

    def evolve(self, **changes: object) -> SymbolicState:
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def with_item(self, item: StateItem, value: z3.BitVecRef) -> SymbolicState:
        """This state with one item replaced (the bits of a field, a register, the mode)."""
        if item.reg is None:
            return self.evolve(mode=value)
        registers = dict(self.registers)
        old = registers[item.reg]
        if item.field is None:
            registers[item.reg] = value
        else:
            lo, width, total = item.field.lo, item.field.width, old.size()
            parts = ([z3.Extract(total - 1, lo + width, old)] if lo + width < total else []) + [value] \
                + ([z3.Extract(lo - 1, 0, old)] if lo > 0 else [])
            registers[item.reg] = parts[0] if len(parts) == 1 else z3.Concat(*parts)
        return self.evolve(registers=registers)


def fresh_state(machine: ir.Machine, tag: str) -> SymbolicState:
    registers = {r.name: z3.BitVec(f"{tag}.{r.name}", r.width) for r in machine.registers}
    memory = z3.Array(f"{tag}.{machine.memory.name}", z3.BitVecSort(machine.address_width),
                      z3.BitVecSort(machine.memory.width))
    return SymbolicState(registers, z3.BitVec(f"{tag}.M", machine.mode_width), memory)


def fresh_operands(instruction: ir.Instruction, tag: str) -> list[z3.BitVecRef]:
    return [z3.BitVec(f"{tag}.{o.name}", o.width or 1) for o in instruction.operands]


def valid(machine: ir.Machine, instruction: ir.Instruction, state: SymbolicState,
          operands: list[z3.BitVecRef]) -> list[z3.BoolRef]:
    """What every state and operand list must satisfy: a mode that exists, and register
    operands that name general registers (anything else is an illegal instruction)."""
    constraints = [z3.ULT(state.mode, len(machine.modes))] if len(machine.modes) < 1 << machine.mode_width \
        else []
    general = [machine.register_index(r.name) for r in machine.general_registers]
    for operand, value in zip(instruction.operands, operands, strict=True):
        if operand.kind == "reg":
            constraints.append(z3.Or([value == index for index in general]))
    return constraints


@attrs.frozen
class SymbolicRun:
    """One symbolic execution: where it started, the outcome, and the final state."""

    start: SymbolicState
    outcome: Outcome[z3.BitVecRef, z3.ArrayRef]
    final: SymbolicState

    @property
    def trapped(self) -> z3.BoolRef:
        return self.outcome.trapped == 1

    @property
    def memory_trapped(self) -> z3.BoolRef:
        return z3.And(self.outcome.trapped == 1, self.outcome.cause == MEMORY_CAUSE)

    @property
    def halted(self) -> z3.BoolRef:
        return self.outcome.halted == 1


def run_symbolic(machine: ir.Machine, instruction: ir.Instruction, state: SymbolicState,
                 operands: list[z3.BitVecRef]) -> SymbolicRun:
    domain = Z3Domain(machine, state.registers, state.mode, state.registers[machine.pc], operands,
                      state.memory)
    outcome = Evaluator(machine, domain).run(instruction)
    registers = dict(state.registers)
    for name in outcome.written:
        registers[name] = outcome.registers[name]
    registers[machine.pc] = outcome.next_pc
    mode = outcome.mode if outcome.mode is not None else state.mode
    return SymbolicRun(state, outcome, SymbolicState(registers, mode, outcome.memory))


# ---------------------------------------------------------------- concrete states


def concrete_state(machine: ir.Machine, model: z3.ModelRef, state: SymbolicState) -> MachineState:
    """The concrete state a model gives a symbolic one (memory beyond the model: its default)."""
    concrete = MachineState(machine, [0] * (len(machine.registers) + 1), [0] * machine.memory.size)
    for index, reg in enumerate(machine.registers):
        concrete.slots[index] = model.eval(state.registers[reg.name], model_completion=True).as_long()
    concrete.slots[concrete.mode_index] = model.eval(state.mode, model_completion=True).as_long()
    concrete.memory[:] = concrete_memory(machine, model, state.memory)
    return concrete


def concrete_memory(machine: ir.Machine, model: z3.ModelRef, memory: z3.ArrayRef) -> list[int]:
    value = model.eval(memory, model_completion=True)
    stores: list[tuple[int, int]] = []
    while z3.is_store(value):
        stores.append((value.arg(1).as_long(), value.arg(2).as_long()))
        value = value.arg(0)
    default = value.arg(0).as_long() if z3.is_const_array(value) else 0
    words = [default] * machine.memory.size
    for address, word in reversed(stores):  # the outermost store is the last one made
        if address < machine.memory.size:
            words[address] = word
    return words


@attrs.frozen
class ConcreteRun:
    """One instruction executed on the emulator's compiled code."""

    label: str
    before: MachineState
    after: MachineState
    cause: str | None  # the trap cause, or None
    halted: bool

    @property
    def trapped(self) -> bool:
        return self.cause is not None

    @property
    def memory_trapped(self) -> bool:
        return self.cause == ir.BUILTIN_CAUSES[MEMORY_CAUSE]


def run_concrete(machine: ir.Machine, instruction: ir.Instruction, operands: tuple[int, ...],
                 state: MachineState, label: str) -> ConcreteRun:
    after = state.copy()
    status = compile_instruction(machine, instruction, operands)(after.slots, after.memory, {}, None)
    cause = machine.causes[status - TRAPPED] if status >= TRAPPED else None
    return ConcreteRun(label, state, after if cause is None else state.copy(), cause, status == 1)


def register_items(machine: ir.Machine) -> Iterator[StateItem]:
    """Every register as an item, split into fields where it has fields (for reports)."""
    for reg in machine.registers:
        if reg.fields:
            yield from (StateItem(reg.name, f) for f in reg.fields)
            covered = sum(f.width for f in reg.fields)
            if covered < reg.width:
                yield StateItem(reg.name)
        else:
            yield StateItem(reg.name)
