"""Design-space sweeps: every variant of an isa one change could make virtualizable, every
guest mode, and the smallest sets of changes that make a condition hold (DESIGN §8).

Each variant is an independent job (`VariantJob`): the spec's text and names, and the changes to
make.  A worker compiles the text (once per process), makes the changes on the IR
(`vdsl.scale.changes`) and asks the real analysis, so that every verdict a sweep reports is the
analysis' own, with its witnesses.  `vdsl.scale.jobs.Executor` runs the jobs here, on a local
pool or on Dask.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from vdsl.errors import RunError, SpecError
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import SOLVER_RLIMIT, THEOREMS, Step
from vdsl.monitor.run import find_hypervisor, find_isa
from vdsl.scale.changes import FAMILIES, Change, apply_changes, exit_changes, pin_changes, trap_changes
from vdsl.scale.jobs import Executor

if TYPE_CHECKING:
    from vdsl.analysis.jobs import Decider
from vdsl.source import SourceFile

StepFactory = Callable[[str, int], Step]  # a progress task of N steps (`vdsl.progress.Progress.task`)

MAX_FIXES = 16  # candidate sets of changes checked, at most
SEARCH_BUDGET = 20_000  # steps of the search for sets of changes that cover every offender


# ---------------------------------------------------------------- the spec, as jobs carry it


@attrs.frozen
class SpecSource:
    """The text of a spec's files (those named and those they import), by path: what a job
    carries instead of IR or z3 objects, so that any worker can compile it."""

    paths: tuple[str, ...]
    texts: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, paths: Sequence[Path | str]) -> SpecSource:
        """The files and their imports, read and compiled once here (a `SpecError` for a bad spec)."""
        from vdsl.phases import Compilation
        from vdsl.syntax.imports import read_source

        modules = Compilation(paths).modules
        return cls(tuple(str(p) for p in paths),
                   tuple((m.path, read_source(Path(m.path)).text) for m in modules))

    def compile(self) -> ir.Spec:
        return _compiled(self)


@functools.lru_cache(maxsize=8)
def _compiled(source: SpecSource) -> ir.Spec:
    """Each worker process compiles a spec once, however many of its variants it decides."""
    from vdsl.phases import Compilation

    texts = {Path(path): SourceFile(path, text) for path, text in source.texts}
    return Compilation(source.paths, texts).spec


# ---------------------------------------------------------------- one variant, decided


@attrs.frozen
class Offender:
    """An instruction that breaks the condition, why, and the witness's first line."""

    name: str
    why: str
    witness: str = ""


@attrs.frozen
class VariantJob:
    """Decide `condition` (T1, T2, T3, or `policy` with the hypervisor `policy`) for the isa with
    `changes` made."""

    source: SpecSource
    isa: str
    condition: str
    changes: tuple[Change, ...] = ()
    policy: str | None = None
    rlimit: int = SOLVER_RLIMIT
    cache: bool = False  # read and write the disk cache of decided questions

    def name(self) -> str:
        return ", ".join(str(c) for c in self.changes) or "as it is"


@attrs.frozen
class VariantResult:
    """The condition for one variant: whether it holds, what breaks it, what z3 left undecided;
    `problem` when the variant cannot be checked (pins no state satisfies)."""

    changes: tuple[Change, ...]
    offenders: tuple[Offender, ...] = ()
    undecided: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def holds(self) -> bool:
        return self.problem is None and not self.offenders and not self.undecided

    @property
    def breaking(self) -> frozenset[str]:
        """The instructions that keep the condition from holding (offending or undecided)."""
        return frozenset(o.name for o in self.offenders) | frozenset(self.undecided)


def _decider(cache: bool) -> Decider:
    """A worker decides its variant's questions itself (a job is already one of many running at
    once), through the disk cache when asked: a variant shares most instructions with the isa
    as it is, and those are decided once, by whichever worker comes first."""
    from vdsl.analysis.cache import DiskCache
    from vdsl.analysis.jobs import Decider

    return Decider(Executor(workers=1), DiskCache() if cache else None)


def decide_variant(job: VariantJob) -> VariantResult:
    """The job's condition for its variant, decided by the analysis (the worker's function)."""
    from vdsl.analysis.classify import check_policy, classify_isa

    spec = job.source.compile()
    isa = find_isa(spec, job.isa)
    hypervisor = find_hypervisor(spec, job.policy, isa) if job.policy is not None else None
    isa, hypervisor = apply_changes(isa, hypervisor, job.changes)
    try:
        if hypervisor is not None:
            policy = check_policy(isa, hypervisor, job.rlimit, decider=_decider(job.cache))
            answers = dict(policy.results)
            return VariantResult(job.changes, tuple(
                Offender(name, "runs directly and gives another result", _witness_line(answers[name]))
                for name in policy.failing), policy.undecided)
        report = classify_isa(isa, rlimit=job.rlimit, decider=_decider(job.cache))
    except SpecError as error:  # pins that no state satisfies (V035)
        return VariantResult(job.changes, problem=error.diagnostics[0].message)
    verdict = report.verdicts[job.condition]
    return VariantResult(job.changes, tuple(_offender(r, job.condition) for r in verdict.offending),
                         tuple(r.name for r in verdict.undecided))


