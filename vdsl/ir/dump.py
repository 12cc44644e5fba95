"""The canonical text form of the IR: an S-expression, one node per line.

`vdsl dump` prints it and the golden tests compare it; spans are left out, so the
dump changes only when the meaning of the spec does.
"""

from __future__ import annotations

import re

import attrs

from vdsl.ir.nodes import OMIT_WHEN_NONE, Hypervisor, Isa, Machine, Program, Spec

# Declarations the spec dumps once on its own: elsewhere they are referred to by name.
_DECLARATIONS = (Machine, Isa, Program, Hypervisor)

_PLAIN = re.compile(r"[A-Za-z0-9_.+\-*/%<>=!&|^~]+")


def dump(node: object) -> str:
    """The S-expression of an IR node (usually a `Spec`)."""
    return "\n".join(_lines(node, 0)) + "\n"


def _name(node: object) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(node).__name__).lower()


def _atom(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _PLAIN.fullmatch(value) else '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, tuple) and all(_is_atomic(v) for v in value):
        return "[" + " ".join(_atom(v) for v in value) + "]"
    raise TypeError(f"not an atom: {value!r}")


def _is_atomic(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_is_atomic(v) for v in value)
    return not attrs.has(type(value))


def _fields(node: object) -> list[tuple[str, object]]:
    fields = [(f.name, getattr(node, f.name)) for f in attrs.fields(type(node))  # type: ignore[arg-type]
              if f.eq and not (f.metadata.get(OMIT_WHEN_NONE) and getattr(node, f.name) is None)]
    if isinstance(node, Spec):  # the spec is where each declaration is dumped whole
        return fields
    return [(name, _reference(value)) for name, value in fields]


def _reference(value: object) -> object:
    """A declaration held by another node, as its name (tuples of them, as tuples of names)."""
    if isinstance(value, _DECLARATIONS):
        return value.name
    if isinstance(value, tuple) and value and all(isinstance(v, _DECLARATIONS) for v in value):
        return tuple(v.name for v in value)
    return value


def _inline(node: object) -> str | None:
    """A node on one line, when it is small: expressions and leaf records."""
    parts = [_name(node)]
    for name, value in _fields(node):
        if attrs.has(type(value)):
            inner = _inline(value)
            if inner is None:
                return None
            parts.append(f":{name} {inner}")
        elif _is_atomic(value):
            parts.append(f":{name} {_atom(value)}")
        elif isinstance(value, tuple):
            inner_items = [_inline(v) if attrs.has(type(v)) else _atom(v) for v in value]
            if any(i is None for i in inner_items):
                return None
            parts.append(f":{name} [" + " ".join(i for i in inner_items if i is not None) + "]")
        else:
            return None
    text = "(" + " ".join(parts) + ")"
    return text if len(text) <= 100 else None


def _lines(node: object, depth: int) -> list[str]:
    pad = "  " * depth
    inline = _inline(node)
    if inline is not None:
        return [pad + inline]
    head = pad + "(" + _name(node)
    lines = [head]
    for name, value in _fields(node):
        if attrs.has(type(value)):
            sub = _lines(value, depth + 2)
            lines.append(f"{pad}  :{name}")
            lines.extend(sub)
        elif _is_atomic(value):
            lines.append(f"{pad}  :{name} {_atom(value)}")
        elif isinstance(value, tuple):
            if not value:
                lines.append(f"{pad}  :{name} []")
                continue
            lines.append(f"{pad}  :{name}")
            for item in value:
                if attrs.has(type(item)):
                    lines.extend(_lines(item, depth + 2))
                else:
                    lines.append(pad + "    " + _atom(item))
        else:
            lines.append(f"{pad}  :{name} {value!r}")
    lines[-1] += ")"
    return lines
