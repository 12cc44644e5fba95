"""Resolve declarations into a checked `Spec`: names, widths, layouts, every error at once.

Each declaration kind has its own resolver below; all report into one `DiagnosticSink`,
so one run shows every problem of the spec.  A declaration that has errors is left out
of the result, and later declarations that depend on it do not repeat its errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import attrs

from vdsl.check.vocabulary import EXPECT_FORMS, EXPECTABLE_CLASSES, THEOREMS, normalize_expectation
from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.layout import psw_words
from vdsl.source import Span

TECHNIQUES = ("trap_and_emulate", "hybrid", "binary_translation", "paravirtual", "hardware_assisted")
SCHEDULES = ("round_robin",)
HYPERVISOR_TYPES = (0, 1, 2)
ARITHMETIC_OPS = {"+", "-", "*", "/", "%", "&", "|", "^"}
COMPARE_OPS = {"==", "!=", "<", "<=", ">", ">="}
LOGIC_OPS = {"&&", "||"}
SHIFT_OPS = {"<<", ">>"}
MAX_WIDTH = 4096

D = TypeVar("D")


def resolve(modules: Sequence[ir.Module]) -> ir.Spec:
    """The checked spec of `modules`, or a `SpecError` listing every problem found."""
    sink = DiagnosticSink()
    declarations = [d for module in modules for d in module.declarations]
    machine_decls = _unique(sink, [d for d in declarations if isinstance(d, ir.MachineDecl)], "machine")
    isa_decls = _unique(sink, [d for d in declarations if isinstance(d, ir.IsaDecl)], "isa")
    program_decls = _unique(sink, [d for d in declarations if isinstance(d, ir.ProgramDecl)], "program")
    hypervisors = _unique(sink, [d for d in declarations if isinstance(d, ir.Hypervisor)], "hypervisor")
    scenarios = _unique(sink, [d for d in declarations if isinstance(d, ir.Scenario)], "scenario")

    machines = _resolve_machines(sink, machine_decls)
    isas = _resolve_isas(sink, isa_decls, machines, set(machine_decls))
    programs = [p for p in (_resolve_program(sink, d, isas, machines, set(isa_decls))
                            for d in program_decls.values()) if p is not None]
    resolved_hypervisors = [
        h for h in (_resolve_hypervisor(sink, h, machines, isas, set(machine_decls) | set(isa_decls))
                    for h in hypervisors.values()) if h is not None
    ]
    for scenario in scenarios.values():
        _check_scenario(sink, scenario, hypervisors, program_decls, programs, isas)
    sink.raise_if_any()
    return ir.Spec(
        machines=tuple(machines.values()),
        isas=tuple(_adopt_hypervisor_context(i, resolved_hypervisors) for i in isas.values()),
        programs=tuple(programs),
        hypervisors=tuple(resolved_hypervisors),
        scenarios=tuple(scenarios.values()),
    )


def _unique(sink: DiagnosticSink, decls: list[D], kind: str) -> dict[str, D]:
    found: dict[str, D] = {}
    for decl in decls:
        name = decl.name  # type: ignore[attr-defined]
        if name in found:
            first = found[name].span  # type: ignore[attr-defined]
            where = f" (first defined at {first.location()})" if first else ""
            hint = "rename one of them" + (", or use `extends` to derive a variant"
                                           if kind in ("machine", "isa") else "")
            sink.error("V011", f"{kind} '{name}' is defined twice{where}", decl.span,  # type: ignore[attr-defined]
                       hint)
        else:
            found[name] = decl
    return found


def _undefined(sink: DiagnosticSink, what: str, name: str, span: Span | None,
               candidates: Iterable[str], hint: str | None = None) -> None:
    sink.error("V010", f"undefined {what} '{name}'", span,
               did_you_mean(name, candidates) or hint or f"declare the {what} before using it")


def _extends_order(sink: DiagnosticSink, decls: dict[str, D], kind: str) -> list[D]:
    """Declarations ordered so that each comes after what it extends; cycles reported."""
    order: list[D] = []
    state: dict[str, str] = {}

    def visit(decl: D, chain: list[str]) -> bool:
        name = decl.name  # type: ignore[attr-defined]
        if state.get(name) == "done":
            return True
        if state.get(name) == "active":
            sink.error("V027", f"{kind} '{name}' extends itself: {' -> '.join([*chain, name])}",
                       decl.extends_span, "remove one `extends` from the chain")  # type: ignore[attr-defined]
            return False
        state[name] = "active"
        base = decl.extends  # type: ignore[attr-defined]
        ok = True
        if base is not None:
            if base in decls:
                ok = visit(decls[base], [*chain, name])
            else:
                _undefined(sink, kind, base, decl.extends_span, decls)  # type: ignore[attr-defined]
                ok = False
        state[name] = "done"
        if ok:
            order.append(decl)
        return ok

    for decl in decls.values():
        visit(decl, [])
    return order


# ---------------------------------------------------------------- machines


def _merge_machine(base: ir.MachineDecl, child: ir.MachineDecl) -> ir.MachineDecl:
    """`machine child extends base`: child parts replace the base's, registers by name."""
    registers = {r.name: r for r in base.registers}
    for register in child.registers:
        registers[register.name] = register
    return attrs.evolve(
        child,
        word=child.word or base.word,
        memory=child.memory or base.memory,
        modes=child.modes or base.modes,
        registers=tuple(registers.values()),
        relocation=child.relocation or base.relocation,
        trap=child.trap or base.trap,
    )


def _resolve_machines(sink: DiagnosticSink, decls: dict[str, ir.MachineDecl]) -> dict[str, ir.Machine]:
    merged: dict[str, ir.MachineDecl] = {}
    machines: dict[str, ir.Machine] = {}
    for decl in _extends_order(sink, decls, "machine"):
        if decl.extends and decl.extends not in merged:
            continue  # its base is broken, and reported
        full = _merge_machine(merged[decl.extends], decl) if decl.extends else decl
        merged[decl.name] = full
        machine = _resolve_machine(sink, full)
        if machine is not None:
            machines[decl.name] = machine
    return machines


def _check_width(sink: DiagnosticSink, width: int, span: Span | None, what: str) -> bool:
    if not 1 <= width <= MAX_WIDTH:
        sink.error("V023", f"{what} must be between 1 and {MAX_WIDTH} bits, not {width}", span,
                   "widths count bits, e.g. 16 or 32")
        return False
    return True


