"""The vdsl IR: frozen attrs nodes, each with a `Span` that equality ignores.

Lowering produces *declarations* (`MachineDecl`, `IsaDecl`, `ProgramDecl`, ...) whose
expressions still hold plain names (`Name`, `Member`, `Number`, `SliceExpr`).  The
resolver turns them into the resolved nodes (`Machine`, `Isa`, `Program`, ...) whose
expressions are typed: every one knows its width in bits and what it refers to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from vdsl.source import Span


def span_field() -> Span | None:
    """Where a node came from: kept for diagnostics, ignored by equality."""
    span: Span | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)
    return span


OMIT_WHEN_NONE = "omit_when_none"


def optional_field() -> Any:
    """A field most specs leave None: the IR dump leaves it out then, so that a feature added to
    the language does not change the dump of a spec that does not use it."""
    return attrs.field(default=None, kw_only=True, metadata={OMIT_WHEN_NONE: True})


# ---------------------------------------------------------------- expressions (unresolved)


@attrs.frozen
class Number:
    value: int
    span: Span | None = span_field()


@attrs.frozen
class Name:
    name: str
    span: Span | None = span_field()


@attrs.frozen
class Member:
    """`base.field` before resolution."""

    base: str
    member: str
    span: Span | None = span_field()


@attrs.frozen
class SliceExpr:
    """`value[hi:lo]` or `value[bit]` before resolution; the bounds must be constants."""

    value: Expr
    hi: Expr
    lo: Expr | None
    span: Span | None = span_field()


# ---------------------------------------------------------------- expressions (resolved)


@attrs.frozen
class Const:
    value: int
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Reg:
    """A whole register."""

    reg: str
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Indexed:
    """`X[index]`: the element of register array X that `index` selects (an index past the
    last element traps `illegal`)."""

    array: str
    index: Expr
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Banked:
    """A banked register (`reg SP banked { ... }`): the copy the current mode selects."""

    reg: str
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Field:
    """A named bit field `reg.field`, bits `lo .. lo + width - 1`."""

    reg: str
    field: str
    lo: int
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Mode:
    """The current privilege mode M, as its index (0 = most privileged)."""

    width: int
    span: Span | None = span_field()


@attrs.frozen
class Operand:
    """An immediate operand of the instruction, or (kind `reg`) the register it names."""

    index: int
    name: str
    kind: str
    width: int
    span: Span | None = span_field()


@attrs.frozen
class Local:
    name: str
    width: int
    span: Span | None = span_field()


@attrs.frozen
class NextPc:
    """The address of the instruction after this one."""

    width: int
    span: Span | None = span_field()


@attrs.frozen
class Slice:
    value: Expr
    hi: int
    lo: int
    width: int
    span: Span | None = span_field()


# ---------------------------------------------------------------- expressions (both)


@attrs.frozen
class Unary:
    op: str
    operand: Expr
    width: int | None = None
    span: Span | None = span_field()


@attrs.frozen
class Binary:
    op: str
    left: Expr
    right: Expr
    width: int | None = None
    span: Span | None = span_field()


@attrs.frozen
class CondExpr:
    """`if condition { then } else { otherwise }`, a value: only the chosen branch runs."""

    condition: Expr
    then: Expr
    otherwise: Expr
    width: int | None = None
    span: Span | None = span_field()


@attrs.frozen
class HelperCall:
    """`f(args)`: a helper's value or statements, before the resolver expands it."""

    name: str
    args: tuple[Expr, ...]
    span: Span | None = span_field()


@attrs.frozen
class Call:
    """A builtin: sext, zext, concat, slt, sle, sra."""

    func: str
    args: tuple[Expr, ...]
    width: int | None = None
    span: Span | None = span_field()


@attrs.frozen
class MemAccess:
    """`mem[address]` (relocated) or `phys[address]` (unrelocated)."""

    address: Expr
    physical: bool
    width: int | None = None
    span: Span | None = span_field()


@attrs.frozen
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span | None = span_field()


Expr = (
    Number | Name | Member | SliceExpr | Const | Reg | Indexed | Banked | Field | Mode | Operand | Local
    | NextPc | Slice | Unary | Binary | CondExpr | Call | HelperCall | MemAccess | TupleExpr
)

