"""Register arrays (`reg X[32]`), banked registers (`reg SP banked { ... }`) and trap `entry`
blocks: what they mean on the emulator, in the analysis and under a monitor, and their
diagnostics."""

from __future__ import annotations

import pytest
from conftest import spec_from
from test_resolve import diagnostics_of

from vdsl import StepRecord, run_program
from vdsl.analysis.classify import classify_isa
from vdsl.ir import nodes as ir
from vdsl.ir.layout import trap_words
from vdsl.semantics import reference

SPEC = """
    machine m {
        word 16
        memory E[256]
        modes { sup > usr }
        reg X[6]: 16 zero 0
        reg SP: 16 banked { USP: usr, SSP: sup }
        reg P pc
        control reg EPC: 16
        control reg CAUSE: 16
        control reg PREV: 1
        control reg VBR: 16
        trap {
            causes { sc }
            entry {
                EPC = P
                CAUSE = cause
                PREV = if M == usr { 1 } else { 0 }
                M = sup
                P = phys[VBR + cause]
            }
        }
    }
    isa i for m {
        inst LI d: X, v          { d = v }
        inst ADD d: X, a: X, b: X { d = a + b }
        inst MOVI n: 4, v        { X[n] = v }             // an index past X5 is illegal
        inst GETI d: X, n: 4     { d = X[n] }
        inst PUSH s: X           { SP = SP - 1  mem[SP] = s }
        inst POP d: X            { d = mem[SP]  SP = SP + 1 }
        inst GETUSP d: X         { d = USP }
        inst SC                  { trap sc }
        inst RTE {
            if M == usr { trap privileged }
            M = if PREV == 1 { usr } else { sup }
            P = EPC + 1
        }
        inst HALT                { if M == usr { trap privileged }  halt }
        guests run in usr
    }
    program calls on i {
        init SSP = 200
        init USP = 100
        init VBR = 16
        data 19: 40                      // the vector of cause sc (number 3)
        LI X1, 5
        LI X2, 7
        ADD X3, X1, X2
        MOVI 0, 9                        // X0 is hard-wired: the write is ignored
        PUSH X3                          // on the supervisor stack: the program starts in sup
        SC
        POP X4
        HALT
        org 40
        PUSH X1
        POP X5
        RTE
    }
    program illegal on i {
        MOVI 6, 1
    }
"""


def spec() -> ir.Spec:
    return spec_from(SPEC)


def value(result: object, name: str) -> int:
    return result.state.get(ir.StateRef(name))  # type: ignore[attr-defined]


def test_arrays_banks_and_the_trap_entry_run() -> None:
    result = run_program(spec(), "calls")
    assert result.status == "halted"
    assert [value(result, f"X{k}") for k in range(6)] == [0, 5, 7, 12, 12, 5]
    assert value(result, "SSP") == 200 and value(result, "USP") == 100  # pushed and popped back
    assert value(result, "EPC") == 15 and value(result, "CAUSE") == 3  # SC at 15; cause sc is 3
    assert result.state.memory[199] == 12  # PUSH X3 wrote the supervisor stack


def test_an_index_past_the_last_register_is_illegal() -> None:
    records: list[StepRecord] = []
    run_program(spec(), "illegal", 1, trace=records.append)
    assert records[0].instruction == "MOVI" and records[0].trapped == "illegal"


def test_a_register_operand_of_an_array_takes_its_element_names() -> None:
    program = spec().program("calls")
    assert program is not None
    first = program.instructions[0]
    assert first.name == "LI" and first.operands == (1, 5)  # X1 is element 1


def test_banked_registers_keep_ordinary_instructions_innocuous() -> None:
    report = classify_isa(spec().isa("i"))
    for name in ("PUSH", "POP", "LI", "ADD", "MOVI", "GETI"):
        inst = report.instruction(name)
        assert inst is not None and inst.known("mode-sensitive") is False, name
    # Naming a copy is not banking: USP reads differently from sup than from usr.
    getusp = report.instruction("GETUSP")
    assert getusp is not None and getusp.holds("mode-sensitive")
    witness = getusp.answers["mode-sensitive"].witness
    assert witness is not None
    sup, usr = witness.runs
    # The two states read alike through SP: each mode's copy holds the same value ...
    assert sup.before.get(ir.StateRef("SSP")) == usr.before.get(ir.StateRef("USP"))
    # ... and GETUSP's results differ.
    assert witness.shows[0] != witness.shows[1]
    assert [r.name for r in report.verdicts["T1"].offending] == ["GETUSP"]


