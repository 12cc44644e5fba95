"""The policy check (DESIGN §7): per instruction, whether direct execution under a hypervisor's VM
map gives the virtual machine's result.  PG74's theorems are sufficient conditions for it; here
it is decided exactly, for the bundled policies, and its witnesses replay."""

from __future__ import annotations

import attrs
import pytest
from conftest import SPECS, run_vdsl, spec_from

from vdsl import RunError, compile_files
from vdsl.analysis.classify import IsaReport, PolicyReport, check_policy, classify_isa, expected_policies
from vdsl.analysis.questions import Answer
from vdsl.analysis.states import run_concrete
from vdsl.ir import nodes as ir
from vdsl.resolve.policies import POLICY_TECHNIQUES

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
    ("pg74_lpa", "pg_monitor", ("LPA",)),  # the real R.base is the guest's plus its partition's offset
    ("pg74_getm", "pg_hybrid", ()),  # the hybrid monitor interprets the kernel: T3 is enough
    ("pg74_retu", "pg_hybrid", ()),
    ("pg74_lpa", "pg_hybrid", ("LPA",)),  # user-sensitive: T3 fails with it
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


# ---------------------------------------------------------------- the guest's place in real memory

PARTITIONED = """\
machine pg {
    word 8
    memory E[64]
    modes { supervisor > user }
    reg A
    reg P pc
    control reg R { base, bound }
    relocate through R
    trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}
isa t for pg {
    inst LOAD a  { A = mem[a] }
    inst STORE a { mem[a] = A }
    inst LPA a   { A = R.base + a }      // the real address of a: where the guest sits
    inst PEEK a  { A = phys[a] }         // a physical word: another partition's, under a monitor
    inst POKE a  { phys[a] = A }
    inst GETB    { if M == user { trap privileged }  A = R.bound }
    guests run in user
}
hypervisor h on pg {
    technique trap_and_emulate
    guests run in user
}
"""


def partitioned() -> PolicyReport:
    spec = spec_from(PARTITIONED)
    isa = spec.isa("t")
    assert isa is not None
    return check_policy(isa, spec.hypervisors[0])


def test_an_instruction_that_shows_the_guest_where_it_sits_fails() -> None:
    """Loads and stores through R land in the partition and give the virtual result wherever the
    monitor put the guest; R.base and physical addresses tell the guest where it is."""
    report = partitioned()
    assert report.failing == ("LPA", "PEEK", "POKE")
    answers = dict(report.results)
    lpa = answers["LPA"]
    assert lpa is not None and lpa.witness is not None
    offset = lpa.witness.shift
    assert offset is not None and offset > 0  # it needs the guest moved: the witness moves it
    virtual, real = lpa.witness.runs
    base = ir.StateRef("R", "base")
    assert real.before.get(base) == virtual.before.get(base) + offset
    assert real.label.endswith(f"R.base = {real.before.get(base)} (the partition at offset {offset})")
    assert virtual.label == f"virtual, mode {('supervisor', 'user')[virtual.before.mode]}, " \
        f"R.base = {virtual.before.get(base)}"
    assert virtual.after.get(ir.StateRef("A")) != real.after.get(ir.StateRef("A"))


def test_a_failure_that_does_not_need_the_guest_moved_shows_it_unmoved() -> None:
    found = PG74.isa("pg74_getm")
    assert found is not None
    answer = dict(check_policy(found, policy(PG74, "pg_monitor")).results)["GETM"]
    assert answer is not None and answer.witness is not None
    assert answer.witness.shift is None
    assert answer.witness.shows == ("virtual, mode supervisor: A stays 0", "real, mode user: A becomes 1 (was 0)")


def bundled_policy_reports() -> list[PolicyReport]:
    reports = []
    for spec in (PG74, compile_files(SPECS / "pdp10.vspec"), compile_files(SPECS / "m68k.vspec")):
        for hypervisor in spec.hypervisors:
            if hypervisor.technique not in POLICY_TECHNIQUES:
                continue
            reports.extend(check_policy(isa, hypervisor) for isa in spec.isas
                           if isa.machine.name == hypervisor.machine.name)
    return [*reports, partitioned()]


def test_every_policy_witness_replays_with_the_guest_in_its_partition() -> None:
    """Each failing instruction's two runs, run again on the emulator, end as the witness says;
    the real run does not trap, and its state is the virtual one placed at the partition's
    offset: R.base moved by it, memory moved up by it, both windows inside memory."""
    checked = 0
    for report in bundled_policy_reports():
        machine = report.isa.machine
        for name, answer in report.results:
            if answer is None or answer.holds:
                continue
            assert answer.witness is not None, name
            instruction = report.isa.instruction(name)
            assert instruction is not None
            values = tuple(v for _, v in answer.witness.operands)
            virtual, real = answer.witness.runs
            assert not real.trapped, name
            for run in (virtual, real):
                again = run_concrete(machine, instruction, values, run.before, run.label)
                assert (again.after.slots, again.after.memory, again.cause) == \
                    (run.after.slots, run.after.memory, run.cause), name
            offset = answer.witness.shift or 0
            if machine.relocation is not None:
                base, bound = ir.StateRef(machine.relocation, "base"), ir.StateRef(machine.relocation, "bound")
                assert real.before.get(base) == virtual.before.get(base) + offset, name
                assert real.before.get(bound) == virtual.before.get(bound), name
                assert real.before.get(base) + real.before.get(bound) <= machine.memory.size, name
                size = machine.memory.size
                assert real.before.memory[offset:] == virtual.before.memory[:size - offset], name
            else:
                assert offset == 0
            checked += 1
    assert checked >= 6  # GETM, RETU, LPA twice, JRST 1, MOVE from SR, and the partitioned spec's


