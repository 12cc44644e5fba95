"""The resolver (`vdsl.resolve`): every diagnostic code, whole messages, all errors at once.

The tables are data: (test id, spec text, the diagnostics expected, in order).  Each expected
diagnostic is written `LINE:COL CODE message; hint: hint`, the whole message and hint.  Most
specs start with `MACHINE` (one line), so their own text begins on line 2.
"""

from __future__ import annotations

import pytest
from conftest import spec_from

from vdsl import SpecError
from vdsl.errors import Diagnostic
from vdsl.ir import nodes as ir

MACHINE = (
    "machine m { word 16 memory E[256] modes { supervisor > user } reg A reg B : 8 reg P pc "
    "control reg R { base, bound } relocate through R "
    "trap { causes { svc } save (M, P, R) -> E[0] load (M, P, R) <- E[4] cause -> E[8] } }\n"
)
# A small machine for the machine-level errors, so that columns stay short.
SMALL = "machine n { word 16 memory E[4] modes { s > u } reg P pc "


def brief(diagnostic: Diagnostic) -> str:
    """`LINE:COL CODE message; note LINE:COL related; hint: hint`: everything a user reads but
    the excerpts."""
    span = diagnostic.span
    where = f"{span.line}:{span.column}" if span else "-"
    text = f"{where} {diagnostic.code} {diagnostic.message}"
    for related in diagnostic.related:
        text += f"; note {related.span.line}:{related.span.column} {related.message}"
    return f"{text}; hint: {diagnostic.hint}" if diagnostic.hint else text


def diagnostics_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        spec_from(text)
    return [brief(d) for d in caught.value.diagnostics]


def table(*rows: tuple[str, str, list[str]]) -> list[pytest.param]:
    return [pytest.param(text, expected, id=name) for name, text, expected in rows]


UNDEFINED = table(
    ("name", MACHINE + "isa i for m { inst X { A = Q } }",
     ["2:28 V010 undefined name 'Q'; hint: declare it as a register of the machine, an operand, "
      "or with `let`"]),
    ("name-did-you-mean", MACHINE + "isa i for m { inst X { A = AA } }",
     ["2:28 V010 undefined name 'AA'; hint: did you mean 'A'?"]),
    ("assigned-name", MACHINE + "isa i for m { inst X { Aa = 1 } }",
     ["2:24 V010 undefined name 'Aa'; hint: did you mean 'A'?"]),
    ("machine-of-isa", MACHINE + "isa i for mm { inst X { halt } }",
     ["2:11 V010 undefined machine 'mm'; hint: did you mean 'm'?"]),
    ("isa-of-program", MACHINE + "isa i for m { inst X { halt } }\nprogram p on ii { X }",
     ["3:14 V010 undefined isa 'ii'; hint: did you mean 'i'?"]),
    ("trap-cause", MACHINE + "isa i for m { inst X { trap svv } }",
     ["2:24 V010 undefined trap cause 'svv'; hint: did you mean 'svc'?"]),
    ("field", MACHINE + "isa i for m { inst X { A = R.bas } }",
     ["2:28 V010 register 'R' has no field 'bas'; hint: did you mean 'base'?"]),
    ("field-of-register-without-fields", MACHINE + "isa i for m { inst X { A = A.f } }",
     ["2:28 V010 register 'A' has no field 'f'; hint: declare fields with `reg A { f }`"]),
    ("register-of-field", MACHINE + "isa i for m { inst X { A = Z.f } }",
     ["2:28 V010 undefined register 'Z'; hint: declare the register before using it"]),
    ("relocation-register", SMALL + "relocate through Q }",
     ["1:75 V010 undefined register 'Q'; hint: declare the register before using it"]),
    ("register-in-trap-psw", SMALL + "trap { save (M, Q) -> E[0] load (M, P) <- E[2] } }",
     ["1:74 V010 undefined register 'Q'; hint: declare the register before using it"]),
    ("memory-in-trap", SMALL + "trap { save (M, P) -> F[0] load (M, P) <- E[0] } }",
     ["1:58 V010 undefined memory 'F'; hint: declare the memory before using it"]),
    ("extended-isa", MACHINE + "isa x extends zz { inst X { halt } }",
     ["2:15 V010 undefined isa 'zz'; hint: declare the isa before using it"]),
    ("machine-of-hypervisor", MACHINE + "hypervisor h on mm { type 1 }",
     ["2:17 V010 undefined machine 'mm'; hint: did you mean 'm'?"]),
    ("register-operand", MACHINE + "isa i for m { inst MOV d : reg { d = A } inst H { halt } }\n"
                                   "program p on i { MOV Q H }",
     ["3:22 V010 operand 'd' needs a register, not 'Q'; hint: the registers are A, B"]),
    ("program-on-machine-with-two-isas",
     MACHINE + "isa i for m { inst X { halt } }\nisa j for m { inst X { halt } }\nprogram p on m { X }",
     ["4:14 V010 machine 'm' has several instruction sets; hint: name the isa: i, j"]),
    ("program-on-machine-without-isa", MACHINE + "program p on m { X }",
     ["2:14 V010 machine 'm' has no instruction set; hint: declare one with `isa NAME for m { ... }`"]),
    ("scenario-references", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { X }\n"
                                      "scenario s { hypervisor hh guest g runs nope }",
     ["4:25 V010 undefined hypervisor 'hh'; hint: declare the hypervisor before using it",
      "4:28 V010 undefined program 'nope'; hint: declare the program before using it"]),
)

DUPLICATES = table(
    ("machine", MACHINE + "machine m { word 8 }",
     ["2:1 V011 machine 'm' is defined twice; note 1:1 first defined here; "
      "hint: rename one of them, or use `extends` to derive a variant"]),
    ("isa", MACHINE + "isa i for m { inst X { halt } }\nisa i for m { inst Y { halt } }",
     ["3:1 V011 isa 'i' is defined twice; note 2:1 first defined here; "
      "hint: rename one of them, or use `extends` to derive a variant"]),
    ("instruction", MACHINE + "isa i for m { inst X { halt } inst X { halt } }",
     ["2:31 V011 instruction 'X' is defined twice in isa 'i'; note 2:15 first defined here; hint: rename one of them"]),
    ("register", SMALL + "reg A reg A }",
     ["1:64 V011 'A' is defined twice in machine 'n'; hint: rename one of them"]),
    ("register-named-like-the-mode", SMALL + "reg M }",
     ["1:58 V011 'M' is defined twice in machine 'n'; "
      "hint: 'M' is the mode register and mode names are reserved"]),
    ("field", SMALL + "reg F { a, a } }",
     ["1:69 V011 field 'a' is defined twice in register 'F'; note 1:66 first defined here; hint: rename one of them"]),
    ("mode", "machine n { word 16 memory E[4] modes { s > u > s } reg P pc }",
     ["1:33 V011 mode 's' is listed twice; hint: each mode appears once, most privileged first"]),
    ("program-counter", SMALL + "reg Q pc }",
     ["1:58 V011 machine 'n' has two program counters; hint: 'P' is already the pc"]),
    ("trap-cause", SMALL + "trap { causes { memory } save (M, P) -> E[0] load (M, P) <- E[2] } }",
     ["1:58 V011 trap cause 'memory' is declared twice; "
      "hint: the built-in causes are memory, privileged, illegal"]),
    ("operand", MACHINE + "isa i for m { inst X a, a { halt } }",
     ["2:25 V011 operand 'a' is declared twice; hint: give each operand its own name"]),
    ("operand-named-like-a-register", MACHINE + "isa i for m { inst X A { halt } }",
     ["2:22 V011 operand 'A' has the name of machine state; "
      "hint: rename the operand so that it does not hide the register or mode"]),
    ("let", MACHINE + "isa i for m { inst X { let x = 1 let x = 2 } }",
     ["2:34 V011 'x' is already defined; hint: choose another name for the let binding"]),
    ("label", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { l: X l: X }",
     ["3:23 V011 label 'l' is defined twice; note 3:18 first defined here; hint: each label marks one address"]),
    ("guest", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { X }\n"
                        "scenario s { guest g runs p guest g runs p } hypervisor h on m { }",
     ["4:29 V011 guest 'g' is defined twice; note 4:14 first defined here; hint: rename one of them"]),
)

