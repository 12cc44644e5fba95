"""The classification (`vdsl.analysis.classify`): a corpus of small ISAs with hand-derived answers.

Every row of `CORPUS` is data: (test id, spec text, instruction, the classes expected —
exactly, in report order — and the guest mode to classify with, None for the isa's own).
Each answer was derived by hand from the definitions in DESIGN.md section 1; the comment
on each row says why.  `tests/unit/test_analysis_questions.py` replays the witnesses of the
same corpus on the emulator.

Reminders from DESIGN.md used below: executions that trap are excluded from the
sensitivity questions; privileged = traps in every state of the guest context and never
in the most privileged mode; user-sensitive = control-sensitive in the guest context, or
location-sensitive among guest-context states (mode-sensitivity does not count);
timing-sensitivity alone does not make an instruction sensitive.
"""

from __future__ import annotations

import functools

import pytest
from conftest import spec_from

from vdsl.analysis.classify import IsaReport, check_expectation, classify_isa
from vdsl.errors import RunError
from vdsl.ir import nodes as ir

# PG74's machine, small (8-bit words, 16 words of memory) so that every question is quick,
# with the kinds of state the generalized definitions talk about: a control register C, a
# flags register F whose IF bit is control state and whose Z bit is not, a timing register T.
PG = """\
machine pg {
    word 8
    memory E[16]
    modes { supervisor > user }
    reg A
    reg B
    reg P pc
    control reg R { base, bound }
    control reg C
    reg F { control IF [0], Z [1] }
    timing reg T
    relocate through R
    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}
"""

# Three modes; guests are deprivileged to the middle one (ring compression).
RINGS = """\
machine rings {
    word 8
    memory E[16]
    modes { ring0 > ring1 > ring3 }
    reg A
    reg P pc
    control reg C
}
"""

# x86-style flags: IOPL is control state, and the monitor can pin it while guests run.
IOPL = """\
machine x {
    word 8
    memory E[16]
    modes { ring0 > ring3 }
    reg A
    reg P pc
    reg FL { control IF [0], control IOPL [2:1] }
}
"""


# No relocation: `mem` and `phys` are the same, and nothing is location-sensitive.
FLAT = """\
machine flat {
    word 8
    memory E[16]
    modes { supervisor > user }
    reg A
    reg P pc
    relocate none
}
"""


def pg(*instructions: str, extra: str = "") -> str:
    """PG's machine and an isa `t` with these instructions (and extra isa items)."""
    body = "\n".join(f"    inst {i}" for i in instructions)
    return PG + f"isa t for pg {{\n{body}\n{extra}}}\n"


def rings(*instructions: str, extra: str = "    guests run in ring1\n") -> str:
    body = "\n".join(f"    inst {i}" for i in instructions)
    return RINGS + f"isa t for rings {{\n{body}\n{extra}}}\n"


def flat(*instructions: str) -> str:
    body = "\n".join(f"    inst {i}" for i in instructions)
    return FLAT + f"isa t for flat {{\n{body}\n}}\n"


def iopl(*instructions: str, extra: str = "    guests run in ring3\n") -> str:
    body = "\n".join(f"    inst {i}" for i in instructions)
    return IOPL + f"isa t for x {{\n{body}\n{extra}}}\n"


CLI_IOPL = "CLI { if M == ring3 && FL.IOPL != 3 { trap privileged }  FL.IF = 0 }"

INNOCUOUS = ("innocuous",)
PRIVILEGED_CONTROL = ("privileged", "control-sensitive")
CONTROL_USER = ("control-sensitive", "user-sensitive")
MODE = ("mode-sensitive", "behaviour-sensitive")
LOCATION_USER = ("location-sensitive", "behaviour-sensitive", "user-sensitive")
# Reading other control state is user-sensitive too: in the guest mode a hybrid monitor's real
# control state is not the guest's.
STATE_USER = ("behaviour-sensitive", "user-sensitive")


