"""The questions (`vdsl.analysis.questions`): every witness is real.

For each answer of the classification corpus (`test_analysis_classify.CORPUS`) that is shown by
example — a positive sensitivity answer, a negative privileged answer — the witness runs are
replayed here, independently of vdsl's own replay: each run's `before` state is executed with
`compile_instruction`, and the property the answer claims is checked on the concrete states
with this file's own reading of the definitions (which bits are control state, what "differ
only in the mode" and "the shifted original" mean).

Then: a concrete semantics that disagrees with z3 is caught (the replay is not a no-op), and
a question z3 cannot decide in time raises `UndecidedError`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import spec_from
from test_analysis_classify import CORPUS, pg, report_of

from vdsl.analysis import jobs, states
from vdsl.analysis.classify import guest_context
from vdsl.analysis.questions import Answer, Questions, UndecidedError, Witness
from vdsl.analysis.states import ConcreteRun
from vdsl.cli import main
from vdsl.emulator.state import MachineState
from vdsl.errors import InternalError
from vdsl.ir import nodes as ir
from vdsl.semantics.bits import mask
from vdsl.semantics.concrete import Stop, compile_instruction

Bits = dict[int, int]  # slot index -> the bits of that slot


# ---------------------------------------------------------------- this file's reading of the state


def field_bits(field: ir.RegisterField) -> int:
    return mask(field.width) << field.lo


def mode_slot(machine: ir.Machine) -> int:
    return len(machine.registers)


def control_bits(machine: ir.Machine) -> Bits:
    """M, the relocation register, control registers, control fields."""
    bits: Bits = {mode_slot(machine): mask(machine.mode_width)}
    for index, reg in enumerate(machine.registers):
        if reg.kind == "control" or reg.name == machine.relocation:
            bits[index] = mask(reg.width)
        else:
            found = sum(field_bits(f) for f in reg.fields if f.kind == "control")
            if found:
                bits[index] = found
    return bits


def other_control_bits(machine: ir.Machine) -> Bits:
    """Control state besides M and R.base (their own questions)."""
    bits = control_bits(machine)
    del bits[mode_slot(machine)]
    if machine.relocation is not None:
        index = machine.register_index(machine.relocation)
        base = machine.registers[index].field("base")
        assert base is not None
        bits[index] &= ~field_bits(base)
    return {k: v for k, v in bits.items() if v}


def timing_bits(machine: ir.Machine) -> Bits:
    bits: Bits = {}
    for index, reg in enumerate(machine.registers):
        if reg.kind == "timing":
            bits[index] = mask(reg.width)
        else:
            found = sum(field_bits(f) for f in reg.fields if f.kind == "timing")
            if found:
                bits[index] = found
    return bits


def slot_mask(machine: ir.Machine, index: int) -> int:
    if index == mode_slot(machine):
        return mask(machine.mode_width)
    return mask(machine.registers[index].width)


def differ_outside(a: MachineState, b: MachineState, excluded: Bits) -> list[str]:
    """Where two states differ, outside the excluded bits."""
    machine = a.machine
    found = []
    for index in range(len(a.slots)):
        keep = slot_mask(machine, index) & ~excluded.get(index, 0)
        if a.slots[index] & keep != b.slots[index] & keep:
            found.append(machine.registers[index].name if index < len(machine.registers) else "mode")
    found.extend(f"E[{k}]" for k, (x, y) in enumerate(zip(a.memory, b.memory, strict=True)) if x != y)
    return found


def changed(before: MachineState, after: MachineState, bits: Bits) -> bool:
    return any(before.slots[i] & m != after.slots[i] & m for i, m in bits.items())


# ---------------------------------------------------------------- replay


def operand_values(inst: ir.Instruction, witness: Witness) -> tuple[int, ...]:
    assert [name for name, _ in witness.operands] == [o.name for o in inst.operands]
    return tuple(value for _, value in witness.operands)


def replay(machine: ir.Machine, inst: ir.Instruction, operands: tuple[int, ...], run: ConcreteRun) -> None:
    """Execute the run's `before` state and check it gives the run's outcome."""
    before = run.before
    assert before.mode < len(machine.modes), "the witness state names no mode"
    general = {machine.register_index(r.name) for r in machine.general_registers}
    for operand, value in zip(inst.operands, operands, strict=True):
        if operand.kind == "reg":
            assert value in general, f"operand {operand.name} names no general register"
        else:
            assert 0 <= value <= mask(operand.width or machine.word)
    after = before.copy()
    stop, cause_index = compile_instruction(machine, inst, operands)(after.slots, after.memory, {}, None)
    cause = machine.causes[cause_index] if stop == Stop.TRAPPED else None
    assert run.cause == cause, run.label
    assert run.halted == (stop == Stop.HALTED), run.label
    if cause is None:
        assert (run.after.slots, run.after.memory) == (after.slots, after.memory), run.label
    else:  # a trapping instruction changes nothing
        assert (run.after.slots, run.after.memory) == (before.slots, before.memory), run.label


def in_context(state: MachineState, isa: ir.Isa, guest_mode: str) -> bool:
    """In a mode guests run in (the guest mode or a less privileged one), with the pins."""
    machine = isa.machine
    return state.mode >= machine.modes.index(guest_mode) and all(
        state.get(p.target) == p.value for p in isa.context.pins)


def check_privileged_witness(isa: ir.Isa, guest_mode: str, witness: Witness) -> None:
    """Not privileged: the same state in the most privileged mode and in a mode guests run in (in
    the guest context), neither memory-trapping, and it traps in the first or not in the second."""
    top, low = witness.runs
    assert top.before.mode == 0
    assert in_context(low.before, isa, guest_mode)
    only_mode = {mode_slot(isa.machine): mask(isa.machine.mode_width)}
    assert differ_outside(top.before, low.before, only_mode) == []
    assert all(r.cause != "memory" for r in (top, low))
    assert top.trapped or not low.trapped


def check_control_witness(machine: ir.Machine, witness: Witness) -> None:
    (run,) = witness.runs
    assert not run.trapped
    assert run.halted or changed(run.before, run.after, control_bits(machine))


def trap_asymmetry(witness: Witness, virtual: tuple[int, ...]) -> bool:
    """Neither run memory-traps; when one traps, it may stand for the virtual machine (an index
    in `virtual`) and the other, the real machine, does not.  False: neither traps."""
    runs = witness.runs
    assert all(r.cause != "memory" for r in runs)
    if not any(r.trapped for r in runs):
        return False
    assert any(runs[i].trapped and not runs[1 - i].trapped for i in virtual)
    return True


def check_pair_witness(machine: ir.Machine, witness: Witness, varied: Bits, virtual: tuple[int, ...]) -> None:
    """Two states that differ only in `varied`: results differ outside it, or only a run that
    may be the virtual machine's traps."""
    first, second = witness.runs
    assert differ_outside(first.before, second.before, varied) == []
    assert differ_outside(first.before, second.before, {}) != []
    if trap_asymmetry(witness, virtual):
        return
    assert first.halted != second.halted or differ_outside(first.after, second.after, varied) != []