WIDEN = "hint: widen the narrower value with zext(x, {wide}) or sext(x, {wide}), or narrow the " \
        "wider one with a slice x[{top}:0]"
WIDEN_VALUE = "hint: widen the value with zext(x, 16) or sext(x, 16)"

WIDTHS = table(
    ("narrow-value", MACHINE + "isa i for m { inst X { A = B } }",
     ["2:28 V012 width mismatch: register 'A' is 16 bits, the value is 8 bits; " + WIDEN_VALUE]),
    ("wide-value", MACHINE + "isa i for m { inst X { B = A } }",
     ["2:28 V012 width mismatch: register 'B' is 8 bits, the value is 16 bits; "
      "hint: keep the low bits with a slice x[7:0]"]),
    ("wider-register", MACHINE + "isa i for m { inst X { A = R } }",
     ["2:28 V012 width mismatch: register 'A' is 16 bits, the value is 32 bits; "
      "hint: keep the low bits with a slice x[15:0]"]),
    ("operator", MACHINE + "isa i for m { inst X { A = A + B } }",
     ["2:28 V012 width mismatch: '+' needs operands of one width, not 16 and 8 bits; "
      + WIDEN.format(wide=16, top=7)]),
    ("comparison", MACHINE + "isa i for m { inst X { if A == B { halt } } }",
     ["2:27 V012 width mismatch: '==' needs operands of one width, not 16 and 8 bits; "
      + WIDEN.format(wide=16, top=7)]),
    # The hint names the wider width and slices to the narrower one, whichever side is wider.
    ("builtin", MACHINE + "isa i for m { inst X { A = zext(slt(A, B), 16) } }",
     ["2:33 V012 width mismatch: slt needs operands of one width, not 16 and 8 bits; "
      + WIDEN.format(wide=16, top=7)]),
    ("narrow-operand", MACHINE + "isa i for m { inst X a : 8 { A = a } }",
     ["2:34 V012 width mismatch: register 'A' is 16 bits, the value is 8 bits; " + WIDEN_VALUE]),
    ("one-bit", MACHINE + "isa i for m { inst X { A = A == A } }",
     ["2:28 V012 width mismatch: register 'A' is 16 bits, the value is 1 bit; " + WIDEN_VALUE]),
)

NOT_ASSIGNABLE = table(
    ("operand", MACHINE + "isa i for m { inst X a { a = 1 } }",
     ["2:26 V013 cannot assign to 'a': it is an immediate operand; "
      "hint: immediate operands are constants; assign a register"]),
    ("let", MACHINE + "isa i for m { inst X { let x = 1 x = 2 } }",
     ["2:34 V013 cannot assign to 'x': it is a let binding; "
      "hint: a let binding cannot change; bind a new name with `let`"]),
    ("mode-name", MACHINE + "isa i for m { inst X { user = 1 } }",
     ["2:24 V013 cannot assign to 'user': it is a mode name; hint: to change mode, assign M = user"]),
    ("next", MACHINE + "isa i for m { inst X { next = 1 } }",
     ["2:24 V013 cannot assign to 'next': it is `next`; hint: to jump, assign the pc P"]),
)

MODES = table(
    ("start-mode", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { mode kernal X }",
     ["3:18 V014 unknown mode 'kernal'; hint: the modes of 'm' are supervisor, user"]),
    ("start-mode-did-you-mean", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { mode usr X }",
     ["3:18 V014 unknown mode 'usr'; hint: did you mean 'user'?"]),
    ("mode-number", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { init M = 5 X }",
     ["3:18 V014 there is no mode number 5; hint: set the start mode by name with `mode NAME`"]),
    ("scenario-guest", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { X }\n"
                                 "scenario s { guest g runs p in kernel } hypervisor h on m { }",
     ["4:14 V014 unknown mode 'kernel'; hint: the modes are supervisor, user"]),
    # A name compared with or assigned to the mode is meant as a mode.
    ("assigned-to-the-mode", MACHINE + "isa i for m { inst X { M = kernel } }",
     ["2:28 V014 unknown mode 'kernel'; hint: the modes of 'm' are supervisor, user"]),
    ("compared-with-the-mode", MACHINE + "isa i for m { inst X { if M == kernel { halt } } }",
     ["2:32 V014 unknown mode 'kernel'; hint: the modes of 'm' are supervisor, user"]),
)

PROGRAMS = table(
    ("unknown-instruction", MACHINE + "isa i for m { inst HALT { halt } }\nprogram p on i { HLAT }",
     ["3:18 V015 unknown instruction 'HLAT' in isa 'i'; hint: did you mean 'HALT'?"]),
    ("unknown-instruction-far", MACHINE + "isa i for m { inst HALT { halt } }\nprogram p on i { MUL }",
     ["3:18 V015 unknown instruction 'MUL' in isa 'i'; hint: a label needs a colon: `NAME:`"]),
    ("number-for-instruction", MACHINE + "isa i for m { inst HALT { halt } }\nprogram p on i { HALT 5 }",
     ["3:23 V015 expected an instruction, found the number 5; "
      "hint: an extra operand? data words go in `data ADDRESS: value, ...`"]),
    ("label-operand", MACHINE + "isa i for m { inst J a { P = a } }\nprogram p on i { J loop }",
     ["3:20 V016 undefined label 'loop'; hint: define it with `NAME:`, or as a number with `const NAME = NUMBER`"]),
    ("label-did-you-mean", MACHINE + "isa i for m { inst J a { P = a } }\nprogram p on i { start: J strat }",
     ["3:27 V016 undefined label 'strat'; hint: did you mean 'start'?"]),
    ("entry-label", MACHINE + "isa i for m { inst J a { P = a } }\n"
                              "program p on i { start: J start entry begin }",
     ["3:33 V016 undefined label 'begin'; hint: define it with `NAME:`"]),
    ("data-label", MACHINE + "isa i for m { inst J a { P = a } }\nprogram p on i { data 10: there }",
     ["3:27 V016 undefined label 'there'; hint: define it with `NAME:`, or as a number with `const NAME = NUMBER`"]),
    ("too-few-operands", MACHINE + "isa i for m { inst J a, b { P = a } inst H { halt } }\n"
                                   "program p on i { J 1 H }",
     ["3:18 V019 J takes 2 operands, found 1; hint: usage: J a, b"]),
    ("instruction-as-operand", MACHINE + "isa i for m { inst J a { P = a } inst H { halt } }\n"
                                         "program p on i { J H }",
     ["3:18 V019 J takes 1 operand, found 0; hint: usage: J a"]),
    ("operand-at-the-end", MACHINE + "isa i for m { inst J a { P = a } inst H { halt } }\n"
                                     "program p on i { H J }",
     ["3:20 V019 J takes 1 operand, found 0; hint: usage: J a"]),
    ("too-many-operands", MACHINE + "isa i for m { inst J a { P = a } inst H { halt } }\n"
                                    "program p on i { J 1, H }",
     ["3:21 V019 J takes 1 operand; found more; hint: usage: J a"]),
    ("comma-after-no-operands", MACHINE + "isa i for m { inst H { halt } }\nprogram p on i { H , H }",
     ["3:20 V019 H takes no operands; found more; hint: usage: H"]),
)

