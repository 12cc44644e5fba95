"""Guests under a monitor (`vdsl.monitor`): the allocator, the VM map, and scenario runs with
their equivalence, resource control, efficiency, costs, traces and expectations."""

from __future__ import annotations

import itertools
import re

import pytest
from conftest import spec_from

from vdsl import RunError, SpecError
from vdsl.emulator import MachineState
from vdsl.ir import nodes as ir
from vdsl.ir.layout import trap_words
from vdsl.monitor.allocator import Allocator, Partition
from vdsl.monitor.run import run_scenario
from vdsl.monitor.vm_map import VmMap

MACHINE = """
machine acc {
    word 16
    memory E[256]
    modes { supervisor > user }
    reg A
    reg P pc
    control reg F { IF: 1 }
    control reg R { base: 8, bound: 8 }
    relocate through R
    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }
}
isa acc for acc {
    inst LDI v   { A = v }
    inst ADD a   { A = A + mem[a] }
    inst ST a    { mem[a] = A }
    inst JMP a   { P = a }
    inst SVC     { trap svc }
    inst LPSW a  { if M == user { trap privileged }  (M, P, R) = mem[a] }
    inst HALT    { if M == user { trap privileged }  halt }
    inst GETM    { A = zext(M, 16) }                      // mode-sensitive
    inst PST a   { phys[a] = A }                          // writes outside the relocation
    inst SETS    { M = supervisor }                       // raises the mode, unprivileged
    inst STOP    { halt }                                 // halts, unprivileged
    inst CLI     { if M == user { trap privileged }  F.IF = 0 }
    inst RDF     { A = zext(F.IF, 16) }                   // reads control state
    guests run in user
}
"""


def program(name: str, body: str, mode: str = "user", extra: str = "") -> str:
    """A program whose trap vector sends every trap to a handler that halts (in supervisor mode)."""
    return (f"program {name} on acc {{\n    mode {mode}\n    data 4: 0, handler, 0, 64\n    data 10: 5, 0\n"
            f"{extra}    org 16\nstart:\n    {body}\nhandler:\n    HALT\n    entry start\n}}\n")


POLICY = "hypervisor m on acc { guests run in user  allocate memory 64 per guest  schedule round_robin quantum 4 }\n"


def scenario_spec(*guests: tuple[str, str, str], policy: str = POLICY, expect: str = "",
                  programs: str = "") -> ir.Spec:
    text = MACHINE + programs + policy + "scenario s {\n    hypervisor m\n" + "".join(
        f"    guest {name} runs {prog} in {mode}\n" for name, prog, mode in guests) + (
        f"    expect {expect}\n" if expect else "") + "}\n"
    return spec_from(text)


def run(*guests: tuple[str, str, str], programs: str, technique: str | None = None, max_steps: int = 1000,
        policy: str = POLICY, expect: str = "", trace: bool = False):  # type: ignore[no-untyped-def]
    spec = scenario_spec(*guests, policy=policy, expect=expect, programs=programs)
    scenario = spec.scenario("s")
    assert scenario is not None
    return run_scenario(scenario, technique, max_steps, trace=trace)


# ---------------------------------------------------------------- the allocator


def machine() -> ir.Machine:
    return spec_from(MACHINE).machines[0]


def test_partitions_avoid_the_trap_areas_and_each_other() -> None:
    allocator = Allocator(machine(), "m")
    assert trap_words(machine()) == frozenset(range(9))
    parts = allocator.allocate(["a", "b", "c"], 64)
    assert [(p.guest, p.offset, p.size) for p in parts] == [("a", 9, 64), ("b", 73, 64), ("c", 137, 64)]


def test_without_a_size_the_free_memory_is_shared() -> None:
    parts = Allocator(machine(), "m").allocate(["a", "b"], None)
    assert [(p.offset, p.size) for p in parts] == [(9, 123), (132, 123)]


def test_too_many_guests_is_an_error() -> None:
    with pytest.raises(RunError) as caught:
        Allocator(machine(), "m").allocate(["a", "b", "c", "d"], 64)
    assert str(caught.value) == ("hypervisor m cannot give 4 guests 64 words each: machine 'acc' has 55 free "
                                 "words outside the monitor's trap areas; allocate less memory per guest")


