"""The bare-machine emulator: fetch, relocate, run compiled instructions, take traps.

Instructions live in memory as words: the opcode (the instruction's index in its ISA),
then one word per operand.  Each instruction is compiled once per (opcode, operands)
and cached by physical address; a write to a word of cached code forgets that entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from vdsl.ir import nodes as ir
from vdsl.semantics.concrete import TRAPPED, CompiledInstruction, compile_instruction, mask
from vdsl.emulator.state import MachineState

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
class _Decoded:
    step: CompiledInstruction
    size: int
    name: str
    operands: tuple[int, ...]


class Emulator:
    """Runs an ISA's instructions on a concrete machine state."""

    def __init__(self, isa: ir.Isa, state: MachineState) -> None:
        self.isa = isa
        self.machine = isa.machine
        self.state = state
        self.code: dict[int, _Decoded] = {}
        self.watch: dict[int, Callable[[int], None]] = {}
        self.compiled: dict[tuple[int, ...], CompiledInstruction] = {}
        self.log: list[tuple[int, int, int]] | None = None
        self.initial_memory = list(state.memory)

    # ------------------------------------------------------------ decoding
    def forget(self, address: int) -> None:
        """A write hit compiled code: forget every cached instruction covering `address`."""
        for start in [s for s, d in self.code.items() if s <= address < s + d.size]:
            decoded = self.code.pop(start)
            for word in range(start, start + decoded.size):
                if not any(s <= word < s + d.size for s, d in self.code.items()):
                    self.watch.pop(word, None)

    def decode(self, address: int) -> _Decoded | int:
        """The compiled instruction at a physical address, or the cause of a trap."""
        memory = self.state.memory
        opcode = memory[address]
        if opcode >= len(self.isa.instructions):
            return ILLEGAL
        inst = self.isa.instructions[opcode]
        if address + inst.size > len(memory):
            return MEMORY
        operands = tuple(memory[address + 1:address + inst.size])
        for operand, value in zip(inst.operands, operands):
            if operand.kind == "reg" and not self.is_general_register(value):
                return ILLEGAL
        key = (opcode,) + operands
        step = self.compiled.get(key)
        if step is None:
            step = self.compiled[key] = compile_instruction(self.machine, inst, operands)
        decoded = _Decoded(step, inst.size, inst.name, operands)
        self.code[address] = decoded
        for word in range(address, address + inst.size):
            self.watch[word] = self.forget
        return decoded

    def is_general_register(self, index: int) -> bool:
        return index < len(self.machine.registers) and self.machine.registers[index] in \
            self.machine.general_registers

    # ------------------------------------------------------------ traps
    def take_trap(self, cause: int, pc: int) -> bool:
        """Run the machine's trap mechanism; False when the machine declares none."""
        trap = self.machine.trap
        if trap is None:
            return False
        state = self.state
        saved = [pc if ref.reg == self.machine.pc and ref.field is None else state.get(ref)
                 for ref in state.psw(trap.save)]
        word_mask = mask(self.machine.memory.width)
        for offset, value in enumerate(saved):
            self.write_physical(trap.save_at + offset, value & word_mask)
        if trap.cause_at is not None:
            self.write_physical(trap.cause_at, cause & word_mask)
        for offset, ref in enumerate(state.psw(trap.load)):
            state.set(ref, state.memory[trap.load_at + offset])
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
        code = self.code
        self.log: list[tuple[int, int, int]] | None = [] if trace is not None else None
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
            decoded: _Decoded | int
            if pc >= limit or pc + offset >= size:
                decoded = MEMORY
            else:
                decoded = code.get(pc + offset) or self.decode(pc + offset)
                if not isinstance(decoded, int):
                    last = pc + decoded.size - 1
                    if last >= limit or last + offset >= size:
                        decoded = MEMORY
            steps += 1
            if isinstance(decoded, int):
                status = TRAPPED + decoded
            else:
                status = decoded.step(r, memory, watch, self.log)
            if status >= TRAPPED:
                cause = status - TRAPPED
                handled = self.take_trap(cause, pc)
                if trace is not None:
                    trace(self.record(steps, pc, before, decoded, machine.causes[cause]))
                if not handled:
                    return RunResult("trap", steps, state,
                                     f"trap '{machine.causes[cause]}' at pc {pc}, and machine "
                                     f"'{machine.name}' declares no trap mechanism",
                                     self.initial_memory, machine.causes[cause])
                continue
            if trace is not None:
                trace(self.record(steps, pc, before, decoded, None))
            if status:
                return RunResult("halted", steps, state, f"halted after {steps} steps",
                                 self.initial_memory)
        return RunResult("step_limit", steps, state,
                         f"stopped after {max_steps} steps without reaching halt "
                         "(raise the limit with --max-steps)", self.initial_memory)

    def record(self, step: int, pc: int, before: list[int] | None, decoded: _Decoded | int,
               cause: str | None) -> StepRecord:
        assert before is not None and self.log is not None
        state = self.state
        mode = self.machine.modes[before[state.mode_index]]
        changes = {}
        for index, (old, new) in enumerate(zip(before, state.slots)):
            if old != new:
                name = self.machine.registers[index].name if index < state.mode_index else self.machine.mode_name
                changes[name] = (old, new)
        writes = tuple(self.log)
        self.log.clear()
        if isinstance(decoded, int):
            return StepRecord(step, pc, mode, None, (), cause, changes, writes)
        return StepRecord(step, pc, mode, decoded.name, decoded.operands, cause, changes, writes)
