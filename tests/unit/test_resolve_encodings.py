"""Instruction encodings (`vdsl.resolve.encodings`): patterns, their diagnostics, the assembler.

The error tables are data, as in `test_resolve.py`: (test id, spec text, the diagnostics
expected), each written `LINE:COL CODE message; hint: hint`.  The specs start with `MACHINE`
(16-bit words; general registers A, B and C at positions 0, 1 and 2), so their own text begins
on line 2.
"""

from __future__ import annotations

import pytest
from conftest import ROOT, spec_from
from test_resolve import diagnostics_of, table

from vdsl import compile_files, load_program
from vdsl.ir import nodes as ir

MACHINE = "machine m { word 16 memory E[64] modes { s > u } reg A reg B reg C reg P pc }\n"
RV = ROOT / "tests" / "specs" / "rv_encoded.vspec"

PATTERNS = table(
    ("not-a-part", MACHINE + 'isa i for m { inst X a: 4 = "0000 a x9! 0000" { halt } }',
     ["2:37 V050 'x9!' is neither fixed bits nor an operand field; hint: write fixed bits as 0, 1 or . "
      "(any bit), and operands as NAME, NAME:WIDTH or NAME[HI:LO], separated by spaces"]),
    ("empty", MACHINE + 'isa i for m { inst X = "" { halt } }',
     ["2:24 V050 the encoding of 'X' is empty; hint: write fixed bits as 0, 1 or . (any bit), and operands "
      "as NAME, NAME:WIDTH or NAME[HI:LO], separated by spaces"]),
    ("reversed-slice", MACHINE + 'isa i for m { inst X a: 4 = "a[0:3] 000000000000" { halt } }',
     ["2:30 V050 the slice 'a[0:3]' is reversed; hint: write the high bit first: a[3:0]"]),
    ("zero-width", MACHINE + 'isa i for m { inst X r: reg = "r:0 000000000000" { halt } }',
     ["2:32 V050 field 'r' is 0 bits wide; hint: a field is at least 1 bit wide"]),
    ("too-narrow", MACHINE + 'isa i for m { inst X a: 4 = "0000 a 0000" { halt } }',
     ["2:29 V051 the encoding of 'X' is 12 bits, but a memory word of 'm' is 16 bits; hint: it has 8 fixed "
      "bits and fields of 4 bits: add 4 bits"]),
    ("too-wide", MACHINE + 'isa i for m { inst X a: 4 = "0000 a 0000 0000 1" { halt } }',
     ["2:29 V051 the encoding of 'X' is 17 bits, but a memory word of 'm' is 16 bits; hint: it has 13 fixed "
      "bits and fields of 4 bits: remove 1 bit"]),
    ("unknown-operand", MACHINE + 'isa i for m { inst X a: 4 = "000000000000 b" { halt } }',
     ["2:43 V052 'b' is not an operand of 'X'; hint: the operands of 'X' are a"]),
    ("unknown-operand-did-you-mean", MACHINE + 'isa i for m { inst X imm: 4 = "000000000000 im" { halt } }',
     ["2:45 V052 'im' is not an operand of 'X'; hint: did you mean 'imm'?"]),
    ("no-operands", MACHINE + 'isa i for m { inst X = "000000000000 b:4" { halt } }',
     ["2:38 V052 'b' is not an operand of 'X'; hint: declare it: `inst X b: WIDTH = ...`"]),
    ("field-width", MACHINE + 'isa i for m { inst X a: 4 = "00000000000 a:5" { halt } }',
     ["2:42 V053 operand 'a' is 4 bits, but its field is 5 bits; hint: make them agree, or write `a` alone: "
      "the field takes the operand's width"]),
    ("field-needs-width", MACHINE + 'isa i for m { inst X a = "000000000000 a" { halt } }',
     ["2:40 V053 field 'a' needs a width: operand 'a' declares none; hint: write `a:WIDTH` in the pattern, "
      "or declare the operand `a: WIDTH`"]),
    ("slice-misses-bits", MACHINE + 'isa i for m { inst X a: 8 = "a[7:4] 000000000000" { halt } }',
     ["2:30 V053 bits 3..0 of operand 'a' are in no field; hint: every bit of an operand split over fields "
      "is held in one of them"]),
    ("slice-beyond-operand", MACHINE + 'isa i for m { inst X a: 4 = "a[4:0] 00000000000" { halt } }',
     ["2:30 V053 operand 'a' is 4 bits, but 'a[4:0]' holds its bit 4; hint: its bits are 3 to 0"]),
    ("slice-beyond-word", MACHINE + 'isa i for m { inst X a = "a[99999999999:0] 0" { halt } }',
     ["2:27 V053 'a[99999999999:0]' holds bit 99999999999 of operand 'a', but an operand held in a 16-bit "
      "word has at most 16 bits; hint: its bits are 15 to 0 at most"]),
    ("operand-twice", MACHINE + 'isa i for m { inst X r: reg = "r 00000000000000 r" { halt } }',
     ["2:49 V054 operand 'r' is held in two fields; hint: remove one; to split an operand over several "
      "fields, use slices: r[HI:LO]"]),
    ("bit-twice", MACHINE + 'isa i for m { inst X a: 4 = "a[3:0] a[0] 00000000000" { halt } }',
     ["2:37 V054 bit 0 of operand 'a' is held in two fields; hint: each bit of an operand is held in one "
      "field"]),
    ("overlap", MACHINE + 'isa i for m {\n  inst X = "0000000000000000" { halt }\n'
                          '  inst Y a: 4 = "000000000000 a" { halt }\n}',
     ["4:17 V055 the encodings of 'X' (at test.vspec:3:12) and 'Y' overlap: the word 0000000000000000 "
      "matches both; hint: make a fixed bit differ between them: a word decodes to one instruction"]),
    ("overlap-through-extends", MACHINE + 'isa i for m { inst X = "0000000000000001" { halt } }\n'
                                          'isa j extends i { inst Y = "0000000000000..." { halt } }',
     ["3:28 V055 the encodings of 'X' (at test.vspec:2:24) and 'Y' overlap: the word 0000000000000001 "
      "matches both; hint: make a fixed bit differ between them: a word decodes to one instruction"]),
    ("mixed", MACHINE + 'isa i for m {\n  inst X = "0000000000000000" { halt }\n  inst Y { halt }\n}',
     ["4:3 V056 instruction 'Y' has no encoding, but 'X' in isa 'i' has one; hint: an isa encodes all its "
      "instructions or none: give 'Y' a pattern, `inst Y ... = \"...\" { ... }`"]),
    ("mixed-through-extends", MACHINE + 'isa i for m { inst X = "0000000000000000" { halt } '
                                        'inst Y = "0000000000000001" { halt } }\n'
                                        'isa j extends i { inst Y { A = 1 } }',
     ["3:19 V056 instruction 'Y' has no encoding, but 'X' in isa 'j' has one; hint: an isa encodes all its "
      "instructions or none: give 'Y' a pattern, `inst Y ... = \"...\" { ... }`"]),
    ("register-beyond-field", MACHINE + 'isa i for m { inst X r: reg = "000000000000000 r:1" { halt } }\n'
                                        "program p on i { X C }",
     ["3:20 V023 register 'C' is at position 2, which does not fit in the 1 bit of operand 'r' in the "
      "encoding of 'X'; hint: a 1-bit field holds positions 0 to 1; position 2 needs 2 bits"]),
    ("immediate-beyond-field", MACHINE + 'isa i for m { inst X a: 4 = "000000000000 a" { halt } }\n'
                                         "program p on i { X 16 }",
     ["3:20 V023 the value 16 does not fit in operand 'a' (4 bits); hint: the largest 4-bit value is 15"]),
)


