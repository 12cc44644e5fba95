"""Load a file and everything it imports, each file once, with cycle detection."""

from __future__ import annotations

import stat
from pathlib import Path

from vdsl.errors import Diagnostic, DiagnosticSink, SpecError
from vdsl.ir import nodes as ir
from vdsl.resources import data_dir
from vdsl.source import SourceFile, Span
from vdsl.syntax.lower import lower
from vdsl.syntax.parser import parse

MAX_SOURCE_BYTES = 4 << 20  # a spec file larger than this is not a spec someone wrote


def read_source(path: Path) -> SourceFile:
    """The file's text (any line endings, read as `\\n`), or a clean diagnostic when it cannot be
    read, is not a regular file of bounded size (a device, a pipe, a folder), or is not UTF-8."""
    def refuse(reason: str, hint: str = "check the path") -> SpecError:
        return SpecError([Diagnostic("V018", f"cannot read '{path}': {reason}", None, hint, file=str(path))])

    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise refuse("it is not a regular file (a folder, a device or a pipe)",
                         "give the path of a .vspec file")
        with path.open("rb") as stream:
            data = stream.read(MAX_SOURCE_BYTES + 1)
    except OSError as error:
        raise refuse(error.strerror or type(error).__name__) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise refuse(f"it is larger than {MAX_SOURCE_BYTES >> 20} MiB, more than a spec file holds",
                     "give the path of a .vspec file")
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # a comment ends at any line ending
    source = SourceFile(str(path), data.decode("utf-8", errors="replace"))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[:error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        raise SpecError([Diagnostic(
            "V036", f"the file is not valid UTF-8: byte 0x{data[error.start]:02x} here is not "
            "part of a character", Span(source, line, column, line, column + 1),
            "save the file as UTF-8")]) from None
    return source


def parse_source(source: SourceFile) -> ir.Module:
    return lower(parse(source), source)


def load_modules(paths: list[Path], texts: dict[Path, SourceFile] | None = None) -> tuple[ir.Module, ...]:
    """The modules of `paths` and of all their imports, dependencies first.

    `texts` gives the source of paths that are not files (text compiled in memory,
    whose imports are relative to its path's folder).  Syntax errors stop at the first
    file that has one; import errors (missing files, cycles) are collected for all files.
    """
    texts = texts or {}
    loaded: dict[Path, ir.Module] = {}
    order: list[ir.Module] = []
    sink = DiagnosticSink()

    def visit(path: Path, stack: list[Path]) -> None:
        key = path.resolve()
        if key in loaded:
            return
        module = parse_source(texts[path] if path in texts else read_source(path))
        loaded[key] = module
        for imported in module.imports:
            target = find_import(path, imported.path, texts)
            if target is None:
                sink.error("V018", f"cannot find imported file '{imported.path}'", imported.span,
                           f"paths are relative to {path.parent or Path('.')}/ or name a bundled spec")
                continue
            if target.resolve() in [p.resolve() for p in [*stack, path]]:
                chain = " -> ".join(p.name for p in [*stack, path, target])
                sink.error("V017", f"import cycle: {chain}", imported.span,
                           "move the shared declarations into a file both can import")
                continue
            visit(target, [*stack, path])
        order.append(module)

    for path in paths:
        visit(path, [])
    sink.raise_if_any()
    return tuple(order)


def find_import(importer: Path, name: str, texts: dict[Path, SourceFile] | None = None) -> Path | None:
    """The file `import "NAME"` in `importer` names: beside it, else a bundled spec.  A path
    `texts` gives counts as a file (a sweep's worker compiles the texts it was sent)."""
    for folder in (importer.parent, data_dir("specs")):
        candidate = folder / name
        if candidate in (texts or {}) or candidate.is_file():
            return candidate
    return None
