"""The bare-machine emulator: fetch, relocate, run compiled instructions, take traps.

Instructions live in memory as words: the opcode (the instruction's index in its ISA),
then one word per operand, or an encoded word and its extension words when the ISA declares
encodings (`Decoder` finds which).  Code is compiled in regions (the blocks reachable from a
pc by constant jumps, registers in locals) cached by the context they are specialised on: the
pc, the mode and the relocation register (`RegionContext`); a write to a word of a region's
code forgets the regions that cover it.

A monitor drives the emulator without subclassing it: `run(budget)` and `step()`, a trap
hook (the machine's own trap mechanism is the default), an optional access guard that
guarded code checks on every physical access (a region checks its code and its constant
addresses once, on entry), fetches included, and counters of what ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from vdsl.emulator.decoder import Decoder
from vdsl.emulator.state import MachineState, differences
from vdsl.emulator.traps import compiled_traps
from vdsl.errors import RunError
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import extract_code
from vdsl.semantics.concrete import (
    AccessGuard,
    BlockInstruction,
    CompiledBlock,
    Region,
    RegionContext,
    Stop,
    compile_block,
    compile_region,
)

MEMORY = ir.BUILTIN_CAUSES.index("memory")
ILLEGAL = ir.BUILTIN_CAUSES.index("illegal")
BLOCK_LIMIT = 64  # instructions per block of a region at most
REGION_LIMIT = 16  # blocks per region at most
RESUMING = 16  # a run's first fetches that are no visit, unless they find a region

Watch = dict[int, Callable[[int], None]] | Any
"""Compiled code's memory words -> the function that forgets the code (`W` in generated code)."""

TrapHook = Callable[[int, int], "str | None"]
"""`hook(cause, pc)`: an instruction at `pc` trapped with `cause` (it changed nothing).
The hook returns None to let the run go on, or a status that ends the run."""


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
    """How a run ended: `halted`, `step_limit` (the budget ran out), `trap` (a trap with no
    trap mechanism), or a status a trap hook chose."""

    status: str
    steps: int
    state: MachineState
    message: str
    initial_memory: list[int] = attrs.field(repr=False)
    cause: str | None = None


@attrs.define
class Counters:
    """What an emulator has run: steps (instructions executed, trapping ones included) and
    traps taken.  The instructions that ran to completion are `steps - traps`."""

    steps: int = 0
    traps: int = 0

    @property
    def completed(self) -> int:
        return self.steps - self.traps


@attrs.frozen
class _Block:
    """Compiled code for a straight-line run of instructions starting at one address."""

    run: CompiledBlock
    count: int  # instructions
    words: int  # memory words the run occupies
    first: BlockInstruction | None  # None: the fetch itself faults


def _fault(cause: int) -> _Block:
    """A 'block' whose fetch traps: an illegal opcode, or a fetch outside memory or the bound."""

    def run(r: list[int], E: list[int], W: object, L: object, G: object,
            budget: int) -> tuple[int, Stop, int]:
        return 1, Stop.TRAPPED, cause

    return _Block(run, 1, 0, None)


_FAULTS = {cause: _fault(cause) for cause in (MEMORY, ILLEGAL)}


def fetch_window(machine: ir.Machine) -> Callable[[list[int]], tuple[int, int]]:
    """`window(slots) -> (offset, limit)`: pc values below `limit` fetch from pc + offset."""
    if machine.relocation is None:
        size = machine.memory.size
        return lambda slots: (0, size)
    reg = machine.register(machine.relocation)
    assert reg is not None
    base, bound = reg.field("base"), reg.field("bound")
    assert base is not None and bound is not None
    value = f"slots[{machine.register_index(reg.name)}]"
    offset, limit = extract_code(value, base.lo, base.width), extract_code(value, bound.lo, bound.width)
    code = f"lambda slots: ({offset}, {limit})"
    window: Callable[[list[int]], tuple[int, int]] = eval(code, {"__builtins__": {}})  # noqa: S307
    return window


