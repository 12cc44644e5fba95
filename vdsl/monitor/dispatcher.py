"""The monitor ⟨D, A, {vᵢ}⟩, built from a policy and never written per ISA.

The real machine runs a guest directly, in the guest mode, on the real state the VM map
(`vm_map.py`) gives it.  When the real machine traps, the hardware part of the trap happens
as the spec declares (the machine's trap mechanism saves the guest's PSW into the monitor's
trap area), and the **dispatcher** D takes over: it takes the guest's state back, and the
**interpreter routine** vᵢ of the trapped instruction — the instruction's own IR semantics,
compiled for the guest's virtual machine — runs it on the guest's *virtual* state (virtual
mode, virtual R, virtual control state).  If the instruction traps there too, that trap is
the guest's own: the virtual machine's trap mechanism **reflects** it into the guest's trap
vector.  When the instruction changed the guest's relocation, the **allocator** A places the
new window inside the guest's partition.  Then the real machine is loaded for the guest again.

Under `hybrid`, every instruction the guest runs in a virtual mode more privileged than the
guest mode is interpreted, without a trap; its user mode runs directly.

With a management VM whose back-end `serves` some instructions (split drivers: Xen's Dom0,
Hyper-V's parent partition), another guest's instruction of those names is not completed by
the monitor: it becomes a *request* on the shared page in the management VM's memory, the
guest waits, and the management VM's own code serves it; when the back-end marks the request
answered, the monitor completes the instruction on the waiting guest's virtual state.

Under `binary_translation`, code the guest runs in those modes is translated a block at a time
(`translator.py`): the instructions that would not give the virtual machine's result on the real
machine (`patching.py`) become calls into the monitor, which runs them on the virtual state; the
rest run directly.  Under `paravirtual`, the guest is rewritten before it runs: each such
instruction is replaced by a hypercall, a word the real machine cannot execute, so that it
traps to the monitor, which runs the original instruction on the virtual state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

import attrs

from vdsl.emulator import Emulator, MachineState, RunResult, load_program
from vdsl.emulator.decoder import Decoder
from vdsl.emulator.machine import Counters, TrapHook, Watch
from vdsl.emulator.state import Difference, differences
from vdsl.errors import RunError
from vdsl.ir import nodes as ir
from vdsl.ir.layout import psw_items, trap_words
from vdsl.monitor.allocator import Allocator, Partition
from vdsl.monitor.memory import PartitionMemory, WatchView
from vdsl.monitor.patching import Patcher
from vdsl.monitor.results import (
    ComparedStep,
    Divergence,
    Event,
    Explanation,
    GuestCounters,
    GuestRun,
    Rewrite,
    Translated,
    Violation,
)
from vdsl.monitor.translator import Translator
from vdsl.monitor.vm_map import VmMap
from vdsl.semantics.bits import mask
from vdsl.semantics.concrete import AccessGuard

MONITOR = "monitor"  # the status a trap hook ends a run with when the monitor must decide what next
MAX_VIOLATIONS = 20  # violations recorded per guest; the rest are counted
MAX_COMPARED_WORDS = 16  # memory words a compared step keeps (the report shows them)

Explain = Callable[[str], "Explanation | None"]


class Hardware(Protocol):
    """What a monitor runs on: the real machine (an `Emulator`), or the virtual machine an outer
    monitor gives it (`NestedHardware`)."""

    isa: ir.Isa
    state: MachineState
    on_trap: TrapHook
    guard: AccessGuard | None
    watch: Watch
    counters: Counters

    def run(self, max_steps: int) -> RunResult: ...

    def take_trap(self, cause: int) -> bool: ...

    def to_real(self, address: int) -> int:
        """The real address of one of this hardware's memory words."""


class RealHardware(Emulator):
    """The real machine: an emulator whose memory is the real memory."""

    def to_real(self, address: int) -> int:
        return address


@attrs.define
class MonitorGuard:
    """The access guard of the real machine: the window of the guest running now, in real
    addresses; an access outside it is a violation of the guest that made it."""

    lo: int = 0
    hi: int = 0
    holes: frozenset[int] = frozenset()
    report: Callable[[int, bool, int], None] | None = None

    def violation(self, address: int, write: bool, pc: int) -> None:
        if self.report is not None:
            self.report(address, write, pc)


RING_FREE, RING_POSTED, RING_ANSWERED = 0, 1, 2  # the shared page's status word


