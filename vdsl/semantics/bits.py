"""Bit fields of concrete values: the one definition of mask, extract and insert.

The compiled code and the Python helpers use the same template text: the helpers below
are made by evaluating the templates, so a field read by the emulator's generated code,
by a monitor or by a report cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable

# {a}: the value; {b}: the new field value; {lo}: the field's lowest bit; {m}: the field's
# mask; {keep}: the mask of the bits an insert keeps.
EXTRACT = "({a} >> {lo}) & {m}"
EXTRACT_LOW = "{a} & {m}"
INSERT = "({a} & {keep}) | ({b} << {lo})"


def mask(width: int) -> int:
    """All ones in the low `width` bits."""
    return (1 << width) - 1


def _function(template: str, parameters: str) -> Callable[..., int]:
    names = {name: name for name in parameters.split(", ")}
    code = f"lambda {parameters}: " + template.format(**names)
    function: Callable[..., int] = eval(code, {"__builtins__": {}})  # noqa: S307 - our own template text
    return function


_extract = _function(EXTRACT, "a, lo, m")
_insert = _function(INSERT, "a, b, lo, keep")


def extract_code(value: str, lo: int, width: int) -> str:
    """Python source that extracts bits lo .. lo + width - 1 of the expression `value`."""
    return (EXTRACT if lo else EXTRACT_LOW).format(a=value, lo=lo, m=mask(width))


def extract(value: int, lo: int, width: int) -> int:
    """Bits lo .. lo + width - 1 of `value`."""
    return int(_extract(value, lo, mask(width)))


def insert(old: int, total: int, lo: int, value: int, width: int) -> int:
    """`old` (a `total`-bit value) with bits lo .. lo + width - 1 replaced by `value`."""
    keep = mask(total) ^ (mask(width) << lo)
    return int(_insert(old, value & mask(width), lo, keep))