class Emulator:
    """Runs an ISA's instructions on a concrete machine state.

    Code is compiled in regions (`vdsl.semantics.concrete.compile_region`): the blocks
    reachable from a pc by constant jumps, specialised on the mode and the relocation
    register, so that privilege and bounds checks of constant addresses fold away.  Tracing,
    the last steps before the budget runs out, a guest whose region would reach outside the
    access guard, and `single_step` (the reference interpretation) run one instruction per
    fetch.
    """

    def __init__(self, isa: ir.Isa, state: MachineState, *, on_trap: TrapHook | None = None,
                 guard: AccessGuard | None = None, single_step: bool = False,
                 watch: Watch | None = None) -> None:
        self.isa = isa
        self.machine = isa.machine
        self.state = state
        self.on_trap: TrapHook = on_trap or self.trap_mechanism
        self.guard = guard
        self.single_step = single_step  # one instruction per fetch, always (an interpreter)
        self.counters = Counters()
        # by the context they are specialised on, (pc, mode, relocation) (see `RegionContext`)
        self.regions: dict[tuple[int, int, int | None], Region] = {}
        self.visits: set[tuple[int, int, int | None]] = set()  # contexts seen once, without a region yet
        self.single_at: dict[int, tuple[list[int], _Block]] = {}
        self.resuming = 0  # fetches left before a run's visits count (see `RESUMING`)
        # by the instruction (its opcode) and its operand values, which give its words: never stale
        self.singles: dict[tuple[int, ...], _Block] = {}
        # compiled code's words -> what forgets it; another emulator's, seen through a view,
        # when this one writes memory that emulator runs code from
        self.watch: Watch = watch if watch is not None else {}
        self.own_watch = watch is None  # nobody else adds to it
        self.clean: set[tuple[int, int, int | None]] = set()  # regions whose constant stores hit no code
        self.log: list[tuple[int, int, int]] | None = None
        self.initial_memory = list(state.memory)
        self.operand_codes: dict[ir.OperandDecl, frozenset[int]] = {}
        self._exits: frozenset[str] = frozenset()
        self.exit_cause = len(self.machine.causes)
        self.exit_block = _fault(self.exit_cause)
        self.traps = compiled_traps(self.machine)
        self.window = fetch_window(self.machine)
        self.pc_index = self.machine.register_index(self.machine.pc)
        self.mode_index = len(self.machine.registers)
        self.relocation_index = self.machine.register_index(self.machine.relocation) \
            if self.machine.relocation is not None else None
        self.decoder = Decoder(isa)

    # ------------------------------------------------------------ decoding
    def forget(self, address: int) -> None:
        """A write hit compiled code: forget every region whose code covers `address`."""
        assert isinstance(self.watch, dict)
        for context in [c for c, region in self.regions.items() if address in region.words]:
            del self.regions[context]
        covered = {w for region in self.regions.values() for w in region.words}
        for word in [w for w in self.watch if w not in covered]:
            del self.watch[word]

    def decode(self, address: int) -> BlockInstruction | _Block:
        """The instruction at a physical address, or the fault block of a fetch that traps."""
        memory = self.state.memory
        inst = self.decoder.instruction(memory[address])
        if inst is None:
            return _FAULTS[ILLEGAL]
        if inst.name in self.exits:
            return self.exit_block
        if address + inst.size > len(memory):
            return _FAULTS[MEMORY]
        operands = inst.operand_values(memory[address:address + inst.size])
        for operand, value in zip(inst.operands, operands, strict=False):
            if operand.kind == "reg" and value not in self.codes(operand):
                return _FAULTS[ILLEGAL]
        return BlockInstruction(inst, operands, 0)

    def codes(self, operand: ir.OperandDecl) -> frozenset[int]:
        """The values a register operand may hold: anything else is an illegal instruction."""
        codes = self.operand_codes.get(operand)
        if codes is None:
            codes = frozenset(c for c, _ in self.machine.operand_targets(operand))
            self.operand_codes[operand] = codes
        return codes

    def single(self, address: int) -> _Block:
        """The one instruction at a physical address, compiled once per instruction words (and
        remembered by address with its words, so that a step need not decode it again)."""
        memory = self.state.memory
        known = self.single_at.get(address)
        if known is not None and memory[address:address + len(known[0])] == known[0]:
            return known[1]
        decoded = self.decode(address)
        if isinstance(decoded, _Block):
            return decoded
        block = self.compiled(decoded.instruction, decoded.operands)
        self.single_at[address] = (memory[address:address + block.words], block)
        return block

    @property
    def exits(self) -> frozenset[str]:
        """A virtualization extension's exit controls: fetching one of these instructions leaves
        the guest (the trap hook sees `exit_cause`, one past the machine's causes) before it runs."""
        return self._exits

    @exits.setter
    def exits(self, names: frozenset[str]) -> None:
        self._exits = names
        self.regions.clear()  # compiled before the exits were known
        self.single_at.clear()

    def compiled(self, instruction: ir.Instruction, operands: tuple[int, ...]) -> _Block:
        """One instruction with its operands, compiled once (the key is the instruction's words
        as decoded: never stale)."""
        key = (instruction.opcode, *operands)
        block = self.singles.get(key)
        if block is None:
            decoded = BlockInstruction(instruction, operands, 0)
            block = _Block(compile_block(self.machine, [decoded], guarded=self.guard is not None), 1,
                           instruction.size, decoded)
            self.singles[key] = block
        return block

    def build(self, context: RegionContext) -> Region | None:
        """Compile the region that starts at the context's pc (None: its first fetch faults)."""
        assert isinstance(self.watch, dict)
        slots = list(self.state.slots)
        if self.relocation_index is not None:
            assert context.relocation is not None
            slots[self.relocation_index] = context.relocation
        offset, limit = self.window(slots)
        size = len(self.state.memory)

        def fetch(pc: int) -> tuple[BlockInstruction, int] | None:
            address = pc + offset
            if not (pc < limit and address < size):
                return None
            decoded = self.decode(address)
            if isinstance(decoded, _Block) or pc + decoded.instruction.size > limit:
                return None
            return decoded, address

        if fetch(context.pc) is None:
            return None
        region = compile_region(self.machine, context, fetch, guarded=self.guard is not None,
                                max_blocks=REGION_LIMIT, max_block=BLOCK_LIMIT)
        self.regions[(context.pc, context.mode, context.relocation)] = region
        self.clean.clear()  # the watch grows
        for word in region.words:
            self.watch[word] = self.forget
        return region

    def fetch(self, pc: int, budget: int, single: bool) -> _Block | Region:
        """What to run at `pc`: the region of the current context, or one instruction when asked,
        when the region's first block would run past the budget, or when guarded code would
        reach outside the guard's window (the single instruction reports it exactly)."""
        if not (single or self.single_step):
            r = self.state.slots
            relocation = r[self.relocation_index] if self.relocation_index is not None else None
            key = (pc, r[self.mode_index], relocation)
            region = self.regions.get(key)
            if region is not None:
                self.resuming = 0
            elif self.resuming:
                self.resuming -= 1
            elif budget >= BLOCK_LIMIT:
                # compiled on the second visit: code that runs once is cheaper one instruction at a
                # time; neither the last steps of a budget nor the first of a run until it reaches a
                # region (a monitor's time slice ended there, often mid-block) is a visit
                if key in self.visits:
                    region = self.build(RegionContext(*key))
                else:
                    self.visits.add(key)
            if region is not None and region.first <= budget \
                    and (self.guard is None or self.guard_allows(region)) \
                    and not (region.stores and self.stores_watched(key, region)):
                return region
        offset, limit = self.window(self.state.slots)
        size = len(self.state.memory)
        if not (pc < limit and pc + offset < size):
            return _FAULTS[MEMORY]
        address = pc + offset
        block = self.single(address)
        if pc + block.words > limit or address + block.words > size:
            return _FAULTS[MEMORY]
        if self.guard is not None and block.first is not None:
            outside = self.outside_guard(address, block.words)
            if outside is not None:
                self.guard.violation(outside, False, pc)
        return block

    def stores_watched(self, key: tuple[int, int, int | None], region: Region) -> bool:
        """Whether a constant address the region stores to holds compiled code now (then this step
        runs one instruction, which sees the write).  The watch grows only when this emulator
        compiles a region, so a region found clean stays clean until then."""
        if key in self.clean:
            return False
        if any(map(self.watch.__contains__, region.stores)):
            return True
        if self.own_watch:
            self.clean.add(key)
        return False

    def guard_allows(self, region: Region) -> bool:
        """Whether every word of the region's code and every constant address it accesses lies
        in the guard's window: then only its computed addresses need checking as it runs."""
        guard = self.guard
        assert guard is not None
        lowest, highest = region.span
        holes = guard.holes
        return guard.lo <= lowest and highest <= guard.hi and (
            not holes or (holes.isdisjoint(region.words) and holes.isdisjoint(region.accesses)))

    def inside_guard(self, address: int, words: int) -> bool:
        """Whether the guard's window holds all the words at `address` (the common case, fast)."""
        guard = self.guard
        assert guard is not None
        return guard.lo <= address and address + words <= guard.hi and (
            not guard.holes or guard.holes.isdisjoint(range(address, address + words)))

    def outside_guard(self, address: int, words: int) -> int | None:
        """The first of the words at `address` that the guard's window leaves out."""
        guard = self.guard
        assert guard is not None
        return next((a for a in range(address, address + words)
                     if not guard.lo <= a < guard.hi or a in guard.holes), None)

    def execute(self, instruction: ir.Instruction, operands: tuple[int, ...]) -> RunResult:
        """Run one given instruction at the pc, whatever memory holds there (a paravirtual guest's
        hypercall: its word in memory is the call, the instruction is what the monitor runs)."""
        block = self.compiled(instruction, operands)
        r = self.state.slots
        pc = r[self.pc_index]
        _, stop, cause = block.run(r, self.state.memory, self.watch, self.log, self.guard, 1)
        self.counters.steps += 1
        if stop == Stop.TRAPPED:
            self.counters.traps += 1
            ended = self.on_trap(cause, pc)
            if ended is not None:
                return self.result(ended, 1, self.trap_message(ended, cause, pc), self.cause_name(cause))
        elif stop == Stop.HALTED:
            return self.result("halted", 1, "halted after 1 step")
        return self.result("step_limit", 1, "stopped after 1 step")

    # ------------------------------------------------------------ traps
    def trap_mechanism(self, cause: int, pc: int) -> str | None:
        """The default trap hook: the machine's own mechanism, or the end of the run when
        the machine declares none."""
        return None if self.take_trap(cause) else "trap"

    def take_trap(self, cause: int) -> bool:
        """Run the machine's (compiled) trap mechanism; False when the machine declares none."""
        if not self.traps:
            return False
        state = self.state
        _, stop, fault = self.traps[cause](state.slots, state.memory, self.watch, self.log, None, 0)
        if stop == Stop.TRAPPED:
            self.mechanism_faulted(cause, fault)
        return True

    def mechanism_faulted(self, cause: int, fault: int) -> None:
        raise RunError(f"machine {self.machine.name}: its trap mechanism faulted (cause "
                       f"{self.cause_name(fault)}) while taking a trap '{self.cause_name(cause)}' at pc "
                       f"{self.state.slots[self.pc_index]}: check its `entry` block's addresses and indexes")

    # ------------------------------------------------------------ running
    def step(self, trace: Callable[[StepRecord], None] | None = None) -> RunResult:
        """Run one instruction (taking its trap, if it traps)."""
        return self.run(1, trace)

    def run(self, max_steps: int, trace: Callable[[StepRecord], None] | None = None) -> RunResult:
        """Run until halt, a trap the hook ends the run on, or `max_steps` steps."""
        if trace is None:
            return self.run_untraced(max_steps)
        state = self.state
        r, memory, watch, guard = state.slots, state.memory, self.watch, self.guard
        pc_index, fetch, counters = self.pc_index, self.fetch, self.counters
        self.log = [] if trace is not None else None
        self.resuming = RESUMING
        steps = 0
        while steps < max_steps:
            pc = r[pc_index]
            before = state.copy() if trace is not None else None
            block = fetch(pc, max_steps - steps, trace is not None)
            executed, stop, cause = block.run(r, memory, watch, self.log, guard, max_steps - steps)
            steps += executed
            counters.steps += executed
            if stop == Stop.TRAPPED:
                counters.traps += 1
                trapped_pc = r[pc_index]
                ended = self.on_trap(cause, trapped_pc)
                if trace is not None:
                    trace(self.record(steps, trapped_pc, before, block, self.cause_name(cause)))
                if ended is not None:
                    return self.result(ended, steps, self.trap_message(ended, cause, trapped_pc),
                                       self.cause_name(cause))
                continue
            if trace is not None:
                trace(self.record(steps, pc, before, block, None))
            if stop == Stop.HALTED:
                return self.result("halted", steps, f"halted after {steps} step{'s' if steps != 1 else ''}")
        plural = "s" if max_steps != 1 else ""
        return self.result("step_limit", steps, f"stopped after {max_steps} step{plural} without reaching "
                           "halt (raise the limit with --max-steps)")

    def run_untraced(self, max_steps: int) -> RunResult:
        """`run` without a trace: the loop every untraced run spends its time in between regions,
        so it takes the machine's own trap mechanism (the default hook) without a call."""
        state = self.state
        r, memory, watch, guard = state.slots, state.memory, self.watch, self.guard
        pc_index, fetch, counters = self.pc_index, self.fetch, self.counters
        mechanism = self.traps if self.on_trap == self.trap_mechanism else None
        trapped = Stop.TRAPPED
        self.log = None
        self.resuming = RESUMING
        steps = 0
        while steps < max_steps:
            executed, stop, cause = fetch(r[pc_index], max_steps - steps, False).run(
                r, memory, watch, None, guard, max_steps - steps)
            steps += executed
            counters.steps += executed
            if not stop:
                continue
            if stop == trapped:
                counters.traps += 1
                if mechanism:
                    _, fault_stop, fault = mechanism[cause](r, memory, watch, None, None, 0)
                    if fault_stop == trapped:
                        self.mechanism_faulted(cause, fault)
                    continue
                trapped_pc = r[pc_index]
                ended = self.on_trap(cause, trapped_pc)
                if ended is not None:
                    return self.result(ended, steps, self.trap_message(ended, cause, trapped_pc),
                                       self.cause_name(cause))
                continue
            return self.result("halted", steps, f"halted after {steps} step{'s' if steps != 1 else ''}")
        plural = "s" if max_steps != 1 else ""
        return self.result("step_limit", steps, f"stopped after {max_steps} step{plural} without reaching "
                           "halt (raise the limit with --max-steps)")

    def trap_message(self, status: str, cause: int, pc: int) -> str:
        name = self.cause_name(cause)
        if status == "trap":
            return f"trap '{name}' at pc {pc}, and machine '{self.machine.name}' declares no trap mechanism"
        return f"{status} after trap '{name}' at pc {pc}"

    def cause_name(self, cause: int) -> str:
        return self.machine.causes[cause] if cause < len(self.machine.causes) else "exit"

    def result(self, status: str, steps: int, message: str, cause: str | None = None) -> RunResult:
        return RunResult(status, steps, self.state, message, self.initial_memory, cause)

    def record(self, step: int, pc: int, before: MachineState | None, block: _Block | Region,
               cause: str | None) -> StepRecord:
        assert before is not None and self.log is not None and isinstance(block, _Block)
        registers = {}
        for difference in differences(before, self.state, addresses=()):
            item = difference.item
            assert item is not None
            if item.reg is None:
                registers[self.machine.mode_name] = (before.mode, self.state.mode)
            else:
                index = self.machine.register_index(item.reg)
                registers[item.reg] = (before.slots[index], self.state.slots[index])
        writes = tuple(self.log)
        self.log.clear()
        mode = self.machine.modes[before.mode]
        first = block.first
        if first is None:
            return StepRecord(step, pc, mode, None, (), cause, registers, writes)
        return StepRecord(step, pc, mode, first.instruction.name, first.operands, cause, registers, writes)
