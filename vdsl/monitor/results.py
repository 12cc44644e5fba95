"""What a scenario run produces: events, divergences, violations, counters, verdicts."""

from __future__ import annotations

from typing import Any

import attrs

from vdsl.emulator.state import Difference, MachineState
from vdsl.ir import nodes as ir

EVENT_KINDS = ("direct", "dispatch", "allocate", "emulate", "reflect", "interpret", "translate", "call",
               "hypercall", "exit", "deliver", "forward", "answer", "schedule", "preempt", "halt",
               "divergence", "violation")


@attrs.frozen
class Event:
    """One thing the monitor (or the guest, directly) did, for the trace."""

    kind: str
    level: int  # 0: the monitor on the hardware; n: the monitor n levels up
    guest: str
    step: int  # the guest's instruction count when it happened
    pc: int
    real_mode: str
    virtual_mode: str
    instruction: str | None = None
    operands: tuple[int, ...] = ()
    detail: tuple[tuple[str, Any], ...] = ()

    def detail_dict(self) -> dict[str, Any]:
        return dict(self.detail)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "level": self.level, "guest": self.guest, "step": self.step,
                "pc": self.pc, "real_mode": self.real_mode, "virtual_mode": self.virtual_mode,
                "instruction": self.instruction, "operands": list(self.operands), **dict(self.detail)}


@attrs.define
class GuestCounters:
    """What one guest's instructions cost: how each was run, and what the monitor did."""

    instructions: int = 0  # guest instructions (each direct, trapped-and-handled or interpreted)
    direct: int = 0  # run on the real machine without a trap
    traps: int = 0  # real traps the monitor took for this guest
    emulations: int = 0  # trapped instructions the monitor completed on the virtual state
    reflections: int = 0  # traps the monitor passed on to the guest's own trap vector
    interpretations: int = 0  # instructions interpreted without a trap (hybrid)
    allocations: int = 0  # changes of the guest's relocation the allocator placed
    preemptions: int = 0  # timer interrupts that ended a quantum
    world_switches: int = 0  # the real machine switched to this guest from another
    calls: int = 0  # instructions the monitor ran in the guest's place (translated calls, hypercalls)
    translated: int = 0  # guest instructions binary translation translated
    blocks: int = 0  # blocks translated (translation cache misses)
    hits: int = 0  # instructions found already translated in the translation cache
    invalidations: int = 0  # translated blocks dropped because the guest wrote their code
    exits: int = 0  # hardware assistance: instructions the exit controls made leave the guest
    delivered: int = 0  # hardware assistance: the guest's own traps, delivered inside it by the hardware
    forwarded: int = 0  # split drivers: requests the management VM's back-end served for the guest
    served: int = 0  # split drivers, the management VM: the requests its back-end answered

    @property
    def efficiency(self) -> float:
        """The share of guest instructions run directly (1.0 for a guest that ran none)."""
        return self.direct / self.instructions if self.instructions else 1.0

    def cycles(self, costs: ir.CostModel, hosted: bool) -> int:
        interruptions = self.traps + self.preemptions
        simulated = self.emulations + self.reflections + self.interpretations + self.calls
        return (self.direct * costs.direct + interruptions * costs.trap + simulated * costs.emulation
                + self.translated * costs.translation + self.exits * costs.exit
                + self.world_switches * costs.world_switch
                + ((interruptions + self.exits) * costs.host_round_trip if hosted else 0))

    def add(self, other: GuestCounters) -> None:
        for field in attrs.fields(GuestCounters):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@attrs.frozen
class Explanation:
    """Why an instruction behaves differently in the virtual machine: its classes, decided by
    the analysis in the monitor's guest context, and whether a theorem's condition names it."""

    instruction: str
    classes: tuple[str, ...]
    offends: tuple[str, ...]  # "T1", "T3": the theorems whose condition it breaks; "premise"

    def text(self) -> str:
        classes = ", ".join(self.classes)
        theorems = [t for t in self.offends if t != "premise"]
        text = f"{self.instruction} is {classes}"
        if len(theorems) == 1:
            text += f": it breaks {theorems[0]}'s condition"
        elif theorems:
            text += f": it breaks the conditions of {' and '.join(theorems)}"
        if "premise" in self.offends:
            text += (", and" if theorems else ", but") + \
                " run by a guest it reaches the trap areas: the theorems' premise fails"
        return text