def row(name: str, text: str, instruction: str, classes: tuple[str, ...],
        guest_mode: str | None = None) -> pytest.param:
    return pytest.param(text, instruction, classes, guest_mode, id=name)


CORPUS = [
    # ---- innocuous
    # A relocated read: with R.base and E shifted together it reads the same word.
    row("load", pg("LOAD a { A = mem[a] }"), "LOAD", INNOCUOUS),
    # A relocated write: lands at the shifted address, the shifted original.
    row("store", pg("STORE a { mem[a] = A }"), "STORE", INNOCUOUS),
    # P is relative to R: reading it is the same in every relocation.
    row("read-pc", pg("GETP { A = P }"), "GETP", INNOCUOUS),
    # A call: `next` is relative to R too.
    row("call", pg("CALL a { A = next  P = a }"), "CALL", INNOCUOUS),
    # Only general state, in every mode alike.
    row("add", pg("ADD a { A = A + mem[a] }"), "ADD", INNOCUOUS),
    # P is relative to R: a jump is the same in every relocation.
    row("jump", pg("JMP a { P = a }"), "JMP", INNOCUOUS),
    # Z is an ordinary field of a register that also holds control state: not control state.
    row("clear-ordinary-field", pg("CLZ { F.Z = 0 }"), "CLZ", INNOCUOUS),
    # Writing timing state is not control-sensitive; the result does not depend on T.
    row("write-timing", pg("WRT a { T = a }"), "WRT", INNOCUOUS),
    # Swaps A with a relocated word: only relocated memory and general state.
    row("exchange", pg("XCH a { let t = mem[a]  mem[a] = A  A = t }"), "XCH", INNOCUOUS),
    # Stores through A as an address: relocated, so the shifted original.
    row("push", pg("PSH { mem[A] = A  A = A + 1 }"), "PSH", INNOCUOUS),
    # Traps when R.base == 0: a program moved up from base 0 no longer traps.  A trap only one of
    # the two runs takes is a difference (the monitor does not get control through it): location-
    # sensitive, and in user mode too.
    row("traps-on-base", pg("TST { if R.base == 0 { trap privileged } }"), "TST", LOCATION_USER),

    # ---- privileged
    # Traps in user mode and never in supervisor mode, for every operand; it writes C.
    row("privileged", pg("SETC a { if M == user { trap privileged }  C = a }"), "SETC",
        PRIVILEGED_CONTROL),
    # PG74's LPSW: privileged, loads (M, P, R) (control-sensitive), and the R it loads is
    # absolute, not shifted with the relocation (location-sensitive, in supervisor mode
    # only, so not user-sensitive).
    row("lpsw", pg("LPSW a { if M == user { trap privileged }  (M, P, R) = mem[a] }"), "LPSW",
        ("privileged", "control-sensitive", "location-sensitive", "behaviour-sensitive")),

    # ---- control-sensitive
    # Writes M: supervisor -> user changes M; from user mode it changes nothing (PDP-10 JRST 1):
    # not user-sensitive, and the result does not depend on the mode it started in.
    row("control-writes-mode", pg("RETU a { M = user; P = a }"), "RETU", ("control-sensitive",)),
    # Writes M upwards: in user mode it changes M, so user-sensitive too.
    row("control-raises-mode", pg("SETS { M = supervisor }"), "SETS", CONTROL_USER),
    # Writes a control register, in every mode.
    row("control-register", pg("WRC a { C = a }"), "WRC", CONTROL_USER),
    # Writes a control field (F.IF), in every mode.
    row("control-field", pg("CLI { F.IF = 0 }"), "CLI", CONTROL_USER),
    # Writes R.base: changes control state in user mode; and the base it sets is absolute, not
    # shifted with the relocation, so location-sensitive too.
    row("control-relocation", pg("SETB a { R.base = a }"), "SETB",
        ("control-sensitive", "location-sensitive", "behaviour-sensitive", "user-sensitive")),
    # Moves R.base by one: the relocated run's base is the original's shifted, as long as the
    # windows stay inside memory; a base that wraps (255 + 1 = 0) is not a witness.
    row("increment-base", pg("INCB { R.base = R.base + 1 }"), "INCB", CONTROL_USER),
    # Writes R.bound: control state in every mode; the bound does not move with the base.
    row("control-bound", pg("SETBD a { R.bound = a }"), "SETBD", CONTROL_USER),
    # Loads R from memory: changes control state; the loaded base is absolute.
    row("load-relocation", pg("LDRR a { (R, A) = mem[a] }"), "LDRR",
        ("control-sensitive", "location-sensitive", "behaviour-sensitive", "user-sensitive")),
    # Traps in user mode unless R.base == 0, writes C: user mode with base 0 writes C (not
    # privileged, user-sensitive); a user run and its shifted twin (base x != 0) never both run.
    row("traps-unless-base-0", pg("TRU { if M == user && R.base != 0 { trap privileged }  C = 1 }"), "TRU",
        ("control-sensitive", "location-sensitive", "behaviour-sensitive", "user-sensitive")),
    # Traps in supervisor mode only: a guest kernel deprivileged to user mode would run what its
    # bare machine traps on, so mode-sensitive (a trap only the more privileged mode takes counts).
    row("traps-in-supervisor-only", pg("ODD { if M == supervisor { trap privileged }  A = 1 }"), "ODD",
        MODE),
    # Traps when a control field is set: the real machine holds the monitor's value of it.
    row("traps-on-control-field", pg("TIF { if F.IF == 1 { trap privileged }  A = 1 }"), "TIF", STATE_USER),

    # ---- behaviour-sensitive
    # Reads M: two states that differ only in the mode give different A.
    row("mode-sensitive", pg("GETM { A = M }"), "GETM", MODE),
    # Reads R.base: the result is not the shifted original.
    row("location-via-base", pg("LPA a { A = R.base + a }"), "LPA", LOCATION_USER),
    # Reads memory unrelocated: with E shifted under it, phys[a] reads another word.
    row("location-via-phys-read", pg("LDP a { A = phys[a] }"), "LDP", LOCATION_USER),
    # Writes memory unrelocated: the write does not move with the shifted memory.
    row("location-via-phys-write", pg("STP a { phys[a] = A }"), "STP", LOCATION_USER),
    # Stores R (base, bound, then A): the stored base is not shifted (location-sensitive), and
    # the stored bound depends on the bound (other control state, no class of its own).
    row("store-relocation", pg("SWR a { mem[a] = (R, A) }"), "SWR", LOCATION_USER),
    # Stores the mode: mode-sensitive; P is relative, so storing it is not location-sensitive.
    row("store-mode-and-pc", pg("STM a { mem[a] = (M, P) }"), "STM", MODE),
    # P + R.base is the physical pc: location-sensitive.
    row("physical-pc", pg("GETPP { A = P + R.base }"), "GETPP", LOCATION_USER),
    # Privileged physical read: location-sensitive in supervisor mode only, so not user-sensitive.
    row("phys-privileged", pg("LDPP a { if M == user { trap privileged }  A = phys[a] }"), "LDPP",
        ("privileged", "location-sensitive", "behaviour-sensitive")),
    # Physical read in user mode only: the modes differ (A written or not), and in user mode
    # the read does not move with the relocation.
    row("phys-in-user-mode", pg("LDPU a { if M == user { A = phys[a] } }"), "LDPU",
        ("mode-sensitive", "location-sensitive", "behaviour-sensitive", "user-sensitive")),
    # Without relocation phys[] is mem[]: nothing moves.
    row("phys-without-relocation", flat("LDP a { A = phys[a] }"), "LDP", INNOCUOUS),
    # Reads a control register: sensitive to other control state, nothing else.
    row("other-control-register", pg("GETC { A = C }"), "GETC", STATE_USER),
    # Reads a control field.
    row("other-control-field", pg("GETIF { A = zext(F.IF, 8) }"), "GETIF", STATE_USER),
    # Reads R's bound: not the base (shifting R keeps the bound), but control state.
    row("other-control-bound", pg("GETB { A = R.bound }"), "GETB", STATE_USER),

    # ---- timing
    # Reads timing state: timing-sensitive, and innocuous (timing is not control state).
    row("timing", pg("RDT { A = T }"), "RDT", ("timing-sensitive", "innocuous")),
    # The same read, privileged.
    row("timing-privileged", pg("RDTP { if M == user { trap privileged }  A = T }"), "RDTP",
        ("privileged", "timing-sensitive", "innocuous")),

    # ---- the tricky cases of the issue
    # Traps in user mode only for a == 0: with a == 1 user mode runs it, so not privileged; the
    # runs that do not trap are the same in both modes.
    row("traps-for-some-operands", pg("CHK a { if M == user && a == 0 { trap privileged }  A = a }"),
        "CHK", INNOCUOUS),
    # The same, writing C: with a == 0 user mode writes C, so control- and user-sensitive.
    row("traps-for-some-operands-writes-control",
        pg("SETCX a { if M == user && a != 0 { trap privileged }  C = a }"), "SETCX", CONTROL_USER),
    # Ignores the write in user mode: never traps (not privileged); supervisor mode changes IF
    # (control-sensitive); the two modes give different IF (mode-sensitive); in user mode it
    # changes nothing (not user-sensitive).
    row("silently-ignores-write", pg("POPF a { if M == supervisor { F.IF = a[0] } }"), "POPF",
        ("control-sensitive", "mode-sensitive", "behaviour-sensitive")),
    # Reads control state only through a branch: where it jumps depends on IF.
    row("reads-control-through-branch", pg("JIF a { if F.IF == 1 { P = a } }"), "JIF", STATE_USER),
    # Reads the mode only through a branch.
    row("reads-mode-through-branch", pg("JSUP a { if M == supervisor { P = a } }"), "JSUP", MODE),
    # Traps in both modes: traps in supervisor mode, so not privileged; never runs, so nothing
    # it does is sensitive.
    row("traps-in-both-modes", pg("BAD { trap privileged }"), "BAD", INNOCUOUS),
    # A supervisor call: the same.
    row("supervisor-call", pg("SVC { trap svc }"), "SVC", INNOCUOUS),
    # Always memory-traps (phys[16] is past the end of E): memory traps are excluded, and
    # trapping in supervisor mode is not privileged.
    row("always-memory-traps", pg("OOB { A = phys[16] }"), "OOB", INNOCUOUS),

    # ---- halting
    # Halts in every mode alike: the processor's run state is control state once guests share the
    # processor, so a halt that does not trap is control-sensitive (and user-sensitive: a guest
    # would stop the real machine).
    row("halt", pg("HALT { halt }"), "HALT", CONTROL_USER),
    # Privileged halt (PG74's HALT, x86 HLT): privileged and control-sensitive.
    row("halt-privileged", pg("HALTP { if M == user { trap privileged }  halt }"), "HALTP",
        PRIVILEGED_CONTROL),
    # Halts in user mode only: halting is part of the result, so the modes differ.
    row("halt-in-user-mode", pg("HALTU { if M == user { halt } }"), "HALTU",
        ("control-sensitive", "mode-sensitive", "behaviour-sensitive", "user-sensitive")),

    # ---- register operands (general registers only: A and B)
    # Copies between general registers: d can never name R, C, F or T.
    row("register-operands", pg("MOVR d: reg, s: reg { d = s }"), "MOVR", INNOCUOUS),
    # Writes the mode into a general register.
    row("register-operand-mode", pg("GETMR d: reg { d = M }"), "GETMR", MODE),

    # ---- three modes, guests in the middle one (ring compression)
    # Traps in ring3 only: privileged when guests run in ring3 ...
    row("ring-compression-ring3", rings("WRC1 a { if M == ring3 { trap privileged }  C = a }"), "WRC1",
        PRIVILEGED_CONTROL, "ring3"),
    # ... but not when they run in ring1 (the isa's own context), where it writes C.
    row("ring-compression-ring1", rings("WRC1 a { if M == ring3 { trap privileged }  C = a }"), "WRC1",
        CONTROL_USER),
    # Traps everywhere but ring0: privileged for either guest mode.
    row("ring0-only-ring1", rings("WRC0 a { if M != ring0 { trap privileged }  C = a }"), "WRC0",
        PRIVILEGED_CONTROL),
    row("ring0-only-ring3", rings("WRC0 a { if M != ring0 { trap privileged }  C = a }"), "WRC0",
        PRIVILEGED_CONTROL, "ring3"),
    # Traps in ring3, reads the mode otherwise (ring0 and ring1 give different A): privileged
    # and mode-sensitive for ring3 guests; for ring1 guests mode-sensitive, unprivileged, and
    # still not user-sensitive (mode-sensitivity does not count for Theorem 3).
    row("ring-privileged-mode-sensitive-ring3", rings("RDM { if M == ring3 { trap privileged }  A = M }"),
        "RDM", ("privileged", *MODE), "ring3"),
    row("ring-privileged-mode-sensitive-ring1", rings("RDM { if M == ring3 { trap privileged }  A = M }"),
        "RDM", MODE),
    # Reads the mode in a three-mode machine.
    row("ring-mode-sensitive", rings("GETM { A = M }"), "GETM", MODE),

    # ---- a pinned control field (IOPL): CLI faults in ring3 unless IOPL == 3
    # With IOPL pinned to 0 every guest-context state traps: privileged.
    # Privileged with the pin; user-sensitive all the same: a guest whose own IOPL is 3 would
    # clear IF in ring 3 (the real machine, pinned to 0, traps instead).
    row("iopl-pinned", iopl(CLI_IOPL, extra="    guests run in ring3\n    pin FL.IOPL = 0\n"), "CLI",
        (*PRIVILEGED_CONTROL, "behaviour-sensitive", "user-sensitive")),
    # Without the pin, ring3 with IOPL == 3 runs it and clears IF.
    # (Whether CLI traps depends on IOPL: behaviour-sensitive, through other control state.)
    row("iopl-unpinned", iopl(CLI_IOPL), "CLI", ("control-sensitive", "behaviour-sensitive", "user-sensitive")),
    # Pinned to 3, ring3 never traps.
    row("iopl-pinned-to-3", iopl(CLI_IOPL, extra="    guests run in ring3\n    pin FL.IOPL = 3\n"), "CLI",
        ("control-sensitive", "behaviour-sensitive", "user-sensitive")),
]


