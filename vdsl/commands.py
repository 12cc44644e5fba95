"""The commands of the `vdsl` command line, each a handler of parsed arguments.

`vdsl.cli` parses the command line without importing any of this (so that `vdsl --version`
and `vdsl --help` start at once); it imports this module, and with it the parser, the
analysis and z3, only to run a command.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from vdsl import __version__
from vdsl.analysis.cache import DiskCache
from vdsl.analysis.classify import (
    IsaReport,
    PolicyReport,
    check_policy,
    classify_instruction,
    classify_isa,
    classify_isas,
    expected_policies,
    guest_context,
    verdict_word,
)
from vdsl.analysis.jobs import Decider
from vdsl.analysis.questions import Questions
from vdsl.cli import EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, EXIT_SPEC_ERROR, RENDERED, SUBJECT_OPTIONS
from vdsl.emulator import StepRecord, run_program
from vdsl.errors import InternalError, RunError, SpecError, did_you_mean
from vdsl.ir.dump import dump
from vdsl.ir.nodes import Hypervisor, Isa, Scenario, Spec
from vdsl.ir.vocabulary import DIAGRAM_KINDS, THEOREMS
from vdsl.monitor.results import ScenarioRun
from vdsl.monitor.run import check_techniques, find_hypervisor, find_isa, run_scenario, select_scenarios
from vdsl.outputs import OUTPUTS
from vdsl.phases import Compilation
from vdsl.progress import Progress
from vdsl.report.check import policy_json, policy_text
from vdsl.report.findings import Finding, check_findings, run_findings
from vdsl.report.html import Diagram, ReportInput
from vdsl.resources import bundled_specs
from vdsl.scale.jobs import Executor
from vdsl.syntax.fmt import format_text
from vdsl.syntax.imports import read_source

CI_FORMATS = ("github", "sarif")  # the formats that print findings, fed by vdsl.report.findings


def print_diagnostics(error: SpecError, output_format: str) -> None:
    if output_format in CI_FORMATS:
        print_findings([Finding.of_diagnostic(d) for d in error.diagnostics], output_format)
        return
    if output_format == "json":
        print(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in error.diagnostics]}, indent=2))
        return
    for diagnostic in error.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    count = len(error.diagnostics)
    print(_counted(count, "error"), file=sys.stderr)


def print_findings(findings: list[Finding], output_format: str, failure: str | None = None) -> None:
    """The findings on standard output: GitHub Actions annotations, one line each, or one SARIF log
    (which also says when vdsl could not do what was asked: `failure`)."""
    if output_format == "github":
        for finding in findings:
            print(finding.github())
    else:
        print(json.dumps(OUTPUTS["findings-sarif"].convert(findings, Path.cwd(), failure), indent=2))


def _analysed_isas(spec: Spec, files: list[Path], names: list[str] | None) -> list[Isa]:
    """The isas named with --isa, else those declared in the files given (not their imports)."""
    if names:
        return [find_isa(spec, name) for name in names]
    given = {str(f) for f in files}
    return [i for i in spec.isas if i.span is not None and i.span.file in given]




def _decider(args: argparse.Namespace) -> Decider:
    """Who decides the questions: `-j` processes (default one per core), with the disk cache
    unless `--no-cache`."""
    executor = Executor(workers=args.jobs) if args.jobs is not None else Executor()
    return Decider(executor, None if args.no_cache else DiskCache())


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


class _PolicyChecks:
    """The policy checks of one `vdsl check`, each (isa, hypervisor) pair decided once: for --policy
    and for the isas' `expect policy` lines alike."""

    def __init__(self, spec: Spec, rlimit: int, progress: Progress | None = None,
                 decider: Decider | None = None) -> None:
        self.spec = spec
        self.rlimit = rlimit
        self.progress = progress or Progress(enabled=False)
        self.decider = decider or Decider()  # decides the classifications too (`_classified`)
        self.done: dict[tuple[str, str], PolicyReport] = {}

    def hypervisor(self, name: str) -> Hypervisor:
        return find_hypervisor(self.spec, name)

    def of(self, isa: Isa, hypervisor: Hypervisor) -> PolicyReport:
        key = (isa.name, hypervisor.name)
        if key not in self.done:
            step = self.progress.task(f"policy {hypervisor.name} on {isa.name}", len(isa.instructions))
            self.done[key] = check_policy(isa, hypervisor, self.rlimit, step, self.decider)
        return self.done[key]

    def expected(self, isa: Isa) -> dict[str, PolicyReport]:
        """The checks the isa's `expect policy` lines name (the resolver made sure they apply)."""
        return {name: self.of(isa, self.hypervisor(name)) for name in expected_policies(isa)}

    def asked(self, isas: list[Isa], names: list[str]) -> list[PolicyReport]:
        """The check of each hypervisor named with --policy, on each analysed isa it is for."""
        found: list[PolicyReport] = []
        for name in names:
            hypervisor = self.hypervisor(name)
            targets = [i for i in isas if hypervisor.is_for(i)]
            if not targets:
                raise RunError(f"hypervisor {name} runs on {hypervisor.runs_on}, and no isa checked here is "
                               "for it; name one with --isa")
            found.extend(self.of(isa, hypervisor) for isa in targets)
        return found