def check_location_witness(machine: ir.Machine, witness: Witness) -> None:
    """The second state is the first with R.base + x and E shifted up by x; the second result
    is not the first result shifted by x."""
    first, second = witness.runs
    x = witness.shift
    assert x is not None and x > 0
    assert machine.relocation is not None
    index = machine.register_index(machine.relocation)
    base_field = machine.registers[index].field("base")
    assert base_field is not None
    base = ir.StateRef(machine.relocation, "base")
    assert second.before.get(base) == first.before.get(base) + x
    # Shifts never wrap: both windows lie inside memory.
    assert second.before.get(base) + second.before.get(ir.StateRef(machine.relocation, "bound")) <= machine.memory.size
    # Registers and mode alike but for the base; memory is compared word by word below.
    assert [name for name in differ_outside(first.before, second.before, {index: field_bits(base_field)})
            if not name.startswith("E[")] == []
    size = machine.memory.size
    assert all(second.before.memory[a] == first.before.memory[a - x] for a in range(x, size))
    if trap_asymmetry(witness, (0, 1)):
        return
    a, b = first.after, second.after
    assert a.get(base) + x < 1 << base_field.width  # the shifted result does not wrap either
    shifted = (first.halted == second.halted and a.mode == b.mode
               and b.get(base) == a.get(base) + x
               and not [name for name in differ_outside(a, b, {index: field_bits(base_field)})
                        if not name.startswith("E[")]
               and all(b.memory[k + x] == a.memory[k] for k in range(size - x)))
    assert not shifted, "the runs memory-trap, trap alike, or the relocated run is the shifted original"


