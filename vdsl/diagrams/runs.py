"""Diagrams of a scenario run: where the guests' traps went (trap flow), and who had the
processor when (schedule).  Both are drawn from the run's events, so they show what happened."""

from __future__ import annotations

import math
from collections import Counter

import attrs
import graphviz

from vdsl.diagrams.style import ALARM, FAINT, FILL, INK, cell, font, legend, new_graph, table, text
from vdsl.monitor.results import Event, GuestRun, ScenarioRun

# One colour per guest (Okabe & Ito's palette, safe for colour blindness), with a dash pattern
# as well, so that the guests stay apart in greyscale.
GUEST_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
GUEST_STYLES = ("solid", "dashed", "dotted", "bold", "solid", "dashed", "dotted")


def _guest_style(index: int) -> tuple[str, str]:
    return GUEST_COLORS[index % len(GUEST_COLORS)], GUEST_STYLES[index % len(GUEST_STYLES)]


def _width(count: int) -> str:
    return f"{1 + math.log2(1 + count):.2f}"


def _innermost(run: ScenarioRun) -> list[Event]:
    level = len(run.scenario.monitors) - 1
    return [e for e in run.events if e.level == level]


# ---------------------------------------------------------------- trap flow


def _failures(guest: GuestRun) -> str:
    """What went wrong in a guest's run, if anything: its first divergence and violation."""
    lines = []
    divergence = guest.divergence
    if divergence is not None:
        lines.append(f"diverges at step {divergence.step}: {divergence.instruction or '?'}")
    if guest.violations:
        violation = guest.violations[0]
        lines.append(f"resource control fails at step {violation.step}: {violation.instruction or '?'}")
    return "".join("<BR/>" + font(text(line), 9, bold=True, color=ALARM) for line in lines)


