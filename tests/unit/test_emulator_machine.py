"""Bare-machine runs with expected final states: halts, traps, step limits, relocation
faults, self-modifying code and traces."""

from __future__ import annotations

import attrs
import pytest
from conftest import SPECS, spec_from

from vdsl import Emulator, RunResult, StepRecord, compile_files, load_program, run_program
from vdsl.emulator.traps import compiled_traps
from vdsl.ir import nodes as ir

# ---------------------------------------------------------------- the bundled PG74 spec

PG74 = compile_files(SPECS / "pg74.vspec")


def get(result: RunResult, ref: str) -> int:
    reg, _, field = ref.partition(".")
    return result.state.get(ir.StateRef(reg, field or None))


def mode_of(result: RunResult) -> str:
    return result.state.machine.modes[result.state.mode]


def traced(spec: ir.Spec, program: str, max_steps: int = 10_000) -> tuple[RunResult, list[StepRecord]]:
    records: list[StepRecord] = []
    return run_program(spec, program, max_steps, trace=records.append), records


def test_supervisor_call() -> None:
    # boot: LPSW 13 enters the user program at E[64] with R = (64, 64)
    # user: LOAD 32 (A = 3), ADD 33 (A = 7), SVC at P = 4 traps into the handler at 200
    # handler: STORE 9, LOAD 8, SUB 12, JZ service; service: E[1] += 1 (return past the SVC),
    #   A = 7 + 100, LPSW 0 returns to P = 5
    # user: STORE 34 (E[98] = 107), HALT at P = 7 is privileged and traps
    # handler: STORE 9, LOAD 8 (cause 1), SUB 12, JZ not taken, LOAD 9 (A = 107), HALT
    result = run_program(PG74, "supervisor_call")
    assert (result.status, result.steps) == ("halted", 22)
    assert get(result, "A") == 107
    assert mode_of(result) == "supervisor"
    assert get(result, "P") == 211                     # the HALT at 210 advanced the pc
    assert (get(result, "R.base"), get(result, "R.bound")) == (0, 1024)
    memory = result.state.memory
    assert memory[98] == 107
    assert memory[0:4] == [1, 7, 64, 64]                # the PSW of the trapping HALT (user, P = 7)
    assert memory[8] == PG74.machines[0].causes.index("privileged")
    assert memory[9] == 107
    assert memory[96:98] == [3, 4]


def test_supervisor_call_traps_twice() -> None:
    result, records = traced(PG74, "supervisor_call")
    assert result.steps == len(records) == 22
    traps = [(r.step, r.pc, r.mode, r.instruction, r.trapped) for r in records if r.trapped]
    assert traps == [(4, 4, "user", "SVC", "svc"), (16, 7, "user", "HALT", "privileged")]
    assert [r.step for r in records] == list(range(1, 23))


def test_bounds_fault() -> None:
    # boot: LPSW 13 enters the user program at E[64] with R = (64, 16)
    # user: LOAD 5 (inside the bound), LOAD 16 (16 >= bound 16: memory trap at P = 2)
    # handler: LOAD 8 (A = the cause, 0), HALT
    result, records = traced(PG74, "bounds_fault")
    assert (result.status, result.steps) == ("halted", 5)
    assert mode_of(result) == "supervisor"
    assert (get(result, "A"), get(result, "P")) == (0, 203)
    assert result.state.memory[0:4] == [1, 2, 64, 16]
    assert result.state.memory[8] == 0
    fault = records[2]
    assert (fault.step, fault.pc, fault.mode, fault.instruction, fault.operands, fault.trapped) == \
        (3, 2, "user", "LOAD", (16,), "memory")
    assert "A" not in fault.registers                  # the faulting LOAD changed nothing


def test_traced_and_untraced_runs_agree_on_pg74() -> None:
    for program in ("supervisor_call", "bounds_fault"):
        plain = run_program(PG74, program)
        with_trace, _ = traced(PG74, program)
        assert (plain.status, plain.steps, plain.state.slots, plain.state.memory) == \
            (with_trace.status, with_trace.steps, with_trace.state.slots, with_trace.state.memory)


# ---------------------------------------------------------------- a machine without traps

