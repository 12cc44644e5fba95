"""The compiler pipeline in one place: files -> modules -> resolved spec, each phase cached.

    paths ──load_modules──► modules ──resolve──► spec ──► emulator / analysis / outputs
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from vdsl.errors import Diagnostic, SpecError
from vdsl.ir import nodes as ir
from vdsl.resolve import resolve
from vdsl.source import SourceFile
from vdsl.syntax.imports import load_modules


class Compilation:
    """The phases of compiling a set of .vspec files; each phase runs at most once."""

    def __init__(self, paths: Sequence[Path | str], texts: Mapping[Path, SourceFile] | None = None) -> None:
        self.paths = [Path(p) for p in paths]
        self.texts = dict(texts or {})  # text standing in for a file (an editor's unsaved text)

    @functools.cached_property
    def modules(self) -> tuple[ir.Module, ...]:
        with _nesting_guard():
            return load_modules(self.paths, self.texts)

    @functools.cached_property
    def spec(self) -> ir.Spec:
        with _nesting_guard():
            return resolve(self.modules)


@contextlib.contextmanager
def _nesting_guard() -> Iterator[None]:
    """The parser bounds nesting (V030); should a phase still run out of stack, say so
    as a diagnostic rather than crash."""
    try:
        yield
    except RecursionError:
        raise SpecError([Diagnostic("V030", "the spec is nested too deeply to compile", None,
                                    "split deeply nested expressions with `let`")]) from None


def compile_files(*paths: Path | str) -> ir.Spec:
    """The resolved spec of some .vspec files (raises `SpecError` with every diagnostic)."""
    return Compilation(paths).spec


def compile_text(text: str, name: str = "<text>") -> ir.Spec:
    """The resolved spec of .vspec source text; its imports are relative to the current
    folder (then the bundled specs)."""
    path = Path.cwd() / name
    with _nesting_guard():
        return resolve(load_modules([path], {path: SourceFile(name, text)}))
