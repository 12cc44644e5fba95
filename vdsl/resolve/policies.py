"""Resolve hypervisor policies and scenarios."""

from __future__ import annotations

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import check_pins, undefined

TECHNIQUES = ("trap_and_emulate", "hybrid", "binary_translation", "paravirtual", "hardware_assisted")


SCHEDULES = ("round_robin",)


HYPERVISOR_TYPES = (0, 1, 2)


def resolve_hypervisor(sink: DiagnosticSink, decl: ir.Hypervisor, machines: dict[str, ir.Machine],
                        isas: dict[str, ir.Isa], known: set[str]) -> ir.Hypervisor | None:
    errors_before = len(sink.diagnostics)
    machine = machines.get(decl.target) or (isas[decl.target].machine if decl.target in isas else None)
    if machine is None:
        if decl.target not in known:
            undefined(sink, "machine", decl.target, decl.target_span, list(machines) + list(isas))
        return None
    if decl.type not in HYPERVISOR_TYPES:
        sink.error("V028", f"there is no hypervisor type {decl.type}", decl.span_of("type"),
                   "type 0 is firmware, type 1 bare metal, type 2 hosted")
    if decl.technique not in TECHNIQUES:
        sink.error("V028", f"unknown technique '{decl.technique}'", decl.span_of("technique"),
                   did_you_mean(decl.technique, TECHNIQUES) or "techniques: " + ", ".join(TECHNIQUES))
    if decl.schedule not in SCHEDULES:
        sink.error("V028", f"unknown schedule '{decl.schedule}'", decl.span_of("schedule"),
                   did_you_mean(decl.schedule, SCHEDULES) or "schedules: " + ", ".join(SCHEDULES))
    if decl.guest_mode is not None and decl.guest_mode not in machine.modes:
        sink.error("V014", f"unknown mode '{decl.guest_mode}'", decl.span_of("guest_mode"),
                   did_you_mean(decl.guest_mode, machine.modes)
                   or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
    if decl.memory_per_guest is not None and not 0 < decl.memory_per_guest <= machine.memory.size:
        sink.error("V023", f"cannot allocate {decl.memory_per_guest} words per guest from a "
                   f"{machine.memory.size}-word memory", decl.span_of("memory_per_guest"),
                   "allocate less memory per guest")
    check_pins(sink, machine, decl.pins)
    return decl if len(sink.diagnostics) == errors_before else None


def check_scenario(sink: DiagnosticSink, scenario: ir.Scenario, hypervisors: dict[str, ir.Hypervisor],
                    program_decls: dict[str, ir.ProgramDecl], programs: list[ir.Program],
                    isas: dict[str, ir.Isa]) -> None:
    if scenario.hypervisor is not None and scenario.hypervisor not in hypervisors:
        undefined(sink, "hypervisor", scenario.hypervisor, scenario.span, hypervisors)
    seen: set[str] = set()
    for guest in scenario.guests:
        if guest.name in seen:
            sink.error("V011", f"guest '{guest.name}' is defined twice", guest.span, "rename one of them")
        seen.add(guest.name)
        if guest.program not in program_decls:
            undefined(sink, "program", guest.program, guest.span, program_decls)
            continue
        program = next((p for p in programs if p.name == guest.program), None)
        if guest.mode is not None and program is not None:
            modes = isas[program.isa].machine.modes
            if guest.mode not in modes:
                sink.error("V014", f"unknown mode '{guest.mode}'", guest.span,
                           did_you_mean(guest.mode, modes) or "the modes are " + ", ".join(modes))


def adopt_hypervisor_context(isa: ir.Isa, hypervisors: list[ir.Hypervisor]) -> ir.Isa:
    """An isa that declares no guest context takes the one of the hypervisor built for it
    (or for its machine), when exactly one such context is declared."""
    if isa.context_source != "default":
        return isa
    found = {(h.guest_mode, h.pins): h for h in hypervisors
             if h.target in (isa.name, isa.machine.name) and (h.guest_mode or h.pins)}
    if len(found) != 1:
        return isa
    (guest_mode, pins), hypervisor = next(iter(found.items()))
    return attrs.evolve(isa, guest_mode=guest_mode or isa.guest_mode, pins=pins,
                        context_source=f"hypervisor {hypervisor.name}")
