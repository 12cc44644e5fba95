"""The scheduler: the monitor's guests share the real processor round robin.

A timer the monitor owns ends every quantum (counted in guest instructions), so the monitor
regains control even from a guest that never traps.  In lockstep every guest instruction is
followed by a step of the guest's bare twin and a comparison.  A guest waiting for the
management VM to answer a request is passed over until the answer comes; the management VM
stops when every guest it serves has.
"""

from __future__ import annotations

from vdsl.monitor.dispatcher import Monitor, VirtualMachine


def round_robin(monitor: Monitor, lockstep: bool, max_steps: int) -> None:
    """Run the monitor's guests until each has halted, stopped, or run `max_steps` instructions."""
    quantum = monitor.policy.quantum
    previous: VirtualMachine | None = None
    while not monitor.machine_halted:
        _retire_backend(monitor)
        runnable = [vm for vm in monitor.guests if vm.runnable]
        if not runnable:
            break
        for vm in runnable:
            if monitor.machine_halted:
                break
            if not vm.runnable:  # the management VM, retired during this round
                continue
            if previous is not None and previous is not vm:
                vm.counters.world_switches += 1
                monitor.event("schedule", vm, _pc(monitor, vm), previous=previous.run.name)
            monitor.enter(vm)
            budget = min(quantum, max_steps - vm.counters.instructions)
            done = run_slice(monitor, vm, budget, lockstep)
            previous = vm
            if vm.running and vm.counters.instructions >= max_steps:
                vm.run.status = "step_limit"
                vm.run.message = f"stopped after {max_steps} instructions without reaching halt " \
                                 "(raise the limit with --max-steps)"
            elif vm.runnable and done >= budget:  # not a guest that waits, or a back-end that answered
                vm.counters.preemptions += 1
                monitor.event("preempt", vm, _pc(monitor, vm))
            _retire_backend(monitor)
    backend = monitor.backend
    for vm in monitor.guests:
        if vm.running and vm.request is not None and backend is not None:
            vm.run.status, vm.run.message = "stopped", f"waiting for management VM {backend.run.name}, " \
                                                       f"which {backend.run.message or 'stopped'}"
        elif vm.running:
            vm.run.status, vm.run.message = "stopped", "the real machine halted under it"


def _retire_backend(monitor: Monitor) -> None:
    """Stop the management VM once no guest it serves is running: its back-end would wait forever."""
    backend = monitor.backend
    if backend is not None and backend.running and not any(
            vm.running for vm in monitor.guests if vm is not backend):
        backend.run.status = "served"
        served = backend.counters.served
        plural = "s" if served != 1 else ""
        backend.run.message = f"served {served} request{plural} until the guests it serves stopped"


def run_slice(monitor: Monitor, vm: VirtualMachine, budget: int, lockstep: bool) -> int:
    """Up to `budget` instructions of one guest; how many ran."""
    done = 0
    while done < budget and vm.running and not monitor.machine_halted:
        if lockstep:
            pc = _pc(monitor, vm)
            before = vm.bare.state.copy() if vm.bare is not None and vm.run.divergence is None else vm.state
            how = monitor.step(vm)
            if how == "waiting":  # compared when the management VM has answered
                assert vm.request is not None
                vm.request.before = before
                break
            if how == "direct":
                monitor.event("direct", vm, pc)
            monitor.compare(vm, pc, how, before)
            done += 1
        elif monitor.wants_interpretation(vm) or monitor.screens(vm):
            if monitor.step(vm) == "waiting":
                break
            done += 1
        else:
            done += monitor.run_directly(vm, budget - done)
            if vm.request is not None:
                break
        if vm is monitor.backend and monitor.collect(lockstep) is not None:
            break  # the answered guest runs next
    if vm is monitor.backend:
        monitor.collect(lockstep)
    return done


def _pc(monitor: Monitor, vm: VirtualMachine) -> int:
    return vm.state.slots[monitor.machine.register_index(monitor.machine.pc)]
