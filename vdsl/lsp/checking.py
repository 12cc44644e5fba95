"""What `vdsl check` finds in a document, in two steps an editor can wait for differently.

`compile_document` is the compiler's diagnostics, every one of the phase that found errors,
fast enough to run as the text changes.  `classify_document` is what `check` reports after
compiling — expectations that fail or are undecided, pins no state can satisfy, questions z3
could not decide — and the classification hover shows; it needs z3 and can take a minute, so
the server runs it in the background, on open and save.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from vdsl.analysis.classify import IsaReport, classify_isa
from vdsl.errors import Diagnostic, RunError, SpecError
from vdsl.ir import nodes as ir
from vdsl.ir.vocabulary import SOLVER_RLIMIT
from vdsl.phases import Compilation
from vdsl.report.findings import Finding, check_findings
from vdsl.source import SourceFile


@attrs.frozen
class Compiled:
    """A document compiled: the spec, or the diagnostics that stopped it."""

    spec: ir.Spec | None
    diagnostics: tuple[Diagnostic, ...] = ()


@attrs.frozen
class Classified:
    """A document's isas classified: the reports by isa name and what `check` reports of them."""

    reports: Mapping[str, IsaReport]
    findings: tuple[Finding, ...] = ()


def compile_document(path: Path, texts: Mapping[Path, str]) -> Compiled:
    """Compile the file at `path` with its imports; `texts` stands in for files an editor has
    open (their unsaved text).  Never raises: a bug in vdsl is a diagnostic too."""
    sources = {p: SourceFile(str(p), text) for p, text in texts.items()}
    try:
        return Compiled(Compilation([path], sources).spec)
    except SpecError as error:
        return Compiled(None, error.diagnostics)
    except Exception as error:  # noqa: BLE001 - the editor shows it instead of a crash
        return Compiled(None, (internal_error(error, path),))


def classify_document(spec: ir.Spec, path: Path, rlimit: int = SOLVER_RLIMIT) -> Classified:
    """Classify the isas the file declares (not those of its imports), as `vdsl check FILE` does."""
    from vdsl.commands import _PolicyChecks  # the policy checks `check` runs for `expect policy`

    isas = [isa for isa in spec.isas if isa.span is not None and Path(isa.span.file) == path]
    checks = _PolicyChecks(spec, rlimit)
    reports: dict[str, IsaReport] = {}
    findings: list[Finding] = []
    for isa in isas:
        try:
            reports[isa.name] = classify_isa(isa, None, rlimit, checks.expected(isa))
        except SpecError as error:
            findings += [Finding.of_diagnostic(d) for d in error.diagnostics]
        except RunError as error:
            findings.append(Finding("error", "error", f"isa {isa.name}: {error}", isa.span))
    return Classified(reports, tuple(findings) + tuple(check_findings(list(reports.values()), ())))


def internal_error(error: BaseException, path: Path) -> Diagnostic:
    return Diagnostic("internal", f"vdsl internal error ({type(error).__name__}): {error}", None,
                      "this is a bug in vdsl; please report it with the spec that caused it", file=str(path))
