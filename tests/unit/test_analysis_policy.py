"""The policy check (DESIGN §7): per instruction, whether direct execution under a hypervisor's VM
map gives the virtual machine's result.  PG74's theorems are sufficient conditions for it; here
it is decided exactly, for the bundled policies, and its witnesses replay."""

from __future__ import annotations

import attrs
import pytest
import z3
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


# ---------------------------------------------------------------- ARMv7-VE and RISC-V H

ARMV7 = compile_files(SPECS / "armv7.vspec")
RISCV = compile_files(SPECS / "riscv.vspec")
ARMV7_OFFENDERS = ("CPS", "MRS", "MSR", "RFE", "SRS", "LDM_EXC", "STM_USR", "SUBS_PC_LR", "WFI")


def test_the_virtualization_extensions_fix_armv7_and_deprivileging_does_not() -> None:
    isa = ARMV7.isa("armv7_ve")
    assert isa is not None
    kvm = check_policy(isa, policy(ARMV7, "kvm_arm"))
    assert kvm.holds and kvm.exits == ("WFI",)
    classic = check_policy(isa, policy(ARMV7, "deprivileging_arm"))
    assert classic.failing == ARMV7_OFFENDERS  # exactly T1's offenders, WFI (a halt at PL0) among them
    for name, answer in classic.results:
        if answer is not None and not answer.holds:
            assert answer.witness is not None
            assert not answer.witness.runs[1].trapped, name


@pytest.mark.parametrize(("left_out", "failing"), [
    ("CPSR.I", ("CPS", "MRS", "MSR", "RFE", "LDM_EXC", "SUBS_PC_LR")),
    ("SPSR", ("RFE", "SRS", "LDM_EXC", "SUBS_PC_LR")),
    ("SCTLR", ("MRC", "MCR")),
    ("TTBR0", ("MRC", "MCR")),
])
def test_each_piece_of_armv7_ve_state_the_guest_owns_is_needed(left_out: str, failing: tuple[str, ...]) -> None:
    """Without one of the shadowed items, the monitor owns it, and the instructions that use it
    no longer give the virtual machine's result: the `shadow` list is not longer than it must be."""
    isa = ARMV7.isa("armv7_ve")
    assert isa is not None and isa.virtualization is not None
    shadow = tuple(s for s in isa.virtualization.shadow
                   if (s.reg if s.field is None else f"{s.reg}.{s.field}") != left_out)
    assert len(shadow) == len(isa.virtualization.shadow) - 1
    smaller = attrs.evolve(isa, virtualization=attrs.evolve(isa.virtualization, shadow=shadow))
    assert check_policy(smaller, policy(ARMV7, "kvm_arm")).failing == failing


def test_the_h_extension_fails_only_in_the_virtual_machine_mode_it_does_not_have(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The H extension runs a guest in VS and VU; vdsl's hardware_assisted monitor runs every mode
    of a guest directly, M included, where the guest would meet the monitor's mstatus, mcause,
    mepc and mtvec.  Asked about VS and VU alone, z3 finds nothing wrong."""
    isa = RISCV.isa("rv_h")
    assert isa is not None
    assert check_policy(isa, policy(RISCV, "deprivileging_rv")).holds
    kvm = check_policy(isa, policy(RISCV, "kvm_rv"))
    assert kvm.failing == ("CSRRW", "CSRRS", "MRET") and kvm.exits == ("ECALL", "WFI")
    for name, answer in kvm.results:
        if answer is not None and not answer.holds:
            assert answer.witness is not None
            virtual, real = answer.witness.runs
            assert virtual.before.mode == real.before.mode == 0, name  # machine mode
    from vdsl.analysis import questions

    class GuestModes(questions.PolicyMap):  # the guest's modes: supervisor (VS) and user (VU)
        def direct_modes(self, virtual: z3.BitVecRef) -> list[z3.BoolRef]:
            return [z3.UGE(virtual, isa.machine.modes.index("supervisor"))]

    monkeypatch.setattr(questions, "PolicyMap", GuestModes)
    in_guest_modes = check_policy(isa, policy(RISCV, "kvm_rv"))
    assert in_guest_modes.holds and in_guest_modes.exits == ("ECALL", "WFI")


def test_the_command_line_gates_on_the_armv7_ve_policies() -> None:
    spec = str(SPECS / "armv7.vspec")
    result = run_vdsl("check", spec, "--isa", "armv7_ve", "--policy", "kvm_arm", "--require", "policy")
    assert result.returncode == 0
    assert ("policy kvm_arm (hardware_assisted, guests in their own modes) on isa armv7_ve: holds: every "
            "instruction that runs directly gives the virtual machine's result") in result.stdout
    result = run_vdsl("check", spec, "--isa", "armv7_ve", "--policy", "deprivileging_arm", "--require", "policy")
    assert result.returncode == 1
    assert ("on isa armv7_ve: fails: 9 instructions run directly and give another result than the virtual "
            "machine's: " + ", ".join(ARMV7_OFFENDERS)) in result.stdout