# ---------------------------------------------------------------- statements


@attrs.frozen
class Let:
    name: str
    value: Expr
    span: Span | None = span_field()


@attrs.frozen
class Assign:
    target: Expr
    value: Expr
    span: Span | None = span_field()


@attrs.frozen
class TupleAssign:
    """`(t1, t2, ...) = mem[a]`: each target takes one consecutive word."""

    targets: tuple[Expr, ...]
    value: Expr
    span: Span | None = span_field()


@attrs.frozen
class If:
    condition: Expr
    then: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span | None = span_field()


@attrs.frozen
class Trap:
    cause: str
    span: Span | None = span_field()


@attrs.frozen
class Halt:
    span: Span | None = span_field()


@attrs.frozen
class CallStmt:
    """`f(args)` as a statement: a helper's statements, before the resolver expands it."""

    call: HelperCall
    span: Span | None = span_field()


Stmt = Let | Assign | TupleAssign | If | Trap | Halt | CallStmt

# ---------------------------------------------------------------- machines


@attrs.frozen
class FieldDecl:
    """A register field: explicit bits (`lo`, `width`) or, when `lo` is None, packed in order."""

    name: str
    width: int | None
    lo: int | None
    kind: str = "general"
    span: Span | None = span_field()


@attrs.frozen
class RegisterDecl:
    name: str
    width: int | None
    is_pc: bool
    kind: str
    fields: tuple[FieldDecl, ...]
    span: Span | None = span_field()
    is_zero: bool = False
    count: int | None = None  # `reg X[32]`: a register array of `count` elements
    zero_index: int | None = None  # `reg X[32] zero 0`: the element hard-wired to 0
    banks: tuple[BankDecl, ...] = ()  # `reg SP banked { SP_usr: usr, SP_svc: svc }`


@attrs.frozen
class BankDecl:
    """One copy of a banked register and the modes that select it."""

    name: str
    modes: tuple[str, ...]
    span: Span | None = span_field()


@attrs.frozen
class MemoryDecl:
    name: str
    size: int
    width: int | None
    span: Span | None = span_field()


@attrs.frozen
class ModesDecl:
    name: str
    modes: tuple[str, ...]
    span: Span | None = span_field()


@attrs.frozen
class StateRef:
    """A piece of machine state named in a trap PSW, a pin or an init: `M`, `R`, `R.base`."""

    reg: str
    field: str | None = None
    span: Span | None = span_field()


@attrs.frozen
class TrapDecl:
    save: tuple[StateRef, ...] | None
    save_memory: str | None
    save_at: int | None
    load: tuple[StateRef, ...] | None
    load_memory: str | None
    load_at: int | None
    cause_memory: str | None
    cause_at: int | None
    causes: tuple[str, ...]
    span: Span | None = span_field()
    entry: tuple[Stmt, ...] | None = None  # `entry { ... }`


@attrs.frozen
class RelocationDecl:
    register: str | None
    span: Span | None = span_field()


@attrs.frozen
class MachineDecl:
    name: str
    extends: str | None
    word: Number | None
    memory: MemoryDecl | None
    modes: ModesDecl | None
    registers: tuple[RegisterDecl, ...]
    relocation: RelocationDecl | None
    trap: TrapDecl | None
    span: Span | None = span_field()
    extends_span: Span | None = span_field()


@attrs.frozen
class RegisterField:
    name: str
    lo: int
    width: int
    kind: str
    span: Span | None = span_field()


@attrs.frozen
class Register:
    """A resolved register; `kind` is general, control or timing."""

    name: str
    width: int
    is_pc: bool
    kind: str
    fields: tuple[RegisterField, ...]
    span: Span | None = span_field()
    is_zero: bool = False  # hard-wired to 0 (RISC-V x0): reads give 0, writes are ignored
    banked: str | None = None  # the banked register this is a copy of

    def field(self, name: str) -> RegisterField | None:
        return next((f for f in self.fields if f.name == name), None)


@attrs.frozen
class RegisterArray:
    """`reg X[32]`: elements X0 .. X31, ordinary registers that `X[i]` selects by number."""

    name: str
    width: int
    elements: tuple[str, ...]
    span: Span | None = span_field()


