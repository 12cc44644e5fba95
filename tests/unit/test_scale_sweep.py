"""Sweeps: the changes a sweep tries, how they are applied, the search for the smallest fixes, and
the fixes and modes found on small bundled isas by the real analysis."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdsl import compile_files
from vdsl.analysis.classify import classify_isa
from vdsl.errors import RunError
from vdsl.resources import data_dir
from vdsl.scale.changes import Change, apply_changes, describe, pin_changes, trap_changes
from vdsl.scale.sweep import SpecSource, VariantJob, decide_variant, minimal_covers, sweep_fixes, sweep_modes

SPECS = data_dir("specs")


@pytest.fixture(scope="module")
def pg74() -> SpecSource:
    return SpecSource.read([SPECS / "pg74.vspec"])


def test_a_set_of_changes_reads_as_one_sentence() -> None:
    changes = [Change("trap", "SMSW"), Change("pin", "EFLAGS.IOPL", 0), Change("trap", "SGDT"),
               Change("trap", "SIDT")]
    assert describe(changes, "ring3") == "pin EFLAGS.IOPL = 0 and make SGDT, SIDT and SMSW trap in ring3"
    assert describe([Change("trap", "POPF"), Change("trap", "PUSHF")], "ring3") == \
        "make POPF and PUSHF trap in ring3"
    assert describe([Change("exit", "WFI")], "svc") == "make WFI exit"


def test_a_trap_change_makes_the_instruction_privileged() -> None:
    isa = compile_files(SPECS / "pg74.vspec").isa("pg74_retu")
    assert isa is not None
    assert classify_isa(isa).instruction("RETU").known("privileged") is False  # type: ignore[union-attr]
    changed, _ = apply_changes(isa, None, [Change("trap", "RETU")])
    report = classify_isa(changed)
    assert report.instruction("RETU").known("privileged") is True  # type: ignore[union-attr]
    assert report.verdicts["T1"].holds
    assert changed.instruction("LOAD") == isa.instruction("LOAD")  # the others are untouched


def test_pins_are_every_value_of_each_small_control_field_not_pinned_yet() -> None:
    spec = compile_files(SPECS / "riscv.vspec")
    rv_s, rv_s_tvm = spec.isa("rv_s"), spec.isa("rv_s_tvm")
    assert rv_s is not None and rv_s_tvm is not None
    pins = {str(c) for c in pin_changes(rv_s, rv_s.context)}
    assert {"pin MSTATUS.TVM = 0", "pin MSTATUS.TVM = 1", "pin MSTATUS.MPP = 3"} <= pins
    assert not any("SATP" in p or "PMP" in p for p in pins)  # wide, or the relocation register
    assert not any("TVM" in str(c) for c in pin_changes(rv_s_tvm, rv_s_tvm.context))  # pinned already
    assert trap_changes(rv_s, ["SRET", "NO_SUCH"]) == [Change("trap", "SRET")]


def test_the_smallest_covers_are_minimal_and_come_first() -> None:
    a, b, c, d = (Change("trap", n) for n in "ABCD")
    pin = Change("pin", "F.X", 1)
    removes = {a: frozenset("a"), b: frozenset("b"), c: frozenset("c"), pin: frozenset("bc"), d: frozenset("d")}
    covers, capped = minimal_covers(["a", "b", "c"], removes)
    assert covers == [frozenset({a, pin}), frozenset({a, b, c})]
    assert not capped
    covers, capped = minimal_covers(["a", "b", "c"], removes, limit=1)
    assert covers == [frozenset({a, pin})] and "more than 1" in capped
    _, capped = minimal_covers(["a", "b", "c"], removes, budget=2)
    assert "stopped after 2 steps" in capped


def test_pg74_retu_is_fixed_by_making_retu_trap_in_user(pg74: SpecSource) -> None:
    sweep = sweep_fixes(pg74, "pg74_retu")
    assert [o.name for o in sweep.baseline.offenders] == ["RETU"]
    assert "M becomes user" in sweep.baseline.offenders[0].witness
    assert [describe(f.changes, sweep.mode) for f in sweep.fixes] == ["make RETU trap in user"]
    assert not sweep.skipped  # exits do not apply, and were not asked for
    asked = sweep_fixes(pg74, "pg74_retu", families=("trap", "exit"))
    assert asked.skipped == ("exit: only a hardware-assisted policy (--policy) on an isa with a virtualization "
                             "extension has exits",)


def test_an_exit_fixes_what_a_hardware_assisted_guest_runs_wrongly(tmp_path: Path) -> None:
    (tmp_path / "rvh.vspec").write_text("""import "riscv.vspec"