def _classified(isas: list[Isa], guest_mode: str | None, rlimit: int,
                checks: _PolicyChecks) -> list[IsaReport]:
    """Each isa classified, its `expect policy` lines judged by `checks`; progress shown by theirs."""
    return classify_isas(isas, guest_mode, rlimit, checks.expected,
                         lambda isa: checks.progress.task(f"classifying {isa.name}", len(isa.instructions)),
                         checks.decider)


def _check_each(args: argparse.Namespace) -> int:
    """Each file its own spec: one line (or JSON object) per file; the worst exit status."""
    progress = Progress.for_terminal(args.quiet)
    with progress.shown():
        step = progress.task("checking", len(args.files))
        checked = []
        for path in args.files:
            checked.append(_check_file(path, args))
            step(str(path))
    results = [(path, status, data) for path, status, data, _ in checked]
    worst = max(status for _, status, _ in results)
    if args.format in CI_FORMATS:
        print_findings([finding for *_, findings in checked for finding in findings], args.format)
        return worst
    if args.format == "json":
        print(json.dumps({"ok": worst == EXIT_OK, "files": [
            {"file": str(path), "status": status, **data} for path, status, data in results]}, indent=2))
        return worst
    for path, _, data in results:
        print(f"{path}: {data['summary']}")
    counts = [sum(1 for _, status, _ in results if status == s) for s in range(4)]
    words = [f"{n} {word}" for n, word in zip(counts, ("ok", "failed", "with errors", "crashed"), strict=True)
             if n]
    print(f"{_counted(len(results), 'file')}: " + ", ".join(words))
    return worst


def _check_file(path: Path, args: argparse.Namespace) -> tuple[Path, int, dict[str, Any], list[Finding]]:
    """Check one file as a spec of its own: its exit status, a summary and its findings (never
    raises)."""
    try:
        spec = Compilation([path]).spec
        isas = _analysed_isas(spec, [path], args.isa)
        checks = _PolicyChecks(spec, args.rlimit, decider=_decider(args))
        reports = classify_isas(isas, args.guest_mode, args.rlimit, checks.expected, decider=checks.decider)
    except SpecError as error:
        first = error.diagnostics[0]
        where = first.span.location() if first.span is not None else first.file or str(path)
        count = _counted(len(error.diagnostics), "error")
        return path, EXIT_SPEC_ERROR, {
            "summary": f"{count} (first: {where}: {first.severity}[{first.code}]: {first.message})",
            "diagnostics": [d.to_json() for d in error.diagnostics]}, [
            Finding.of_diagnostic(d) for d in error.diagnostics]
    except RunError as error:
        return path, EXIT_SPEC_ERROR, {"summary": f"error: {error}", "error": str(error)}, [
            Finding("error", "error", str(error), file=str(path))]
    except Exception as error:  # noqa: BLE001 - one file's bug must not stop the batch
        message = f"internal error ({type(error).__name__}): {error}"
        return path, EXIT_INTERNAL, {"summary": message, "error": str(error)}, [
            Finding("error", "internal", message, file=str(path))]
    if not reports:
        return path, EXIT_OK, {"summary": "ok: no isa to classify", "isas": []}, []
    required = tuple(t for t in args.require or () if t != "policy")
    findings = check_findings(reports, required)  # what failed, as CI formats report it
    failed = [f for f in findings if f.code == "expect" and f.level == "error"]
    unsure = [f for f in findings if f.code == "expect" and f.level != "error"]
    unmet = [f.message for f in findings if f.code == "require"]
    undecided = [f for f in findings if f.code == "undecided"]
    verdicts = "; ".join(f"{r.isa.name}: " + ", ".join(f"{t} {verdict_word(r.verdicts[t])}" for t in THEOREMS)
                         for r in reports)
    expectations = sum(len(r.expectations) for r in reports)
    problems = [f"{len(failed)} of {expectations} expectations fail"] if failed else []
    problems += [f"{_counted(len(unsure), 'expectation')} undecided"] if unsure else []
    problems += unmet
    problems += [f"{_counted(len(undecided), 'instruction')} with undecided questions"] if undecided else []
    status = EXIT_FAILED if problems else EXIT_OK
    held = "no expect lines" if not expectations else \
        f"{_counted(expectations, 'expectation')} {'holds' if expectations == 1 else 'hold'}"
    summary = f"FAILED: {'; '.join(problems)} ({verdicts})" if problems else f"ok ({verdicts}; {held})"
    data = OUTPUTS["check-json"].convert(reports, required)
    return path, status, {"summary": summary, "isas": data["isas"]}, findings