@attrs.frozen
class Bank:
    """A banked register: a name that reads and writes the copy the current mode selects."""

    name: str
    width: int
    copies: tuple[tuple[str, tuple[int, ...]], ...]  # (copy register, the modes that select it)
    kind: str = "general"
    span: Span | None = span_field()

    def copy(self, mode: int) -> str:
        return next(name for name, modes in self.copies if mode in modes)


@attrs.frozen
class Memory:
    name: str
    size: int
    width: int
    span: Span | None = span_field()


@attrs.frozen
class TrapMechanism:
    """What a trap saves where and loads from where (PG74: save to E[0], load from E[1]), then
    the statements of its `entry` block (the cause is their operand 0, `cause`)."""

    save: tuple[StateRef, ...]
    save_at: int
    load: tuple[StateRef, ...]
    load_at: int
    cause_at: int | None
    span: Span | None = span_field()
    entry: tuple[Stmt, ...] = ()


BUILTIN_CAUSES = ("memory", "privileged", "illegal")


@attrs.frozen
class Machine:
    name: str
    word: int
    memory: Memory
    modes: tuple[str, ...]
    mode_name: str
    registers: tuple[Register, ...]
    pc: str
    relocation: str | None
    trap: TrapMechanism | None
    causes: tuple[str, ...]
    span: Span | None = span_field()
    arrays: tuple[RegisterArray, ...] = ()
    banks: tuple[Bank, ...] = ()

    def array(self, name: str) -> RegisterArray | None:
        return next((a for a in self.arrays if a.name == name), None)

    def bank(self, name: str) -> Bank | None:
        return next((b for b in self.banks if b.name == name), None)

    @property
    def state_names(self) -> set[str]:
        """Every name machine state goes by: registers, arrays, banked registers, the mode
        register and the modes."""
        return ({r.name for r in self.registers} | {a.name for a in self.arrays}
                | {b.name for b in self.banks} | {self.mode_name} | set(self.modes))

    @property
    def positions(self) -> tuple[str, ...]:
        """Registers in declaration order as a `reg` operand numbers them: a banked register
        counts once, by its own name, where it is declared; its copies do not count."""
        names: list[str] = []
        for reg in self.registers:
            name = reg.banked or reg.name
            if name not in names:
                names.append(name)
        return tuple(names)

    @property
    def address_width(self) -> int:
        """The width physical addresses are computed in: base + address never wraps."""
        return max([self.word, self.memory.size.bit_length()] + [r.width for r in self.registers]) + 1

    @property
    def mode_width(self) -> int:
        return max(1, (len(self.modes) - 1).bit_length())

    def register(self, name: str) -> Register | None:
        return next((r for r in self.registers if r.name == name), None)

    def register_index(self, name: str) -> int:
        return next(i for i, r in enumerate(self.registers) if r.name == name)

    @property
    def general_registers(self) -> tuple[Register, ...]:
        """General registers: not the pc, not control or timing state, and not copies of a
        banked register (which instructions name by the bank)."""
        return tuple(
            r for r in self.registers
            if r.kind == "general" and not r.is_pc and all(f.kind == "general" for f in r.fields)
            and r.banked is None
        )

    def operand_targets(self, operand: OperandDecl) -> tuple[tuple[int, str], ...]:
        """(operand value, register or banked register) for each register a register operand
        may name: for `r: reg`, the general registers and general banked registers by their
        position; for `r: X`, the elements of array X by their number."""
        if operand.array is not None:
            array = self.array(operand.array)
            return tuple(enumerate(array.elements)) if array is not None else ()
        general = {r.name for r in self.general_registers}
        general |= {b.name for b in self.banks if b.kind == "general"}
        return tuple((k, name) for k, name in enumerate(self.positions) if name in general)

    def target_width(self, name: str) -> int:
        """The width of a register or a banked register."""
        bank = self.bank(name)
        if bank is not None:
            return bank.width
        reg = self.register(name)
        assert reg is not None
        return reg.width


# ---------------------------------------------------------------- instruction sets


@attrs.frozen
class OperandDecl:
    name: str
    kind: str  # "imm" or "reg"
    width: int | None
    span: Span | None = span_field()
    array: str | None = None  # `r: X`: a `reg` operand naming an element of register array X


