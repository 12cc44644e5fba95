"""Resolve declarations into a checked `Spec`: names, widths, layouts, every error at once.

Each declaration kind has its own module in this package (machines, isas and the
typing of their semantics, programs, policies); all report into one `DiagnosticSink`,
so one run shows every problem of the spec.  A declaration that has errors is left out
of the result, and later declarations that depend on it do not repeat its errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from vdsl.errors import DiagnosticSink
from vdsl.ir import nodes as ir
from vdsl.resolve.common import unique
from vdsl.resolve.isas import resolve_isas
from vdsl.resolve.machines import resolve_machines
from vdsl.resolve.policies import adopt_hypervisor_context, check_scenario, resolve_hypervisor
from vdsl.resolve.programs import resolve_program


def resolve(modules: Sequence[ir.Module]) -> ir.Spec:
    """The checked spec of `modules`, or a `SpecError` listing every problem found."""
    sink = DiagnosticSink()
    declarations = [d for module in modules for d in module.declarations]
    machine_decls = unique(sink, [d for d in declarations if isinstance(d, ir.MachineDecl)], "machine")
    isa_decls = unique(sink, [d for d in declarations if isinstance(d, ir.IsaDecl)], "isa")
    program_decls = unique(sink, [d for d in declarations if isinstance(d, ir.ProgramDecl)], "program")
    hypervisors = unique(sink, [d for d in declarations if isinstance(d, ir.Hypervisor)], "hypervisor")
    scenarios = unique(sink, [d for d in declarations if isinstance(d, ir.Scenario)], "scenario")

    machines = resolve_machines(sink, machine_decls)
    isas = resolve_isas(sink, isa_decls, machines, set(machine_decls))
    programs = [p for p in (resolve_program(sink, d, isas, machines, set(isa_decls))
                            for d in program_decls.values()) if p is not None]
    resolved_hypervisors = [
        h for h in (resolve_hypervisor(sink, h, machines, isas, set(machine_decls) | set(isa_decls))
                    for h in hypervisors.values()) if h is not None
    ]
    for scenario in scenarios.values():
        check_scenario(sink, scenario, hypervisors, program_decls, programs, isas)
    sink.raise_if_any()
    return ir.Spec(
        machines=tuple(machines.values()),
        isas=tuple(adopt_hypervisor_context(i, resolved_hypervisors) for i in isas.values()),
        programs=tuple(programs),
        hypervisors=tuple(resolved_hypervisors),
        scenarios=tuple(scenarios.values()),
    )


