"""`vdsl.diagrams`: what each kind draws, read from its DOT (the tested artifact)."""

from __future__ import annotations

from conftest import SPECS, spec_from

from vdsl import compile_files, run_scenario
from vdsl.diagrams import layers, rings, schedule, trap_flow
from vdsl.diagrams.runs import slices

PG74 = compile_files(SPECS / "pg74.vspec")

POLICIES = """
import "pg74.vspec"
hypervisor host on pg74 { guests run in user }
hypervisor hosted on pg74 { type 2  allocate memory 200 per guest  management dom0 }
hypervisor lpar on pg74 { type 0  allocate memory 200 per guest }
scenario nested { hypervisor pg_monitor under host  guest kernel runs supervisor_call in supervisor }
scenario t2 { hypervisor hosted  guest a runs user_task }
scenario t0 { hypervisor lpar  guest a runs user_task }
"""


def source_of(name: str) -> str:
    spec = spec_from(POLICIES, "policies.vspec")
    scenario = spec.scenario(name)
    assert scenario is not None
    return layers(scenario).source


def test_types_0_1_and_2_look_different() -> None:
    type0, type2 = source_of("t0"), source_of("t2")
    type1 = layers(PG74.scenario("two_guests")).source  # type: ignore[arg-type]
    assert "firmware partition manager" in type0 and "partition a" in type0 and "host operating system" not in type0
    assert "host operating system" in type2 and "host applications" in type2
    assert "hypervisor " in type1 and "host operating system" not in type1 and "firmware" not in type1


def test_a_management_vm_is_drawn_apart() -> None:
    assert "management VM dom0 (privileged)" in source_of("t2")


def test_a_nested_monitor_is_drawn_inside_its_outer_monitors_virtual_machine() -> None:
    text = source_of("nested")
    assert text.index("pg_monitor") < text.index("virtual machine of hypervisor host") < text.index(
        "<B>host</B>")


def test_guests_show_their_native_and_real_modes() -> None:
    text = layers(PG74.scenario("two_guests")).source  # type: ignore[arg-type]
    assert "guest OS supervisor_call" in text and "program user_task" in text
    assert text.count(">native<") == 3 and text.count(">real<") == 3


def test_ring_compression_shows() -> None:
    spec = spec_from('import "x86-32.vspec"\nhypervisor compressed on x86_32 { guests run in ring1  '
                     'pin EFLAGS.IOPL = 0 }\n')
    hypervisor = spec.hypervisor("compressed")
    assert hypervisor is not None
    text = rings(hypervisor).source
    assert "deprivileged\\n(ring compression)" in text
    assert "native:n0:e -> virtual:v1:w" in text            # the kernel: ring0 to ring1
    assert "native:n3:e" not in text                        # user programs stay in ring3


def test_a_hybrid_monitor_interprets_the_guest_kernel() -> None:
    text = rings(PG74.scenario("retu_hybrid")).source  # type: ignore[arg-type]
    assert "interpreted\\n(hybrid monitor)" in text and "deprivileged" not in text
    assert "native:n0:e -> virtual:v0:w" in text            # interpreted by the monitor, in supervisor
    assert "kernel · kernel, interpreted (virtual supervisor)" in text
    plain = rings(PG74.scenario("retu")).source  # type: ignore[arg-type]
    assert "native:n0:e -> virtual:v1:w" in plain and "interpreted" not in plain
    assert "interpreted by the monitor" in layers(PG74.scenario("retu_hybrid")).source  # type: ignore[arg-type]
    assert "interpreted" not in layers(PG74.scenario("retu")).source  # type: ignore[arg-type]


def test_trap_flow_and_schedule_come_from_the_run() -> None:
    run = run_scenario(PG74.scenario("two_guests"), trace=True)  # type: ignore[arg-type]
    flow = trap_flow(run).source
    assert 'guest_kernel -> direct [label=17' in flow
    assert 'guest_kernel -> D [label="5 traps\\nprivileged 4, svc 1"' in flow
    assert 'D -> v_LPSW [label="kernel: 2"' in flow
    time_line = slices(run)
    assert [(s.guest, s.instructions, s.exits, s.end) for s in time_line] == [
        ("kernel", 20, 4, "preempted"), ("task", 6, 2, "halted"), ("kernel", 2, 1, "halted")]
    assert sum(s.instructions for s in time_line) == sum(g.counters.instructions for g in run.guests)
    assert "quantum 20 instructions" in schedule(run).source


def test_trap_flow_names_the_first_divergence_and_violation() -> None:
    diverging = run_scenario(PG74.scenario("getm"), trace=True)  # type: ignore[arg-type]
    divergence = diverging.guests[0].divergence
    assert divergence is not None
    assert f"diverges at step {divergence.step}: GETM" in trap_flow(diverging).source
    clean = trap_flow(run_scenario(PG74.scenario("two_guests"), trace=True)).source  # type: ignore[arg-type]
    assert "diverges" not in clean and "resource control fails" not in clean
    spec = spec_from('import "pg74.vspec"\nisa leaky extends pg74 { inst PST a { phys[a] = A } }\n'
                     "program escape on leaky { org 20  PST 5  HALT }\n"
                     "scenario leak { hypervisor pg_monitor  guest kernel runs escape in supervisor }\n")
    leaking = trap_flow(run_scenario(spec.scenario("leak"), trace=True)).source  # type: ignore[arg-type]
    assert "resource control fails at step 1: PST" in leaking and "diverges" not in leaking  # A = 0: unseen


def test_a_guest_running_alone_stays_in_one_slice_until_the_step_limit() -> None:
    spec = spec_from('import "pg74.vspec"\nprogram spin on pg74 { top: JMP top }\n'
                     "scenario forever { hypervisor pg_monitor  guest a runs spin in user  guest b runs user_task }\n")
    run = run_scenario(spec.scenario("forever"), max_steps=500, trace=True)  # type: ignore[arg-type]
    assert [(s.guest, s.instructions, s.exits, s.end) for s in slices(run)] == [
        ("a", 20, 0, "preempted"), ("b", 6, 2, "halted"), ("a", 480, 0, "step limit")]
    assert "stopped by the step limit" in schedule(run).source
