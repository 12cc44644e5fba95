"""The bare-machine emulator: fetch, relocate, run compiled instructions, take traps.

Instructions live in memory as words: the opcode (the instruction's index in its ISA),
then one word per operand.  Each instruction is compiled once per (opcode, operands)
and cached by physical address; a write to a word of cached code forgets that entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from vdsl.emulator.state import MachineState
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask
from vdsl.semantics.concrete import (
    TRAPPED,
    BlockInstruction,
    CompiledBlock,
    compile_block,
    ends_block,
)

MEMORY = ir.BUILTIN_CAUSES.index("memory")
ILLEGAL = ir.BUILTIN_CAUSES.index("illegal")


@attrs.frozen
class StepRecord:
    """One executed step, as the trace writes it."""

    step: int
    pc: int
    mode: str
    instruction: str | None
    operands: tuple[int, ...]
    trapped: str | None
    registers: dict[str, tuple[int, int]]
    memory: tuple[tuple[int, int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "pc": self.pc,
            "mode": self.mode,
            "instruction": self.instruction,
            "operands": list(self.operands),
            "trapped": self.trapped is not None,
            "cause": self.trapped,
            "changes": {
                "registers": {name: {"old": old, "new": new} for name, (old, new) in self.registers.items()},
                "memory": [{"address": a, "old": old, "new": new} for a, old, new in self.memory],
            },
        }


@attrs.frozen
class RunResult:
    """How a run ended: `halted`, `step_limit`, or `trap` (a trap with no trap mechanism)."""

    status: str
    steps: int
    state: MachineState
    message: str
    initial_memory: list[int] = attrs.field(repr=False)
    cause: str | None = None


@attrs.define
class _Block:
    """Compiled code for a straight-line run of instructions starting at one address."""

    run: CompiledBlock
    count: int  # instructions
    words: int  # memory words the run occupies
    first: str  # the first instruction's name and operands, for the trace
    operands: tuple[int, ...]


BLOCK_LIMIT = 64  # instructions per compiled block at most


class Emulator:
    """Runs an ISA's instructions on a concrete machine state.

    Code is compiled in blocks: straight-line runs of instructions that end with one
    that may jump, halt or move the relocation window.  Tracing, and the last steps
    before the step limit, run one instruction per block.
    """

    def __init__(self, isa: ir.Isa, state: MachineState) -> None:
        self.isa = isa
        self.machine = isa.machine
        self.state = state
        self.blocks: dict[int, _Block] = {}
        self.singles: dict[int, _Block] = {}
        self.watch: dict[int, Callable[[int], None]] = {}
        self.block_ends: dict[tuple[int, ...], bool] = {}
        self.log: list[tuple[int, int, int]] | None = None
        self.initial_memory = list(state.memory)
        self.general = {self.machine.register_index(r.name) for r in self.machine.general_registers}

    # ------------------------------------------------------------ decoding
    def forget(self, address: int) -> None:
        """A write hit compiled code: forget every block covering `address`."""
        for cache in (self.blocks, self.singles):
            for start in [s for s, b in cache.items() if s <= address < s + b.words]:
                del cache[start]
        covered = {w for cache in (self.blocks, self.singles) for s, b in cache.items()
                   for w in range(s, s + b.words)}
        for word in [w for w in self.watch if w not in covered]:
            del self.watch[word]

    def decode(self, address: int) -> BlockInstruction | int:
        """The instruction at a physical address, or the cause of the trap fetching it."""
        memory = self.state.memory
        opcode = memory[address]
        if opcode >= len(self.isa.instructions):
            return ILLEGAL
        inst = self.isa.instructions[opcode]
        if address + inst.size > len(memory):
            return MEMORY
        operands = tuple(memory[address + 1:address + inst.size])
        for operand, value in zip(inst.operands, operands, strict=False):
            if operand.kind == "reg" and value not in self.general:
                return ILLEGAL
        return BlockInstruction(inst, operands, 0)

    def build(self, address: int, limit: int) -> _Block | int:
        """Compile the block at a physical address (at most `limit` instructions)."""
        items: list[BlockInstruction] = []
        offset = 0
        while len(items) < limit and address + offset < len(self.state.memory):
            decoded = self.decode(address + offset)
            if isinstance(decoded, int):
                if not items:
                    return decoded
                break
            items.append(attrs.evolve(decoded, offset=offset))
            offset += decoded.instruction.size
            key = (decoded.instruction.opcode, *decoded.operands)
            if key not in self.block_ends:
                self.block_ends[key] = ends_block(self.machine, decoded.instruction, decoded.operands)
            if self.block_ends[key]:
                break
        block = _Block(compile_block(self.machine, items), len(items), offset, items[0].instruction.name,
                       items[0].operands)
        (self.singles if limit == 1 else self.blocks)[address] = block
        for word in range(address, address + offset):
            self.watch[word] = self.forget
        return block

    # ------------------------------------------------------------ traps
    def take_trap(self, cause: int, pc: int) -> bool:
        """Run the machine's trap mechanism; False when the machine declares none."""
        trap = self.machine.trap
        if trap is None:
            return False
        state = self.state
        saved = [pc if item.reg == self.machine.pc and item.field is None else state.get(item)
                 for item in state.psw(trap.save)]
        word_mask = mask(self.machine.memory.width)
        for offset, value in enumerate(saved):
            self.write_physical(trap.save_at + offset, value & word_mask)
        if trap.cause_at is not None:
            self.write_physical(trap.cause_at, cause & word_mask)
        for offset, item in enumerate(state.psw(trap.load)):
            state.set(item, state.memory[trap.load_at + offset])
        return True

    def write_physical(self, address: int, value: int) -> None:
        if self.log is not None:
            self.log.append((address, self.state.memory[address], value))
        self.state.memory[address] = value
        if address in self.watch:
            self.forget(address)

    # ------------------------------------------------------------ running
    def run(self, max_steps: int, trace: Callable[[StepRecord], None] | None = None) -> RunResult:
        """Run until halt, an unhandled trap, or `max_steps` steps."""
        machine = self.machine
        state = self.state
        r, memory, watch = state.slots, state.memory, self.watch
        pc_index = machine.register_index(machine.pc)
        size = machine.memory.size
        relocation = None
        if machine.relocation is not None:
            reg = machine.register(machine.relocation)
            assert reg is not None
            base, bound = reg.field("base"), reg.field("bound")
            assert base is not None and bound is not None
            relocation = (machine.register_index(reg.name), base.lo, mask(base.width), bound.lo,
                          mask(bound.width))
        self.log = [] if trace is not None else None
        blocks, singles, build = self.blocks, self.singles, self.build
        steps = 0
        while steps < max_steps:
            pc = r[pc_index]
            if relocation is not None:
                value = r[relocation[0]]
                offset = (value >> relocation[1]) & relocation[2]
                limit = (value >> relocation[3]) & relocation[4]
            else:
                offset, limit = 0, size
            before = list(r) if trace is not None else None
            block: _Block | int = MEMORY
            if pc < limit and pc + offset < size:
                address = pc + offset
                block = blocks.get(address) or build(address, BLOCK_LIMIT)
                # One instruction at a time when tracing, near the step limit, or when the
                # block reaches past the bound (the fetch that faults must be the one to trap).
                if not isinstance(block, int) and (
                        trace is not None or block.count > max_steps - steps
                        or pc + block.words > limit or address + block.words > size):
                    block = singles.get(address) or build(address, 1)
                    if not isinstance(block, int) and (pc + block.words > limit
                                                       or address + block.words > size):
                        block = MEMORY
            if isinstance(block, int):
                status, executed = TRAPPED + block, 1
            else:
                status, executed = block.run(r, memory, watch, self.log, max_steps - steps)
            steps += executed
            if status >= TRAPPED:
                cause = status - TRAPPED
                trapped_pc = r[pc_index]
                handled = self.take_trap(cause, trapped_pc)
                if trace is not None:
                    trace(self.record(steps, trapped_pc, before, block, machine.causes[cause]))
                if not handled:
                    return RunResult("trap", steps, state,
                                     f"trap '{machine.causes[cause]}' at pc {trapped_pc}, and machine "
                                     f"'{machine.name}' declares no trap mechanism",
                                     self.initial_memory, machine.causes[cause])
                continue
            if trace is not None:
                trace(self.record(steps, pc, before, block, None))
            if status:
                return RunResult("halted", steps, state,
                                 f"halted after {steps} step{'s' if steps != 1 else ''}",
                                 self.initial_memory)
        return RunResult("step_limit", steps, state,
                         f"stopped after {max_steps} steps without reaching halt "
                         "(raise the limit with --max-steps)", self.initial_memory)

    def record(self, step: int, pc: int, before: list[int] | None, decoded: _Block | int,
               cause: str | None) -> StepRecord:
        assert before is not None and self.log is not None
        state = self.state
        mode = self.machine.modes[before[state.mode_index]]
        changes = {}
        for index, (old, new) in enumerate(zip(before, state.slots, strict=False)):
            if old != new:
                names = self.machine.registers
                name = names[index].name if index < state.mode_index else self.machine.mode_name
                changes[name] = (old, new)
        writes = tuple(self.log)
        self.log.clear()
        if isinstance(decoded, int):
            return StepRecord(step, pc, mode, None, (), cause, changes, writes)
        return StepRecord(step, pc, mode, decoded.first, decoded.operands, cause, changes, writes)
