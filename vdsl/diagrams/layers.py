"""Layer diagrams: what runs on what, from the hardware up.

A hypervisor policy, a scenario (its monitors and their guests) or a layer-only system (a
container host, a process virtual machine) is drawn as one stack of boxes, hardware at the
bottom.  Each guest shows the mode it would run in on its own machine (native) and the real mode
the monitor runs it in (virtualized); nested monitors are drawn inside their outer monitor's
virtual machine; types 0, 1 and 2 differ visibly (firmware partitions, bare metal, a host OS).
"""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from vdsl.diagrams.style import FAINT, FILL, cell, font, legend, mode_style, new_graph, table, text
from vdsl.ir import nodes as ir

TYPE_NAMES = {0: "type 0, firmware", 1: "type 1, bare metal", 2: "type 2, hosted"}


def _badge(machine: ir.Machine, mode: str) -> str:
    fill, color = mode_style(machine.modes.index(mode), len(machine.modes))
    return cell(font(text(mode), 10, bold=True, color=color), fill=fill, padding=3, border=1, color=FAINT)


def _role(machine: ir.Machine, what: str, native: str, real: str | None, fill: str) -> str:
    """A row of a virtual machine: who, the mode it runs in natively, the real mode under the
    monitor (None: the monitor interprets it)."""
    arrow = font("&#8594;", 11)
    if real is None:
        under = [cell(font("interpreted by the monitor", 9, italic=True), border=0, padding=2)]
    else:
        under = [cell(font("real", 9, color=FAINT), border=0, padding=2), _badge(machine, real)]
    inner = table([[cell(font(text(what), 11), border=0, align="LEFT", padding=3, width=150),
                    cell(font("native", 9, color=FAINT), border=0, padding=2), _badge(machine, native),
                    cell(arrow, border=0, padding=2), *under]],
                  spacing=2)[1:-1]
    return cell(inner, fill=fill, padding=4)


def _guests_in(policy: ir.Hypervisor) -> str:
    return "their own modes" if policy.technique == "hardware_assisted" else policy.context.mode


def _real_mode(machine: ir.Machine, policy: ir.Hypervisor, mode: str) -> str | None:
    """The real mode a virtual mode runs in under the policy (never more privileged than its guest
    mode), or None when the policy's hybrid monitor interprets it instead."""
    index, guest = machine.modes.index(mode), machine.modes.index(policy.real_guest_mode)
    if index < guest and policy.technique == "hybrid":
        return None
    return machine.modes[max(index, guest)]


def _guest_vm(machine: ir.Machine, policy: ir.Hypervisor, title: str, program: str | None,
              start: str) -> str:
    """A guest's virtual machine: its kernel (when it starts above the least privileged mode) and
    its user programs, each with its native and real mode."""
    least = machine.modes[-1]
    rows: list[list[str]] = []
    name = f" {program}" if program else ""
    if start != least:
        rows.append([_role(machine, "user programs", least, _real_mode(machine, policy, least),
                           FILL["apps"])])
        rows.append([_role(machine, f"guest OS{name}", start, _real_mode(machine, policy, start),
                           FILL["guest_os"])])
    else:
        rows.append([_role(machine, f"program{name}", start, _real_mode(machine, policy, start),
                           FILL["apps"])])
    rows.append([cell(font(text(title), 10, italic=True), fill=FILL["vm"], padding=3, border=0)])
    return table(rows, spacing=3)[1:-1]


def _hypervisor_cell(policy: ir.Hypervisor, colspan: int) -> str:
    machine = policy.machine
    top = machine.modes[0]
    words = f"{policy.memory_per_guest} words per guest" if policy.memory_per_guest \
        else "memory shared equally"
    title = "firmware partition manager " if policy.type == 0 else "hypervisor "
    label = (font(text(title) + font(text(policy.name), 12, bold=True), 12) + "<BR/>"
             + font(text(f"{policy.technique.replace('_', '-')} · runs in {top} · guests in "
                         f"{_guests_in(policy)} · {words} · quantum {policy.quantum}"), 9))
    fill = FILL["firmware" if policy.type == 0 else "hypervisor"]
    return cell(label, fill=fill, colspan=colspan, padding=6)


def _level(monitors: tuple[ir.Hypervisor, ...], level: int, guests: Sequence[tuple[str, str | None, str]],
           machine: ir.Machine, isa: str) -> list[list[str]]:
    """The rows of one monitor's level: its virtual machines, itself, and (at level 0) the host
    OS and the hardware."""
    policy = monitors[level]
    vms: list[str] = []
    innermost = level + 1 == len(monitors)
    runs_it = innermost and any(name == policy.management for name, _, _ in guests)
    if policy.management is not None and not runs_it:
        vms.append(cell(_guest_vm(machine, policy, f"management VM {policy.management} (privileged)", None,
                                  machine.modes[0]), fill=FILL["management"], padding=3, style="rounded"))
    if level + 1 < len(monitors):
        inner = _level(monitors, level + 1, guests, machine, isa)
        nested = table(inner + [[cell(font(text(f"virtual machine of hypervisor {policy.name}"), 10,
                                              italic=True), fill=FILL["vm"], padding=3, border=0,
                                         colspan=_width(inner))]], spacing=4)[1:-1]
        vms.append(cell(nested, padding=3, fill=FILL["vm"], style="rounded"))
    else:
        word = "partition" if policy.type == 0 else "VM"
        for name, program, start in guests:
            if name == policy.management:  # it runs: its back-end serves the others
                served = f" serving {', '.join(policy.serves)}" if policy.serves else ""
                title = f"management VM {name} (privileged){served}"
                vms.append(cell(_guest_vm(machine, policy, title, program, start), fill=FILL["management"],
                                padding=3, style="rounded"))
                continue
            vms.append(cell(_guest_vm(machine, policy, f"{word} {name}", program, start), padding=3,
                            fill=FILL["vm"], style="rounded"))
    columns = len(vms)
    rows = [vms]
    hosted = level == 0 and policy.type == 2
    if hosted:
        rows[0] = vms + [cell("", border=0)]
        rows.append([_hypervisor_cell(policy, columns),
                     cell(font(text("host applications"), 10), fill=FILL["apps"], padding=6)])
        rows.append([cell(font(text("host operating system"), 12, bold=True) + "<BR/>"
                          + font(text(f"runs in {machine.modes[0]}; every exit of a guest goes "
                                      "through it"), 9),
                          fill=FILL["host"], colspan=columns + 1)])
    elif policy.type != 0:
        rows.append([_hypervisor_cell(policy, columns)])
    if level == 0:
        span = columns + (1 if hosted else 0)
        if policy.type == 0:  # the partition manager is part of the machine: one box, firmware inside
            firmware = table([[_hypervisor_cell(policy, 1)], [_hardware_cell(machine, isa, 1, border=0)]],
                             spacing=3)[1:-1]
            rows.append([cell(firmware, fill=FILL["hardware"], colspan=span, padding=3, style="rounded")])
        else:
            rows.append([_hardware_cell(machine, isa, span)])
    return rows