PLAIN_INSTRUCTIONS = [
    ("LDI", "v { A = v }"),
    ("ADDI", "v { A = A + v }"),
    ("JMP", "a { P = a }"),
    ("PRIV", "{ A = 99  trap privileged }"),
    ("LD", "a { A = mem[a] }"),
    ("MOV", "d: reg, s: reg { d = s }"),
    ("HALT", "{ halt }"),
]
PLAIN_OP = {name: opcode for opcode, (name, _) in enumerate(PLAIN_INSTRUCTIONS)}
PLAIN = spec_from(f"""
    machine plain {{
        word 16
        memory E[64]
        modes {{ supervisor > user }}
        reg A
        reg P pc
    }}
    isa plain for plain {{
        {" ".join(f"inst {name} {body}" for name, body in PLAIN_INSTRUCTIONS)}
    }}
    program forever on plain {{
    loop:
        JMP loop
    }}
    program count on plain {{
        LDI 0
    loop:
        ADDI 1
        JMP loop
    }}
    program stops on plain {{
        LDI 1
        HALT
    }}
    program privileged_trap on plain {{
        LDI 5
        PRIV
        LDI 6
        HALT
    }}
    program illegal_data on plain {{
        LDI 5
        JMP 50
        data 50: 999
    }}
    program illegal_register on plain {{
        JMP 40
        data 40: {PLAIN_OP["MOV"]}, 1, 0       // MOV P, A: the pc is no general register
    }}
    program falls_off_memory on plain {{
        org 60
        LDI 7
        ADDI 1
    }}
    program straddles_the_end on plain {{
        JMP 63
        data 63: {PLAIN_OP["LDI"]}             // LDI's operand would be word 64
    }}
    program memory_fault on plain {{
        LDI 3
        LD 64
    }}
    """)


def test_a_trap_without_a_trap_mechanism_ends_the_run() -> None:
    result = run_program(PLAIN, "privileged_trap")
    assert (result.status, result.cause, result.steps) == ("trap", "privileged", 2)
    assert (get(result, "A"), get(result, "P")) == (5, 2)   # the trapping PRIV committed nothing
    assert result.message == "trap 'privileged' at pc 2, and machine 'plain' declares no trap mechanism"


def test_a_memory_fault_without_a_trap_mechanism_ends_the_run() -> None:
    result = run_program(PLAIN, "memory_fault")
    assert (result.status, result.cause, result.steps) == ("trap", "memory", 2)
    assert (get(result, "A"), get(result, "P")) == (3, 2)


def test_a_program_that_never_halts_stops_at_the_step_limit() -> None:
    result = run_program(PLAIN, "forever", max_steps=1000)
    assert (result.status, result.steps, result.cause) == ("step_limit", 1000, None)
    assert "1000 steps" in result.message
    assert "--max-steps" in result.message


@pytest.mark.parametrize("max_steps", [0, 1, 2, 3, 7, 63, 64, 65, 66, 129, 1001])
@pytest.mark.parametrize("trace", [False, True])
def test_the_step_limit_is_exact(max_steps: int, trace: bool) -> None:
    # LDI 0, then ADDI 1 / JMP loop alternately: after n steps A = n // 2
    records: list[StepRecord] = []
    result = run_program(PLAIN, "count", max_steps, trace=records.append if trace else None)
    assert (result.status, result.steps) == ("step_limit", max_steps)
    assert get(result, "A") == max_steps // 2
    assert get(result, "P") == (0 if max_steps == 0 else 2 if max_steps % 2 else 4)
    assert len(records) == (max_steps if trace else 0)


def test_halting_on_the_last_allowed_step_is_a_halt() -> None:
    result = run_program(PLAIN, "stops", max_steps=2)
    assert (result.status, result.steps, result.message) == ("halted", 2, "halted after 2 steps")
    assert (get(result, "A"), get(result, "P")) == (1, 3)


def test_a_data_word_used_as_code_is_illegal() -> None:
    result = run_program(PLAIN, "illegal_data")
    assert (result.status, result.cause, result.steps) == ("trap", "illegal", 3)
    assert (get(result, "A"), get(result, "P")) == (5, 50)