@attrs.define
class Request:
    """A guest instruction waiting for the management VM's back-end: how the monitor came to run
    it (a trap, a call, an exit), and, in lockstep, what to compare once it is answered."""

    trapped: bool
    call: tuple[ir.Instruction, tuple[int, ...]] | None
    exit: bool
    pc: int  # the guest's virtual pc
    delivered: bool = False  # a trap the hardware delivers (hardware assistance)
    before: MachineState | None = None  # the bare twin's state before the instruction
    posted: bool = False  # written on the shared page (it holds one request at a time)


@attrs.define(eq=False)
class VirtualMachine:
    """One guest of a monitor: its VM map, its virtual state, its interpreter and bare twin."""

    run: GuestRun
    isa: ir.Isa  # the hardware's isa, on a machine with the partition's memory
    map: VmMap
    state: MachineState  # the virtual state: what the guest sees
    interpreter: Emulator
    bare: Emulator | None  # the same program on a bare machine, in lockstep
    nested: TrapHook | None = None  # the dispatcher of a monitor running inside this VM
    real_stale: bool = True  # the real machine does not hold this guest's state
    current_step: int = 0  # the number of the guest instruction being run (events and violations)
    last_cause: int | None = None  # the cause of the last trap its virtual machine took
    reported: set[str] = attrs.Factory(set)
    dropped: int = 0  # violations not recorded past MAX_VIOLATIONS
    # binary translation: the translation caches of code run by the guest's kernel and user mode
    translators: dict[bool, Translator] = attrs.Factory(dict)
    # paravirtual: each rewritten address -> the instruction, its operands and the original word
    hypercalls: dict[int, tuple[ir.Instruction, tuple[int, ...], int]] = attrs.Factory(dict)
    hypercall_word: int | None = None  # the word that replaced them
    request: Request | None = None  # split drivers: an instruction waiting for the back-end

    @property
    def counters(self) -> GuestCounters:
        return self.run.counters

    @property
    def running(self) -> bool:
        return self.run.status == "running"

    @property
    def runnable(self) -> bool:
        """Running, and not waiting for the management VM to answer a request."""
        return self.run.status == "running" and self.request is None