def _resolve_machine(sink: DiagnosticSink, decl: ir.MachineDecl) -> ir.Machine | None:
    errors_before = len(sink.diagnostics)
    if decl.word is None:
        sink.error("V022", f"machine '{decl.name}' does not declare its word width", decl.span,
                   "add `word 16` (or the width you need) to the machine")
        word = 16
    else:
        word = decl.word.value
        if not _check_width(sink, word, decl.word.span, "the word width"):
            word = 16  # go on checking the rest as if the width were sensible
    if decl.memory is None:
        sink.error("V022", f"machine '{decl.name}' does not declare its memory", decl.span,
                   "add `memory E[1024]` to the machine")
        memory = ir.Memory("E", 1, word)
    else:
        memory_width = decl.memory.width if decl.memory.width is not None else word
        _check_width(sink, memory_width, decl.memory.span, "the memory word width")
        if decl.memory.size < 1:
            sink.error("V023", "the memory needs at least one word", decl.memory.span,
                       "e.g. `memory E[1024]`")
        memory = ir.Memory(decl.memory.name, max(1, decl.memory.size), memory_width, span=decl.memory.span)
    if decl.modes is None:
        sink.error("V022", f"machine '{decl.name}' does not declare its privilege modes", decl.span,
                   "add `modes { supervisor > user }`, most privileged first")
        modes: tuple[str, ...] = ("supervisor", "user")
        mode_name = "M"
    else:
        modes, mode_name = decl.modes.modes, decl.modes.name
        seen: set[str] = set()
        for mode in modes:
            if mode in seen:
                sink.error("V011", f"mode '{mode}' is listed twice", decl.modes.span,
                           "each mode appears once, most privileged first")
            seen.add(mode)

    registers: list[ir.Register] = []
    names: dict[str, Span | None] = {}
    for reg in decl.registers:
        if reg.name in names or reg.name == mode_name or reg.name in modes:
            sink.error("V011", f"'{reg.name}' is defined twice in machine '{decl.name}'", reg.span,
                       f"'{mode_name}' is the mode register and mode names are reserved"
                       if reg.name == mode_name or reg.name in modes else "rename one of them")
            continue
        names[reg.name] = reg.span
        resolved = _resolve_register(sink, reg, word)
        if resolved is not None:
            registers.append(resolved)

    pcs = [r for r in registers if r.is_pc]
    if not pcs:
        sink.error("V022", f"machine '{decl.name}' has no program counter", decl.span,
                   "mark one register with `pc`, e.g. `reg P pc`")
        pc = ""
    else:
        pc = pcs[0].name
        for extra in pcs[1:]:
            sink.error("V011", f"machine '{decl.name}' has two program counters", extra.span,
                       f"'{pc}' is already the pc")

    by_name = {r.name: r for r in registers}
    relocation = None
    if decl.relocation is not None and decl.relocation.register is not None:
        relocation = decl.relocation.register
        relocation_register = by_name.get(relocation)
        if relocation_register is None:
            _undefined(sink, "register", relocation, decl.relocation.span, by_name)
        elif relocation_register.field("base") is None or relocation_register.field("bound") is None:
            sink.error("V025", f"register '{relocation}' cannot relocate addresses: it needs fields "
                       "'base' and 'bound'", decl.relocation.span,
                       f"declare it as `control reg {relocation} {{ base, bound }}`")

    causes: tuple[str, ...] = ir.BUILTIN_CAUSES
    trap = None
    if decl.trap is not None:
        for cause in decl.trap.causes:
            if cause in causes:
                sink.error("V011", f"trap cause '{cause}' is declared twice", decl.trap.span,
                           f"the built-in causes are {', '.join(ir.BUILTIN_CAUSES)}")
            else:
                causes = (*causes, cause)
        trap = _resolve_trap(sink, decl, decl.trap, by_name, mode_name, memory)

    if len(sink.diagnostics) > errors_before:
        return None
    return ir.Machine(decl.name, word, memory, tuple(modes), mode_name, tuple(registers), pc,
                      relocation, trap, causes, span=decl.span)


def _resolve_register(sink: DiagnosticSink, decl: ir.RegisterDecl, word: int) -> ir.Register | None:
    fields: list[ir.RegisterField] = []
    next_lo = 0
    ok = True
    for field in decl.fields:
        if any(f.name == field.name for f in fields):
            sink.error("V011", f"field '{field.name}' is defined twice in register '{decl.name}'",
                       field.span, "rename one of them")
            ok = False
            continue
        width = field.width if field.width is not None else (1 if field.lo is not None else word)
        if field.width is not None and field.width < 1:
            sink.error("V023", f"field '{field.name}' has an empty bit range", field.span,
                       "write the high bit first, e.g. `IOPL [13:12]`")
            ok = False
            continue
        if not _check_width(sink, width, field.span, f"field '{field.name}'"):
            ok = False
            continue
        lo = field.lo if field.lo is not None else next_lo
        next_lo = lo + width
        fields.append(ir.RegisterField(field.name, lo, width, field.kind, span=field.span))
    if decl.width is not None:
        width = decl.width
    elif fields:
        width = max(f.lo + f.width for f in fields)
    else:
        width = word
    if not _check_width(sink, width, decl.span, f"register '{decl.name}'"):
        return None
    for placed in fields:
        if placed.lo + placed.width > width:
            sink.error("V023", f"field '{placed.name}' (bits {placed.lo}..{placed.lo + placed.width - 1}) "
                       f"does not fit in the {width}-bit register '{decl.name}'", placed.span,
                       "widen the register or move the field")
            ok = False
    for i, a in enumerate(fields):
        for b in fields[i + 1:]:
            if a.lo < b.lo + b.width and b.lo < a.lo + a.width:
                sink.error("V029", f"fields '{a.name}' and '{b.name}' of register '{decl.name}' overlap",
                           b.span, "give each field its own bits")
                ok = False
    if decl.is_pc and any(f.kind != "general" for f in fields):
        sink.error("V011", f"the program counter '{decl.name}' cannot hold control or timing fields",
                   decl.span, "declare the field on a register of its own")
    if decl.is_pc and decl.kind != "general":
        # Reported, but the register still counts as the pc (no "no pc" error follows).
        sink.error("V011", f"the program counter '{decl.name}' cannot also be {decl.kind} state",
                   decl.span, "the pc is always saved by traps; drop the qualifier")
    if not ok:
        return None
    return ir.Register(decl.name, width, decl.is_pc, decl.kind, tuple(fields), span=decl.span)