@attrs.frozen
class EncodingDecl:
    """`= "PATTERN"` after an instruction's operands, as written (without the quotes)."""

    text: str
    span: Span | None = span_field()


@attrs.frozen
class InstructionDecl:
    name: str
    operands: tuple[OperandDecl, ...]
    body: tuple[Stmt, ...]
    span: Span | None = span_field()
    encoding: EncodingDecl | None = None


@attrs.frozen
class Expectation:
    """`expect ...`: words, and an optional comparison with a number."""

    words: tuple[str, ...]
    op: str | None = None
    value: float | None = None
    span: Span | None = span_field()
    written: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)  # the words as written
    word_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)  # each word's, as written

    def word_span(self, index: int) -> Span | None:
        """Where the word at `index` (as written) is, for a diagnostic about it; else the whole line's."""
        return self.word_spans[index] if index < len(self.word_spans) else self.span


@attrs.frozen
class ExpectationResult:
    """Whether an `expect` line held, and what was found instead or as well.  An undecided one
    (it depends on a question z3 could not decide) does not hold."""

    expectation: Expectation
    holds: bool
    detail: str
    decided: bool = True


@attrs.frozen
class HelperDecl:
    """`def NAME(PARAMS) { statements }` or `def NAME(PARAMS) = value`, in an isa."""

    name: str
    params: tuple[str, ...]
    body: tuple[Stmt, ...] | None  # statements, or
    value: Expr | None  # a value
    span: Span | None = span_field()


@attrs.frozen
class Virtualization:
    """A hardware virtualization extension (VT-x, ARM EL2, RISC-V H): a guest runs in its own
    modes (`modes`: the guest modes the hardware has, empty for all the machine's); the hardware
    keeps the `shadow` state for it (the guest's own copy, not the monitor's); the `exits`
    instructions leave the guest for the monitor."""

    name: str
    shadow: tuple[StateRef, ...]
    exits: tuple[str, ...]
    span: Span | None = span_field()
    modes: tuple[str, ...] = ()

    def guest_modes(self, machine: Machine) -> tuple[int, ...]:
        """The numbers of the modes a guest runs in on the hardware (all, when none are listed)."""
        if not self.modes:
            return tuple(range(len(machine.modes)))
        return tuple(machine.modes.index(m) for m in self.modes)


@attrs.frozen
class IsaDecl:
    name: str
    extends: str | None
    machine: str | None
    instructions: tuple[InstructionDecl, ...]
    expects: tuple[Expectation, ...]
    guest_mode: str | None = None  # the guest context the analysis assumes (None: inherit)
    pins: tuple[Pin, ...] = ()
    helpers: tuple[HelperDecl, ...] = ()
    span: Span | None = span_field()
    extends_span: Span | None = span_field()
    machine_span: Span | None = span_field()
    guest_mode_span: Span | None = span_field()
    virtualization: Virtualization | None = None


@attrs.frozen
class EncodingField:
    """Bits of an operand held in the instruction word: the operand's bits `value_lo ..
    value_lo + width - 1` are the word's bits `lo .. lo + width - 1`."""

    operand: int  # the operand's index
    lo: int
    width: int
    value_lo: int = 0  # a whole operand's field holds its bits from 0


@attrs.frozen
class Encoding:
    """An instruction's bit pattern: the fixed bits of its first word (`mask`, and their
    `value`), the fields that hold operands in that word (an operand's bits may be split over
    several, as RISC-V splits immediates), and the operands that follow the word in extension
    words, one word each, in order."""

    pattern: str  # as written, parts separated by one space
    mask: int
    value: int
    fields: tuple[EncodingField, ...]
    extension: tuple[int, ...]  # the indices of the operands in extension words
    span: Span | None = span_field()

    def matches(self, word: int) -> bool:
        return word & self.mask == self.value

    def held_width(self, operand: int) -> int | None:
        """How many bits of the word hold an operand; None: it has an extension word."""
        widths = [f.width for f in self.fields if f.operand == operand]
        return sum(widths) if widths else None

    def encode(self, operands: Sequence[int]) -> tuple[int, ...]:
        """The memory words of the instruction with these operand values (each fits its fields)."""
        word = self.value
        for field in self.fields:
            word |= ((operands[field.operand] >> field.value_lo) & ((1 << field.width) - 1)) << field.lo
        return (word, *(operands[i] for i in self.extension))

    def decode(self, words: Sequence[int]) -> tuple[int, ...]:
        """The operand values in the instruction's memory words, in declaration order."""
        values = [0] * (len({f.operand for f in self.fields}) + len(self.extension))
        for field in self.fields:
            values[field.operand] |= ((words[0] >> field.lo) & ((1 << field.width) - 1)) << field.value_lo
        for k, index in enumerate(self.extension, start=1):
            values[index] = words[k]
        return tuple(values)


