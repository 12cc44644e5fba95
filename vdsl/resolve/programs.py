"""Assemble programs: words grouped into instructions, labels, data, the start state."""

from __future__ import annotations

import attrs

from vdsl.errors import DiagnosticSink, Related, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.resolve.common import a_bits, bits, check_state_value, first_defined, undefined
from vdsl.source import Span


def _program_isa(sink: DiagnosticSink, decl: ir.ProgramDecl, isas: dict[str, ir.Isa],
                 machines: dict[str, ir.Machine], isa_decls: dict[str, ir.IsaDecl]) -> ir.Isa | None:
    if decl.target in isas:
        return isas[decl.target]
    if decl.target in isa_decls:
        return None  # the ISA has errors of its own
    candidates = [i for i in isas.values() if i.machine.name == decl.target]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        sink.error("V010", f"machine '{decl.target}' has several instruction sets", decl.target_span,
                   "name the isa: " + ", ".join(sorted(i.name for i in candidates)))
        return None
    if decl.target not in machines:
        undefined(sink, "isa", decl.target, decl.target_span, list(isas) + list(machines))
    elif not any(d.machine == decl.target for d in isa_decls.values()):  # else: the isa has errors
        sink.error("V010", f"machine '{decl.target}' has no instruction set", decl.target_span,
                   f"declare one with `isa NAME for {decl.target} {{ ... }}`")
    return None


def resolve_program(sink: DiagnosticSink, decl: ir.ProgramDecl, isas: dict[str, ir.Isa],
                    machines: dict[str, ir.Machine], isa_decls: dict[str, ir.IsaDecl],
                    constants: dict[str, int] | None = None) -> ir.Program | None:
    isa = _program_isa(sink, decl, isas, machines, isa_decls)
    if isa is None:
        return None
    return _Assembler(sink, decl, isa, constants or {}).assemble()