@attrs.frozen
class Divergence:
    """The first guest instruction after which the virtual machine differs from the bare one."""

    guest: str
    step: int
    pc: int
    instruction: str | None
    operands: tuple[int, ...]
    how: str  # "direct", "emulated", "reflected", "interpreted"
    before: MachineState  # the state both agreed on
    bare: MachineState  # after the step, on the bare machine
    virtual: MachineState  # after the step, as the monitor presents it
    differences: tuple[Difference, ...]
    explanation: Explanation | None = None


@attrs.frozen
class ComparedStep:
    """One guest instruction run in lockstep, as compared after it: the bare twin's registers and
    mode, the virtual ones the monitor presents, and the memory words the step wrote or that
    differ (address, bare, virtual).  Recorded with the trace, for the report's step-through."""

    guest: str
    step: int
    pc: int
    how: str
    bare: tuple[int, ...]  # the slots: registers, then the mode
    virtual: tuple[int, ...]
    memory: tuple[tuple[int, int, int], ...] = ()


@attrs.frozen
class Violation:
    """A breach of resource control: an access outside the partition, a change of the real
    mode or relocation behind the monitor's back, or a halt of the real machine."""

    guest: str
    kind: str  # "access", "mode", "relocation", "halt"
    step: int
    pc: int
    instruction: str | None
    detail: str
    explanation: Explanation | None = None


@attrs.frozen
class Rewrite:
    """One instruction of a paravirtual guest replaced by a hypercall: at `address` (in the
    guest's memory), the word the real machine cannot execute, so that it traps to the monitor,
    which runs `instruction` on the guest's virtual state."""

    address: int
    number: int  # the hypercall's number: its place in the guest's hypercall table
    instruction: str
    operands: tuple[int, ...]


@attrs.frozen
class Translated:
    """One instruction of a translated block: run directly, or (`patched`) a call into the monitor."""

    address: int
    instruction: str
    operands: tuple[int, ...]
    patched: bool


@attrs.frozen
class TranslatedBlock:
    """A block of guest-supervisor code binary translation translated, as first translated."""

    address: int
    instructions: tuple[Translated, ...]
    hits: int = 0


@attrs.define
class GuestRun:
    """One guest of a scenario: how its run ended and what the three properties showed."""

    name: str
    program: str
    start_mode: str
    partition: tuple[int, int]  # offset and size, in the real memory of its monitor's machine
    # halted, step_limit, stopped (the real machine halted under it, or it waited for a management
    # VM that stopped), served (a management VM, stopped when no guest it serves ran), running
    status: str = "running"
    message: str = ""
    counters: GuestCounters = attrs.Factory(GuestCounters)
    divergence: Divergence | None = None
    violations: list[Violation] = attrs.Factory(list)
    checked: bool = True  # compared with a bare twin after every instruction
    management: bool = False  # the management VM: its back-end serves the others (no bare twin)
    cycles: int = 0  # what its instructions cost under its monitor's cost model
    rewritten: tuple[Rewrite, ...] = ()  # paravirtual: the hypercalls put in the guest
    translations: tuple[TranslatedBlock, ...] = ()  # binary translation: the blocks translated

    @property
    def finished(self) -> bool:
        """It halted, or as a management VM served its guests to the end (a guest stopped by
        another's halt, or by the step limit, did not)."""
        return self.status in ("halted", "served")

    @property
    def equivalent(self) -> bool:
        return self.divergence is None

    @property
    def resource_control(self) -> bool:
        return not self.violations


@attrs.frozen
class LevelCosts:
    """What one monitor of a nested chain did, and what it cost."""

    level: int
    hypervisor: str
    technique: str
    type: int
    counters: GuestCounters
    cycles: int


@attrs.frozen
class ScenarioRun:
    """A scenario's run: its guests, each level's costs, the events, the expectations."""

    scenario: ir.Scenario
    technique: str
    guests: tuple[GuestRun, ...]
    levels: tuple[LevelCosts, ...]
    events: tuple[Event, ...]
    expectations: tuple[ir.ExpectationResult, ...] = ()
    compared: tuple[ComparedStep, ...] = ()  # with the trace: every lockstep comparison, in order

    def guest(self, name: str) -> GuestRun | None:
        return next((g for g in self.guests if g.name == name), None)

    @property
    def cycles(self) -> int:
        return sum(level.cycles for level in self.levels)

    @property
    def efficiency(self) -> float:
        total = sum(g.counters.instructions for g in self.guests)
        return sum(g.counters.direct for g in self.guests) / total if total else 1.0
