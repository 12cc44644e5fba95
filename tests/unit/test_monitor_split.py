"""Split drivers (a management VM whose back-end serves the other guests' I/O, as Xen's Dom0 and
Hyper-V's parent partition do) and traps the hardware delivers inside a guest."""

from __future__ import annotations

import pytest
from conftest import spec_from

from vdsl import SpecError
from vdsl.monitor.run import run_scenario

MACHINE = """
machine io {
    word 16
    memory E[512]
    modes { supervisor > user }
    reg A
    reg B
    reg P pc
    control reg D                                  // the device
    control reg R { base: 16, bound: 16 }
    relocate through R
    trap { causes { svc } save (M, P, R) -> E[0]; load (M, P, R) <- E[4]; cause -> E[8] }
}
isa io for io {
    inst LDI d: reg, v       { d = v }
    inst LD d: reg, a        { d = mem[a] }
    inst ST a, s: reg        { mem[a] = s }
    inst BNE r: reg, v, a    { if r != v { P = a } }
    inst OUT s: reg          { if M == user { trap privileged }  D = s }
    inst SVC                 { trap svc }
    inst LPSW a              { if M == user { trap privileged }  (M, P, R) = mem[a] }
    inst HALT                { if M == user { trap privileged }  halt }
    guests run in user
    virtualization vt { exits { OUT, HALT, LPSW } }
}
"""

# The back-end polls the shared page at 100: [100] the status (1 posted, 2 answered), [101] the
# guest's number, [102..103] its OUT (opcode, register), [104] the register's value.
PROGRAMS = """
program backend on io {
    org 16
poll:
    LD A, 100
    BNE A, 1, poll
    LD B, 104
    OUT B
    LD A, 105
    LDI A, 2
    ST 100, A
    BNE A, 0, poll
}
program front1 on io {
    org 16
    LDI A, 5
    OUT A
    LDI B, 6
    OUT B
    HALT
}
program front2 on io {
    org 16
    LDI B, 9
    OUT B
    HALT
}
program quitter on io {
    org 16
    HALT
}
"""

POLICY = ("hypervisor m on io {{ technique {technique}  guests run in user  allocate memory 128 per guest  "
          "schedule round_robin quantum 5  management back serves {{ OUT }} at 100 }}\n")


def scenario(technique: str = "trap_and_emulate", backend: str = "backend", policy: str | None = None):  # type: ignore[no-untyped-def]
    text = MACHINE + PROGRAMS + (policy or POLICY.format(technique=technique)) + (
        f"scenario s {{ hypervisor m  guest back runs {backend}  guest f1 runs front1  guest f2 runs front2 "
        "expect equivalence, resource_control }\n")
    found = spec_from(text).scenario("s")
    assert found is not None
    return found


@pytest.mark.parametrize("technique", ["trap_and_emulate", "hybrid", "binary_translation", "paravirtual",
                                       "hardware_assisted"])
@pytest.mark.parametrize("lockstep", [True, False])
def test_the_back_end_serves_every_request_and_the_guests_stay_equivalent(technique: str, lockstep: bool) -> None:
    run = run_scenario(scenario(technique), None, 2000, lockstep=lockstep)
    back, f1, f2 = run.guests
    assert back.management and back.status == "served" and back.finished
    assert back.counters.served == 3
    assert (f1.counters.forwarded, f2.counters.forwarded) == (2, 1)
    assert (f1.status, f2.status) == ("halted", "halted")
    assert (f1.counters.instructions, f2.counters.instructions) == (5, 3)
    assert all(g.resource_control for g in run.guests)
    if lockstep:
        assert f1.equivalent and f2.equivalent and f1.checked and not back.checked
        assert all(e.holds for e in run.expectations), [e.detail for e in run.expectations]


def test_requests_wait_their_turn_on_the_shared_page() -> None:
    run = run_scenario(scenario(), None, 2000, trace=True)
    served = [(e.guest, e.kind) for e in run.events
              if e.kind in ("forward", "answer") or (e.guest, e.kind) == ("back", "emulate")]
    # f1 and f2 both ask before the back-end runs; the page holds one request at a time, answered
    # in the order asked, each after the back-end's own OUT has driven the device.
    assert served == [("f1", "forward"), ("f2", "forward"), ("back", "emulate"), ("f1", "answer"),
                      ("back", "emulate"), ("f1", "forward"), ("f2", "answer"), ("back", "emulate"),
                      ("f1", "answer")]
    answers = [e for e in run.events if e.kind == "answer"]
    assert {dict(e.detail)["by"] for e in answers} == {"back"}