def _width(rows: list[list[str]]) -> int:
    return max(len(row) for row in rows)


def _hardware_cell(machine: ir.Machine, isa: str, colspan: int, border: int = 1) -> str:
    modes = " &gt; ".join(text(m) for m in machine.modes)
    label = (font(text("hardware: machine ") + font(text(machine.name), 12, bold=True), 12) + "<BR/>"
             + font(f"isa {text(isa)} · {machine.memory.size} words · modes {modes}", 9))
    return cell(label, fill=FILL["hardware"], colspan=colspan, padding=6, border=border)


def _mode_legend(graph: graphviz.Digraph, machine: ir.Machine) -> None:
    entries = [(*mode_style(i, len(machine.modes)), f"mode {m}" + (" (most privileged)" if i == 0 else ""))
               for i, m in enumerate(machine.modes)]
    legend(graph, entries, title="Modes")


def _draw(name: str, title: str, rows: list[list[str]], machine: ir.Machine | None) -> graphviz.Digraph:
    graph = new_graph("layers", title, rankdir="LR")
    graph.node("stack", label=table(rows, spacing=4))
    if machine is not None:
        _mode_legend(graph, machine)
        graph.edge("stack", "legend", style="invis")
    return graph


def layers(subject: ir.Scenario | ir.Hypervisor | ir.Stack) -> graphviz.Digraph:
    """The layers of a scenario, of a hypervisor policy (with one generic guest), or of a stack."""
    if isinstance(subject, ir.Scenario):
        return scenario_layers(subject)
    if isinstance(subject, ir.Hypervisor):
        return hypervisor_layers(subject)
    return stack_layers(subject)


def scenario_layers(scenario: ir.Scenario) -> graphviz.Digraph:
    """The layers of a scenario: its chain of monitors and, on the innermost, its guests."""
    machine = scenario.isa.machine
    guests = [(g.name, g.program.name, g.mode) for g in scenario.guests]
    rows = _level(scenario.monitors, 0, guests, machine, scenario.isa.name)
    chain = " under ".join(m.name for m in reversed(scenario.monitors))
    kind = TYPE_NAMES[scenario.monitors[0].type]
    return _draw(f"layers_{scenario.name}", f"Layers of scenario {scenario.name}: {chain} ({kind})", rows,
                 machine)


def hypervisor_layers(hypervisor: ir.Hypervisor) -> graphviz.Digraph:
    """The layers a policy builds, with one generic guest: its OS and its user programs."""
    machine = hypervisor.machine
    isa = hypervisor.isa.name if hypervisor.isa is not None else machine.name
    rows = _level((hypervisor,), 0, [("guest", None, machine.modes[0])], machine, isa)
    return _draw(f"layers_{hypervisor.name}",
                 f"Layers of hypervisor {hypervisor.name} ({TYPE_NAMES[hypervisor.type]})", rows, machine)


def stack_layers(stack: ir.Stack) -> graphviz.Digraph:
    """A layer-only system: containers on a host OS's engine, or applications on a process VM."""
    members = [cell(font(text(m.label or m.name), 11) + "<BR/>"
                    + font(text(f"{m.kind} {m.name}"), 9, italic=True), fill=FILL["apps"], padding=6)
               for m in stack.members]
    columns = len(members)
    middle_fill = FILL["engine"]
    middle_title = "container engine" if stack.kind == "containers" else "process virtual machine"
    note = ("shares the host kernel; each container is isolated by namespaces and limited by cgroups"
            if stack.kind == "containers" else
            "runs as a user process; executes a portable instruction set (bytecode), not the machine's")
    rows = [members,
            [cell(font(text(f"{middle_title}: "), 11) + font(text(stack.middle), 11, bold=True) + "<BR/>"
                  + font(text(note), 9), fill=middle_fill, colspan=columns)],
            [cell(font(text("host operating system: "), 11) + font(text(stack.os), 11, bold=True),
                  fill=FILL["host"], colspan=columns)],
            [cell(font(text("hardware: "), 11) + font(text(stack.hardware), 11, bold=True),
                  fill=FILL["hardware"], colspan=columns)]]
    what = "containers" if stack.kind == "containers" else "a process virtual machine"
    return _draw(f"layers_{stack.name}", f"Layers of system {stack.name} ({what})", rows, None)
