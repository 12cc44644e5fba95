"""Lower a lark parse tree to IR declarations (`Module`), one method per grammar rule."""

from __future__ import annotations

from typing import Any

import attrs
from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError

from vdsl.errors import Diagnostic, InternalError, SpecError, VdslError
from vdsl.ir import nodes as ir
from vdsl.source import SourceFile, Span


@attrs.frozen
class _Setting:
    """A block item that may appear once: where it goes, its value, and how to name it."""

    key: str
    value: dict[str, Any]
    span: Span | None
    what: str


@attrs.frozen
class _Count:
    """`[N]` after a register's name: how many elements its array has."""

    value: int


def parse_int(text: str) -> int:
    text = text.replace("_", "")
    if text[:2] in ("0x", "0X"):
        return int(text[2:], 16)
    if text[:2] in ("0b", "0B"):
        return int(text[2:], 2)
    return int(text)


def lower(tree: Tree[Token], source: SourceFile) -> ir.Module:
    """The IR module for one parsed file."""
    try:
        lowering = _Lowering(source)
        module: ir.Module = lowering.transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, VdslError):
            raise error.orig_exc from None
        raise InternalError(f"lowering failed: {error.orig_exc!r}") from error.orig_exc
    if lowering.diagnostics:
        raise SpecError(sorted(lowering.diagnostics, key=lambda d: (d.span.line, d.span.column)
                               if d.span else (0, 0)))
    return module