def _check(args: argparse.Namespace) -> int:
    if args.each:
        if args.policy:
            raise RunError("--policy names a hypervisor of one spec; with --each, state the checks in each "
                           "file with `expect policy HYPERVISOR holds`")
        return _check_each(args)
    spec = Compilation(args.files).spec
    isas = _analysed_isas(spec, args.files, args.isa)
    if isas:
        progress = Progress.for_terminal(args.quiet)
        with progress.shown():
            checks = _PolicyChecks(spec, args.rlimit, progress, _decider(args))
            policies = checks.asked(isas, args.policy or [])
            reports = _classified(isas, args.guest_mode, args.rlimit, checks)
        required = tuple(t for t in args.require or () if t != "policy")
        if args.format in CI_FORMATS:
            print_findings(check_findings(reports, required), args.format)
        elif args.format == "json":
            result = OUTPUTS["check-json"].convert(reports, required)
            if args.policy:
                result["policies"] = [policy_json(p) for p in policies]
                gate = "policy" in (args.require or ())
                result["ok"] = result["ok"] and (not gate or all(p.holds for p in policies))
            print(json.dumps(result, indent=2))
        else:
            _out(OUTPUTS["check-text"].convert(reports))
            for policy in policies:
                _out("\n" + policy_text(policy))
        sys.stdout.flush()  # the table comes before the stderr summary, even in one pipe
        unmet_policies = [p for p in policies if not p.holds] if "policy" in (args.require or ()) else []
        for policy in unmet_policies:
            print(f"vdsl: --require policy: the check of hypervisor {policy.hypervisor.name} on isa "
                  f"{policy.isa.name} {'fails' if policy.failing else 'is undecided'}", file=sys.stderr)
        failed = [e for r in reports for e in r.expectations if not e.holds and e.decided]
        unsure = [e for r in reports for e in r.expectations if not e.decided]
        unmet = [(r.isa.name, t, verdict_word(r.verdicts[t])) for r in reports for t in required
                 if not r.verdicts[t].holds]
        for isa_name, theorem, word in unmet:
            print(f"vdsl: --require {theorem}: its condition {word} for isa {isa_name}", file=sys.stderr)
        if failed and args.format == "text":
            print(f"vdsl: {_counted(len(failed), 'expectation')} failed", file=sys.stderr)
        if unsure and args.format == "text":
            print(f"vdsl: {_counted(len(unsure), 'expectation')} undecided", file=sys.stderr)
        undecided = sum(len(i.undecided) for r in reports for i in r.instructions)
        if undecided:
            print(f"vdsl: {_counted(undecided, 'question')} undecided: the analysis is incomplete",
                  file=sys.stderr)
        return EXIT_FAILED if failed or unsure or unmet or undecided or unmet_policies else EXIT_OK
    counts = {
        "machines": [m.name for m in spec.machines],
        "isas": [i.name for i in spec.isas],
        "programs": [p.name for p in spec.programs],
        "hypervisors": [h.name for h in spec.hypervisors],
        "scenarios": [s.name for s in spec.scenarios],
        "stacks": [s.name for s in spec.stacks],
    }
    if args.format == "json":
        print(json.dumps({"ok": True, "diagnostics": [], "declared": counts, "isas": []}, indent=2))
    elif args.format == "text":
        summary = ", ".join(f"{len(v)} {k if len(v) != 1 else k[:-1]}" for k, v in counts.items() if v)
        print(f"ok: {summary or 'nothing declared'}")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    spec = Compilation([args.file]).spec
    candidates = _analysed_isas(spec, [args.file], [args.isa] if args.isa else None) or list(spec.isas)
    having = [i for i in candidates if i.instruction(args.instruction) is not None]
    elsewhere = [i.name for i in spec.isas if i.instruction(args.instruction) is not None]
    if not having and args.isa and elsewhere:
        raise RunError(f"isa {args.isa} has no instruction '{args.instruction}'; "
                       f"{', '.join(elsewhere)} {'has' if len(elsewhere) == 1 else 'have'} it")
    if not having:
        known = sorted({inst.name for i in candidates for inst in i.instructions})
        raise RunError(f"no isa has an instruction '{args.instruction}'; "
                       + (did_you_mean(args.instruction, known) or "see `vdsl check` for the instructions"))
    if len(having) > 1 and not args.isa:
        raise RunError(f"several isas have {args.instruction} (" + ", ".join(i.name for i in having)
                       + "); choose one with --isa")
    isa = having[0]
    instruction = isa.instruction(args.instruction)
    assert instruction is not None
    context = guest_context(isa, args.guest_mode)
    report = classify_instruction(Questions(isa, context, args.rlimit), instruction, _decider(args))
    isa_report = IsaReport(isa, context, (report,), {}, ())
    if args.format == "json":
        print(json.dumps(OUTPUTS["explain-json"].convert(isa_report, report), indent=2))
    else:
        _out(OUTPUTS["explain-text"].convert(isa_report, report))
    return EXIT_FAILED if report.undecided else EXIT_OK


