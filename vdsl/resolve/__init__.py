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
from vdsl.resolve.policies import (
    adopt_hypervisor_context,
    check_policy_expectations,
    resolve_hypervisor,
    resolve_scenario,
)
from vdsl.resolve.programs import resolve_program
from vdsl.resolve.stacks import resolve_stack


def resolve(modules: Sequence[ir.Module]) -> ir.Spec:
    """The checked spec of `modules`, or a `SpecError` listing every problem found."""
    sink = DiagnosticSink()
    declarations = [d for module in modules for d in module.declarations]
    machine_decls = unique(sink, [d for d in declarations if isinstance(d, ir.MachineDecl)], "machine")
    isa_decls = unique(sink, [d for d in declarations if isinstance(d, ir.IsaDecl)], "isa")
    program_decls = unique(sink, [d for d in declarations if isinstance(d, ir.ProgramDecl)], "program")
    hypervisor_decls = unique(sink, [d for d in declarations if isinstance(d, ir.HypervisorDecl)],
                              "hypervisor")
    scenario_decls = unique(sink, [d for d in declarations if isinstance(d, ir.ScenarioDecl)], "scenario")
    stack_decls = unique(sink, [d for d in declarations if isinstance(d, ir.StackDecl)], "stack")
    const_decls = unique(sink, [d for d in declarations if isinstance(d, ir.ConstDecl)], "constant")

    machines = resolve_machines(sink, machine_decls, {d.name: d.value for d in const_decls.values()})
    constants = resolve_constants(sink, const_decls, machines)
    isas = {name: adopt_hypervisor_context(isa, hypervisor_decls)
            for name, isa in resolve_isas(sink, isa_decls, machines, set(machine_decls), constants).items()}
    programs = {d.name: p for d in program_decls.values()
                if (p := resolve_program(sink, d, isas, machines, isa_decls, constants)) is not None}
    hypervisors = {d.name: h for d in hypervisor_decls.values()
                   if (h := resolve_hypervisor(sink, d, machines, isas, set(machine_decls) | set(isa_decls)))
                   is not None}
    check_policy_expectations(sink, isas, hypervisor_decls, hypervisors)
    scenarios = [s for d in scenario_decls.values()
                 if (s := resolve_scenario(sink, d, hypervisor_decls, hypervisors, program_decls, programs,
                                           isas)) is not None]
    stacks = [t for d in stack_decls.values() if (t := resolve_stack(sink, d)) is not None]
    sink.raise_if_any()
    return ir.Spec(
        machines=tuple(machines.values()),
        isas=tuple(isas.values()),
        programs=tuple(programs.values()),
        hypervisors=tuple(hypervisors.values()),
        scenarios=tuple(scenarios),
        stacks=tuple(stacks),
        constants=tuple(constants.items()),
    )


def resolve_constants(sink: DiagnosticSink, decls: dict[str, ir.ConstDecl],
                      machines: dict[str, ir.Machine]) -> dict[str, int]:
    """The `const` names and their numbers; a name that a machine uses for its state is V011
    (inside that machine's instructions it would mean two things)."""
    constants = {}
    for decl in decls.values():
        owner = next((m for m in machines.values() if decl.name in m.state_names), None)
        if owner is not None:
            sink.error("V011", f"constant '{decl.name}' has the name of state of machine '{owner.name}'",
                       decl.span, "rename the constant")
        constants[decl.name] = decl.value
    return constants
