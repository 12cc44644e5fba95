"""What each finding code means, in a few words: the titles of the diagnostic codes (the sections of
`docs/reference/diagnostics.md`, which a test keeps the same) and the findings that are not
diagnostics.  SARIF's rules are made from it."""

from __future__ import annotations

DIAGNOSTIC_CODES: dict[str, str] = {
    "V001": "unexpected character",
    "V002": "unexpected symbol",
    "V003": "a block is not closed",
    "V004": "expected a declaration",
    "V005": "an assignment needs a value",
    "V006": "an operator is missing its right-hand operand",
    "V007": "a statement must be an assignment, let, if, trap or halt",
    "V008": "an instruction needs a body in braces",
    "V009": "`=` and `==` confused",
    "V010": "undefined name",
    "V011": "defined twice",
    "V012": "width mismatch",
    "V013": "cannot assign",
    "V014": "unknown mode",
    "V015": "unknown instruction",
    "V016": "undefined label",
    "V017": "import cycle",
    "V018": "cannot find or read a file",
    "V019": "wrong number of operands",
    "V020": "a register needs a name",
    "V021": "modes need at least two names",
    "V022": "missing part",
    "V023": "a width or value out of range",
    "V024": "a condition must be 1 bit",
    "V025": "not a relocation register",
    "V026": "misused tuple",
    "V027": "extends itself",
    "V028": "unknown hypervisor setting",
    "V029": "overlap or outside memory",
    "V030": "nested too deeply",
    "V031": "not a constant, or bits out of range",
    "V032": "misused builtin",
    "V033": "expected a machine item",
    "V034": "expected an instruction",
    "V035": "a setting given twice",
    "V036": "not UTF-8",
    "V037": "not an expectation vdsl can check",
    "V038": "the mode is pinned",
    "V039": "a scenario mixes machines or isas",
    "V040": "a conditional expression without `else`",
    "V041": "misused helper",
    "V042": "`=` after a call",
    "V043": "misused register array",
    "V044": "misdeclared banked register",
    "V045": "misused trap entry",
    "V046": "misdeclared virtualization extension",
    "V047": "the hypervisor is not for this isa",
    "V048": "no policy check for this hypervisor",
    "V050": "not a bit pattern",
    "V051": "a pattern is not one word wide",
    "V052": "not an operand of the instruction",
    "V053": "a field does not fit its operand",
    "V054": "an operand held twice",
    "V055": "overlapping patterns",
    "V056": "an isa mixes encoded and unencoded instructions",
}

# The findings of a valid spec (vdsl.report.findings), and what `check --each` says of a file it
# could not check.
OTHER_CODES: dict[str, str] = {
    "expect": "an expect line that fails or is undecided",
    "require": "a theorem's condition that --require asks for fails",
    "undecided": "a question z3 could not decide within --rlimit",
    "unfinished": "a program or guest that did not finish",
    "error": "a request that cannot be carried out on the file",
    "internal": "an internal error of vdsl on the file",
}

CODES: dict[str, str] = {**DIAGNOSTIC_CODES, **OTHER_CODES}
