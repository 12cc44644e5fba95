"""Mistakes students make, and what vdsl must tell them: each row is a real mistake and the whole
diagnostic it gets (message, excerpt, related notes, hint).  A missing '}' names the block left
open and where it starts; one syntax error gives one diagnostic, never a cascade; '=' and '=='
are told apart where each belongs; a name defined twice points at the first definition as a
related location; an undefined name is one error at its first use, its other uses notes; a hint
that does not apply is left out.
"""

from __future__ import annotations

import pytest
from conftest import spec_from

from vdsl import SpecError

MACHINE = """machine m {
    word 16
    memory E[256]
    modes { supervisor > user }
    reg A
    reg PC pc
    trap { save (PC) -> E[0] load (PC) <- E[2] cause -> E[4] }
}
"""

MISTAKES = [
    pytest.param(
        MACHINE.replace("E[4] }\n}", "E[4] }\n") + "isa i for m {\n    inst NOP { }\n}\n",
        "test.vspec:9:1: error[V003]: machine 'm' is not closed: '}' is missing before 'isa'\n"
        "   9 | isa i for m {\n"
        "     | ^^^\n"
        "test.vspec:1:1: note: machine 'm' starts here\n"
        "   1 | machine m {\n"
        "     | ^^^^^^^^^^^\n"
        "  hint: add '}' where machine 'm' ends, before line 9",
        id="machine-left-open-before-the-isa",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst ST a { mem[a] = A\n    inst HALT { halt }\n}\n",
        "test.vspec:11:5: error[V003]: instruction 'ST' is not closed: '}' is missing before 'inst'\n"
        "  11 |     inst HALT { halt }\n"
        "     |     ^^^^\n"
        "test.vspec:10:5: note: instruction 'ST' starts here\n"
        "  10 |     inst ST a { mem[a] = A\n"
        "     |     ^^^^^^^^^^^\n"
        "  hint: add '}' where instruction 'ST' ends, before line 11",
        id="instruction-left-open-before-the-next",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst INC {\n        A = A + 1\n}\n",
        "test.vspec:12:2: error[V003]: instruction 'INC' is not closed: '}' is missing\n"
        "  12 | }\n"
        "     |  ^\n"
        "test.vspec:10:5: note: instruction 'INC' starts here\n"
        "  10 |     inst INC {\n"
        "     |     ^^^^^^^^^^\n"
        "  hint: add '}' where instruction 'INC' ends; the '}' on line 12 lines up with isa 'i'",
        id="the-last-brace-closes-the-wrong-block",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst INC { if A == 0 { A = 1 }\n}\nprogram p on i { INC }\n",
        "test.vspec:12:1: error[V003]: instruction 'INC' is not closed: '}' is missing\n"
        "  12 | program p on i { INC }\n"
        "     | ^^^^^^^\n"
        "test.vspec:10:5: note: instruction 'INC' starts here\n"
        "  10 |     inst INC { if A == 0 { A = 1 }\n"
        "     |     ^^^^^^^^^^\n"
        "  hint: add '}' where instruction 'INC' ends; the '}' on line 11 lines up with isa 'i'",
        id="an-if-takes-the-instructions-brace",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst SET { if A = 0 { A = 1 } }\n}\n",
        "test.vspec:10:21: error[V009]: '=' assigns; use '==' to compare\n"
        "  10 |     inst SET { if A = 0 { A = 1 } }\n"
        "     |                     ^\n"
        "  hint: a condition compares with '==': `if A == 0 { ... }`",
        id="assignment-in-a-condition",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst CLR { A == 0 }\n}\n",
        "test.vspec:10:18: error[V009]: '==' compares; use '=' to assign\n"
        "  10 |     inst CLR { A == 0 }\n"
        "     |                  ^^\n"
        "  hint: assignment is `A = value`; comparison `A == value` belongs in an if condition",
        id="comparison-as-a-statement",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst J a { Pc = a }\n}\n",
        "test.vspec:10:16: error[V010]: undefined name 'Pc'\n"
        "  10 |     inst J a { Pc = a }\n"
        "     |                ^^\n"
        "  hint: did you mean 'PC'?",
        id="name-in-the-wrong-case",
    ),
    pytest.param(
        MACHINE + "isa i for m { inst NOP { } }\nprogram p on i {\nloop: NOP\nloop: NOP\n}\n",
        "test.vspec:12:1: error[V011]: label 'loop' is defined twice\n"
        "  12 | loop: NOP\n"
        "     | ^^^^^\n"
        "test.vspec:11:1: note: first defined here\n"
        "  11 | loop: NOP\n"
        "     | ^^^^^\n"
        "  hint: each label marks one address",
        id="label-defined-twice",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst NOP { }\n    inst NOP { halt }\n}\n",
        "test.vspec:11:5: error[V011]: instruction 'NOP' is defined twice in isa 'i'\n"
        "  11 |     inst NOP { halt }\n"
        "     |     ^^^^^^^^^^^^^^^^^\n"
        "test.vspec:10:5: note: first defined here\n"
        "  10 |     inst NOP { }\n"
        "     |     ^^^^^^^^^^^^\n"
        "  hint: rename one of them",
        id="instruction-defined-twice",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst NOP { }\n    expect NOPE innocuous\n}\n",
        "test.vspec:11:12: error[V010]: undefined instruction 'NOPE'\n"
        "  11 |     expect NOPE innocuous\n"
        "     |            ^^^^^^^^^^^^^^\n"
        "  hint: did you mean 'NOP'?",
        id="expect-names-no-instruction",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst NOP { }\n    expect T1 hold\n}\n",
        "test.vspec:11:12: error[V037]: expected `T1 holds` or `T1 fails [with NAME ...]`\n"
        "  11 |     expect T1 hold\n"
        "     |            ^^^^^^^\n"
        "  hint: did you mean 'holds'?",
        id="expect-verdict-misspelt",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst NOP { }\n    expect T1 holds with NOP\n}\n",
        "test.vspec:11:12: error[V037]: `T1 holds` names no instructions\n"
        "  11 |     expect T1 holds with NOP\n"
        "     |            ^^^^^^^^^^^^^^^^^\n"
        "  hint: write `expect T1 holds`; to name the instructions that break it, "
        "`expect T1 fails with NAME ...`",
        id="holds-with-offenders",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst X a b { }\n}\n",
        "test.vspec:10:14: error[V002]: unexpected name 'b'; expected ',', ':', '=' or '{'\n"
        "  10 |     inst X a b { }\n"
        "     |              ^",
        id="mid-line-surprise-has-no-line-above-hint",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst X a\n    b { }\n}\n",
        "test.vspec:11:5: error[V002]: unexpected name 'b'; expected ',', ':', '=' or '{'\n"
        "  11 |     b { }\n"
        "     |     ^\n"
        "  hint: check the line above for a missing or extra symbol",
        id="line-start-surprise-looks-at-the-line-above",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst LD a { A = mem[a }\n}\n",
        "test.vspec:10:27: error[V002]: unexpected '}'; expected ']'\n"
        "  10 |     inst LD a { A = mem[a }\n"
        "     |                           ^\n"
        "  hint: write ']' here",
        id="one-thing-expected-says-what-to-write",
    ),
    pytest.param(
        MACHINE + "isa i for m { inst NOP { } }\nprogram p on i {\n    NOP\n    data 7\n}\n",
        "test.vspec:13:1: error[V002]: unexpected '}'; expected ':'\n"
        "  13 | }\n"
        "     | ^\n"
        "  hint: write ':' at the end of the line above",
        id="data-without-its-colon",
    ),
    pytest.param(
        MACHINE + "isa i for m { inst NOP { } }\nprogram p on i {\n    NOP\n    data 255: 1, 2\n}\n",
        "test.vspec:12:18: error[V029]: data word at address 256 lies outside the 256-word memory\n"
        "  12 |     data 255: 1, 2\n"
        "     |                  ^\n"
        "  hint: data words must fit in addresses 0 to 255: start the data lower",
        id="data-past-the-end-of-memory-is-not-an-org-problem",
    ),
    pytest.param(
        MACHINE + "isa i for m {\n    inst CLR { AC = 0 }\n    inst INC { AC = AC + 1 }\n"
        + "".join(f"    inst I{n} {{ A = AC }}\n" for n in range(4)) + "}\n",
        "test.vspec:10:16: error[V010]: undefined name 'AC'\n"
        "  10 |     inst CLR { AC = 0 }\n"
        "     |                ^^\n"
        "test.vspec:11:16: note: used here too\n"
        "  11 |     inst INC { AC = AC + 1 }\n"
        "     |                ^^\n"
        "test.vspec:11:21: note: used here too\n"
        "  11 |     inst INC { AC = AC + 1 }\n"
        "     |                     ^^\n"
        "test.vspec:12:19: note: used here too\n"
        "  12 |     inst I0 { A = AC }\n"
        "     |                   ^^\n"
        "test.vspec:13:19: note: used here too, and 2 more times\n"
        "  13 |     inst I1 { A = AC }\n"
        "     |                   ^^\n"
        "  hint: did you mean 'A'?",
        id="a-misspelt-register-used-everywhere-is-one-error",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MISTAKES)
def test_each_mistake_gets_its_diagnostic_and_nothing_else(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec_from(text)
    assert "\n".join(d.render() for d in caught.value.diagnostics) == expected
