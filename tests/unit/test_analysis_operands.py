"""Operand-precise offences (DESIGN §1): an instruction is an opcode with its operand values.

An offender of T1 is an instruction for which some operand values make it sensitive and, for
those same values, not privileged.  A RISC-V-style `CSRW csr` whose privilege comes from the
CSR number's bits 9:8 is written once and is not an offender; one that lets user mode write a
supervisor CSR is, and its two witnesses (the sensitivity and the escape from privilege) carry
the same operand values and replay on the emulator.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import spec_from

from vdsl.analysis.classify import IsaReport, classify_isa
from vdsl.analysis.states import run_concrete
from vdsl.cli import main
from vdsl.ir import nodes as ir
from vdsl.report.check import check_text, explain_text

CSR = """\
    machine rv {
        word 16
        memory E[256]
        modes { machine > supervisor > user }
        reg A
        reg P pc
        reg U0                                 // a user CSR: ordinary state
        control reg MSTATUS
        control reg SSTATUS
    }

    isa t for rv {
        inst CSRW csr {
            if csr[9:8] == 3 && M != machine { trap privileged }
            if csr[9:8] == 1 && M == user { trap privileged }
            if csr == 0x300 { MSTATUS = A } else if csr == 0x100 { SSTATUS = A }
            else if csr == 0x001 { U0 = A } else { trap illegal }
        }
        inst CSRR csr {
            if csr[9:8] == 3 && M != machine { trap privileged }
            if csr[9:8] == 1 && M == user { trap privileged }
            if csr == 0x300 { A = MSTATUS } else if csr == 0x100 { A = SSTATUS }
            else if csr == 0x001 { A = U0 } else { trap illegal }
        }
        // SSTATUS is also reachable as 0x002, whose bits 9:8 say "user"
        inst CSRW_BAD csr {
            if csr[9:8] == 3 && M != machine { trap privileged }
            if csr == 0x300 { MSTATUS = A } else if csr == 0x002 { SSTATUS = A }
            else if csr == 0x001 { U0 = A } else { trap illegal }
        }
        inst NOP { }
        GUESTS
    }
"""


def csr_report(guest_mode: str = "user") -> IsaReport:
    isa = spec_from(CSR.replace("GUESTS", f"guests run in {guest_mode}")).isa("t")
    assert isa is not None
    return classify_isa(isa)


def test_a_csr_instruction_written_once_is_not_an_offender() -> None:
    report = csr_report()
    assert [r.name for r in report.verdicts["T1"].offending] == ["CSRW_BAD"]
    assert [r.name for r in report.verdicts["T3"].offending] == ["CSRW_BAD"]
    for name in ("CSRW", "CSRR"):
        inst = report.instruction(name)
        assert inst is not None
        # Not privileged for every CSR number (U0 is not), and sensitive for some (MSTATUS) ...
        assert inst.known("privileged") is False and inst.sensitivity is True
        # ... but never both for the same number.
        assert inst.offends("T1") is False and inst.privileged_where_sensitive
    nop = report.instruction("NOP")
    assert nop is not None and not nop.privileged_where_sensitive


def test_the_offence_witnesses_share_their_operands_and_replay() -> None:
    report = csr_report()
    bad = report.instruction("CSRW_BAD")
    assert bad is not None
    offence = bad.offences["control-sensitive"]
    assert offence.holds and offence.operands == (("csr", 2),)  # the one number that escapes
    assert offence.sensitive is not None and offence.unprivileged is not None
    sensitive, unprivileged = offence.sensitive.witness, offence.unprivileged.witness
    assert sensitive is not None and unprivileged is not None
    assert sensitive.operands == unprivileged.operands == (("csr", 2),)
    isa = report.isa
    inst = isa.instruction("CSRW_BAD")
    assert inst is not None
    # Replayed here: the sensitive run writes SSTATUS without trapping ...
    (run,) = sensitive.runs
    again = run_concrete(isa.machine, inst, (2,), run.before, "again")
    sstatus = ir.StateRef("SSTATUS", None)
    assert not again.trapped and again.after.get(sstatus) != run.before.get(sstatus)
    # ... and some mode guests run in does not trap for the same number.
    assert any(not r.trapped and r.before.mode == 2 for r in unprivileged.runs)


def test_a_guest_kernel_in_supervisor_mode_reaches_the_supervisor_csrs() -> None:
    """With guests in supervisor mode, SSTATUS (0x100) is read and written without a trap:
    CSRW and CSRR offend, for that CSR number."""
    report = csr_report("supervisor")
    assert [r.name for r in report.verdicts["T1"].offending] == ["CSRW", "CSRR", "CSRW_BAD"]
    csrr = report.instruction("CSRR")
    assert csrr is not None and csrr.offence("control-state-sensitive") is True
    assert csrr.offences["control-state-sensitive"].operands == (("csr", 256),)


def test_check_and_explain_say_it() -> None:
    report = csr_report()
    text = check_text([report])
    assert "  CSRW         some        yes" in text
    assert ("  some: privileged for every operand value that makes it sensitive, not for all (CSRW, CSRR); "
            "not an offender\n") in text
    assert "T1's condition fails: sensitive but not privileged: CSRW_BAD (control-sensitive)\n" in text
    csrw = report.instruction("CSRW")
    assert csrw is not None
    explained = explain_text(report, csrw)
    assert ("sensitive and, for the same operands, not privileged (an offence): no\n"
            "  control-sensitive: no\n"
            "    proved: for every operand value that makes it control-sensitive, it is privileged (z3: unsat)\n"
            ) in explained
    bad = report.instruction("CSRW_BAD")
    assert bad is not None
    explained = explain_text(report, bad)
    assert "sensitive and, for the same operands, not privileged (an offence): yes\n" in explained
    assert "  control-sensitive: yes, for csr = 2\n" in explained
    assert "    and not privileged for csr = 2:\n" in explained


def test_explain_json_has_the_offences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "csr.vspec"
    path.write_text(textwrap.dedent(CSR.replace("GUESTS", "guests run in user")), encoding="utf-8")
    assert main(["explain", str(path), "CSRW_BAD", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["offends"] == {"T1": True, "T2": True, "T3": True}
    assert report["privileged_where_sensitive"] is False
    control = next(o for o in report["offences"] if o["sensitivity"] == "control-sensitive")
    assert control["holds"] is True and control["operands"] == {"csr": 2}
    assert control["sensitive"]["operands"] == control["unprivileged"]["operands"] == {"csr": 2}
    assert main(["explain", str(path), "CSRW", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["privileged_where_sensitive"] is True
    assert report["offends"] == {"T1": False, "T2": False, "T3": False}
    assert [(o["sensitivity"], o["holds"]) for o in report["offences"]] == [("control-sensitive", False)]