def _out(text: str) -> None:
    """Write to standard output a few kilobytes at a time: one large write into a pipe whose
    reader has gone (`vdsl dump FILE | head`) can end without an error, and the status must say
    the output was cut short (141)."""
    for start in range(0, len(text), 4096):
        sys.stdout.write(text[start:start + 4096])


def _dump(args: argparse.Namespace) -> int:
    _out(dump(Compilation(args.files).spec))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.trace is not None and str(args.trace) == "-" and args.format != "text":
        raise RunError(f"--trace - and --format {args.format} would both write to standard output; "
                       "write the trace to a file instead")
    spec = Compilation(args.files).spec
    if args.program is not None and (args.scenario or args.technique):
        raise RunError("--program runs one program on the bare machine; --scenario and --technique "
                       "apply to scenarios")
    if args.program is None:
        given = {str(f) for f in args.files}
        scenarios = select_scenarios(spec, args.scenario) if args.scenario else [
            s for s in spec.scenarios if s.span is not None and s.span.file in given]
        if scenarios:
            return _run_scenarios(args, scenarios)
        if args.technique is not None:
            raise RunError("--technique applies to scenarios, and the files declare none")
    name = args.program
    if name is None:
        if not spec.programs:
            raise RunError("there is nothing to run: the files declare no scenario and no program; "
                           "`vdsl check` classifies their isas")
        if len(spec.programs) != 1:
            names = ", ".join(p.name for p in spec.programs)
            raise RunError(f"say which program to run with --program (programs: {names})")
        name = spec.programs[0].name
    if args.trace is not None:
        with _open_trace(args.trace) as stream:
            def trace(record: StepRecord) -> None:
                stream.write(json.dumps(record.to_json()) + "\n")

            result = run_program(spec, name, args.max_steps, trace)
    else:
        result = run_program(spec, name, args.max_steps)
    if args.format == "json":
        print(json.dumps(OUTPUTS["program-json"].convert(name, result), indent=2))
    elif args.format in CI_FORMATS:
        program = spec.program(name)
        print_findings([Finding("error", "unfinished", f"program {name}: {result.message}",
                                program.span if program is not None else None)]
                       if result.status != "halted" else [], args.format)
    else:
        _out(OUTPUTS["program-text"].convert(name, result))
    return EXIT_OK if result.status == "halted" else EXIT_FAILED


