"""The syntax-error table: each kind of mistake, its message, and examples that make it.

Each example is parsed once and the parser state it fails in is remembered (the LALR
state and what it accepted, not the stack depth); a user's syntax error that fails the
same way gets that kind's message (`vdsl.syntax.parser._match_example`).  The same table
drives `tests/unit/test_syntax_parser.py`, so every message here is tested.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class SyntaxErrorKind:
    code: str
    message: str
    hint: str
    examples: tuple[str, ...]
    same_token: bool = False  # match only errors at the same kind of token as the examples


SYNTAX_ERRORS: tuple[SyntaxErrorKind, ...] = (
    SyntaxErrorKind(
        "V003",
        "{block} is not closed: '}}' is missing",  # `{block}` names it: "instruction 'INC'"
        "add '}}' where {block} ends",
        (
            "machine m { word 16",
            "isa i for m { inst A { halt }",
            "isa i for m { inst A { halt ",
            "isa i for m { inst A { if A == 1 { halt } ",
            "program p on i { HALT ",
            "hypervisor h on m { type 1",
            "scenario s { hypervisor h",
            "isa i for m { inst A { }",
            "machine m { reg A",
            "program p on i { LOAD 5",
        ),
        same_token=True,
    ),
    SyntaxErrorKind(
        "V004",
        "expected a declaration: machine, isa, program, hypervisor, scenario or import",
        "a .vspec file is a list of declarations, each starting with its keyword",
        (
            "foo",
            "machine m { } bar",
            "machine m { word 16 } bar",
            "machine m { } }",
            "machine m { word 16 } }",
            "isa i for m { inst A { } } bar",
            "program p on i { HALT } bar",
            "hypervisor h on m { type 1 } foo",
            "scenario s { } foo",
            'import "x.vspec" foo',
            'import "x.vspec" 1',
            "42",
            "inst A { halt }",
        ),
    ),
    SyntaxErrorKind(
        "V005",
        "an assignment needs a value after '='",
        "write the value to assign, e.g. `A = A + 1`",
        (
            "isa i for m { inst A { A = } }",
            "isa i for m { inst A { let x = } }",
            "isa i for m { inst A { A = ; } }",
        ),
    ),
    SyntaxErrorKind(
        "V006",
        "an operator is missing its right-hand operand",
        "complete the expression, e.g. `A + 1`",
        (
            "isa i for m { inst A { A = A + } }",
            "isa i for m { inst A { A = A & } }",
            "isa i for m { inst A { A = A == } }",
            "isa i for m { inst A { if A == { halt } } }",
        ),
    ),
    SyntaxErrorKind(
        "V007",
        "a statement must be an assignment, let, if, trap or halt",
        "an expression on its own does nothing; assign it, e.g. `A = ...`",
        (
            "isa i for m { inst A { 1 } }",
            "isa i for m { inst A { A } }",
            "isa i for m { inst A { A + 1 } }",
            "isa i for m { inst A { A.f } }",
            "isa i for m { inst A { mem[1] } }",
        ),
    ),
    SyntaxErrorKind(
        "V008",
        "an instruction needs a body in braces",
        "write the semantics in braces, e.g. `inst NOP { }`",
        (
            "isa i for m { inst A }",
            "isa i for m { inst A a }",
            "isa i for m { inst A a, b }",
        ),
        same_token=True,
    ),
    SyntaxErrorKind(
        "V040",
        "a conditional expression needs an 'else' branch",
        "write `if C { X } else { Y }`: a value must exist whichever way C goes",
        (
            "isa i for m { inst A { A = if A == 0 { 1 } } }",
            "isa i for m { inst A { let v = if A == 0 { 1 } } }",
        ),
        same_token=True,
    ),
    SyntaxErrorKind(
        "V042",
        "'=' after a call: a name followed by '(' calls a helper",
        "a tuple load right after an assignment needs ';' before it: `A = B; (C, D) = mem[a]`",
        (
            "isa i for m { inst A { A = B (C, D) = mem[0] } }",
        ),
        same_token=True,
    ),
    SyntaxErrorKind(
        "V009",
        "'==' compares; use '=' to assign",
        "assignment is `A = value`; comparison `A == value` belongs in an if condition",
        (
            "isa i for m { inst A { A == 1 } }",
        ),
    ),
    SyntaxErrorKind(
        "V020",
        "a register declaration needs a name after 'reg'",
        "e.g. `reg A`, `reg P pc`, `control reg R { base, bound }`",
        (
            "machine m { reg }",
            "machine m { control reg }",
            "machine m { reg 16 }",
        ),
    ),
    SyntaxErrorKind(
        "V021",
        "modes need at least two names ordered with '>', most privileged first",
        "e.g. `modes { supervisor > user }`",
        (
            "machine m { modes { } }",
            "machine m { modes { s } }",
            "machine m { modes { s, u } }",
            "machine m { modes { s > } }",
        ),
    ),
    SyntaxErrorKind(
        "V033",
        "expected a machine item: word, memory, modes, reg, control reg, timing reg, relocate, "
        "trap, or '}' to end the machine",
        "each machine item starts with its keyword; items need no ';' between them",
        (
            "machine m { word 16; }",
            "machine m { foo }",
            "machine m { 16 }",
            "machine m { word 16 reg A; }",
        ),
    ),
    SyntaxErrorKind(
        "V034",
        "expected an instruction (`inst NAME ... { ... }`), an `expect`, or '}' to end the isa",
        "instructions start with `inst`",
        (
            "isa i for m { foo }",
            "isa i for m { LOAD a { } }",
            "isa i for m { inst A { } foo }",
            "isa i for m { 1 }",
        ),
    ),
)

UNCLOSED_BLOCK = next(kind for kind in SYNTAX_ERRORS if kind.code == "V003")
COMPARISON_STATEMENT = next(kind for kind in SYNTAX_ERRORS if kind.code == "V009")