def test_a_register_operand_naming_no_general_register_is_illegal() -> None:
    result = run_program(PLAIN, "illegal_register")
    assert (result.status, result.cause, get(result, "P")) == ("trap", "illegal", 40)


def test_fetch_past_the_end_of_memory_traps() -> None:
    result = run_program(PLAIN, "falls_off_memory")
    assert (result.status, result.cause, result.steps) == ("trap", "memory", 3)
    assert (get(result, "A"), get(result, "P")) == (8, 64)


def test_an_instruction_straddling_the_end_of_memory_traps() -> None:
    result = run_program(PLAIN, "straddles_the_end")
    assert (result.status, result.cause, result.steps, get(result, "P")) == ("trap", "memory", 2, 63)


# ---------------------------------------------------------------- a PG74-style machine

ACC_INSTRUCTIONS = [
    ("LDI", "v { A = v }"),
    ("ADDI", "v { A = A + v }"),
    ("LD", "a { A = mem[a] }"),
    ("ST", "a { mem[a] = A }"),
    ("STI", "a, v { mem[a] = v }"),
    ("LDB", "v { B = v }"),
    ("DECB", "{ B = B - 1 }"),
    ("JNZB", "a { if B != 0 { P = a } }"),
    ("ADDC", "v { C = C + v }"),
    ("JMP", "a { P = a }"),
    ("SVC", "{ A = 0xDEAD  trap svc }"),
    ("LPSW", "a { if M == user { trap privileged }  (M, P, R) = mem[a] }"),
    ("HALT", "{ if M == user { trap privileged }  halt }"),
]
ACC_OP = {name: opcode for opcode, (name, _) in enumerate(ACC_INSTRUCTIONS)}
USER_PSW = 1, 0, 64, 16                        # user mode, P = 0, R = (64, 16)
R_SUPERVISOR = 128 << 16                        # R = (0, 128): bound in the high half
R_USER = 64 | 16 << 16

ACC = spec_from(f"""
    machine acc {{
        word 16
        memory E[128]
        modes {{ supervisor > user }}
        reg A
        reg B
        reg C
        reg P pc
        control reg R {{ base, bound }}
        relocate through R
        trap {{
            causes {{ svc }}
            save (M, P, R) -> E[0]
            load (M, P, R) <- E[4]
            cause -> E[8]
        }}
    }}
    isa acc for acc {{
        {" ".join(f"inst {name} {body}" for name, body in ACC_INSTRUCTIONS)}
    }}

    // ---- self-modifying code (the supervisor, unrelocated)
    program patch_operand on acc {{
        org 28
        LDB 2
    again:
        ADDI 1          // 30: its operand is word 31
        STI 31, 10      // from now on it is ADDI 10
        DECB
        JNZB again
        HALT
    }}
    program patch_opcode on acc {{
        org 28
        LDB 2
    again:
        ADDI 1
        STI 30, {ACC_OP["HALT"]}      // ADDI 1 becomes HALT (and a stray 1)
        DECB
        JNZB again
        HALT
    }}
    program patch_ahead on acc {{
        org 28
        LDB 3
    again:
        ADDI 1          // 30
        ST 35           // the operand of the next instruction, run right after
        ADDC 0          // 34: C = C + A
        DECB
        JNZB again
        HALT
    }}

    // ---- traps into the supervisor at `handler` (E[4..7] is the new PSW)
    program supervisor_call on acc {{
        data 4: 0, handler, 0, 128
        data 10: {", ".join(map(str, USER_PSW))}
        org 20
    boot:
        LPSW 10
        org 64
        LDI 5           // user pc 0
        SVC             // user pc 2
        org 100
    handler:
        HALT
        entry boot
    }}
    program fault_mid_block on acc {{
        data 4: 0, handler, 0, 128
        data 10: {", ".join(map(str, USER_PSW))}
        org 20
    boot:
        LPSW 10
        org 64
        LDI 1           // user pc 0
        ADDI 1          // 2
        LD 40           // 4: 40 >= bound 16
        ADDI 5          // 6
        org 100
    handler:
        HALT
        entry boot
    }}
    program runs_past_bound on acc {{
        data 4: 0, handler, 0, 128
        data 10: 1, 0, 64, 4
        org 20
    boot:
        LPSW 10
        org 64
        ADDI 1          // user pc 0
        ADDI 1          // 2; pc 4 is outside the bound
        ADDI 1
        org 100
    handler:
        HALT
        entry boot
    }}
    program straddles_bound on acc {{
        data 4: 0, handler, 0, 128
        data 10: 1, 0, 64, 4
        org 20
    boot:
        LPSW 10
        org 64
        ADDI 1          // user pc 0
        DECB            // 2
        LDI 9           // 3: its operand, pc 4, is outside the bound
        org 100
    handler:
        HALT
        entry boot
    }}
    program illegal_in_user_mode on acc {{
        data 4: 0, handler, 0, 128
        data 10: {", ".join(map(str, USER_PSW))}
        org 20
    boot:
        LPSW 10
        org 64
        LDI 1
        data 66: 500
        org 100
    handler:
        HALT
        entry boot
    }}
    program stores on acc {{
        data 40: 3
        LDI 7
        ST 40
        HALT
    }}
    """)


