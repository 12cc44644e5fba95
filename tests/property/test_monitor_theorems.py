"""The theorems, executed: random ISAs, random guest programs, runs under a monitor.

Popek and Goldberg's Theorem 1 says that when every sensitive instruction is privileged, a
trap-and-emulate monitor runs every guest equivalently and keeps it inside its resources;
Theorem 3 says the same of a hybrid monitor when every user-sensitive instruction is
privileged.  Here hypothesis draws instruction sets (random bodies, some wrapped so that they
trap outside the most privileged mode), vdsl classifies them, and random programs run under
the monitor in lockstep with their bare twins:

- where T1's condition holds, every guest under trap-and-emulate is equivalent and keeps to
  its partition;
- where T3's condition holds, the same under hybrid;
- wherever a run first escapes, or diverges before any escape, the instruction that did it is
  one the classification names as breaking the condition of the technique's theorem.

The machine has three modes and runs guests in the middle one (ring compression), a control
register with a pinned field, relocation and a timing register.
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from vdsl import compile_text
from vdsl.analysis.classify import classify_isa
from vdsl.monitor.run import run_scenario

MACHINE = """
machine r {
    word 8
    memory E[160]
    modes { high > middle > low }
    reg A
    reg B
    reg P pc
    control reg F : 8 { IF [0], IOPL [2:1] }
    control reg R { base: 8, bound: 8 }
    timing reg T
    relocate through R
    trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}
"""

# Fixed instructions every program can use: a privileged halt, a supervisor call, and a
# privileged return (load the PSW) so that a guest kernel can enter its user mode.
FIXED = """
    inst HALT { if M != high { trap privileged }  halt }
    inst SVC { trap svc }
    inst LPSW a { if M != high { trap privileged }  (M, P, R) = mem[a] }