@pytest.mark.parametrize(("virtual", "real"), [
    ((5, 20), (14, 20)),      # moved up by the partition's offset
    ((50, 30), (59, 14)),     # the bound cut at the partition's end
    ((64, 10), (9, 0)),       # a base past the partition: every access traps, as in the virtual machine
])
def test_the_allocator_moves_a_guests_relocation_into_its_partition(virtual: tuple[int, int],
                                                                     real: tuple[int, int]) -> None:
    allocator = Allocator(machine(), "m")
    partition = Partition("a", 9, 64)
    base, bound = virtual
    value = allocator.relocation(partition, base | bound << 8)
    assert value is not None
    assert (value & 0xFF, value >> 8) == real


def test_without_relocation_one_guest_gets_all_of_memory_and_the_trap_words_are_kept_apart() -> None:
    flat = spec_from(MACHINE.replace("relocate through R", "relocate none")).machines[0]
    (part,) = Allocator(flat, "m").allocate(["a"], None)
    assert (part.offset, part.size, part.kept) == (0, 256, frozenset(range(9)))
    with pytest.raises(RunError) as caught:
        Allocator(flat, "m").allocate(["a", "b"], None)
    assert "can hold one guest only, not 2" in str(caught.value)


# ---------------------------------------------------------------- the VM map


def test_the_real_machine_holds_the_guests_registers_and_the_monitors_control_state() -> None:
    spec = spec_from(MACHINE + "hypervisor m on acc { guests run in user  pin F.IF = 1 }")
    hypervisor = spec.hypervisors[0]
    allocator = Allocator(machine(), "m")
    vm_map = VmMap.build(machine(), Partition("a", 9, 64), hypervisor.context, allocator)
    virtual = MachineState.empty(machine())
    virtual.set(ir.StateRef("A"), 42)
    virtual.set(ir.StateRef("P"), 7)
    virtual.set(ir.StateRef("F", "IF"), 0)
    virtual.set(ir.StateRef("R"), 3 | 40 << 8)
    real = MachineState.empty(machine())
    vm_map.enter(virtual, real)
    assert real.get(ir.StateRef("A")) == 42 and real.get(ir.StateRef("P")) == 7  # the guest's own
    assert real.mode == 1                                                  # supervisor runs in user
    assert real.get(ir.StateRef("F", "IF")) == 1                           # the pin
    assert (real.get(ir.StateRef("R", "base")), real.get(ir.StateRef("R", "bound"))) == (12, 40)
    real.set(ir.StateRef("A"), 43)
    real.set(ir.StateRef("F", "IF"), 0)
    vm_map.leave(real, virtual)
    assert virtual.get(ir.StateRef("A")) == 43                             # taken back
    assert virtual.get(ir.StateRef("F", "IF")) == 0 and virtual.mode == 0  # the monitor's to keep


# ---------------------------------------------------------------- runs


PROGRAMS = (
    program("calls", "LDI 1\n    ADD 10\n    SVC")
    + program("kernel", "LDI 1\n    ADD 10\n    ST 11\n    HALT", mode="supervisor")
    + program("whoami", "GETM\n    HALT", mode="supervisor")
    + program("escape", "LDI 9\n    PST 200\n    SVC")
    + program("raise", "SETS\n    LDI 3\n    SVC")
    + program("stop", "LDI 1\n    STOP")
    + program("spin", "LDI 1\nagain:\n    JMP again")
    + program("flags", "RDF\n    SVC", extra="    init F.IF = 1\n")
    + program("boot", "LPSW 12\n    HALT", mode="supervisor", extra="    data 12: 1, 20, 30, 30\n")
    + "program user_half on acc {\n    mode user\n    data 4: 0, 60, 0, 64\n    org 20\n    LDI 2\n    SVC\n"
      "    org 60\n    HALT\n}\n"
)


