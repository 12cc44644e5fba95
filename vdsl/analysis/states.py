"""Machine state for the analysis: symbolic (z3) states and their concrete twins.

The pieces of state the definitions talk about (the mode, control state, timing state)
are `vdsl.ir.layout.StateItem`s: the same item reads a symbolic state (`SymbolicState.get`)
and a concrete one (`MachineState.get`), so that a question asked of z3 and its replay on
the emulator look at the same bits.
"""

from __future__ import annotations

import attrs
import z3

from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem
from vdsl.semantics.concrete import Stop, compile_instruction
from vdsl.semantics.evaluator import MEMORY_CAUSE, Evaluator, Outcome
from vdsl.semantics.symbolic import Z3Domain, insert

# ---------------------------------------------------------------- symbolic states


@attrs.frozen
class SymbolicState:
    registers: dict[str, z3.BitVecRef]
    mode: z3.BitVecRef
    memory: z3.ArrayRef

    def evolve(self, **changes: object) -> SymbolicState:
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def get(self, item: StateItem) -> z3.BitVecRef:
        """The value of an item (the mode, a register, a field) in this state."""
        if item.reg is None:
            return self.mode
        value = self.registers[item.reg]
        if item.field is None:
            return value
        return z3.Extract(item.field.lo + item.field.width - 1, item.field.lo, value)

    def with_item(self, item: StateItem, value: z3.BitVecRef) -> SymbolicState:
        """This state with one item replaced (the bits of a field, a register, the mode)."""
        if item.reg is None:
            return self.evolve(mode=value)
        registers = dict(self.registers)
        old = registers[item.reg]
        if item.field is None:
            registers[item.reg] = value
        else:
            registers[item.reg] = insert(old, old.size(), item.field.lo, value, item.field.width)
        return self.evolve(registers=registers)