def _check_state_ref(sink: DiagnosticSink, ref: ir.StateRef, registers: dict[str, ir.Register],
                     mode_name: str) -> int | None:
    """The width of a referenced piece of state, or None after reporting it undefined."""
    if ref.reg == mode_name and ref.field is None:
        return -1  # the mode: width decided by the caller
    reg = registers.get(ref.reg)
    if reg is None:
        _undefined(sink, "register", ref.reg, ref.span, [*list(registers), mode_name])
        return None
    if ref.field is None:
        return reg.width
    field = reg.field(ref.field)
    if field is None:
        _no_field(sink, reg, ref.field, ref.span)
        return None
    return field.width


def _no_field(sink: DiagnosticSink, reg: ir.Register, name: str, span: Span | None) -> None:
    hint = did_you_mean(name, [f.name for f in reg.fields]) or (
        f"the fields of '{reg.name}' are " + ", ".join(f.name for f in reg.fields) if reg.fields
        else f"declare fields with `reg {reg.name} {{ {name} }}`")
    sink.error("V010", f"register '{reg.name}' has no field '{name}'", span, hint)


def _check_state_value(sink: DiagnosticSink, machine: ir.Machine, ref: ir.StateRef, value: int,
                       span: Span | None, mode_hint: str) -> None:
    """Check that `ref` names machine state and that `value` fits it (an init or a pin)."""
    registers = {r.name: r for r in machine.registers}
    width = _check_state_ref(sink, ref, registers, machine.mode_name)
    if width == -1:
        if value >= len(machine.modes):
            sink.error("V014", f"there is no mode number {value}", span, mode_hint)
    elif width is not None and value >= 1 << width:
        sink.error("V023", f"the value {value} does not fit in {_bits(width)}", span,
                   f"the largest {width}-bit value is {(1 << width) - 1}")


def _bits(width: int) -> str:
    return "1 bit" if width == 1 else f"{width} bits"


def _bit_pair(first: int, second: int) -> str:
    """'16 and 8 bits', but '16 bits and 1 bit'."""
    return f"{first} and {second} bits" if 1 not in (first, second) else \
        f"{_bits(first)} and {_bits(second)}"


def _a_bits(width: int) -> str:
    """'a 16-bit', 'an 8-bit', 'an 11-bit': the article as the number is spoken."""
    article = "an" if str(width).startswith("8") or width in (11, 18) else "a"
    return f"{article} {width}-bit"


def _resolve_trap(sink: DiagnosticSink, machine: ir.MachineDecl, decl: ir.TrapDecl,
                  registers: dict[str, ir.Register], mode_name: str,
                  memory: ir.Memory) -> ir.TrapMechanism | None:
    if decl.save is None or decl.load is None:
        sink.error("V022", "the trap mechanism needs both a `save (...) -> E[n]` and a "
                   "`load (...) <- E[n]`", decl.span,
                   "PG74: `trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }`")
        return None
    ok = True
    for refs, memory_name, at in ((decl.save, decl.save_memory, decl.save_at),
                                  (decl.load, decl.load_memory, decl.load_at),
                                  ((), decl.cause_memory, decl.cause_at)):
        words = 0
        for ref in refs:
            if _check_state_ref(sink, ref, registers, mode_name) is None:
                ok = False
            words += len(psw_words(ref, registers))
        if memory_name is None:
            continue
        if memory_name != memory.name:
            _undefined(sink, "memory", memory_name, decl.span, [memory.name])
            ok = False
        elif at is not None and at + max(words, 1) > memory.size:
            sink.error("V029", f"the trap area {memory_name}[{at}..{at + max(words, 1) - 1}] lies "
                       f"outside the {memory.size}-word memory", decl.span,
                       "choose addresses inside the memory")
            ok = False
    if not ok:
        return None
    assert decl.save_at is not None and decl.load_at is not None
    return ir.TrapMechanism(decl.save, decl.save_at, decl.load, decl.load_at, decl.cause_at,
                            span=decl.span)


# ---------------------------------------------------------------- instruction sets


def _resolve_isas(sink: DiagnosticSink, decls: dict[str, ir.IsaDecl], machines: dict[str, ir.Machine],
                  machine_names: set[str]) -> dict[str, ir.Isa]:
    merged: dict[str, ir.IsaDecl] = {}
    isas: dict[str, ir.Isa] = {}
    for decl in _extends_order(sink, decls, "isa"):
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
            full = attrs.evolve(decl, machine=decl.machine or base.machine,
                                machine_span=decl.machine_span or base.machine_span,
                                instructions=tuple(instructions.values()),
                                expects=decl.expects,  # each isa states its own
                                guest_mode=decl.guest_mode or base.guest_mode,
                                guest_mode_span=decl.guest_mode_span or base.guest_mode_span,
                                pins=tuple(pins.values()))
        merged[decl.name] = full
        if full.machine is None:
            sink.error("V022", f"isa '{decl.name}' does not say which machine it is for", decl.span,
                       f"write `isa {decl.name} for MACHINE {{ ... }}`")
            continue
        machine = machines.get(full.machine)
        if machine is None:
            if full.machine not in machine_names:  # else: its errors are already reported
                _undefined(sink, "machine", full.machine, full.machine_span, machines)
            continue
        isa = _resolve_isa(sink, full, machine)
        if isa is not None:
            isas[decl.name] = isa
    return isas


