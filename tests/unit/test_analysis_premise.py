"""The theorems' premise (DESIGN §1): relocation keeps guest-mode stores away from the trap areas.

A machine without relocation, or an instruction that writes physical memory from a guest mode,
does not meet it: the verdict is "premise fails", with the escaping store as witness, replayed
here, and a run that shows the guest taking the machine; never "holds".
"""

from __future__ import annotations

import pytest
from conftest import SPECS, spec_from

from vdsl.analysis.classify import IsaReport, classify_isa
from vdsl.analysis.states import run_concrete
from vdsl.emulator import run_program
from vdsl.ir import nodes as ir
from vdsl.ir.layout import trap_words
from vdsl.monitor.run import run_scenario
from vdsl.phases import Compilation
from vdsl.report.check import check_text, explain_text

MACHINE = """\
machine acc {
    word 16
    memory E[256]
    modes { supervisor > user }
    reg A
    reg P pc
    control reg R { base: 8, bound: 8 }
    relocate through R
    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }
}
isa t for acc {
    inst ST a    { mem[a] = A }
    inst SVC     { trap svc }
    inst LPSW a  { if M == user { trap privileged }  (M, P, R) = mem[a] }
    EXTRA
    guests run in user
}
"""


def report_of(text: str) -> IsaReport:
    isa = spec_from(text).isa("t")
    assert isa is not None
    return classify_isa(isa)


def pg74() -> list[IsaReport]:
    spec = Compilation([str(SPECS / "pg74.vspec")]).spec
    return [classify_isa(isa) for isa in spec.isas]


def test_relocation_keeps_every_guest_store_away() -> None:
    report = report_of(MACHINE.replace("EXTRA", ""))
    assert report.premise.holds and report.verdicts["T1"].holds
    st = report.instruction("ST")
    assert st is not None and st.premise is not None and st.premise.known is False
    assert st.premise.proof == ("no execution in mode user from a state whose R window leaves them out that "
                                "does not trap changes the trap areas (E[0..8])")


def test_without_relocation_the_premise_fails_never_holds() -> None:
    report = report_of(MACHINE.replace("    relocate through R\n", "").replace("EXTRA", ""))
    premise = report.premise
    assert premise.decided and not premise.holds
    assert [r.name for r in premise.offending] == ["ST"]
    for theorem in ("T1", "T2", "T3"):
        verdict = report.verdicts[theorem]
        assert not verdict.holds and verdict.premise_fails and verdict.offending == ()
    text = check_text([report])
    assert ("  the theorems' premise fails: run by a guest, ST can rewrite the trap areas (E[0..8]; the machine "
            "does not relocate)\n") in text
    assert "  T1's premise fails, though its condition holds: every sensitive instruction is privileged\n" in text
    assert not any(line.startswith("  T1's condition holds") for line in text.splitlines())


def test_the_escaping_store_is_a_witness_that_replays() -> None:
    report = report_of(MACHINE.replace("    relocate through R\n", "").replace("EXTRA", ""))
    st = report.instruction("ST")
    assert st is not None and st.premise is not None and st.premise.witness is not None
    witness = st.premise.witness
    (run,) = witness.runs
    (operand,) = [value for _, value in witness.operands]
    assert run.before.mode == 1  # user: the guest mode
    isa = report.isa
    inst = isa.instruction("ST")
    assert inst is not None
    again = run_concrete(isa.machine, inst, (operand,), run.before, "again")
    assert not again.trapped
    assert [w for w in trap_words(isa.machine) if again.after.memory[w] != run.before.memory[w]] == [operand]
    explained = explain_text(report, st)
    assert f"reaches the trap areas from a guest mode (the theorems' premise): yes\n  operands: a = {operand}\n" \
        in explained


def test_a_physical_store_escapes_relocation() -> None:
    report = report_of(MACHINE.replace("EXTRA", "inst PST a { phys[a] = A }"))
    assert [r.name for r in report.premise.offending] == ["PST"]
    pst = report.instruction("PST")
    assert pst is not None and pst.premise is not None and pst.premise.witness is not None
    (run,) = pst.premise.witness.runs
    assert run.before.mode == 1 and not run.trapped


def test_a_privileged_physical_store_does_not() -> None:
    report = report_of(MACHINE.replace("EXTRA", "inst PST a { if M == user { trap privileged }  phys[a] = A }"))
    assert report.premise.holds


def test_a_machine_without_trap_areas_has_nothing_to_protect() -> None:
    text = MACHINE.replace("    relocate through R\n", "").replace(
        "    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }\n", "")
    report = report_of(text.replace("    inst SVC     { trap svc }\n", "").replace("EXTRA", ""))
    st = report.instruction("ST")
    assert st is not None and st.premise is not None and st.premise.proof == "the machine has no trap areas"
    assert report.premise.holds


@pytest.mark.parametrize(("expectation", "status"), [
    ("premise fails with ST", "ok"),
    ("premise holds", "FAILED"),
    ("T1 holds", "FAILED"),
    ("T1 fails", "ok"),                      # T1 gives no monitor here: its premise fails
    ("T1 fails with ST", "FAILED"),          # but nothing breaks its condition
])
def test_expectations_on_the_premise(expectation: str, status: str) -> None:
    flat = MACHINE.replace("    relocate through R\n", "").replace("EXTRA", f"expect {expectation}")
    (result,) = report_of(flat).expectations
    assert ("ok" if result.holds else "FAILED") == status, result.detail


def test_the_bundled_flat_pg74_and_its_takeover() -> None:
    """The bundled `pg74_flat`: T1's condition holds, its premise fails by STORE, and the program
    `takeover` shows why: run bare, the user program halts in supervisor mode in its own code."""
    reports = {r.isa.name: r for r in pg74()}
    flat = reports["pg74_flat"]
    assert [r.name for r in flat.premise.offending] == ["STORE"]
    assert all(e.holds for e in flat.expectations)
    assert all(r.premise.holds for name, r in reports.items() if name != "pg74_flat")
    spec = Compilation([str(SPECS / "pg74.vspec")]).spec
    program = spec.program("takeover")
    assert program is not None
    result = run_program(spec, "takeover")
    assert result.status == "halted" and result.state.mode == 0  # supervisor, in the user's code
    assert result.state.get(ir.StateRef("P")) == dict(program.labels)["mine"] + 1
    scenario = spec.scenario("takeover")
    assert scenario is not None
    (guest,) = run_scenario(scenario).guests
    (violation,) = guest.violations
    assert violation.instruction == "STORE" and violation.explanation is not None
    assert violation.explanation.text() == ("STORE is innocuous, but run by a guest it reaches the trap areas: "
                                            "the theorems' premise fails")