@attrs.define
class _Assembler:
    """Groups program words into instructions by operand count and lays them out."""

    sink: DiagnosticSink
    decl: ir.ProgramDecl
    isa: ir.Isa
    constants: dict[str, int] = attrs.Factory(dict)  # `const` names, for operand and data words
    labels: dict[str, tuple[int, Span | None]] = attrs.Factory(dict)
    placed: list[tuple[int, ir.Instruction, list[ir.ProgramWord], Span | None]] = attrs.Factory(list)
    occupied: dict[int, Span | None] = attrs.Factory(dict)

    def assemble(self) -> ir.Program | None:
        errors_before = len(self.sink.diagnostics)
        machine = self.isa.machine
        items = list(self.decl.items)
        address = 0
        start_mode = machine.modes[0]
        entry: ir.EntryDecl | None = None
        data: list[tuple[int, ir.ProgramWord]] = []
        inits: list[ir.InitDecl] = []
        i = 0
        while i < len(items):
            item = items[i]
            i += 1
            if isinstance(item, ir.LabelDef):
                if item.name in self.labels:
                    self.sink.error("V011", f"label '{item.name}' is defined twice", item.span,
                                    "each label marks one address", first_defined(self.labels[item.name][1]))
                else:
                    self.labels[item.name] = (address, item.span)
            elif isinstance(item, ir.OrgDecl):
                address = item.address
            elif isinstance(item, ir.EntryDecl):
                entry = item
            elif isinstance(item, ir.StartModeDecl):
                if item.mode not in machine.modes:
                    self.sink.error("V014", f"unknown mode '{item.mode}'", item.span,
                                    did_you_mean(item.mode, machine.modes)
                                    or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
                else:
                    start_mode = item.mode
            elif isinstance(item, ir.InitDecl):
                inits.append(item)
                self.check_init(item)
            elif isinstance(item, ir.DataDecl):
                for offset, word in enumerate(item.values):
                    data.append((item.address + offset, word))
                    self.occupy(item.address + offset, word.span, "data word")
            elif isinstance(item, ir.Comma):
                self.sink.error("V019", "unexpected ',' between instructions", item.span,
                                "commas separate the operands of one instruction")
            else:
                i = self.instruction(item, items, i, address)
                if self.placed and self.placed[-1][0] == address:
                    address += self.placed[-1][1].size
        words = [(address, word) for address, word in data]
        resolved_data = [(a, self.word_value(w, machine.memory.width, "a memory word")) for a, w in words]
        instructions = []
        for at, inst, operand_words, span in self.placed:
            values = []
            for index, word in enumerate(operand_words):
                values.append(self.operand_value(inst, index, word))
            instructions.append(ir.PlacedInstruction(at, inst.name, tuple(values), span=span))
        entry_address = instructions[0].address if instructions else 0
        if entry is not None:
            if entry.label in self.labels:
                entry_address = self.labels[entry.label][0]
            else:
                self.sink.error("V016", f"undefined label '{entry.label}'", entry.span,
                                did_you_mean(entry.label, self.labels) or "define it with `NAME:`")
        if len(self.sink.diagnostics) > errors_before:
            return None
        return ir.Program(
            self.decl.name, self.isa.name, start_mode, entry_address, tuple(instructions),
            tuple((a, v) for a, v in resolved_data if v is not None), tuple(inits),
            tuple((name, at) for name, (at, _) in self.labels.items()), span=self.decl.span,
        )

    def occupy(self, address: int, span: Span | None, what: str) -> None:
        size = self.isa.machine.memory.size
        if not 0 <= address < size:
            hint = "use `org` to place the program inside memory" if what != "data word" else \
                f"data words must fit in addresses 0 to {size - 1}: start the data lower"
            self.sink.error("V029", f"{what} at address {address} lies outside the {size}-word memory",
                            span, hint)
        elif address in self.occupied:
            first = self.occupied[address]
            self.sink.error("V029", f"{what} at address {address} overlaps a word already used", span,
                            "move the data or the code with `org` so they do not overlap",
                            (Related("the word is first used here", first),) if first else ())
        else:
            self.occupied[address] = span

    def instruction(self, item: ir.ProgramItem, items: list[ir.ProgramItem], i: int, address: int) -> int:
        assert isinstance(item, ir.ProgramWord)
        inst = self.isa.instruction(item.text) if item.value is None else None
        if inst is None:
            if item.value is not None:
                message = f"expected an instruction, found the number {item.text}"
                hint = "an extra operand? data words go in `data ADDRESS: value, ...`"
            else:
                message = f"unknown instruction '{item.text}' in isa '{self.isa.name}'"
                hint = did_you_mean(item.text, [x.name for x in self.isa.instructions]) or \
                    "a label needs a colon: `NAME:`"
            self.sink.error("V015", message, item.span, hint)
            return i
        operands: list[ir.ProgramWord] = []
        for index in range(len(inst.operands)):
            if index > 0:
                if i < len(items) and isinstance(items[i], ir.Comma):
                    i += 1
                else:
                    self.wrong_count(inst, item, len(operands))
                    return i
            nxt = items[i] if i < len(items) else None
            if not isinstance(nxt, ir.ProgramWord) or (
                    nxt.value is None and self.isa.instruction(nxt.text) is not None
                    and not self.is_label(nxt.text, items)):
                self.wrong_count(inst, item, len(operands))
                return i
            operands.append(nxt)
            i += 1
        if i < len(items) and isinstance(items[i], ir.Comma):
            self.sink.error("V019", f"{inst.name} takes {_operand_count(inst)}; found more",
                            items[i].span, _usage(inst))
            i += 1
        span = item.span
        if operands and span is not None and operands[-1].span is not None:
            last = operands[-1].span
            span = Span(span.source, span.line, span.column, last.end_line, last.end_column)
        for k in range(inst.size):
            self.occupy(address + k, span, f"instruction {inst.name}")
        self.placed.append((address, inst, operands, span))
        return i

    def is_label(self, name: str, items: list[ir.ProgramItem]) -> bool:
        return any(isinstance(x, ir.LabelDef) and x.name == name for x in items)

    def wrong_count(self, inst: ir.Instruction, item: ir.ProgramWord, found: int) -> None:
        self.sink.error("V019", f"{inst.name} takes {_operand_count(inst)}, found {found}", item.span,
                        _usage(inst))

    def word_value(self, word: ir.ProgramWord, width: int, what: str) -> int | None:
        if word.value is not None:
            value = word.value
        elif word.text in self.labels:
            value = self.labels[word.text][0]
        elif word.text in self.constants:
            value = self.constants[word.text]
        else:
            self.sink.error("V016", f"undefined label '{word.text}'", word.span,
                            did_you_mean(word.text, [*self.labels, *self.constants])
                            or "define it with `NAME:`, or as a number with `const NAME = NUMBER`")
            return None
        if value >= 1 << width:
            self.sink.error("V023", f"the value {value} does not fit in {what} ({width} bits)", word.span,
                            f"the largest {width}-bit value is {(1 << width) - 1}")
            return None
        return value

    def operand_value(self, inst: ir.Instruction, index: int, word: ir.ProgramWord) -> int:
        operand = inst.operands[index]
        assert operand.width is not None
        if operand.kind == "reg":
            codes = {name: code for code, name in self.isa.machine.operand_targets(operand)}
            names = list(codes)
            if word.text in codes:
                self.check_position(inst, index, word, codes[word.text])
                return codes[word.text]
            self.sink.error("V010", f"operand '{operand.name}' needs a register, not '{word.text}'",
                            word.span, did_you_mean(word.text, names)
                            or "the registers are " + ", ".join(names))
            return 0
        value = self.word_value(word, operand.width, f"operand '{operand.name}'")
        return value if value is not None else 0

    def check_position(self, inst: ir.Instruction, index: int, word: ir.ProgramWord, position: int) -> None:
        """A register named in an encoded field: its position must fit the field (V023)."""
        held = inst.encoding.held_width(index) if inst.encoding is not None else None
        if held is not None and position >= 1 << held:
            name = inst.operands[index].name
            self.sink.error("V023", f"register '{word.text}' is at position {position}, which does not fit "
                            f"in the {bits(held)} of operand '{name}' in the encoding of '{inst.name}'",
                            word.span, f"{a_bits(held)} field holds positions 0 to {(1 << held) - 1}; "
                            f"position {position} needs {bits(position.bit_length())}")

    def check_init(self, item: ir.InitDecl) -> None:
        check_state_value(self.sink, self.isa.machine, item.target, item.value, item.span,
                           "set the start mode by name with `mode NAME`")


def _operand_count(inst: ir.Instruction) -> str:
    n = len(inst.operands)
    return "no operands" if n == 0 else "1 operand" if n == 1 else f"{n} operands"


def _usage(inst: ir.Instruction) -> str:
    return f"usage: {inst.name}" + (" " + ", ".join(o.name for o in inst.operands) if inst.operands else "")