@attrs.frozen
class Instruction:
    """A resolved instruction: its opcode is its index in the ISA.  In memory it is its opcode
    word followed by one word per operand, or, when it has an `encoding`, the encoded word
    followed by its extension words."""

    name: str
    opcode: int
    operands: tuple[OperandDecl, ...]
    body: tuple[Stmt, ...]
    span: Span | None = span_field()
    encoding: Encoding | None = optional_field()

    @property
    def size(self) -> int:
        """Words it occupies in memory."""
        if self.encoding is not None:
            return 1 + len(self.encoding.extension)
        return 1 + len(self.operands)

    def words(self, operands: Sequence[int]) -> tuple[int, ...]:
        """Its memory words with these operand values (a `reg` operand: the register's position)."""
        if self.encoding is not None:
            return self.encoding.encode(operands)
        return (self.opcode, *operands)

    def operand_values(self, words: Sequence[int]) -> tuple[int, ...]:
        """The operand values in its memory words: the inverse of `words`."""
        if self.encoding is not None:
            return self.encoding.decode(words)
        return tuple(words[1:self.size])


@attrs.frozen
class GuestContext:
    """Where guests run: the real mode their kernel is deprivileged to, and the state the
    monitor pins while they run (x86: IOPL = 0).  `source` says who declared it: the
    isa, a hypervisor (`hypervisor NAME`), or nobody (`default`: the least privileged mode)."""

    mode: str
    pins: tuple[Pin, ...] = ()
    source: str = "default"


@attrs.frozen
class Isa:
    name: str
    machine: Machine
    instructions: tuple[Instruction, ...]
    expects: tuple[Expectation, ...]
    context: GuestContext  # the guest context the analysis assumes
    span: Span | None = span_field()
    virtualization: Virtualization | None = None  # a hardware extension, if the processor has one

    @property
    def guest_mode(self) -> str:
        return self.context.mode

    def instruction(self, name: str) -> Instruction | None:
        return next((i for i in self.instructions if i.name == name), None)


# ---------------------------------------------------------------- programs


@attrs.frozen
class ProgramWord:
    """A name or number in a program body; the resolver groups them into instructions."""

    text: str
    value: int | None
    span: Span | None = span_field()


@attrs.frozen
class LabelDef:
    name: str
    span: Span | None = span_field()


@attrs.frozen
class Comma:
    span: Span | None = span_field()


@attrs.frozen
class DataDecl:
    address: int
    values: tuple[ProgramWord, ...]
    span: Span | None = span_field()


@attrs.frozen
class OrgDecl:
    address: int
    span: Span | None = span_field()


@attrs.frozen
class EntryDecl:
    label: str
    span: Span | None = span_field()


@attrs.frozen
class StartModeDecl:
    mode: str
    span: Span | None = span_field()


@attrs.frozen
class InitDecl:
    target: StateRef
    value: int
    span: Span | None = span_field()


ProgramItem = (
    ProgramWord | LabelDef | Comma | DataDecl | OrgDecl | EntryDecl | StartModeDecl | InitDecl
)


@attrs.frozen
class ProgramDecl:
    name: str
    target: str
    items: tuple[ProgramItem, ...]
    span: Span | None = span_field()
    target_span: Span | None = span_field()


@attrs.frozen
class PlacedInstruction:
    address: int
    name: str
    operands: tuple[int, ...]
    span: Span | None = span_field()