def _offender(report: object, theorem: str) -> Offender:
    from vdsl.analysis.classify import InstructionReport
    from vdsl.report.check import OFFENCE_WORDS

    assert isinstance(report, InstructionReport)
    offences = report.offending(theorem)
    why = ", ".join(OFFENCE_WORDS.get(o.sensitivity, o.sensitivity) for o in offences)
    first = offences[0].sensitive if offences else None
    return Offender(report.name, why, _witness_line(first))


def _witness_line(answer: object) -> str:
    witness = getattr(answer, "witness", None)
    if witness is None:
        return ""
    operands = ", ".join(f"{name} = {value}" for name, value in witness.operands)
    shows = witness.shows[0] if witness.shows else ""
    return f"{operands}: {shows}" if operands else shows


# ---------------------------------------------------------------- fixes


@attrs.frozen
class FixSweep:
    """A `sweep fixes`: the condition as it is, each single change, and the smallest sets of
    changes that make it hold (checked together: changes can interfere)."""

    isa: str
    condition: str  # T1, T2, T3 or `policy NAME`
    mode: str  # the guest mode (traps are added there)
    families: tuple[str, ...]
    baseline: VariantResult
    singles: tuple[VariantResult, ...] = ()
    fixes: tuple[VariantResult, ...] = ()  # checked, and the condition holds
    interfering: tuple[VariantResult, ...] = ()  # checked, and it does not
    unremovable: tuple[str, ...] = ()  # breaking the condition whatever single change is made
    capped: str = ""  # why the search for sets stopped early, if it did
    skipped: tuple[str, ...] = ()  # families that do not apply, and why
    where: str = ""
    assisted: bool = False  # a hardware-assisted policy: guests run in their own modes

    def removes(self, single: VariantResult) -> frozenset[str]:
        return self.baseline.breaking - single.breaking

    def adds(self, single: VariantResult) -> frozenset[str]:
        return single.breaking - self.baseline.breaking if single.problem is None else frozenset()


def sweep_fixes(source: SpecSource, isa_name: str, families: Sequence[str] | None = None,
                theorem: str = "T1", policy: str | None = None, rlimit: int = SOLVER_RLIMIT,
                executor: Executor | None = None, steps: StepFactory | None = None,
                max_fixes: int = MAX_FIXES, cache: bool = False) -> FixSweep:
    """Every single change of `families` to the isa (for the offenders of the condition: T1,
    T2, T3, or the policy check of hypervisor `policy`), then the smallest sets of the changes
    that each remove an offender that together remove them all, each set checked.  Without
    `families`, every family that applies (a family asked for that does not apply is noted);
    with `cache`, the workers share the disk cache of decided questions."""
    executor = executor or Executor(workers=1)
    steps = steps or _no_steps
    spec = source.compile()
    isa = find_isa(spec, isa_name)
    hypervisor = find_hypervisor(spec, policy, isa) if policy is not None else None
    if hypervisor is not None:
        from vdsl.resolve.policies import no_policy_check

        problem = no_policy_check(hypervisor, isa)
        if problem is not None:
            raise RunError(problem[0])
    condition = "policy" if policy is not None else theorem
    context = hypervisor.context if hypervisor is not None else isa.context
    named = f"policy {policy}" if policy is not None else theorem
    job = functools.partial(VariantJob, source, isa_name, condition, policy=policy, rlimit=rlimit,
                            cache=cache)
    (baseline,) = executor.map(decide_variant, [job()], steps("deciding the isa as it is", 1),
                               VariantJob.name)
    asked = families is not None
    families = tuple(families) if families is not None else FAMILIES
    assisted = hypervisor is not None and hypervisor.technique == "hardware_assisted"
    sweep = FixSweep(isa_name, named, context.mode, families, baseline, where=executor.describe(),
                     assisted=assisted)
    if baseline.holds or baseline.problem is not None:
        return sweep
    breaking = sorted(baseline.breaking)
    candidates: list[Change] = []
    skipped = []
    for family in families:
        if family == "trap":
            candidates += trap_changes(isa, breaking)
        elif family == "pin":
            candidates += pin_changes(isa, context)
        elif family == "exit":
            if (not assisted or isa.virtualization is None) and asked:
                skipped.append("exit: only a hardware-assisted policy (--policy) on an isa with a "
                               "virtualization extension has exits")
            elif assisted and isa.virtualization is not None:
                candidates += exit_changes(isa, breaking)
    singles = executor.map(decide_variant, [job((c,)) for c in candidates],
                           steps("single changes", len(candidates)), VariantJob.name)
    sweep = attrs.evolve(sweep, singles=tuple(singles), skipped=tuple(skipped))
    removes = {s.changes[0]: sweep.removes(s) for s in singles if sweep.removes(s)}
    unremovable = tuple(b for b in breaking if not any(b in r for r in removes.values()))
    if unremovable:
        return attrs.evolve(sweep, unremovable=unremovable)
    covers, capped = minimal_covers(breaking, removes, max_fixes)
    known = {s.changes: s for s in singles}
    to_check = [tuple(sorted(c)) for c in covers if tuple(sorted(c)) not in known]
    checked = executor.map(decide_variant, [job(c) for c in to_check],
                           steps("candidate fixes", len(to_check)), VariantJob.name)
    known.update({r.changes: r for r in checked})
    results = [known[tuple(sorted(c))] for c in covers]
    return attrs.evolve(sweep, fixes=tuple(r for r in results if r.holds),
                        interfering=tuple(r for r in results if not r.holds), capped=capped)