def _resolve_isa(sink: DiagnosticSink, decl: ir.IsaDecl, machine: ir.Machine) -> ir.Isa | None:
    errors_before = len(sink.diagnostics)
    instructions: list[ir.Instruction] = []
    seen: dict[str, ir.InstructionDecl] = {}
    for inst in decl.instructions:
        if inst.name in seen:
            sink.error("V011", f"instruction '{inst.name}' is defined twice in isa '{decl.name}'",
                       inst.span, "rename one of them")
            continue
        seen[inst.name] = inst
        resolved = _resolve_instruction(sink, inst, machine, len(instructions))
        if resolved is not None:
            instructions.append(resolved)
    guest_mode = machine.modes[-1]
    if decl.guest_mode is not None:
        if decl.guest_mode in machine.modes:
            guest_mode = decl.guest_mode
        else:
            sink.error("V014", f"unknown mode '{decl.guest_mode}'", decl.guest_mode_span,
                       did_you_mean(decl.guest_mode, machine.modes)
                       or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
    _check_pins(sink, machine, decl.pins)
    names = [i.name for i in instructions]
    expects = [_check_isa_expectation(sink, e, names) for e in decl.expects]
    if len(sink.diagnostics) > errors_before:
        return None
    source = "isa" if decl.guest_mode is not None or decl.pins else "default"
    return ir.Isa(decl.name, machine, tuple(instructions), tuple(e for e in expects if e is not None),
                  guest_mode, decl.pins, source, span=decl.span)


def _check_pins(sink: DiagnosticSink, machine: ir.Machine, pins: tuple[ir.Pin, ...]) -> None:
    for pin in pins:
        if pin.target.reg == machine.mode_name and pin.target.field is None:
            sink.error("V038", "the mode cannot be pinned", pin.span,
                       "say where guests run with `guests run in MODE`")
        else:
            _check_state_value(sink, machine, pin.target, pin.value, pin.span, "")


def _adopt_hypervisor_context(isa: ir.Isa, hypervisors: list[ir.Hypervisor]) -> ir.Isa:
    """An isa that declares no guest context takes the one of the hypervisor built for it
    (or for its machine), when exactly one such context is declared."""
    if isa.context_source != "default":
        return isa
    found = {(h.guest_mode, h.pins): h for h in hypervisors
             if h.target in (isa.name, isa.machine.name) and (h.guest_mode or h.pins)}
    if len(found) != 1:
        return isa
    (guest_mode, pins), hypervisor = next(iter(found.items()))
    return attrs.evolve(isa, guest_mode=guest_mode or isa.guest_mode, pins=pins,
                        context_source=f"hypervisor {hypervisor.name}")


def _check_isa_expectation(sink: DiagnosticSink, expectation: ir.Expectation,
                           names: list[str]) -> ir.Expectation | None:
    """An isa's `expect` line, in canonical form, if it is one the analysis can check."""
    words = normalize_expectation(expectation.words)
    span = expectation.span
    forms = "write one of: " + "; ".join(f"`expect {f}`" for f in EXPECT_FORMS)
    if expectation.op is not None or len(words) < 2:
        sink.error("V037", "this expectation is not one an isa can state", span, forms)
        return None
    if words[0] in THEOREMS:
        if words[1] not in ("holds", "fails") or (len(words) > 2 and (words[2] != "with" or len(words) < 4)):
            sink.error("V037", f"expected `{words[0]} holds` or `{words[0]} fails [with NAME ...]`", span,
                       forms)
            return None
        missing = [name for name in words[3:] if name not in names]
        for name in missing:
            _undefined(sink, "instruction", name, span, names)
        return None if missing else attrs.evolve(expectation, words=words)
    if words[0] not in names:
        sink.error("V010", f"undefined instruction '{words[0]}'", span,
                   did_you_mean(words[0], [*names, *THEOREMS]) or forms)
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


def _resolve_instruction(sink: DiagnosticSink, decl: ir.InstructionDecl, machine: ir.Machine,
                         opcode: int) -> ir.Instruction | None:
    errors_before = len(sink.diagnostics)
    operands: list[ir.OperandDecl] = []
    for operand in decl.operands:
        if any(o.name == operand.name for o in operands):
            sink.error("V011", f"operand '{operand.name}' is declared twice", operand.span,
                       "give each operand its own name")
            continue
        if operand.name in {r.name for r in machine.registers} | {machine.mode_name} | set(machine.modes):
            # Reported; the operand is still declared, so its uses raise no further errors.
            sink.error("V011", f"operand '{operand.name}' has the name of machine state", operand.span,
                       "rename the operand so that it does not hide the register or mode")
        if operand.kind == "reg":
            if not machine.general_registers:
                sink.error("V022", f"operand '{operand.name}' names a register, but machine "
                           f"'{machine.name}' has no general registers", operand.span,
                           "declare registers that are neither pc, control nor timing state")
                continue
            width = max(r.width for r in machine.general_registers)
        else:
            width = operand.width if operand.width is not None else machine.word
            # A bad width is reported; the operand stays declared (at the word width) so
            # that its uses do not read as undefined names.
            if not _check_width(sink, width, operand.span, f"operand '{operand.name}'"):
                width = machine.word
            elif width > machine.memory.width:
                sink.error("V023", f"operand '{operand.name}' is {width} bits, but an operand is "
                           f"stored in one {machine.memory.width}-bit memory word", operand.span,
                           f"declare it at most {machine.memory.width} bits wide")
                width = machine.memory.width
        operands.append(attrs.evolve(operand, width=width))
    scope = _Scope(machine, tuple(operands), {}, sink)
    body = scope.block(decl.body)
    if len(sink.diagnostics) > errors_before:
        return None
    return ir.Instruction(decl.name, opcode, tuple(operands), body, span=decl.span)


@attrs.define
class _Scope:
    """Name lookup and typing of instruction semantics."""

    machine: ir.Machine
    operands: tuple[ir.OperandDecl, ...]
    locals: dict[str, int]
    sink: DiagnosticSink

    # ------------------------------------------------------------ statements
    def block(self, stmts: Iterable[ir.Stmt]) -> tuple[ir.Stmt, ...]:
        inner = _Scope(self.machine, self.operands, dict(self.locals), self.sink)
        return tuple(s for s in (inner.statement(s) for s in stmts) if s is not None)

    def statement(self, stmt: ir.Stmt) -> ir.Stmt | None:
        if isinstance(stmt, ir.Let):
            return self.let(stmt)
        if isinstance(stmt, ir.Assign):
            return self.assign(stmt)
        if isinstance(stmt, ir.TupleAssign):
            return self.tuple_assign(stmt)
        if isinstance(stmt, ir.If):
            condition = self.condition(stmt.condition)
            return ir.If(condition, self.block(stmt.then), self.block(stmt.otherwise), span=stmt.span)
        if isinstance(stmt, ir.Trap):
            if stmt.cause not in self.machine.causes:
                _undefined(self.sink, "trap cause", stmt.cause, stmt.span, self.machine.causes,
                           "declare it in the machine's trap block: `causes { "
                           f"{stmt.cause} }}`")
            return stmt
        return stmt

    def let(self, stmt: ir.Let) -> ir.Let | None:
        if self.lookup_kind(stmt.name) is not None:
            self.sink.error("V011", f"'{stmt.name}' is already defined", stmt.span,
                            "choose another name for the let binding")
            return None
        value = self.expr(stmt.value, None)
        if isinstance(value, ir.Const) and isinstance(stmt.value, ir.Number):
            value = self.expr(stmt.value, self.machine.word)
        self.locals[stmt.name] = width_of(value)
        return ir.Let(stmt.name, value, span=stmt.span)

    def condition(self, expr: ir.Expr) -> ir.Expr:
        value = self.expr(expr, 1)
        width = width_of(value)
        if width > 1:  # 0: an error already reported
            self.sink.error("V024", f"a condition must be a comparison or a 1-bit value, "
                            f"not {_a_bits(width)} value", expr.span,
                            "compare it, e.g. `A != 0`")
        return value

    def assign(self, stmt: ir.Assign) -> ir.Assign | None:
        target = self.target(stmt.target)
        if target is None or width_of(target) == 0:  # already reported
            self.expr(stmt.value, None)
            return None
        if isinstance(target, ir.Mode) and self.unknown_mode(stmt.value):
            return None
        if isinstance(stmt.value, ir.TupleExpr):
            if not isinstance(target, ir.MemAccess):
                self.sink.error("V026", "a tuple can only be stored to memory", stmt.value.span,
                                "store it with `mem[a] = (X, Y)`, one word per item")
                return None
            items = [self.expr(item, self.machine.memory.width) for item in stmt.value.items]
            flat = [w for item in items for w in self.flatten(item)]
            return ir.Assign(target, ir.TupleExpr(tuple(flat), span=stmt.value.span), span=stmt.span)
        width = width_of(target)
        value = self.expr(stmt.value, width)
        self.check_same_width(value, width, stmt.value.span, target_name(target))
        return ir.Assign(target, value, span=stmt.span)

    def tuple_assign(self, stmt: ir.TupleAssign) -> ir.TupleAssign | None:
        targets = [self.target(t) for t in stmt.targets]
        value = stmt.value
        if not isinstance(value, ir.MemAccess):
            self.sink.error("V026", "a tuple of targets is loaded from memory, one word each",
                            value.span, "write `(X, Y) = mem[a]`")
            return None
        address = self.expr(value.address, self.machine.word)
        if any(t is None for t in targets):
            return None
        flat = [w for t in targets if t is not None for w in self.flatten(t)]
        for t in flat:
            if isinstance(t, ir.MemAccess):
                self.sink.error("V026", "memory cannot be a target of a tuple load", t.span,
                                "load registers, fields or the mode")
                return None
        return ir.TupleAssign(tuple(flat), attrs.evolve(value, address=address,
                                                        width=self.machine.memory.width),
                              span=stmt.span)

    def flatten(self, expr: ir.Expr) -> list[ir.Expr]:
        """A register made entirely of fields takes one word per field in tuples and PSWs."""
        if isinstance(expr, ir.Reg):
            reg = self.machine.register(expr.reg)
            if reg is not None and reg.fields and sum(f.width for f in reg.fields) == reg.width:
                return [ir.Field(reg.name, f.name, f.lo, f.width, span=expr.span) for f in reg.fields]
        return [expr]

    def target(self, expr: ir.Expr) -> ir.Expr | None:
        if isinstance(expr, ir.Name):
            kind = self.lookup_kind(expr.name)
            if kind in ("register", "mode", "reg-operand"):
                return self.expr(expr, None)
            if kind is None:
                self.expr(expr, None)  # reports it undefined
                return None
            what = {"local": "a let binding", "operand": "an immediate operand",
                    "mode-value": "a mode name", "next": "`next`"}[kind]
            self.sink.error("V013", f"cannot assign to '{expr.name}': it is {what}", expr.span,
                            {"local": "a let binding cannot change; bind a new name with `let`",
                             "operand": "immediate operands are constants; assign a register",
                             "mode-value": f"to change mode, assign {self.machine.mode_name} = "
                                           f"{expr.name}",
                             "next": f"to jump, assign the pc {self.machine.pc}"}[kind])
            return None
        if isinstance(expr, ir.Member):
            return self.expr(expr, None)
        if isinstance(expr, ir.MemAccess):
            return self.expr(expr, None)
        self.sink.error("V013", "cannot assign to this expression", expr.span,
                        "assign a register, a field, the mode, `mem[...]` or `phys[...]`")
        return None

    # ------------------------------------------------------------ expressions
    def lookup_kind(self, name: str) -> str | None:
        if name in self.locals:
            return "local"
        for operand in self.operands:
            if operand.name == name:
                return "reg-operand" if operand.kind == "reg" else "operand"
        if self.machine.register(name) is not None:
            return "register"
        if name == self.machine.mode_name:
            return "mode"
        if name in self.machine.modes:
            return "mode-value"
        if name == "next":
            return "next"
        return None

    def names(self) -> list[str]:
        return (list(self.locals) + [o.name for o in self.operands]
                + [r.name for r in self.machine.registers] + [self.machine.mode_name]
                + list(self.machine.modes))

    def check_same_width(self, value: ir.Expr, width: int, span: Span | None, what: str) -> None:
        actual = width_of(value)
        if actual != width and actual > 0:
            self.sink.error("V012", f"width mismatch: {what} is {_bits(width)}, the value is "
                            f"{_bits(actual)}", span, _fit_hint(actual, width))

    def expr(self, expr: ir.Expr, want: int | None) -> ir.Expr:
        """The typed form of `expr`; `want` is the width a bare number should take."""
        if isinstance(expr, ir.Number):
            width = want if want else max(1, expr.value.bit_length())
            if expr.value >= 1 << width:
                self.sink.error("V023", f"the number {expr.value} does not fit in {_bits(width)}",
                                expr.span, f"the largest {width}-bit value is {(1 << width) - 1}")
            return ir.Const(expr.value & ((1 << width) - 1), width, span=expr.span)
        if isinstance(expr, ir.Name):
            return self.name(expr, want)
        if isinstance(expr, ir.Member):
            reg = self.machine.register(expr.base)
            if reg is None:
                _undefined(self.sink, "register", expr.base, expr.span,
                           [r.name for r in self.machine.registers])
                return ir.Const(0, 0, span=expr.span)
            field = reg.field(expr.member)
            if field is None:
                _no_field(self.sink, reg, expr.member, expr.span)
                return ir.Const(0, 0, span=expr.span)
            return ir.Field(reg.name, field.name, field.lo, field.width, span=expr.span)
        if isinstance(expr, ir.MemAccess):
            address = self.expr(expr.address, self.machine.word)
            return ir.MemAccess(address, expr.physical, self.machine.memory.width, span=expr.span)
        if isinstance(expr, ir.Unary):
            return self.unary(expr, want)
        if isinstance(expr, ir.Binary):
            return self.binary(expr, want)
        if isinstance(expr, ir.SliceExpr):
            return self.slice(expr)
        if isinstance(expr, ir.Call):
            return self.call(expr, want)
        if isinstance(expr, ir.TupleExpr):
            self.sink.error("V026", "a tuple can only be stored to memory", expr.span,
                            "store it with `mem[a] = (X, Y)`")
            return ir.Const(0, 0, span=expr.span)
        return expr  # already resolved

    def name(self, expr: ir.Name, want: int | None = None) -> ir.Expr:
        kind = self.lookup_kind(expr.name)
        if kind == "local":
            return ir.Local(expr.name, self.locals[expr.name], span=expr.span)
        if kind in ("operand", "reg-operand"):
            index = next(i for i, o in enumerate(self.operands) if o.name == expr.name)
            operand = self.operands[index]
            assert operand.width is not None
            return ir.Operand(index, operand.name, operand.kind, operand.width, span=expr.span)
        if kind == "register":
            reg = self.machine.register(expr.name)
            assert reg is not None
            return ir.Reg(reg.name, reg.width, span=expr.span)
        # The mode reads as its number (0 = most privileged) and, like a number, widens to
        # the width its context wants: `A = M`, `M == user`.
        width = self.machine.mode_width
        wider = want if want and want > width else None
        if kind == "mode":
            mode = ir.Mode(width, span=expr.span)
            return ir.Call("zext", (mode, ir.Const(wider, wider.bit_length())), wider,
                           span=expr.span) if wider else mode
        if kind == "mode-value":
            return ir.Const(self.machine.modes.index(expr.name), wider or width, span=expr.span)
        if kind == "next":
            pc = self.machine.register(self.machine.pc)
            return ir.NextPc(pc.width if pc else self.machine.word, span=expr.span)
        _undefined(self.sink, "name", expr.name, expr.span, self.names(),
                   "declare it as a register of the machine, an operand, or with `let`")
        return ir.Const(0, 0, span=expr.span)

    def unary(self, expr: ir.Unary, want: int | None) -> ir.Expr:
        if expr.op == "!":
            operand = self.condition(expr.operand)
            return ir.Unary("!", operand, 1, span=expr.span)
        operand = self.expr(expr.operand, want)
        return ir.Unary(expr.op, operand, width_of(operand), span=expr.span)

    def binary(self, expr: ir.Binary, want: int | None) -> ir.Expr:
        op = expr.op
        if op in LOGIC_OPS:
            left, right = self.condition(expr.left), self.condition(expr.right)
            return ir.Binary(op, left, right, 1, span=expr.span)
        if op in SHIFT_OPS:
            left = self.expr(expr.left, want)
            right = self.expr(expr.right, width_of(left) or None)
            return ir.Binary(op, left, right, width_of(left), span=expr.span)
        if op in COMPARE_OPS and (
                (self.is_mode(expr.left) and self.unknown_mode(expr.right))
                or (self.is_mode(expr.right) and self.unknown_mode(expr.left))):
            return ir.Const(0, 1, span=expr.span)
        operand_want = None if op in COMPARE_OPS else want
        left, right = self.pair(expr.left, expr.right, operand_want)
        lw, rw = width_of(left), width_of(right)
        if lw != rw and lw > 0 and rw > 0:
            self.sink.error("V012", f"width mismatch: '{op}' needs operands of one width, not "
                            f"{_bit_pair(lw, rw)}", expr.span, _width_hint(min(lw, rw), max(lw, rw)))
        width = 1 if op in COMPARE_OPS else max(lw, rw)
        return ir.Binary(op, left, right, width, span=expr.span)

    def is_mode(self, expr: ir.Expr) -> bool:
        return isinstance(expr, ir.Name) and self.lookup_kind(expr.name) == "mode"

    def unknown_mode(self, expr: ir.Expr) -> bool:
        """Report a name compared with or assigned to the mode that is no mode (V014)."""
        if not isinstance(expr, ir.Name) or self.lookup_kind(expr.name) is not None:
            return False
        modes = self.machine.modes
        self.sink.error("V014", f"unknown mode '{expr.name}'", expr.span,
                        did_you_mean(expr.name, modes)
                        or f"the modes of '{self.machine.name}' are {', '.join(modes)}")
        return True

    def adapts(self, expr: ir.Expr) -> bool:
        """Whether `expr` takes its width from its context: numbers and the mode."""
        if isinstance(expr, ir.Name):
            return self.lookup_kind(expr.name) in ("mode", "mode-value")
        if isinstance(expr, ir.Number):
            return True
        if isinstance(expr, ir.Unary) and expr.op in ("-", "~"):
            return self.adapts(expr.operand)
        if isinstance(expr, ir.Binary) and expr.op in SHIFT_OPS:
            return self.adapts(expr.left)  # as wide as the value it shifts
        if isinstance(expr, ir.Binary) and expr.op in ARITHMETIC_OPS:
            return self.adapts(expr.left) and self.adapts(expr.right)
        if isinstance(expr, ir.Call) and expr.func == "sra":
            return self.adapts(expr.args[0])  # as wide as the value it shifts
        return False

    def pair(self, left: ir.Expr, right: ir.Expr, want: int | None) -> tuple[ir.Expr, ir.Expr]:
        """Type two operands; a number (or the mode) takes the width of the other side."""
        if self.adapts(left) and self.adapts(right) and not want:
            want = max(_natural_width(left, self.machine), _natural_width(right, self.machine))
        if self.adapts(left) and not self.adapts(right):
            typed_right = self.expr(right, want)
            return self.expr(left, width_of(typed_right) or want), typed_right
        typed_left = self.expr(left, want)
        return typed_left, self.expr(right, width_of(typed_left) or want)

    def constant(self, expr: ir.Expr, what: str) -> int | None:
        if isinstance(expr, ir.Number):
            return expr.value
        self.sink.error("V031", f"{what} must be a number", expr.span,
                        "slice bounds and widths are fixed when the spec is compiled")
        return None

    def slice(self, expr: ir.SliceExpr) -> ir.Expr:
        value = self.expr(expr.value, None)
        hi = self.constant(expr.hi, "a slice bound")
        lo = self.constant(expr.lo, "a slice bound") if expr.lo is not None else hi
        width = width_of(value)
        if hi is None or lo is None or width == 0:
            return ir.Const(0, 0, span=expr.span)
        if lo > hi:
            self.sink.error("V031", f"the slice [{hi}:{lo}] has its bounds the wrong way round",
                            expr.span, f"write the high bit first: [{lo}:{hi}]")
            return ir.Const(0, 0, span=expr.span)
        if hi >= width:
            self.sink.error("V031", f"bits [{hi}:{lo}] are outside {_a_bits(width)} value "
                            f"(bits {width - 1}..0)", expr.span, "bits are numbered from 0")
            return ir.Const(0, 0, span=expr.span)
        return ir.Slice(value, hi, lo, hi - lo + 1, span=expr.span)

    def call(self, expr: ir.Call, want: int | None) -> ir.Expr:
        func, args = expr.func, expr.args
        arity = {"sext": 2, "zext": 2, "slt": 2, "sle": 2, "sra": 2}.get(func)
        if arity is not None and len(args) != arity:
            self.sink.error("V032", f"{func} takes {arity} arguments, not {len(args)}", expr.span,
                            _builtin_usage(func))
            return ir.Const(0, 0, span=expr.span)
        if func in ("sext", "zext"):
            size = self.constant(args[1], f"the width given to {func}")
            value = self.expr(args[0], None)
            if size is None:
                return ir.Const(0, 0, span=expr.span)
            if size < width_of(value) or not _check_width(self.sink, size, args[1].span, f"the {func} width"):
                if size < width_of(value):
                    self.sink.error("V032", f"{func} cannot narrow {_a_bits(width_of(value))} value to "
                                    f"{size} bits", expr.span, "use a slice, e.g. `X[7:0]`, to narrow")
                return ir.Const(0, 0, span=expr.span)
            return ir.Call(func, (value, ir.Const(size, size.bit_length() or 1)), size, span=expr.span)
        if func == "concat":
            if len(args) < 2:
                self.sink.error("V032", "concat takes at least two values", expr.span, _builtin_usage(func))
                return ir.Const(0, 0, span=expr.span)
            parts = []
            for arg in args:
                if isinstance(arg, ir.Number):
                    self.sink.error("V032", "a number in concat has no width", arg.span,
                                    "give it one with zext, e.g. `zext(0, 4)`")
                parts.append(self.expr(arg, None))
            return ir.Call(func, tuple(parts), sum(width_of(p) for p in parts), span=expr.span)
        if func in ("slt", "sle"):
            left, right = self.pair(args[0], args[1], None)
            if width_of(left) != width_of(right):
                self.sink.error("V012", f"width mismatch: {func} needs operands of one width, not "
                                f"{width_of(left)} and {width_of(right)} bits", expr.span,
                                _width_hint(min(width_of(left), width_of(right)),
                                            max(width_of(left), width_of(right))))
            return ir.Call(func, (left, right), 1, span=expr.span)
        # sra
        value = self.expr(args[0], want)
        amount = self.expr(args[1], width_of(value) or None)
        return ir.Call(func, (value, amount), width_of(value), span=expr.span)


def _natural_width(expr: ir.Expr, machine: ir.Machine) -> int:
    """The fewest bits an adapting expression (numbers, the mode) needs."""
    if isinstance(expr, ir.Number):
        return max(1, expr.value.bit_length())
    if isinstance(expr, ir.Unary):
        return _natural_width(expr.operand, machine)
    if isinstance(expr, ir.Binary) and expr.op in SHIFT_OPS:
        return _natural_width(expr.left, machine)
    if isinstance(expr, ir.Binary):
        return max(_natural_width(expr.left, machine), _natural_width(expr.right, machine))
    if isinstance(expr, ir.Call):
        return _natural_width(expr.args[0], machine)
    return machine.mode_width


def width_of(expr: ir.Expr) -> int:
    width = getattr(expr, "width", None)
    return width if isinstance(width, int) else 0


def target_name(target: ir.Expr) -> str:
    if isinstance(target, ir.Reg):
        return f"register '{target.reg}'"
    if isinstance(target, ir.Field):
        return f"field '{target.reg}.{target.field}'"
    if isinstance(target, ir.Mode):
        return "the mode"
    if isinstance(target, ir.Operand):
        return f"operand '{target.name}'"
    return "the memory word"


def _fit_hint(actual: int, wanted: int) -> str:
    """How to make an `actual`-bit value fit where `wanted` bits are needed."""
    if actual < wanted:
        return f"widen the value with zext(x, {wanted}) or sext(x, {wanted})"
    return f"keep the low bits with a slice x[{wanted - 1}:0]"


def _width_hint(narrow: int, wide: int) -> str:
    return f"widen the narrower value with zext(x, {wide}) or sext(x, {wide}), or narrow the " \
           f"wider one with a slice x[{narrow - 1}:0]"


def _builtin_usage(func: str) -> str:
    return {
        "sext": "sext(value, width) sign-extends to a wider width",
        "zext": "zext(value, width) zero-extends to a wider width",
        "concat": "concat(high, ..., low) joins values, the first in the high bits",
        "slt": "slt(a, b) is a signed a < b",
        "sle": "sle(a, b) is a signed a <= b",
        "sra": "sra(value, amount) shifts right, copying the sign bit",
    }[func]


# ---------------------------------------------------------------- programs


def _program_isa(sink: DiagnosticSink, decl: ir.ProgramDecl, isas: dict[str, ir.Isa],
                 machines: dict[str, ir.Machine], isa_names: set[str]) -> ir.Isa | None:
    if decl.target in isas:
        return isas[decl.target]
    if decl.target in isa_names:
        return None  # the ISA has errors of its own
    candidates = [i for i in isas.values() if i.machine.name == decl.target]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        sink.error("V010", f"machine '{decl.target}' has several instruction sets", decl.target_span,
                   "name the isa: " + ", ".join(sorted(i.name for i in candidates)))
        return None
    if decl.target not in machines:
        _undefined(sink, "isa", decl.target, decl.target_span, list(isas) + list(machines))
    elif not any(i.machine.name == decl.target for i in isas.values()):
        sink.error("V010", f"machine '{decl.target}' has no instruction set", decl.target_span,
                   f"declare one with `isa NAME for {decl.target} {{ ... }}`")
    return None


def _resolve_program(sink: DiagnosticSink, decl: ir.ProgramDecl, isas: dict[str, ir.Isa],
                     machines: dict[str, ir.Machine], isa_names: set[str]) -> ir.Program | None:
    isa = _program_isa(sink, decl, isas, machines, isa_names)
    if isa is None:
        return None
    return _Assembler(sink, decl, isa).assemble()


@attrs.define
class _Assembler:
    """Groups program words into instructions by operand count and lays them out."""

    sink: DiagnosticSink
    decl: ir.ProgramDecl
    isa: ir.Isa
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
                                    "each label marks one address")
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
            for operand, word in zip(inst.operands, operand_words, strict=False):
                values.append(self.operand_value(operand, word))
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
            self.sink.error("V029", f"{what} at address {address} lies outside the {size}-word memory",
                            span, "use `org` to place the program inside memory")
        elif address in self.occupied:
            first = self.occupied[address]
            where = f" already used at {first.location()}" if first else " already used"
            self.sink.error("V029", f"{what} at address {address} overlaps a word{where}", span,
                            "move the data or the code with `org` so they do not overlap")
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
        else:
            self.sink.error("V016", f"undefined label '{word.text}'", word.span,
                            did_you_mean(word.text, self.labels) or "define it with `NAME:`")
            return None
        if value >= 1 << width:
            self.sink.error("V023", f"the value {value} does not fit in {what} ({width} bits)", word.span,
                            f"the largest {width}-bit value is {(1 << width) - 1}")
            return None
        return value

    def operand_value(self, operand: ir.OperandDecl, word: ir.ProgramWord) -> int:
        assert operand.width is not None
        if operand.kind == "reg":
            names = [r.name for r in self.isa.machine.general_registers]
            if word.text in names:
                return self.isa.machine.register_index(word.text)
            self.sink.error("V010", f"operand '{operand.name}' needs a register, not '{word.text}'",
                            word.span, did_you_mean(word.text, names)
                            or "the registers are " + ", ".join(names))
            return 0
        value = self.word_value(word, operand.width, f"operand '{operand.name}'")
        return value if value is not None else 0

    def check_init(self, item: ir.InitDecl) -> None:
        _check_state_value(self.sink, self.isa.machine, item.target, item.value, item.span,
                           "set the start mode by name with `mode NAME`")