MISSING_PARTS = table(
    ("machine-parts", "machine n { word 8 }",
     ["1:1 V022 machine 'n' does not declare its memory; hint: add `memory E[1024]` to the machine",
      "1:1 V022 machine 'n' does not declare its privilege modes; "
      "hint: add `modes { supervisor > user }`, most privileged first",
      "1:1 V022 machine 'n' has no program counter; hint: mark one register with `pc`, e.g. `reg P pc`"]),
    ("word", "machine n { memory E[4] modes { s > u } reg P pc }",
     ["1:1 V022 machine 'n' does not declare its word width; "
      "hint: add `word 16` (or the width you need) to the machine"]),
    ("isa-machine", MACHINE + "isa i { inst X { halt } }",
     ["2:1 V022 isa 'i' does not say which machine it is for; hint: write `isa i for MACHINE { ... }`"]),
    ("trap-load", SMALL + "trap { save (M, P) -> E[0] } }",
     ["1:58 V022 the trap mechanism has a `save` but no `load`; "
      "hint: PG74: `trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }`; or write what a trap does "
      "in an `entry { ... }` block"]),
    ("trap-nothing", SMALL + "trap { causes { sc } } }",
     ["1:58 V022 the trap mechanism needs a `save (...) -> E[n]` and a `load (...) <- E[n]`, or an "
      "`entry { ... }` block; hint: PG74: `trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }`; "
      "RISC-V: `trap { entry { MEPC = PC  M = machine  PC = MTVEC } }`"]),
    ("general-register", SMALL + "}\nisa i for n { inst X r : reg { halt } }",
     ["2:22 V022 operand 'r' names a register, but machine 'n' has no general registers; "
      "hint: declare registers that are neither pc, control nor timing state"]),
)

DOES_NOT_FIT = table(
    ("number", MACHINE + "isa i for m { inst X { A = 70000 } }",
     ["2:28 V023 the number 70000 does not fit in 16 bits; hint: the largest 16-bit value is 65535"]),
    ("number-in-narrow-register", MACHINE + "isa i for m { inst X { B = 256 } }",
     ["2:28 V023 the number 256 does not fit in 8 bits; hint: the largest 8-bit value is 255"]),
    ("data-word", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { data 10: 70000 X }",
     ["3:27 V023 the value 70000 does not fit in a memory word (16 bits); "
      "hint: the largest 16-bit value is 65535"]),
    ("operand-value", MACHINE + "isa i for m { inst X a : 4 { halt } }\nprogram p on i { X 16 }",
     ["3:20 V023 the value 16 does not fit in operand 'a' (4 bits); hint: the largest 4-bit value is 15"]),
    ("init", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { init B = 256 X }",
     ["3:18 V023 the value 256 does not fit in 8 bits; hint: the largest 8-bit value is 255"]),
    ("pin", MACHINE + "hypervisor h on m { pin R.base = 70000 }",
     ["2:21 V023 the value 70000 does not fit in 16 bits; hint: the largest 16-bit value is 65535"]),
    ("memory-size", "machine n { word 16 memory E[0] modes { s > u } reg P pc }",
     ["1:21 V023 the memory needs at least one word; hint: e.g. `memory E[1024]`"]),
    ("memory-width", "machine n { word 16 memory E[4] word 5000 modes { s > u } reg P pc }",
     ["1:21 V023 the memory word width must be between 1 and 4096 bits, not 5000; "
      "hint: widths count bits, e.g. 16 or 32"]),
    ("field-outside-register", SMALL + "reg F : 8 { a : 4, b : 8 } }",
     ["1:77 V023 field 'b' (bits 4..11) does not fit in the 8-bit register 'F'; "
      "hint: widen the register or move the field"]),
    ("bit-range-outside-register", SMALL + "reg F : 8 { a [9:8] } }",
     ["1:70 V023 field 'a' (bits 8..9) does not fit in the 8-bit register 'F'; "
      "hint: widen the register or move the field"]),
    ("empty-bit-range", SMALL + "reg F { a [3:4] } }",
     ["1:66 V023 field 'a' has an empty bit range; hint: write the high bit first, e.g. `IOPL [13:12]`"]),
    ("builtin-width", MACHINE + "isa i for m { inst X { A = zext(B, 5000) } }",
     ["2:36 V023 the zext width must be between 1 and 4096 bits, not 5000; "
      "hint: widths count bits, e.g. 16 or 32"]),
    ("allocation", MACHINE + "hypervisor h on m { allocate memory 1000 per guest }",
     ["2:21 V023 cannot allocate 1000 words per guest from a 256-word memory; "
      "hint: allocate less memory per guest"]),
    # The operand is still declared: its uses are not reported as undefined names.
    ("operand-width", MACHINE + "isa i for m { inst X a : 32 { A = a } }",
     ["2:22 V023 operand 'a' is 32 bits, but an operand is stored in one 16-bit memory word; "
      "hint: declare it at most 16 bits wide"]),
    # The registers and the memory take the word width: one mistake, one error.
    ("word-width", "machine n { word 0 memory E[4] modes { s > u } reg P pc }",
     ["1:13 V023 the word width must be between 1 and 4096 bits, not 0; "
      "hint: widths count bits, e.g. 16 or 32"]),
)

CONDITIONS = table(
    ("register", MACHINE + "isa i for m { inst X { if A { halt } } }",
     ["2:27 V024 a condition must be a comparison or a 1-bit value, not a 16-bit value; "
      "hint: compare it, e.g. `A != 0`"]),
    ("logic-operand", MACHINE + "isa i for m { inst X { if A == 1 && A { halt } } }",
     ["2:37 V024 a condition must be a comparison or a 1-bit value, not a 16-bit value; "
      "hint: compare it, e.g. `A != 0`"]),
    ("negation", MACHINE + "isa i for m { inst X { if !A { halt } } }",
     ["2:28 V024 a condition must be a comparison or a 1-bit value, not a 16-bit value; "
      "hint: compare it, e.g. `A != 0`"]),
)

RELOCATION = table(
    ("no-fields", SMALL + "reg Q relocate through Q }",
     ["1:81 V025 register 'Q' cannot relocate addresses: it needs fields 'base' and 'bound'; "
      "hint: declare it as `control reg Q { base, bound }`"]),
    ("no-bound", SMALL + "reg Q { base } relocate through Q }",
     ["1:90 V025 register 'Q' cannot relocate addresses: it needs fields 'base' and 'bound'; "
      "hint: declare it as `control reg Q { base, bound }`"]),
)

TUPLES = table(
    ("stored-to-register", MACHINE + "isa i for m { inst X { A = (A, B) } }",
     ["2:28 V026 a tuple can only be stored to memory; "
      "hint: store it with `mem[a] = (X, Y)`, one word per item"]),
    ("in-expression", MACHINE + "isa i for m { inst X { A = (1, 2) + 1 } }",
     ["2:28 V026 a tuple can only be stored to memory; hint: store it with `mem[a] = (X, Y)`"]),
    ("loaded-from-register", MACHINE + "isa i for m { inst X { (A, P) = A } }",
     ["2:33 V026 a tuple of targets is loaded from memory, one word each; "
      "hint: write `(X, Y) = mem[a]`"]),
    ("memory-target", MACHINE + "isa i for m { inst X { (A, mem[0]) = mem[1] } }",
     ["2:28 V026 memory cannot be a target of a tuple load; hint: load registers, fields or the mode"]),
)