@functools.cache
def report_of(text: str, guest_mode: str | None = None) -> IsaReport:
    """The classification of isa `t` in `text` (each spec is classified once per session)."""
    spec = spec_from(text)
    isa = spec.isa("t")
    assert isa is not None
    return classify_isa(isa, guest_mode)


@pytest.mark.parametrize(("text", "instruction", "classes", "guest_mode"), CORPUS)
def test_classes(text: str, instruction: str, classes: tuple[str, ...], guest_mode: str | None) -> None:
    report = report_of(text, guest_mode)
    found = report.instruction(instruction)
    assert found is not None
    assert found.classes == classes


@pytest.mark.parametrize(("text", "instruction", "classes", "guest_mode"), CORPUS)
def test_every_answer_has_evidence(text: str, instruction: str, classes: tuple[str, ...],
                                   guest_mode: str | None) -> None:
    """A claim comes with a witness or a proof, never both or neither."""
    found = report_of(text, guest_mode).instruction(instruction)
    assert found is not None
    assert list(found.answers) == ["privileged", "control-sensitive", "mode-sensitive", "location-sensitive",
                                   "control-state-sensitive", "user-sensitive", "timing-sensitive"]
    for question, answer in found.answers.items():
        assert answer.question == question
        assert (answer.witness is None) != (answer.proof is None), question
        # Positive sensitivity and negative privilege are shown by example, the rest proved;
        # the one exception: an instruction that never runs in the guest context (OOB).
        shown = answer.holds if question != "privileged" else not answer.holds
        if instruction == "OOB" and question == "privileged":
            assert answer.proof == "every execution in the guest context memory-traps"
            shown = False
        assert (answer.witness is not None) == shown, question