def _run_scenarios(args: argparse.Namespace, scenarios: list[Scenario]) -> int:
    for scenario in scenarios:  # refuse before running anything
        check_techniques(scenario, args.technique)
    runs = []
    progress = Progress.for_terminal(args.quiet or args.format == "text")  # text shows each run as it ends
    with _open_trace(args.trace) if args.trace is not None else contextlib.nullcontext() as stream, \
            progress.shown():
        step = progress.task("running scenarios", len(scenarios))
        for scenario in scenarios:
            run = run_scenario(scenario, args.technique, args.max_steps, trace=stream is not None)
            step(scenario.name)
            runs.append(run)
            if args.format == "text":
                text = OUTPUTS["run-text"].convert(run, args.translations)
                _out(("\n" if len(runs) > 1 else "") + text)
                sys.stdout.flush()
            if stream is not None:
                for event in run.events:
                    stream.write(json.dumps({"scenario": run.scenario.name, **event.to_json()}) + "\n")
    if args.format in CI_FORMATS:
        print_findings(run_findings(runs), args.format)
    elif args.format == "json":
        print(json.dumps(OUTPUTS["run-json"].convert(runs), indent=2))
    elif len(runs) > 1:
        _out("\n" + OUTPUTS["runs-summary-text"].convert(runs))
    failed = [e for run in runs for e in run.expectations if not e.holds]
    unfinished = [(run.scenario.name, g) for run in runs for g in run.guests if not g.finished]
    for scenario_name, guest in unfinished:
        why = f"did not halt within {args.max_steps} instructions (raise the limit with --max-steps)" \
            if guest.status == "step_limit" else f"did not finish: {guest.message}"
        print(f"vdsl: scenario {scenario_name}: guest {guest.name} {why}", file=sys.stderr)
    if failed and args.format == "text":
        print(f"vdsl: {_counted(len(failed), 'expectation')} failed", file=sys.stderr)
    return EXIT_FAILED if failed or unfinished else EXIT_OK