def test_an_innocuous_guest_is_equivalent_and_the_counters_say_how_each_instruction_ran() -> None:
    result = run(("a", "calls", "user"), programs=PROGRAMS)
    (guest,) = result.guests
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    counters = guest.counters
    # LDI, ADD direct; SVC traps and is reflected to the guest's handler; its HALT (virtual
    # supervisor mode, real user mode) traps and is emulated.
    assert (counters.instructions, counters.direct, counters.traps, counters.reflections,
            counters.emulations) == (4, 2, 2, 1, 1)
    assert counters.efficiency == 0.5
    assert guest.partition == (9, 64)


def test_a_guest_kernel_reading_its_mode_diverges_and_the_classification_explains_it() -> None:
    result = run(("k", "whoami", "supervisor"), programs=PROGRAMS)
    (guest,) = result.guests
    divergence = guest.divergence
    assert divergence is not None
    assert (divergence.step, divergence.instruction, divergence.how) == (1, "GETM", "direct")
    assert [(d.where, d.first, d.second) for d in divergence.differences] == [("A", 0, 1)]
    assert divergence.before.get(ir.StateRef("A")) == 0
    assert divergence.explanation is not None
    assert divergence.explanation.offends == ("T1",)
    assert "mode-sensitive" in divergence.explanation.classes
    assert guest.resource_control                   # a divergence is not an escape


def test_a_store_outside_the_partition_is_reported_with_the_instruction_that_made_it() -> None:
    result = run(("e", "escape", "user"), programs=PROGRAMS)
    (guest,) = result.guests
    (violation,) = guest.violations
    assert (violation.kind, violation.step, violation.pc, violation.instruction) == ("access", 2, 18, "PST")
    assert violation.detail == "wrote real word E[200] outside its partition (E[9..72])"
    assert violation.explanation is not None and violation.explanation.offends == ("T1", "T3", "premise")


def test_a_guest_raising_the_real_mode_is_caught_behind_the_monitors_back() -> None:
    result = run(("r", "raise", "user"), programs=PROGRAMS)
    (guest,) = result.guests
    assert [(v.kind, v.step, v.instruction) for v in guest.violations] == [("mode", 1, "SETS")]
    assert guest.violations[0].detail == ("changed the real mode to supervisor behind the monitor's back "
                                          "(the monitor runs it in user)")
    assert guest.divergence is not None and guest.divergence.instruction == "SETS"


def test_an_unprivileged_halt_stops_the_real_machine_and_every_other_guest() -> None:
    result = run(("s", "stop", "user"), ("k", "spin", "user"), programs=PROGRAMS)
    stopper, other = result.guests
    assert stopper.status == "halted" and stopper.message == "halted the real machine at pc 18"
    assert [(v.kind, v.step, v.instruction) for v in stopper.violations] == [("halt", 2, "STOP")]
    assert (other.status, other.message) == ("stopped", "the real machine halted under it")
    assert stopper.equivalent  # its bare twin halted too
    assert stopper.finished and not other.finished


def test_a_guest_that_never_traps_is_preempted_and_the_others_still_run() -> None:
    result = run(("loop", "spin", "user"), ("k", "kernel", "supervisor"), programs=PROGRAMS, max_steps=30)
    spin, kernel = result.guests
    assert spin.status == "step_limit" and spin.counters.instructions == 30
    assert spin.counters.preemptions >= 7   # quantum 4
    assert kernel.status == "halted" and kernel.equivalent
    assert kernel.counters.world_switches >= 1


def test_loading_a_psw_goes_through_the_allocator() -> None:
    result = run(("b", "boot", "supervisor"), programs=PROGRAMS)
    (guest,) = result.guests
    assert guest.equivalent and guest.resource_control
    assert guest.counters.allocations >= 1    # LPSW's new R, placed in the partition


def test_reading_control_state_diverges_under_both_techniques() -> None:
    for technique in ("trap_and_emulate", "hybrid"):
        (guest,) = run(("f", "flags", "user"), programs=PROGRAMS, technique=technique).guests
        assert guest.divergence is not None and guest.divergence.instruction == "RDF", technique
        assert [(d.where, d.first, d.second) for d in guest.divergence.differences] == [("A", 1, 0)]


def test_hybrid_interprets_the_guests_supervisor_mode() -> None:
    result = run(("k", "whoami", "supervisor"), programs=PROGRAMS, technique="hybrid")
    (guest,) = result.guests
    assert result.technique == "hybrid"
    assert guest.equivalent
    assert (guest.counters.interpretations, guest.counters.direct, guest.counters.traps) == (2, 0, 0)