# "Sensitive to other control state" has no class of its own (it makes an instruction
# behaviour-sensitive): its answer, where the classes alone do not tell it.
OTHER_CONTROL_STATE = [
    # The stored bound differs with the bound.
    pytest.param(pg("SWR a { mem[a] = (R, A) }"), "SWR", True, id="store-relocation"),
    # Loads R whatever R was: the bound only decides whether it memory-traps.
    pytest.param(pg("LPSW a { if M == user { trap privileged }  (M, P, R) = mem[a] }"), "LPSW", False,
                 id="lpsw"),
    # Writes IF from the operand (or not): the old IF is overwritten, nothing else depends on it.
    pytest.param(pg("POPF a { if M == supervisor { F.IF = a[0] } }"), "POPF", False, id="popf"),
    # Reads the base: location-sensitive, but the base is not "other" control state.
    pytest.param(pg("LPA a { A = R.base + a }"), "LPA", False, id="lpa"),
]


@pytest.mark.parametrize(("text", "instruction", "holds"), OTHER_CONTROL_STATE)
def test_other_control_state(text: str, instruction: str, holds: bool) -> None:
    found = report_of(text).instruction(instruction)
    assert found is not None
    assert found.holds("control-state-sensitive") == holds


def test_guest_mode_default_and_override() -> None:
    text = rings("WRC1 a { if M == ring3 { trap privileged }  C = a }")
    assert report_of(text).guest_mode == "ring1"
    assert report_of(text, "ring3").guest_mode == "ring3"
    # Without `guests run in`, guests run in the least privileged mode.
    assert report_of(rings("GETM { A = M }", extra="")).guest_mode == "ring3"