CYCLES = table(
    ("isa", MACHINE + "isa x extends y { inst X { halt } }\nisa y extends x { inst Y { halt } }",
     ["2:15 V027 isa 'x' extends itself: x -> y -> x; hint: remove one `extends` from the chain"]),
    ("isa-itself", MACHINE + "isa x extends x { inst X { halt } }",
     ["2:15 V027 isa 'x' extends itself: x -> x; hint: remove one `extends` from the chain"]),
    ("machine", "machine a extends b { }\nmachine b extends a { }",
     ["1:19 V027 machine 'a' extends itself: a -> b -> a; hint: remove one `extends` from the chain"]),
    # Deriving from a declaration caught in a cycle adds no error of its own.
    ("isa-extending-a-cycle", MACHINE + "isa x extends y { }\nisa y extends x { }\nisa z extends x { }",
     ["2:15 V027 isa 'x' extends itself: x -> y -> x; hint: remove one `extends` from the chain"]),
    ("machine-extending-a-cycle", "machine a extends b { }\nmachine b extends a { }\nmachine c extends a { }",
     ["1:19 V027 machine 'a' extends itself: a -> b -> a; hint: remove one `extends` from the chain"]),
    ("machine-extending-itself-extended", "machine a extends a { }\nmachine b extends a { }",
     ["1:19 V027 machine 'a' extends itself: a -> a; hint: remove one `extends` from the chain"]),
    ("machine-extending-an-undefined-base", "machine a extends zz { }\nmachine b extends a { }",
     ["1:19 V010 undefined machine 'zz'; hint: declare the machine before using it"]),
)

HYPERVISOR_OPTIONS = table(
    ("type", MACHINE + "hypervisor h on m { type 7 }",
     ["2:21 V028 there is no hypervisor type 7; hint: type 0 is firmware, type 1 bare metal, type 2 hosted"]),
    ("technique-did-you-mean", MACHINE + "hypervisor h on m { technique trap_and_emulat }",
     ["2:31 V028 unknown technique 'trap_and_emulat'; hint: did you mean 'trap_and_emulate'?"]),
    ("technique", MACHINE + "hypervisor h on m { technique magic }",
     ["2:31 V028 unknown technique 'magic'; hint: techniques: trap_and_emulate, hybrid, "
      "binary_translation, paravirtual, hardware_assisted"]),
    ("schedule", MACHINE + "hypervisor h on m { schedule fifo }",
     ["2:30 V028 unknown schedule 'fifo'; hint: schedules: round_robin"]),
    ("guest-mode", MACHINE + "hypervisor h on m { guests run in kernel }",
     ["2:35 V014 unknown mode 'kernel'; hint: the modes of 'm' are supervisor, user"]),
)

OVERLAPS = table(
    ("data-on-code", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { X data 0: 5 }",
     ["3:28 V029 data word at address 0 overlaps a word already used; note 3:18 the word is first used here; "
      "hint: move the data or the code with `org` so they do not overlap"]),
    ("code-outside-memory", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { org 300 X }",
     ["3:26 V029 instruction X at address 300 lies outside the 256-word memory; "
      "hint: use `org` to place the program inside memory"]),
    ("data-outside-memory", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { data 255: 1, 2 }",
     ["3:31 V029 data word at address 256 lies outside the 256-word memory; "
      "hint: data words must fit in addresses 0 to 255: start the data lower"]),
    ("trap-area", SMALL + "trap { save (M, P) -> E[3] load (M, P) <- E[0] } }",
     ["1:58 V029 the trap area E[3..4] lies outside the 4-word memory; "
      "hint: choose addresses inside the memory"]),
    ("fields", SMALL + "reg F { a [3:0], b [2] } }",
     ["1:75 V029 fields 'a' and 'b' of register 'F' overlap; hint: give each field its own bits"]),
)

SLICES = table(
    ("outside", MACHINE + "isa i for m { inst X { A = A[16:0] } }",
     ["2:28 V031 bits [16:0] are outside a 16-bit value (bits 15..0); "
      "hint: bits are numbered from 0"]),
    ("bound-not-a-number", MACHINE + "isa i for m { inst X a { A = zext(A[a:0], 16) } }",
     ["2:37 V031 a slice bound must be a number; "
      "hint: slice bounds and widths are fixed when the spec is compiled"]),
    ("width-not-a-number", MACHINE + "isa i for m { inst X a { A = sext(B, a) } }",
     ["2:38 V031 the width given to sext must be a number; "
      "hint: slice bounds and widths are fixed when the spec is compiled"]),
)

BUILTINS = table(
    ("sext-arguments", MACHINE + "isa i for m { inst X { A = sext(B) } }",
     ["2:28 V032 sext takes 2 arguments, not 1; hint: sext(value, width) sign-extends to a wider width"]),
    ("slt-arguments", MACHINE + "isa i for m { inst X { A = slt(A) } }",
     ["2:28 V032 slt takes 2 arguments, not 1; hint: slt(a, b) is a signed a < b"]),
    ("concat-one-value", MACHINE + "isa i for m { inst X { A = concat(B) } }",
     ["2:28 V032 concat takes at least two values; "
      "hint: concat(high, ..., low) joins values, the first in the high bits"]),
    ("concat-number", MACHINE + "isa i for m { inst X { A = zext(concat(B, 1), 16) } }",
     ["2:43 V032 a number in concat has no width; hint: give it one with zext, e.g. `zext(0, 4)`"]),
    ("zext-narrows", MACHINE + "isa i for m { inst X { B = zext(A, 8) } }",
     ["2:28 V032 zext cannot narrow a 16-bit value to 8 bits; hint: use a slice, e.g. `X[7:0]`, to narrow"]),
)


@pytest.mark.parametrize(("text", "expected"), UNDEFINED)
def test_undefined_names(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


# `expect policy HYPERVISOR ...` in an isa: the hypervisor must exist (V010), be for the isa (V047)
# and have a policy check (V048); each is pointed at by its name.
EXPECT_POLICY_SPECS = (
    MACHINE + "machine n { word 16 memory E[64] modes { s > u } reg P pc }\n"
    "hypervisor mon on m { technique trap_and_emulate }\n"
    "hypervisor bt on m { technique binary_translation }\n"
    "hypervisor pv on m { technique paravirtual }\n"
    "hypervisor vt on m { technique hardware_assisted }\n"
    "hypervisor far on n { technique trap_and_emulate }\n"
    "hypervisor only on j { technique hybrid }\n"
    "isa j for m { inst X { halt } }\n"
)
EXPECT_POLICY = table(
    ("unknown", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy mn holds }",
     ["10:45 V010 undefined hypervisor 'mn'; hint: did you mean 'mon'?"]),
    ("other-machine", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy far holds }",
     ["10:45 V047 hypervisor far runs on machine n, not on isa i (machine m); hint: the hypervisors for it "
      "are mon, bt, pv, vt"]),
    ("other-isa", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect T1 holds, policy only holds }",
     ["10:55 V047 hypervisor only runs on isa j, not on isa i; hint: the hypervisors for it are mon, bt, pv, vt"]),
    ("translation", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy bt holds, policy pv fails }",
     ["10:45 V048 hypervisor bt is binary_translation: it runs directly only what the classification finds "
      "correct, so its check is `vdsl check` itself; the policy check is for trap_and_emulate, hybrid, "
      "hardware_assisted; hint: expect the theorems instead (`expect T1 ...`), or name a hypervisor whose "
      "technique is one of those",
      "10:62 V048 hypervisor pv is paravirtual: it runs directly only what the classification finds "
      "correct, so its check is `vdsl check` itself; the policy check is for trap_and_emulate, hybrid, "
      "hardware_assisted; hint: expect the theorems instead (`expect T1 ...`), or name a hypervisor whose "
      "technique is one of those"]),
    ("no-extension", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy vt holds }",
     ["10:45 V048 hypervisor vt is hardware_assisted, but isa i declares no virtualization extension; hint: "
      "declare one in the isa with `virtualization NAME { shadow STATE, ...; exits { NAME, ... } }`, or "
      "choose another technique"]),
    ("form", EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy mon, policy mon fails with Y }",
     ["10:38 V037 expected `policy mon holds` or `policy mon fails [with NAME ...]`; hint: say whether it "
      "holds: `expect policy mon holds` or `expect policy mon fails`",
      "10:50 V010 undefined instruction 'Y'; hint: declare the instruction before using it"]),
)