def trap_flow(run: ScenarioRun) -> graphviz.Digraph:
    """Each guest's instructions: run directly, or trapped into the dispatcher D and then
    emulated by the interpreter routine of the instruction (vᵢ), reflected into the guest's own
    trap vector, or run as the hypercall it is (paravirtual); or, without a trap, interpreted
    (hybrid), called from translated code (binary translation) or an exit (hardware assistance);
    traps the hardware delivers inside a guest; requests passed to the management VM's back-end;
    relocations through the allocator A.  Edges are
    weighted and labelled by their counts, one colour per guest."""
    scenario = run.scenario
    monitor = scenario.monitor
    graph = new_graph("traps", f"Trap flow of scenario {scenario.name}: hypervisor "
                      f"{monitor.name}, {run.technique}", rankdir="LR")
    graph.attr(ranksep="1.1", nodesep="0.35")
    events = _innermost(run)
    names = [g.name for g in run.guests]
    box = {"shape": "box", "style": "rounded,filled", "margin": "0.15,0.08"}
    for index, guest in enumerate(run.guests):
        color, _ = _guest_style(index)
        counters = guest.counters
        role = "management VM" if guest.management else "guest"
        graph.node(f"guest_{guest.name}", label=f"<{font(text(f'{role} {guest.name}'), 12, bold=True)}<BR/>"
                   f"{font(text(f'program {guest.program}'), 10)}<BR/>"
                   f"{font(text(f'{counters.instructions} instructions'), 9, color=FAINT)}"
                   f"{_failures(guest)}>",
                   fillcolor=FILL["vm"], color=color, penwidth="2", **box)
    graph.node("direct", label=f"<{font(text('run directly'), 11, bold=True)}<BR/>"
               f"{font(text('on the real machine'), 9)}>", fillcolor=FILL["hardware"], **box)
    graph.node("D", label=f"<{font(text('dispatcher D'), 11, bold=True)}<BR/>"
               f"{font(text('at the trap vector'), 9)}>", fillcolor=FILL["hypervisor"], **box)
    traps = Counter((e.guest, e.detail_dict().get("cause", "?")) for e in events if e.kind == "dispatch")
    handled = Counter((e.guest, e.kind, e.instruction if e.kind in ("emulate", "hypercall") else None)
                      for e in events if e.kind in ("emulate", "reflect", "hypercall"))
    # Run by the monitor without a trap: interpreted (hybrid), called from translated code, or an exit.
    interpreted = Counter((e.guest, e.instruction, e.kind) for e in events
                          if e.kind in ("interpret", "call", "exit"))
    delivered = Counter(e.guest for e in events if e.kind == "deliver")
    # Split drivers: requests the monitor passed to the management VM's back-end.
    forwarded = Counter((e.guest, e.instruction) for e in events if e.kind == "forward")
    # An allocation comes from the routine that changed R, or from a reflection or a delivered trap
    # (the trap loads R).
    allocated = Counter((e.guest, None if e.detail_dict().get("by") in ("reflect", "deliver")
                         else e.instruction) for e in events if e.kind == "allocate")
    routines = sorted({i for (_, kind, i) in handled if kind != "reflect"} | {i for (_, i, _) in interpreted},
                      key=lambda i: i or "")
    for name in routines:
        graph.node(f"v_{name}", label=f"<{font(text('v '), 11)}{font(text(name or '?'), 11, bold=True)}<BR/>"
                   f"{font(text('interpreter routine'), 9)}>", fillcolor=FILL["guest_os"], **box)
    if any(kind == "reflect" for (_, kind, _) in handled) or delivered:
        graph.node("reflect", label=f"<{font(text('reflected'), 11, bold=True)}<BR/>"
                   f"{font(text(chr(8594) + ' the guest’s own trap vector'), 9)}>", fillcolor=FILL["apps"],
                   **box)
    if allocated:
        graph.node("A", label=f"<{font(text('allocator A'), 11, bold=True)}<BR/>"
                   f"{font(text('R placed in the partition'), 9)}>", fillcolor=FILL["hypervisor"], **box)
    for index, guest in enumerate(run.guests):
        color, style = _guest_style(index)
        attributes = {"color": color, "fontcolor": INK, "style": style}
        counters = guest.counters
        if counters.direct:
            graph.edge(f"guest_{guest.name}", "direct", label=f"{counters.direct}",
                       penwidth=_width(counters.direct), **attributes)
        causes = {cause: n for (g, cause), n in sorted(traps.items()) if g == guest.name}
        if causes:
            total = sum(causes.values())
            label = f"{total} trap{'s' if total != 1 else ''}\\n" + ", ".join(
                f"{c} {n}" for c, n in causes.items())
            graph.edge(f"guest_{guest.name}", "D", label=label, penwidth=_width(total), **attributes)
        for (g, kind, instruction), count in sorted(handled.items(),
                                                    key=lambda x: (x[0][0], x[0][1], x[0][2] or "")):
            if g != guest.name:
                continue
            target = "reflect" if kind == "reflect" else f"v_{instruction}"
            what = "hypercall " if kind == "hypercall" else ""
            graph.edge("D", target, label=f"{guest.name}: {what}{count}", penwidth=_width(count),
                       **attributes)
        for (g, instruction, kind), count in sorted(interpreted.items(),
                                                    key=lambda x: (x[0][0], x[0][1] or "", x[0][2])):
            if g == guest.name:
                what = {"interpret": "interpreted", "call": "called from translated code",
                        "exit": "exits"}[kind]
                graph.edge(f"guest_{guest.name}", f"v_{instruction}", label=f"{what} {count}",
                           penwidth=_width(count), **attributes)
        if delivered[guest.name]:
            count = delivered[guest.name]
            graph.edge(f"guest_{guest.name}", "reflect", label=f"delivered by the hardware {count}",
                       penwidth=_width(count), **attributes)
        for (g, instruction), count in sorted(forwarded.items(), key=lambda x: (x[0][0], x[0][1] or "")):
            if g == guest.name and monitor.management is not None:
                graph.edge(f"v_{instruction}", f"guest_{monitor.management}",
                           label=f"{guest.name}: {count} request{'s' if count != 1 else ''}",
                           penwidth=_width(count), **attributes)
        for (g, instruction), count in sorted(allocated.items(), key=lambda x: (x[0][0], x[0][1] or "")):
            if g == guest.name:
                source = f"v_{instruction}" if instruction is not None else "reflect"
                graph.edge(source, "A", label=f"{guest.name}: {count}", penwidth=_width(count), **attributes)
    legend(graph, [(_guest_style(i)[0], "#ffffff", f"guest {name} ({_guest_style(i)[1]} lines)")
                   for i, name in enumerate(names)], title="Guests")
    return graph