def _no_steps(_what: str, _total: int) -> Step:
    return lambda _done: None


def minimal_covers(targets: Sequence[str], removes: dict[Change, frozenset[str]],
                   limit: int = MAX_FIXES,
                   budget: int = SEARCH_BUDGET) -> tuple[list[frozenset[Change]], str]:
    """The inclusion-minimal sets of changes whose removed offenders cover `targets`, smallest
    first (then in the changes' order), at most `limit`; and, when the search stopped early,
    why.  A search by increasing size: each level branches on the target with the fewest
    changes that remove it, so that every minimal set is reached."""
    covering = {t: sorted(c for c, removed in removes.items() if t in removed) for t in targets}
    found: list[frozenset[Change]] = []
    steps = 0

    def search(chosen: frozenset[Change], covered: frozenset[str], size: int) -> bool:
        """False when the budget is spent."""
        nonlocal steps
        steps += 1
        if steps > budget:
            return False
        if any(f <= chosen for f in found):
            return True
        left = [t for t in targets if t not in covered]
        if not left:
            found.append(chosen)
            return True
        if len(chosen) == size:
            return True
        pick = min(left, key=lambda t: len(covering[t]))
        return all(search(chosen | {change}, covered | removes[change], size) for change in covering[pick])

    for size in range(1, len(targets) + 1):
        if not search(frozenset(), frozenset(), size):
            return _ordered(found)[:limit], (f"the search for sets of changes stopped after {budget} steps; "
                                             "larger sets may exist")
        if len(found) >= limit:
            capped = f"more than {limit} sets may exist; the first {limit} are checked" \
                if len(found) > limit or size < len(targets) else ""
            return _ordered(found)[:limit], capped
    return _ordered(found), ""


def _ordered(sets: Iterable[frozenset[Change]]) -> list[frozenset[Change]]:
    return sorted(set(sets), key=lambda s: (len(s), sorted(s)))


# ---------------------------------------------------------------- guest modes


@attrs.frozen
class ModeJob:
    """Decide the theorems for the isa with guests in `mode` (and with `changes` made)."""

    source: SpecSource
    isa: str
    mode: str
    rlimit: int = SOLVER_RLIMIT
    cache: bool = False

    def name(self) -> str:
        return self.mode


@attrs.frozen
class ModeResult:
    """The theorems' verdicts with guests in one mode: (theorem, word, offenders) each."""

    mode: str
    verdicts: tuple[tuple[str, str, tuple[str, ...]], ...]
    premise: str = "holds"


def decide_mode(job: ModeJob) -> ModeResult:
    from vdsl.analysis.classify import classify_isa, verdict_word

    isa = find_isa(job.source.compile(), job.isa)
    report = classify_isa(isa, job.mode, job.rlimit, decider=_decider(job.cache))
    verdicts = tuple((t, verdict_word(v), tuple(r.name for r in v.offending))
                     for t, v in ((t, report.verdicts[t]) for t in THEOREMS))
    premise = "holds" if report.premise.holds else "fails" if report.premise.decided else "is undecided"
    return ModeResult(job.mode, verdicts, premise)


def sweep_modes(source: SpecSource, isa_name: str, rlimit: int = SOLVER_RLIMIT,
                executor: Executor | None = None, steps: StepFactory | None = None,
                cache: bool = False) -> list[ModeResult]:
    """The theorems with guests in each mode of the isa's machine, most privileged first."""
    executor = executor or Executor(workers=1)
    isa = find_isa(source.compile(), isa_name)
    jobs = [ModeJob(source, isa_name, mode, rlimit, cache) for mode in isa.machine.modes]
    return executor.map(decide_mode, jobs, (steps or _no_steps)("guest modes", len(jobs)), ModeJob.name)