def run_both(program: str) -> RunResult:
    """Run `program` untraced (compiled blocks) and traced (one instruction at a time); the two
    must end in the same state."""
    plain = run_program(ACC, program)
    records: list[StepRecord] = []
    traced_result = run_program(ACC, program, trace=records.append)
    assert (plain.status, plain.steps, plain.cause) == \
        (traced_result.status, traced_result.steps, traced_result.cause)
    assert plain.state.slots == traced_result.state.slots
    assert plain.state.memory == traced_result.state.memory
    assert len(records) == plain.steps
    return plain


def test_self_modifying_code_runs_the_new_operand() -> None:
    result = run_both("patch_operand")
    # pass 1 runs ADDI 1 (A = 1) and patches it; pass 2 must run ADDI 10 (A = 11)
    assert (result.status, result.steps, get(result, "A")) == ("halted", 10, 11)


def test_self_modifying_code_runs_the_new_instruction() -> None:
    result = run_both("patch_opcode")
    # pass 2 finds HALT where ADDI 1 was
    assert (result.status, result.steps, get(result, "A"), get(result, "P")) == ("halted", 6, 1, 31)


def test_self_modifying_code_ahead_in_a_straight_line() -> None:
    result = run_both("patch_ahead")
    # each pass patches the ADDC right after the store: C = 1 + 2 + 3
    assert (result.status, get(result, "A"), get(result, "C")) == ("halted", 3, 6)
    assert result.state.memory[35] == 3


def test_the_trap_mechanism_saves_and_loads_the_psw() -> None:
    result = run_both("supervisor_call")
    assert (result.status, result.steps) == ("halted", 4)
    memory = result.state.memory
    # saved: mode (user), the pc of the trapping SVC, then R one word per field
    assert memory[0:4] == [1, 2, 64, 16]
    assert memory[8] == ACC.machines[0].causes.index("svc") == 3
    # loaded from E[4..7]: supervisor mode, P = handler (100), R = (0, 128); HALT ran there
    assert mode_of(result) == "supervisor"
    assert (get(result, "P"), get(result, "R.base"), get(result, "R.bound")) == (101, 0, 128)
    assert get(result, "A") == 5                       # SVC's own write is discarded


def test_a_trap_in_the_middle_of_straight_line_code() -> None:
    result = run_both("fault_mid_block")
    assert (result.status, result.steps) == ("halted", 5)
    assert get(result, "A") == 2                       # the instructions before the fault ran
    assert result.state.memory[0:4] == [1, 4, 64, 16]  # saved pc: the faulting LD
    assert result.state.memory[8] == 0                 # memory


def test_fetch_past_the_bound_traps() -> None:
    result = run_both("runs_past_bound")
    assert (result.status, result.steps, get(result, "A")) == ("halted", 5, 2)
    assert result.state.memory[0:4] == [1, 4, 64, 4]
    assert result.state.memory[8] == 0


