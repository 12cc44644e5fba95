"""`vdsl.ir.layout`: state items, packed registers, PSW words."""

from __future__ import annotations

from conftest import spec_from

from vdsl.ir import nodes as ir
from vdsl.ir.layout import StateItem, control_items, is_packed, item, psw_items, register_items

SPEC = """
machine m {
    word 8
    memory E[16]
    modes { s > u }
    reg A
    reg P pc
    reg F: 8 { C [0], control IF [3] }
    control reg R { base: 4, bound: 4 }
    relocate through R
    trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}
isa m for m { inst NOP { } }
"""


def test_a_register_made_of_fields_is_packed_and_takes_a_word_per_field() -> None:
    machine = spec_from(SPEC).machines[0]
    r, f = machine.register("R"), machine.register("F")
    assert r is not None and f is not None
    assert is_packed(r) and not is_packed(f)
    assert [i.name for i in psw_items(machine, (ir.StateRef("M"), ir.StateRef("P"), ir.StateRef("R")))] == [
        "M", "P", "R.base", "R.bound"]


def test_reports_show_fields_and_the_whole_register_where_fields_leave_bits_over() -> None:
    machine = spec_from(SPEC).machines[0]
    assert [i.name for i in register_items(machine)] == ["A", "P", "F.C", "F.IF", "F", "R.base", "R.bound"]


def test_control_items_are_the_mode_control_fields_and_the_relocation_register() -> None:
    machine = spec_from(SPEC).machines[0]
    assert [i.name for i in control_items(machine)] == ["M", "F.IF", "R"]
    assert item(machine, ir.StateRef("M")) == StateItem.mode(machine)
    assert item(machine, ir.StateRef("R")).covers(item(machine, ir.StateRef("R", "base")))
