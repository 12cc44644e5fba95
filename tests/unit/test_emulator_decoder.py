"""The decoder (`vdsl.emulator.decoder`) and encoded isas on the bare machine: runs, illegal
words, extension words past memory, don't-care bits and compiled code."""

from __future__ import annotations

from conftest import ROOT, spec_from

from vdsl import Emulator, compile_files, load_program, run_program
from vdsl.emulator.decoder import Decoder
from vdsl.ir import nodes as ir

RV = compile_files(ROOT / "tests" / "specs" / "rv_encoded.vspec")

# 8-bit words: SET holds a register and a 4-bit value in its word, LDI its value in the next word
SMALL = """
machine m { word 8 memory E[32] modes { s > u } reg A reg B reg P pc reg Q }
isa i for m {
    inst SET r: reg, v: 4 = "1 r:3 v" { r = zext(v, 8) }
    inst LDI r: reg, v: 8 = "01 r:2 ..00" { r = v }
    inst ST r: reg, a: 4 = "001 r:1 a" { mem[a] = r }
    inst HALT = "00000000" { halt }
}
"""


def test_the_encoded_example_runs_to_its_final_state() -> None:
    result = run_program(RV, "sum")
    state = result.state
    assert (result.status, result.steps) == ("halted", 26)
    registers = {r: state.get(ir.StateRef(r)) for r in ("X1", "X2", "X3", "X4", "X5", "X6", "X7")}
    assert registers == {"X1": 15, "X2": 0, "X3": 15, "X4": (1 << 32) - 15, "X5": 0x12345000,
                         "X6": 0xDEADBEEF, "X7": 1}
    assert state.memory[100] == 15
    assert state.memory[4] == RV.machines[0].causes.index("ecall")


def test_the_decoder_finds_instructions_by_their_fixed_bits() -> None:
    isa = spec_from(SMALL).isa("i")
    assert isa is not None
    decoder = Decoder(isa)
    assert [i.name if i else None for i in map(decoder.instruction, (0x80, 0xFF, 0x40, 0x7C, 0x2F, 0x00, 0x01))] \
        == ["SET", "SET", "LDI", "LDI", "ST", "HALT", None]
    assert decoder.at([0b1_001_0111], 0) == (isa.instructions[0], (1, 7))
    assert decoder.at([0b01_01_1100, 200], 0) == (isa.instructions[1], (1, 200))  # . bits are free
    assert decoder.at([0b01_01_0000], 0) is None  # its extension word lies past memory


def _run_words(words: list[int], single_step: bool = False) -> tuple[Emulator, str, str | None]:
    spec = spec_from(SMALL + "program p on i { HALT }")
    isa, program = spec.isa("i"), spec.program("p")
    assert isa is not None and program is not None
    state = load_program(isa, program)
    state.memory[:len(words)] = words
    emulator = Emulator(isa, state, single_step=single_step)
    result = emulator.run(100)
    return emulator, result.status, result.cause


def test_a_word_that_matches_no_pattern_is_illegal() -> None:
    assert _run_words([0b0001_0000])[1:] == ("trap", "illegal")


def test_a_register_field_naming_no_general_register_is_illegal() -> None:
    assert _run_words([0b1_010_0000])[1:] == ("trap", "illegal")  # position 2 is the pc
    assert _run_words([0b1_011_0000])[1:] == ("halted", None)  # Q, after the pc, is general
    assert _run_words([0b1_100_0000])[1:] == ("trap", "illegal")  # no register at position 4


def test_an_extension_word_past_the_end_of_memory_traps() -> None:
    assert _run_words([0] * 31 + [0b01_00_0000])[1:] == ("halted", None)
    emulator, status, cause = _run_words([0b1_000_0000] * 31 + [0b01_00_0000])
    assert (status, cause) == ("trap", "memory")
    assert emulator.state.get(ir.StateRef("P")) == 31


def test_words_that_differ_in_dont_care_bits_share_their_compiled_code() -> None:
    emulator, status, _ = _run_words([0b01_00_0000, 5, 0b01_00_1100, 5, 0], single_step=True)
    assert status == "halted"
    assert emulator.state.get(ir.StateRef("A")) == 5
    assert len(emulator.singles) == 2  # LDI A, 5 (twice, in two spellings) and HALT


def test_encoded_code_modified_in_place_runs_the_new_word() -> None:
    # LDI B, <SET A, 9>; ST B, 3 rewrites the SET A, 1 at 3, in the block being run
    emulator, status, _ = _run_words([0b01_01_0000, 0b1_000_1001, 0b001_1_0011, 0b1_000_0001, 0])
    assert status == "halted"
    assert emulator.state.get(ir.StateRef("A")) == 9
