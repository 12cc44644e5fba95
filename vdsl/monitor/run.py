"""Run a scenario: its guests under the monitors its policies build, checked in lockstep.

Each guest runs twice, instruction for instruction: on a bare machine (its own virtual
machine, alone), and under the monitor on the real machine.  After every guest instruction
the bare state and the state the monitor presents through the VM map are compared; the
first difference is the divergence.  Resource control and efficiency are measured on the
monitored run.  The monitors are chained from the hardware up: the guests run under the
last one, each outer monitor runs the one above it as its only guest.
"""

from __future__ import annotations

import functools

import attrs

from vdsl.emulator import DEFAULT_MAX_STEPS, MachineState
from vdsl.errors import RunError, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import THEOREMS
from vdsl.monitor.dispatcher import Hardware, Monitor, MonitorGuard, RealHardware
from vdsl.monitor.nested import NestedHardware
from vdsl.monitor.results import (
    Event,
    Explanation,
    GuestCounters,
    LevelCosts,
    ScenarioRun,
)
from vdsl.monitor.scheduler import round_robin
from vdsl.resolve.policies import no_extension


def run_scenario(scenario: ir.Scenario, technique: str | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                 lockstep: bool = True, trace: bool = False) -> ScenarioRun:
    """Run `scenario` (with every monitor using `technique`, when given) and check its expectations."""
    techniques = check_techniques(scenario, technique)
    events: list[Event] | None = [] if trace else None
    guard = MonitorGuard()
    isa = scenario.isa
    explain = functools.lru_cache(maxsize=None)(
        lambda name: _explain(isa, scenario.monitor.context, name, techniques[-1]))
    hardware: Hardware = RealHardware(isa, MachineState.empty(isa.machine), guard=guard)
    monitors: list[Monitor] = []
    for level, (policy, chosen) in enumerate(zip(scenario.monitors, techniques, strict=True)):
        monitor = Monitor(policy, hardware, level, chosen, guard, events, explain)
        monitors.append(monitor)
        if level < len(scenario.monitors) - 1:
            inner = scenario.monitors[level + 1]
            (vm,) = monitor.add_guests([(f"hypervisor {inner.name}", None, isa.machine.modes[0])],
                                       lockstep=False)
            monitor.current = vm
            hardware = NestedHardware(monitor, vm, guard)
    innermost = monitors[-1]
    innermost.add_guests([(g.name, g.program, g.mode) for g in scenario.guests], lockstep)
    round_robin(innermost, lockstep, max_steps)
    policy = scenario.monitor
    for vm in innermost.guests:
        vm.run.translations = tuple(b for t in vm.translators.values() for b in t.translations())
    for run in (vm.run for vm in innermost.guests):
        run.checked = lockstep and not run.management
        run.cycles = run.counters.cycles(policy.costs, hosted=policy.type == 2)
    levels = tuple(_level_costs(monitor, monitor is innermost) for monitor in monitors)
    result = ScenarioRun(scenario, techniques[-1], tuple(vm.run for vm in innermost.guests), levels,
                         tuple(events or ()), compared=tuple(innermost.compared or ()))
    return attrs.evolve(result, expectations=tuple(check_expectation(result, e) for e in scenario.expects))


def check_techniques(scenario: ir.Scenario, technique: str | None = None) -> list[str]:
    """The technique each monitor of `scenario` runs (a `RunError` for hardware assistance on an isa
    without a virtualization extension)."""
    techniques = [technique or m.technique for m in scenario.monitors]
    for level, (policy, chosen) in enumerate(zip(scenario.monitors, techniques, strict=True)):
        if chosen == "hardware_assisted" and level > 0:
            raise RunError(f"hypervisor {policy.name} is hardware_assisted, but it runs inside another "
                           "monitor's virtual machine, which has no virtualization extension; run it on the "
                           "hardware (outermost), or choose another technique")
        if chosen == "hardware_assisted" and scenario.isa.virtualization is None:
            raise RunError("; ".join(no_extension(policy, scenario.isa)))
    return techniques


def _level_costs(monitor: Monitor, innermost: bool) -> LevelCosts:
    """What one level did; the guests' direct instructions are charged once, at the innermost."""
    total = GuestCounters()
    for vm in monitor.guests:
        total.add(vm.counters)
    policy = monitor.policy
    costs = policy.costs if innermost else attrs.evolve(policy.costs, direct=0)
    return LevelCosts(monitor.level, policy.name, monitor.technique, policy.type, total,
                      total.cycles(costs, hosted=policy.type == 2))


def _explain(isa: ir.Isa, context: ir.GuestContext, name: str, technique: str) -> Explanation | None:
    """The classes of instruction `name` in the monitor's guest context, and the theorems it breaks."""
    from vdsl.analysis.classify import classify_instruction, guest_context  # z3, only when needed
    from vdsl.analysis.questions import Questions

    instruction = isa.instruction(name)
    if instruction is None:
        return None
    in_context = attrs.evolve(isa, context=context)
    report = classify_instruction(Questions(in_context, guest_context(in_context)), instruction)
    offends = [t for t in ("T1", "T3") if report.offends(t) is True]
    if report.premise is not None and report.premise.known is True:
        offends.append("premise")
    return Explanation(name, report.classes, tuple(offends))


