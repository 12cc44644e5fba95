"""The machine's trap mechanism as compiled code, built once per machine.

A trap saves the PSW (the state references of `save`, the trapped instruction's pc among
them) into consecutive physical words, stores the cause, loads a new PSW from the words of
`load`, then runs the statements of its `entry` block.  That is written here as an
instruction of the language (the cause is its operand) and compiled like any other, so the
mechanism obeys the same rules as instruction semantics: a loaded mode that names no mode
means the least privileged one, values are cut or zero-extended to their width, writes to
compiled code are seen.
"""

from __future__ import annotations

import functools

from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem, psw_items
from vdsl.semantics.concrete import BlockInstruction, CompiledBlock, compile_block


def _fit(value: ir.Expr, width: int, to: int) -> ir.Expr:
    if width == to:
        return value
    if width > to:
        return ir.Slice(value, to - 1, 0, to)
    return ir.Call("zext", (value, ir.Const(to, to.bit_length())), to)


def _address(machine: ir.Machine, address: int) -> ir.Const:
    return ir.Const(address, max(machine.word, address.bit_length(), 1))


def _word(machine: ir.Machine, address: int) -> ir.MemAccess:
    return ir.MemAccess(_address(machine, address), physical=True, width=machine.memory.width)


def _expression(machine: ir.Machine, item: StateItem) -> tuple[ir.Expr, int]:
    """An item as an expression (and the expression's width) to read or assign."""
    if item.reg is None:
        return ir.Mode(machine.mode_width), machine.mode_width
    if item.field is not None:
        field = item.field
        return ir.Field(item.reg, field.name, field.lo, field.width), field.width
    reg = machine.register(item.reg)
    assert reg is not None
    return ir.Reg(reg.name, reg.width), reg.width


def trap_instruction(machine: ir.Machine) -> ir.Instruction:
    """The trap mechanism of `machine` (which declares one) as an instruction whose one
    operand is the cause."""
    trap = machine.trap
    assert trap is not None
    word = machine.memory.width
    body: list[ir.Stmt] = []
    for offset, item in enumerate(psw_items(machine, trap.save)):
        value, width = _expression(machine, item)
        body.append(ir.Assign(_word(machine, trap.save_at + offset), _fit(value, width, word)))
    if trap.cause_at is not None:
        body.append(ir.Assign(_word(machine, trap.cause_at), ir.Operand(0, "cause", "imm", word)))
    loaded = psw_items(machine, trap.load)
    for offset, item in enumerate(loaded):
        target, width = _expression(machine, item)
        body.append(ir.Assign(target, _fit(_word(machine, trap.load_at + offset), word, width)))
    pc = machine.register(machine.pc)
    assert pc is not None
    if not any(item.reg == pc.name for item in loaded):  # the trapped pc stays, not the next one
        body.append(ir.Assign(ir.Reg(pc.name, pc.width), ir.Reg(pc.name, pc.width)))
    body.extend(trap.entry)
    return ir.Instruction("<trap>", -1, (ir.OperandDecl("cause", "imm", word),), tuple(body))


@functools.lru_cache(maxsize=256)
def compiled_traps(machine: ir.Machine) -> tuple[CompiledBlock, ...]:
    """The compiled trap mechanism, one function per cause (indexed by the cause), or ()
    for a machine that declares no trap mechanism.  Call with a budget of 0."""
    if machine.trap is None:
        return ()
    instruction = trap_instruction(machine)
    mask = (1 << machine.memory.width) - 1
    return tuple(compile_block(machine, [BlockInstruction(instruction, (cause & mask,), 0)])
                 for cause in range(len(machine.causes)))


class _Touched(list[int]):
    """Memory that records the addresses read or written."""

    def __init__(self, words: list[int]) -> None:
        super().__init__(words)
        self.touched: set[int] = set()

    def __getitem__(self, address):  # type: ignore[no-untyped-def, override]
        self.touched.add(address)
        return super().__getitem__(address)

    def __setitem__(self, address, value):  # type: ignore[no-untyped-def, override]
        self.touched.add(address)
        super().__setitem__(address, value)


@functools.lru_cache(maxsize=256)
def entry_words(machine: ir.Machine) -> frozenset[int]:
    """The memory words the trap mechanism reads or writes for some cause, from the state a
    machine starts in (every register 0): a vector table at `phys[VBR + cause]` is where a
    reset VBR puts it."""
    from vdsl.emulator.state import MachineState

    words: set[int] = set()
    for trap in compiled_traps(machine):
        state = MachineState.empty(machine)
        memory = _Touched(state.memory)
        trap(state.slots, memory, {}, None, None, 0)
        words |= memory.touched
    return frozenset(w for w in words if isinstance(w, int) and 0 <= w < machine.memory.size)