def test_pins_are_part_of_the_context() -> None:
    report = report_of(iopl(CLI_IOPL, extra="    guests run in ring3\n    pin FL.IOPL = 0\n"))
    assert [(item.name, value) for item, value in report.context.pins] == [("FL.IOPL", 0)]
    assert report_of(iopl(CLI_IOPL)).context.pins == ()


def test_unknown_guest_mode() -> None:
    isa = spec_from(rings("GETM { A = M }")).isa("t")
    assert isa is not None
    with pytest.raises(RunError) as caught:
        classify_isa(isa, "rign1")
    assert str(caught.value) == "there is no mode 'rign1' in machine 'rings'; did you mean 'ring1'?"
    with pytest.raises(RunError) as caught:
        classify_isa(isa, "hypervisor")
    assert str(caught.value) == "there is no mode 'hypervisor' in machine 'rings'; " \
        "the modes of 'rings' are ring0, ring1, ring3"


# ---------------------------------------------------------------- theorems

GOOD = ("LOAD a { A = mem[a] }", "SETC a { if M == user { trap privileged }  C = a }",
        "HALTP { if M == user { trap privileged }  halt }")
GETM = "GETM { A = M }"
RETU = "RETU a { M = user; P = a }"
LPA = "LPA a { A = R.base + a }"
RDT = "RDT { A = T }"
RDTP = "RDTP { if M == user { trap privileged }  A = T }"
POPF = "POPF a { if M == supervisor { F.IF = a[0] } }"
WRC = "WRC a { C = a }"
WRC1 = "WRC1 a { if M == ring3 { trap privileged }  C = a }"
RDM = "RDM { if M == ring3 { trap privileged }  A = M }"


