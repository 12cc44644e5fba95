"""The outline of one file: its declarations, nested, and every name it uses, with positions.

Read from the tolerant parse tree (`vdsl.lsp.tolerant`), so a file with errors has an outline
too.  A `Symbol` is a declaration (a machine, its registers, modes and traps; an isa, its
instructions and helpers; a program and its labels; ...); a `Reference` is a name used
somewhere, with the `role` that says what it may stand for (`vdsl.lsp.navigation` resolves it).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from lark import Token, Tree
from lark.visitors import Interpreter

from vdsl.ir.vocabulary import POLICY, THEOREMS
from vdsl.lsp.tolerant import parse_tolerantly
from vdsl.source import SourceFile, Span

MAX_DETAIL = 80  # characters of a declaration shown beside its name


@attrs.frozen
class Symbol:
    """A declaration: its kind (machine, register, field, mode, isa, instruction, ...), name,
    whole extent and the extent of its name."""

    kind: str
    name: str
    span: Span
    name_span: Span
    detail: str = ""  # the declaration as written, on one line
    children: tuple[Symbol, ...] = ()
    extends: str | None = None  # the machine or isa it extends
    target: str | None = None  # the machine an isa is for; what a program or hypervisor runs on

    def contains(self, line: int, column: int) -> bool:
        return inside(self.span, line, column)

    def named(self, *kinds: str) -> Iterable[Symbol]:
        return (c for c in self.children if c.kind in kinds)


@attrs.frozen
class Reference:
    """A name used in the text, and what it may stand for.

    Roles: state (a register, mode, memory, constant or local), field (of `owner`), helper,
    cause, machine, isa, target (an isa or a machine), program, hypervisor, mode, word (a
    program's label, instruction or constant), label, instruction.
    """

    name: str
    span: Span
    role: str
    owner: str | None = None  # for a field: the register before the dot

    def contains(self, line: int, column: int) -> bool:
        return inside(self.span, line, column)


@attrs.frozen
class Outline:
    source: SourceFile
    symbols: tuple[Symbol, ...]
    references: tuple[Reference, ...]
    imports: tuple[tuple[str, Span], ...]  # each `import "PATH"`: the path and where it is written

    def path_at(self, line: int, column: int) -> list[Symbol]:
        """The declarations around a position, outermost first."""
        path: list[Symbol] = []
        level = self.symbols
        while True:
            inner = next((s for s in level if s.contains(line, column)), None)
            if inner is None:
                return path
            path.append(inner)
            level = inner.children

    def reference_at(self, line: int, column: int) -> Reference | None:
        return next((r for r in self.references if r.contains(line, column)), None)

    def symbol_at(self, line: int, column: int) -> tuple[list[Symbol], Symbol] | None:
        """The declaration whose name is at a position, and the declarations around it."""
        path = self.path_at(line, column)
        for depth in range(len(path), 0, -1):
            if inside(path[depth - 1].name_span, line, column):
                return path[:depth - 1], path[depth - 1]
        return None


def inside(span: Span, line: int, column: int) -> bool:
    """The position is in the span or just after it (where a cursor stands after a name)."""
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def outline(source: SourceFile) -> Outline:
    """The outline of a source file, whatever errors it has."""
    outliner = _Outliner(source)
    outliner.visit(parse_tolerantly(source))
    return Outline(source, tuple(outliner.levels[0]), tuple(outliner.references), tuple(outliner.imports))


def _names(children: Iterable[object]) -> list[Token]:
    """The NAME tokens among a tree's children (fillers of the tolerant parse, empty, left out)."""
    return [c for c in children if isinstance(c, Token) and c.type == "NAME" and str(c)]


def _subtrees(tree: Tree[Token], data: str) -> list[Tree[Token]]:
    return [c for c in tree.children if isinstance(c, Tree) and c.data == data]


class _Outliner(Interpreter[Token, None]):
    """Each method is named after the grammar rule it reads; the others visit their children."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.levels: list[list[Symbol]] = [[]]  # the symbols of each open declaration
        self.references: list[Reference] = []
        self.imports: list[tuple[str, Span]] = []
        self.container = ""  # the kind of the top-level declaration being read

    # ------------------------------------------------------------ helpers
    def token_span(self, token: Token) -> Span:
        line, column = token.line or 1, token.column or 1
        return Span(self.source, line, column, token.end_line or line, token.end_column or column + 1)

    def tree_span(self, tree: Tree[Token]) -> Span | None:
        meta = tree.meta
        if getattr(meta, "empty", True):
            return None
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def text_of(self, span: Span | None) -> str:
        """The text of a span on one line, without comments."""
        if span is None:
            return ""
        lines = self.source.text.splitlines()[span.line - 1:span.end_line] or [""]
        if len(lines) == 1:
            lines[0] = lines[0][span.column - 1:span.end_column - 1]
        else:
            lines[0], lines[-1] = lines[0][span.column - 1:], lines[-1][:span.end_column - 1]
        text = " ".join(" ".join(line.split("//")[0].split()) for line in lines).strip()
        return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"

    def refer(self, token: Token | None, role: str, owner: str | None = None) -> None:
        if token is not None and str(token):
            self.references.append(Reference(str(token), self.token_span(token), role, owner))

    def declare(self, kind: str, tree: Tree[Token], name: Token | None, detail: str = "",
                extends: str | None = None, target: str | None = None) -> None:
        """A symbol for `tree`, with the symbols its children declare."""
        if name is None:  # a filler name of the tolerant parse: read on, unnamed
            self.visit_children(tree)
            return
        self.levels.append([])
        self.visit_children(tree)
        children = tuple(self.levels.pop())
        name_span = self.token_span(name)
        span = self.tree_span(tree) or name_span
        self.levels[-1].append(Symbol(kind, str(name), span, name_span, detail or self.text_of(span),
                                      children, extends, target))

    def keyword_symbol(self, kind: str, name: str, tree: Tree[Token],
                       leaves: Iterable[tuple[str, Token, str]] = ()) -> None:
        """A symbol for a block named by its keyword (`trap`, `modes`), with its children."""
        span = self.tree_span(tree)
        self.levels.append([])
        self.visit_children(tree)
        for leaf in leaves:
            self.leaf(*leaf)
        children = tuple(self.levels.pop())
        if span is not None:
            keyword = Span(self.source, span.line, span.column, span.line, span.column + len(kind))
            self.levels[-1].append(Symbol(kind, name, span, keyword, self.text_of(span), children))

    def leaf(self, kind: str, name: Token, detail: str = "") -> None:
        span = self.token_span(name)
        self.levels[-1].append(Symbol(kind, str(name), span, span, detail or str(name)))

    def first_name(self, tree: Tree[Token], data: str) -> Token | None:
        return next((n for c in _subtrees(tree, data) for n in _names(c.children)[:1]), None)

    def top(self, kind: str, tree: Tree[Token], target_role: str = "") -> None:
        """A top-level declaration: its name, what it extends, what it is for or runs on."""
        names = _names(tree.children)
        extends = self.first_name(tree, "extends_clause")
        target = self.first_name(tree, "for_clause")
        self.refer(extends, kind)
        self.refer(target, "machine")
        if target_role and len(names) > 1:  # `program NAME on TARGET`, `hypervisor NAME on TARGET`
            target = names[1]
            self.refer(target, target_role)
        self.container = kind
        head = self.text_of(self.tree_span(tree)).split("{")[0].strip()
        self.declare(kind, tree, names[0] if names else None, head,
                     extends=str(extends) if extends is not None else None,
                     target=str(target) if target is not None else None)
        self.container = ""

    def words(self, tree: Tree[Token], role: str) -> None:
        for token in _names(tree.children):
            self.refer(token, role)

    # ------------------------------------------------------------ file
    def import_decl(self, tree: Tree[Token]) -> None:
        token = tree.children[0] if tree.children else None
        if isinstance(token, Token) and len(token) >= 2:
            self.imports.append((str(token)[1:-1], self.token_span(token)))

    def const_decl(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        self.declare("const", tree, names[0] if names else None)

    def extends_clause(self, tree: Tree[Token]) -> None:
        """Read by `top`."""

    def for_clause(self, tree: Tree[Token]) -> None:
        """Read by `top`."""

    # ------------------------------------------------------------ machine
    def machine(self, tree: Tree[Token]) -> None:
        self.top("machine", tree)

    def memory_decl(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        self.declare("memory", tree, names[0] if names else None)

    def modes_decl(self, tree: Tree[Token]) -> None:
        register = self.first_name(tree, "mode_register")
        modes = _names(tree.children)
        ranks = [("mode", m, f"mode {m}: rank {rank} of {len(modes)} (rank 0 is the most privileged)")
                 for rank, m in enumerate(modes)]
        self.keyword_symbol("modes", str(register) if register is not None else "M", tree, ranks)

    def mode_register(self, tree: Tree[Token]) -> None:
        """Read by `modes_decl`."""

    def reg_decl(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        self.declare("register", tree, names[0] if names else None)

    def field(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        self.declare("field", tree, names[0] if names else None)

    def bank(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("bank", names[0], self.text_of(self.tree_span(tree)))
        for mode in names[1:]:
            self.refer(mode, "mode")

    def relocate_through(self, tree: Tree[Token]) -> None:
        self.words(tree, "state")

    def trap_decl(self, tree: Tree[Token]) -> None:
        self.keyword_symbol("trap", "trap", tree)

    def trap_save(self, tree: Tree[Token]) -> None:
        self.visit_children(tree)
        self.words(tree, "state")

    trap_load = trap_save
    trap_cause = trap_save

    def trap_causes(self, tree: Tree[Token]) -> None:
        for token in _names(tree.children):
            self.leaf("cause", token, f"trap cause {token}")

    # ------------------------------------------------------------ instruction sets
    def isa(self, tree: Tree[Token]) -> None:
        self.top("isa", tree)

    def inst(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        operands = [o for c in _subtrees(tree, "operand_list") for o in _subtrees(c, "operand")]
        written = ", ".join(self.text_of(self.tree_span(o)) for o in operands)
        detail = f"inst {names[0]} {written}".strip() if names else ""
        self.declare("instruction", tree, names[0] if names else None, detail)

    def operand(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("operand", names[0], f"operand {self.text_of(self.tree_span(tree))}")
        for kind in _subtrees(tree, "array_kind"):
            self.words(kind, "state")

    def helper_def(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        params = [str(p) for c in _subtrees(tree, "helper_params") for p in _names(c.children)]
        detail = f"def {names[0]}({', '.join(params)})" if names else ""
        self.declare("helper", tree, names[0] if names else None, detail)

    def helper_params(self, tree: Tree[Token]) -> None:
        for token in _names(tree.children):
            self.leaf("parameter", token, f"parameter {token}")

    def let_stmt(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("local", names[0], f"let {names[0]}")
        self.visit_children(tree)

    def name(self, tree: Tree[Token]) -> None:
        self.words(tree, "state")

    def field_ref(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.refer(names[0], "state")
        if len(names) > 1:
            self.refer(names[1], "field", str(names[0]))

    state_ref = field_ref

    def index_ref(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.refer(names[0], "state")
        self.visit_children(tree)

    def helper_call(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.refer(names[0], "helper")
        self.visit_children(tree)

    call_stmt = helper_call

    def trap_stmt(self, tree: Tree[Token]) -> None:
        self.words(tree, "cause")

    def guest_mode(self, tree: Tree[Token]) -> None:
        self.words(tree, "mode")

    def virt_exits(self, tree: Tree[Token]) -> None:
        self.words(tree, "instruction")

    def virt_modes(self, tree: Tree[Token]) -> None:
        self.words(tree, "mode")

    def expectation(self, tree: Tree[Token]) -> None:
        words = [c for c in tree.children if isinstance(c, Token) and c.type in ("NAME", "HYPHENATED")]
        if self.container != "isa" or not words:
            return
        if str(words[0]) == POLICY and len(words) > 1:
            self.refer(words[1], "hypervisor")
        elif str(words[0]) not in (*THEOREMS, "premise") and words[0].type == "NAME":
            self.refer(words[0], "instruction")

    # ------------------------------------------------------------ programs
    def program(self, tree: Tree[Token]) -> None:
        self.top("program", tree, "target")

    def label_def(self, tree: Tree[Token]) -> None:
        for token in _names(tree.children):
            self.leaf("label", token, f"label {token}")

    def program_word(self, tree: Tree[Token]) -> None:
        self.words(tree, "word")

    def data_decl(self, tree: Tree[Token]) -> None:
        self.words(tree, "word")

    def entry_decl(self, tree: Tree[Token]) -> None:
        self.words(tree, "label")

    def start_mode(self, tree: Tree[Token]) -> None:
        self.words(tree, "mode")

    # ------------------------------------------------------------ policies
    def hypervisor(self, tree: Tree[Token]) -> None:
        self.top("hypervisor", tree, "target")

    def hv_serves(self, tree: Tree[Token]) -> None:
        self.words(tree, "instruction")

    def scenario(self, tree: Tree[Token]) -> None:
        self.top("scenario", tree)

    def sc_hypervisor(self, tree: Tree[Token]) -> None:
        self.words(tree, "hypervisor")

    def sc_guest(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("guest", names[0], self.text_of(self.tree_span(tree)))
        if len(names) > 1:
            self.refer(names[1], "program")
        if len(names) > 2:
            self.refer(names[2], "mode")

    # ------------------------------------------------------------ layer-only systems
    def stack(self, tree: Tree[Token]) -> None:
        self.top("stack", tree)

    def st_container(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("container", names[0], self.text_of(self.tree_span(tree)))

    def st_app(self, tree: Tree[Token]) -> None:
        names = _names(tree.children)
        if names:
            self.leaf("app", names[0], self.text_of(self.tree_span(tree)))
