"""Ring diagrams: a machine's modes as stacked levels, and who runs in each, natively and under
a hypervisor policy.  Ring compression shows as the guest kernel's arrow landing below ring 0."""

from __future__ import annotations

import graphviz

from vdsl.diagrams.style import FAINT, INK, cell, font, mode_style, new_graph, table, text
from vdsl.ir import nodes as ir


def _column(machine: ir.Machine, title: str, occupants: dict[int, list[str]], lines: list[int],
            prefix: str, mirrored: bool) -> str:
    """One side: a row per mode, its name in its colour and who runs there.  Rows have as many lines
    as `lines` says, so that the two sides line up."""
    rows = [[cell(font(text(title), 12, bold=True), border=0, colspan=2, padding=4, height=36,
                  port=f"{prefix}title")]]
    for index, mode in enumerate(machine.modes):
        fill, color = mode_style(index, len(machine.modes))
        who = occupants.get(index, [])
        shown = [font(text(w), 11) for w in who] if who else [font("—", 11, color=FAINT)]
        shown += [font(" ", 11)] * (lines[index] - len(shown))
        name = cell(font(text(mode), 11, bold=True, color=color), fill=fill, padding=8, width=80)
        place = cell('<BR ALIGN="LEFT"/>'.join(shown) + '<BR ALIGN="LEFT"/>', fill="#ffffff", padding=8,
                     width=240, port=f"{prefix}{index}", align="LEFT")
        rows.append([place, name] if mirrored else [name, place])
    return table(rows, spacing=3)


def rings(subject: ir.Scenario | ir.Hypervisor | ir.Isa) -> graphviz.Digraph:
    """The rings of a scenario's machine under its monitor, of a policy's machine under it, or of an
    isa's machine under a monitor in the isa's guest context."""
    if isinstance(subject, ir.Scenario):
        monitor = subject.monitor
        return _rings(subject.isa.machine, monitor.real_guest_mode, _monitor(monitor, subject.isa),
                      [(g.name, g.mode) for g in subject.guests], f"scenario {subject.name}",
                      monitor.technique == "hybrid")
    if isinstance(subject, ir.Hypervisor):
        return _rings(subject.machine, subject.real_guest_mode, _monitor(subject, subject.isa), None, None,
                      subject.technique == "hybrid")
    return _rings(subject.machine, subject.context.mode, "a monitor", None, f"isa {subject.name}", False)


def _monitor(policy: ir.Hypervisor, isa: ir.Isa | None) -> str:
    """The monitor as the rings show it: with hardware assistance, in the extension's root mode,
    beside the guests' own modes rather than above them."""
    if policy.technique == "hardware_assisted":
        extension = isa.virtualization.name if isa is not None and isa.virtualization else "the extension"
        return f"hypervisor {policy.name} (root mode of {extension})"
    return f"hypervisor {policy.name}"


def _rings(machine: ir.Machine, guest_mode_name: str, monitor: str, guests: list[tuple[str, str]] | None,
           subject: str | None, interpreted: bool) -> graphviz.Digraph:
    """The modes of `machine`, most privileged at the top: natively, a guest's kernel in its own
    mode and its user programs in the least privileged; under the monitor, the monitor in the most
    privileged mode and every guest mode deprivileged to no more than the guest mode, or, for a
    hybrid monitor (`interpreted`), every guest mode above the guest mode interpreted by the
    monitor.  `guests` are (name, start mode) of a scenario's guests (default: one generic guest)."""
    top, least = 0, len(machine.modes) - 1
    guest_mode = machine.modes.index(guest_mode_name)
    starts = guests or [("guest", machine.modes[0])]
    native: dict[int, list[str]] = {}
    virtual: dict[int, list[str]] = {top: [monitor]}
    moves: set[tuple[int, int]] = set()
    for name, start in starts:
        start_index = machine.modes.index(start)
        roles = [(start_index, f"{name} · kernel")] if start_index != least else []
        roles.append((least, f"{name} · user programs" if start_index != least else f"{name} · program"))
        for index, role in roles:
            native.setdefault(index, []).append(role)
            if index >= guest_mode:  # runs directly, in its own mode
                virtual.setdefault(index, []).append(role)
                continue
            # Deprivileged to the guest mode; or, under a hybrid monitor, interpreted by the monitor
            real, how = ((top, f", interpreted (virtual {machine.modes[index]})") if interpreted
                         else (guest_mode, f" (from {machine.modes[index]})"))
            virtual.setdefault(real, []).append(role + how)
            moves.add((index, real))
    lines = [max(len(native.get(i, [])), len(virtual.get(i, [])), 1) for i in range(len(machine.modes))]
    title = f"Rings of machine {machine.name} under {monitor}" + (f" ({subject})" if subject else "")
    graph = new_graph("rings", title, rankdir="LR")
    graph.attr(ranksep="1.6")
    graph.node("native", label=_column(machine, "native: on its own machine", native, lines, "n", False))
    heading = "virtualized: guests in their own modes" if "root mode" in monitor else \
        f"virtualized: guests in {guest_mode_name}" + (", kernels interpreted" if interpreted else "")
    graph.node("virtual", label=_column(machine, heading, virtual, lines, "v", True))
    # The titles' edge, straight and heavy, lines the two sides up; the arrows follow.
    graph.edge("native:ntitle:e", "virtual:vtitle:w", style="invis", weight="100")
    for start_index, real in sorted(moves):
        compressed = real not in (least, top)
        label = ("interpreted\\n(hybrid monitor)" if interpreted
                 else "deprivileged" + ("\\n(ring compression)" if compressed else ""))
        graph.edge(f"native:n{start_index}:e", f"virtual:v{real}:w", label=label, color=INK, penwidth="1.5",
                   constraint="false")
    return graph