def theorems(name: str, text: str, t1: tuple[str, ...] | None, t2: tuple[str, ...] | None,
             t3: tuple[str, ...] | None, guest_mode: str | None = None) -> pytest.param:
    """Expected verdicts: None for `holds`, else the offending instructions (sorted)."""
    return pytest.param(text, guest_mode, {"T1": t1, "T2": t2, "T3": t3}, id=name)


THEOREMS = [
    # Every sensitive instruction (SETC) is privileged; nothing reads timing state.
    theorems("all-hold", pg(*GOOD), None, None, None),
    # GETM is mode-sensitive and unprivileged; mode-sensitivity is not user-sensitivity.
    theorems("getm", pg(*GOOD, GETM), ("GETM",), ("GETM",), None),
    # RETU is control-sensitive only from supervisor mode: T3 holds (PDP-10's JRST 1).
    theorems("retu", pg(*GOOD, RETU), ("RETU",), ("RETU",), None),
    # LPA is location-sensitive in user mode: T1 and T3 fail.
    theorems("lpa", pg(*GOOD, LPA), ("LPA",), ("LPA",), ("LPA",)),
    # RDT is innocuous but reads timing state unprivileged: only T2 fails.
    theorems("timing", pg(*GOOD, RDT), None, ("RDT",), None),
    # Privileged timing reads do not break T2.
    theorems("timing-privileged", pg(*GOOD, RDTP), None, None, None),
    # Several offenders; the user-sensitive ones alone break T3.
    theorems("several", pg(*GOOD, GETM, RETU, LPA, POPF, WRC, RDT),
             ("GETM", "LPA", "POPF", "RETU", "WRC"), ("GETM", "LPA", "POPF", "RDT", "RETU", "WRC"),
             ("LPA", "WRC")),
    # Ring compression: WRC1 is privileged for ring3 guests, not for ring1 guests.
    theorems("ring1", rings(WRC1), ("WRC1",), ("WRC1",), ("WRC1",)),
    theorems("ring3", rings(WRC1), None, None, None, "ring3"),
    # Mode-sensitive in ring0/ring1 and trapping in ring3: T1 holds for ring3 guests only; T3
    # holds for both (mode-sensitivity is not user-sensitivity).
    theorems("ring-mode-ring1", rings(RDM), ("RDM",), ("RDM",), None),
    theorems("ring-mode-ring3", rings(RDM), None, None, None, "ring3"),
    # The IOPL pin makes CLI privileged.
    theorems("iopl-pinned", iopl(CLI_IOPL, extra="    guests run in ring3\n    pin FL.IOPL = 0\n"),
             None, None, None),
    theorems("iopl-unpinned", iopl(CLI_IOPL), ("CLI",), ("CLI",), ("CLI",)),
]


