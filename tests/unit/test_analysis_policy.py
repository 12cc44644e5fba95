"""The policy check (DESIGN §7): per instruction, whether direct execution under a hypervisor's VM
map gives the virtual machine's result.  PG74's theorems are sufficient conditions for it; here
it is decided exactly, for the bundled policies, and its witnesses replay."""

from __future__ import annotations

import pytest
from conftest import SPECS, run_vdsl

from vdsl import RunError, compile_files
from vdsl.analysis.classify import check_policy, classify_isa

X86 = compile_files(SPECS / "x86-32.vspec")
PG74 = compile_files(SPECS / "pg74.vspec")


def policy(spec, name):  # type: ignore[no-untyped-def]
    return next(h for h in spec.hypervisors if h.name == name)


def test_vt_x_fixes_x86_and_deprivileging_does_not() -> None:
    isa = X86.isa("x86_32")
    assert isa is not None
    kvm = check_policy(isa, policy(X86, "kvm"))
    assert kvm.holds and kvm.exits == ("HLT", "IN", "OUT")
    classic = check_policy(isa, policy(X86, "deprivileging"))
    # Exactly the instructions that break T1 in the classic monitor's context (IOPL pinned to 0).
    offenders = {r.name for r in classify_isa(isa).verdicts["T1"].offending}
    assert set(classic.failing) == offenders and "POPF" in classic.failing
    for name, answer in classic.results:
        if answer is not None and not answer.holds:
            assert answer.witness is not None
            _, real = answer.witness.runs
            assert not real.trapped, name  # the real machine ran it without the monitor


@pytest.mark.parametrize(("isa", "hypervisor", "failing"), [
    ("pg74", "pg_monitor", ()),
    ("pg74_getm", "pg_monitor", ("GETM",)),
    ("pg74_retu", "pg_monitor", ("RETU",)),
    ("pg74_getm", "pg_hybrid", ()),  # the hybrid monitor interprets the kernel: T3 is enough
    ("pg74_retu", "pg_hybrid", ()),
])
def test_pg74_policies(isa: str, hypervisor: str, failing: tuple[str, ...]) -> None:
    found = PG74.isa(isa)
    assert found is not None
    assert check_policy(found, policy(PG74, hypervisor)).failing == failing


def test_translation_and_paravirtualization_have_no_policy_check() -> None:
    isa = X86.isa("x86_32")
    assert isa is not None
    with pytest.raises(RunError) as caught:
        check_policy(isa, policy(X86, "vmware_bt"))
    assert "its check is `vdsl check` itself" in str(caught.value)


def test_the_command_line_gates_on_the_policy() -> None:
    result = run_vdsl("check", str(SPECS / "pg74.vspec"), "--isa", "pg74_getm", "--policy", "pg_monitor",
                      "--require", "policy")
    assert result.returncode == 1
    assert ("policy pg_monitor (trap_and_emulate, guests run in user) on isa pg74_getm: fails: 1 instruction "
            "runs directly and gives another result than the virtual machine's: GETM") in result.stdout
    assert "vdsl: --require policy: the check of hypervisor pg_monitor on isa pg74_getm fails" in result.stderr
    result = run_vdsl("check", str(SPECS / "pg74.vspec"), "--isa", "pg74", "--policy", "pg_monitor",
                      "--require", "policy")
    assert result.returncode == 0
    result = run_vdsl("check", str(SPECS / "pg74.vspec"), "--policy", "pg_monitr")
    assert result.returncode == 2 and "did you mean 'pg_monitor'?" in result.stderr