def check_witness(isa: ir.Isa, guest_mode: str, inst: ir.Instruction, answer: Answer) -> None:
    machine = isa.machine
    witness = answer.witness
    assert witness is not None
    operands = operand_values(inst, witness)
    for run in witness.runs:
        replay(machine, inst, operands, run)
    question = answer.question
    assert witness.shift is None or question in ("location-sensitive", "user-sensitive")
    if question == "privileged":
        check_privileged_witness(isa, guest_mode, witness)
    elif question == "control-sensitive":
        check_control_witness(machine, witness)
    elif question == "mode-sensitive":
        check_pair_witness(machine, witness, {mode_slot(machine): mask(machine.mode_width)}, (0,))
        assert witness.runs[0].before.mode < witness.runs[1].before.mode  # the more privileged first
        assert [r.label for r in witness.runs] == [f"mode {machine.modes[r.before.mode]}"
                                                   for r in witness.runs]
    elif question == "location-sensitive":
        check_location_witness(machine, witness)
    elif question == "control-state-sensitive":
        check_pair_witness(machine, witness, other_control_bits(machine), (0, 1))
    elif question == "timing-sensitive":
        check_pair_witness(machine, witness, timing_bits(machine), ())
    elif question == "user-sensitive":
        # Control-sensitive in the guest mode; location-sensitive among guest-context states; or
        # two guest-mode states, the first in the guest context, that differ only in other
        # control state and give different results.
        guest = machine.modes.index(guest_mode)
        assert all(r.before.mode >= guest for r in witness.runs)
        assert witness.runs[0].before.mode == witness.runs[-1].before.mode
        if witness.shift is not None:
            assert in_context(witness.runs[0].before, isa, guest_mode)
            check_location_witness(machine, witness)
        elif len(witness.runs) == 1:
            check_control_witness(machine, witness)
        else:
            assert in_context(witness.runs[0].before, isa, guest_mode)
            check_pair_witness(machine, witness, other_control_bits(machine), (1,))
    else:  # pragma: no cover
        raise AssertionError(question)


@pytest.mark.parametrize(("text", "instruction", "classes", "guest_mode"), CORPUS)
def test_witnesses_replay(text: str, instruction: str, classes: tuple[str, ...],
                          guest_mode: str | None) -> None:
    report = report_of(text, guest_mode)
    inst = report.isa.instruction(instruction)
    found = report.instruction(instruction)
    assert inst is not None and found is not None
    checked = 0
    for question, answer in found.answers.items():
        shown = answer.holds if question != "privileged" else not answer.holds
        if not shown:
            assert answer.witness is None
            continue
        if answer.witness is None:
            # The one negative privileged answer proved, not shown: nothing runs.
            assert question == "privileged"
            assert answer.proof == "every execution in the guest context memory-traps"
            continue
        check_witness(report.isa, report.guest_mode, inst, answer)
        checked += 1
    assert checked == sum(1 for q, a in found.answers.items()
                          if (a.holds if q != "privileged" else not a.holds) and a.witness is not None)


def test_always_memory_trapping_never_runs() -> None:
    """OOB's proof: concretely, phys[16] traps whatever the state (memory has 16 words)."""
    report = report_of(pg("OOB { A = phys[16] }"))
    inst = report.isa.instruction("OOB")
    assert inst is not None
    for mode in (0, 1):
        state = MachineState.empty(report.isa.machine)
        state.slots[state.mode_index] = mode
        stop, cause = compile_instruction(report.isa.machine, inst, ())(state.slots, state.memory, {}, None)
        assert stop == Stop.TRAPPED and report.isa.machine.causes[cause] == "memory"


def test_location_witness_names_its_shift() -> None:
    found = report_of(pg("LPA a { A = R.base + a }")).instruction("LPA")
    assert found is not None
    witness = found.answers["location-sensitive"].witness
    assert witness is not None and witness.shift is not None
    first, second = witness.runs
    assert first.label == "at R"
    assert second.label == f"at R shifted by {witness.shift}"


# ---------------------------------------------------------------- a mode register not called M

CPL = """\
machine rings {
    word 8
    memory E[16]
    modes CPL { ring0 > ring1 > ring3 }
    reg A
    reg M
    reg P pc
}
isa t for rings {
    inst WRM3 { CPL = 3 }
    guests run in ring1
}
"""


def test_witness_names_the_mode_register() -> None:
    """The mode register here is CPL; M is a general register the instruction does not touch,
    so the witness must not talk about it."""
    found = report_of(CPL).instruction("WRM3")
    assert found is not None
    witness = found.answers["user-sensitive"].witness
    assert witness is not None
    assert witness.shows == ("mode ring1: CPL becomes ring3 (was ring1)",)


# ---------------------------------------------------------------- a concrete semantics that lies

BROKEN = pg(
    "GETM { A = M }",
    "WRC a { C = a }",
    "LPA a { A = R.base + a }",
    "GETC { A = C }",
    "RDT { A = T }",
)