@pytest.mark.parametrize(("text", "expected"), PATTERNS)
def test_pattern_errors(text: str, expected: list[str]) -> None:
    assert diagnostics_of(text) == expected


def test_every_error_of_an_isa_is_reported_at_once() -> None:
    found = diagnostics_of(MACHINE + 'isa i for m {\n  inst X a: 4 = "0000 a:5 b 0" { halt }\n'
                           '  inst Y = "0000" { halt }\n}')
    assert [d.split(" ")[:2] for d in found] == [["3:23", "V053"], ["3:27", "V052"], ["4:12", "V051"]]


def _isa(text: str) -> ir.Isa:
    isa = spec_from(MACHINE + text).isa("i")
    assert isa is not None
    return isa


def test_a_pattern_gives_fixed_bits_fields_and_extension_words() -> None:
    isa = _isa('isa i for m { inst X r: reg, a: 4, far: 16 = "1.01 a 000000 r:2" { r = zext(a, 16) } }')
    inst = isa.instructions[0]
    encoding = inst.encoding
    assert encoding is not None
    assert (encoding.mask, encoding.value) == (0b1011_0000_1111_1100, 0b1001_0000_0000_0000)
    assert encoding.fields == (ir.EncodingField(1, 8, 4), ir.EncodingField(0, 0, 2))
    assert encoding.extension == (2,)
    assert inst.size == 2
    assert inst.words((2, 0xA, 0xBEEF)) == (0b1001_1010_0000_0010, 0xBEEF)
    assert inst.operand_values((0b1101_1010_0000_0010, 0xBEEF)) == (2, 0xA, 0xBEEF)  # the . bit is free