# ---------------------------------------------------------------- schedule


@attrs.frozen
class Slice:
    """A stretch of time one guest had the processor: its instructions and the exits among them."""

    guest: str
    instructions: int
    exits: int
    end: str  # preempted, halted, step limit (stopped by --max-steps), or ran on


def slices(run: ScenarioRun) -> list[Slice]:
    """The run's time line, from its events: a new slice at every switch of guest."""
    found: list[Slice] = []
    current: str | None = None
    steps: set[int] = set()
    exits = 0
    end = "ran on"

    def close() -> None:
        if current is not None and steps:
            found.append(Slice(current, len(steps), exits, end))

    for event in _innermost(run):
        if event.kind in ("schedule",):
            continue
        if event.guest != current:
            close()
            current, steps, exits, end = event.guest, set(), 0, "ran on"
        if event.kind in ("direct", "dispatch", "interpret"):
            steps.add(event.step)
            end = "ran on"  # preempted with no one else to run, it runs on in the same slice
        if event.kind == "dispatch":
            exits += 1
        if event.kind == "preempt":
            end = "preempted"
        if event.kind == "halt":
            end = "halted"
    close()
    stopped = {g.name for g in run.guests if g.status == "step_limit"}
    for index in range(len(found) - 1, -1, -1):  # each stopped guest's last slice
        if found[index].guest in stopped:
            stopped.discard(found[index].guest)
            found[index] = attrs.evolve(found[index], end="step limit")
    return found


MAX_SLICES = 48


def schedule(run: ScenarioRun) -> graphviz.Digraph:
    """The physical processor over time: a row per guest, a box per slice as long as its
    instructions, with its exits (traps into the monitor) and how it ended."""
    scenario = run.scenario
    monitor = scenario.monitor
    timeline = slices(run)
    shown = timeline[:MAX_SLICES]
    longest = max((s.instructions for s in shown), default=1)
    header = [cell(font(text("guest"), 10, bold=True), border=0, align="LEFT", padding=4)]
    header += [cell(font(text(str(i + 1)), 8, color=FAINT), border=0, padding=1) for i in range(len(shown))]
    rows = [header]
    marks = {"preempted": "&#9646;", "halted": "&#9632;", "step limit": "&#10005;", "ran on": ""}
    for index, guest in enumerate(run.guests):
        color, _ = _guest_style(index)
        row = [cell(font(text(guest.name), 11, bold=True), border=0, align="LEFT", padding=4)]
        for piece in shown:
            if piece.guest != guest.name:
                row.append(cell("", border=0, padding=1))
                continue
            width = 22 + round(60 * piece.instructions / longest)
            content = font(text(str(piece.instructions)), 10, bold=True, color="#ffffff")
            if piece.exits:
                content += "<BR/>" + font(f"&#9650;{piece.exits}", 9, color="#ffffff")
            if marks[piece.end]:
                content += "<BR/>" + font(marks[piece.end], 9, color="#ffffff")
            row.append(cell(content, fill=color, padding=3, width=width, border=1))
        rows.append(row)
    hidden = len(timeline) - len(shown)
    note = f"{len(timeline)} slice{'s' if len(timeline) != 1 else ''}" + (
        f", the first {len(shown)} shown" if hidden else "")
    stopped = " · &#10005; stopped by the step limit" if any(p.end == "step limit" for p in shown) else ""
    caption = (f"round robin, quantum {monitor.quantum} instructions · {note} · numbers: instructions in "
               "the slice · &#9650;N: exits to the monitor · &#9646; preempted by the timer · &#9632; halted"
               + stopped)
    rows.append([cell(font(caption, 9), border=0, align="LEFT", colspan=len(shown) + 1, padding=4)])
    graph = new_graph("schedule", f"Schedule of scenario {scenario.name}: the real "
                      f"processor under hypervisor {monitor.name}")
    graph.node("time", label=table(rows, spacing=2))
    return graph