def questions_for(text: str) -> tuple[Questions, ir.Isa]:
    isa = spec_from(text).isa("t")
    assert isa is not None
    return Questions(isa, guest_context(isa)), isa


def does_nothing(machine: ir.Machine, instruction: ir.Instruction, operands: tuple[int, ...]):
    def step(r: list[int], E: list[int], W: object, L: object) -> tuple[Stop, int]:
        return Stop.CONTINUE, 0  # nothing written: not even the pc
    return step


def traps_below_top(machine: ir.Machine, instruction: ir.Instruction, operands: tuple[int, ...]):
    real = compile_instruction(machine, instruction, operands)

    def step(r: list[int], E: list[int], W: object, L: object) -> tuple[Stop, int]:
        if r[len(machine.registers)] != 0:
            return Stop.TRAPPED, machine.causes.index("privileged")
        return real(r, E, W, L)  # type: ignore[arg-type]
    return step


def disagreement(name: str, claim: str, detail: str) -> str:
    return (f"the witness z3 found for '{name} {claim}' does not replay on the emulator ({detail}): "
            "the symbolic and concrete semantics disagree")


@pytest.mark.parametrize(("instruction", "ask", "message"), [
    pytest.param("GETM", lambda q, i: q.mode_sensitive(i),
                 disagreement("GETM", "is mode-sensitive", "the runs memory-trap, trap alike, or agree"), id="mode"),
    pytest.param("WRC", lambda q, i: q.control_sensitive(i),
                 disagreement("WRC", "changes control state", "nothing changed"), id="control"),
    pytest.param("LPA", lambda q, i: q.location_sensitive(i),
                 disagreement("LPA", "is location-sensitive", "a window wraps, the runs memory-trap, trap alike, or the relocated run is the shifted original"),
                 id="location"),
    pytest.param("GETC", lambda q, i: q.state_sensitive(i, q.other_control, "control-state-sensitive",
                                                        "declared control state"),
                 disagreement("GETC", "is control-state-sensitive", "the runs memory-trap, trap alike, or agree"), id="state"),
    pytest.param("RDT", lambda q, i: q.state_sensitive(i, q.timing, "timing-sensitive",
                                                       "declared timing state"),
                 disagreement("RDT", "is timing-sensitive", "the runs memory-trap, trap alike, or agree"), id="timing"),
    pytest.param("WRC", lambda q, i: q.user_sensitive(i),
                 disagreement("WRC", "changes control state", "nothing changed"), id="user"),
])
def test_a_lying_emulator_is_caught(monkeypatch: pytest.MonkeyPatch, instruction: str,
                                    ask: Callable[[Questions, ir.Instruction], Answer], message: str) -> None:
    questions, isa = questions_for(BROKEN)
    inst = isa.instruction(instruction)
    assert inst is not None
    assert ask(questions, inst).holds  # the real semantics agree with z3
    monkeypatch.setattr(states, "compile_instruction", does_nothing)
    with pytest.raises(InternalError) as caught:
        ask(questions, inst)
    assert str(caught.value) == message


def test_a_lying_emulator_is_caught_for_privilege(monkeypatch: pytest.MonkeyPatch) -> None:
    """z3 says GETM runs in user mode; an emulator where it traps there contradicts it."""
    questions, isa = questions_for(BROKEN)
    inst = isa.instruction("GETM")
    assert inst is not None
    assert not questions.privileged(inst).holds
    monkeypatch.setattr(states, "compile_instruction", traps_below_top)
    with pytest.raises(InternalError) as caught:
        questions.privileged(inst)
    assert str(caught.value) == disagreement("GETM", "is not privileged", "None, privileged")


def test_a_lying_emulator_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.vspec"
    path.write_text(BROKEN, encoding="utf-8")
    monkeypatch.setattr(states, "compile_instruction", does_nothing)
    jobs.forget()  # answers decided before the patch would skip the replay
    try:
        assert main(["check", str(path)]) == 3
    finally:
        jobs.forget()
    captured = capsys.readouterr()
    assert captured.err == (
        "vdsl: internal error: " + disagreement("GETM", "is mode-sensitive", "the runs memory-trap, trap alike, or agree") + "\n"
        "This is a bug in vdsl; please report it with the spec that caused it (set VDSL_DEBUG=1 for "
        "details).\n")


# ---------------------------------------------------------------- undecided