"""

LEAVES = st.sampled_from(["A", "B", "a", "T", "zext(F.IF, 8)", "zext(F.IOPL, 8)", "R.base",
                          "zext(M, 8)", "next", "1", "7", "0x80"])


MEMORY = st.tuples(st.sampled_from(["mem", "mem", "phys"]), LEAVES).map(lambda t: f"{t[0]}[{t[1]}]")


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(children, st.sampled_from(["+", "-", "&", "|", "^"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")


# Memory reads of simple addresses only: reads of reads make z3's questions slow to decide.
EXPRESSIONS = st.recursive(st.one_of(LEAVES, MEMORY), _compound, max_leaves=3)
CONDITIONS = st.tuples(EXPRESSIONS, st.sampled_from(["==", "!=", "<"]), EXPRESSIONS).map(
    lambda t: f"{t[0]} {t[1]} {t[2]}")
STATEMENTS = st.one_of(
    EXPRESSIONS.map(lambda e: f"A = {e}"),
    EXPRESSIONS.map(lambda e: f"B = {e}"),
    st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda t: f"mem[{t[0]}] = {t[1]}"),
    EXPRESSIONS.map(lambda e: f"F.IF = ({e} ^ B)[0:0]"),
    EXPRESSIONS.map(lambda e: f"M = ({e} ^ B)[1:0]"),
    EXPRESSIONS.map(lambda e: f"P = {e}"),
    st.just("trap privileged"),
    st.just("halt"),
)
BODIES = st.one_of(
    st.lists(STATEMENTS, min_size=1, max_size=2).map(" ".join),
    st.tuples(CONDITIONS, STATEMENTS, STATEMENTS).map(lambda t: f"if {t[0]} {{ {t[1]} }} else {{ {t[2]} }}"),
)
# Most random instructions would break the theorems; wrapping a body in a trap outside the most
# privileged mode makes it privileged, so that ISAs whose conditions hold come up often.
INSTRUCTIONS = st.tuples(st.sampled_from(["wrap", "wrap", "plain"]), BODIES).map(
    lambda t: f"if M != high {{ trap privileged }}  {t[1]}" if t[0] == "wrap" else t[1])

OPCODES = 4  # random instructions per isa (after the fixed three)


def spec_text(bodies: list[str], programs: list[tuple[str, list[int]]], technique: str) -> str:
    instructions = "\n".join(f"    inst I{k} a {{ {body} }}" for k, body in enumerate(bodies))
    text = MACHINE.replace("relocate through R", "relocate through R") + (
        "isa r for r {\n" + FIXED + instructions + "\n    guests run in middle\n    pin F.IOPL = 1\n}\n")
    text = text.replace("trap { save", "trap { causes { svc } save")
    for name, words in programs:
        text += (f"program {name} on r {{\n    mode high\n    data 4: 0, 40, 0, 48\n"
                 f"    data 10: {', '.join(str(w) for w in words)}\n    entry start\n    org 30\nstart:\n"
                 "    LPSW 10\n    org 40\n    HALT\n}\n")
    text += (f"hypervisor m on r {{ technique {technique}  guests run in middle  pin F.IOPL = 1\n"
             "    allocate memory 48 per guest  schedule round_robin quantum 5 }\n")
    text += "scenario s {\n    hypervisor m\n" + "".join(
        f"    guest {name} runs {name}\n" for name, _ in programs) + "}\n"
    return text


@st.composite
def guest_programs(draw: st.DrawFn) -> list[int]:
    """A guest's first PSW (mode, P, R) and the words of its code: random opcodes and operands,
    ending in HALT.  The kernel enters it with LPSW; every trap goes to its handler at 40."""
    mode = draw(st.integers(0, 2))
    code = []
    for _ in range(draw(st.integers(1, 6))):
        code += [draw(st.integers(0, 3 + OPCODES - 1)), draw(st.integers(0, 47))]
    code.append(0)  # HALT (opcode 0)
    # The PSW at E[10..13], the code from E[14]: P = 14 relative to R = (0, 48).
    return [mode, 14, 0, 48, *code]


def check_run(bodies: list[str], programs: list[list[int]], technique: str, theorem: str) -> None:
    named = [(f"g{k}", words) for k, words in enumerate(programs)]
    spec = compile_text(spec_text(bodies, named, technique), "random.vspec")
    report = classify_isa(spec.isas[0], rlimit=50_000_000)
    if any(r.undecided for r in report.instructions):
        reject()  # an instruction z3 cannot decide quickly says nothing about the monitor
    offenders = {r.name for r in report.verdicts[theorem].offending}
    scenario = spec.scenarios[0]
    run = run_scenario(scenario, max_steps=300)
    for guest in run.guests:
        # The first escape is an offender's doing; after it the real machine is the guest's, and
        # what follows (a privileged instruction running unchecked) is its consequence.
        first = guest.violations[0] if guest.violations else None
        if first is not None:
            assert first.instruction in offenders, (theorem, first, offenders)
        if guest.divergence is not None and (first is None or guest.divergence.step <= first.step):
            assert guest.divergence.instruction in offenders, (theorem, guest.divergence, offenders)
        if not offenders:
            assert guest.equivalent, guest.divergence
            assert guest.resource_control, guest.violations


SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize(("technique", "theorem"), [("trap_and_emulate", "T1"), ("hybrid", "T3")])
@SETTINGS
@given(bodies=st.lists(INSTRUCTIONS, min_size=OPCODES, max_size=OPCODES),
       programs=st.lists(guest_programs(), min_size=1, max_size=2))
def test_runs_keep_the_theorems(technique: str, theorem: str, bodies: list[str],
                                programs: list[list[int]]) -> None:
    check_run(bodies, programs, technique, theorem)


@pytest.mark.slow
@pytest.mark.parametrize(("technique", "theorem"), [("trap_and_emulate", "T1"), ("hybrid", "T3")])
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(bodies=st.lists(INSTRUCTIONS, min_size=OPCODES, max_size=OPCODES),
       programs=st.lists(guest_programs(), min_size=1, max_size=2))
def test_runs_keep_the_theorems_long(technique: str, theorem: str, bodies: list[str],
                                     programs: list[list[int]]) -> None:
    check_run(bodies, programs, technique, theorem)


def test_the_generator_makes_isas_whose_conditions_hold() -> None:
    """The property above is not vacuous: wrapped instructions make the conditions hold."""
    bodies = ["if M != high { trap privileged }  A = zext(M, 8)", "A = A + a", "B = mem[a]",
              "if M != high { trap privileged }  F.IF = (a ^ B)[0:0]"]
    spec = compile_text(spec_text(bodies, [("g0", [0, 14, 0, 48, 4, 3, 5, 7, 6, 9, 0])], "trap_and_emulate"),
                        "fixed.vspec")
    report = classify_isa(spec.isas[0])
    assert report.verdicts["T1"].holds and report.verdicts["T3"].holds
    run = run_scenario(spec.scenarios[0], max_steps=300)
    (guest,) = run.guests
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    assert guest.counters.traps >= 2 and guest.counters.direct >= 2
    assert attrs.asdict(guest.counters)["instructions"] == guest.counters.instructions


# ---------------------------------------------------------------- the industry's answers
#
# Binary translation and paravirtualization exist for the ISAs whose conditions fail: the
# monitor runs the offending instructions itself (translated calls, hypercalls).  So whatever
# the classification says, every guest is equivalent and keeps to its partition.  A
# paravirtual guest is rewritten, so one that read its own code would see the hypercalls: its
# instructions here do not touch memory, and its LPSWs load PSWs from data.

NAMES = ["HALT", "SVC", "LPSW"] + [f"I{k}" for k in range(OPCODES)]


@st.composite
def placed_programs(draw: st.DrawFn) -> tuple[int, list[str]]:
    """A guest's first mode and its code as instructions (placed, so that a paravirtual monitor
    can rewrite them), ending in HALT."""
    code = []
    for _ in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(NAMES[1:]))
        # LPSW loads a PSW from the data (the old PSW, the trap vector, the first PSW), never from
        # the code, which a paravirtual monitor has rewritten.
        operand = draw(st.sampled_from([0, 4, 10])) if name == "LPSW" else draw(st.integers(0, 47))
        code.append(name if name == "SVC" else f"{name} {operand}")
    return draw(st.integers(0, 2)), [*code, "HALT"]


def placed_spec_text(bodies: list[str], programs: list[tuple[int, list[str]]], technique: str) -> str:
    text = spec_text(bodies, [], technique).split("hypervisor m on r")[0]
    for k, (mode, code) in enumerate(programs):
        text += (f"program g{k} on r {{\n    mode high\n    data 4: 0, 40, 0, 48\n    data 10: {mode}, 14, 0, 48\n"
                 "    entry start\n    org 14\n    " + "\n    ".join(code) +
                 "\n    org 30\nstart:\n    LPSW 10\n    org 40\n    HALT\n}\n")
    text += (f"hypervisor m on r {{ technique {technique}  guests run in middle  pin F.IOPL = 1\n"
             "    allocate memory 48 per guest  schedule round_robin quantum 5 }\n")
    return text + "scenario s {\n    hypervisor m\n" + "".join(
        f"    guest g{k} runs g{k}\n" for k in range(len(programs))) + "}\n"


def check_fixed_run(bodies: list[str], programs: list[tuple[int, list[str]]], technique: str) -> None:
    spec = compile_text(placed_spec_text(bodies, programs, technique), "random.vspec")
    report = classify_isa(spec.isas[0], rlimit=50_000_000)
    if any(r.undecided for r in report.instructions):
        reject()
    run = run_scenario(spec.scenarios[0], max_steps=300)
    for guest in run.guests:
        assert guest.equivalent, (technique, guest.divergence)
        assert guest.resource_control, (technique, guest.violations)


REGISTER_ONLY = INSTRUCTIONS.filter(lambda body: "mem[" not in body and "phys[" not in body)


@pytest.mark.parametrize("technique", ["binary_translation", "paravirtual"])
@SETTINGS
@given(bodies=st.lists(REGISTER_ONLY, min_size=OPCODES, max_size=OPCODES),
       programs=st.lists(placed_programs(), min_size=1, max_size=2))
def test_translation_and_paravirtualization_fix_every_isa(technique: str, bodies: list[str],
                                                          programs: list[tuple[int, list[str]]]) -> None:
    check_fixed_run(bodies, programs, technique)


@pytest.mark.slow
@pytest.mark.parametrize("technique", ["binary_translation", "paravirtual"])
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(bodies=st.lists(REGISTER_ONLY, min_size=OPCODES, max_size=OPCODES),
       programs=st.lists(placed_programs(), min_size=1, max_size=2))
def test_translation_and_paravirtualization_fix_every_isa_long(
        technique: str, bodies: list[str], programs: list[tuple[int, list[str]]]) -> None:
    check_fixed_run(bodies, programs, technique)


@pytest.mark.parametrize("technique", ["binary_translation", "paravirtual"])
def test_the_fixes_are_not_vacuous(technique: str) -> None:
    """An isa whose conditions fail (I0 shows the mode, I1 sets it): trap-and-emulate diverges,
    the two techniques do not."""
    bodies = ["A = zext(M, 8)", "M = (a ^ B)[1:0]", "A = A + a", "B = A"]
    programs = [(0, ["I2 5", "I0 0", "I3 0", "HALT"])]
    spec = compile_text(placed_spec_text(bodies, programs, "trap_and_emulate"), "fixed.vspec")
    (plain,) = run_scenario(spec.scenarios[0], max_steps=300).guests
    assert not plain.equivalent and plain.divergence is not None and plain.divergence.instruction == "I0"
    spec = compile_text(placed_spec_text(bodies, programs, technique), "fixed.vspec")
    (guest,) = run_scenario(spec.scenarios[0], max_steps=300).guests
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    assert guest.counters.calls == 1  # I0, run by the monitor
    if technique == "paravirtual":
        assert [r.instruction for r in guest.rewritten] == ["I0"]  # I1 is in no program: not rewritten
    else:
        (block,) = [b for b in guest.translations if b.address == 14]
        assert [i.instruction for i in block.instructions if i.patched] == ["I0"]


# ---------------------------------------------------------------- hardware assistance
#
# With a virtualization extension that shadows every piece of control state but the relocation
# register (the monitor's), a guest runs in its own modes on its own state: whatever its
# instructions, it is equivalent and contained, as long as they leave the relocation register and
# physical memory alone (the monitor's business), and its halts and PSW loads (which load R) exit.

EXTENSION = "    virtualization vt { shadow F; exits { HALT, LPSW } }\n"
NOT_RELOCATING = REGISTER_ONLY.filter(lambda body: "R.base" not in body and "halt" not in body)


def check_assisted_run(bodies: list[str], programs: list[tuple[int, list[str]]]) -> None:
    text = placed_spec_text(bodies, programs, "hardware_assisted").replace(
        "    guests run in middle\n    pin F.IOPL = 1\n}", "    guests run in middle\n    pin F.IOPL = 1\n" + EXTENSION + "}")
    spec = compile_text(text, "random.vspec")
    run = run_scenario(spec.scenarios[0], max_steps=300)
    for guest in run.guests:
        assert guest.equivalent, guest.divergence
        assert guest.resource_control, guest.violations


@SETTINGS
@given(bodies=st.lists(NOT_RELOCATING, min_size=OPCODES, max_size=OPCODES),
       programs=st.lists(placed_programs(), min_size=1, max_size=2))
def test_hardware_assistance_runs_every_guest_equivalently(bodies: list[str],
                                                           programs: list[tuple[int, list[str]]]) -> None:
    check_assisted_run(bodies, programs)