def test_an_immediate_without_a_width_takes_its_fields() -> None:
    isa = _isa('isa i for m { inst X a, b = "a:5 b[3:2] 00000 b[1:0] 00" { A = zext(a, 16) } }')
    assert [o.width for o in isa.instructions[0].operands] == [5, 4]


def test_a_split_operand_is_encoded_and_decoded_bit_for_bit() -> None:
    isa = _isa('isa i for m { inst X a: 6 = "a[5] 0000000000 a[4:1] a[0]" { halt } }')
    inst = isa.instructions[0]
    assert inst.words((0b101101,)) == (0b1_0000000000_0110_1,)
    assert inst.operand_values((0b1_0000000000_0110_1,)) == (0b101101,)


def test_a_register_field_is_as_wide_as_the_last_general_register_position() -> None:
    isa = _isa('isa i for m { inst X r: reg = "r 00000000000000" { r = 1 } }')
    encoding = isa.instructions[0].encoding
    assert encoding is not None and encoding.fields == (ir.EncodingField(0, 14, 2),)


def test_an_extending_isa_inherits_patterns_and_keeps_opcodes() -> None:
    spec = spec_from(MACHINE + 'isa i for m { inst X = "0000000000000000" { halt } '
                     'inst Y = "0000000000000001" { halt } }\n'
                     'isa j extends i { inst Y = "0000000000000010" { A = 1 } inst Z = "1..............." { halt } }')
    j = spec.isa("j")
    assert j is not None
    assert [(i.name, i.opcode) for i in j.instructions] == [("X", 0), ("Y", 1), ("Z", 2)]
    assert [i.encoding.pattern for i in j.instructions if i.encoding] == \
        ["0000000000000000", "0000000000000010", "1..............."]


def test_isas_without_patterns_keep_opcode_words() -> None:
    isa = _isa("isa i for m { inst X a { A = a } inst Y { halt } }")
    assert [i.encoding for i in isa.instructions] == [None, None]
    assert isa.instructions[0].words((7,)) == (0, 7)
    assert isa.instructions[0].size == 2


def test_the_assembler_places_encoded_words() -> None:
    spec = compile_files(RV)
    isa, program = spec.isa("rv_enc"), spec.program("sum")
    assert isa is not None and program is not None
    memory = load_program(isa, program).memory
    words = {p.name + " " + ", ".join(map(str, p.operands)): memory[p.address:p.address + 2]
             for p in program.instructions}
    # RV32I's own words: addi x2, x0, 5; add x1, x1, x2; sw x1, 100(x0); lw x3, 100(x0); lui x5, 0x12345
    assert words["ADDI 2, 0, 5"][0] == 0x00500113
    assert words["ADD 1, 1, 2"][0] == 0x002080B3
    assert words["SW 1, 0, 100"][0] == 0x06102223
    assert words["LW 3, 0, 100"][0] == 0x06402183
    assert words["LUI 5, 74565"][0] == 0x123452B7
    assert words["LI 6, 3735928559"] == [0x730B, 0xDEADBEEF]  # the value in an extension word
    assert [p.address for p in program.instructions if p.name == "LI"] == [25]
    assert dict(program.labels)["done"] == 29  # LI takes two words


def test_the_dump_shows_a_pattern_and_leaves_out_a_missing_one() -> None:
    from vdsl.ir.dump import dump
    text = dump(spec_from(MACHINE + 'isa i for m { inst X a: 4 = "000000000000 a" { halt } }'))
    assert ':pattern "000000000000 a"' in text
    assert ":encoding" not in dump(spec_from(MACHINE + "isa i for m { inst X { halt } }"))
