"""One exception root for everything vdsl raises, and the diagnostics users see.

A `Diagnostic` is one message about one place in one file.  A phase collects all of
its diagnostics and raises them together as a `SpecError`, so a user sees every error
of a phase at once.  Anything that is not the user's fault is an `InternalError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import attrs

from vdsl.source import Span


class VdslError(Exception):
    """Root of every exception vdsl raises on purpose."""


@attrs.frozen
class Related:
    """Another place a diagnostic is about: where a name was first defined, a block opened."""

    message: str
    span: Span

    def render(self) -> str:
        return "\n".join([f"{self.span.location()}: note: {self.message}", *self.span.excerpt()])

    def to_json(self) -> dict[str, object]:
        span = self.span
        return {"message": self.message, "file": span.file, "line": span.line, "column": span.column,
                "end_line": span.end_line, "end_column": span.end_column}


@attrs.frozen
class Diagnostic:
    """One error or warning about a span of a source file."""

    code: str
    message: str
    span: Span | None
    hint: str | None = None
    severity: str = "error"
    file: str | None = None  # the file, for a diagnostic about a whole file (no span)
    related: tuple[Related, ...] = ()  # other places it is about, each with a note

    def render(self) -> str:
        """The human form: `file:line:col: error[V012]: message`, the line, a caret, a hint."""
        head = f"{self.severity}[{self.code}]: {self.message}"
        where = self.span.location() if self.span else self.file
        lines = [f"{where}: {head}" if where else head]
        if self.span is not None:
            lines.extend(self.span.excerpt())
        lines.extend(related.render() for related in self.related)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        span = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": span.file if span else self.file,
            "line": span.line if span else None,
            "column": span.column if span else None,
            "end_line": span.end_line if span else None,
            "end_column": span.end_column if span else None,
            "hint": self.hint,
            "related": [related.to_json() for related in self.related],
        }


class SpecError(VdslError):
    """The spec has errors: every diagnostic of the phase that found them."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class RunError(VdslError):
    """A request that cannot be carried out on a valid spec (unknown program name, ...)."""


class InternalError(VdslError):
    """A bug in vdsl itself, never the user's fault (exit code 3)."""


class DiagnosticSink:
    """Collects the diagnostics of one phase; `raise_if_any` ends the phase."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None,
              related: tuple[Related, ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint, related=related))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            ordered = sorted(self.diagnostics, key=_diagnostic_order)
            raise SpecError(_uses_grouped(ordered))


USES_SHOWN = 4
"""Further uses of an undefined name shown as notes of its first diagnostic, at most."""


def _uses_grouped(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One V010 per undefined name, at its first use, the others as notes: a misspelt register
    used twenty times is one mistake, not twenty errors."""
    first: dict[tuple[str, str | None], int] = {}
    later: dict[int, list[Span]] = {}
    kept: list[Diagnostic] = []
    for diagnostic in diagnostics:
        key = (diagnostic.message, diagnostic.hint)
        if diagnostic.code != "V010" or diagnostic.span is None or diagnostic.related:
            kept.append(diagnostic)
        elif key in first:
            later[first[key]].append(diagnostic.span)
        else:
            first[key] = len(kept)
            later[len(kept)] = []
            kept.append(diagnostic)
    for index, spans in later.items():
        if spans:
            notes = [Related("used here too", span) for span in spans[:USES_SHOWN]]
            if len(spans) > USES_SHOWN:
                more = len(spans) - USES_SHOWN
                notes[-1] = Related(f"used here too, and {more} more time{'s' if more > 1 else ''}",
                                    spans[USES_SHOWN - 1])
            kept[index] = attrs.evolve(kept[index], related=tuple(notes))
    return kept


def _diagnostic_order(diagnostic: Diagnostic) -> tuple[str, int, int]:
    span = diagnostic.span
    return (span.file, span.line, span.column) if span else ("", 0, 0)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A `did you mean 'X'?` hint for a misspelt name, or None when nothing is close.  Case does
    not count against a name (`Pc` is close to `PC`, and to it first)."""
    names = sorted(set(candidates))
    same = [n for n in names if n.lower() == name.lower() and n != name]
    if same:
        return f"did you mean '{same[0]}'?"
    by_lower = {n.lower(): n for n in reversed(names)}
    close = difflib.get_close_matches(name.lower(), sorted(by_lower), n=1, cutoff=0.6)
    return f"did you mean '{by_lower[close[0]]}'?" if close else None
