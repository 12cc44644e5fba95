"""Resolve instruction sets: `extends`, instructions, the guest context, `expect` lines."""

from __future__ import annotations

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.layout import control_items, item
from vdsl.ir.vocabulary import EXPECT_FORMS, EXPECTABLE_CLASSES, POLICY, THEOREMS, normalize_expectation
from vdsl.resolve.common import (
    check_pins,
    check_state_ref,
    check_width,
    extends_order,
    first_defined,
    undefined,
)
from vdsl.resolve.encodings import check_encodings, resolve_encoding
from vdsl.resolve.helpers import Expander, check_helpers
from vdsl.resolve.types import Scope
from vdsl.source import Span


def resolve_isas(sink: DiagnosticSink, decls: dict[str, ir.IsaDecl], machines: dict[str, ir.Machine],
                  machine_names: set[str], constants: dict[str, int] | None = None) -> dict[str, ir.Isa]:
    merged: dict[str, ir.IsaDecl] = {}
    isas: dict[str, ir.Isa] = {}
    for decl in extends_order(sink, decls, "isa"):
        full = decl
        if decl.extends:
            if decl.extends not in merged:
                continue
            base = merged[decl.extends]
            instructions = {i.name: i for i in base.instructions}
            for inst in decl.instructions:
                instructions[inst.name] = inst
            pins = {(p.target.reg, p.target.field): p for p in base.pins}
            pins.update({(p.target.reg, p.target.field): p for p in decl.pins})
            helpers = {h.name: h for h in base.helpers}
            helpers.update({h.name: h for h in decl.helpers})
            full = attrs.evolve(decl, machine=decl.machine or base.machine,
                                machine_span=decl.machine_span or base.machine_span,
                                instructions=tuple(instructions.values()),
                                expects=decl.expects,  # each isa states its own
                                guest_mode=decl.guest_mode or base.guest_mode,
                                guest_mode_span=decl.guest_mode_span or base.guest_mode_span,
                                pins=tuple(pins.values()), helpers=tuple(helpers.values()),
                                virtualization=decl.virtualization or base.virtualization)
        merged[decl.name] = full
        if full.machine is None:
            sink.error("V022", f"isa '{decl.name}' does not say which machine it is for", decl.span,
                       f"write `isa {decl.name} for MACHINE {{ ... }}`")
            continue
        machine = machines.get(full.machine)
        if machine is None:
            if full.machine not in machine_names:  # else: its errors are already reported
                undefined(sink, "machine", full.machine, full.machine_span, machines)
            continue
        isa = _resolve_isa(sink, full, machine, constants or {})
        if isa is not None:
            isas[decl.name] = isa
    return isas