def test_hardware_assistance_needs_an_extension() -> None:
    with pytest.raises(RunError) as caught:
        run(("a", "calls", "user"), programs=PROGRAMS, technique="hardware_assisted")
    assert str(caught.value).startswith("hypervisor m is hardware_assisted, but isa acc declares no "
                                        "virtualization extension")


def test_the_cost_model_counts_each_event_and_type_2_pays_the_host_round_trip() -> None:
    hosted = POLICY.replace("guests run in user", "type 2  guests run in user  cost { trap 10, emulation 3, "
                                                  "host_round_trip 1000 }")
    for policy, round_trip in ((POLICY, 0), (hosted, 1000)):
        result = run(("a", "calls", "user"), programs=PROGRAMS, policy=policy)
        (level,) = result.levels
        counters = level.counters
        costs = result.scenario.monitor.costs
        assert level.cycles == (counters.direct * costs.direct + counters.traps * costs.trap
                                + (counters.emulations + counters.reflections) * costs.emulation
                                + counters.traps * round_trip)
    assert result.levels[0].cycles == 2 * 1 + 2 * 10 + 2 * 3 + 2 * 1000


def test_a_monitor_runs_as_the_guest_of_a_monitor() -> None:
    text = MACHINE + PROGRAMS + POLICY + (
        "hypervisor host on acc { guests run in user }\n"
        "scenario s { hypervisor m under host  guest a runs calls  guest b runs kernel in supervisor }\n")
    scenario = spec_from(text).scenario("s")
    assert scenario is not None
    result = run_scenario(scenario)
    assert [g.equivalent for g in result.guests] == [True, True]
    assert [g.resource_control for g in result.guests] == [True, True]
    outer, inner = result.levels
    assert (outer.hypervisor, inner.hypervisor) == ("host", "m")
    # Every trap of the inner guests reaches the outer monitor first, which reflects it up, and
    # the inner monitor's return to its guest traps into the outer one again.
    assert outer.counters.traps >= 2 * inner.counters.traps > 0
    assert result.cycles == outer.cycles + inner.cycles


def test_the_trace_records_the_monitors_actions_with_both_modes() -> None:
    result = run(("a", "calls", "user"), programs=PROGRAMS, trace=True)
    assert [(e.kind, e.step, e.instruction, e.real_mode, e.virtual_mode) for e in result.events] == [
        ("direct", 1, "LDI", "user", "user"),
        ("direct", 2, "ADD", "user", "user"),
        ("dispatch", 3, "SVC", "user", "user"),
        ("reflect", 3, "SVC", "user", "supervisor"),
        ("dispatch", 4, "HALT", "user", "supervisor"),
        ("emulate", 4, "HALT", "user", "supervisor"),
        ("halt", 4, "HALT", "user", "supervisor"),
    ]
    assert result.events[2].to_json()["cause"] == "svc"


def test_with_the_trace_every_lockstep_comparison_is_kept_with_both_states() -> None:
    result = run(("a", "calls", "user"), ("k", "whoami", "supervisor"), programs=PROGRAMS, trace=True)
    assert [(c.guest, c.step, c.pc, c.how) for c in result.compared] == [
        ("a", 1, 16, "direct"), ("a", 2, 18, "direct"), ("a", 3, 20, "reflected"), ("a", 4, 21, "emulated"),
        ("k", 1, 16, "direct")]  # k diverges at its first step: its bare twin stops there
    ldi, add = result.compared[:2]
    assert (ldi.bare[0], ldi.virtual[0], ldi.memory) == (1, 1, ())
    assert (add.bare[0], add.virtual[0]) == (6, 6)
    # the reflected SVC wrote the guest's trap area: the words, bare and virtual
    assert [(address, bare, virtual) for address, bare, virtual in result.compared[2].memory][:2] == [
        (0, 1, 1), (1, 20, 20)]  # the saved PSW: user mode, P at the SVC
    getm = result.compared[4]
    assert (getm.bare[0], getm.virtual[0]) == (0, 1)  # GETM: A = supervisor's 0 bare, user's 1 virtual
    assert run(("a", "calls", "user"), programs=PROGRAMS).compared == ()