# Factoring a 64-bit semiprime (4294967291 * 4294967279): no SAT solver does it in 1 ms.
HARD = textwrap.dedent("""\
    machine big {
        word 64
        memory E[4]
        modes { supervisor > user }
        reg A
        reg P pc
        control reg C
    }
    isa t for big {
        inst F a, b {
            if zext(a, 128) * zext(b, 128) == 18446743979220271189 && a != 1 && b != 1 { C = 1 }
        }
    }
""")


def test_undecided() -> None:
    isa = spec_from(HARD).isa("t")
    assert isa is not None
    inst = isa.instruction("F")
    assert inst is not None
    questions = Questions(isa, guest_context(isa), rlimit=1000)
    with pytest.raises(UndecidedError) as caught:
        questions.control_sensitive(inst)
    assert str(caught.value) == ("z3 could not decide whether F changes control state (resource limit 1000 "
                                 "reached)")
    # Asked with the others, the question is answered as undecided and the rest go on.
    answers = questions.ask_all(inst)
    assert answers["control-sensitive"].known is None and answers["user-sensitive"].known is None
    assert answers["mode-sensitive"].known is False and answers["privileged"].known is False


def test_the_limit_is_deterministic() -> None:
    """The same limit decides the same way, whatever the machine's load: it counts z3's steps."""
    isa = spec_from(HARD).isa("t")
    assert isa is not None
    inst = isa.instruction("F")
    assert inst is not None
    outcomes = {Questions(isa, guest_context(isa), rlimit=200_000).ask_all(inst)["control-sensitive"].undecided
                for _ in range(3)}
    assert len(outcomes) == 1


def test_undecided_is_reported_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vdsl check` reports the question z3 cannot decide, decides the rest, and exits 1."""
    path = tmp_path / "hard.vspec"
    path.write_text(HARD.replace("    }\n}", "    }\n    inst H { C = 0 }\n}"), encoding="utf-8")
    jobs.forget()
    try:
        assert main(["check", str(path), "--rlimit", "1000"]) == 1
    finally:
        jobs.forget()
    captured = capsys.readouterr()
    assert "  F            -           ?        -     -         -      ?     -\n" in captured.out
    assert "T1's condition fails: sensitive but not privileged: H (control-sensitive) (undecided for F)" \
        in captured.out
    assert "    F control-sensitive: z3 could not decide whether F changes control state (resource limit " \
        "1000 reached)\n" in captured.out
    assert captured.err == "vdsl: 2 questions undecided: the analysis is incomplete\n"


@pytest.mark.parametrize(("expectation", "status"), [
    ("T1 fails", "ok"),                       # H is a decided offender: T1 fails whatever F is
    ("T1 holds", "FAILED"),
    ("T1 fails with H", "UNDECIDED"),         # exactly H? only if F does not offend
    ("T1 fails with F H", "UNDECIDED"),
    ("T3 holds", "FAILED"),                   # H breaks T3 too (it is user-sensitive)
    ("F control-sensitive", "UNDECIDED"),
    ("F not mode-sensitive", "ok"),           # decided without the undecided question
    ("H innocuous", "FAILED"),
])
def test_an_expectation_on_an_undecided_question(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 expectation: str, status: str) -> None:
    """An expectation is UNDECIDED only when the undecided answer could change it; never ok."""
    path = tmp_path / "hard.vspec"
    path.write_text(HARD.replace("    }\n}", f"    }}\n    inst H {{ C = 0 }}\n    expect {expectation}\n}}"),
                    encoding="utf-8")
    jobs.forget()
    try:
        assert main(["check", str(path), "--rlimit", "1000"]) == 1
    finally:
        jobs.forget()
    captured = capsys.readouterr()
    assert f"  expect {expectation}: {status} (" in captured.out
    assert ("vdsl: 1 expectation undecided\n" in captured.err) == (status == "UNDECIDED")
    assert ("vdsl: 1 expectation failed\n" in captured.err) == (status == "FAILED")


# ---------------------------------------------------------------- what a run shows


def test_a_named_word_written_with_the_value_it_held_stays() -> None:
    # A witness table shows the word both runs are compared on; the line above it must not say
    # "changes nothing" of the run that wrote the word's own value back.
    isa = spec_from(pg("ST a { mem[a] = A }")).isa("t")
    questions = Questions(isa, guest_context(isa), 10_000)
    before = MachineState.empty(isa.machine)
    after = before.copy()
    run = ConcreteRun("A = 0", before, after, None, False)
    assert questions.describe(run, ["E[0]"]) == "A = 0: E[0] stays 0"
    assert questions.describe(run) == "A = 0: changes nothing"
