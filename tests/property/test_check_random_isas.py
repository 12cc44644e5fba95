"""Random instructions through the whole analysis: every answer is decided, and every witness
z3 finds replays on the emulator (a replay that disagrees raises `InternalError`, so the
replay itself is the oracle here).

The instructions are random well-typed bodies over one small machine with every kind of
state the definitions name: general registers, a control register with fields, relocation,
three modes, a timing register, memory reached through `mem` and `phys`.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdsl import compile_text
from vdsl.analysis.classify import classify_isa

MACHINE = """
machine r {
    word 8
    memory E[32]
    modes { high > middle > low }
    reg A
    reg B
    reg P pc
    control reg F : 8 { IF [0], IOPL [2:1] }
    control reg R { base: 4, bound: 4 }
    timing reg T
    relocate through R
    trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}
"""

LEAVES = st.sampled_from(["A", "B", "a", "T", "zext(F.IF, 8)", "zext(F.IOPL, 8)", "zext(R.base, 8)",
                          "zext(M, 8)", "next", "0", "1", "7", "0x80", "255"])


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]),
                       children).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    unary = st.tuples(st.sampled_from(["~", "-"]), children).map(lambda t: f"({t[0]}{t[1]})")
    memory = st.tuples(st.sampled_from(["mem", "phys"]), children).map(lambda t: f"{t[0]}[{t[1]}]")
    signed = children.map(lambda c: f"sra({c}, 1)")
    chosen = st.tuples(children, children, children).map(  # only the branch taken runs
        lambda t: f"(if {t[0]} < {t[1]} {{ {t[2]} }} else {{ {t[1]} }})")
    return st.one_of(binary, unary, memory, signed, chosen)


EXPRESSIONS = st.recursive(LEAVES, _compound, max_leaves=4)
CONDITIONS = st.tuples(EXPRESSIONS, st.sampled_from(["==", "!=", "<", ">="]), EXPRESSIONS).map(
    lambda t: f"{t[0]} {t[1]} {t[2]}")


def _statements(depth: int) -> st.SearchStrategy[str]:
    simple = st.one_of(
        EXPRESSIONS.map(lambda e: f"A = {e}"),
        EXPRESSIONS.map(lambda e: f"B = {e}"),
        st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda t: f"mem[{t[0]}] = {t[1]}"),
        # (e ^ B) is 8 bits even when e is a bare number, so the slice is always inside it
        EXPRESSIONS.map(lambda e: f"F.IF = ({e} ^ B)[0:0]"),
        EXPRESSIONS.map(lambda e: f"R.bound = ({e} ^ B)[3:0]"),
        EXPRESSIONS.map(lambda e: f"M = ({e} ^ B)[1:0]"),
        EXPRESSIONS.map(lambda e: f"P = {e}"),
        st.just("trap privileged"),
        st.just("halt"),
    )
    if depth == 0:
        return simple
    block = st.lists(_statements(depth - 1), min_size=1, max_size=3).map(" ".join)
    branch = st.tuples(CONDITIONS, block, block).map(lambda t: f"if {t[0]} {{ {t[1]} }} else {{ {t[2]} }}")
    return st.one_of(simple, branch)


BODIES = st.lists(_statements(1), min_size=1, max_size=3).map(" ".join)


def _check(bodies: list[str]) -> None:
    instructions = "\n".join(f"    inst I{k} a {{ {body} }}" for k, body in enumerate(bodies))
    spec = compile_text(MACHINE + "isa r for r {\n" + instructions + "\n    guests run in middle\n"
                        "    pin F.IOPL = 1\n}\n", "random.vspec")
    report = classify_isa(spec.isas[0])
    for instruction in report.instructions:
        for answer in instruction.answers.values():
            assert (answer.witness is None) != (answer.proof is None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(BODIES, min_size=1, max_size=2))
def test_random_instructions_are_decided_and_their_witnesses_replay(bodies: list[str]) -> None:
    _check(bodies)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(BODIES, min_size=1, max_size=3))
def test_random_instructions_long_run(bodies: list[str]) -> None:
    _check(bodies)