class _open_trace:
    """The trace file, or standard output for '-'; written whole or not at all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stream: TextIO | None = None

    def __enter__(self) -> TextIO:
        if str(self.path) == "-":
            self.stream = sys.stdout
        else:
            try:
                self.stream = self.path.open("w", encoding="utf-8")
            except OSError as error:
                raise RunError(f"cannot write the trace to '{self.path}': {error.strerror}") from None
        return self.stream

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, *rest: object) -> None:
        problem = error if isinstance(error, OSError) and not isinstance(error, BrokenPipeError) else None
        if self.stream is not None and self.stream is not sys.stdout:
            try:
                self.stream.close()
            except OSError as closing:
                problem = problem or closing
        if problem is not None:
            raise RunError(f"cannot write the trace to '{self.path}': {problem.strerror}") from None


# Where a kind finds its subjects when none is named: the first kind of subject the files declare.
_DEFAULT_SUBJECTS = {"layers": (("scenario",), ("hypervisor",), ("stack",)),
                     "rings": (("scenario",), ("hypervisor",), ("isa",)),
                     "classes": (("isa",),), "traps": (("scenario",),), "schedule": (("scenario",),)}


def _all_of(spec: Spec, which: str) -> tuple[Any, ...]:
    """Every scenario, hypervisor, isa or stack of the spec."""
    every: dict[str, tuple[Any, ...]] = {"scenario": spec.scenarios, "hypervisor": spec.hypervisors,
                                         "isa": spec.isas, "stack": spec.stacks}
    return every[which]


def _declared(spec: Spec, which: str, files: list[Path]) -> list[Any]:
    """The subjects of one kind (scenarios, hypervisors, ...) that the files given declare."""
    given = {str(f) for f in files}
    return [s for s in _all_of(spec, which) if s.span is not None and s.span.file in given]


def _subject(spec: Spec, which: str, name: str) -> Any:
    found = next((s for s in _all_of(spec, which) if s.name == name), None)
    if found is None:
        known = [s.name for s in _all_of(spec, which)]
        raise RunError(f"there is no {which} '{name}'; " + (
            did_you_mean(name, known) or (f"the {which}s are " + ", ".join(known) if known
                                          else f"the spec declares no {which}")))
    return found


def _diagram_jobs(args: argparse.Namespace, spec: Spec) -> list[tuple[str, str, Any]]:
    """(kind, subject's name, subject) for every diagram asked for."""
    kinds = DIAGRAM_KINDS if args.kind == "all" else (args.kind,)
    named = next(((o, getattr(args, o)) for o in SUBJECT_OPTIONS if getattr(args, o)), None)
    jobs: list[tuple[str, str, Any]] = []
    for kind in kinds:
        takes = OUTPUTS[kind].takes
        if named is not None:
            which, name = named
            if which not in takes:
                if args.kind == "all":
                    continue
                drawn = " or ".join(_a(t) for t in takes)
                raise RunError(f"--kind {kind} draws {drawn}, not {_a(which)}")
            jobs.append((kind, name, _subject(spec, which, name)))
            continue
        subjects: list[Any] = []
        for group in _DEFAULT_SUBJECTS[kind]:
            subjects = [s for which in group for s in _declared(spec, which, args.files)]
            if subjects:
                break
        if kind == "layers":  # a layer-only system is drawn beside the hypervisors
            subjects += [s for s in _declared(spec, "stack", args.files) if s not in subjects]
        if args.kind != "all" and len(subjects) > 1:
            names = ", ".join(s.name for s in subjects)
            raise RunError(f"the files have several things --kind {kind} can draw ({names}); choose one with "
                           + " or ".join(f"--{t} NAME" for t in takes))
        jobs.extend((kind, s.name, s) for s in subjects)
    if not jobs:
        if args.kind == "all":
            raise RunError("the files declare nothing to draw")
        raise RunError("the files declare no " + " or ".join(OUTPUTS[args.kind].takes))
    return jobs


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _diagram(args: argparse.Namespace) -> int:
    spec = Compilation(args.files).spec
    jobs = _diagram_jobs(args, spec)
    output = args.output
    to_stdout = output is None or output == "-"
    several = not to_stdout and (args.kind == "all" or output.endswith(("/", os.sep))
                                 or Path(output).is_dir())
    if args.kind == "all" and to_stdout:
        raise RunError("--kind all writes one file per diagram: give a folder with -o DIR")
    if to_stdout:
        if args.format not in (None, "dot"):
            raise RunError(f"{args.format} is written to a file: give one with -o FILE.{args.format}")
        fmt = "dot"
    elif several:
        fmt = args.format or "svg"
    else:
        suffix = Path(output).suffix.lstrip(".").lower()
        fmt = args.format or {"gv": "dot"}.get(suffix, suffix)
        if fmt not in (*RENDERED, "dot"):
            raise RunError(f"cannot tell the format of '{output}' from its extension; use .dot, .svg, "
                           ".png or .pdf, or give --format")
    if fmt != "dot" and shutil.which("dot") is None:
        raise RunError(f"rendering {fmt.upper()} needs graphviz's `dot` program, which is not installed: "
                       "install graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                       "graphviz), or write DOT with -o FILE.dot")
    counts = {kind: sum(1 for k, _, _ in jobs if k == kind) for kind, _, _ in jobs}
    classified: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    progress = Progress.for_terminal(args.quiet)
    with progress.shown():
        step = progress.task("drawing", len(jobs))
        graphs = []
        for kind, name, subject in jobs:
            graphs.append((kind, name, OUTPUTS[kind].convert(_diagram_input(kind, subject, args, classified,
                                                                            runs))))
            step(f"{kind} {name}")
    for kind, name, graph in graphs:
        if to_stdout:
            _out(graph.source)
            continue
        if several:
            folder = Path(output)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / (f"{kind}.{fmt}" if counts[kind] == 1 else f"{kind}-{name}.{fmt}")
        else:
            target = Path(output)
        data = graph.source.encode("utf-8") if fmt == "dot" else graph.pipe(format=fmt)
        _write_atomically(target, data)
        if several:
            print(target)
    return EXIT_OK


def _diagram_input(kind: str, subject: Any, args: argparse.Namespace, classified: dict[str, Any],
                   runs: dict[str, Any]) -> Any:
    """What a kind converts: the subject itself, its classification, or a run of it (each once)."""
    needs = OUTPUTS[kind].needs
    if needs == "classification":
        if subject.name not in classified:
            classified[subject.name] = classify_isa(subject, decider=_decider(args))
        return classified[subject.name]
    if needs == "run":
        if subject.name not in runs:
            runs[subject.name] = run_scenario(subject, max_steps=args.max_steps, trace=True)
        return runs[subject.name]
    return subject


def _write_atomically(target: Path, data: bytes) -> None:
    """Write the whole file or nothing: a temporary file beside it, then a rename.  A file that
    was there keeps its permissions; a failure leaves the target as it was and no temporary file."""
    temporary: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.",
                                         delete=False) as handle:
            temporary = Path(handle.name)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        os.chmod(temporary, mode)
        os.replace(temporary, target)
        temporary = None
    except OSError as error:
        raise RunError(f"cannot write '{target}': {error.strerror or error}") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _specs(args: argparse.Namespace) -> int:
    for path in bundled_specs():
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        summary = first[0].lstrip("/ ").strip() if first and first[0].startswith("//") else ""
        print(f"{path.name:<20} {summary}")
    print(f"(in {bundled_specs()[0].parent if bundled_specs() else 'no folder'})")
    return EXIT_OK