def test_the_trap_entry_areas_are_where_the_reset_state_puts_them() -> None:
    machine = spec().machines[0]
    # From the reset state (VBR = 0) a trap reads phys[0 + cause], one word per cause.
    assert trap_words(machine) == frozenset(range(len(machine.causes)))


@pytest.mark.parametrize("operands", [(0, 1), (5, 0xFFFF), (6, 3), (15, 2)])
def test_the_reference_interpreter_agrees(operands: tuple[int, int]) -> None:
    from vdsl.analysis.states import run_concrete
    from vdsl.emulator.state import MachineState

    isa = spec().isa("i")
    assert isa is not None
    movi = isa.instruction("MOVI")
    assert movi is not None
    for mode in (0, 1):
        state = MachineState.empty(isa.machine)
        state.slots[state.mode_index] = mode
        expected = reference.execute(isa.machine, movi, operands, state)
        compiled = run_concrete(isa.machine, movi, operands, state, "compiled")
        assert compiled.cause == expected.cause
        assert compiled.after.slots == expected.after.slots


HEAD = "machine n { word 16 memory E[64] modes { s > u } reg P pc "


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(HEAD + "reg X[4] }\nisa i for n { inst A { X = 1 } }",
                 ["2:24 V043 'X' is a register array: name one of its registers; hint: write `X[i]` "
                  "(i from 0 to 3), or `X3`"], id="array-without-index"),
    pytest.param(HEAD + "reg X[4] }\nisa i for n { inst A { P = X[1:0] } }",
                 ["2:28 V043 'X' is a register array: index it with one number; hint: write `X[i]` for an "
                  "element and slice that element, e.g. `X0[3:0]`"], id="array-sliced"),
    pytest.param(HEAD + "reg X[4] }\nisa i for n { inst A { X[4] = 1 } }",
                 ["2:26 V023 'X' has registers 0 to 3, not 4; hint: index it below 4"], id="index-too-big"),
    pytest.param(HEAD + "reg X[4] zero }", ["1:59 V043 'zero' on the register array 'X' must name its "
                                              "element; hint: e.g. `reg X[4] zero 0`: X0 always reads 0"],
                 id="array-zero-without-element"),
    pytest.param(HEAD + "reg A zero 1 }", ["1:59 V043 'zero 1' names an element, but 'A' is not a register "
                                             "array; hint: write `reg A zero` for a register that always "
                                             "reads 0"], id="zero-element-of-a-scalar"),
    pytest.param(HEAD + "reg X[0] }", ["1:59 V023 a register array has 1 to 4096 elements, not 0; hint: "
                                         "e.g. `reg X[32]: 32`"], id="empty-array"),
    pytest.param(HEAD + "reg X[2] reg X1 }", ["1:68 V011 'X1' is defined twice in machine 'n'; hint: rename "
                                                "one of them"], id="element-clash"),
    pytest.param(HEAD + "reg A }\nisa i for n { inst B d: Y { d = 1 } }",
                 ["2:22 V043 operand 'd: Y' needs a register array, and 'Y' is not one; hint: declare one "
                  "in the machine, e.g. `reg X[32]: 32`, or write `reg` for any general register or a "
                  "width for an immediate"], id="operand-of-no-array"),
    pytest.param(HEAD + "reg SP banked { S0: s } }",
                 ["1:59 V044 no copy of the banked register 'SP' for mode u; hint: add the mode to a copy, "
                  "e.g. `S0: s u`"], id="bank-missing-mode"),
    pytest.param(HEAD + "reg SP banked { S0: s u, S1: u } }",
                 ["1:84 V044 mode 'u' selects two copies of 'SP': 'S0' and 'S1'; hint: list each mode "
                  "once"], id="bank-mode-twice"),
    pytest.param(HEAD + "reg SP banked { S0: s, S1: uu } }",
                 ["1:82 V014 unknown mode 'uu'; hint: did you mean 'u'?"], id="bank-unknown-mode"),
    pytest.param(HEAD + "reg Q pc banked { S0: s, S1: u } }",
                 ["1:59 V044 the banked register 'Q' cannot be the pc; hint: a banked register is a plain "
                  "register with one copy per mode"], id="banked-pc"),
    pytest.param(HEAD + "reg SP banked { S0: s, S1: u } }\nisa i for n { inst N { } }\nprogram p on i { init SP = 3 N }",
                 ["3:23 V010 'SP' is a banked register: name one of its copies; hint: its copies are S0, S1"],
                 id="init-of-a-banked-register"),
    pytest.param("machine n { word 16 memory E[64] modes { s > u } reg P pc "
                 "trap { entry { P = mem[cause] } } }",
                 ["1:78 V045 the trap entry reads and writes memory by physical address; hint: write "
                  "`phys[...]`: the trap mechanism is not relocated"], id="entry-relocated-memory"),
    pytest.param("machine n { word 16 memory E[64] modes { s > u } reg P pc "
                 "trap { entry { trap illegal } } }",
                 ["1:74 V045 the trap entry cannot trap; hint: the trap mechanism runs once per trap; "
                  "check the condition in the instruction instead"], id="entry-traps"),
])
def test_diagnostics(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


# ---------------------------------------------------------------- under a monitor

BANKED = """
machine bk {
    word 16
    memory E[256]
    modes { supervisor > user }
    reg A
    reg SP banked { USP: user, SSP: supervisor }
    reg P pc
    control reg R { base: 8, bound: 8 }
    relocate through R
    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }
}
isa bk for bk {
    inst LDI v    { A = v }
    inst PUSH     { SP = SP - 1  mem[SP] = A }
    inst POP      { A = mem[SP]  SP = SP + 1 }
    inst SETSP v  { SP = v }
    inst LPSW a   { if M == user { trap privileged }  (M, P, R) = mem[a] }
    inst GETUSP   { A = USP }
    inst HALT     { if M == user { trap privileged }  halt }
    guests run in user
}
program kernel on bk {
    mode supervisor
    data 4: 0, handler, 0, 64
    data 12: 1, 20, 0, 64            // the PSW LPSW 12 loads: user mode at 20
    org 16
start:
    SETSP 60                         // the kernel's stack, in SSP
    LPSW 12
    org 20
    SETSP 50                         // the user's stack, in USP
    LDI 7
    PUSH                             // mem[49] = 7
    LDI 0
    POP
    HALT                             // privileged: traps to the handler
handler:
    LDI 9
    PUSH                             // the kernel's stack: mem[59] = 9
    HALT
    entry start
}
program peek on bk {
    mode supervisor
    data 4: 0, handler, 0, 64
    org 16
start:
    SETSP 60
    GETUSP                           // the user's stack pointer, read from supervisor mode
    HALT
handler:
    HALT
    entry start
}
hypervisor m on bk { guests run in user  allocate memory 64 per guest  schedule round_robin quantum 4 }
scenario s {
    hypervisor m
    guest k runs kernel in supervisor
}
scenario p {
    hypervisor m
    guest k runs peek in supervisor
}
"""


def test_a_guest_kernel_keeps_its_own_stack_under_a_monitor() -> None:
    from vdsl.monitor.run import run_scenario

    spec = spec_from(BANKED)
    report = classify_isa(spec.isa("bk"))
    assert [r.name for r in report.verdicts["T1"].offending] == ["GETUSP"]
    scenario = spec.scenario("s")
    assert scenario is not None
    (guest,) = run_scenario(scenario, None, 1000).guests
    # Deprivileged to user mode, the kernel's pushes still go to its supervisor stack, and its
    # user program's to the user stack: the monitor swaps the banks with the virtual mode.
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    peek = spec.scenario("p")
    assert peek is not None
    (guest,) = run_scenario(peek, None, 1000).guests
    # Naming a copy is not banking: run directly, GETUSP reads the guest kernel's stack pointer.
    assert not guest.equivalent and guest.divergence is not None
    assert guest.divergence.instruction == "GETUSP"
    assert guest.divergence.explanation is not None
    assert "mode-sensitive" in guest.divergence.explanation.classes


def test_the_bundled_riscv_boots_through_mtvec() -> None:
    from conftest import SPECS

    from vdsl import compile_files

    result = run_program(compile_files(SPECS / "riscv.vspec"), "boot")
    assert result.status == "halted" and result.state.machine.modes[result.state.mode] == "machine"
    ecall = 21  # ADDI (4 words) x2, CSRRW (4) x2, MRET (1), ADDI (4): the ECALL is at 21
    assert value(result, "MEPC") == value(result, "X7") == ecall
    assert value(result, "MCAUSE") == value(result, "X6") == 8  # an environment call from U
    assert result.state.get(ir.StateRef("MSTATUS", "MPP")) == 0  # it came from U
    assert value(result, "PC") == value(result, "MTVEC") + 7  # two CSRRS and WFI past the handler


def test_an_encoded_isa_names_array_registers_in_fields() -> None:
    spec = spec_from("""
        machine m { word 16 memory E[256] modes { s > u } reg X[8]: 16 zero 0 reg P pc }
        isa i for m {
            inst ADD d: X, a: X, b: X = "0001 d a b ..." { d = a + b }
            inst LI d: X, v: 8 = "0010 d . v"          { d = zext(v, 16) }
            inst HALT = "1111 ............"            { halt }
        }
        program p on i { LI X1, 5  LI X2, 7  ADD X3, X1, X2  HALT }
    """)
    result = run_program(spec, "p")
    assert result.status == "halted" and value(result, "X3") == 12
    # ADD X3, X1, X2: 0001 011 001 010 000; each field holds the element's number, 3 bits.
    assert result.state.memory[2] == 0b0001_011_001_010_000


def test_a_narrow_index_reaches_only_the_first_elements() -> None:
    # X[i] with a 2-bit i names X0..X3: writing X[0] must not touch X4 (which 4 would wrap to).
    spec = spec_from("""
        machine t { word 16 memory E[64] modes { s > u } reg X[8] reg P pc }
        isa t for t {
            inst W i: 2, v { X[i] = v }
            inst R d: X, i: 2 { d = X[i] }
            inst HALT { halt }
        }
        program p on t { mode s  W 0, 7  W 3, 9  R X5, 3  HALT }
    """)
    result = run_program(spec, "p")
    assert [value(result, f"X{k}") for k in range(8)] == [7, 0, 0, 9, 0, 9, 0, 0]
    isa = spec.isa("t")
    assert isa is not None
    from vdsl.analysis.states import run_concrete
    from vdsl.emulator.state import MachineState

    write = isa.instruction("W")
    assert write is not None
    state = MachineState.empty(isa.machine)
    expected = reference.execute(isa.machine, write, (0, 7), state)
    assert run_concrete(isa.machine, write, (0, 7), state, "c").after.slots == expected.after.slots


def test_a_fault_in_the_trap_entry_is_a_clear_error() -> None:
    from vdsl import RunError

    spec = spec_from("""
        machine t {
            word 16 memory E[64] modes { s > u } reg A reg P pc
            trap { entry { M = s  P = phys[A] } }
        }
        isa t for t { inst BAD { trap illegal } }
        program p on t { init A = 100  BAD }
    """)
    with pytest.raises(RunError) as caught:
        run_program(spec, "p")
    assert "its trap mechanism faulted (cause memory) while taking a trap 'illegal' at pc 0" in str(caught.value)


def test_next_has_no_meaning_in_a_trap_entry() -> None:
    assert diagnostics_of(HEAD + "trap { entry { P = next } } }") == [
        "1:78 V045 the trap entry has no next instruction; hint: the pc holds the trapping instruction's "
        "address: write `PC` (or `PC + SIZE`)"]


def test_a_trap_entry_reads_the_specs_constants() -> None:
    spec = spec_from("""
        const VEC = 12
        machine t {
            word 16 memory E[64] modes { s > u } reg A reg P pc
            trap { entry { M = s  P = phys[VEC + cause] } }
        }
        isa t for t { inst BAD { trap illegal }  inst HALT { halt } }
        program p on t { mode u  BAD  data 14: 20  org 20  HALT }
    """)
    result = run_program(spec, "p")
    assert result.status == "halted" and value(result, "P") == 21  # BAD (illegal, 2) -> phys[14] = 20


def test_an_extension_lists_each_name_once() -> None:
    text = ("machine t { word 16 memory E[64] modes { s > u } reg P pc control reg F }\n"
            "isa t for t { inst H { halt }  virtualization v { shadow F, F; exits { H, H } } }")
    assert [d.split(";")[0] for d in diagnostics_of(text)] == [
        "2:32 V011 'H' is listed twice in `exits`", "2:61 V011 'F' is listed twice in `shadow`"]