def find_isa(spec: ir.Spec, name: str) -> ir.Isa:
    """The isa called `name`, or a RunError that names the ones there are."""
    isa = spec.isa(name)
    if isa is None:
        known = [i.name for i in spec.isas]
        raise RunError(f"there is no isa '{name}'; "
                       + (did_you_mean(name, known) or "the isas are " + ", ".join(known)))
    return isa


def find_hypervisor(spec: ir.Spec, name: str, isa: ir.Isa | None = None) -> ir.Hypervisor:
    """The hypervisor called `name` (that runs on `isa`, when one is given), or a RunError."""
    hypervisor = spec.hypervisor(name)
    if hypervisor is None:
        known = [h.name for h in spec.hypervisors]
        raise RunError(f"there is no hypervisor '{name}'; " + (
            did_you_mean(name, known) or ("the hypervisors are " + ", ".join(known) if known
                                          else "the files declare none")))
    if isa is not None and not hypervisor.is_for(isa):
        raise RunError(f"hypervisor {name} runs on {hypervisor.runs_on}, not on isa {isa.name}")
    return hypervisor


def select_scenarios(spec: ir.Spec, names: list[str] | None) -> list[ir.Scenario]:
    """The scenarios named (all of them when none is)."""
    if not names:
        return list(spec.scenarios)
    found = []
    for name in names:
        scenario = spec.scenario(name)
        if scenario is None:
            known = [s.name for s in spec.scenarios]
            raise RunError(f"there is no scenario '{name}'; " + (
                did_you_mean(name, known) or ("the scenarios are " + ", ".join(known) if known
                                              else "the spec defines no scenario")))
        found.append(scenario)
    return found


# ---------------------------------------------------------------- expectations


def check_expectation(run: ScenarioRun, expectation: ir.Expectation) -> ir.ExpectationResult:
    """Whether a scenario's `expect` line holds on this run (its form was checked by the resolver)."""
    words = list(expectation.words)
    if words[0] in THEOREMS:
        return _theorem_expectation(run, expectation)
    guests = list(run.guests)
    if run.guest(words[0]) is not None:
        guests = [g for g in guests if g.name == words[0]]
        words = words[1:]
    prop = words[0]
    if prop == "efficiency":
        total = GuestCounters()
        for guest in guests:
            total.add(guest.counters)
        value = total.efficiency
        holds = _compare(value, expectation.op or ">=", expectation.value or 0.0)
        return ir.ExpectationResult(expectation, holds, f"efficiency {value:.3f} ({total.direct} of "
                                                     f"{total.instructions} instructions run directly)")
    wanted = words[1] == "holds"
    at = words[3] if len(words) > 3 else None
    if prop == "equivalence":
        served = [g.name for g in guests if g.management]
        guests = [g for g in guests if not g.management] or guests
        unchecked = [g.name for g in guests if not g.checked]
        diverged = [g for g in guests if g.divergence is not None]
        holds_now = not diverged
        detail = "equivalent" if holds_now else "; ".join(
            f"{g.name} diverges at step {g.divergence.step} ({g.divergence.instruction})"
            for g in diverged if g.divergence is not None)
        if unchecked:
            detail += " (not compared: " + ", ".join(unchecked) + ")"
        if served:
            detail += " (" + ", ".join(served) + ": the management VM, whose requests come from the " \
                      "monitor, has no bare twin)"
        if at is not None:
            matched = any(g.divergence is not None and g.divergence.instruction == at for g in diverged)
            return ir.ExpectationResult(expectation, matched and not unchecked, detail)
        return ir.ExpectationResult(expectation, holds_now == wanted and not unchecked, detail)
    violations = [v for g in guests for v in g.violations]
    holds_now = not violations
    detail = "held" if holds_now else "; ".join(
        f"{v.guest}: {v.instruction or '?'} at step {v.step}: {v.detail}" for v in violations[:3]) + (
        f"; {len(violations) - 3} more" if len(violations) > 3 else "")
    if at is not None:
        return ir.ExpectationResult(expectation, any(v.instruction == at for v in violations), detail)
    return ir.ExpectationResult(expectation, holds_now == wanted, detail)


def _theorem_expectation(run: ScenarioRun, expectation: ir.Expectation) -> ir.ExpectationResult:
    """`T1 fails` in a scenario: the theorem for the hardware isa in the monitor's guest context."""
    from vdsl.analysis.classify import check_expectation as isa_expectation  # z3, only when needed
    from vdsl.analysis.classify import classify_isa

    scenario = run.scenario
    report = classify_isa(attrs.evolve(scenario.isa, context=scenario.monitor.context))
    result = isa_expectation(report, expectation)
    return ir.ExpectationResult(expectation, result.holds, result.detail, result.decided)


def _compare(value: float, op: str, bound: float) -> bool:
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound,
            "==": abs(value - bound) < 1e-9, "!=": abs(value - bound) >= 1e-9}[op]