def _fmt(args: argparse.Namespace) -> int:
    """Rewrite files in the canonical layout, or with --check / --diff say what would change.
    Each file on its own: one that does not parse is reported and left as it was."""
    report_only = args.check or args.diff
    paths = _vspec_files(args.files)
    to_stdout = args.diff or (not report_only and Path("-") in paths)
    changed = unchanged = 0
    worst = EXIT_OK
    for path in paths:
        try:
            old, new = _formatted(path)
            if str(path) == "-" and not report_only:
                _out(new)
            if new == old:
                unchanged += 1
                continue
            changed += 1
            if args.diff:
                _out(_unified_diff(old, new, str(path)))
            elif args.check:
                print(f"would reformat: {path}")
            elif str(path) != "-":
                _write_atomically(path.resolve(), new.encode("utf-8"))  # through a symlink, not over it
        except SpecError as error:
            print_diagnostics(error, "text")
            worst = max(worst, EXIT_SPEC_ERROR)
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            worst = max(worst, EXIT_SPEC_ERROR)
        except InternalError as error:
            print(f"vdsl: internal error: {error}\nThis is a bug in vdsl; please report it with the spec "
                  "that caused it.", file=sys.stderr)
            worst = max(worst, EXIT_INTERNAL)
    done, left = ("would be reformatted", "already formatted") if report_only else (
        "reformatted", "left unchanged")
    summary = ", ".join(f"{_counted(n, 'file')} {what}"
                        for n, what in ((changed, done), (unchanged, left)) if n)
    if summary and paths != [Path("-")]:
        print(summary, file=sys.stderr if to_stdout else sys.stdout)
    if report_only and changed:
        worst = max(worst, EXIT_FAILED)
    return worst


def _vspec_files(paths: list[Path]) -> list[Path]:
    """The files given, a folder standing for the .vspec files in it (and in its subfolders)."""
    return [found for path in paths
            for found in (sorted(path.rglob("*.vspec")) if path.is_dir() else [path])]


def _formatted(path: Path) -> tuple[str, str]:
    """A file's text as it is (any line endings) and in the canonical layout; `-` is standard input."""
    if str(path) == "-":
        text = sys.stdin.read()
        return text, format_text(text, "<stdin>")
    source = read_source(path)  # a clean diagnostic for a file that cannot be read or is not UTF-8
    try:
        as_it_is = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"cannot read '{path}': {error}") from None
    return as_it_is, format_text(source.text, str(path))


def _unified_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), name, name)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


def _lsp(args: argparse.Namespace) -> int:
    from vdsl.lsp.server import serve  # pygls loads only for the language server

    return serve(args.log)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": _check, "explain": _explain, "dump": _dump, "run": _run, "diagram": _diagram, "specs": _specs,
    "fmt": _fmt, "lsp": _lsp}


def _report(args: argparse.Namespace) -> int:
    """One HTML page of the isas' classifications and the scenarios' runs, written whole."""
    spec = Compilation(args.files).spec
    isas, scenarios = _report_subjects(spec, args)
    for scenario in scenarios:  # refuse before running anything
        check_techniques(scenario)
    progress = Progress.for_terminal(args.quiet)
    with progress.shown():
        checks = _PolicyChecks(spec, args.rlimit, progress, _decider(args))
        reports = _classified(isas, None, args.rlimit, checks)
        step = progress.task("running scenarios", len(scenarios))
        runs = []
        for scenario in scenarios:
            runs.append(run_scenario(scenario, max_steps=args.max_steps, trace=True))
            step(scenario.name)
        diagrams, note = _report_diagrams(spec, args, reports, runs)
    page = ReportInput(tuple(str(f) for f in args.files), __version__, tuple(reports),
                       tuple(checks.done.values()), tuple(runs), diagrams, note)
    text = OUTPUTS["report-html"].convert(page)
    if args.output == "-":
        _out(text)
    else:
        _write_atomically(Path(args.output), text.encode("utf-8"))
    failed = [e for r in reports for e in r.expectations if not e.holds]
    failed += [e for run in runs for e in run.expectations if not e.holds]
    undecided = sum(len(i.undecided) for r in reports for i in r.instructions)
    unfinished = [(run.scenario.name, g) for run in runs for g in run.guests if not g.finished]
    for scenario_name, guest in unfinished:
        print(f"vdsl: scenario {scenario_name}: guest {guest.name} did not finish: {guest.message}",
              file=sys.stderr)
    if failed:
        print(f"vdsl: {_counted(len(failed), 'expectation')} failed or undecided", file=sys.stderr)
    if undecided:
        print(f"vdsl: {_counted(undecided, 'question')} undecided: the analysis is incomplete",
              file=sys.stderr)
    return EXIT_FAILED if failed or undecided or unfinished else EXIT_OK