@pytest.mark.parametrize(("text", "guest_mode", "expected"), THEOREMS)
def test_theorems(text: str, guest_mode: str | None, expected: dict[str, tuple[str, ...] | None]) -> None:
    verdicts = report_of(text, guest_mode).verdicts
    assert sorted(verdicts) == ["T1", "T2", "T3"]
    for theorem, offending in expected.items():
        verdict = verdicts[theorem]
        assert verdict.theorem == theorem
        assert verdict.holds == (offending is None), theorem
        assert tuple(sorted(r.name for r in verdict.offending)) == (offending or ()), theorem


# ---------------------------------------------------------------- expectations


def expect_row(name: str, text: str, *results: tuple[str, bool, str]) -> pytest.param:
    return pytest.param(text, results, id=name)


EXPECTATIONS = [
    expect_row("theorems-hold", pg(*GOOD, extra="    expect T1 holds, T2 holds, T3 holds\n"),
               ("T1 holds", True, "T1 holds"), ("T2 holds", True, "T2 holds"),
               ("T3 holds", True, "T3 holds")),
    expect_row("theorem-fails-when-it-holds", pg(*GOOD, extra="    expect T1 fails\n"),
               ("T1 fails", False, "T1 holds")),
    expect_row("theorem-holds-when-it-fails", pg(*GOOD, GETM, extra="    expect T1 holds, T3 holds\n"),
               ("T1 holds", False, "T1 fails (GETM)"), ("T3 holds", True, "T3 holds")),
    expect_row("fails-with-exactly", pg(*GOOD, GETM, RETU, extra="    expect T1 fails with RETU GETM\n"),
               ("T1 fails with RETU GETM", True, "T1 fails (GETM, RETU)")),
    expect_row("fails-with-one-missing", pg(*GOOD, GETM, RETU, extra="    expect T1 fails with GETM\n"),
               ("T1 fails with GETM", False, "T1 fails (GETM, RETU); also breaking it: RETU")),
    expect_row("fails-with-one-too-many", pg(*GOOD, GETM, extra="    expect T1 fails with GETM LOAD\n"),
               ("T1 fails with GETM LOAD", False, "T1 fails (GETM); not breaking it: LOAD")),
    expect_row("fails-with-but-holds", pg(*GOOD, extra="    expect T1 fails with LOAD\n"),
               ("T1 fails with LOAD", False, "T1 holds; not breaking it: LOAD")),
    expect_row("t3-fails-with",
               pg(*GOOD, GETM, LPA, extra="    expect T3 fails with LPA, T2 fails with GETM\n"),
               ("T3 fails with LPA", True, "T3 fails (LPA)"),
               ("T2 fails with GETM", False, "T2 fails (GETM, LPA); also breaking it: LPA")),
    expect_row("classes", pg(*GOOD, GETM, RETU, extra=(
        "    expect GETM mode-sensitive, GETM behaviour-sensitive, GETM sensitive, GETM not privileged\n"
        "    expect RETU not user-sensitive, RETU privileged, LOAD innocuous, LOAD sensitive\n"
        "    expect SETC not innocuous, SETC privileged\n")),
        ("GETM mode-sensitive", True, "GETM is mode-sensitive, behaviour-sensitive"),
        ("GETM behaviour-sensitive", True, "GETM is mode-sensitive, behaviour-sensitive"),
        ("GETM sensitive", True, "GETM is mode-sensitive, behaviour-sensitive"),
        ("GETM not privileged", True, "GETM is mode-sensitive, behaviour-sensitive"),
        ("RETU not user-sensitive", True, "RETU is control-sensitive"),
        ("RETU privileged", False, "RETU is control-sensitive"),
        ("LOAD innocuous", True, "LOAD is innocuous"),
        ("LOAD sensitive", False, "LOAD is innocuous"),
        ("SETC not innocuous", True, "SETC is privileged, control-sensitive"),
        ("SETC privileged", True, "SETC is privileged, control-sensitive")),
    expect_row("timing-class",
               pg(RDT, extra="    expect RDT timing-sensitive, RDT innocuous, RDT not sensitive\n"),
               ("RDT timing-sensitive", True, "RDT is timing-sensitive, innocuous"),
               ("RDT innocuous", True, "RDT is timing-sensitive, innocuous"),
               ("RDT not sensitive", True, "RDT is timing-sensitive, innocuous")),
]


@pytest.mark.parametrize(("text", "results"), EXPECTATIONS)
def test_expectations(text: str, results: tuple[tuple[str, bool, str], ...]) -> None:
    report = report_of(text)
    found = [(" ".join(r.expectation.words), r.holds, r.detail) for r in report.expectations]
    assert found == list(results)
    # classify_isa evaluates each line with check_expectation, which can be called on its own.
    for expectation, result in zip(report.isa.expects, report.expectations, strict=True):
        assert check_expectation(report, expectation) == result


def test_check_expectation_on_its_own() -> None:
    """An expectation that is not in the spec (the resolver's checks passed)."""
    report = report_of(pg(*GOOD, GETM))
    result = check_expectation(report, ir.Expectation(("T1", "fails", "with", "GETM")))
    assert (result.holds, result.detail) == (True, "T1 fails (GETM)")
    result = check_expectation(report, ir.Expectation(("GETM", "not", "mode-sensitive")))
    assert (result.holds, result.detail) == (False, "GETM is mode-sensitive, behaviour-sensitive")
