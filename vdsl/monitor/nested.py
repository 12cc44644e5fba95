"""Recursive virtualization: a monitor running as the guest of a monitor (Theorem 2).

The inner monitor's hardware is the virtual machine the outer monitor gives it: running it
"directly" is the outer monitor running its guest, and the traps the outer monitor reflects
into that virtual machine reach the inner monitor's dispatcher, which runs the virtual trap
mechanism as its hardware part.  Only the innermost monitor's guests run programs; every
outer monitor has one guest, the monitor above it.

The inner monitor runs in its virtual machine's most privileged mode, which the outer one
deprivileges: each time it returns to its guest after a trap, that return is a privileged
instruction the outer monitor traps and emulates.  Those traps are counted at the outer level.
"""

from __future__ import annotations

from vdsl.emulator import MachineState, RunResult
from vdsl.emulator.machine import Counters, TrapHook
from vdsl.ir import nodes as ir
from vdsl.monitor.dispatcher import MONITOR, Monitor, MonitorGuard, VirtualMachine
from vdsl.semantics.concrete import AccessGuard


class NestedHardware:
    """The virtual machine `vm` of monitor `outer`, as hardware for the monitor inside it."""

    def __init__(self, outer: Monitor, vm: VirtualMachine, guard: MonitorGuard) -> None:
        self.outer = outer
        self.vm = vm
        self.isa: ir.Isa = vm.isa
        self.state: MachineState = vm.state
        self.guard: AccessGuard | None = guard
        self.watch = vm.interpreter.watch
        self.counters = Counters()
        self.hook: TrapHook | None = None
        self.seen: list[int] = []  # the virtual registers as the outer monitor last left them
        vm.nested = self.deliver

    @property
    def on_trap(self) -> TrapHook:
        assert self.hook is not None
        return self.hook

    @on_trap.setter
    def on_trap(self, hook: TrapHook) -> None:
        self.hook = hook

    def deliver(self, cause: int, pc: int) -> str | None:
        """A trap the outer monitor reflects into this virtual machine: the inner dispatcher's."""
        self.counters.traps += 1
        assert self.hook is not None
        return self.hook(cause, pc)

    def take_trap(self, cause: int) -> bool:
        """The hardware part of a trap, here: the virtual machine's trap mechanism.  The inner
        monitor's return to its guest afterwards traps into the outer monitor, which emulates it."""
        vm = self.vm
        vm.counters.traps += 1
        vm.counters.emulations += 1
        pc = vm.state.slots[self.outer.pc_index]
        self.outer.event("emulate", vm, pc, (None, ()), returning="the monitor's return to its guest")
        return vm.interpreter.take_trap(cause)

    def run(self, max_steps: int) -> RunResult:
        outer, vm = self.outer, self.vm
        outer.current = vm
        if vm.state.slots != self.seen:  # the inner monitor loaded its hardware: load the real machine
            vm.real_stale = True
        if max_steps == 1 or outer.screens(vm) or outer.wants_interpretation(vm):
            outer.step(vm)  # one instruction: the outer monitor looks at each before it runs
            ran = 1
        else:
            ran = outer.run_directly(vm, max_steps)
        self.counters.steps += ran
        self.seen = list(vm.state.slots)
        if outer.machine_halted:
            status = "halted"
        elif vm.real_stale:
            status = MONITOR
        else:
            status = "step_limit"
        return RunResult(status, ran, self.state, status, [])

    def to_real(self, address: int) -> int:
        return self.outer.hardware.to_real(self.vm.map.partition.offset + address)
