"""Findings: what CI formats report, one model for all of them.

A finding is a diagnostic (the spec has an error), an `expect` line that fails or is undecided,
an unmet `--require`, or a guest that did not finish: a level, a code, a message and where in
the spec it is.  The text and JSON reports say more; these are what an annotation needs.
GitHub workflow annotations (`--format github`) are one line per finding; a SARIF log
(`--format sarif`, `vdsl.report.sarif`) has one result per finding.
"""

from __future__ import annotations

import attrs

from vdsl.analysis.classify import IsaReport, verdict_word
from vdsl.errors import Diagnostic, Related
from vdsl.ir import nodes as ir
from vdsl.monitor.results import ScenarioRun
from vdsl.report.run import expectation_words
from vdsl.source import Span


@attrs.frozen
class Finding:
    level: str  # error, warning or notice
    code: str  # a diagnostic's code (V010), or expect, require, undecided, unfinished
    message: str
    span: Span | None = None
    file: str | None = None  # for a finding about a whole file
    related: tuple[Related, ...] = ()  # other places it is about (SARIF shows them; annotations cannot)

    @classmethod
    def of_diagnostic(cls, diagnostic: Diagnostic) -> Finding:
        message = diagnostic.message + (f" (hint: {diagnostic.hint})" if diagnostic.hint else "")
        return cls(diagnostic.severity, diagnostic.code, message, diagnostic.span, diagnostic.file,
                   diagnostic.related)

    def github(self) -> str:
        """The GitHub Actions workflow command that shows it as an annotation."""
        where = []
        file = self.span.file if self.span is not None else self.file
        if file:
            where.append(f"file={_property(file)}")
        if self.span is not None:
            span = self.span
            where += [f"line={span.line}", f"col={span.column}", f"endLine={span.end_line}",
                      f"endColumn={span.end_column}"]
        where.append(f"title={_property(f'vdsl {self.code}')}")
        return f"::{self.level} {','.join(where)}::{_data(self.message)}"


def check_findings(reports: list[IsaReport], required: tuple[str, ...]) -> list[Finding]:
    """A classification's findings: its expectations that fail or are undecided, its unmet
    `--require`s, its undecided questions."""
    found: list[Finding] = []
    for report in reports:
        found += _expectation_findings(report.expectations)
        for theorem in required:
            verdict = report.verdicts[theorem]
            if not verdict.holds:
                found.append(Finding("error", "require", f"--require {theorem}: its condition "
                                     f"{verdict_word(verdict)} for isa {report.isa.name}", report.isa.span))
        for instruction in report.instructions:
            if instruction.undecided:
                found.append(Finding("warning", "undecided", f"{instruction.name}: z3 could not decide "
                                     f"{', '.join(instruction.undecided)} within --rlimit", report.isa.span))
    return found


def run_findings(runs: list[ScenarioRun]) -> list[Finding]:
    """Scenario runs' findings: expectations that fail, guests that did not finish."""
    found: list[Finding] = []
    for run in runs:
        found += _expectation_findings(run.expectations)
        for guest in run.guests:
            if not guest.finished:
                found.append(Finding("error", "unfinished", f"scenario {run.scenario.name}: guest "
                                     f"{guest.name} did not finish: {guest.message}", run.scenario.span))
    return found


def _expectation_findings(results: tuple[ir.ExpectationResult, ...]) -> list[Finding]:
    return [Finding("error" if result.decided else "warning", "expect",
                    f"expect {expectation_words(result.expectation)}: "
                    f"{'fails' if result.decided else 'undecided'} ({result.detail})",
                    result.expectation.span)
            for result in results if not result.holds]


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