def test_without_relocation_the_guest_writing_the_trap_vector_escapes() -> None:
    flat = MACHINE.replace("relocate through R", "relocate none")
    text = flat + "program p on acc {\n    mode user\n    org 16\n    LDI 7\n    ST 5\n    SVC\n}\n" + POLICY.replace(
        "allocate memory 64 per guest", "") + "scenario s { hypervisor m  guest g runs p }\n"
    scenario = spec_from(text).scenario("s")
    assert scenario is not None
    result = run_scenario(scenario, max_steps=50)
    (guest,) = result.guests
    assert guest.violations[0].kind == "access" and guest.violations[0].instruction == "ST"
    assert guest.violations[0].detail == "wrote real word E[5] in the monitor's trap area (its partition is E[0..255])"


def test_a_program_that_does_not_fit_its_partition_is_an_error() -> None:
    text = MACHINE + "program big on acc { org 100 LDI 1 }\n" + POLICY + "scenario s { guest g runs big }\n"
    scenario = spec_from(text).scenario("s")
    assert scenario is not None
    with pytest.raises(RunError) as caught:
        run_scenario(scenario)
    assert str(caught.value) == ("guest g: program big uses address 101, but hypervisor m gives each guest 64 "
                                 "words; allocate more memory per guest or move the program down with `org`")


@pytest.mark.parametrize(("expect", "holds"), [
    ("equivalence", False),
    ("divergence", True),
    ("divergence at GETM", True),
    ("divergence at LDI", False),
    ("k divergence at GETM", True),
    ("a equivalence", True),
    ("k equivalence", False),
    ("resource_control", True),
    ("resource_control fails", False),
    ("efficiency >= 0.25", True),
    ("efficiency > 0.5", False),
    ("a efficiency == 0.5", True),
    ("T1 fails with GETM PST SETS STOP RDF", True),
    ("T1 holds", False),
])
def test_scenario_expectations(expect: str, holds: bool) -> None:
    result = run(("a", "calls", "user"), ("k", "whoami", "supervisor"), programs=PROGRAMS, expect=expect)
    (found,) = result.expectations
    assert found.holds is holds, found.detail


# ---------------------------------------------------------------- encoded instructions


def _encoded(text: str) -> str:
    """The acc isa with a pattern per instruction: 1010 and its opcode in the word, its operand
    (if any) in an extension word, so every instruction keeps its size and every address."""
    count = itertools.count()
    return re.sub(r"(inst \w+(?: \w+)?)(\s+\{)",
                  lambda m: f'{m.group(1)} = "1010{next(count):012b}"{m.group(2)}', text)


def test_an_encoded_isa_runs_under_the_monitor_as_its_unencoded_twin() -> None:
    runs = []
    for machine_text in (MACHINE, _encoded(MACHINE)):
        spec = spec_from(machine_text + PROGRAMS + POLICY + "scenario s {\n    hypervisor m\n"
                         "    guest a runs calls in user\n    guest e runs escape in user\n"
                         "    guest k runs whoami in supervisor\n}\n")
        scenario = spec.scenario("s")
        assert scenario is not None
        runs.append(run_scenario(scenario, None, 1000, trace=True))
    plain, encoded = runs
    isa = encoded.scenario.isa
    assert all(i.encoding is not None for i in isa.instructions)
    assert [e.to_json() for e in encoded.events] == [e.to_json() for e in plain.events]
    assert [(g.status, g.equivalent, g.counters, g.violations) for g in encoded.guests] == \
        [(g.status, g.equivalent, g.counters, g.violations) for g in plain.guests]
    divergence = encoded.guests[2].divergence
    assert divergence is not None and divergence.instruction == "GETM"  # read back through the decoder


# ---------------------------------------------------------------- binary translation, paravirtualization