# ---------------------------------------------------------------- `expect policy` in an isa

EXPECTING = """\
import "pg74.vspec"
isa where extends pg74_lpa {
    expect policy pg_monitor fails with LPA, policy pg_monitor fails, policy pg_monitor holds
    expect policy pg_monitor fails with LPA LOAD, policy pg_hybrid fails with LPA
}
"""


def expectations(report: IsaReport) -> list[tuple[str, bool, bool, str]]:
    return [(" ".join(e.expectation.words), e.holds, e.decided, e.detail) for e in report.expectations]


def test_expect_policy_is_judged_by_the_policy_check() -> None:
    spec = spec_from(EXPECTING)
    isa = spec.isa("where")
    assert isa is not None
    assert expected_policies(isa) == ("pg_monitor", "pg_hybrid")
    policies = {name: check_policy(isa, policy(spec, name)) for name in expected_policies(isa)}
    assert expectations(classify_isa(isa, policies=policies)) == [
        ("policy pg_monitor fails with LPA", True, True, "policy pg_monitor fails (LPA)"),
        ("policy pg_monitor fails", True, True, "policy pg_monitor fails (LPA)"),
        ("policy pg_monitor holds", False, True, "policy pg_monitor fails (LPA)"),
        # `with` is exact, as for the theorems
        ("policy pg_monitor fails with LPA LOAD", False, True, "policy pg_monitor fails (LPA); not breaking it: LOAD"),
        ("policy pg_hybrid fails with LPA", True, True, "policy pg_hybrid fails (LPA)"),
    ]


def test_an_undecided_or_missing_policy_check_promises_nothing() -> None:
    spec = spec_from(EXPECTING)
    isa = spec.isa("where")
    assert isa is not None
    undecided = Answer("runs-directly", False, undecided="z3 could not decide whether LPA runs directly")
    unsure = PolicyReport(policy(spec, "pg_monitor"), isa, (("LOAD", None), ("LPA", undecided)))
    found = expectations(classify_isa(isa, policies={"pg_monitor": unsure}))
    assert found[:4] == [
        ("policy pg_monitor fails with LPA", False, False,
         "policy pg_monitor is undecided; not breaking it: LPA; undecided for LPA"),
        ("policy pg_monitor fails", False, False, "policy pg_monitor is undecided; undecided for LPA"),
        ("policy pg_monitor holds", False, False, "policy pg_monitor is undecided; undecided for LPA"),
        ("policy pg_monitor fails with LPA LOAD", False, True,
         "policy pg_monitor is undecided; not breaking it: LOAD, LPA; undecided for LPA"),
    ]
    assert found[4] == ("policy pg_hybrid fails with LPA", False, False,
                        "the policy check of hypervisor pg_hybrid was not run")
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


def test_the_h_extension_holds_in_the_guest_modes_it_has() -> None:
    """The H extension runs a guest in VS and VU (`modes { supervisor, user }`): there the check
    holds.  An extension that ran every mode of a guest directly, M included, would show the
    guest the monitor's mstatus, mcause, mepc and mtvec: every failure is in machine mode."""
    isa = RISCV.isa("rv_h")
    assert isa is not None and isa.virtualization is not None
    assert isa.virtualization.modes == ("supervisor", "user")
    assert check_policy(isa, policy(RISCV, "deprivileging_rv")).holds
    kvm = check_policy(isa, policy(RISCV, "kvm_rv"))
    assert kvm.holds and kvm.exits == ("ECALL", "WFI")
    every_mode = attrs.evolve(isa, virtualization=attrs.evolve(isa.virtualization, modes=()))
    kvm = check_policy(every_mode, policy(RISCV, "kvm_rv"))
    assert kvm.failing == ("CSRRW", "CSRRS", "MRET")
    for name, answer in kvm.results:
        if answer is not None and not answer.holds:
            assert answer.witness is not None
            virtual, real = answer.witness.runs
            assert virtual.before.mode == real.before.mode == 0, name  # machine mode


def test_a_partly_shadowed_register_leaves_the_monitor_only_its_other_bits() -> None:
    # mstatus is control as a whole in `rv`; shadowing its TSR and TVM fields gives the guest
    # those bits, so SFENCE.VMA (which reads TVM) runs directly and correctly.  SRET still fails:
    # it reads SPP and SIE, which stay the monitor's; so do CSRRW and CSRRS of sstatus.
    spec = spec_from('import "riscv.vspec"\nisa x extends rv_u {\n    virtualization h { modes { supervisor, user }'
                     '  shadow MSTATUS.TSR, MSTATUS.TVM, SEPC, SATP  exits { WFI } }\n}\n'
                     'hypervisor k on x { technique hardware_assisted }\n')
    isa = spec.isa("x")
    assert isa is not None
    report = check_policy(isa, policy(spec, "k"))
    assert report.failing == ("CSRRW", "CSRRS", "SRET")


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
