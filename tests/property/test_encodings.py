"""Random encoded instructions: what the assembler places, the emulator's decoder reads back.

Each example is a random isa with encodings over one machine: every instruction starts with
its own opcode bits (so no two patterns overlap), then a random mix of fixed bits, don't-care
bits and operand fields, an operand's bits split over several fields in any order; some
operands are registers, some follow in extension words.  A program uses every instruction with
random operand values; the decoder must find each instruction and its values at its address.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdsl import compile_text, load_program
from vdsl.emulator.decoder import Decoder

REGISTERS = ("A", "B", "C", "D")  # positions 0..3: a register field is at least 2 bits wide
OPCODE_BITS = 3


@st.composite
def instruction(draw: st.DrawFn, name: str, opcode: int, word: int) -> tuple[str, str]:
    """An instruction's declaration and a use of it with random operand values."""
    free = word - OPCODE_BITS
    widths: list[int] = []
    while sum(widths) < free:
        widths.append(draw(st.integers(1, free - sum(widths))))
    # Each chunk of the word after the opcode: fixed bits (None) or a field of operand k.
    fields = draw(st.integers(0, 3))
    owners = [draw(st.none() | st.integers(0, fields - 1)) if fields else None for _ in widths]
    parts: list[str] = [format(opcode, f"0{OPCODE_BITS}b")]
    declared: list[tuple[str, str]] = []  # (declaration, value as written)
    chunks = {k: [i for i, owner in enumerate(owners) if owner == k] for k in range(fields)}
    texts: dict[int, str] = {}
    for k, mine in chunks.items():
        if not mine:
            continue
        operand = f"f{k}"
        total = sum(widths[i] for i in mine)
        if len(mine) == 1 and total >= 2 and draw(st.booleans()):
            declared.append((f"{operand}: reg", draw(st.sampled_from(REGISTERS))))
            texts[mine[0]] = f"{operand}:{total}"
            continue
        declared.append((f"{operand}: {total}", str(draw(st.integers(0, (1 << total) - 1)))))
        if len(mine) == 1:
            texts[mine[0]] = draw(st.sampled_from([operand, f"{operand}:{total}"]))
            continue
        lo = 0
        for i in draw(st.permutations(mine)):  # the operand's bits, low to high, in any order
            texts[i] = f"{operand}[{lo + widths[i] - 1}:{lo}]"
            lo += widths[i]
    for i, width in enumerate(widths):
        parts.append(texts.get(i) or "".join(draw(st.lists(st.sampled_from("01."), min_size=width,
                                                             max_size=width))))
    for k in range(draw(st.integers(0, 2))):
        width = draw(st.integers(1, word))
        declared.append((f"x{k}: {width}", str(draw(st.integers(0, (1 << width) - 1)))))
    order = draw(st.permutations(declared))
    operands = ", ".join(d for d, _ in order)
    inst = f'    inst {name} {operands} = "{" ".join(parts)}" {{ halt }}\n'
    use = f"    {name} {', '.join(v for _, v in order)}\n"
    return inst, use


@st.composite
def encoded_spec(draw: st.DrawFn) -> str:
    word = draw(st.sampled_from([8, 16, 32]))
    opcodes = draw(st.lists(st.integers(0, (1 << OPCODE_BITS) - 1), min_size=1, max_size=6, unique=True))
    pieces = [draw(instruction(f"I{k}", opcode, word)) for k, opcode in enumerate(opcodes)]
    return (f"machine m {{ word {word} memory E[64] modes {{ s > u }} "
            + " ".join(f"reg {r}" for r in REGISTERS) + " reg P pc }\n"
            + "isa i for m {\n" + "".join(inst for inst, _ in pieces) + "}\n"
            + "program p on i {\n" + "".join(use for _, use in pieces) + "}\n")


def _check_round_trip(text: str) -> None:
    spec = compile_text(text, "random.vspec")
    isa, program = spec.isa("i"), spec.program("p")
    assert isa is not None and program is not None
    memory = load_program(isa, program).memory
    decoder = Decoder(isa)
    for placed in program.instructions:
        found = decoder.at(memory, placed.address)
        assert found is not None, text
        inst, operands = found
        assert (inst.name, operands) == (placed.name, placed.operands), text
        assert inst.words(operands) == tuple(memory[placed.address:placed.address + inst.size])


@given(encoded_spec())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_assembled_instructions_decode_to_themselves(text: str) -> None:
    _check_round_trip(text)


@pytest.mark.slow
@given(encoded_spec())
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_assembled_instructions_decode_to_themselves_long(text: str) -> None:
    _check_round_trip(text)