@pytest.mark.parametrize(("text", "expected"), EXPECT_POLICY)
def test_expect_policy_names_a_hypervisor_for_the_isa_with_a_policy_check(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_expect_policy_resolves() -> None:
    spec = spec_from(EXPECT_POLICY_SPECS + "isa i for m { inst X { halt } expect policy mon fails with X }")
    isa = spec.isa("i")
    assert isa is not None
    assert [e.words for e in isa.expects] == [("policy", "mon", "fails", "with", "X")]


@pytest.mark.parametrize(("text", "expected"), DUPLICATES)
def test_duplicates(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), WIDTHS)
def test_width_mismatches(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), NOT_ASSIGNABLE)
def test_not_assignable(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), MODES)
def test_unknown_modes(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), PROGRAMS)
def test_program_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), MISSING_PARTS)
def test_missing_machine_parts(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), DOES_NOT_FIT)
def test_numbers_and_widths_that_do_not_fit(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), CONDITIONS)
def test_non_boolean_conditions(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), RELOCATION)
def test_bad_relocation_register(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), TUPLES)
def test_tuple_misuse(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), CYCLES)
def test_extends_cycles(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), HYPERVISOR_OPTIONS)
def test_hypervisor_options(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), OVERLAPS)
def test_overlaps(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), SLICES)
def test_slices(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), BUILTINS)
def test_builtins(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_reversed_slice_says_the_bounds_are_reversed() -> None:
    # Bits 3 and 7 both lie inside a 16-bit value: calling them "outside" sends the user
    # looking for the wrong mistake.
    [diagnostic] = diagnostics_of(MACHINE + "isa i for m { inst X { A = zext(A[3:7], 16) } }")
    assert diagnostic.startswith("2:33 V031 ")
    assert "outside" not in diagnostic.split("; hint:")[0]


def test_bit_counts_read_as_english() -> None:
    assert diagnostics_of(MACHINE + "isa i for m { inst X { if B { halt } } }") == [
        "2:27 V024 a condition must be a comparison or a 1-bit value, not an 8-bit value; "
        "hint: compare it, e.g. `A != 0`",
    ]


def test_hypervisor_errors_point_at_the_offending_line() -> None:
    text = MACHINE + "hypervisor h on m {\n    type 1\n    technique magic\n" \
                     "    schedule round_robn quantum 5\n}"
    assert diagnostics_of(text) == [
        "4:15 V028 unknown technique 'magic'; hint: techniques: trap_and_emulate, hybrid, "
        "binary_translation, paravirtual, hardware_assisted",
        "5:14 V028 unknown schedule 'round_robn'; hint: did you mean 'round_robin'?",
    ]


def test_pc_with_a_qualifier_is_one_error() -> None:
    # The machine does declare a pc; saying it has none would be a second, false error.
    assert diagnostics_of(SMALL.replace("reg P pc", "control reg P pc") + "}") == [
        "1:49 V011 the program counter 'P' cannot also be control state; "
        "hint: the pc is always saved by traps; drop the qualifier",
    ]


# ---------------------------------------------------------------- every error at once

SEVERAL_ERRORS = MACHINE + """\
isa bad for m {
    inst X { A = Q }
    inst Y { A = B }
    inst Z a { a = 1 }
    inst W { trap nope }
}
isa good for m { inst JMP t { P = t } inst HALT { halt } }
program p on good {
    mode kernal
    JMP nowhere
    HLT
}
hypervisor h on m { type 9 }
isa loop1 extends loop2 { }
isa loop2 extends loop1 { }
"""


def test_every_error_of_the_phase_is_reported_in_source_order() -> None:
    assert diagnostics_of(SEVERAL_ERRORS) == [
        "3:18 V010 undefined name 'Q'; hint: declare it as a register of the machine, an operand, "
        "or with `let`",
        "4:18 V012 width mismatch: register 'A' is 16 bits, the value is 8 bits; " + WIDEN_VALUE,
        "5:16 V013 cannot assign to 'a': it is an immediate operand; "
        "hint: immediate operands are constants; assign a register",
        "6:14 V010 undefined trap cause 'nope'; hint: declare it in the machine's trap block: "
        "`causes { nope }`",
        "10:5 V014 unknown mode 'kernal'; hint: the modes of 'm' are supervisor, user",
        "11:9 V016 undefined label 'nowhere'; hint: define it with `NAME:`, or as a number with `const NAME = NUMBER`",
        "12:5 V015 unknown instruction 'HLT' in isa 'good'; hint: did you mean 'HALT'?",
        "14:21 V028 there is no hypervisor type 9; "
        "hint: type 0 is firmware, type 1 bare metal, type 2 hosted",
        "15:19 V027 isa 'loop1' extends itself: loop1 -> loop2 -> loop1; "
        "hint: remove one `extends` from the chain",
    ]


def test_errors_render_with_location_line_and_caret() -> None:
    with pytest.raises(SpecError) as caught:
        spec_from(MACHINE + "isa i for m {\n    inst X { A = AA + 1 }\n}")
    assert str(caught.value) == (
        "test.vspec:3:18: error[V010]: undefined name 'AA'\n"
        "   3 |     inst X { A = AA + 1 }\n"
        "     |                  ^^\n"
        "  hint: did you mean 'A'?"
    )


# ---------------------------------------------------------------- valid specs

VALID = [
    pytest.param(MACHINE + "machine m2 extends m { reg C : 4 }\nisa i for m { inst X { halt } }\n"
                 "isa j extends i for m2 { inst X { C = 1 } inst Y { halt } }", id="extends-machine-and-isa"),
    pytest.param(MACHINE + "isa i for m { inst X { halt } inst Y { halt } }\n"
                 "isa j extends i { inst X { A = 1 } inst Z { halt } }\nprogram p on j { X Y Z }",
                 id="extends-isa-replaces-and-adds"),
    pytest.param(MACHINE + "machine n { word 8 memory F[16] modes { k > s > u } reg X reg Q pc }\n"
                 "isa i for m { inst H { halt } }\nisa k for n { inst H { X = 1 halt } }\n"
                 "program p on i { H }\nprogram q on k { H }", id="several-machines"),
    pytest.param("machine f { word 16 memory E[16] modes { s > u } reg P pc "
                 "reg FL : 16 { C [0], Z [1], IOPL [13:12] } }\n"
                 "isa i for f { inst X { FL.IOPL = 3 if FL.C == 1 { FL.Z = 0 } } }", id="bit-range-fields"),
    pytest.param("machine f { word 16 memory E[16] modes { s > u } reg P pc "
                 "reg FL : 16 { C [0], timing T [7:4], control IOPL [13:12] } }\n"
                 "isa i for f { inst X { FL.IOPL = 3 if FL.C == 1 { FL.T = 0xF } } }", id="control-fields"),
    pytest.param("machine f { word 16 memory E[16] modes { s > u } reg P pc control reg CR timing reg CLK }\n"
                 "isa i for f { inst X { CR = CLK } }", id="control-and-timing-registers"),
    pytest.param(MACHINE + "isa i for m { inst MOV d : reg, s : reg { d = s } inst H { halt } }\n"
                 "program p on i { MOV A, B H }", id="register-operands"),
    pytest.param(MACHINE + "isa i for m { inst S a { mem[a] = (M, P, R) } inst L a { (M, P, R) = mem[a] } "
                 "inst T a { (A, R.base) = phys[a] } }", id="tuple-load-and-store"),
    pytest.param(MACHINE + "isa i for m { inst X { if A == 0 { A = 1 } else if A == 1 { A = 2 } "
                 "else if A < 5 { A = 3 } else { halt } } }", id="else-if-chain"),
    pytest.param(MACHINE + "isa i for m { inst X { A = sext(B, 16) A = zext(B, 16) A = concat(B, B) "
                 "if slt(A, A) || sle(A, A) { A = sra(A, 1) } A = zext(A[3:0], 16) B = A[15:8] } }",
                 id="builtins-and-slices"),
    pytest.param(MACHINE + "isa i for m { inst X { A = ~A ^ (A | 1) & 7 A = A * 3 / 2 % 5 - 1 A = -A "
                 "if !(A == 1) && A != 2 || A >= 3 { halt } } }", id="operators"),
    pytest.param(MACHINE + "isa i for m { inst X { A = A << 2 A = A >> 1 } }", id="shifts"),
    pytest.param(MACHINE + "isa i for m { inst X { let t = A + 1 A = t trap svc } inst Y { P = next } }",
                 id="let-trap-next"),
    pytest.param("machine n { word 16 memory E[4] modes priv { s > u } reg P pc relocate none }\n"
                 "isa i for n { inst X { if priv == u { priv = s } } }", id="named-mode-register"),
    pytest.param(MACHINE + "isa i for m { inst J a { P = a } inst H { halt } }\n"
                 "program p on i { mode user init A = 5 init R.base = 2 org 10 start: J start H "
                 "data 100: 1, 0x10, 0b11, start entry start }", id="program-directives"),
    pytest.param(MACHINE + "isa i for m { inst X a : 4, b { A = zext(a, 16) + b } }\n"
                 "program p on i { X 15, 3 }",
                 id="operand-widths"),
    pytest.param(MACHINE + "hypervisor h on m { type 2 technique hybrid guests run in user "
                 "allocate memory 64 per guest schedule round_robin quantum 50 pin R.base = 3 "
                 "cost { trap 80, world_switch 300, } }\n"
                 "isa i for m { inst X { halt } }\nprogram p on i { X }\n"
                 "scenario s { hypervisor h guest a runs p in user guest b runs p "
                 "expect theorem1 fails, divergence at X, a equivalence, b resource_control fails, "
                 "efficiency >= 0.8 }", id="hypervisor-and-scenario"),
    pytest.param(MACHINE + "hypervisor h on m { }\nisa i for m { inst X { halt } }\nprogram p on i { X }\n"
                 "scenario s { hypervisor h under h under h guest a runs p }", id="nested-monitors"),
    pytest.param("// a comment\n/* a block\n comment */\n" + MACHINE, id="comments"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_specs_compile(text: str) -> None:
    spec_from(text)


def test_extends_replaces_and_adds_instructions() -> None:
    spec = spec_from(MACHINE + "isa i for m { inst X { halt } inst Y { halt } }\n"
                     "isa j extends i { inst X { A = 1 } inst Z { halt } }")
    base, derived = spec.isa("i"), spec.isa("j")
    assert base is not None and derived is not None
    assert [inst.name for inst in derived.instructions] == ["X", "Y", "Z"]
    assert derived.machine.name == "m"
    replaced = derived.instruction("X")
    assert replaced is not None and replaced != base.instruction("X")
    assert derived.instruction("Y") == base.instruction("Y")


def test_extends_machine_adds_registers_and_keeps_the_rest() -> None:
    spec = spec_from(MACHINE + "machine m2 extends m { reg C : 4 }")
    m2 = next(machine for machine in spec.machines if machine.name == "m2")
    assert [r.name for r in m2.registers] == ["A", "B", "P", "R", "C"]
    assert (m2.word, m2.memory.size, m2.modes, m2.relocation) == (16, 256, ("supervisor", "user"), "R")


# ---------------------------------------------------------------- policies and scenarios

ISA_AND_PROGRAM = MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { X }\n"
RUN_FORMS = ("write one of: `expect equivalence`; `expect divergence`; `expect divergence at NAME`; "
             "`expect resource_control`; `expect resource_control fails`; `expect resource_control fails at "
             "NAME`; `expect efficiency >= 0.9`; `expect GUEST equivalence`; `expect T1 fails`")

POLICIES = table(
    ("no-hypervisor", ISA_AND_PROGRAM + "scenario s { guest g runs p }",
     ["4:1 V022 scenario 's' does not say which hypervisor runs its guests; hint: add `hypervisor NAME`; "
      "declare one with `hypervisor NAME on MACHINE { ... }`"]),
    ("which-hypervisor", ISA_AND_PROGRAM + "hypervisor h on m { }\nhypervisor k on m { }\n"
     "scenario s { guest g runs p }",
     ["6:1 V022 scenario 's' does not say which hypervisor runs its guests; hint: add `hypervisor NAME` "
      "(the hypervisors are h, k)"]),
    ("no-guests", ISA_AND_PROGRAM + "hypervisor h on m { }\nscenario s { hypervisor h }",
     ["5:1 V022 scenario 's' runs no guests; hint: add `guest NAME runs PROGRAM`"]),
    ("undefined-outer-monitor", ISA_AND_PROGRAM + "hypervisor h on m { }\n"
     "scenario s { hypervisor h under hh guest g runs p }",
     ["5:33 V010 undefined hypervisor 'hh'; hint: did you mean 'h'?"]),
    ("unknown-cost", ISA_AND_PROGRAM + "hypervisor h on m { cost { trapp 5, bogus 3 } }",
     ["4:28 V028 unknown cost 'trapp'; hint: did you mean 'trap'?",
      "4:37 V028 unknown cost 'bogus'; hint: costs: direct, trap, emulation, world_switch, host_round_trip, "
      "translation, exit"]),
    ("cost-twice", ISA_AND_PROGRAM + "hypervisor h on m { cost { trap 5, trap 3 } }",
     ["4:36 V035 the cost of 'trap' is given twice; hint: remove one of them: a cost block gives each "
      "figure once"]),
    ("quantum-zero", ISA_AND_PROGRAM + "hypervisor h on m { schedule round_robin quantum 0 }",
     ["4:30 V023 a quantum must be at least one instruction; hint: e.g. `schedule round_robin quantum 50`"]),
    ("mixed-isas", MACHINE + "isa i for m { inst X { halt } }\nisa j for m { inst Y { halt } }\n"
     "program p on i { X }\nprogram q on j { Y }\nhypervisor h on i { }\n"
     "scenario s { hypervisor h guest a runs p guest b runs q }",
     ["7:1 V039 scenario 's' mixes isas: hypervisor h is for isa i, guest b (program q) for isa j; "
      "hint: a scenario's monitors and guests run on one isa; write one scenario per isa"]),
    ("other-machine", MACHINE + SMALL + "}\nisa i for m { inst X { halt } }\nprogram p on i { X }\n"
     "hypervisor h on n { }\nscenario s { hypervisor h guest a runs p }",
     ["6:1 V039 hypervisor h runs on machine n, but the guests of scenario 's' need machine m; "
      "hint: choose a hypervisor for that machine"]),
    ("run-expectation-forms", ISA_AND_PROGRAM + "hypervisor h on m { }\nscenario s { hypervisor h "
     "guest g runs p expect equivalence at X, divergence fails }",
     ["5:49 V037 this expectation is not one a scenario can state: 'equivalence at X'; hint: " + RUN_FORMS,
      "5:67 V037 this expectation is not one a scenario can state: 'divergence fails'; hint: " + RUN_FORMS]),
    ("guests-with-broken-programs", MACHINE + "isa i for m { inst X { halt } }\nprogram p on i { Y }\n"
     "hypervisor h on m { }\nscenario s { hypervisor h guest g runs p }",
     ["3:18 V015 unknown instruction 'Y' in isa 'i'; hint: a label needs a colon: `NAME:`"]),
    ("run-expectations", ISA_AND_PROGRAM + "hypervisor h on m { }\nscenario s { hypervisor h "
     "guest g runs p expect equivalense, divergence at Y, efficiency >= 2, efficiency, T1 >= 1 }",
     ["5:49 V037 unknown expectation 'equivalense'; hint: did you mean 'equivalence'?",
      "5:62 V010 undefined instruction 'Y'; hint: declare the instruction before using it",
      "5:79 V037 efficiency is a share between 0 and 1, not 2; hint: e.g. `expect efficiency >= 0.9`",
      "5:96 V037 efficiency is compared with a number; hint: e.g. `expect efficiency >= 0.9` (the share "
      "of guest instructions run directly)",
      "5:108 V037 a theorem's condition holds or fails; it has no number; hint: write one of: "
      "`expect equivalence`; `expect divergence`; `expect divergence at NAME`; `expect resource_control`; "
      "`expect resource_control fails`; `expect resource_control fails at NAME`; `expect efficiency >= 0.9`; "
      "`expect GUEST equivalence`; `expect T1 fails`"]),
)


@pytest.mark.parametrize(("text", "expected"), POLICIES)
def test_policy_and_scenario_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_a_scenario_links_its_isa_monitors_and_programs() -> None:
    spec = spec_from(ISA_AND_PROGRAM + "hypervisor outer on m { guests run in user cost { trap 7 } }\n"
                     "hypervisor inner on i { technique hybrid schedule round_robin quantum 9 }\n"
                     "scenario s { hypervisor inner under outer guest a runs p in user guest b runs p "
                     "expect a divergence, b equivalence, resource_control }")
    scenario = spec.scenario("s")
    assert scenario is not None
    assert scenario.isa is spec.isa("i")
    assert [m.name for m in scenario.monitors] == ["outer", "inner"]
    assert scenario.monitor.technique == "hybrid" and scenario.monitor.quantum == 9
    assert scenario.monitors[0].costs.trap == 7 and scenario.monitors[0].costs.emulation == 50
    assert scenario.monitors[0].context.source == "hypervisor outer"
    assert [(g.name, g.program.name, g.mode) for g in scenario.guests] == [
        ("a", "p", "user"), ("b", "p", "supervisor")]
    assert [e.words for e in scenario.expects] == [
        ("a", "equivalence", "fails"), ("b", "equivalence", "holds"), ("resource_control", "holds")]


def test_the_only_hypervisor_is_the_default() -> None:
    spec = spec_from(ISA_AND_PROGRAM + "hypervisor h on m { }\nscenario s { guest g runs p }")
    assert [m.name for m in spec.scenarios[0].monitors] == ["h"]


# ---------------------------------------------------------------- layer-only systems

STACKS = table(
    ("stack-kind-missing", 'stack s { hardware "pc" os "Linux" container web "nginx" }',
     ["1:1 V022 stack 's' does not say what kind of system it is; hint: add `kind containers` (containers on "
      "a host OS) or `kind process_vm` (applications on a runtime such as a JVM)"]),
    ("stack-kind-unknown", 'stack s { kind containres hardware "pc" os "Linux" container web }',
     ["1:16 V028 unknown kind of stack 'containres'; hint: did you mean 'containers'?"]),
    ("stack-parts-missing", "stack s { kind containers container web }",
     ["1:1 V022 stack 's' does not name its hardware; hint: add `hardware \"x86-64 server\"`",
      "1:1 V022 stack 's' does not name its host OS; hint: add `os \"Linux\"`",
      "1:1 V022 stack 's' does not name its engine; hint: a containers system runs on one: add "
      "`engine \"containerd\"`"]),
    ("stack-wrong-middle-and-members", 'stack s { kind process_vm hardware "pc" os "Linux" engine "docker" '
     'runtime "JVM" container web "nginx" }',
     ["1:52 V028 a process_vm system has no engine; hint: write `runtime` instead, or `kind containers`",
      "1:82 V028 a process_vm system runs apps, not containers; hint: write `app web ...`"]),
    ("stack-empty-and-twice", 'stack s { kind containers kind containers hardware "pc" os "a" os "b" '
     'engine "e" }',
     ["1:32 V035 `kind` is given twice in this stack; hint: remove one of them: a stack gives `kind` once",
      "1:64 V035 `os` is given twice in this stack; hint: remove one of them: a stack gives `os` once"]),
    ("stack-runs-nothing", 'stack s { kind containers hardware "pc" os "a" engine "e" }',
     ["1:1 V022 stack 's' runs nothing; hint: add what it runs: `container web \"nginx\"` or `app shop "
      "\"shop.jar\"`"]),
    ("stack-member-twice", 'stack s { kind containers hardware "pc" os "a" engine "e" container w container w }',
     ["1:71 V011 'w' is defined twice in stack 's'; note 1:59 first defined here; hint: rename one of them"]),
)


@pytest.mark.parametrize(("text", "expected"), STACKS)
def test_stack_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_a_stack_and_a_management_vm_resolve() -> None:
    spec = spec_from('stack s { kind process_vm hardware "laptop" os "macOS" runtime "JVM" app ide "IntelliJ" '
                     'app build }\n' + MACHINE + "hypervisor h on m { management dom0 }")
    stack = spec.stack("s")
    assert stack is not None
    assert (stack.kind, stack.hardware, stack.os, stack.middle) == ("process_vm", "laptop", "macOS", "JVM")
    assert [(m.kind, m.name, m.label) for m in stack.members] == [("app", "ide", "IntelliJ"), ("app", "build", None)]
    assert spec.hypervisors[0].management == "dom0"


# ---------------------------------------------------------------- issue 8's bugs and the conditional expression

FIXED = table(
    ("mode-named-like-the-mode-register", SMALL.replace("modes { s > u }", "modes { M > u }") + "}",
     ["1:33 V011 mode 'M' has the name of the mode register, so it could never be named; hint: rename the "
      "mode, or give the mode register another name: `modes PRIV { M > u }`"]),
    ("an-instruction-with-errors-is-still-declared",
     MACHINE + "isa i for m { inst X { B = A }  expect X innocuous }",
     ["2:28 V012 width mismatch: register 'B' is 8 bits, the value is 16 bits; hint: keep the low bits with "
      "a slice x[7:0]"]),
    ("let-out-of-its-block", MACHINE + "isa i for m { inst X a { if a == 0 { let v = 1 } A = v } }",
     ["2:54 V010 'v' is out of scope; hint: the `let v` at line 2 is seen only inside its own block; declare "
      "it before the block, or choose its value with a conditional expression: "
      "`let v = if C { X } else { Y }`"]),
    ("conditional-branches-of-two-widths", MACHINE + "isa i for m { inst X { A = if A == 0 { B } else { A } } }",
     ["2:28 V012 width mismatch: the branches of a conditional expression are 8 and 16 bits; hint: "
      "widen the narrower value with zext(x, 16) or sext(x, 16), or narrow the wider one with a slice x[7:0]"]),
    ("conditional-needs-a-condition", MACHINE + "isa i for m { inst X { A = if A { 1 } else { 2 } } }",
     ["2:31 V024 a condition must be a comparison or a 1-bit value, not a 16-bit value; hint: compare it, "
      "e.g. `A != 0`"]),
)


@pytest.mark.parametrize(("text", "expected"), FIXED)
def test_fixed_diagnostics(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_a_conditional_expression_takes_its_width_from_its_context() -> None:
    spec = spec_from(MACHINE + "isa i for m { inst X a { B = if a == 0 { 1 } else if a == 1 { 2 } else { 3 } } }")
    isa = spec.isa("i")
    assert isa is not None
    (assign,) = isa.instructions[0].body
    assert assign.value.width == 8 and assign.value.otherwise.width == 8  # type: ignore[union-attr]


# ---------------------------------------------------------------- constants

CONSTANTS = table(
    ("named-like-machine-state", "const A = 1\n" + MACHINE,
     ["1:1 V011 constant 'A' has the name of state of machine 'm'; hint: rename the constant"]),
    ("twice", "const K = 1\nconst K = 2\n",
     ["2:1 V011 constant 'K' is defined twice; note 1:1 first defined here; hint: rename one of them"]),
    ("operand-hides-it", "const Q = 4\n" + MACHINE + "isa i for m { inst X Q { A = Q } }",
     ["3:22 V011 operand 'Q' has the name of a constant; hint: rename the operand so that it does not hide "
      "the constant"]),
    ("assigned", "const Q = 4\n" + MACHINE + "isa i for m { inst X { Q = 1 } }",
     ["3:24 V013 cannot assign to 'Q': it is a constant; hint: a `const` names a number; assign a register"]),
    ("let-named-like-it", "const Q = 4\n" + MACHINE + "isa i for m { inst X { let Q = 1 } }",
     ["3:24 V011 'Q' is already defined; hint: choose another name for the let binding"]),
    ("undefined-in-a-program", "const QQ = 4\n" + MACHINE + "isa i for m { inst X a { A = a } }\n"
     "program p on i { X Q }",
     ["4:20 V016 undefined label 'Q'; hint: did you mean 'QQ'?"]),
)


@pytest.mark.parametrize(("text", "expected"), CONSTANTS)
def test_constant_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_a_constant_is_a_number_in_bodies_slices_and_programs() -> None:
    spec = spec_from("const HI = 7\nconst SEVEN = 7\n" + MACHINE
                     + "isa i for m { inst X a { B = a[HI:0] + SEVEN  mem[SEVEN] = A } }\n"
                     + "program p on i { X SEVEN  data 20: HI, SEVEN }")
    assert dict(spec.constants) == {"HI": 7, "SEVEN": 7}
    isa = spec.isa("i")
    assert isa is not None
    assign, store = isa.instructions[0].body
    assert assign.value.width == 8 and assign.value.right.value == 7  # type: ignore[union-attr]
    assert store.target.address.value == 7  # type: ignore[union-attr]
    program = spec.program("p")
    assert program is not None
    assert program.instructions[0].operands == (7,)
    assert (20, 7) in program.data and (21, 7) in program.data


# ---------------------------------------------------------------- helpers

HELPERS = table(
    ("calls-itself", MACHINE + "isa i for m { def f(x) { g(x) } def g(y) { f(y) } inst X { f(A) } }",
     ["2:44 V041 helper 'f' calls itself (f -> g -> f); hint: helpers cannot loop: an instruction's "
      "semantics are loop-free"]),
    ("value-as-statement", MACHINE + "isa i for m { def v(x) = x + 1  inst X { v(A) } }",
     ["2:42 V041 helper 'v' is a value, not statements; hint: use it in an expression, e.g. `A = v(...)`"]),
    ("statements-as-value", MACHINE + "isa i for m { def f(x) { A = x }  inst X { A = f(A) } }",
     ["2:48 V041 helper 'f' is statements, not a value; hint: call it as a statement: `f(...)`"]),
    ("argument-count", MACHINE + "isa i for m { def v(x) = x  inst X { A = v(A, A) } }",
     ["2:42 V041 helper 'v' takes 1 argument, found 2; hint: call it as `v(x)`"]),
    ("undefined", MACHINE + "isa i for m { def v(x) = x  inst X { A = vv(A) } }",
     ["2:42 V010 undefined helper 'vv'; hint: did you mean 'v'?"]),
    ("twice", MACHINE + "isa i for m { def v(x) = x  def v(y) = y }",
     ["2:29 V011 helper 'v' is defined twice; note 2:15 first defined here; hint: rename one of them"]),
    ("parameter-hides-state", MACHINE + "isa i for m { def v(A) = A }",
     ["2:15 V011 parameter 'A' of helper 'v' has the name of machine state; hint: rename the parameter "
      "so that it does not hide the register or mode"]),
    ("named-like-state", MACHINE + "isa i for m { def B(x) = x }",
     ["2:15 V011 helper 'B' has the name of machine state; hint: rename the helper"]),
)


@pytest.mark.parametrize(("text", "expected"), HELPERS)
def test_helper_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_a_helper_is_expanded_where_it_is_called_with_its_own_lets() -> None:
    spec = spec_from(MACHINE + "isa i for m {\n"
                     "    def swap(x, y) { let t = x  x = y  y = t }\n"
                     "    def low(v) = v[7:0]\n"
                     "    inst X { let t = 5  swap(A, R.base)  B = low(A + t) }\n"
                     "}\n")
    isa = spec.isa("i")
    assert isa is not None
    body = isa.instructions[0].body
    assert [type(s).__name__ for s in body] == ["Let", "If", "Assign"]
    swap = body[1]
    assert isinstance(swap, ir.If) and [s.name for s in swap.then if isinstance(s, ir.Let)] == ["swap.t"]


# ---------------------------------------------------------------- the zero register

ZERO = table(
    ("zero-control", SMALL + "control reg Z zero }",
     ["1:58 V011 the zero register 'Z' cannot be control state or have fields; hint: a zero register is a "
      "general register that always reads 0"]),
    ("zero-fields", SMALL + "reg Z zero { a, b } }",
     ["1:58 V011 the zero register 'Z' cannot have fields; hint: a zero register is a general register "
      "that always reads 0"]),
)


@pytest.mark.parametrize(("text", "expected"), ZERO)
def test_zero_register_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_did_you_mean_does_not_count_case() -> None:
    from vdsl.errors import did_you_mean

    assert did_you_mean("Pc", ["A", "PC", "R"]) == "did you mean 'PC'?"
    assert did_you_mean("halt", ["HALT", "HLT"]) == "did you mean 'HALT'?"  # case first, then spelling
    assert did_you_mean("ADDD", ["ADD", "AND"]) == "did you mean 'ADD'?"
    assert did_you_mean("zz", ["A"]) is None
    spec = "machine m {\n    word 8\n    memory E[16]\n    modes { s > u }\n    reg A\n    reg PC pc\n}\n" \
           "isa i for m {\n    inst J a { Pc = a }\n}\n"
    with pytest.raises(SpecError) as caught:
        spec_from(spec)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.hint == "did you mean 'PC'?"