def _operand_count(inst: ir.Instruction) -> str:
    n = len(inst.operands)
    return "no operands" if n == 0 else "1 operand" if n == 1 else f"{n} operands"


def _usage(inst: ir.Instruction) -> str:
    return f"usage: {inst.name}" + (" " + ", ".join(o.name for o in inst.operands) if inst.operands else "")


# ---------------------------------------------------------------- policies


def _resolve_hypervisor(sink: DiagnosticSink, decl: ir.Hypervisor, machines: dict[str, ir.Machine],
                        isas: dict[str, ir.Isa], known: set[str]) -> ir.Hypervisor | None:
    errors_before = len(sink.diagnostics)
    machine = machines.get(decl.target) or (isas[decl.target].machine if decl.target in isas else None)
    if machine is None:
        if decl.target not in known:
            _undefined(sink, "machine", decl.target, decl.target_span, list(machines) + list(isas))
        return None
    if decl.type not in HYPERVISOR_TYPES:
        sink.error("V028", f"there is no hypervisor type {decl.type}", decl.span_of("type"),
                   "type 0 is firmware, type 1 bare metal, type 2 hosted")
    if decl.technique not in TECHNIQUES:
        sink.error("V028", f"unknown technique '{decl.technique}'", decl.span_of("technique"),
                   did_you_mean(decl.technique, TECHNIQUES) or "techniques: " + ", ".join(TECHNIQUES))
    if decl.schedule not in SCHEDULES:
        sink.error("V028", f"unknown schedule '{decl.schedule}'", decl.span_of("schedule"),
                   did_you_mean(decl.schedule, SCHEDULES) or "schedules: " + ", ".join(SCHEDULES))
    if decl.guest_mode is not None and decl.guest_mode not in machine.modes:
        sink.error("V014", f"unknown mode '{decl.guest_mode}'", decl.span_of("guest_mode"),
                   did_you_mean(decl.guest_mode, machine.modes)
                   or f"the modes of '{machine.name}' are {', '.join(machine.modes)}")
    if decl.memory_per_guest is not None and not 0 < decl.memory_per_guest <= machine.memory.size:
        sink.error("V023", f"cannot allocate {decl.memory_per_guest} words per guest from a "
                   f"{machine.memory.size}-word memory", decl.span_of("memory_per_guest"),
                   "allocate less memory per guest")
    _check_pins(sink, machine, decl.pins)
    return decl if len(sink.diagnostics) == errors_before else None


def _check_scenario(sink: DiagnosticSink, scenario: ir.Scenario, hypervisors: dict[str, ir.Hypervisor],
                    program_decls: dict[str, ir.ProgramDecl], programs: list[ir.Program],
                    isas: dict[str, ir.Isa]) -> None:
    if scenario.hypervisor is not None and scenario.hypervisor not in hypervisors:
        _undefined(sink, "hypervisor", scenario.hypervisor, scenario.span, hypervisors)
    seen: set[str] = set()
    for guest in scenario.guests:
        if guest.name in seen:
            sink.error("V011", f"guest '{guest.name}' is defined twice", guest.span, "rename one of them")
        seen.add(guest.name)
        if guest.program not in program_decls:
            _undefined(sink, "program", guest.program, guest.span, program_decls)
            continue
        program = next((p for p in programs if p.name == guest.program), None)
        if guest.mode is not None and program is not None:
            modes = isas[program.isa].machine.modes
            if guest.mode not in modes:
                sink.error("V014", f"unknown mode '{guest.mode}'", guest.span,
                           did_you_mean(guest.mode, modes) or "the modes are " + ", ".join(modes))

