"""`vdsl.semantics.bits`: the one definition of field extract and insert."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vdsl.semantics.bits import extract, insert, mask


@st.composite
def fields(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    total = draw(st.integers(1, 70))
    lo = draw(st.integers(0, total - 1))
    width = draw(st.integers(1, total - lo))
    return total, lo, width, draw(st.integers(0, mask(total))), draw(st.integers(0, mask(width + 3)))


@given(fields())
def test_insert_then_extract_gives_the_field_value_and_keeps_the_other_bits(case: tuple[int, ...]) -> None:
    total, lo, width, old, value = case
    new = insert(old, total, lo, value, width)
    assert extract(new, lo, width) == value & mask(width)
    outside = mask(total) ^ (mask(width) << lo)
    assert new & outside == old & outside
    assert new <= mask(total)


def test_extract_reads_the_bits_named() -> None:
    assert extract(0b1011_0110, 4, 4) == 0b1011
    assert extract(0b1011_0110, 0, 3) == 0b110
