"""Resolve machines: word, memory, modes, registers and their fields, relocation, the trap mechanism."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import attrs

from vdsl.errors import DiagnosticSink, did_you_mean
from vdsl.ir import nodes as ir
from vdsl.ir.layout import psw_words
from vdsl.resolve.common import check_state_ref, check_width, extends_order, first_defined, undefined
from vdsl.resolve.helpers import Expander
from vdsl.resolve.types import Scope
from vdsl.source import Span

T = TypeVar("T")

# The largest memory vdsl simulates: the emulator and the monitor hold every word.
MAX_MEMORY_WORDS = 1 << 20


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


def resolve_machines(sink: DiagnosticSink, decls: dict[str, ir.MachineDecl],
                     constants: dict[str, int] | None = None) -> dict[str, ir.Machine]:
    merged: dict[str, ir.MachineDecl] = {}
    machines: dict[str, ir.Machine] = {}
    for decl in extends_order(sink, decls, "machine"):
        if decl.extends and decl.extends not in merged:
            continue  # its base is broken, and reported
        full = _merge_machine(merged[decl.extends], decl) if decl.extends else decl
        merged[decl.name] = full
        machine = _resolve_machine(sink, full)
        if machine is not None and full.trap is not None and full.trap.entry is not None:
            machine = resolve_trap_entry(sink, machine, full.trap, constants or {})
        if machine is not None:
            machines[decl.name] = machine
    return machines


def _resolve_machine(sink: DiagnosticSink, decl: ir.MachineDecl) -> ir.Machine | None:
    errors_before = len(sink.diagnostics)
    if decl.word is None:
        sink.error("V022", f"machine '{decl.name}' does not declare its word width", decl.span,
                   "add `word 16` (or the width you need) to the machine")
        word = 16
    else:
        word = decl.word.value
        if not check_width(sink, word, decl.word.span, "the word width"):
            word = 16  # go on checking the rest as if the width were sensible
    if decl.memory is None:
        sink.error("V022", f"machine '{decl.name}' does not declare its memory", decl.span,
                   "add `memory E[1024]` to the machine")
        memory = ir.Memory("E", 1, word)
    else:
        memory_width = decl.memory.width if decl.memory.width is not None else word
        check_width(sink, memory_width, decl.memory.span, "the memory word width")
        if decl.memory.size < 1:
            sink.error("V023", "the memory needs at least one word", decl.memory.span,
                       "e.g. `memory E[1024]`")
        elif decl.memory.size > MAX_MEMORY_WORDS:
            sink.error("V023", f"a memory of {decl.memory.size} words is more than vdsl simulates (at most "
                       f"{MAX_MEMORY_WORDS} words, 2^{MAX_MEMORY_WORDS.bit_length() - 1})", decl.memory.span,
                       "a model needs only the words its programs and trap areas use, e.g. `memory E[4096]`")
        size = min(max(1, decl.memory.size), MAX_MEMORY_WORDS)
        memory = ir.Memory(decl.memory.name, size, memory_width, span=decl.memory.span)
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
            if mode == mode_name:
                sink.error("V011", f"mode '{mode}' has the name of the mode register, so it could never be "
                           "named", decl.modes.span, f"rename the mode, or give the mode register another "
                           f"name: `modes PRIV {{ {' > '.join(modes)} }}`")
            seen.add(mode)

    registers: list[ir.Register] = []
    arrays: list[ir.RegisterArray] = []
    banks: list[ir.Bank] = []
    names: dict[str, Span | None] = {}
    for reg in decl.registers:
        expanded = _expand_register(sink, reg, modes)
        if expanded is None:
            continue
        clash = next((n for n, _ in expanded if n in names or n == mode_name or n in modes), None)
        if clash is not None:
            sink.error("V011", f"'{clash}' is defined twice in machine '{decl.name}'", reg.span,
                       f"'{mode_name}' is the mode register and mode names are reserved"
                       if clash == mode_name or clash in modes else
                       "rename one of them" if clash == reg.name else
                       f"'{reg.name}' declares a register named '{clash}'; rename one of them")
            continue
        names.update((n, reg.span) for n, _ in expanded)
        elements = []
        for _, element in expanded[1:] if reg.count is not None or reg.banks else expanded:
            resolved = _resolve_register(sink, element, word)
            if resolved is None:
                break
            elements.append(attrs.evolve(resolved, banked=reg.name if reg.banks else None))
        else:
            registers.extend(elements)
            if reg.count is not None:
                arrays.append(ir.RegisterArray(reg.name, elements[0].width, tuple(e.name for e in elements),
                                               span=reg.span))
            elif reg.banks:
                banks.append(ir.Bank(reg.name, elements[0].width, tuple(
                    (e.name, tuple(modes.index(m) for m in b.modes)) for e, b in zip(elements, reg.banks,
                                                                                    strict=True)),
                    reg.kind, span=reg.span))

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
            undefined(sink, "register", relocation, decl.relocation.span, by_name)
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
                      relocation, trap, causes, span=decl.span, arrays=tuple(arrays), banks=tuple(banks))


MAX_ARRAY = 4096  # elements of a register array


def _expand_register(sink: DiagnosticSink, decl: ir.RegisterDecl,
                     modes: tuple[str, ...]) -> list[tuple[str, ir.RegisterDecl]] | None:
    """The names a register declaration defines, each with the declaration of the register
    behind it: itself; or an array's name, then its elements; or a banked register's name, then
    its copies.  None when the array or the banks are misdeclared (reported)."""
    plain = attrs.evolve(decl, count=None, zero_index=None, banks=())
    if decl.zero_index is not None and decl.count is None:
        sink.error("V043", f"'zero {decl.zero_index}' names an element, but '{decl.name}' is not a register "
                   "array", decl.span, f"write `reg {decl.name} zero` for a register that always reads 0")
        return None
    if decl.count is not None:
        if decl.banks or decl.is_pc or decl.fields:
            what = "banked" if decl.banks else "the pc" if decl.is_pc else "given fields"
            sink.error("V043", f"the register array '{decl.name}' cannot be {what}", decl.span,
                       "declare that register on its own, outside the array")
            return None
        if not 1 <= decl.count <= MAX_ARRAY:
            sink.error("V023", f"a register array has 1 to {MAX_ARRAY} elements, not {decl.count}", decl.span,
                       "e.g. `reg X[32]: 32`")
            return None
        if decl.is_zero and decl.zero_index is None:
            sink.error("V043", f"'zero' on the register array '{decl.name}' must name its element", decl.span,
                       f"e.g. `reg {decl.name}[{decl.count}] zero 0`: {decl.name}0 always reads 0")
            return None
        if decl.zero_index is not None and decl.zero_index >= decl.count:
            sink.error("V023", f"'{decl.name}' has elements 0 to {decl.count - 1}, not {decl.zero_index}",
                       decl.span, f"name an element below {decl.count}")
            return None
        return [(decl.name, plain)] + [
            (f"{decl.name}{k}", attrs.evolve(plain, name=f"{decl.name}{k}", is_zero=k == decl.zero_index))
            for k in range(decl.count)]
    if decl.banks:
        if decl.is_pc or decl.is_zero or decl.fields:
            what = "the pc" if decl.is_pc else "a zero register" if decl.is_zero else "given fields"
            sink.error("V044", f"the banked register '{decl.name}' cannot be {what}", decl.span,
                       "a banked register is a plain register with one copy per mode")
            return None
        seen: dict[str, str] = {}
        ok = True
        for bank in decl.banks:
            for mode in bank.modes:
                if mode not in modes:
                    sink.error("V014", f"unknown mode '{mode}'", bank.span,
                               did_you_mean(mode, modes) or f"the modes are {', '.join(modes)}")
                    ok = False
                elif mode in seen:
                    sink.error("V044", f"mode '{mode}' selects two copies of '{decl.name}': "
                               f"'{seen[mode]}' and '{bank.name}'", bank.span, "list each mode once")
                    ok = False
                else:
                    seen[mode] = bank.name
        missing = [m for m in modes if m not in seen]
        if ok and missing:
            sink.error("V044", f"no copy of the banked register '{decl.name}' for mode"
                       f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}", decl.span,
                       f"add the mode{'s' if len(missing) > 1 else ''} to a copy, e.g. "
                       f"`{decl.banks[0].name}: {' '.join((*decl.banks[0].modes, *missing))}`")
            ok = False
        if not ok:
            return None
        return [(decl.name, plain)] + [(b.name, attrs.evolve(plain, name=b.name, span=b.span))
                                       for b in decl.banks]
    return [(decl.name, plain)]


def _resolve_register(sink: DiagnosticSink, decl: ir.RegisterDecl, word: int) -> ir.Register | None:
    fields: list[ir.RegisterField] = []
    next_lo = 0
    ok = True
    for field in decl.fields:
        first = next((f for f in decl.fields if f.name == field.name), field)
        if first is not field:
            sink.error("V011", f"field '{field.name}' is defined twice in register '{decl.name}'",
                       field.span, "rename one of them", first_defined(first.span))
            ok = False
            continue
        width = field.width if field.width is not None else (1 if field.lo is not None else word)
        if field.width is not None and field.width < 1:
            sink.error("V023", f"field '{field.name}' has an empty bit range", field.span,
                       "write the high bit first, e.g. `IOPL [13:12]`")
            ok = False
            continue
        if not check_width(sink, width, field.span, f"field '{field.name}'"):
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
    if not check_width(sink, width, decl.span, f"register '{decl.name}'"):
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
    if decl.is_zero and (decl.kind != "general" or fields):
        sink.error("V011", f"the zero register '{decl.name}' cannot be {decl.kind} state or have fields"
                   if decl.kind != "general" else f"the zero register '{decl.name}' cannot have fields",
                   decl.span, "a zero register is a general register that always reads 0")
        ok = False
    if not ok:
        return None
    return ir.Register(decl.name, width, decl.is_pc, decl.kind, tuple(fields), span=decl.span,
                       is_zero=decl.is_zero)


def _resolve_trap(sink: DiagnosticSink, machine: ir.MachineDecl, decl: ir.TrapDecl,
                  registers: dict[str, ir.Register], mode_name: str,
                  memory: ir.Memory) -> ir.TrapMechanism | None:
    if (decl.save is None) != (decl.load is None):
        given, other = ("save", "load") if decl.load is None else ("load", "save")
        sink.error("V022", f"the trap mechanism has a `{given}` but no `{other}`", decl.span,
                   "PG74: `trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }`; or write what a "
                   "trap does in an `entry { ... }` block")
        return None
    if decl.save is None and decl.entry is None:
        sink.error("V022", "the trap mechanism needs a `save (...) -> E[n]` and a `load (...) <- E[n]`, "
                   "or an `entry { ... }` block", decl.span,
                   "PG74: `trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }`; RISC-V: "
                   "`trap { entry { MEPC = PC  M = machine  PC = MTVEC } }`")
        return None
    ok = True
    for refs, memory_name, at in ((decl.save or (), decl.save_memory, decl.save_at),
                                  (decl.load or (), decl.load_memory, decl.load_at),
                                  ((), decl.cause_memory, decl.cause_at)):
        words = 0
        for ref in refs:
            if check_state_ref(sink, ref, registers, mode_name) is None:
                ok = False
            words += len(psw_words(ref, registers))
        if memory_name is None:
            continue
        if memory_name != memory.name:
            undefined(sink, "memory", memory_name, decl.span, [memory.name])
            ok = False
        elif at is not None and at + max(words, 1) > memory.size:
            sink.error("V029", f"the trap area {memory_name}[{at}..{at + max(words, 1) - 1}] lies "
                       f"outside the {memory.size}-word memory", decl.span,
                       "choose addresses inside the memory")
            ok = False
    if not ok:
        return None
    return ir.TrapMechanism(decl.save or (), decl.save_at or 0, decl.load or (), decl.load_at or 0,
                            decl.cause_at, span=decl.span)


def resolve_trap_entry(sink: DiagnosticSink, machine: ir.Machine, decl: ir.TrapDecl,
                       constants: dict[str, int]) -> ir.Machine | None:
    """The machine with the statements of its trap `entry` block resolved: `cause` is the cause's
    number (an operand of the memory word's width), each cause's name reads as its number, and
    each `const` as its value.
    The block runs as the hardware, so it reaches memory by physical address only (`phys[...]`)."""
    assert decl.entry is not None and machine.trap is not None
    errors_before = len(sink.diagnostics)
    for access in _nodes(decl.entry, ir.MemAccess):
        if not access.physical:
            sink.error("V045", "the trap entry reads and writes memory by physical address", access.span,
                       "write `phys[...]`: the trap mechanism is not relocated")
    for name in _nodes(decl.entry, ir.Name):
        if name.name == "next":
            sink.error("V045", "the trap entry has no next instruction", name.span,
                       "the pc holds the trapping instruction's address: write `PC` (or `PC + SIZE`)")
    for stmt in _nodes(decl.entry, ir.Trap):
        sink.error("V045", "the trap entry cannot trap", stmt.span,
                   "the trap mechanism runs once per trap; check the condition in the instruction instead")
    state = machine.state_names
    numbers = {name: value for name, value in constants.items() if name not in state and name != "cause"}
    numbers |= {name: k for k, name in enumerate(machine.causes) if name not in state and name != "cause"}
    cause = ir.OperandDecl("cause", "imm", machine.memory.width)
    scope = Scope(machine, (cause,), {}, sink, constants=numbers)
    entry = scope.block(Expander(sink, {}, numbers).statements(decl.entry, {}))
    if len(sink.diagnostics) > errors_before:
        return None
    return attrs.evolve(machine, trap=attrs.evolve(machine.trap, entry=entry))


def _nodes(node: object, kind: type[T]) -> Iterator[T]:
    """Every node of a kind in statements or expressions (before resolution)."""
    if isinstance(node, kind):
        yield node
    if isinstance(node, tuple):
        for item in node:
            yield from _nodes(item, kind)
    elif attrs.has(type(node)) and not isinstance(node, Span):
        for f in attrs.fields(type(node)):  # type: ignore[arg-type]
            if f.name != "span":
                yield from _nodes(getattr(node, f.name), kind)