class Monitor:
    """One monitor of a scenario: a policy on a hardware, with its guests."""

    def __init__(self, policy: ir.Hypervisor, hardware: Hardware, level: int, technique: str,
                 guard: MonitorGuard, events: list[Event] | None, explain: Explain) -> None:
        self.policy = policy
        self.hardware = hardware
        self.machine = hardware.isa.machine
        self.level = level
        self.technique = technique
        self.guard = guard
        self.events = events
        self.compared: list[ComparedStep] | None = [] if events is not None else None
        self.explain = explain
        self.allocator = Allocator(self.machine, policy.name)
        self.guests: list[VirtualMachine] = []
        self.current: VirtualMachine | None = None
        self.machine_halted = False  # a guest stopped the real machine
        self.pc_index = self.machine.register_index(self.machine.pc)
        self.relocation_index = self.machine.register_index(self.machine.relocation) \
            if self.machine.relocation else None
        # hardware assistance: the processor's virtualization extension (its guest mode, its exits)
        self.extension = hardware.isa.virtualization if technique == "hardware_assisted" else None
        # The real machine leaves the guest on an exit by itself (the exit is a trap the dispatcher
        # sees); a monitor's virtual machine has no exit controls, so there the monitor screens.
        self.hardware_exits = self.extension is not None and isinstance(hardware, Emulator)
        self.exit_cause: int | None = None  # the cause the hardware reports an exit with
        self.guest_modes = self.extension.guest_modes(self.machine) if self.extension is not None else ()
        if self.hardware_exits:
            assert self.extension is not None and isinstance(hardware, Emulator)
            hardware.exits = frozenset(self.extension.exits)
            self.exit_cause = hardware.exit_cause
        # split drivers: the management VM whose back-end serves the others, and the guests
        # waiting for it, in the order they asked
        self.backend: VirtualMachine | None = None
        self.waiting: list[VirtualMachine] = []
        self.patcher = Patcher(hardware.isa, policy.context,
                               policy.hypercalls if technique == "paravirtual" else None) \
            if technique in ("binary_translation", "paravirtual") else None
        hardware.on_trap = self.dispatch
        self.boot()

    # ------------------------------------------------------------ setting up
    def boot(self) -> None:
        """Put the monitor's own PSW where the trap mechanism loads it: the most privileged mode,
        pc 0, and all of memory in reach.  (The dispatcher is vdsl's; no monitor code runs.)"""
        trap = self.machine.trap
        if trap is None:
            raise RunError(f"machine '{self.machine.name}' declares no trap mechanism, so hypervisor "
                           f"{self.policy.name} could never regain control from a guest; declare one with "
                           "`trap { save (...) -> E[n]; load (...) <- E[m] }`")
        boot = MachineState.empty(self.machine)
        boot.slots[boot.mode_index] = 0
        word = mask(self.machine.memory.width)
        for offset, state_item in enumerate(psw_items(self.machine, trap.load)):
            self.hardware.state.memory[trap.load_at + offset] = boot.get(state_item) & word

    def add_guests(self, guests: list[tuple[str, ir.Program | None, str]],
                   lockstep: bool) -> list[VirtualMachine]:
        """Give each guest (name, program, virtual start mode) a partition, a virtual machine loaded
        with its program, an interpreter and, in lockstep, a bare twin."""
        partitions = self.allocator.allocate([name for name, _, _ in guests], self.policy.memory_per_guest)
        serving = self.policy.management if self.policy.serves else None
        for (name, program, mode), partition in zip(guests, partitions, strict=True):
            # the management VM has no bare twin: its requests come from the monitor
            vm = self.virtual_machine(name, program, mode, partition, lockstep and name != serving)
            self.guests.append(vm)
            if name == serving:
                self.backend = vm
                vm.run.management = True
                ring = self.policy.ring
                assert ring is not None
                if ring + 2 + self.longest_request() > partition.size:
                    raise RunError(f"hypervisor {self.policy.name}: the shared page at {ring} does not fit "
                                   f"in management VM {name}'s {partition.size} words; put it lower")
        return self.guests

    def virtual_machine(self, name: str, program: ir.Program | None, mode: str, partition: Partition,
                        lockstep: bool) -> VirtualMachine:
        """A guest's virtual machine, loaded with its program (None: an empty machine, for a
        monitor that will run inside it)."""
        machine = attrs.evolve(self.machine, memory=attrs.evolve(self.machine.memory, size=partition.size))
        isa = attrs.evolve(self.hardware.isa, machine=machine)
        if program is not None:
            self.check_fits(name, program, isa, partition)
            image = load_program(isa, program)
        else:
            image = MachineState.empty(machine)
        image.slots[image.mode_index] = machine.modes.index(mode)
        as_written = image.copy()  # what the bare twin runs: a paravirtual guest is rewritten below
        sites: dict[int, tuple[ir.Instruction, tuple[int, ...], int]] = {}
        rewrites: list[Rewrite] = []
        if self.technique == "paravirtual" and program is not None:
            word = self.hypercall_word(isa)
            for placed in program.instructions:
                instruction = isa.instruction(placed.name)
                assert instruction is not None and self.patcher is not None
                if self.patcher.anywhere(instruction, placed.operands):
                    sites[placed.address] = (instruction, placed.operands, image.memory[placed.address])
                    rewrites.append(Rewrite(placed.address, len(rewrites), placed.name, placed.operands))
                    image.memory[placed.address] = word
        memory = PartitionMemory(self.hardware.state.memory, partition.offset, partition.size,
                                 {a: image.memory[a] for a in partition.kept})
        for address, word in enumerate(image.memory):
            memory[address] = word
        state = MachineState(machine, list(image.slots), memory)  # type: ignore[arg-type]
        vm_map = VmMap.build(self.machine, partition, self.policy.context, self.allocator, self.extension)
        run = GuestRun(name, program.name if program else "", mode,
                       (self.hardware.to_real(partition.offset), partition.size), rewritten=tuple(rewrites))
        interpreter = Emulator(isa, state, single_step=True,
                               watch=WatchView(self.hardware.watch, partition.offset, memory.kept))
        bare = Emulator(isa, as_written) if lockstep else None
        vm = VirtualMachine(run, isa, vm_map, state, interpreter, bare)
        if sites:
            vm.hypercalls, vm.hypercall_word = sites, image.memory[next(iter(sites))]
        if self.technique == "binary_translation" and self.patcher is not None:
            patcher = self.patcher
            vm.translators = {
                kernel: Translator(machine, interpreter.decoder.at,
                                   lambda i, o, kernel=kernel: patcher.needed(i, o, kernel))  # type: ignore[misc]
                for kernel in (True, False)}

        def reflect(cause: int, pc: int) -> str | None:
            vm.last_cause = cause
            return vm.nested(cause, pc) if vm.nested is not None else interpreter.trap_mechanism(cause, pc)

        interpreter.on_trap = reflect
        return vm

    def hypercall_word(self, isa: ir.Isa) -> int:
        """A memory word no instruction of `isa` starts with: executing it traps (`illegal`)."""
        decoder = Decoder(isa)
        top = int(mask(isa.machine.memory.width))
        for word in itertools.chain((len(isa.instructions), top), range(min(top, 1 << 16) + 1)):
            if word <= top and decoder.instruction(word) is None:
                return word
        raise RunError(f"hypervisor {self.policy.name} is paravirtual, but every word of isa {isa.name} "
                       "decodes to an instruction: there is no word left for a hypercall")

    def check_fits(self, name: str, program: ir.Program, isa: ir.Isa, partition: Partition) -> None:
        size = partition.size
        used = [p.address + len(p.operands) for p in program.instructions] + [a for a, _ in program.data]
        if used and max(used) >= size:
            raise RunError(f"guest {name}: program {program.name} uses address {max(used)}, but hypervisor "
                           f"{self.policy.name} gives each guest {size} words; allocate more memory per "
                           "guest or move the program down with `org`")
        needed = trap_words(isa.machine)
        if needed and max(needed) >= size:
            raise RunError(f"guest {name}: its virtual machine needs its own trap areas (up to word "
                           f"{max(needed)}), but hypervisor {self.policy.name} gives each guest "
                           f"{size} words")

    # ------------------------------------------------------------ the dispatcher D
    def dispatch(self, cause: int, pc: int) -> str | None:
        """The hardware trapped while a guest ran: take the guest's state, run the hardware part of
        the trap, interpret the trapped instruction on the virtual state, resume."""
        vm = self.current
        assert vm is not None
        real = self.hardware.state
        vm.map.leave(real, vm.state)
        self.check_behind_back(vm, pc)
        if cause == self.exit_cause:
            status = self.interpret(vm, trapped=False, call=self.exiting(vm), exit=True)
        elif self.extension is not None:  # a guest's own trap: the hardware delivers it inside the guest
            status = self.interpret(vm, trapped=True, delivered=True)
        else:
            self.hardware.take_trap(cause)
            vm.counters.traps += 1
            self.event("dispatch", vm, pc, cause=self.machine.causes[cause])
            status = self.interpret(vm, trapped=True, call=self.hypercall(vm, cause))
        if status is not None:
            vm.real_stale = True  # the real machine holds the monitor's state now, not the guest's
            return status
        return self.resume(vm)

    def hypercall(self, vm: VirtualMachine, cause: int) -> tuple[ir.Instruction, tuple[int, ...]] | None:
        """The instruction a paravirtual guest's trap calls for: an illegal-instruction trap at a
        word the monitor put there (None: the trap is not a hypercall)."""
        if not vm.hypercalls or self.machine.causes[cause] != "illegal":
            return None
        offset, limit = vm.interpreter.window(vm.state.slots)
        pc = vm.state.slots[self.pc_index]
        site = vm.hypercalls.get(pc + offset) if pc < limit else None
        if site is None or vm.state.memory[pc + offset] != vm.hypercall_word:
            return None
        return site[0], site[1]

    def translates(self, vm: VirtualMachine) -> bool:
        """Binary translation: the guest runs translated code, in every mode."""
        return bool(vm.translators)

    def screens(self, vm: VirtualMachine) -> bool:
        """The monitor looks at each guest instruction before it runs: to translate it, or to see
        whether it exits (the hardware's exit controls)."""
        return self.translates(vm) or (self.extension is not None and not self.hardware_exits)

    def resume(self, vm: VirtualMachine) -> str | None:
        """Load the real machine for the guest again, or hand control back to the scheduler."""
        if not vm.running or self.wants_interpretation(vm) or self.screens(vm):
            vm.real_stale = True
            return MONITOR
        vm.map.enter(vm.state, self.hardware.state)
        vm.real_stale = False
        return None

    def wants_interpretation(self, vm: VirtualMachine) -> bool:
        """Hybrid: the guest's virtual modes more privileged than the guest mode are interpreted;
        hardware assistance: the modes the extension has no guest mode for."""
        if self.extension is not None:
            return vm.state.mode not in self.guest_modes
        return self.technique == "hybrid" and vm.state.mode < vm.map.guest_mode

    # ------------------------------------------------------------ the interpreter routines vᵢ
    def interpret(self, vm: VirtualMachine, trapped: bool,
                  call: tuple[ir.Instruction, tuple[int, ...]] | None = None,
                  exit: bool = False, delivered: bool = False) -> str | None:
        """Run the guest's next instruction on its virtual state: its own semantics, compiled for
        the virtual machine; a trap there is reflected into the guest's own trap vector (or, in a
        nested chain, to the monitor running in this VM).  `call`: the instruction a hypercall or
        a translated call stands for, run in the guest's place.  `delivered`: with hardware
        assistance, a trap the guest takes in its own modes, which the hardware delivers to the
        guest's trap vector without the monitor (vdsl runs the delivery on the virtual state)."""
        state = vm.state
        pc = state.slots[self.pc_index]
        relocation = self.relocation_of(state)
        instruction = self.instruction_at(vm, pc) if call is None else (call[0].name, call[1])
        if self.backend is not None and vm is not self.backend and vm.request is None \
                and instruction[0] in self.policy.serves:
            self.forward(vm, Request(trapped, call, exit, pc, delivered=delivered), instruction)
            return MONITOR
        traps = vm.interpreter.counters.traps
        result = vm.interpreter.step() if call is None else vm.interpreter.execute(*call)
        reflected = vm.interpreter.counters.traps > traps
        cause = self.machine.causes[vm.last_cause] if reflected and vm.last_cause is not None else None
        if call is not None:
            kind = "exit" if exit else "hypercall" if trapped else "call"
            vm.counters.calls += 1
            if exit:
                vm.counters.exits += 1
            if reflected:
                vm.counters.reflections += 1
        elif delivered and reflected:
            kind = "deliver"
            vm.counters.delivered += 1
        elif trapped:
            if delivered:  # the virtual machine does not take it: the monitor completes the instruction
                vm.counters.traps += 1
            kind = "reflect" if reflected else "emulate"
            if reflected:
                vm.counters.reflections += 1
            else:
                vm.counters.emulations += 1
        else:
            kind = "interpret"
            vm.counters.interpretations += 1
            if reflected:
                vm.counters.reflections += 1
        self.event(kind, vm, pc, instruction, cause=cause)
        new = self.relocation_of(state)
        if relocation is not None and new is not None and new != relocation:
            vm.counters.allocations += 1
            real = vm.map.real_relocation(state)
            self.event("allocate", vm, pc, instruction, virtual=self.fields_of(new),
                       real=self.fields_of(real) if real is not None else None, by=kind)
        if result.status == "halted":
            vm.run.status, vm.run.message = "halted", "halted"
            self.event("halt", vm, pc, instruction)
            return MONITOR
        if result.status not in ("step_limit",):  # a nested monitor ended the run
            return result.status
        return None

    def fields_of(self, relocation: int) -> dict[str, int]:
        """A relocation register's value, field by field (for the trace)."""
        reg = self.machine.register(self.machine.relocation or "")
        assert reg is not None
        return {f.name: (relocation >> f.lo) & mask(f.width) for f in reg.fields}

    def relocation_of(self, state: MachineState) -> int | None:
        return None if self.relocation_index is None else state.slots[self.relocation_index]

    # ------------------------------------------------------------ split drivers: the management VM
    def forward(self, vm: VirtualMachine, request: Request,
                instruction: tuple[str | None, tuple[int, ...]]) -> None:
        """Make the guest's instruction a request to the management VM's back-end; the guest waits."""
        assert self.backend is not None
        vm.request = request
        vm.counters.forwarded += 1
        self.waiting.append(vm)
        self.event("forward", vm, request.pc, instruction, to=self.backend.run.name)
        self.post()

    def post(self) -> None:
        """Write the oldest waiting request on the shared page, if it is free: the status word
        (posted), the guest's number (its place in the scenario, from 1), the instruction's words
        as the guest placed them, and the value of each register it names."""
        backend, ring = self.backend, self.policy.ring
        if backend is None or ring is None or not self.waiting or backend.state.memory[ring] != RING_FREE:
            return
        vm = self.waiting[0]
        request = vm.request
        assert request is not None
        if request.posted:
            return
        found = request.call or self.decoded(vm, request.pc)
        assert found is not None  # the monitor was about to run it
        instruction, operands = found
        registers = [vm.state.slots[self.machine.register_index(dict(self.machine.operand_targets(o))[v])]
                     for o, v in zip(instruction.operands, operands, strict=True) if o.kind == "reg"]
        word = mask(self.machine.memory.width)
        record = [RING_POSTED, self.guests.index(vm) + 1, *instruction.words(operands), *registers]
        for offset, value in enumerate(record):
            backend.state.memory[ring + offset] = value & word
        request.posted = True

    def longest_request(self) -> int:
        """The most words a request of the instructions the back-end serves takes after its header."""
        isa = self.hardware.isa
        served = [i for i in isa.instructions if i.name in self.policy.serves]
        return max((i.size + sum(o.kind == "reg" for o in i.operands) for i in served), default=0)

    def collect(self, lockstep: bool) -> VirtualMachine | None:
        """If the back-end has answered the posted request, complete the waiting guest's instruction
        on its virtual state (and compare it with its bare twin), free the page, post the next."""
        backend, ring = self.backend, self.policy.ring
        if backend is None or ring is None or not self.waiting or backend.state.memory[ring] != RING_ANSWERED:
            return None
        vm = self.waiting.pop(0)
        request = vm.request
        assert request is not None
        backend.state.memory[ring] = RING_FREE
        backend.counters.served += 1
        self.event("answer", vm, request.pc, by=backend.run.name)
        vm.current_step = vm.counters.instructions + 1
        self.interpret(vm, request.trapped, request.call, request.exit, request.delivered)
        vm.request = None
        vm.real_stale = True
        vm.counters.instructions += 1
        if lockstep and request.before is not None:
            self.compare(vm, request.pc, "served", request.before)
        self.post()
        return vm

    # ------------------------------------------------------------ running a guest
    def enter(self, vm: VirtualMachine) -> None:
        """Make `vm` the running guest: its window in the guard, its state in the real machine."""
        if self.current is not vm and self.current is not None:
            self.current.real_stale = True  # the real machine is about to hold another guest
        self.current = vm
        partition = vm.map.partition
        lo = self.hardware.to_real(partition.offset)
        self.guard.lo, self.guard.hi = lo, lo + partition.size
        self.guard.holes = frozenset(self.hardware.to_real(a) for a in partition.kept)
        self.guard.report = lambda address, write, pc: self.access_violation(vm, address, write, pc)
        if vm.real_stale and not self.wants_interpretation(vm):
            vm.map.enter(vm.state, self.hardware.state)
            vm.real_stale = False

    def step(self, vm: VirtualMachine) -> str:
        """One guest instruction: interpreted (hybrid), called from translated code, or run on the
        real machine (trapping into the dispatcher when it must).  How it was run: direct,
        emulated, reflected, interpreted, called, hypercall."""
        vm.current_step = vm.counters.instructions + 1
        if self.wants_interpretation(vm):
            self.interpret(vm, trapped=False)
            vm.real_stale = True
            if vm.request is not None:
                return "waiting"
            vm.counters.instructions += 1
            return "interpreted"
        if self.extension is not None and not self.hardware_exits:
            found = self.exiting(vm)
            if found is not None:  # the monitor screens for the exits a virtual machine lacks
                self.interpret(vm, trapped=False, call=found, exit=True)
                vm.real_stale = True
                if vm.request is not None:
                    return "waiting"
                vm.counters.instructions += 1
                return "exit"
        if self.translates(vm):
            translated = self.translated(vm)
            if translated is None or translated.patched:
                found = self.guest_instruction(vm, translated) if translated is not None else None
                self.interpret(vm, trapped=False, call=found)
                vm.real_stale = True
                if vm.request is not None:
                    return "waiting"
                vm.counters.instructions += 1
                return "called" if found is not None else "interpreted"
        if vm.real_stale:
            vm.map.enter(vm.state, self.hardware.state)
            vm.real_stale = False
        counters = vm.counters
        before = (counters.traps, counters.reflections, counters.calls, counters.exits, counters.delivered)
        pc = self.hardware.state.slots[self.pc_index]
        result = self.hardware.run(1)
        if vm.request is not None:
            return "waiting"
        counters.instructions += 1
        if counters.exits != before[3]:
            return "exit"
        if counters.delivered != before[4]:
            counters.direct += 1  # the hardware ran it, trap and all
            return "delivered"
        if counters.traps != before[0]:
            if counters.calls != before[2]:
                return "hypercall"
            return "reflected" if counters.reflections != before[1] else "emulated"
        counters.direct += 1
        self.after_direct(vm, pc, result)
        return "direct"

    def exiting(self, vm: VirtualMachine) -> tuple[ir.Instruction, tuple[int, ...]] | None:
        """The guest's next instruction, when the extension's exit controls make it leave the guest."""
        assert self.extension is not None
        found = self.decoded(vm, vm.state.slots[self.pc_index])
        if found is None or found[0].name not in self.extension.exits:
            return None
        return found

    def translated(self, vm: VirtualMachine) -> Translated | None:
        """The translated instruction at the guest's pc (translating its block if need be)."""
        translator = vm.translators[vm.state.mode < vm.map.guest_mode]
        offset, limit = vm.interpreter.window(vm.state.slots)
        pc = vm.state.slots[self.pc_index]
        if pc >= limit or pc + offset >= len(vm.state.memory):
            return None
        before = vm.counters.blocks
        found = translator.lookup(vm.state.memory, pc + offset, vm.counters)
        if vm.counters.blocks != before:
            self.event("translate", vm, pc, blocks=vm.counters.blocks)
        return found

    def guest_instruction(self, vm: VirtualMachine, translated: Translated) -> tuple[ir.Instruction,
                                                                                    tuple[int, ...]]:
        instruction = vm.isa.instruction(translated.instruction)
        assert instruction is not None
        return instruction, translated.operands

    def run_directly(self, vm: VirtualMachine, budget: int) -> int:
        """Up to `budget` guest instructions on the real machine, without lockstep; the count run."""
        if vm.real_stale:
            vm.map.enter(vm.state, self.hardware.state)
            vm.real_stale = False
        counters = vm.counters
        vm.current_step = counters.instructions + 1  # without lockstep, the first of the run
        steps, traps = self.hardware.counters.steps, self.hardware.counters.traps
        pc = self.hardware.state.slots[self.pc_index]
        result = self.hardware.run(budget)
        ran = self.hardware.counters.steps - steps
        counters.direct += ran - (self.hardware.counters.traps - traps)
        if vm.request is not None:
            ran -= 1  # the instruction waiting for the back-end counts when it is answered
        counters.instructions += ran
        self.after_direct(vm, pc, result)
        return ran

    def after_direct(self, vm: VirtualMachine, pc: int, result: RunResult) -> None:
        """The real machine stopped without the monitor: take the guest's state back, and check
        that the mode and relocation are still the monitor's and the machine still runs."""
        if vm.real_stale:
            return  # the dispatcher took over; the virtual state is the guest's
        vm.map.leave(self.hardware.state, vm.state)
        self.check_behind_back(vm, pc)
        if result.status == "halted":
            self.machine_halted = True
            vm.run.status, vm.run.message = "halted", f"halted the real machine at pc {pc}"
            self.violation(vm, "halt", pc, "halted the real machine: the other guests and the monitor "
                                           "stopped with it")
            self.event("halt", vm, pc, real=True)

    # ------------------------------------------------------------ resource control
    def check_behind_back(self, vm: VirtualMachine, pc: int) -> None:
        for changed in vm.map.unexpected(vm.state, self.hardware.state):
            kind = "mode" if changed == self.machine.mode_name else "relocation"
            if kind in vm.reported:
                continue
            vm.reported.add(kind)
            real = self.hardware.state
            if kind == "mode":
                modes = self.machine.modes
                detail = (f"changed the real mode to {modes[real.mode]} behind the monitor's back "
                          f"(the monitor runs it in {modes[vm.map.real_mode(vm.state.mode)]})")
            else:
                index = self.machine.register_index(changed)
                detail = (f"changed the real {changed} to {real.slots[index]} behind the monitor's back "
                          f"(the monitor set {vm.map.real_relocation(vm.state)})")
            self.violation(vm, kind, pc, detail)

    def access_violation(self, vm: VirtualMachine, address: int, write: bool, pc: int) -> None:
        partition = vm.map.partition
        lo = self.hardware.to_real(partition.offset)
        memory = self.machine.memory.name
        window = f"{memory}[{lo}..{lo + partition.size - 1}]"
        where = f"in the monitor's trap area (its partition is {window})" \
            if address in self.monitor_words() else f"outside its partition ({window})"
        detail = f"{'wrote' if write else 'read'} real word {memory}[{address}] {where}"
        self.violation(vm, "access", pc, detail)

    def monitor_words(self) -> frozenset[int]:
        """The real addresses of the trap areas of this monitor and of the monitors below it."""
        own = frozenset(self.hardware.to_real(a) for a in self.allocator.reserved)
        outer = getattr(self.hardware, "outer", None)
        return own | outer.monitor_words() if isinstance(outer, Monitor) else own

    def violation(self, vm: VirtualMachine, kind: str, pc: int, detail: str) -> None:
        if len(vm.run.violations) >= MAX_VIOLATIONS:
            vm.dropped += 1
            return
        name, _ = self.instruction_at(vm, pc)
        found = Violation(vm.run.name, kind, vm.current_step, pc, name, detail,
                          self.explain(name) if name is not None else None)
        vm.run.violations.append(found)
        self.event("violation", vm, pc, violation=kind, detail=detail)

    # ------------------------------------------------------------ equivalence
    def compare(self, vm: VirtualMachine, pc: int, how: str, before: MachineState) -> None:
        """Step the bare twin once and compare it with the virtual state the monitor presents."""
        bare = vm.bare
        if bare is None or vm.run.divergence is not None:
            return
        result = bare.step()
        words = vm.state.memory.words() if isinstance(vm.state.memory, PartitionMemory) \
            else list(vm.state.memory)
        for address, (_, _, original) in vm.hypercalls.items():  # as the guest was written
            if words[address] == vm.hypercall_word:
                words[address] = original
        if self.compared is not None:
            self.compared.append(_compared_step(vm, pc, how, before, bare.state, words))
        bare_halted = result.status == "halted"
        virtual_halted = vm.run.status == "halted"
        same = bare_halted == virtual_halted and bare.state.slots == vm.state.slots
        if same and bare.state.memory == words:
            return
        virtual = MachineState(vm.isa.machine, list(vm.state.slots), words)
        found = differences(bare.state, virtual)
        if bare_halted != virtual_halted:
            found.insert(0, Difference("halt", int(bare_halted), int(virtual_halted)))
        name, operands = self.instruction_at(vm, pc, before)
        vm.run.divergence = Divergence(vm.run.name, vm.counters.instructions, pc, name, operands, how, before,
                                       bare.state.copy(), virtual, tuple(found),
                                       self.explain(name) if name is not None else None)
        self.event("divergence", vm, pc, differences=[d.where for d in found])

    def instruction_at(self, vm: VirtualMachine, pc: int,
                       state: MachineState | None = None) -> tuple[str | None, tuple[int, ...]]:
        """The instruction a guest has at virtual pc `pc` (in `state`, default its virtual state)."""
        found = self.decoded(vm, pc, state)
        return (found[0].name, found[1]) if found is not None else (None, ())

    def decoded(self, vm: VirtualMachine, pc: int,
                state: MachineState | None = None) -> tuple[ir.Instruction, tuple[int, ...]] | None:
        """The instruction and operands at virtual pc `pc` of the guest (in `state`, default its
        virtual state); None outside its window or memory, or for a word no instruction starts with."""
        state = state or vm.state
        offset, limit = vm.interpreter.window(state.slots)
        if pc >= limit or pc + offset >= len(state.memory):
            return None
        return vm.interpreter.decoder.at(state.memory, pc + offset)

    # ------------------------------------------------------------ the trace
    def event(self, kind: str, vm: VirtualMachine, pc: int,
              instruction: tuple[str | None, tuple[int, ...]] | None = None, **detail: object) -> None:
        """Record what happened, with the real mode the monitor runs the guest in and its virtual
        mode (after the event).  `step` is the guest instruction the event belongs to: the one
        being run, or for a schedule or a preemption, the last one run."""
        if self.events is None:
            return
        modes = self.machine.modes
        name, operands = instruction or self.instruction_at(vm, pc)
        step = vm.counters.instructions if kind in ("schedule", "preempt") else vm.current_step
        self.events.append(Event(kind, self.level, vm.run.name, step, pc,
                                 modes[vm.map.real_mode(vm.state.mode)], modes[vm.state.mode], name, operands,
                                 tuple((k, v) for k, v in detail.items() if v is not None)))


def _compared_step(vm: VirtualMachine, pc: int, how: str, before: MachineState, bare: MachineState,
                   words: list[int]) -> ComparedStep:
    """What one lockstep comparison saw: both sets of registers, and the memory words the bare step
    wrote or where the virtual memory differs (a list compare first: most steps write nothing)."""
    changed: set[int] = set()
    for other in (before.memory, words):
        if other != bare.memory:
            changed.update(a for a, (x, y) in enumerate(zip(other, bare.memory, strict=True)) if x != y)
    memory = tuple((a, bare.memory[a], words[a]) for a in sorted(changed)[:MAX_COMPARED_WORDS])
    return ComparedStep(vm.run.name, vm.counters.instructions, pc, how, tuple(bare.slots),
                        tuple(vm.state.slots), memory)
