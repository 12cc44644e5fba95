"""`vdsl run` outputs: a program on the bare machine, and scenario runs under a monitor.

Back-ends are pure: each returns a string or a JSON-ready dict; only `vdsl.cli` prints.  The
JSON shape is documented in `docs/reference/json.md`.
"""

from __future__ import annotations

from typing import Any

from vdsl.emulator import MachineState, RunResult
from vdsl.emulator.state import Difference
from vdsl.ir import nodes as ir
from vdsl.monitor.results import Divergence, Explanation, GuestCounters, GuestRun, ScenarioRun, Violation

# ---------------------------------------------------------------- a program on the bare machine


def bare_run_json(name: str, result: RunResult) -> dict[str, Any]:
    state = result.state
    changed = {str(a): v for a, v in enumerate(state.memory) if v != result.initial_memory[a]}
    return {
        "program": name,
        "status": result.status,
        "steps": result.steps,
        "message": result.message,
        "cause": result.cause,
        "state": {
            "mode": state.machine.modes[state.mode],
            "registers": state.registers_json(),
            "memory_changes": changed,
        },
    }


def bare_run_text(name: str, result: RunResult) -> str:
    data = bare_run_json(name, result)
    lines = [f"program {name}: {result.message}", f"  mode {data['state']['mode']}"]
    for reg, value in data["state"]["registers"].items():
        if isinstance(value, dict):
            fields = " ".join(f"{k}={v}" for k, v in value["fields"].items())
            lines.append(f"  {reg} = {value['value']} ({fields})")
        else:
            lines.append(f"  {reg} = {value}")
    changes = data["state"]["memory_changes"]
    if changes:
        lines.append("  memory written: " + ", ".join(f"[{a}]={v}" for a, v in changes.items()))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- scenarios, text


def scenario_text(run: ScenarioRun, translations: bool = False) -> str:
    scenario = run.scenario
    monitor = scenario.monitor
    chain = " under ".join(f"hypervisor {m.name}" for m in reversed(scenario.monitors))
    virtualization = scenario.isa.virtualization
    where = f"guests run in their own modes ({virtualization.name})" \
        if run.technique == "hardware_assisted" and virtualization is not None \
        else f"guests run in {monitor.context.mode}"
    lines = [f"scenario {scenario.name}: {chain} on isa {scenario.isa.name}, {run.technique}, {where}"]
    for guest in run.guests:
        lines.extend(_guest_text(guest, translations))
    lines.extend(_costs_text(run))
    for result in run.expectations:
        status = "ok" if result.holds else "FAILED" if result.decided else "UNDECIDED"
        lines.append(f"  expect {expectation_words(result.expectation)}: {status} ({result.detail})")
    return "\n".join(lines) + "\n"


SUMMARY_HEADER = ("scenario", "hypervisor", "type", "technique", "guests", "equivalent", "efficiency",
                  "cycles")


def summary_rows(runs: list[ScenarioRun]) -> list[tuple[str, ...]]:
    """One row per scenario, under `SUMMARY_HEADER`: the side-by-side table of text and HTML."""
    rows: list[tuple[str, ...]] = []
    for run in runs:
        compared = [g for g in run.guests if not g.management]
        equivalent = "-" if not all(g.checked for g in compared) else \
            "yes" if all(g.equivalent for g in compared) else "no"
        monitor = run.scenario.monitor
        rows.append((run.scenario.name, " under ".join(m.name for m in reversed(run.scenario.monitors)),
                     str(monitor.type), run.technique, str(len(run.guests)), equivalent,
                     f"{run.efficiency:.3f}", str(run.cycles)))
    return rows