def test_an_instruction_straddling_the_bound_traps() -> None:
    result = run_both("straddles_bound")
    assert (result.status, result.steps, get(result, "A"), get(result, "B")) == ("halted", 5, 1, 0xFFFF)
    assert result.state.memory[0:4] == [1, 3, 64, 4]
    assert result.state.memory[8] == 0


def test_an_illegal_opcode_reaches_the_trap_mechanism() -> None:
    result = run_both("illegal_in_user_mode")
    assert result.state.memory[0:4] == [1, 2, 64, 16]
    assert result.state.memory[8] == ACC.machines[0].causes.index("illegal")


def test_the_trace_records_register_changes_and_the_trap_mechanisms_writes() -> None:
    records: list[StepRecord] = []
    run_program(ACC, "supervisor_call", trace=records.append)
    assert records == [
        StepRecord(1, 20, "supervisor", "LPSW", (10,), None,
                   {"P": (20, 0), "R": (R_SUPERVISOR, R_USER), "M": (0, 1)}, ()),
        StepRecord(2, 0, "user", "LDI", (5,), None, {"A": (0, 5), "P": (0, 2)}, ()),
        StepRecord(3, 2, "user", "SVC", (), "svc",
                   {"P": (2, 100), "R": (R_USER, R_SUPERVISOR), "M": (1, 0)},
                   ((0, 0, 1), (1, 0, 2), (2, 0, 64), (3, 0, 16), (8, 0, 3))),
        StepRecord(4, 100, "supervisor", "HALT", (), None, {"P": (100, 101)}, ()),
    ]


def test_the_trace_records_memory_writes_with_old_and_new_words() -> None:
    records: list[StepRecord] = []
    run_program(ACC, "stores", trace=records.append)
    store = records[1]
    assert (store.instruction, store.operands, store.registers, store.memory) == \
        ("ST", (40,), {"P": (2, 4)}, ((40, 3, 7),))
    assert store.to_json()["changes"] == {
        "registers": {"P": {"old": 2, "new": 4}},
        "memory": [{"address": 40, "old": 3, "new": 7}],
    }


def test_the_trace_of_a_fetch_fault_names_no_instruction() -> None:
    records: list[StepRecord] = []
    run_program(ACC, "runs_past_bound", trace=records.append)
    fault = records[3]
    assert (fault.step, fault.pc, fault.mode, fault.instruction, fault.operands, fault.trapped) == \
        (4, 4, "user", None, (), "memory")
    assert fault.memory == ((0, 0, 1), (1, 0, 4), (2, 0, 64), (3, 0, 4), (8, 0, 0))


# ---------------------------------------------------------------- driving the emulator (monitors)

GUARDED = spec_from("""
    machine g {
        word 8
        memory E[64]
        modes { high > mid > low }
        reg A
        reg P pc
        control reg R { base: 8, bound: 8 }
        relocate through R
        trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }
    }
    isa g for g {
        inst LD a    { A = mem[a] }
        inst ST a    { mem[a] = A }
        inst PST a   { phys[a] = A }
        inst PLD a   { A = phys[a] }
        inst SVC     { trap svc }
        inst BAD a   { A = phys[a]  trap svc }      // reads, then traps: the read never happened
        inst HALT    { halt }
    }
    program inside on g {                    // P is relative to R: the code at E[32] is at P = 0
        init R.base = 32  init R.bound = 16  init P = 0
        org 32
        LD 10  ST 11  HALT
    }
    program escapes on g {
        init R.base = 32  init R.bound = 16  init P = 0
        org 32
        LD 10  PST 2  PLD 60  BAD 3  HALT
    }
    program runs_off on g {
        init R.base = 32  init R.bound = 32  init P = 14
        org 46
        LD 0  HALT
    }
""")


@attrs.define
class Guard:
    lo: int
    hi: int
    holes: frozenset[int] = frozenset()
    seen: list[tuple[int, bool, int]] = attrs.Factory(list)

    def violation(self, address: int, write: bool, pc: int) -> None:
        self.seen.append((address, write, pc))


def emulator_for(spec: ir.Spec, program: str, **options: object) -> Emulator:
    isa = spec.isas[0]
    found = spec.program(program)
    assert found is not None
    return Emulator(isa, load_program(isa, found), **options)  # type: ignore[arg-type]