def _resolve_isa(sink: DiagnosticSink, decl: ir.IsaDecl, machine: ir.Machine,
                 constants: dict[str, int]) -> ir.Isa | None:
    errors_before = len(sink.diagnostics)
    instructions: list[ir.Instruction] = []
    seen: dict[str, ir.InstructionDecl] = {}
    helpers = check_helpers(sink, decl.helpers, machine)
    for inst in decl.instructions:
        if inst.name in seen:
            sink.error("V011", f"instruction '{inst.name}' is defined twice in isa '{decl.name}'",
                       inst.span, "rename one of them", first_defined(seen[inst.name].span))
            continue
        seen[inst.name] = inst
        resolved = _resolve_instruction(sink, inst, machine, len(instructions), constants, helpers)
        if resolved is not None:
            instructions.append(resolved)
    check_encodings(sink, decl.name, list(seen.values()), instructions, machine)
    guest_mode = machine.modes[-1]
    if decl.guest_mode is not None:
        if decl.guest_mode in machine.modes:
            guest_mode = decl.guest_mode
        else:
            sink.error("V014", f"unknown mode '{decl.guest_mode}'", decl.guest_mode_span,
                       did_you_mean(decl.guest_mode, machine.modes)
                       or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
    check_pins(sink, machine, decl.pins)
    names = list(seen)  # an instruction with errors of its own is still declared
    expects = [_check_isa_expectation(sink, e, names) for e in decl.expects]
    if decl.virtualization is not None:
        _check_virtualization(sink, decl.virtualization, machine, names)
    if len(sink.diagnostics) > errors_before:
        return None
    source = "isa" if decl.guest_mode is not None or decl.pins else "default"
    return ir.Isa(decl.name, machine, tuple(instructions), tuple(e for e in expects if e is not None),
                  ir.GuestContext(guest_mode, decl.pins, source), span=decl.span,
                  virtualization=decl.virtualization)


def _check_virtualization(sink: DiagnosticSink, extension: ir.Virtualization, machine: ir.Machine,
                          names: list[str]) -> None:
    """A virtualization extension shadows control state (not the mode, which is always the
    guest's own in the extension's guest mode) and exits on instructions of the isa."""
    registers = {r.name: r for r in machine.registers}
    for ref in extension.shadow:
        if ref.reg == machine.mode_name and ref.field is None:
            sink.error("V046", "the mode is not shadowed: in the extension's guest mode a guest always runs "
                       "in its own modes", ref.span, f"leave {machine.mode_name} out of `shadow`")
            continue
        if check_state_ref(sink, ref, registers, machine.mode_name) is None:
            continue
        if ref.reg == machine.relocation:
            sink.error("V046", f"the relocation register '{ref.reg}' is not shadowed: the monitor keeps each "
                       "guest in its partition with it", ref.span,
                       f"leave {ref.reg} out of `shadow` (an extension's second-stage translation is the "
                       "monitor's relocation)")
            continue
        state = item(machine, ref)
        if not any(control.covers(state) or state.covers(control) for control in control_items(machine)):
            name = f"{ref.reg}.{ref.field}" if ref.field else ref.reg
            sink.error("V046", f"'{name}' is not control state: the guest owns it anyway", ref.span,
                       "shadow the control state the hardware keeps for each guest; mark it `control` in "
                       "the machine if the monitor owns it otherwise")
    for k, mode in enumerate(extension.modes):
        if mode not in machine.modes:
            sink.error("V014", f"unknown mode '{mode}'", extension.span,
                       did_you_mean(mode, machine.modes) or f"the modes of '{machine.name}' are "
                       + ", ".join(machine.modes))
        elif mode in extension.modes[:k]:
            sink.error("V011", f"'{mode}' is listed twice in `modes`", extension.span, "list each mode once")
    for k, name in enumerate(extension.exits):
        if name not in names:
            undefined(sink, "instruction", name, extension.span, names)
        elif name in extension.exits[:k]:
            sink.error("V011", f"'{name}' is listed twice in `exits`", extension.span,
                       "list each instruction once")
    for k, ref in enumerate(extension.shadow):
        if ref in extension.shadow[:k]:
            name = f"{ref.reg}.{ref.field}" if ref.field else ref.reg
            sink.error("V011", f"'{name}' is listed twice in `shadow`", ref.span,
                       "list each piece of state once")


def _check_isa_expectation(sink: DiagnosticSink, expectation: ir.Expectation,
                           names: list[str]) -> ir.Expectation | None:
    """An isa's `expect` line, in canonical form, if it is one the analysis can check."""
    words = normalize_expectation(expectation.words)
    span = expectation.span
    forms = "write one of: " + "; ".join(f"`expect {f}`" for f in EXPECT_FORMS)
    if expectation.op is not None or len(words) < 2:
        sink.error("V037", "this expectation is not one an isa can state", span, forms)
        return None
    if words[0] in THEOREMS or words[0] == "premise":
        ok = check_theorem_expectation(sink, words, span, names)
        return attrs.evolve(expectation, words=words) if ok else None
    if words[0] == POLICY and POLICY not in names:  # the hypervisor is checked once they are resolved
        ok = check_theorem_expectation(sink, words, span, names, subject=2)
        return attrs.evolve(expectation, words=words) if ok else None
    if words[0] not in names:
        sink.error("V010", f"undefined instruction '{words[0]}'", span,
                   did_you_mean(words[0], [*names, *THEOREMS, "premise"])
                   or "an expectation starts with an instruction of the isa, a theorem (T1, T2, T3), "
                      "`premise` or `policy`")
        return None
    rest = words[1:]
    if rest[0] == "not":
        rest = rest[1:]
        if not rest:
            sink.error("V037", "a class is missing after 'not'", span,
                       f"e.g. `expect {words[0]} not privileged`")
            return None
    if len(rest) != 1 or rest[0] not in EXPECTABLE_CLASSES:
        wrong = " ".join(rest)
        sink.error("V037", f"unknown class '{wrong}'", span,
                   did_you_mean(wrong, EXPECTABLE_CLASSES)
                   or "the classes are " + ", ".join(EXPECTABLE_CLASSES))
        return None
    return attrs.evolve(expectation, words=words)


def check_theorem_expectation(sink: DiagnosticSink, words: tuple[str, ...], span: Span | None,
                              names: list[str], subject: int = 1) -> bool:
    """Whether `T1 holds` / `T1 fails [with NAME ...]` is well formed and names instructions (also
    `policy HYPERVISOR holds` ..., whose subject is two words)."""
    head, verdict = " ".join(words[:subject]), words[subject:]
    if not verdict or verdict[0] not in ("holds", "fails"):
        sink.error("V037", f"expected `{head} holds` or `{head} fails [with NAME ...]`", span,
                   (did_you_mean(verdict[0], ("holds", "fails")) if verdict else None)
                   or f"say whether it holds: `expect {head} holds` or `expect {head} fails`")
        return False
    if verdict[0] == "holds" and len(verdict) > 1:
        sink.error("V037", f"`{head} holds` names no instructions", span,
                   f"write `expect {head} holds`; to name the instructions that break it, "
                   f"`expect {head} fails with NAME ...`")
        return False
    if len(verdict) > 1 and (verdict[1] != "with" or len(verdict) < 3):
        sink.error("V037", f"expected `{head} fails` or `{head} fails with NAME ...`", span,
                   f"name the instructions after 'with': `expect {head} fails with NAME ...`")
        return False
    missing = [name for name in verdict[2:] if name not in names]
    for name in missing:
        undefined(sink, "instruction", name, span, names)
    return not missing


def _resolve_instruction(sink: DiagnosticSink, decl: ir.InstructionDecl, machine: ir.Machine,
                         opcode: int, constants: dict[str, int],
                         helpers: dict[str, ir.HelperDecl]) -> ir.Instruction | None:
    errors_before = len(sink.diagnostics)
    operands: list[ir.OperandDecl] = []
    for operand in decl.operands:
        if any(o.name == operand.name for o in operands):
            sink.error("V011", f"operand '{operand.name}' is declared twice", operand.span,
                       "give each operand its own name")
            continue
        if operand.name in machine.state_names:
            # Reported; the operand is still declared, so its uses raise no further errors.
            sink.error("V011", f"operand '{operand.name}' has the name of machine state", operand.span,
                       "rename the operand so that it does not hide the register or mode")
        elif operand.name in constants:
            sink.error("V011", f"operand '{operand.name}' has the name of a constant", operand.span,
                       "rename the operand so that it does not hide the constant")
        if operand.array is not None and machine.array(operand.array) is None:
            sink.error("V043", f"operand '{operand.name}: {operand.array}' needs a register array, and "
                       f"'{operand.array}' is not one", operand.span,
                       did_you_mean(operand.array, [a.name for a in machine.arrays])
                       or "declare one in the machine, e.g. `reg X[32]: 32`, or write `reg` for any general "
                       "register or a width for an immediate")
            operand = attrs.evolve(operand, array=None)  # any general register: no follow-on errors
        if operand.kind == "reg":
            targets = machine.operand_targets(operand)
            if not targets:
                sink.error("V022", f"operand '{operand.name}' names a register, but machine "
                           f"'{machine.name}' has no general registers", operand.span,
                           "declare registers that are neither pc, control nor timing state")
                continue
            width = max(machine.target_width(name) for _, name in targets)
            if targets[-1][0] >= 1 << width:
                sink.error("V023", f"operand '{operand.name}' is {width} bits wide, too narrow to number "
                           f"{targets[-1][0] + 1} registers", operand.span, "widen the registers")
                continue
        else:
            width = operand.width if operand.width is not None else machine.word
            # A bad width is reported; the operand stays declared (at the word width) so
            # that its uses do not read as undefined names.
            if not check_width(sink, width, operand.span, f"operand '{operand.name}'"):
                width = machine.word
            elif width > machine.memory.width:
                sink.error("V023", f"operand '{operand.name}' is {width} bits, but an operand is "
                           f"stored in one {machine.memory.width}-bit memory word", operand.span,
                           f"declare it at most {machine.memory.width} bits wide")
                width = machine.memory.width
        operands.append(attrs.evolve(operand, width=width))
    encoding = None
    if decl.encoding is not None and len(operands) == len(decl.operands):  # else: reported above
        encoding, resized = resolve_encoding(sink, decl.encoding, decl.name, decl.operands, operands, machine)
        operands = list(resized)
    scope = Scope(machine, tuple(operands), {}, sink, constants=constants)
    visible = {k: v for k, v in constants.items() if k not in {o.name for o in operands}}
    body = scope.block(Expander(sink, helpers, visible).statements(decl.body, {}))
    if len(sink.diagnostics) > errors_before:
        return None
    return ir.Instruction(decl.name, opcode, tuple(operands), body, span=decl.span, encoding=encoding)