def runs_summary_text(runs: list[ScenarioRun]) -> str:
    """Several scenarios side by side: technique, equivalence, efficiency and cycles."""
    header = SUMMARY_HEADER
    rows = [header, *summary_rows(runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["side by side:"]
    for row in rows:
        cells = [cell.rjust(width) if i >= 6 else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def expectation_words(expectation: ir.Expectation) -> str:
    """The expectation as its author wrote it."""
    text = " ".join(expectation.written or expectation.words)
    if expectation.op is not None:
        text += f" {expectation.op} {expectation.value:g}"
    return text


def _guest_text(guest: GuestRun, translations: bool = False) -> list[str]:
    offset, size = guest.partition
    counters = guest.counters
    lines = [f"  guest {guest.name}: program {guest.program} from {guest.start_mode}, "
             f"memory E[{offset}..{offset + size - 1}]: {_status(guest)}"]
    if guest.management:
        lines.append("    equivalence: not compared (the management VM: its requests come from the "
                     "hypervisor, so it has no bare twin)")
    elif not guest.checked:
        lines.append("    equivalence: not checked (no lockstep run)")
    elif guest.divergence is None:
        lines.append(f"    equivalence: held ({counters.instructions} instructions compared with the bare "
                     "machine)")
    else:
        lines.extend(_divergence_text(guest.divergence))
    if not guest.violations:
        lines.append("    resource control: held")
    else:
        lines.append(f"    resource control: FAILS ({len(guest.violations)} violation"
                     f"{'s' if len(guest.violations) != 1 else ''})")
        lines.extend(_violation_text(v) for v in guest.violations[:5])
        if len(guest.violations) > 5:
            lines.append(f"      ... {len(guest.violations) - 5} more")
    if counters.instructions:
        lines.append(f"    efficiency: {counters.efficiency:.3f} ({_counters_text(counters)}); "
                     f"{guest.cycles} cycles")
    else:
        lines.append("    efficiency: no instruction ran")
    if guest.rewritten:
        count = len(guest.rewritten)
        lines.append(f"    rewritten: {count} instruction{'s' if count != 1 else ''} replaced by hypercalls")
        lines.extend(f"      {r.address}: {instruction_text(r.instruction, r.operands)} "
                     f"-> hypercall {r.number}" for r in guest.rewritten)
    if translations:
        for block in guest.translations:
            lines.append(f"    translated block at {block.address} ({block.hits} cache hit"
                         f"{'s' if block.hits != 1 else ''}):")
            lines.extend(f"      {i.address}: {instruction_text(i.instruction, i.operands)}"
                         + ("  -> call into the monitor" if i.patched else "") for i in block.instructions)
    return lines


def _status(guest: GuestRun) -> str:
    count = guest.counters.instructions
    plural = "s" if count != 1 else ""
    if guest.status == "halted":
        how = f"; {guest.message}" if guest.message not in ("", "halted") else ""
        return f"halted after {count} instruction{plural}{how}"
    if guest.status in ("stopped", "served"):
        return f"stopped after {count} instruction{plural}: {guest.message}"
    return guest.message or guest.status


def _counters_text(counters: GuestCounters) -> str:
    parts = [f"{counters.direct} of {counters.instructions} run directly"]
    if counters.traps:
        parts.append(f"{counters.traps} trap{'s' if counters.traps != 1 else ''}: "
                     f"{counters.emulations} emulated, {counters.reflections} reflected")
    if counters.interpretations:
        parts.append(f"{counters.interpretations} interpreted")
    if counters.exits:
        parts.append(f"{counters.exits} exit{'s' if counters.exits != 1 else ''} to the monitor")
    if counters.calls > counters.exits:
        calls = counters.calls - counters.exits
        parts.append(f"{calls} call{'s' if calls != 1 else ''} into the monitor")
    if counters.delivered:
        plural = "s" if counters.delivered != 1 else ""
        parts.append(f"{counters.delivered} trap{plural} delivered in the guest")
    if counters.forwarded:
        plural = "s" if counters.forwarded != 1 else ""
        parts.append(f"{counters.forwarded} request{plural} to the management VM")
    if counters.served:
        parts.append(f"{counters.served} request{'s' if counters.served != 1 else ''} served")
    if counters.blocks:
        parts.append(f"{counters.blocks} block{'s' if counters.blocks != 1 else ''} translated "
                     f"({counters.translated} instructions), {counters.hits} cache hit"
                     f"{'s' if counters.hits != 1 else ''}, {counters.invalidations} invalidated")
    if counters.allocations:
        parts.append(f"{counters.allocations} relocation{'s' if counters.allocations != 1 else ''} placed")
    if counters.preemptions:
        parts.append(f"{counters.preemptions} preemption{'s' if counters.preemptions != 1 else ''}")
    if counters.world_switches:
        parts.append(f"{counters.world_switches} world switch{'es' if counters.world_switches != 1 else ''}")
    return "; ".join(parts)


def _divergence_text(divergence: Divergence) -> list[str]:
    instruction = instruction_text(divergence.instruction, divergence.operands)
    lines = [f"    equivalence: FAILS at step {divergence.step} (pc {divergence.pc}): {instruction}, "
             f"{how_text(divergence.how)}"]
    width = max(len(d.where) for d in divergence.differences)
    for difference in divergence.differences:
        bare = _value(difference, divergence.bare, True)
        virtual = _value(difference, divergence.virtual, False)
        lines.append(f"      {difference.where.ljust(width)}  bare {bare}, virtual {virtual}")
    if divergence.explanation is not None:
        lines.append(f"      why: {explanation_text(divergence.explanation)}")
    return lines


def how_text(how: str) -> str:
    return {"direct": "run directly on the real machine",
            "emulated": "trapped and emulated by the monitor",
            "reflected": "trapped and reflected to the guest",
            "interpreted": "interpreted by the monitor",
            "called": "called into the monitor from translated code",
            "hypercall": "a hypercall the monitor ran",
            "exit": "an exit the hardware made to the monitor",
            "delivered": "a trap the hardware delivered inside the guest",
            "served": "a request the management VM's back-end served"}[how]


def _value(difference: Difference, state: MachineState, first: bool) -> str:
    value = difference.first if first else difference.second
    if difference.where == "halt":
        return "halted" if value else "did not halt"
    item = difference.item
    if item is not None and item.reg is None:
        modes = state.machine.modes
        return modes[value] if value < len(modes) else str(value)
    return str(value)


def _violation_text(violation: Violation) -> str:
    instruction = violation.instruction or "(no instruction)"
    text = f"      step {violation.step} (pc {violation.pc}) {instruction}: {violation.detail}"
    if violation.explanation is not None:
        text += f"\n        why: {explanation_text(violation.explanation)}"
    return text


def explanation_text(explanation: Explanation) -> str:
    if not explanation.offends and "innocuous" in explanation.classes:
        return (f"{explanation.instruction} is {', '.join(explanation.classes)}: the classification does "
                "not explain this")
    return explanation.text()


def instruction_text(name: str | None, operands: tuple[int, ...]) -> str:
    if name is None:
        return "(no instruction)"
    return name + (" " + ", ".join(str(o) for o in operands) if operands else "")


def _costs_text(run: ScenarioRun) -> list[str]:
    lines = []
    for level in run.levels:
        monitor = next(m for m in run.scenario.monitors if m.name == level.hypervisor)
        costs = monitor.costs
        hosted = f", host round trip {costs.host_round_trip}" if level.type == 2 else ""
        where = f"level {level.level}, " if len(run.levels) > 1 else ""
        translating = f", translation {costs.translation}" if level.technique == "binary_translation" else \
            f", exit {costs.exit}" if level.technique == "hardware_assisted" else ""
        lines.append(f"  cost: {level.cycles} cycles ({where}hypervisor {level.hypervisor}, "
                     f"type {level.type}, {level.technique}: direct {costs.direct}, trap {costs.trap}, "
                     f"emulation {costs.emulation}, world switch {costs.world_switch}{translating}{hosted})")
    if len(run.levels) > 1:
        lines.append(f"  cost: {run.cycles} cycles in all")
    return lines


# ---------------------------------------------------------------- scenarios, JSON


def scenario_json(run: ScenarioRun) -> dict[str, Any]:
    scenario = run.scenario
    return {
        "scenario": scenario.name,
        "isa": scenario.isa.name,
        "technique": run.technique,
        "hypervisors": [{"name": m.name, "type": m.type, "technique": level.technique,
                         "guest_mode": m.context.mode, "quantum": m.quantum,
                         "costs": {name: getattr(m.costs, name) for name in ir.COST_NAMES},
                         "counters": _counters_json(level.counters), "cycles": level.cycles}
                        for m, level in zip(scenario.monitors, run.levels, strict=True)],
        "guests": [_guest_json(g) for g in run.guests],
        "cycles": run.cycles,
        "efficiency": run.efficiency,
        "ok": all(e.holds for e in run.expectations) and all(g.finished for g in run.guests),
        "expectations": [{"expect": expectation_words(e.expectation), "holds": e.holds,
                          "decided": e.decided, "detail": e.detail} for e in run.expectations],
    }


def _counters_json(counters: GuestCounters) -> dict[str, Any]:
    return {"instructions": counters.instructions, "direct": counters.direct, "traps": counters.traps,
            "emulations": counters.emulations, "reflections": counters.reflections,
            "interpretations": counters.interpretations, "allocations": counters.allocations,
            "preemptions": counters.preemptions, "world_switches": counters.world_switches,
            "calls": counters.calls, "exits": counters.exits, "translated": counters.translated,
            "blocks": counters.blocks, "forwarded": counters.forwarded, "delivered": counters.delivered,
            "served": counters.served,
            "cache_hits": counters.hits, "invalidations": counters.invalidations,
            "efficiency": counters.efficiency}


def _guest_json(guest: GuestRun) -> dict[str, Any]:
    offset, size = guest.partition
    divergence = guest.divergence
    return {
        "name": guest.name,
        "program": guest.program,
        "start_mode": guest.start_mode,
        "partition": {"offset": offset, "size": size},
        "status": guest.status,
        "message": guest.message,
        "management": guest.management,
        "equivalence": {"checked": guest.checked, "holds": guest.equivalent,
                        "divergence": _divergence_json(divergence) if divergence else None},
        "resource_control": {"holds": guest.resource_control,
                             "violations": [_violation_json(v) for v in guest.violations]},
        "counters": _counters_json(guest.counters),
        "cycles": guest.cycles,
        "rewritten": [{"address": r.address, "hypercall": r.number, "instruction": r.instruction,
                       "operands": list(r.operands)} for r in guest.rewritten],
        "translations": [{"address": b.address, "hits": b.hits,
                          "instructions": [{"address": i.address, "instruction": i.instruction,
                                            "operands": list(i.operands), "patched": i.patched}
                                           for i in b.instructions]} for b in guest.translations],
    }


def _divergence_json(divergence: Divergence) -> dict[str, Any]:
    return {
        "step": divergence.step,
        "pc": divergence.pc,
        "instruction": divergence.instruction,
        "operands": list(divergence.operands),
        "how": divergence.how,
        "differences": [{"where": d.where, "bare": d.first, "virtual": d.second}
                        for d in divergence.differences],
        "before": _state_json(divergence.before, divergence),
        "bare": _state_json(divergence.bare, divergence),
        "virtual": _state_json(divergence.virtual, divergence),
        "explanation": _explanation_json(divergence.explanation),
    }


def _state_json(state: MachineState, divergence: Divergence) -> dict[str, Any]:
    addresses = sorted(d.address for d in divergence.differences if d.address is not None)
    return {
        "mode": state.machine.modes[state.mode],
        "registers": state.registers_json(),
        "memory": {str(a): state.memory[a] for a in addresses},
    }


def _violation_json(violation: Violation) -> dict[str, Any]:
    return {"kind": violation.kind, "step": violation.step, "pc": violation.pc,
            "instruction": violation.instruction, "detail": violation.detail,
            "explanation": _explanation_json(violation.explanation)}


def _explanation_json(explanation: Explanation | None) -> dict[str, Any] | None:
    if explanation is None:
        return None
    return {"instruction": explanation.instruction, "classes": list(explanation.classes),
            "breaks": list(explanation.offends)}


def runs_json(runs: list[ScenarioRun]) -> dict[str, Any]:
    scenarios = [scenario_json(run) for run in runs]
    return {"ok": all(s["ok"] for s in scenarios), "scenarios": scenarios}