def swap_banks(machine: ir.Machine, state: SymbolicState, first: z3.BitVecRef,
               second: z3.BitVecRef) -> SymbolicState:
    """`state` with the copies of each banked register that modes `first` and `second` select
    traded (the symbolic `bank_swap`): what a state in mode `second` holds where one in mode
    `first` holds `state`'s registers.  Its own inverse."""
    if not machine.banks:
        return state
    registers = dict(state.registers)
    for bank in machine.banks:
        def selects(mode: z3.BitVecRef, modes: tuple[int, ...]) -> z3.BoolRef:
            return z3.Or([mode == m for m in modes])

        def selected(mode: z3.BitVecRef, bank: ir.Bank = bank) -> z3.BitVecRef:
            *others, (last, _) = bank.copies
            value = state.registers[last]
            for copy, modes in reversed(others):
                value = z3.If(selects(mode, modes), state.registers[copy], value)
            return value

        in_first, in_second = selected(first), selected(second)
        for copy, modes in bank.copies:
            registers[copy] = z3.If(selects(first, modes), in_second,
                                    z3.If(selects(second, modes), in_first, state.registers[copy]))
    return state.evolve(registers=registers)


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
    operands that name registers (anything else is an illegal instruction)."""
    constraints = [z3.ULT(state.mode, len(machine.modes))] if len(machine.modes) < 1 << machine.mode_width \
        else []
    for operand, value in zip(instruction.operands, operands, strict=True):
        if operand.kind == "reg":
            constraints.append(z3.Or([value == code for code, _ in machine.operand_targets(operand)]))
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


# ---------------------------------------------------------------- moved states


@attrs.frozen
class Moved:
    """A state with its relocation base moved by a symbolic shift x and its memory moved with
    it: PG74's location question (R shifted by x), and the policy check's partition offset (the
    real R is the virtual R plus the offset).  Shifts never wrap (DESIGN §1): `inside` says that
    both windows, at R and at R + x, lie inside memory in unbounded arithmetic.  The moved memory
    is the original moved up by x, with `filler` below x; it is said only where a run uses it
    (`word`, `reads`): a whole-array lambda is much harder for z3."""

    machine: ir.Machine
    original: SymbolicState
    state: SymbolicState  # the moved state
    shift: z3.BitVecRef  # x, as wide as the base
    base: StateItem
    bound: StateItem
    inside: z3.BoolRef
    filler: z3.ArrayRef
    wide: int  # a width in which a base, a shift and a bound add up without wrapping

    @classmethod
    def of(cls, machine: ir.Machine, state: SymbolicState,
           names: tuple[str, str, str] = ("x", "F", "E_moved")) -> Moved:
        """`state` moved by a fresh shift; `names` name the shift, the filler and the moved memory."""
        assert machine.relocation is not None
        reg = machine.register(machine.relocation)
        assert reg is not None
        base_field, bound_field = reg.field("base"), reg.field("bound")
        assert base_field is not None and bound_field is not None
        base, bound = StateItem(reg.name, base_field), StateItem(reg.name, bound_field)
        shift_name, filler_name, memory_name = names
        shift = z3.BitVec(shift_name, base_field.width)
        wide = max(base_field.width, bound_field.width, machine.memory.size.bit_length()) + 2
        window_end = (_unbounded(wide, state.get(base)) + _unbounded(wide, shift)
                      + _unbounded(wide, state.get(bound)))
        words = z3.BitVecSort(machine.address_width), z3.BitVecSort(machine.memory.width)
        filler = z3.Array(filler_name, *words)
        moved = state.with_item(base, state.get(base) + shift).evolve(memory=z3.Array(memory_name, *words))
        return cls(machine, state, moved, shift, base, bound, z3.ULE(window_end, machine.memory.size), filler,
                   wide)

    @property
    def address_shift(self) -> z3.BitVecRef:
        """x, as wide as an address."""
        aw, width = self.machine.address_width, self.shift.size()
        return z3.ZeroExt(aw - width, self.shift) if aw > width else z3.Extract(aw - 1, 0, self.shift)

    def address(self, address: z3.BitVecRef) -> z3.BitVecRef:
        """Where the word at `address` sits in the moved memory."""
        return address + self.address_shift

    def word(self, address: z3.BitVecRef) -> z3.BoolRef:
        """The moved memory at `address`: the original's word x below it, or the filler below x."""
        shift = self.address_shift
        return z3.Select(self.state.memory, address) == z3.If(
            z3.UGE(address, shift), z3.Select(self.original.memory, address - shift),
            z3.Select(self.filler, address))

    def reads(self, run: SymbolicRun) -> list[z3.BoolRef]:
        """The moved memory at every word a run from the moved state reads."""
        return [self.word(address) for _, address in run.outcome.reads]

    def base_unwrapped(self, final: SymbolicState) -> z3.BoolRef:
        """`final`'s base moved by x does not wrap (a result shifted with it exists)."""
        return z3.ULT(_unbounded(self.wide, final.get(self.base)) + _unbounded(self.wide, self.shift),
                      1 << self.shift.size())

    def memory_differs(self, original: z3.ArrayRef, moved: z3.ArrayRef, address: z3.BitVecRef) -> z3.BoolRef:
        """The moved memory at `address` + x is not the original's at `address` (both inside memory,
        the sum not wrapping).  Say `word(address(address))` beside it."""
        size, there = self.machine.memory.size, self.address(address)
        return z3.And(z3.ULT(there, size), z3.ULT(address, size), z3.UGE(there, address),
                      z3.Select(moved, there) != z3.Select(original, address))

    def concrete(self, model: z3.ModelRef, first: MachineState) -> tuple[int, MachineState]:
        """x in the model, and `first` (the original's concrete state) moved by it."""
        x = model.eval(self.shift, model_completion=True).as_long()
        second = first.copy()
        second.set(self.base, first.get(self.base) + x)
        fill = concrete_memory(self.machine, model, self.filler)
        second.memory[:] = [first.memory[a - x] if a >= x else fill[a] for a in range(len(first.memory))]
        return x, second

    def fits(self, first: MachineState, x: int) -> bool:
        """Concretely, `inside`: the window of `first` moved by x lies inside memory."""
        return first.get(self.base) + x + first.get(self.bound) <= self.machine.memory.size


def moved_words(original: MachineState, moved: MachineState, x: int) -> list[int]:
    """The words a of the original whose moved copy, at a + x, differs after the runs."""
    size = len(original.memory)
    return [a for a in range(size - x) if moved.memory[a + x] != original.memory[a]]


def _unbounded(wide: int, value: z3.BitVecRef) -> z3.BitVecRef:
    """`value` zero-extended to `wide` bits: unbounded arithmetic for the sums that must not wrap."""
    return z3.ZeroExt(wide - value.size(), value)


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
    step = compile_instruction(machine, instruction, operands)
    stop, cause_index = step(after.slots, after.memory, {}, None)
    cause = machine.causes[cause_index] if stop == Stop.TRAPPED else None
    return ConcreteRun(label, state, after if cause is None else state.copy(), cause, stop == Stop.HALTED)