@attrs.frozen
class Program:
    """A resolved program: instructions placed at addresses, data words, the start state."""

    name: str
    isa: str
    start_mode: str
    entry: int
    instructions: tuple[PlacedInstruction, ...]
    data: tuple[tuple[int, int], ...]
    inits: tuple[InitDecl, ...]
    labels: tuple[tuple[str, int], ...]
    span: Span | None = span_field()


# ---------------------------------------------------------------- policies


@attrs.frozen
class Pin:
    target: StateRef
    value: int
    span: Span | None = span_field()


@attrs.frozen
class CostDecl:
    """`cost { trap 100, ... }`: one figure of the cost model."""

    name: str
    value: int
    span: Span | None = span_field()


@attrs.frozen
class HypervisorDecl:
    name: str
    target: str
    type: int
    technique: str
    guest_mode: str | None
    memory_per_guest: int | None
    schedule: str
    quantum: int | None
    pins: tuple[Pin, ...]
    costs: tuple[CostDecl, ...] = ()
    management: str | None = None
    span: Span | None = span_field()
    target_span: Span | None = span_field()
    hypercalls: tuple[str, ...] | None = None
    serves: tuple[str, ...] = ()  # the management VM's back-end: the instructions it serves ...
    ring: int | None = None  # ... through the shared page at this address of its memory
    ring_span: Span | None = span_field()
    spans: tuple[tuple[str, Span], ...] = attrs.field(default=(), eq=False, repr=False, kw_only=True)

    def span_of(self, setting: str) -> Span | None:
        """Where a setting (technique, guest_mode, ...) was written, else the whole block."""
        return dict(self.spans).get(setting, self.span)


@attrs.frozen
class CostModel:
    """What the monitor's work costs, in cycles: the figures that make techniques comparable.

    The defaults are round teaching figures of the right order (a direct instruction is one
    cycle; a trap, an emulation, a world switch and a host round trip cost tens to
    thousands); a policy overrides any of them with `cost { ... }`."""

    direct: int = 1  # an instruction the guest runs on the real machine
    trap: int = 100  # a trap into the monitor (the hardware part and the dispatcher)
    emulation: int = 50  # an instruction (or a trap) the monitor simulates on virtual state
    world_switch: int = 500  # the scheduler switching the real machine to another guest
    host_round_trip: int = 2000  # type 2: every exit goes through the host OS and back
    translation: int = 20  # binary translation: translating one guest instruction
    exit: int = 400  # hardware assistance: the hardware leaving the guest for the monitor and back


COST_NAMES = tuple(f.name for f in attrs.fields(CostModel))


@attrs.frozen
class Hypervisor:
    """A resolved policy: the machine it runs on, how it virtualizes, where guests run."""

    name: str
    machine: Machine
    isa: Isa | None  # when the policy names an isa; else the guests' programs decide
    type: int
    technique: str
    context: GuestContext
    memory_per_guest: int | None  # None: the free memory shared equally by the guests
    schedule: str
    quantum: int  # guest instructions between two timer interrupts
    costs: CostModel
    management: str | None = None  # a privileged management VM (Xen's Dom0), drawn apart
    span: Span | None = span_field()
    # paravirtual: the instructions the guest calls the monitor for (None: those that break T1)
    hypercalls: tuple[str, ...] | None = None
    # split drivers: the instructions of the other guests the management VM's back-end serves,
    # and the address of the shared page (the ring) in the management VM's memory
    serves: tuple[str, ...] = ()
    ring: int | None = None

    @property
    def runs_on(self) -> str:
        """What it runs on, as a message says it: `isa NAME` when it names one, else `machine NAME`."""
        return f"isa {self.isa.name}" if self.isa is not None else f"machine {self.machine.name}"

    def is_for(self, isa: Isa) -> bool:
        """Whether guests of `isa` run under it: it runs on the isa's machine and names no other isa."""
        return self.machine.name == isa.machine.name and (self.isa is None or self.isa.name == isa.name)

    @property
    def real_guest_mode(self) -> str:
        """The real mode the guests' more privileged modes run in: the policy's guest mode, or,
        with hardware assistance, none (a guest runs in its own modes: the most privileged)."""
        return self.machine.modes[0] if self.technique == "hardware_assisted" else self.context.mode