@v_args(meta=True)
class _Lowering(Transformer[Token, Any]):
    """Each method is named after the grammar rule (or alias) it lowers."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__(visit_tokens=False)
        self.source = source
        self.diagnostics: list[Diagnostic] = []  # items given twice

    def once(self, settings: dict[str, Any], key: str, value: Any, span: Span | None,
             what: str, block: str) -> None:
        """Record a setting that a block may give once; a repeat is an error (V035)."""
        if settings.get(key) is not None:
            self.diagnostics.append(Diagnostic(
                "V035", f"{what} is given twice in this {block}", span,
                f"remove one of them: {'an' if block[0] in 'aeiou' else 'a'} {block} gives {what} once"))
        settings[key] = value

    def pins_once(self, pins: list[ir.Pin]) -> None:
        """A piece of state is pinned once (V035)."""
        seen: set[tuple[str, str | None]] = set()
        for pin in pins:
            key = (pin.target.reg, pin.target.field)
            if key in seen:
                name = pin.target.reg + (f".{pin.target.field}" if pin.target.field else "")
                self.diagnostics.append(Diagnostic(
                    "V035", f"`pin {name}` is given twice", pin.span,
                    f"remove one of them: {name} is pinned to one value"))
            seen.add(key)

    # ------------------------------------------------------------ helpers
    def span(self, meta: Any) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.source, meta.line, meta.column, meta.end_line, meta.end_column)

    def token_span(self, token: Token) -> Span:
        return Span(self.source, token.line or 1, token.column or 1,
                    token.end_line or token.line or 1, token.end_column or (token.column or 1) + 1)

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        raise InternalError(f"no lowering for grammar rule {data!r}")

    # ------------------------------------------------------------ file
    def start(self, meta: Any, items: list[Any]) -> ir.Module:
        imports = tuple(i for i in items if isinstance(i, ir.Import))
        declarations = tuple(i for i in items if not isinstance(i, ir.Import))
        return ir.Module(self.source.name, imports, declarations)

    def import_decl(self, meta: Any, children: list[Token]) -> ir.Import:
        return ir.Import(str(children[0])[1:-1], span=self.span(meta))

    def const_decl(self, meta: Any, children: list[Token]) -> ir.ConstDecl:
        return ir.ConstDecl(str(children[0]), parse_int(children[1]), span=self.span(meta))

    def extends_clause(self, meta: Any, children: list[Token]) -> tuple[str, Span | None]:
        return str(children[0]), self.token_span(children[0])

    def for_clause(self, meta: Any, children: list[Token]) -> tuple[str, str, Span | None]:
        return "for", str(children[0]), self.token_span(children[0])

    # ------------------------------------------------------------ machine
    def machine(self, meta: Any, children: list[Any]) -> ir.MachineDecl:
        name = str(children[0])
        extends, extends_span = None, None
        fields: dict[str, Any] = {"word": None, "memory": None, "modes": None,
                                  "relocation": None, "trap": None}
        registers: list[ir.RegisterDecl] = []
        kinds = {ir.MemoryDecl: ("memory", "`memory`"), ir.ModesDecl: ("modes", "`modes`"),
                 ir.RelocationDecl: ("relocation", "`relocate`"),
                 ir.TrapDecl: ("trap", "`trap`"), ir.Number: ("word", "`word`")}
        for child in children[1:]:
            if isinstance(child, tuple):
                extends, extends_span = child
            elif isinstance(child, ir.RegisterDecl):
                registers.append(child)
            else:
                key, what = kinds[type(child)]
                self.once(fields, key, child, child.span, what, "machine")
        return ir.MachineDecl(name, extends, registers=tuple(registers), span=self.span(meta),
                              extends_span=extends_span, **fields)

    def word_decl(self, meta: Any, children: list[Token]) -> ir.Number:
        return ir.Number(parse_int(children[0]), span=self.span(meta))

    def memory_decl(self, meta: Any, children: list[Any]) -> ir.MemoryDecl:
        width = children[2] if len(children) > 2 else None
        return ir.MemoryDecl(str(children[0]), parse_int(children[1]), width, span=self.span(meta))

    def memory_width(self, meta: Any, children: list[Token]) -> int:
        return parse_int(children[0])

    def modes_decl(self, meta: Any, children: list[Any]) -> ir.ModesDecl:
        register = "M"
        if isinstance(children[0], ir.Name):
            register = children.pop(0).name
        return ir.ModesDecl(register, tuple(str(c) for c in children), span=self.span(meta))

    def mode_register(self, meta: Any, children: list[Token]) -> ir.Name:
        return ir.Name(str(children[0]), span=self.span(meta))

    def reg_decl(self, meta: Any, children: list[Any]) -> ir.RegisterDecl:
        kind, is_pc, is_zero, width, fields, name = "general", False, False, None, (), ""
        count = zero_index = None
        banks: tuple[ir.BankDecl, ...] = ()
        for child in children:
            if isinstance(child, Token) and child.type == "STATE_KIND":
                kind = str(child)
            elif isinstance(child, Token) and child.type == "PC_MARK":
                is_pc = True
            elif isinstance(child, Token) and child.type == "ZERO_MARK":
                is_zero = True
            elif isinstance(child, Token) and child.type == "INT":
                zero_index = parse_int(child)
            elif isinstance(child, Token):
                name = str(child)
            elif isinstance(child, _Count):
                count = child.value
            elif isinstance(child, int):
                width = child
            elif child and isinstance(child[0], ir.BankDecl):
                banks = child
            else:
                fields = child
        return ir.RegisterDecl(name, width, is_pc, kind, fields, span=self.span(meta), is_zero=is_zero,
                               count=count, zero_index=zero_index, banks=banks)

    def array_size(self, meta: Any, children: list[Token]) -> _Count:
        return _Count(parse_int(children[0]))

    def bank_list(self, meta: Any, children: list[ir.BankDecl]) -> tuple[ir.BankDecl, ...]:
        return tuple(children)

    def bank(self, meta: Any, children: list[Token]) -> ir.BankDecl:
        return ir.BankDecl(str(children[0]), tuple(str(c) for c in children[1:]), span=self.span(meta))

    def width(self, meta: Any, children: list[Token]) -> int:
        return parse_int(children[0])

    def field_list(self, meta: Any, children: list[ir.FieldDecl]) -> tuple[ir.FieldDecl, ...]:
        return tuple(children)

    def field(self, meta: Any, children: list[Any]) -> ir.FieldDecl:
        kind, name, width, lo = "general", "", None, None
        for child in children:
            if isinstance(child, Token) and child.type == "STATE_KIND":
                kind = str(child)
            elif isinstance(child, Token):
                name = str(child)
            elif isinstance(child, int):
                width = child
            else:
                lo, width = child
        return ir.FieldDecl(name, width, lo, kind, span=self.span(meta))

    def bit_range(self, meta: Any, children: list[Token]) -> tuple[int, int]:
        hi = parse_int(children[0])
        lo = parse_int(children[1]) if len(children) > 1 else hi
        return lo, hi - lo + 1

    def relocate_through(self, meta: Any, children: list[Token]) -> ir.RelocationDecl:
        return ir.RelocationDecl(str(children[0]), span=self.token_span(children[0]))

    def relocate_none(self, meta: Any, children: list[Token]) -> ir.RelocationDecl:
        return ir.RelocationDecl(None, span=self.span(meta))

    def trap_decl(self, meta: Any, children: list[Any]) -> ir.TrapDecl:
        given: dict[str, Any] = {}
        for setting in children:
            if isinstance(setting, _Setting):
                self.once(given, setting.key, setting.value, setting.span, setting.what, "trap block")
        parts: dict[str, Any] = {
            "save": None, "save_memory": None, "save_at": None,
            "load": None, "load_memory": None, "load_at": None,
            "cause_memory": None, "cause_at": None, "causes": (), "entry": None,
        }
        for value in given.values():
            parts.update(value)
        return ir.TrapDecl(span=self.span(meta), **parts)

    def trap_save(self, meta: Any, children: list[Any]) -> _Setting:
        return _Setting("save", {"save": children[0], "save_memory": str(children[1]),
                                 "save_at": parse_int(children[2])}, self.span(meta), "`save`")

    def trap_load(self, meta: Any, children: list[Any]) -> _Setting:
        return _Setting("load", {"load": children[0], "load_memory": str(children[1]),
                                 "load_at": parse_int(children[2])}, self.span(meta), "`load`")

    def trap_cause(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("cause", {"cause_memory": str(children[0]), "cause_at": parse_int(children[1])},
                        self.span(meta), "`cause`")

    def trap_causes(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("causes", {"causes": tuple(str(c) for c in children)}, self.span(meta),
                        "`causes`")

    def trap_entry(self, meta: Any, children: list[Any]) -> _Setting:
        return _Setting("entry", {"entry": children[0]}, self.span(meta), "`entry`")

    def psw(self, meta: Any, children: list[ir.StateRef]) -> tuple[ir.StateRef, ...]:
        return tuple(children)

    def state_ref(self, meta: Any, children: list[Token]) -> ir.StateRef:
        field = str(children[1]) if len(children) > 1 else None
        return ir.StateRef(str(children[0]), field, span=self.span(meta))

    # ------------------------------------------------------------ instruction sets
    def isa(self, meta: Any, children: list[Any]) -> ir.IsaDecl:
        name = str(children[0])
        extends = extends_span = machine = machine_span = None
        instructions, expects, pins, helpers = [], [], [], []
        given: dict[str, Any] = {}
        for child in children[1:]:
            if isinstance(child, tuple) and child[0] == "for":
                _, machine, machine_span = child
            elif isinstance(child, tuple):
                extends, extends_span = child
            elif isinstance(child, ir.InstructionDecl):
                instructions.append(child)
            elif isinstance(child, ir.HelperDecl):
                helpers.append(child)
            elif isinstance(child, ir.Pin):
                pins.append(child)
            elif isinstance(child, _Setting):
                self.once(given, child.key, child, child.span, child.what, "isa")
            else:
                expects.extend(child)
        self.pins_once(pins)
        guest = given.get("guest_mode")
        virtualization = given.get("virtualization")
        return ir.IsaDecl(name, extends, machine, tuple(instructions), tuple(expects),
                          guest.value["guest_mode"] if guest else None, tuple(pins),
                          span=self.span(meta), extends_span=extends_span, machine_span=machine_span,
                          guest_mode_span=guest.span if guest else None, helpers=tuple(helpers),
                          virtualization=virtualization.value["virtualization"] if virtualization else None)

    def virtualization(self, meta: Any, children: list[Any]) -> _Setting:
        given: dict[str, Any] = {}
        for setting in children[1:]:
            self.once(given, setting.key, setting.value, setting.span, setting.what, "virtualization block")
        shadow = given.get("shadow", {}).get("shadow", ())
        exits = given.get("exits", {}).get("exits", ())
        modes = given.get("modes", {}).get("modes", ())
        extension = ir.Virtualization(str(children[0]), shadow, exits, span=self.span(meta), modes=modes)
        return _Setting("virtualization", {"virtualization": extension}, self.span(meta),
                        "a virtualization block")

    def virt_shadow(self, meta: Any, children: list[ir.StateRef]) -> _Setting:
        return _Setting("shadow", {"shadow": tuple(children)}, self.span(meta), "`shadow`")

    def virt_modes(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("modes", {"modes": tuple(str(c) for c in children)}, self.span(meta), "`modes`")

    def virt_exits(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("exits", {"exits": tuple(str(c) for c in children)}, self.span(meta), "`exits`")

    def helper_def(self, meta: Any, children: list[Any]) -> ir.HelperDecl:
        name = str(children[0])
        params = children[1] if len(children) == 3 else ()
        body = children[-1]
        if isinstance(body, tuple):
            return ir.HelperDecl(name, params, body, None, span=self.span(meta))
        return ir.HelperDecl(name, params, None, body, span=self.span(meta))

    def helper_params(self, meta: Any, children: list[Token]) -> tuple[str, ...]:
        return tuple(str(c) for c in children)

    def call_stmt(self, meta: Any, children: list[Any]) -> ir.CallStmt:
        call = ir.HelperCall(str(children[0]), tuple(children[1:]), span=self.span(meta))
        return ir.CallStmt(call, span=self.span(meta))

    def helper_call(self, meta: Any, children: list[Any]) -> ir.HelperCall:
        return ir.HelperCall(str(children[0]), tuple(children[1:]), span=self.span(meta))

    def inst(self, meta: Any, children: list[Any]) -> ir.InstructionDecl:
        name, *middle, body = children
        encoding = middle.pop() if middle and isinstance(middle[-1], ir.EncodingDecl) else None
        operands = middle[0] if middle else ()
        return ir.InstructionDecl(str(name), operands, body, span=self.span(meta), encoding=encoding)

    def encoding(self, meta: Any, children: list[Token]) -> ir.EncodingDecl:
        return ir.EncodingDecl(str(children[0])[1:-1], span=self.token_span(children[0]))

    def operand_list(self, meta: Any, children: list[ir.OperandDecl]) -> tuple[ir.OperandDecl, ...]:
        return tuple(children)

    def operand(self, meta: Any, children: list[Any]) -> ir.OperandDecl:
        kind, width = children[1] if len(children) > 1 else ("imm", None)
        if isinstance(width, str):  # `r: X`: the array's name
            return ir.OperandDecl(str(children[0]), kind, None, span=self.span(meta), array=width)
        return ir.OperandDecl(str(children[0]), kind, width, span=self.span(meta))

    def imm_width(self, meta: Any, children: list[Token]) -> tuple[str, int]:
        return "imm", parse_int(children[0])

    def reg_kind(self, meta: Any, children: list[Token]) -> tuple[str, None]:
        return "reg", None

    def array_kind(self, meta: Any, children: list[Token]) -> tuple[str, str]:
        return "reg", str(children[0])

    def block(self, meta: Any, children: list[Any]) -> tuple[ir.Stmt, ...]:
        return tuple(c for c in children if not isinstance(c, Token))

    def let_stmt(self, meta: Any, children: list[Any]) -> ir.Let:
        return ir.Let(str(children[0]), children[1], span=self.span(meta))

    def assign_stmt(self, meta: Any, children: list[Any]) -> ir.Assign:
        return ir.Assign(children[0], children[1], span=self.span(meta))

    def tuple_assign_stmt(self, meta: Any, children: list[Any]) -> ir.TupleAssign:
        return ir.TupleAssign(tuple(children[:-1]), children[-1], span=self.span(meta))

    def if_stmt(self, meta: Any, children: list[Any]) -> ir.If:
        otherwise = children[2] if len(children) > 2 else ()
        return ir.If(children[0], children[1], otherwise, span=self.span(meta))

    def else_clause(self, meta: Any, children: list[Any]) -> tuple[ir.Stmt, ...]:
        branch = children[0]
        return branch if isinstance(branch, tuple) else (branch,)

    def trap_stmt(self, meta: Any, children: list[Token]) -> ir.Trap:
        return ir.Trap(str(children[0]), span=self.span(meta))

    def halt_stmt(self, meta: Any, children: list[Token]) -> ir.Halt:
        return ir.Halt(span=self.span(meta))

    # ------------------------------------------------------------ expressions
    def binary(self, meta: Any, children: list[Any]) -> ir.Binary:
        return ir.Binary(str(children[1]), children[0], children[2], span=self.span(meta))

    def if_expr(self, meta: Any, children: list[Any]) -> ir.CondExpr:
        return ir.CondExpr(children[0], children[1], children[2], span=self.span(meta))

    def unary(self, meta: Any, children: list[Any]) -> ir.Expr:
        if str(children[0]) == "+":
            operand: ir.Expr = children[1]
            return operand  # unary plus changes nothing
        return ir.Unary(str(children[0]), children[1], span=self.span(meta))

    def slice(self, meta: Any, children: list[Any]) -> ir.SliceExpr:
        lo = children[2] if len(children) > 2 else None
        return ir.SliceExpr(children[0], children[1], lo, span=self.span(meta))

    def next_pc(self, meta: Any, children: list[Any]) -> ir.Name:
        return ir.Name("next", span=self.span(meta))

    def tuple_expr(self, meta: Any, children: list[Any]) -> ir.TupleExpr:
        return ir.TupleExpr(tuple(children), span=self.span(meta))

    def call(self, meta: Any, children: list[Any]) -> ir.Call:
        return ir.Call(str(children[0]), tuple(children[1:]), span=self.span(meta))

    def name(self, meta: Any, children: list[Token]) -> ir.Name:
        return ir.Name(str(children[0]), span=self.span(meta))

    def field_ref(self, meta: Any, children: list[Token]) -> ir.Member:
        return ir.Member(str(children[0]), str(children[1]), span=self.span(meta))

    def index_ref(self, meta: Any, children: list[Any]) -> ir.SliceExpr:
        name = children[0]
        return ir.SliceExpr(ir.Name(str(name), span=self.token_span(name)), children[1], None,
                            span=self.span(meta))

    def mem_ref(self, meta: Any, children: list[Any]) -> ir.MemAccess:
        return ir.MemAccess(children[0], physical=False, span=self.span(meta))

    def phys_ref(self, meta: Any, children: list[Any]) -> ir.MemAccess:
        return ir.MemAccess(children[0], physical=True, span=self.span(meta))

    def number(self, meta: Any, children: list[Token]) -> ir.Number:
        return ir.Number(parse_int(children[0]), span=self.span(meta))

    # ------------------------------------------------------------ programs
    def program(self, meta: Any, children: list[Any]) -> ir.ProgramDecl:
        items = tuple(
            ir.Comma(span=self.token_span(c)) if isinstance(c, Token) else c for c in children[2:]
        )
        return ir.ProgramDecl(str(children[0]), str(children[1]), items,
                              span=self.span(meta), target_span=self.token_span(children[1]))

    def label_def(self, meta: Any, children: list[Token]) -> ir.LabelDef:
        return ir.LabelDef(str(children[0]), span=self.span(meta))

    def program_word(self, meta: Any, children: list[Token]) -> ir.ProgramWord:
        return self._word(children[0])

    def _word(self, token: Token) -> ir.ProgramWord:
        value = parse_int(token) if token.type == "INT" else None
        return ir.ProgramWord(str(token), value, span=self.token_span(token))

    def data_decl(self, meta: Any, children: list[Token]) -> ir.DataDecl:
        return ir.DataDecl(parse_int(children[0]), tuple(self._word(t) for t in children[1:]),
                           span=self.span(meta))

    def org_decl(self, meta: Any, children: list[Token]) -> ir.OrgDecl:
        return ir.OrgDecl(parse_int(children[0]), span=self.span(meta))

    def entry_decl(self, meta: Any, children: list[Token]) -> ir.EntryDecl:
        return ir.EntryDecl(str(children[0]), span=self.span(meta))

    def start_mode(self, meta: Any, children: list[Token]) -> ir.StartModeDecl:
        return ir.StartModeDecl(str(children[0]), span=self.span(meta))

    def init_decl(self, meta: Any, children: list[Any]) -> ir.InitDecl:
        return ir.InitDecl(children[0], parse_int(children[1]), span=self.span(meta))

    # ------------------------------------------------------------ policies
    def hypervisor(self, meta: Any, children: list[Any]) -> ir.HypervisorDecl:
        given: dict[str, Any] = {}
        spans: list[tuple[str, Span]] = []
        pins = []
        for child in children[2:]:
            if isinstance(child, ir.Pin):
                pins.append(child)
            else:
                self.once(given, child.key, child.value, child.span, child.what, "hypervisor")
                if child.span is not None:
                    spans.append((child.key, child.span))
        settings: dict[str, Any] = {"type": 1, "technique": "trap_and_emulate", "guest_mode": None,
                                    "memory_per_guest": None, "schedule": "round_robin",
                                    "quantum": None, "costs": (), "management": None, "hypercalls": None,
                                    "serves": (), "ring": None, "ring_span": None}
        for value in given.values():
            settings.update(value)
        self.pins_once(pins)
        return ir.HypervisorDecl(str(children[0]), str(children[1]), pins=tuple(pins),
                                 span=self.span(meta), target_span=self.token_span(children[1]),
                                 spans=tuple(spans), **settings)

    def hv_type(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("type", {"type": parse_int(children[0])}, self.span(meta), "`type`")

    def hv_technique(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("technique", {"technique": str(children[0])}, self.token_span(children[0]),
                        "`technique`")

    def guest_mode(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("guest_mode", {"guest_mode": str(children[0])}, self.token_span(children[0]),
                        "`guests run in`")

    def hv_allocate(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("memory_per_guest", {"memory_per_guest": parse_int(children[0])},
                        self.span(meta), "`allocate`")

    def hv_schedule(self, meta: Any, children: list[Token]) -> _Setting:
        quantum = parse_int(children[1]) if len(children) > 1 else None
        return _Setting("schedule", {"schedule": str(children[0]), "quantum": quantum},
                        self.token_span(children[0]), "`schedule`")

    def hv_management(self, meta: Any, children: list[Any]) -> _Setting:
        value: dict[str, Any] = {"management": str(children[0])}
        if len(children) > 1:
            value.update(children[1])
        return _Setting("management", value, self.token_span(children[0]), "`management`")

    def hv_serves(self, meta: Any, children: list[Token]) -> dict[str, Any]:
        return {"serves": tuple(str(c) for c in children[:-1]), "ring": parse_int(children[-1]),
                "ring_span": self.token_span(children[-1])}

    def hv_hypercalls(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("hypercalls", {"hypercalls": tuple(str(c) for c in children)}, self.span(meta),
                        "`hypercalls`")

    def hv_costs(self, meta: Any, children: list[ir.CostDecl]) -> _Setting:
        seen: dict[str, ir.CostDecl] = {}
        for cost in children:
            if cost.name in seen:
                self.diagnostics.append(Diagnostic(
                    "V035", f"the cost of '{cost.name}' is given twice", cost.span,
                    "remove one of them: a cost block gives each figure once"))
            seen[cost.name] = cost
        return _Setting("costs", {"costs": tuple(children)}, self.span(meta), "a cost block")

    def hv_cost(self, meta: Any, children: list[Token]) -> ir.CostDecl:
        return ir.CostDecl(str(children[0]), parse_int(children[1]), span=self.span(meta))

    def pin_decl(self, meta: Any, children: list[Any]) -> ir.Pin:
        return ir.Pin(children[0], parse_int(children[1]), span=self.span(meta))

    def scenario(self, meta: Any, children: list[Any]) -> ir.ScenarioDecl:
        hypervisors: tuple[str, ...] = ()
        hypervisor_spans: tuple[Span, ...] = ()
        guests, expects = [], []
        for child in children[1:]:
            if isinstance(child, _Setting):
                if hypervisors:
                    self.diagnostics.append(Diagnostic(
                        "V035", "the scenario names its hypervisor twice", child.span,
                        "remove one of them: a scenario gives `hypervisor` once "
                        "(`hypervisor inner under outer` nests monitors)"))
                else:
                    hypervisors, hypervisor_spans = child.value["hypervisors"], child.value["spans"]
            elif isinstance(child, ir.GuestDecl):
                guests.append(child)
            else:
                expects.extend(child)
        return ir.ScenarioDecl(str(children[0]), hypervisors, tuple(guests), tuple(expects),
                               span=self.span(meta), hypervisor_spans=hypervisor_spans)

    def sc_hypervisor(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("hypervisor", {"hypervisors": tuple(str(c) for c in children),
                                       "spans": tuple(self.token_span(c) for c in children)},
                        self.span(meta), "`hypervisor`")

    def sc_guest(self, meta: Any, children: list[Token]) -> ir.GuestDecl:
        mode = str(children[2]) if len(children) > 2 else None
        return ir.GuestDecl(str(children[0]), str(children[1]), mode, span=self.span(meta))

    # ------------------------------------------------------------ layer-only systems
    def stack(self, meta: Any, children: list[Any]) -> ir.StackDecl:
        given: dict[str, Any] = {}
        spans: list[tuple[str, Span]] = []
        members = []
        for child in children[1:]:
            if isinstance(child, ir.StackMember):
                members.append(child)
                continue
            self.once(given, child.key, child.value, child.span, child.what, "stack")
            if child.span is not None:
                spans.append((child.key, child.span))
        kind = given.pop("kind", {}).get("kind")
        parts = tuple((key, value["text"]) for key, value in given.items())
        return ir.StackDecl(str(children[0]), kind, parts, tuple(members), span=self.span(meta),
                            spans=tuple(spans))

    def st_kind(self, meta: Any, children: list[Token]) -> _Setting:
        return _Setting("kind", {"kind": str(children[0])}, self.token_span(children[0]), "`kind`")

    def _part(self, key: str, meta: Any, children: list[Token]) -> _Setting:
        return _Setting(key, {"text": str(children[0])[1:-1]}, self.span(meta), f"`{key}`")

    def st_hardware(self, meta: Any, children: list[Token]) -> _Setting:
        return self._part("hardware", meta, children)

    def st_os(self, meta: Any, children: list[Token]) -> _Setting:
        return self._part("os", meta, children)

    def st_engine(self, meta: Any, children: list[Token]) -> _Setting:
        return self._part("engine", meta, children)

    def st_runtime(self, meta: Any, children: list[Token]) -> _Setting:
        return self._part("runtime", meta, children)

    def st_container(self, meta: Any, children: list[Token]) -> ir.StackMember:
        label = str(children[1])[1:-1] if len(children) > 1 else None
        return ir.StackMember("container", str(children[0]), label, span=self.span(meta))

    def st_app(self, meta: Any, children: list[Token]) -> ir.StackMember:
        label = str(children[1])[1:-1] if len(children) > 1 else None
        return ir.StackMember("app", str(children[0]), label, span=self.span(meta))

    def expect_decl(self, meta: Any, children: list[ir.Expectation]) -> list[ir.Expectation]:
        return children

    def expectation(self, meta: Any, children: list[Token]) -> ir.Expectation:
        tokens = [t for t in children if t.type in ("NAME", "HYPHENATED")]
        words = tuple(str(t) for t in tokens)
        spans = tuple(self.token_span(t) for t in tokens)
        compare = [t for t in children if t.type == "COMPARE_OP"]
        if compare:
            number = children[-1]
            value = float(number) if number.type == "DECIMAL" else float(parse_int(number))
            return ir.Expectation(words, str(compare[0]), value, span=self.span(meta), word_spans=spans)
        return ir.Expectation(words, span=self.span(meta), word_spans=spans)

