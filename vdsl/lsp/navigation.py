"""What a name stands for, and which names fit where: definitions and completions.

Both read outlines only (`vdsl.lsp.outline`), never the resolved spec, so they answer on a
file with errors.  A `Scope` is the outline of the file being edited and those of the files it
imports; a name is looked up the way the resolver would: an instruction's operands and locals
first, then its machine's state (through `for` and `extends`), then the constants.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from vdsl.errors import SpecError
from vdsl.ir.vocabulary import EXPECTABLE_CLASSES, POLICY, THEOREMS
from vdsl.lsp.outline import Outline, Reference, Symbol, outline
from vdsl.source import SourceFile, Span
from vdsl.syntax.imports import find_import, read_source

# What a use of a name may stand for, by its role: the kinds of declaration, nearest first.
STATE_KINDS = ("register", "bank", "modes", "mode", "memory")
BODY_KEYWORDS = ("let", "if", "else", "trap", "halt", "mem", "phys", "next")
BUILTINS = ("sext", "zext", "concat", "slt", "sle", "sra")
TOP_KEYWORDS = ("machine", "isa", "program", "hypervisor", "scenario", "stack", "import", "const")
BLOCK_KEYWORDS = {
    "machine": ("word", "memory", "modes", "reg", "control", "timing", "relocate", "trap", "pc", "zero",
                "banked"),
    "isa": ("inst", "def", "expect", "guests", "pin", "virtualization"),
    "program": ("data", "org", "entry", "mode", "init"),
    "hypervisor": ("type", "technique", "guests", "allocate", "schedule", "cost", "management", "hypercalls",
                   "pin"),
    "scenario": ("hypervisor", "guest", "expect"),
    "stack": ("kind", "hardware", "os", "engine", "runtime", "container", "app"),
}
EXPECT_WORDS = (*THEOREMS, *EXPECTABLE_CLASSES, "holds", "fails", "with", "not", "premise", POLICY)
# The word before the cursor that says what comes next.
ROLE_AFTER = {"for": "machine", "on": "target", "runs": "program", "in": "mode", "under": "hypervisor",
              "entry": "label", "trap": "cause"}


@attrs.frozen
class Completion:
    label: str
    kind: str  # a symbol kind, or keyword, builtin
    detail: str = ""


class Scope:
    """The outline of a file and of the files it imports (in any order, the file first)."""

    def __init__(self, outlines: list[Outline]) -> None:
        self.outlines = outlines
        self.main = outlines[0]

    def top(self, *kinds: str) -> Iterator[Symbol]:
        for each in self.outlines:
            yield from (s for s in each.symbols if s.kind in kinds)

    def find(self, name: str | None, *kinds: str) -> Symbol | None:
        return next((s for s in self.top(*kinds) if s.name == name), None) if name else None

    def chain(self, symbol: Symbol | None) -> list[Symbol]:
        """A machine or isa and those it extends, nearest first."""
        found: list[Symbol] = []
        while symbol is not None and symbol not in found:
            found.append(symbol)
            symbol = self.find(symbol.extends, symbol.kind)
        return found

    def isa_of(self, top: Symbol | None) -> Symbol | None:
        """The isa a declaration is about: itself, or what a program or hypervisor runs on."""
        if top is None or top.kind == "isa":
            return top
        if top.kind in ("program", "hypervisor"):
            return self.find(top.target, "isa")
        return None

    def machine_of(self, top: Symbol | None) -> Symbol | None:
        """The machine a declaration is about: its own, an isa's (through `extends`), a program's."""
        if top is None or top.kind == "machine":
            return top
        if top.kind == "hypervisor" and self.find(top.target, "isa") is None:
            return self.find(top.target, "machine")
        for isa in self.chain(self.isa_of(top)):
            if isa.target is not None:
                return self.find(isa.target, "machine")
        return None

    def members(self, top: Symbol | None, *kinds: str) -> Iterator[Symbol]:
        """The declarations of these kinds in a machine or isa and those it extends, nested ones
        (a register's fields, the modes, the trap's causes) included."""
        for owner in self.chain(top):
            yield from _descendants(owner, kinds)

    def candidates(self, role: str, path: list[Symbol], owner: str | None = None) -> list[Symbol]:
        """The declarations a name of this role may stand for at a place (inside `path`)."""
        top = path[0] if path else None
        machine = self.machine_of(top)
        if role == "state":
            local = [s for p in reversed(path[1:]) for s in p.named("operand", "parameter", "local")]
            return local + list(self.members(machine, *STATE_KINDS)) + list(self.top("const"))
        if role == "field":
            register = next((r for r in self.members(machine, "register") if r.name == owner), None)
            return list(register.named("field")) if register is not None else []
        if role == "helper":
            return list(self.members(self.isa_of(top), "helper"))
        if role == "cause":
            return list(self.members(machine, "cause"))
        if role == "mode":
            machines = [machine] if machine is not None else list(self.top("machine"))
            return [m for each in machines for m in self.members(each, "mode")]
        if role == "instruction":
            return list(self.members(self.isa_of(top), "instruction"))
        if role == "label":
            return list(top.named("label")) if top is not None else []
        if role == "word":
            return (self.candidates("label", path) + self.candidates("instruction", path)
                    + list(self.top("const")))
        if role == "target":
            return list(self.top("isa")) + list(self.top("machine"))  # an isa of the name first
        return list(self.top(role))  # machine, isa, program, hypervisor

    def resolve(self, reference: Reference, path: list[Symbol]) -> Symbol | None:
        return next((s for s in self.candidates(reference.role, path, reference.owner)
                     if s.name == reference.name), None)


def load_scope(path: Path, text: str, texts: Mapping[Path, str]) -> Scope:
    """The scope of the file at `path` with this text: its outline and those of the files it
    imports, directly or not; `texts` stands in for files an editor has open."""
    outlines: list[Outline] = []
    seen: set[Path] = set()
    queue = [(path, text)]
    while queue:
        where, written = queue.pop(0)
        if where.resolve() in seen:
            continue
        seen.add(where.resolve())
        found = cached_outline(SourceFile(str(where), written))
        outlines.append(found)
        for name, _ in found.imports:
            if where.parent / name in texts:  # open, perhaps never saved
                queue.append((where.parent / name, texts[where.parent / name]))
                continue
            imported = find_import(where, name)
            if imported is None:
                continue
            try:
                queue.append((imported, read_source(imported).text))
            except SpecError:
                continue  # the compile reports it
    return Scope(outlines)


@functools.lru_cache(maxsize=64)
def cached_outline(source: SourceFile) -> Outline:
    """Outlines by text: an import, or a file between two keystrokes, is read once."""
    return outline(source)


def _descendants(symbol: Symbol, kinds: tuple[str, ...]) -> Iterator[Symbol]:
    for child in symbol.children:
        if child.kind in kinds:
            yield child
        if child.kind in ("register", "modes", "trap"):
            yield from _descendants(child, kinds)


@attrs.frozen
class Target:
    """What the name at a position is: its declaration, and the declarations around the use."""

    symbol: Symbol
    path: list[Symbol]  # around the use (or the declaration itself, for a declaration's name)
    span: Span  # the name where it was found
    reference: Reference | None = None  # the use, when it is one


def target_at(scope: Scope, line: int, column: int) -> Target | None:
    """The declaration of the name at a position (1-based line and column) of the scope's file:
    a use's declaration, or the declaration itself when the position is on a declared name."""
    outline = scope.main
    reference = outline.reference_at(line, column)
    if reference is not None:
        path = outline.path_at(line, column)
        symbol = scope.resolve(reference, path)
        return Target(symbol, path, reference.span, reference) if symbol is not None else None
    declared = outline.symbol_at(line, column)
    if declared is None:
        return None
    around, symbol = declared
    return Target(symbol, around, symbol.name_span)


