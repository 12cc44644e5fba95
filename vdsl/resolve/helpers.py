"""Helpers (`def` in an isa) and constants: expanded where they are used, before names are typed.

A helper is a macro with hygiene: its parameters stand for the argument expressions (so a
helper may assign to a parameter bound to a register: the ARM bank swap), its `let`s are its
own (renamed `HELPER.NAME`, and its statements run in a block of their own), and it may call
other helpers but never itself, directly or not: an instruction stays loop-free.  A constant
(`const`) reads as its number wherever a parameter or `let` does not hide it; a name assigned to
is kept, so that assigning a constant is reported as such.
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import first_defined
from vdsl.source import Span

T = TypeVar("T")


def check_helpers(sink: DiagnosticSink, helpers: tuple[ir.HelperDecl, ...],
                  machine: ir.Machine) -> dict[str, ir.HelperDecl]:
    """The helpers of an isa by name: duplicates and parameters that hide state are V011."""
    found: dict[str, ir.HelperDecl] = {}
    state = machine.state_names
    for helper in helpers:
        if helper.name in found:
            sink.error("V011", f"helper '{helper.name}' is defined twice", helper.span, "rename one of them",
                       first_defined(found[helper.name].span))
            continue
        if helper.name in state:
            sink.error("V011", f"helper '{helper.name}' has the name of machine state", helper.span,
                       "rename the helper")
        for k, param in enumerate(helper.params):
            if param in helper.params[:k]:
                sink.error("V011", f"parameter '{param}' of helper '{helper.name}' is declared twice",
                           helper.span, "give each parameter its own name")
            elif param in state:
                sink.error("V011", f"parameter '{param}' of helper '{helper.name}' has the name of machine "
                           "state", helper.span, "rename the parameter so that it does not hide the register "
                           "or mode")
        found[helper.name] = helper
    return found


@attrs.define
class Expander:
    """Expands the helper calls and constants of one instruction body."""

    sink: DiagnosticSink
    helpers: dict[str, ir.HelperDecl]
    constants: dict[str, int] = attrs.field(factory=dict)

    def statements(self, stmts: tuple[ir.Stmt, ...], bindings: dict[str, ir.Expr],
                   stack: tuple[str, ...] = ()) -> tuple[ir.Stmt, ...]:
        bindings = dict(bindings)  # a `let` binds for the rest of its block only
        out: list[ir.Stmt] = []
        for stmt in stmts:
            if isinstance(stmt, ir.CallStmt):
                expanded = self.call(stmt.call, bindings, stack, statement=True)
                if isinstance(expanded, tuple):
                    # A block of its own: the helper's lets end with it (a constant condition
                    # costs nothing: every domain folds it).
                    out.append(ir.If(ir.Number(1, span=stmt.span), expanded, (), span=stmt.span))
            elif isinstance(stmt, ir.Let):
                value = self.expr(stmt.value, bindings, stack)
                name = stmt.name
                if stack:  # a helper's own let: renamed, so that it never meets the caller's
                    name = f"{stack[-1]}.{stmt.name}"
                    bindings[stmt.name] = ir.Name(name, span=stmt.span)
                out.append(attrs.evolve(stmt, name=name, value=value))
            elif isinstance(stmt, ir.Assign):
                out.append(attrs.evolve(stmt, target=self.target(stmt.target, bindings, stack),
                                        value=self.expr(stmt.value, bindings, stack)))
            elif isinstance(stmt, ir.TupleAssign):
                targets = tuple(self.target(t, bindings, stack) for t in stmt.targets)
                out.append(attrs.evolve(stmt, targets=targets, value=self.expr(stmt.value, bindings, stack)))
            elif isinstance(stmt, ir.If):
                out.append(attrs.evolve(stmt, condition=self.expr(stmt.condition, bindings, stack),
                                        then=self.statements(stmt.then, bindings, stack),
                                        otherwise=self.statements(stmt.otherwise, bindings, stack)))
            else:
                out.append(self.expr(stmt, bindings, stack))
        return tuple(out)

    def target(self, target: ir.Expr, bindings: dict[str, ir.Expr], stack: tuple[str, ...]) -> ir.Expr:
        """An assignment target: a parameter becomes its argument; any other name stays a name."""
        if isinstance(target, ir.Name) and target.name not in bindings:
            return target
        return self.expr(target, bindings, stack)

    def expr(self, node: T, bindings: dict[str, ir.Expr], stack: tuple[str, ...]) -> T:
        """`node` with parameters replaced by their arguments, constants by their numbers and
        value helpers expanded."""
        if isinstance(node, ir.Name):
            if node.name in bindings:
                return bindings[node.name]  # type: ignore[return-value]
            if node.name in self.constants:
                return ir.Number(self.constants[node.name], span=node.span)  # type: ignore[return-value]
            return node
        if isinstance(node, ir.HelperCall):
            expanded = self.call(node, bindings, stack, statement=False)
            if expanded is None or isinstance(expanded, tuple):  # an error, reported: a placeholder
                return ir.Number(0, span=node.span)  # type: ignore[return-value]
            return expanded  # type: ignore[return-value]
        if isinstance(node, tuple):
            return tuple(self.expr(item, bindings, stack) for item in node)  # type: ignore[return-value]
        if not attrs.has(type(node)) or isinstance(node, Span):
            return node
        changes = {f.name: self.expr(getattr(node, f.name), bindings, stack)
                   for f in attrs.fields(type(node)) if f.name != "span"}  # type: ignore[arg-type]
        return attrs.evolve(node, **changes)  # type: ignore[misc]

    def call(self, call: ir.HelperCall, bindings: dict[str, ir.Expr], stack: tuple[str, ...],
             statement: bool) -> tuple[ir.Stmt, ...] | ir.Expr | None:
        """A helper's statements or value, with its arguments bound; None after an error."""
        helper = self.helpers.get(call.name)
        if helper is None:
            self.sink.error("V010", f"undefined helper '{call.name}'", call.span,
                            did_you_mean(call.name, list(self.helpers))
                            or "define it in the isa: `def NAME(PARAMS) { ... }` or "
                            "`def NAME(PARAMS) = value`")
            return None
        if call.name in stack:
            chain = " -> ".join([*stack[stack.index(call.name):], call.name])
            self.sink.error("V041", f"helper '{call.name}' calls itself ({chain})", call.span,
                            "helpers cannot loop: an instruction's semantics are loop-free")
            return None
        if len(call.args) != len(helper.params):
            takes = f"{len(helper.params)} argument{'s' if len(helper.params) != 1 else ''}"
            self.sink.error("V041", f"helper '{call.name}' takes {takes}, found {len(call.args)}", call.span,
                            f"call it as `{call.name}({', '.join(helper.params)})`")
            return None
        if statement and helper.body is None:
            self.sink.error("V041", f"helper '{call.name}' is a value, not statements", call.span,
                            f"use it in an expression, e.g. `A = {call.name}(...)`")
            return None
        if not statement and helper.value is None:
            self.sink.error("V041", f"helper '{call.name}' is statements, not a value", call.span,
                            f"call it as a statement: `{call.name}(...)`")
            return None
        args = {p: self.expr(a, bindings, stack) for p, a in zip(helper.params, call.args, strict=True)}
        inner = (*stack, call.name)
        if helper.body is not None:
            return self.statements(helper.body, args, inner)
        assert helper.value is not None
        return self.expr(helper.value, args, inner)
