"""The compiler pipeline in one place: files -> modules -> resolved spec, each phase cached.

    paths ──load_modules──► modules ──resolve──► spec ──► emulator / analysis / outputs
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from vdsl.check.resolve import resolve
from vdsl.ir import nodes as ir
from vdsl.syntax.imports import load_modules


class Compilation:
    """The phases of compiling a set of .vspec files; each phase runs at most once."""

    def __init__(self, paths: Sequence[Path | str]) -> None:
        self.paths = [Path(p) for p in paths]

    @functools.cached_property
    def modules(self) -> tuple[ir.Module, ...]:
        return load_modules(self.paths)

    @functools.cached_property
    def spec(self) -> ir.Spec:
        return resolve(self.modules)


def compile_files(*paths: Path | str) -> ir.Spec:
    """The resolved spec of some .vspec files (raises `SpecError` with every diagnostic)."""
    return Compilation(paths).spec


def compile_text(text: str, name: str = "<text>") -> ir.Spec:
    """The resolved spec of .vspec source text (imports are relative to the current folder)."""
    from vdsl.check.resolve import resolve as resolve_modules
    from vdsl.source import SourceFile
    from vdsl.syntax.imports import parse_source

    return resolve_modules([parse_source(SourceFile(name, text))])