isa rv_h_nowfi extends rv_u for rv_h {
    virtualization h {
        modes { supervisor, user }
        shadow MSTATUS.SIE, MSTATUS.SPIE, MSTATUS.SPP, MSTATUS.SUM, MSTATUS.MXR, SEPC, SATP,
               MSTATUS.TVM, MSTATUS.TW, MSTATUS.TSR
        exits { ECALL }
    }
}
hypervisor kvm_nowfi on rv_h_nowfi { technique hardware_assisted }
""")
    source = SpecSource.read([tmp_path / "rvh.vspec"])
    sweep = sweep_fixes(source, "rv_h_nowfi", ("exit",), policy="kvm_nowfi")
    assert [o.name for o in sweep.baseline.offenders] == ["WFI"]
    assert [describe(f.changes, sweep.mode) for f in sweep.fixes] == ["make WFI exit"]


def test_an_isa_whose_condition_holds_needs_no_fix(pg74: SpecSource) -> None:
    sweep = sweep_fixes(pg74, "pg74")
    assert sweep.baseline.holds and not sweep.singles and not sweep.fixes


def test_the_policy_check_is_swept_like_a_theorem(pg74: SpecSource) -> None:
    sweep = sweep_fixes(pg74, "pg74_getm", policy="pg_monitor")
    assert sweep.condition == "policy pg_monitor"
    assert [describe(f.changes, sweep.mode) for f in sweep.fixes] == ["make GETM trap in user"]


def test_a_job_carries_the_text_of_the_imports_too(tmp_path: Path) -> None:
    (tmp_path / "base.vspec").write_text((SPECS / "pg74.vspec").read_text())
    (tmp_path / "main.vspec").write_text('import "base.vspec"\nisa mine extends pg74_retu { }\n')
    source = SpecSource.read([tmp_path / "main.vspec"])
    for path in tmp_path.iterdir():  # a worker on another machine has none of the files
        path.unlink()
    result = decide_variant(VariantJob(source, "mine", "T1", (Change("trap", "RETU"),)))
    assert result.holds


def test_every_guest_mode_is_decided(pg74: SpecSource) -> None:
    results = sweep_modes(pg74, "pg74_retu")
    assert [r.mode for r in results] == ["supervisor", "user"]
    verdicts = {r.mode: {t: (word, offenders) for t, word, offenders in r.verdicts} for r in results}
    assert verdicts["user"]["T1"] == ("fails", ("RETU",))
    assert verdicts["user"]["T3"] == ("holds", ())
    assert verdicts["supervisor"]["T1"][0] == "fails"


def test_unknown_names_are_clear_errors(pg74: SpecSource) -> None:
    with pytest.raises(RunError, match="there is no isa 'pg74_retv'; did you mean 'pg74_retu'"):
        sweep_fixes(pg74, "pg74_retv")
    with pytest.raises(RunError, match="there is no hypervisor 'pg_monitr'"):
        sweep_fixes(pg74, "pg74_retu", policy="pg_monitr")


def test_a_random_guest_depends_on_its_seed_and_number_only() -> None:
    from vdsl.scale.campaign import halting_instruction, random_guest

    spec = compile_files(SPECS / "pg74.vspec")
    isa, monitor = spec.isa("pg74_retu"), spec.hypervisor("pg_monitor")
    assert isa is not None and monitor is not None
    first = random_guest(isa, monitor, 3, 5, 8)
    assert first == random_guest(isa, monitor, 3, 5, 8)
    assert first != random_guest(isa, monitor, 3, 6, 8)
    assert len(first.instructions) == 10  # the handler, 8 random instructions, the final halt
    halt = halting_instruction(isa).name
    assert first.instructions[0].name == first.instructions[-1].name == halt
    assert (5, first.instructions[0].address) in first.data  # the trap vector's P: the handler
    assert first.start_mode in isa.machine.modes


def test_a_campaign_reports_each_guest_under_each_technique(pg74: SpecSource) -> None:
    from vdsl.scale.campaign import run_campaign

    campaign = run_campaign(pg74, "pg74_retu", None, ("trap_and_emulate", "hybrid"), 30, seed=1)
    assert campaign.policy == "pg_monitor"
    assert [o.number for o in campaign.of("hybrid")] == list(range(30))
    diverged = [o for o in campaign.of("trap_and_emulate") if o.verdict == "diverged"]
    assert diverged and {o.divergence[1] for o in diverged} == {"RETU"}  # type: ignore[index]
    assert all(o.mode == "supervisor" for o in diverged)
    assert not any(o.verdict in ("diverged", "escaped") for o in campaign.of("hybrid"))


def test_pins_that_remove_nothing_are_grouped_by_field_with_runs_of_values() -> None:
    from vdsl.report.sweep import _value_runs

    assert _value_runs([0, 1]) == "0 or 1"
    assert _value_runs([1, 2, 3]) == "1 to 3"
    assert _value_runs([0, 2, 3]) == "0, 2 or 3"
    assert _value_runs([0, 2, 3, 4, 7]) == "0, 2 to 4 or 7"
    assert _value_runs([5]) == "5"