def _report_subjects(spec: Spec, args: argparse.Namespace) -> tuple[list[Isa], list[Scenario]]:
    """The isas and scenarios a report covers: those named, else those the files declare; naming
    only scenarios reports their isas, naming only isas runs the scenarios declared on them."""
    scenarios = select_scenarios(spec, args.scenario) if args.scenario \
        else _declared(spec, "scenario", args.files)
    if args.isa or not args.scenario:
        isas = _analysed_isas(spec, args.files, args.isa)
    else:
        isas = list({s.isa.name: s.isa for s in scenarios}.values())
    if args.isa and not args.scenario:
        named = {i.name for i in isas}
        scenarios = [s for s in scenarios if s.isa.name in named]
    return isas, scenarios


def _report_diagrams(spec: Spec, args: argparse.Namespace, reports: list[IsaReport],
                     runs: list[ScenarioRun]) -> tuple[tuple[Diagram, ...], str]:
    """Every diagram that applies, rendered to SVG: each isa's classes; each scenario's layers, rings,
    trap flow and schedule; when nothing is named, the layers and rings of the files' other
    hypervisors and the layers of their stacks.  Without graphviz's `dot`, none, and why."""
    jobs: list[tuple[str, str, str, Any]] = [("classes", "isa", r.isa.name, r) for r in reports]
    for run in runs:
        name = run.scenario.name
        jobs += [(kind, "scenario", name, run if OUTPUTS[kind].needs == "run" else run.scenario)
                 for kind in ("layers", "rings", "traps", "schedule")]
    if not args.isa and not args.scenario:
        used = {m.name for run in runs for m in run.scenario.monitors}
        jobs += [(kind, "hypervisor", h.name, h) for h in _declared(spec, "hypervisor", args.files)
                 if h.name not in used for kind in ("layers", "rings")]
        jobs += [("layers", "stack", s.name, s) for s in _declared(spec, "stack", args.files)]
    if shutil.which("dot") is None:
        return (), ("The diagrams are left out: they need graphviz's `dot` program, which is not installed "
                    "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz).")
    diagrams = []
    for number, (kind, subject, name, source) in enumerate(jobs):
        graph = OUTPUTS[kind].convert(source)
        graph.attr(id=f"diagram{number}")  # graphviz prefixes the SVG's ids with it: unique in the page
        diagrams.append(Diagram(kind, subject, name, graph.pipe(format="svg", encoding="utf-8")))
    return tuple(diagrams), ""


HANDLERS["report"] = _report


def _sweep(args: argparse.Namespace) -> int:
    """`vdsl sweep fixes|modes|guests`: many variants or guests run as independent jobs, here or
    on Dask."""
    from vdsl.report import sweep as report  # the sweep machinery loads only for this command
    from vdsl.scale.campaign import run_campaign
    from vdsl.scale.jobs import Executor, default_workers
    from vdsl.scale.sweep import SpecSource, sweep_fixes, sweep_modes

    source = SpecSource.read(args.files)
    executor = Executor(args.jobs or default_workers(), args.scheduler)
    progress = Progress.for_terminal(args.quiet)
    with progress.shown():
        if args.sweep == "guests":
            campaign = run_campaign(source, args.isa, args.policy, tuple(dict.fromkeys(
                args.technique or ("trap_and_emulate", "hybrid"))), args.guests, args.seed, args.length,
                args.max_steps, executor, progress.task)
            if args.format == "json":
                print(json.dumps(report.campaign_json(campaign), indent=2))
            else:
                _out(report.campaign_text(campaign))
            return EXIT_OK
        if args.sweep == "modes":
            modes = sweep_modes(source, args.isa, args.rlimit, executor, progress.task, not args.no_cache)
            if args.format == "json":
                print(json.dumps(report.modes_json(args.isa, modes, executor.describe()), indent=2))
            else:
                _out(report.modes_text(args.isa, modes, executor.describe()))
            return EXIT_OK
        fixes = sweep_fixes(source, args.isa, tuple(dict.fromkeys(args.family)) if args.family else None,
                            args.theorem, args.policy, args.rlimit, executor, progress.task, args.max_fixes,
                            not args.no_cache)
    result = report.fixes_json(fixes)
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        _out(report.fixes_text(fixes))
    return EXIT_OK if result["ok"] else EXIT_FAILED


HANDLERS["sweep"] = _sweep