@pytest.mark.parametrize("technique", ["binary_translation", "paravirtual"])
def test_the_offenders_run_in_the_monitor_and_the_guests_are_equivalent(technique: str) -> None:
    # GETM in the guest kernel (T1's offender) and RDF in its user mode (T3's: it reads IF, which
    # the monitor owns) diverge under trap-and-emulate; here the monitor runs them itself.
    for program, mode, offender in (("whoami", "supervisor", "GETM"), ("flags", "user", "RDF")):
        (guest,) = run(("g", program, mode), programs=PROGRAMS, technique=technique).guests
        assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True), program
        assert guest.counters.calls == 1
        if technique == "paravirtual":
            assert [r.instruction for r in guest.rewritten] == [offender]
        else:
            patched = [i.instruction for b in guest.translations for i in b.instructions if i.patched]
            assert patched == [offender]


def test_binary_translation_caches_blocks_and_drops_the_ones_the_guest_rewrites() -> None:
    # The kernel runs a block, overwrites its first instruction (GETM) with HALT, and jumps back.
    # Once ST has written it, the block is stale: its JMP is translated again on its own, then the
    # HALT, which traps and is emulated, as on the bare machine.
    selfmod = program("selfmod", "GETM\n    LDI 6\n    ST 16\n    JMP 16", mode="supervisor")
    (guest,) = run(("g", "selfmod", "supervisor"), programs=selfmod, technique="binary_translation").guests
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    counters = guest.counters
    assert (counters.blocks, counters.invalidations, counters.calls, counters.emulations) == (3, 1, 1, 1)
    assert counters.hits == 2  # LDI and ST, from the first translation
    assert [[i.instruction for i in b.instructions] for b in guest.translations] == [
        ["GETM", "LDI", "ST", "JMP"], ["JMP"], ["HALT"]]
    # Translation costs cycles: each instruction translated, at the policy's `translation` cost.
    exits = counters.traps + counters.preemptions
    assert guest.cycles == (counters.direct + exits * 100 + (counters.emulations + counters.calls) * 50
                            + counters.translated * 20)


def test_a_paravirtual_policy_names_its_hypercalls() -> None:
    policy = POLICY.replace("guests run in user", "technique paravirtual  guests run in user  hypercalls { RDF }")
    (guest,) = run(("g", "whoami", "supervisor"), programs=PROGRAMS, policy=policy).guests
    # GETM is no hypercall of this policy: it runs directly and diverges.
    assert guest.rewritten == () and guest.divergence is not None and guest.divergence.instruction == "GETM"
    (guest,) = run(("g", "flags", "user"), programs=PROGRAMS, policy=policy).guests
    assert [r.instruction for r in guest.rewritten] == ["RDF"] and guest.equivalent


def test_an_unknown_hypercall_is_an_error() -> None:
    policy = POLICY.replace("guests run in user", "technique paravirtual  guests run in user  hypercalls { RDFF }")
    with pytest.raises(SpecError) as caught:
        scenario_spec(("g", "flags", "user"), policy=policy, programs=PROGRAMS)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.message, diagnostic.hint) == (
        "V010", "undefined instruction 'RDFF'", "did you mean 'RDF'?")


# ---------------------------------------------------------------- hardware assistance

EXTENDED = MACHINE.replace("    guests run in user\n}", "    guests run in user\n"
                           "    virtualization vt { shadow F; exits { HALT } }\n}")


def test_hardware_assistance_runs_the_guest_in_its_own_modes() -> None:
    policy = POLICY.replace("guests run in user", "technique hardware_assisted")
    for program, mode in (("whoami", "supervisor"), ("flags", "user"), ("kernel", "supervisor")):
        spec = spec_from(EXTENDED + PROGRAMS + policy + f"scenario s {{ hypervisor m  guest g runs {program} in "
                         f"{mode} }}\n")
        scenario = spec.scenario("s")
        assert scenario is not None
        (guest,) = run_scenario(scenario, None, 1000).guests
        # GETM reads the guest's own mode, RDF its own F (shadowed): both run directly.
        assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True), program
        counters = guest.counters
        assert counters.exits == 1  # each ends with a HALT in the guest's own supervisor mode
        assert counters.direct == counters.instructions - counters.exits - counters.traps


def test_hardware_assistance_still_catches_a_store_outside_the_partition() -> None:
    policy = POLICY.replace("guests run in user", "technique hardware_assisted")
    spec = spec_from(EXTENDED + PROGRAMS + policy + "scenario s { hypervisor m  guest g runs escape in user }\n")
    scenario = spec.scenario("s")
    assert scenario is not None
    (guest,) = run_scenario(scenario, None, 1000).guests
    assert not guest.resource_control and guest.violations[0].instruction == "PST"


