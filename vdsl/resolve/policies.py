"""Resolve hypervisor policies and scenarios into linked IR.

A resolved `Hypervisor` points at its machine (and isa, when it names one) and carries its
guest context and cost model; a resolved `Scenario` points at the isa its guests run on
(the hardware), the chain of monitors from the hardware up, and each guest's program.
"""

from __future__ import annotations

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import POLICY, RUN_EXPECT_FORMS, TECHNIQUES, THEOREMS, normalize_run_expectation
from vdsl.resolve.common import check_pins, first_defined, undefined
from vdsl.resolve.isas import check_theorem_expectation

# The techniques that run guest instructions directly under a VM map: those the policy check asks about.
POLICY_TECHNIQUES = ("trap_and_emulate", "hybrid", "hardware_assisted")
SCHEDULES = ("round_robin",)
HYPERVISOR_TYPES = (0, 1, 2)


def resolve_hypervisor(sink: DiagnosticSink, decl: ir.HypervisorDecl, machines: dict[str, ir.Machine],
                       isas: dict[str, ir.Isa], known: set[str]) -> ir.Hypervisor | None:
    errors_before = len(sink.diagnostics)
    # A hypervisor runs on a machine, for any isa of it its guests use; naming an isa (that is not
    # also a machine's name) ties it to that isa.
    machine = machines.get(decl.target)
    isa = isas.get(decl.target) if machine is None else None
    if isa is not None:
        machine = isa.machine
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
    if decl.quantum is not None and decl.quantum < 1:
        sink.error("V023", "a quantum must be at least one instruction", decl.span_of("schedule"),
                   "e.g. `schedule round_robin quantum 50`")
    if decl.guest_mode is not None and decl.guest_mode not in machine.modes:
        sink.error("V014", f"unknown mode '{decl.guest_mode}'", decl.span_of("guest_mode"),
                   did_you_mean(decl.guest_mode, machine.modes)
                   or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
    if decl.memory_per_guest is not None and not 0 < decl.memory_per_guest <= machine.memory.size:
        sink.error("V023", f"cannot allocate {decl.memory_per_guest} words per guest from a "
                   f"{machine.memory.size}-word memory", decl.span_of("memory_per_guest"),
                   "allocate less memory per guest")
    for cost in decl.costs:
        if cost.name not in ir.COST_NAMES:
            sink.error("V028", f"unknown cost '{cost.name}'", cost.span,
                       did_you_mean(cost.name, ir.COST_NAMES) or "costs: " + ", ".join(ir.COST_NAMES))
    if decl.ring is not None and decl.ring >= machine.memory.size:
        sink.error("V023", f"the shared page at {decl.ring} is outside the {machine.memory.size}-word memory",
                   decl.ring_span or decl.span_of("management"),
                   "give an address in the management VM's memory, e.g. `at 0x300`")
    check_pins(sink, machine, decl.pins)
    if len(sink.diagnostics) > errors_before:
        return None
    default_mode = isa.context.mode if isa is not None else machine.modes[-1]
    context = ir.GuestContext(decl.guest_mode or default_mode, decl.pins, f"hypervisor {decl.name}")
    costs = ir.CostModel(**{c.name: c.value for c in decl.costs})
    return ir.Hypervisor(decl.name, machine, isa, decl.type, decl.technique, context,
                         decl.memory_per_guest, decl.schedule, decl.quantum or ir.DEFAULT_QUANTUM, costs,
                         decl.management, span=decl.span, hypercalls=decl.hypercalls, serves=decl.serves,
                         ring=decl.ring)


def resolve_scenario(sink: DiagnosticSink, decl: ir.ScenarioDecl,
                     hypervisor_decls: dict[str, ir.HypervisorDecl], hypervisors: dict[str, ir.Hypervisor],
                     program_decls: dict[str, ir.ProgramDecl],
                     programs: dict[str, ir.Program], isas: dict[str, ir.Isa]) -> ir.Scenario | None:
    errors_before = len(sink.diagnostics)
    names = decl.hypervisors
    if not names:
        if len(hypervisor_decls) != 1:
            sink.error("V022", f"scenario '{decl.name}' does not say which hypervisor runs its guests",
                       decl.span, "add `hypervisor NAME`" + (
                           " (the hypervisors are " + ", ".join(hypervisor_decls) + ")"
                           if hypervisor_decls
                           else "; declare one with `hypervisor NAME on MACHINE { ... }`"))
            return None
        names = tuple(hypervisor_decls)
    for index, name in enumerate(names):
        if name not in hypervisor_decls:
            undefined(sink, "hypervisor", name, decl.hypervisor_span(index), hypervisor_decls)
    monitors = tuple(hypervisors[n] for n in reversed(names) if n in hypervisors)
    guests = _resolve_guests(sink, decl, program_decls, programs, isas)
    if not decl.guests:
        sink.error("V022", f"scenario '{decl.name}' runs no guests", decl.span,
                   "add `guest NAME runs PROGRAM`")
    if len(sink.diagnostics) > errors_before or len(monitors) < len(names):
        return None
    isa = _hardware(sink, decl, monitors, guests, isas)
    if isa is None:
        return None
    instruction_names = [i.name for i in isa.instructions]
    for monitor in monitors:
        for name in monitor.hypercalls or ():
            if name not in instruction_names:
                undefined(sink, "instruction", name, hypervisor_decls[monitor.name].span_of("hypercalls"),
                          instruction_names)
        for name in monitor.serves:
            if name not in instruction_names:
                undefined(sink, "instruction", name, hypervisor_decls[monitor.name].span_of("management"),
                          instruction_names)
    innermost = monitors[-1]
    if innermost.serves and innermost.management not in [g.name for g in guests]:
        sink.error("V010", f"hypervisor {innermost.name}'s management VM {innermost.management} serves the "
                   f"other guests, but scenario '{decl.name}' has no guest {innermost.management}",
                   decl.span, f"add `guest {innermost.management} runs PROGRAM`, the program of its back-end")
    expects = [_check_run_expectation(sink, e, instruction_names, [g.name for g in guests])
               for e in decl.expects]
    if len(sink.diagnostics) > errors_before:
        return None
    return ir.Scenario(decl.name, isa, monitors, tuple(guests), tuple(e for e in expects if e is not None),
                       span=decl.span)


def _resolve_guests(sink: DiagnosticSink, decl: ir.ScenarioDecl, program_decls: dict[str, ir.ProgramDecl],
                    programs: dict[str, ir.Program], isas: dict[str, ir.Isa]) -> list[ir.Guest]:
    guests: list[ir.Guest] = []
    seen: dict[str, ir.GuestDecl] = {}
    for guest in decl.guests:
        if guest.name in seen:
            sink.error("V011", f"guest '{guest.name}' is defined twice", guest.span, "rename one of them",
                       first_defined(seen[guest.name].span))
        seen.setdefault(guest.name, guest)
        if guest.program not in program_decls:
            undefined(sink, "program", guest.program, guest.span, program_decls)
            continue
        program = programs.get(guest.program)
        if program is None:
            continue  # the program has errors of its own
        modes = isas[program.isa].machine.modes
        if guest.mode is not None and guest.mode not in modes:
            sink.error("V014", f"unknown mode '{guest.mode}'", guest.span,
                       did_you_mean(guest.mode, modes) or "the modes are " + ", ".join(modes))
            continue
        guests.append(ir.Guest(guest.name, program, guest.mode or program.start_mode, span=guest.span))
    return guests


def _hardware(sink: DiagnosticSink, decl: ir.ScenarioDecl, monitors: tuple[ir.Hypervisor, ...],
              guests: list[ir.Guest], isas: dict[str, ir.Isa]) -> ir.Isa | None:
    """The isa the scenario runs on: the one its hypervisors name, else its guests' programs'."""
    named = [(m.isa, f"hypervisor {m.name}") for m in monitors if m.isa is not None]
    named += [(isas[g.program.isa], f"guest {g.name} (program {g.program.name})") for g in guests]
    if not named:
        return None  # every guest's program has errors of its own
    isa, source = named[0]
    for other, where in named[1:]:
        if other.name != isa.name:
            sink.error("V039", f"scenario '{decl.name}' mixes isas: {source} is for isa {isa.name}, "
                       f"{where} for isa {other.name}", decl.span,
                       "a scenario's monitors and guests run on one isa; write one scenario per isa")
            return None
    for monitor in monitors:
        if monitor.machine.name != isa.machine.name:
            sink.error("V039", f"hypervisor {monitor.name} runs on machine {monitor.machine.name}, but "
                       f"the guests of scenario '{decl.name}' need machine {isa.machine.name}", decl.span,
                       "choose a hypervisor for that machine")
            return None
    return isa


def _check_run_expectation(sink: DiagnosticSink, expectation: ir.Expectation, names: list[str],
                           guests: list[str]) -> ir.Expectation | None:
    """A scenario's `expect` line, in canonical form, if it is one a run can check."""
    forms = "write one of: " + "; ".join(f"`expect {f}`" for f in RUN_EXPECT_FORMS)
    words = normalize_run_expectation(expectation.words, guests)
    span = expectation.span
    if words and words[0] in THEOREMS:
        if expectation.op is not None:
            sink.error("V037", "a theorem's condition holds or fails; it has no number", span, forms)
            return None
        ok = check_theorem_expectation(sink, words, span, names)
        return attrs.evolve(expectation, words=words, written=expectation.words) if ok else None
    subject = words[1:] if words and words[0] in guests else words
    if not subject:
        sink.error("V037", "this expectation is not one a scenario can state", span, forms)
        return None
    prop, rest = subject[0], subject[1:]
    if prop == "efficiency":
        if expectation.op is None or rest:
            sink.error("V037", "efficiency is compared with a number", span,
                       "e.g. `expect efficiency >= 0.9` (the share of guest instructions run directly)")
            return None
        if not 0 <= (expectation.value or 0) <= 1:
            sink.error("V037", f"efficiency is a share between 0 and 1, not {expectation.value:g}", span,
                       "e.g. `expect efficiency >= 0.9`")
            return None
        return attrs.evolve(expectation, words=words, written=expectation.words)
    if prop not in ("equivalence", "resource_control") or expectation.op is not None \
            or not rest or rest[0] not in ("holds", "fails") \
            or (len(rest) > 1 and (rest[0] != "fails" or rest[1] != "at" or len(rest) != 3)):
        shown = " ".join(expectation.words)
        if prop in ("equivalence", "resource_control"):
            sink.error("V037", f"this expectation is not one a scenario can state: '{shown}'", span, forms)
        else:
            sink.error("V037", f"unknown expectation '{shown}'", span,
                       did_you_mean(prop, ["equivalence", "divergence", "resource_control", "efficiency",
                                           *THEOREMS]) or forms)
        return None
    if len(rest) == 3 and rest[2] not in names:
        undefined(sink, "instruction", rest[2], span, names)
        return None
    return attrs.evolve(expectation, words=words, written=expectation.words)


def adopt_hypervisor_context(isa: ir.Isa, hypervisors: dict[str, ir.HypervisorDecl]) -> ir.Isa:
    """An isa that declares no guest context takes the one of the hypervisor built for it
    (or for its machine), when exactly one such context is declared."""
    if isa.context.source != "default":
        return isa
    found = {(h.guest_mode, h.pins): h for h in hypervisors.values()
             if h.target in (isa.name, isa.machine.name) and (h.guest_mode or h.pins)}
    if len(found) != 1:
        return isa
    (guest_mode, pins), hypervisor = next(iter(found.items()))
    context = ir.GuestContext(guest_mode or isa.context.mode, pins, f"hypervisor {hypervisor.name}")
    return attrs.evolve(isa, context=context)


# ---------------------------------------------------------------- the policy check's preconditions


def no_extension(hypervisor: ir.Hypervisor, isa: ir.Isa) -> tuple[str, str]:
    """What is wrong, and the hint, when a hardware-assisted hypervisor meets an isa without a
    virtualization extension."""
    return (f"hypervisor {hypervisor.name} is hardware_assisted, but isa {isa.name} declares no "
            "virtualization extension", "declare one in the isa with "
            "`virtualization NAME { shadow STATE, ...; exits { NAME, ... } }`, or choose another technique")


def no_policy_check(hypervisor: ir.Hypervisor, isa: ir.Isa) -> tuple[str, str] | None:
    """Why the policy check of `hypervisor` cannot be asked of `isa` (which it is for), and a hint;
    None when it can."""
    if hypervisor.technique not in POLICY_TECHNIQUES:
        return (f"hypervisor {hypervisor.name} is {hypervisor.technique}: it runs directly only what the "
                "classification finds correct, so its check is `vdsl check` itself; the policy check is for "
                + ", ".join(POLICY_TECHNIQUES), "expect the theorems instead (`expect T1 ...`), or name a "
                "hypervisor whose technique is one of those")
    if hypervisor.technique == "hardware_assisted" and isa.virtualization is None:
        return no_extension(hypervisor, isa)
    return None


def check_policy_expectations(sink: DiagnosticSink, isas: dict[str, ir.Isa],
                              decls: dict[str, ir.HypervisorDecl],
                              hypervisors: dict[str, ir.Hypervisor]) -> None:
    """Each isa's `expect policy HYPERVISOR ...` names a hypervisor for that isa whose policy can be
    checked (the form and the instruction names were checked with the isa)."""
    for isa in isas.values():
        for expectation in isa.expects:
            if expectation.words[0] != POLICY or len(expectation.words) < 2:
                continue
            name, span = expectation.words[1], expectation.word_span(1)
            hypervisor = hypervisors.get(name)
            if hypervisor is None:
                if name not in decls:  # else: its own errors are reported
                    undefined(sink, "hypervisor", name, span, decls)
                continue
            if not hypervisor.is_for(isa):
                fitting = [h.name for h in hypervisors.values() if h.is_for(isa)]
                other = hypervisor.machine.name != isa.machine.name
                sink.error("V047", f"hypervisor {name} runs on {hypervisor.runs_on}, not on isa {isa.name}"
                           + (f" (machine {isa.machine.name})" if other else ""), span,
                           "the hypervisors for it are " + ", ".join(fitting) if fitting else
                           f"declare one with `hypervisor NAME on {isa.machine.name} {{ ... }}`")
                continue
            problem = no_policy_check(hypervisor, isa)
            if problem is not None:
                sink.error("V048", problem[0], span, problem[1])