def test_a_guest_waiting_for_a_back_end_that_stopped_says_so() -> None:
    run = run_scenario(scenario(backend="quitter"), None, 2000)
    back, f1, f2 = run.guests
    assert back.status == "halted"
    assert f1.status == f2.status == "stopped"
    assert f1.message == "waiting for management VM back, which halted"


@pytest.mark.parametrize(("policy", "expected"), [
    ("hypervisor m on io { allocate memory 128 per guest  management back serves { OUTT } at 100 }",
     "V010 undefined instruction 'OUTT'"),
    ("hypervisor m on io { allocate memory 128 per guest  management back serves { OUT } at 600 }",
     "V023 the shared page at 600 is outside the 512-word memory"),
    ("hypervisor m on io { allocate memory 128 per guest  management dom0 serves { OUT } at 100 }",
     "V010 hypervisor m's management VM dom0 serves the other guests, but scenario 's' has no guest dom0"),
])
def test_a_misdeclared_back_end_is_an_error(policy: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        scenario(policy=policy + "\n")
    (diagnostic,) = caught.value.diagnostics
    assert f"{diagnostic.code} {diagnostic.message}" == expected


def assisted_guest(program: str, machine: str = MACHINE):  # type: ignore[no-untyped-def]
    """The one guest of `program` (its kernel in supervisor mode) run under hardware assistance."""
    text = machine + program + ("hypervisor m on io { technique hardware_assisted  allocate memory 128 per guest }\n"
                                "scenario s { hypervisor m  guest g runs svc in supervisor }\n")
    found = spec_from(text).scenario("s")
    assert found is not None
    (guest,) = run_scenario(found, None, 100).guests
    return guest


def test_under_hardware_assistance_a_guests_own_trap_is_delivered_inside_it() -> None:
    # The kernel enters its user program with LPSW (an exit); the program's SVC is the guest's own
    # trap: the hardware takes it to the guest's SVC handler (which halts) without the monitor.
    program = """
program svc on io {
    data 4: 0, handler, 0, 128
    data 10: 1, 40, 0, 128
    org 16
    LPSW 10
handler:
    HALT
    org 40
    SVC
}
"""
    guest = assisted_guest(program)
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    counters = guest.counters
    assert (counters.delivered, counters.traps, counters.reflections, counters.exits) == (1, 0, 0, 2)
    assert counters.direct == counters.instructions - counters.exits == 1


def test_under_hardware_assistance_modes_without_a_guest_mode_are_interpreted() -> None:
    # An extension whose guests run only in user mode (as RISC-V's H has no virtual M-mode): a
    # guest kernel in its supervisor mode is interpreted by the monitor, its user program runs
    # on the hardware.
    program = """
program svc on io {
    data 4: 0, handler, 0, 128
    data 10: 1, 40, 0, 128
    org 16
    LDI A, 3
    LPSW 10
handler:
    HALT
    org 40
    LDI B, 4
    SVC
}
"""
    machine = MACHINE.replace("virtualization vt { exits", "virtualization vt { modes { user }  exits")
    guest = assisted_guest(program, machine)
    assert (guest.status, guest.equivalent, guest.resource_control) == ("halted", True, True)
    counters = guest.counters
    # LDI, LPSW and HALT in supervisor mode interpreted; LDI B and the SVC (delivered) directly.
    assert (counters.interpretations, counters.direct, counters.delivered) == (3, 2, 1)


def test_an_extensions_modes_must_be_the_machines() -> None:
    for modes, expected in (("{ usr }", "V014 unknown mode 'usr'"),
                            ("{ user, user }", "V011 'user' is listed twice in `modes`")):
        with pytest.raises(SpecError) as caught:
            spec_from(MACHINE.replace("virtualization vt { exits", f"virtualization vt {{ modes {modes}  exits"))
        (diagnostic,) = caught.value.diagnostics
        assert f"{diagnostic.code} {diagnostic.message}" == expected