@pytest.mark.parametrize(("extension", "expected"), [
    ("virtualization vt { shadow M }",
     "V046 the mode is not shadowed: in the extension's guest mode a guest always runs in its own modes"),
    ("virtualization vt { shadow A }", "V046 'A' is not control state: the guest owns it anyway"),
    ("virtualization vt { exits { HALTT } }", "V010 undefined instruction 'HALTT'"),
])
def test_a_misdeclared_extension_is_an_error(extension: str, expected: str) -> None:
    text = MACHINE.replace("    guests run in user\n}", f"    guests run in user\n    {extension}\n}}")
    with pytest.raises(SpecError) as caught:
        spec_from(text)
    (diagnostic,) = caught.value.diagnostics
    assert f"{diagnostic.code} {diagnostic.message}" == expected


def test_hardware_exits_are_taken_by_the_real_machine_without_lockstep() -> None:
    # The decoder turns an exit-set instruction into an exit before it runs, so compiled blocks
    # run the guest and the monitor only sees the exits (here the HALTs), lockstep or not.
    policy = POLICY.replace("guests run in user", "technique hardware_assisted")
    spec = spec_from(EXTENDED + PROGRAMS + policy + "scenario s { hypervisor m  guest g runs kernel in supervisor }\n")
    scenario = spec.scenario("s")
    assert scenario is not None
    checked, = run_scenario(scenario, None, 1000).guests
    unchecked, = run_scenario(scenario, None, 1000, lockstep=False).guests
    for guest in (checked, unchecked):
        assert guest.status == "halted"
        assert (guest.counters.exits, guest.counters.direct, guest.counters.instructions) == (1, 3, 4)


def test_under_hardware_assistance_the_guests_own_mode_changes_are_its_own() -> None:
    # RETU is unprivileged and changes the mode: with the extension the guest runs in its own
    # modes, so the change is the guest's, not an escape, and the run stays equivalent.
    retu = EXTENDED.replace("    inst RDF ", "    inst RETU a  { M = user  P = a }\n    inst RDF ")
    policy = POLICY.replace("guests run in user", "technique hardware_assisted")
    text = retu + program("drop", "LDI 2\n    RETU 20\n    ADD 10\n    SVC", mode="supervisor") + policy
    spec = spec_from(text + "scenario s { hypervisor m  guest g runs drop in supervisor }\n")
    scenario = spec.scenario("s")
    assert scenario is not None
    (guest,) = run_scenario(scenario, None, 1000).guests
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)


def test_the_relocation_register_is_never_shadowed() -> None:
    text = MACHINE.replace("    guests run in user\n}", "    guests run in user\n    virtualization vt { shadow R }\n}")
    with pytest.raises(SpecError) as caught:
        spec_from(text)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "V046", "the relocation register 'R' is not shadowed: the monitor keeps each guest in its partition with it")


def test_a_run_without_lockstep_ending_in_an_emulated_halt_reports_no_violation() -> None:
    for technique in ("trap_and_emulate", "paravirtual"):
        spec = scenario_spec(("k", "kernel", "supervisor"), programs=PROGRAMS)
        scenario = spec.scenario("s")
        assert scenario is not None
        (guest,) = run_scenario(scenario, technique, 1000, lockstep=False).guests
        assert guest.status == "halted" and guest.resource_control, (technique, guest.violations)


def test_hardware_assistance_runs_on_the_hardware_only() -> None:
    outer = "hypervisor host on acc { technique trap_and_emulate  guests run in user }\n"
    inner = POLICY.replace("guests run in user", "technique hardware_assisted")
    spec = spec_from(EXTENDED + PROGRAMS + inner + outer
                     + "scenario s { hypervisor m under host  guest g runs calls in user }\n")
    scenario = spec.scenario("s")
    assert scenario is not None
    with pytest.raises(RunError) as caught:
        run_scenario(scenario, None, 1000)
    assert "runs inside another monitor's virtual machine" in str(caught.value)
