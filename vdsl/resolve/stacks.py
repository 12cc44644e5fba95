"""Resolve layer-only systems: container hosts and process virtual machines (drawn, never run)."""

from __future__ import annotations

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import first_defined
from vdsl.source import Span

# What each kind of stack has in the middle, and what it runs.
_MIDDLE = {"containers": "engine", "process_vm": "runtime"}
_MEMBER = {"containers": "container", "process_vm": "app"}
_EXAMPLES = {"hardware": 'hardware "x86-64 server"', "os": 'os "Linux"', "engine": 'engine "containerd"',
             "runtime": 'runtime "JVM"', "container": 'container web "nginx"', "app": 'app shop "shop.jar"'}


def resolve_stack(sink: DiagnosticSink, decl: ir.StackDecl) -> ir.Stack | None:
    errors_before = len(sink.diagnostics)
    parts = dict(decl.parts)
    kind = decl.kind
    if kind is None:
        sink.error("V022", f"stack '{decl.name}' does not say what kind of system it is", decl.span,
                   "add `kind containers` (containers on a host OS) or `kind process_vm` (applications "
                   "on a runtime such as a JVM)")
    elif kind not in ir.STACK_KINDS:
        sink.error("V028", f"unknown kind of stack '{kind}'", decl.span_of("kind"),
                   did_you_mean(kind, ir.STACK_KINDS) or "kinds: " + ", ".join(ir.STACK_KINDS))
        kind = None
    for part in ("hardware", "os"):
        if part not in parts:
            sink.error("V022", f"stack '{decl.name}' does not name its {'host OS' if part == 'os' else part}",
                       decl.span, f"add `{_EXAMPLES[part]}`")
    if kind is not None:
        middle, member = _MIDDLE[kind], _MEMBER[kind]
        other = next(m for m in _MIDDLE.values() if m != middle)
        if middle not in parts:
            sink.error("V022", f"stack '{decl.name}' does not name its {middle}", decl.span,
                       f"a {kind} system runs on one: add `{_EXAMPLES[middle]}`")
        if other in parts:
            other_kind = next(k for k, m in _MIDDLE.items() if m == other)
            sink.error("V028", f"a {kind} system has no {other}", decl.span_of(other),
                       f"write `{middle}` instead, or `kind {other_kind}`")
        for found in decl.members:
            if found.kind != member:
                sink.error("V028", f"a {kind} system runs {member}s, not {found.kind}s", found.span,
                           f"write `{member} {found.name} ...`")
    if not decl.members:
        sink.error("V022", f"stack '{decl.name}' runs nothing", decl.span,
                   "add what it runs: `container web \"nginx\"` or `app shop \"shop.jar\"`")
    seen: dict[str, Span | None] = {}
    for found in decl.members:
        if found.name in seen:
            sink.error("V011", f"'{found.name}' is defined twice in stack '{decl.name}'", found.span,
                       "rename one of them", first_defined(seen[found.name]))
        seen.setdefault(found.name, found.span)
    if len(sink.diagnostics) > errors_before or kind is None:
        return None
    return ir.Stack(decl.name, kind, parts["hardware"], parts["os"], parts[_MIDDLE[kind]], decl.members,
                    span=decl.span)