def definition(scope: Scope, line: int, column: int) -> Span | None:
    """Where the name at a position is declared (in the file or one it imports)."""
    target = target_at(scope, line, column)
    return target.symbol.name_span if target is not None else None


def completions(scope: Scope, line: int, column: int) -> list[Completion]:
    """The names (and keywords) that may stand at a position, each once."""
    outline = scope.main
    before = outline.source.line(line)[:column - 1]
    path = outline.path_at(line, column)
    member = re.search(r"([A-Za-z_]\w*)\.\w*$", before)
    if member is not None:
        return _unique(scope.candidates("field", path, member.group(1)))
    previous = re.search(r"([A-Za-z_]\w*)\s+\w*$", before)
    word = previous.group(1) if previous is not None else ""
    kind = path[0].kind if path else ""
    if word == "extends":
        return _unique(list(scope.top(_declaring(before) or kind or "isa")))
    if word == "hypervisor" and kind == "scenario":
        return _unique(scope.candidates("hypervisor", path))
    if word in ROLE_AFTER and (word != "trap" or kind == "isa"):
        return _unique(scope.candidates(ROLE_AFTER[word], path))
    if not path:
        return _keywords(TOP_KEYWORDS)
    if kind == "isa" and any(p.kind in ("instruction", "helper") for p in path):
        found = scope.candidates("state", path) + scope.candidates("helper", path)
        return _unique(found) + _keywords(BODY_KEYWORDS) + _keywords(BUILTINS, "builtin")
    if kind == "isa" and re.match(r"\s*expect\b", before):
        return _unique(scope.candidates("instruction", path)) + _keywords(EXPECT_WORDS)
    if kind == "program":
        return _unique(scope.candidates("word", path)) + _keywords(BLOCK_KEYWORDS["program"])
    return _keywords(BLOCK_KEYWORDS.get(kind, TOP_KEYWORDS))


def _declaring(before: str) -> str | None:
    """`machine` or `isa`, from `machine NAME extends` / `isa NAME extends` before the cursor."""
    found = re.search(r"\b(machine|isa)\s+\w+\s+extends\s+\w*$", before)
    return found.group(1) if found is not None else None


def _unique(symbols: list[Symbol]) -> list[Completion]:
    seen: dict[str, Completion] = {}
    for symbol in symbols:
        seen.setdefault(symbol.name, Completion(symbol.name, symbol.kind, symbol.detail))
    return list(seen.values())


def _keywords(words: tuple[str, ...], kind: str = "keyword") -> list[Completion]:
    return [Completion(w, kind) for w in words]
