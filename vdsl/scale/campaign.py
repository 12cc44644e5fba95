"""Random-guest equivalence campaigns: N random guests per technique, each run bare and under
the monitor in lockstep (DESIGN §4), every run an independent job (DESIGN §8).

A guest is drawn from a seed and its number alone (`random_guest`), so guest 7 is the same
program under every technique, on every worker and in every run with the same seed.  It starts
in a random mode with random registers and data, runs random instructions of the isa with random
operands (addresses within its first `WINDOW` words), and ends in the isa's halting instruction,
which its trap vector also points at: any trap the guest takes ends it.  A divergence is
reported with its first diverging step and the class the analysis gives the instruction.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from vdsl.errors import RunError
from vdsl.ir import nodes as ir
from vdsl.ir.layout import psw_items, trap_words
from vdsl.ir.vocabulary import Step
from vdsl.monitor.run import find_hypervisor, find_isa
from vdsl.scale.jobs import Executor
from vdsl.scale.sweep import SpecSource, StepFactory

WINDOW = 64  # the words a random guest's code, data and addresses stay within (when memory allows)
MAX_BATCH = 64  # guests one job runs, at most: a job should outweigh a scheduler's cost per task


@attrs.frozen
class GuestJob:
    """Run random guests `number` to `number + count - 1` of campaign `seed` under `technique`."""

    source: SpecSource
    isa: str
    policy: str
    technique: str
    seed: int
    number: int
    length: int = 8
    max_steps: int = 200
    count: int = 1

    def name(self) -> str:
        last = self.number + self.count - 1
        return f"{self.technique} guest {self.number}" + (f" to {last}" if last > self.number else "")


@attrs.frozen
class GuestOutcome:
    """How one random guest ran under one technique."""

    number: int
    technique: str
    mode: str  # the mode it started in
    program: tuple[str, ...]  # its instructions, as a listing
    status: str  # halted, step_limit, ...
    steps: int
    divergence: tuple[int, str, str, str] | None = None  # step, instruction, how it ran, why
    violation: tuple[int, str, str, str] | None = None  # step, instruction, kind, detail

    @property
    def equivalent(self) -> bool:
        return self.divergence is None and self.violation is None

    @property
    def verdict(self) -> str:
        """equivalent, diverged (first), escaped (its resource control broke first) or stopped
        (equivalent as far as it ran, until the step limit)."""
        violation, divergence = self.violation, self.divergence
        if violation is not None and (divergence is None or violation[0] <= divergence[0]):
            return "escaped"
        if self.divergence is not None:
            return "diverged"
        return "equivalent" if self.status == "halted" else "stopped"


def halting_instruction(isa: ir.Isa) -> ir.Instruction:
    """The isa's instruction that halts: one that checks privilege first if there is one (an
    unprivileged halt would stop the real machine under a monitor, whatever the guest did
    before it), then one with the fewest operands (a guest runs it with every operand 0: m68k's
    STOP #0)."""
    halting = [i for i in isa.instructions if any(isinstance(s, ir.Halt) for s in i.body)]
    if not halting:
        raise RunError(f"isa {isa.name} has no instruction that halts: a random guest needs one to end with "
                       "(and to end at when it traps)")
    return min(halting, key=lambda i: (not _guarded(i), len(i.operands)))


def _guarded(instruction: ir.Instruction) -> bool:
    """It begins with a check that can trap: `if ... { trap ... }`."""
    return any(isinstance(s, ir.If) and any(isinstance(t, ir.Trap) for t in s.then) for s in instruction.body)


def guest_memory(isa: ir.Isa, hypervisor: ir.Hypervisor) -> int:
    """The size of one guest's memory under the policy (its partition)."""
    from vdsl.monitor.allocator import Allocator

    (partition,) = Allocator(isa.machine, hypervisor.name).allocate(["guest"], hypervisor.memory_per_guest)
    return partition.size


def random_guest(isa: ir.Isa, hypervisor: ir.Hypervisor, seed: int, number: int,
                 length: int) -> ir.Program:
    """Random guest `number` of `seed`: the same program whatever technique runs it."""
    draw = random.Random(f"{seed}:{number}")  # noqa: S311 - reproducible test data, not secrets
    machine = isa.machine
    size = guest_memory(isa, hypervisor)
    window = min(size, WINDOW)
    halt = halting_instruction(isa)
    reserved = trap_words(machine)
    start = max(reserved) + 1 if reserved else 0
    # Values (operands, registers, data) point into the data after the code, never at the code:
    # a guest that reads its own code sees a paravirtual monitor's rewrite of it, not a sensitive
    # instruction at work; nor at the trap areas, which are real ones on a machine without relocation.
    low = start + 2 * halt.size + length * max(i.size for i in isa.instructions)
    window = max(window, min(size, low + WINDOW // 4))
    stop = ir.PlacedInstruction(start, halt.name, (0,) * len(halt.operands))
    placed = [stop]  # the trap handler, at the trap vector
    address = start + halt.size
    entry = address
    for _ in range(length):
        instruction = draw.choice(isa.instructions)
        operands = tuple(_operand(draw, machine, instruction, k, low, window)
                         for k in range(len(instruction.operands)))
        placed.append(ir.PlacedInstruction(address, instruction.name, operands))
        address += instruction.size
    placed.append(attrs.evolve(stop, address=address))
    address += halt.size
    if low >= size:
        raise RunError(f"a random guest of {length} instructions does not fit in a guest's {size} words; "
                       "ask for shorter guests with --length")
    word = (1 << machine.word) - 1
    data = [(a, draw.choice((draw.randrange(low, window), draw.randint(0, word))))
            for a in range(address, window)]
    data += _trap_vector(machine, start, size)
    inits = [ir.InitDecl(ir.StateRef(r.name), draw.randrange(low, window)) for r in machine.general_registers
             if not r.is_pc and not r.is_zero and r.name != machine.pc]
    if machine.relocation is not None:
        relocation = machine.register(machine.relocation)
        assert relocation is not None
        inits += [ir.InitDecl(ir.StateRef(relocation.name, f.name), size if f.name == "bound" else 0)
                  for f in relocation.fields]
    mode = draw.choice(machine.modes)
    return ir.Program(f"guest{number}", isa.name, mode, entry, tuple(placed), tuple(data), tuple(inits), ())


def _operand(draw: random.Random, machine: ir.Machine, instruction: ir.Instruction, index: int,
             low: int, window: int) -> int:
    operand = instruction.operands[index]
    held = instruction.encoding.held_width(index) if instruction.encoding is not None else None
    limit = 1 << (held if held is not None else operand.width or machine.word)
    if operand.kind == "reg":
        codes = [code for code, _ in machine.operand_targets(operand) if code < limit]
        return draw.choice(codes) if codes else 0
    return draw.randrange(low, min(limit, window)) if low < min(limit, window) else draw.randrange(limit)


def _trap_vector(machine: ir.Machine, handler: int, size: int) -> list[tuple[int, int]]:
    """The words a trap loads the new state from: the most privileged mode, at the handler,
    relocated over the guest's whole memory."""
    trap = machine.trap
    if trap is None or not trap.load:
        return []
    words = []
    for offset, item in enumerate(psw_items(machine, trap.load)):
        value = 0
        if item.reg == machine.pc and item.field is None:
            value = handler
        elif item.reg == machine.relocation and item.field is not None and item.field.name == "bound":
            value = size
        words.append((trap.load_at + offset, value))
    return words


def listing(isa: ir.Isa, program: ir.Program) -> tuple[str, ...]:
    """`ADDRESS: NAME OPERANDS` per instruction: how to read (and rebuild) a random guest."""
    return tuple(f"{p.address}: {p.name}" + (" " + ", ".join(map(str, p.operands)) if p.operands else "")
                 for p in program.instructions)


def run_guests(job: GuestJob) -> tuple[GuestOutcome, ...]:
    """The job's random guests, one after the other (the worker's function)."""
    return tuple(run_guest(attrs.evolve(job, number=number, count=1))
                 for number in range(job.number, job.number + job.count))


def run_guest(job: GuestJob) -> GuestOutcome:
    """One random guest, bare and under the technique, in lockstep."""
    from vdsl.monitor.run import run_scenario

    spec = job.source.compile()
    isa = find_isa(spec, job.isa)
    hypervisor = find_hypervisor(spec, job.policy, isa)
    program = random_guest(isa, hypervisor, job.seed, job.number, job.length)
    scenario = ir.Scenario(f"campaign{job.seed}", isa, (hypervisor,),
                           (ir.Guest("guest", program, program.start_mode),), ())
    run = run_scenario(scenario, job.technique, job.max_steps).guests[0]
    divergence = violation = None
    if run.divergence is not None:
        d = run.divergence
        why = d.explanation.text() if d.explanation is not None else "no class explains it"
        divergence = (d.step, d.instruction or "?", d.how, why)
    if run.violations:
        v = run.violations[0]
        violation = (v.step, v.instruction or "?", v.kind, v.detail)
    return GuestOutcome(job.number, job.technique, program.start_mode, listing(isa, program), run.status,
                        run.counters.instructions, divergence, violation)


@attrs.frozen
class Campaign:
    """A campaign's outcomes, technique by technique, guest by guest."""

    isa: str
    policy: str
    seed: int
    guests: int
    techniques: tuple[str, ...]
    outcomes: tuple[GuestOutcome, ...]
    where: str = ""

    def of(self, technique: str) -> list[GuestOutcome]:
        return [o for o in self.outcomes if o.technique == technique]


def run_campaign(source: SpecSource, isa_name: str | None, policy: str | None, techniques: Sequence[str],
                 guests: int, seed: int = 0, length: int = 8, max_steps: int = 200,
                 executor: Executor | None = None, steps: StepFactory | None = None) -> Campaign:
    """`guests` random guests under each technique (the policy's VM map and allocation), each run
    an independent job; the outcomes in technique, then guest, order."""
    executor = executor or Executor(workers=1)
    spec = source.compile()
    isa = find_isa(spec, isa_name) if isa_name is not None else _only_isa(spec, source)
    hypervisor = find_hypervisor(spec, policy, isa) if policy is not None else _first_policy(spec, isa)
    if "hardware_assisted" in techniques and isa.virtualization is None:
        from vdsl.resolve.policies import no_extension

        raise RunError("; ".join(no_extension(attrs.evolve(hypervisor, technique="hardware_assisted"), isa)))
    random_guest(isa, hypervisor, seed, 0, length)  # a guest that cannot be made is refused here, once
    # Guests in batches: a few jobs per worker, so that a scheduler's cost per job stays small
    # beside a job's; the results are the same whatever the batches, each guest its own seed.
    batch = 1 if executor.serial else max(1, min(MAX_BATCH, -(-guests // (4 * executor.workers))))
    jobs = [GuestJob(source, isa.name, hypervisor.name, t, seed, n, length, max_steps, min(batch, guests - n))
            for t in techniques for n in range(0, guests, batch)]
    step: Step | None = steps("random guests", len(jobs)) if steps is not None else None
    outcomes = [o for done in executor.map(run_guests, jobs, step, GuestJob.name) for o in done]
    return Campaign(isa.name, hypervisor.name, seed, guests, tuple(techniques), tuple(outcomes),
                    executor.describe())


def _only_isa(spec: ir.Spec, source: SpecSource) -> ir.Isa:
    given = set(source.paths)
    isas = [i for i in spec.isas if i.span is not None and i.span.file in given] or list(spec.isas)
    if len(isas) != 1:
        raise RunError("the files declare several isas (" + ", ".join(i.name for i in isas)
                       + "); choose one with --isa")
    return isas[0]


def _first_policy(spec: ir.Spec, isa: ir.Isa) -> ir.Hypervisor:
    found = [h for h in spec.hypervisors if h.is_for(isa)]
    if not found:
        raise RunError(f"no hypervisor runs on isa {isa.name}: declare one, whose VM map and allocation "
                       "the guests run under")
    return found[0]