def test_step_runs_one_instruction_and_the_counters_count_steps_and_traps() -> None:
    emulator = emulator_for(ACC, "supervisor_call")
    first = emulator.step()
    assert (first.status, first.steps) == ("step_limit", 1)
    assert emulator.state.mode == 1                                  # LPSW entered user mode
    assert emulator.run(100).status == "halted"
    assert (emulator.counters.steps, emulator.counters.traps, emulator.counters.completed) == (4, 1, 3)


def test_a_trap_hook_replaces_the_trap_mechanism_and_may_end_the_run() -> None:
    seen: list[tuple[str, int, int]] = []

    def hook(cause: int, pc: int) -> str | None:
        seen.append((ACC.machines[0].causes[cause], pc, emulator.state.get(ir.StateRef("A"))))
        return "exit"

    emulator = emulator_for(ACC, "supervisor_call", on_trap=hook)
    result = emulator.run(100)
    # SVC at user pc 2 trapped; it changed nothing (A keeps 5, not 0xDEAD); no PSW was saved
    assert seen == [("svc", 2, 5)]
    assert (result.status, result.steps, result.cause) == ("exit", 3, "svc")
    assert result.message == "exit after trap 'svc' at pc 2"
    assert emulator.state.memory[0:4] == [0, 0, 0, 0] and emulator.state.mode == 1


@pytest.mark.parametrize("single", [False, True])
def test_the_guard_sees_no_access_inside_its_window(single: bool) -> None:
    guard = Guard(32, 48)
    emulator = emulator_for(GUARDED, "inside", guard=guard)
    result = emulator.run(1) if single else emulator.run(100)
    for _ in range(10):
        if result.status != "step_limit":
            break
        result = emulator.run(1)
    assert result.status == "halted" and guard.seen == []
    assert emulator.state.memory[43] == emulator.state.memory[42]


def test_the_guard_sees_every_physical_access_outside_its_window() -> None:
    guard = Guard(32, 48, frozenset({42}))
    emulator = emulator_for(GUARDED, "escapes", guard=guard, on_trap=lambda cause, pc: "exit")
    assert emulator.run(100).status == "exit"
    # LD 10 reads E[42] (a hole), PST 2 writes E[2], PLD 60 reads E[60]; BAD's read came before
    # its trap, so it never happened
    assert guard.seen == [(42, False, 0), (2, True, 2), (60, False, 4)]
    assert emulator.state.memory[2] == emulator.state.memory[42]     # the store still happened


def test_the_guard_sees_a_fetch_outside_its_window() -> None:
    guard = Guard(32, 48)
    emulator = emulator_for(GUARDED, "runs_off", guard=guard)
    assert emulator.run(100).status == "halted"
    assert guard.seen == [(48, False, 16)]                           # HALT's fetch at E[48]


def test_the_trap_mechanism_cuts_and_widens_words_and_a_loaded_mode_names_a_mode() -> None:
    spec = spec_from("""
        machine t {
            word 8
            memory E[32]
            modes { a > b > c }                       // 2 bits of mode: the value 3 names no mode
            reg W: 12
            reg P pc
            trap { save (M, P, W) -> E[0]; load (M, P, W) <- E[4] }
        }
        isa t for t { inst SVC { trap illegal } inst HALT { halt } }
        program p on t {
            init W = 0xABC
            data 4: 3, 20, 0xFF
            org 10
            SVC
            org 20
            HALT
        }
    """)
    result = run_program(spec, "p")
    assert result.status == "halted"
    assert result.state.memory[0:3] == [0, 10, 0xBC]                # W cut to the 8-bit word
    assert result.state.mode == 2                                    # 3 is no mode: the least privileged
    assert result.state.get(ir.StateRef("W")) == 0xFF                # widened into 12 bits


def test_the_trap_path_is_compiled_once_per_machine() -> None:
    machine = ACC.machines[0]
    assert compiled_traps(machine) is compiled_traps(machine)
    assert len(compiled_traps(machine)) == len(machine.causes)
    assert "def block" in compiled_traps(machine)[0].source  # type: ignore[attr-defined]