DEFAULT_QUANTUM = 100


@attrs.frozen
class GuestDecl:
    name: str
    program: str
    mode: str | None
    span: Span | None = span_field()


@attrs.frozen
class ScenarioDecl:
    name: str
    hypervisors: tuple[str, ...]  # as written: `hypervisor inner under outer`
    guests: tuple[GuestDecl, ...]
    expects: tuple[Expectation, ...]
    span: Span | None = span_field()
    hypervisor_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False, kw_only=True)

    def hypervisor_span(self, index: int) -> Span | None:
        """Where the `index`th hypervisor name was written, else the whole block."""
        return self.hypervisor_spans[index] if index < len(self.hypervisor_spans) else self.span


@attrs.frozen
class Guest:
    """A guest of a scenario: its program, and the virtual mode it starts in."""

    name: str
    program: Program
    mode: str
    span: Span | None = span_field()


@attrs.frozen
class Scenario:
    """Guests run under a chain of monitors on one isa (the hardware)."""

    name: str
    isa: Isa
    monitors: tuple[Hypervisor, ...]  # from the hardware up: the guests run under the last
    guests: tuple[Guest, ...]
    expects: tuple[Expectation, ...]
    span: Span | None = span_field()

    @property
    def monitor(self) -> Hypervisor:
        """The monitor the guests run under."""
        return self.monitors[-1]


# ---------------------------------------------------------------- layer-only systems


@attrs.frozen
class StackMember:
    """A container of a container host, or an application of a process virtual machine."""

    kind: str  # "container" or "app"
    name: str
    label: str | None
    span: Span | None = span_field()


@attrs.frozen
class StackDecl:
    name: str
    kind: str | None
    parts: tuple[tuple[str, str], ...]  # (hardware | os | engine | runtime, text)
    members: tuple[StackMember, ...]
    span: Span | None = span_field()
    spans: tuple[tuple[str, Span], ...] = attrs.field(default=(), eq=False, repr=False, kw_only=True)

    def span_of(self, setting: str) -> Span | None:
        return dict(self.spans).get(setting, self.span)


STACK_KINDS = ("containers", "process_vm")


@attrs.frozen
class Stack:
    """A system without an ISA monitor, drawn in layers: containers on a host OS's engine
    (`containers`), or applications on a process virtual machine (`process_vm`)."""

    name: str
    kind: str
    hardware: str
    os: str
    middle: str  # the container engine, or the runtime (a JVM, the CLR)
    members: tuple[StackMember, ...]
    span: Span | None = span_field()


# ---------------------------------------------------------------- files and specs


@attrs.frozen
class Import:
    path: str
    span: Span | None = span_field()


@attrs.frozen
class ConstDecl:
    """`const NAME = NUMBER`: a named number, global to the spec."""

    name: str
    value: int
    span: Span | None = span_field()


Declaration = (
    MachineDecl | IsaDecl | ProgramDecl | HypervisorDecl | ScenarioDecl | StackDecl | ConstDecl
)


@attrs.frozen
class Module:
    """One parsed file: its imports and declarations in source order."""

    path: str
    imports: tuple[Import, ...]
    declarations: tuple[Declaration, ...]


@attrs.frozen
class Spec:
    """Everything a set of files defines, resolved and checked."""

    machines: tuple[Machine, ...]
    isas: tuple[Isa, ...]
    programs: tuple[Program, ...]
    hypervisors: tuple[Hypervisor, ...]
    scenarios: tuple[Scenario, ...]
    stacks: tuple[Stack, ...] = ()
    constants: tuple[tuple[str, int], ...] = ()

    def isa(self, name: str) -> Isa | None:
        return next((i for i in self.isas if i.name == name), None)

    def program(self, name: str) -> Program | None:
        return next((p for p in self.programs if p.name == name), None)

    def machine(self, name: str) -> Machine | None:
        return next((m for m in self.machines if m.name == name), None)

    def hypervisor(self, name: str) -> Hypervisor | None:
        return next((h for h in self.hypervisors if h.name == name), None)

    def scenario(self, name: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.name == name), None)

    def stack(self, name: str) -> Stack | None:
        return next((s for s in self.stacks if s.name == name), None)
