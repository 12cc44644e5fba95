"""`vdsl run` on scenarios, run as a user runs it: reports, JSON, traces, exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import SPECS, run_vdsl

PG74 = str(SPECS / "pg74.vspec")
PDP10 = str(SPECS / "pdp10.vspec")


@pytest.mark.parametrize("spec", ["pg74.vspec", "pdp10.vspec", "x86-32.vspec", "m68k.vspec", "s370.vspec",
                                  "armv7.vspec", "riscv.vspec"])
def test_every_bundled_scenario_meets_its_expectations(spec: str) -> None:
    result = run_vdsl("run", str(SPECS / spec))
    assert (result.returncode, result.stderr) == (0, "")
    assert "FAILED" not in result.stdout
    assert result.stdout.count("scenario ") >= 1


def test_several_scenarios_end_side_by_side() -> None:
    # The same POPF guest under each technique, and split drivers under Xen and Hyper-V: each row
    # is derived from its run (the trap-and-emulate one diverges).
    scenarios = ["popf", "popf_workstation", "popf_bt", "popf_pv", "popf_esxi_vtx", "xen_split_drivers",
                 "hyperv_partitions"]
    result = run_vdsl("run", str(SPECS / "x86-32.vspec"), *[a for s in scenarios for a in ("-s", s)])
    assert (result.returncode, result.stderr) == (0, "")
    table = result.stdout[result.stdout.index("side by side:"):].splitlines()
    assert table[1].split() == ["scenario", "hypervisor", "type", "technique", "guests", "equivalent",
                                "efficiency", "cycles"]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    assert list(rows) == scenarios
    assert rows["popf"][:5] == ["deprivileging", "1", "trap_and_emulate", "1", "no"]
    assert rows["popf_workstation"][:5] == ["vmware_workstation", "2", "binary_translation", "1", "yes"]
    assert rows["xen_split_drivers"][:5] == ["xen", "1", "paravirtual", "3", "yes"]
    assert rows["hyperv_partitions"][:5] == ["hyperv", "1", "hardware_assisted", "3", "yes"]
    # Hosted, the same translated guest pays the host round trip on each of its exits.
    assert int(rows["popf_workstation"][-1]) > int(rows["popf_bt"][-1])
    assert "management VM" not in result.stdout or "served 3 requests" in result.stdout


def test_the_getm_scenario_report() -> None:
    result = run_vdsl("run", PG74, "--scenario", "getm")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == """\
scenario getm: hypervisor pg_monitor on isa pg74_getm, trap_and_emulate, guests run in user
  guest kernel: program whoami from supervisor, memory E[9..264]: halted after 3 instructions
    equivalence: FAILS at step 1 (pc 20): GETM, run directly on the real machine
      A  bare 0, virtual 1
      why: GETM is mode-sensitive, behaviour-sensitive: it breaks T1's condition
    resource control: held
    efficiency: 0.667 (2 of 3 run directly; 1 trap: 1 emulated, 0 reflected); 152 cycles
  guest app: program whoami from user, memory E[265..520]: halted after 4 instructions
    equivalence: held (4 instructions compared with the bare machine)
    resource control: held
    efficiency: 0.500 (2 of 4 run directly; 2 traps: 1 emulated, 1 reflected; 1 world switch); 802 cycles
  cost: 954 cycles (hypervisor pg_monitor, type 1, trap_and_emulate: direct 1, trap 100, emulation 50, world switch 500)
  expect T1 fails with GETM: ok (T1 fails (GETM))
  expect kernel divergence at GETM: ok (kernel diverges at step 1 (GETM))
  expect app equivalence: ok (equivalent)
  expect resource_control: ok (held)
"""


def test_the_technique_can_be_overridden_for_a_comparison() -> None:
    result = run_vdsl("run", PDP10, "--scenario", "jrst1", "--technique", "hybrid")
    assert result.returncode == 1
    assert "scenario jrst1: hypervisor galley on isa ka10, hybrid, guests run in user" in result.stdout
    assert "    equivalence: held (11 instructions compared with the bare machine)" in result.stdout
    assert "  expect divergence at JRST1: FAILED (equivalent)" in result.stdout
    assert result.stderr == "vdsl: 1 expectation failed\n"


def test_hardware_assistance_without_an_extension_exits_2() -> None:
    result = run_vdsl("run", PG74, "--scenario", "getm", "--technique", "hardware_assisted")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("error: hypervisor pg_monitor is hardware_assisted, but isa pg74_getm declares no "
                             "virtualization extension; declare one in the isa with `virtualization NAME { "
                             "shadow STATE, ...; exits { NAME, ... } }`, or choose another technique\n")


def test_an_unknown_scenario_exits_2_with_a_suggestion() -> None:
    result = run_vdsl("run", PG74, "--scenario", "getn")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: there is no scenario 'getn'; did you mean 'getm'?\n"


def test_json_output(tmp_path: Path) -> None:
    result = run_vdsl("run", PG74, "--scenario", "retu", "--scenario", "two_guests", "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert data["ok"] is True
    retu, two = data["scenarios"]
    assert (retu["scenario"], retu["isa"], retu["technique"]) == ("retu", "pg74_retu", "trap_and_emulate")
    (kernel,) = retu["guests"]
    divergence = kernel["equivalence"]["divergence"]
    assert (divergence["step"], divergence["instruction"], divergence["how"]) == (1, "RETU", "direct")
    assert divergence["differences"] == [{"where": "M", "bare": 1, "virtual": 0}]
    assert (divergence["bare"]["mode"], divergence["virtual"]["mode"]) == ("user", "supervisor")
    assert divergence["explanation"] == {"instruction": "RETU", "classes": ["control-sensitive"],
                                         "breaks": ["T1"]}
    assert kernel["resource_control"] == {"holds": True, "violations": []}
    assert set(kernel["counters"]) == {"instructions", "direct", "traps", "emulations", "reflections",
                                       "interpretations", "allocations", "preemptions", "world_switches",
                                       "calls", "exits", "translated", "blocks", "cache_hits", "invalidations",
                                       "forwarded", "delivered", "served", "efficiency"}
    assert [g["name"] for g in two["guests"]] == ["kernel", "task"]
    assert all(g["equivalence"] == {"checked": True, "holds": True, "divergence": None} for g in two["guests"])
    (hypervisor,) = two["hypervisors"]
    assert hypervisor["costs"] == {"direct": 1, "trap": 100, "emulation": 50, "world_switch": 500,
                                   "host_round_trip": 2000, "translation": 20, "exit": 400}
    assert [e["expect"] for e in two["expectations"]] == ["T1 holds", "equivalence", "resource_control",
                                                         "efficiency >= 0.5"]


def test_the_trace_has_the_monitors_actions(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = run_vdsl("run", PG74, "--scenario", "two_guests", "--trace", str(trace))
    assert result.returncode == 0
    events = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    kinds = {e["event"] for e in events}
    assert {"direct", "dispatch", "emulate", "reflect", "allocate", "schedule", "halt"} <= kinds
    first = events[0]
    assert set(first) >= {"scenario", "event", "level", "guest", "step", "pc", "real_mode", "virtual_mode",
                          "instruction", "operands"}
    emulated = next(e for e in events if e["event"] == "emulate")
    assert (emulated["real_mode"], emulated["instruction"]) == ("user", "LPSW")


def test_trace_to_standard_output_and_json_are_exclusive() -> None:
    result = run_vdsl("run", PG74, "--trace", "-", "--format", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": "--trace - and --format json would both write to standard "
                                                  "output; write the trace to a file instead"}


def test_a_guest_that_does_not_halt_exits_1(tmp_path: Path) -> None:
    (tmp_path / "spin.vspec").write_text(
        'import "pg74.vspec"\nprogram spin on pg74 { mode user  top: JMP top }\n'
        "scenario s { hypervisor pg_monitor  guest g runs spin }\n", encoding="utf-8")
    result = run_vdsl("run", "spin.vspec", "--max-steps", "50", cwd=tmp_path)
    assert result.returncode == 1
    assert "  guest g: program spin from user, memory E[9..264]: stopped after 50 instructions without " \
           "reaching halt (raise the limit with --max-steps)" in result.stdout
    assert result.stderr == ("vdsl: scenario s: guest g did not halt within 50 instructions (raise the limit "
                             "with --max-steps)\n")


def test_program_still_runs_one_program_bare() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_call")
    assert result.returncode == 0
    assert result.stdout.startswith("program supervisor_call: halted after 22 steps\n")


def test_program_excludes_scenario_options() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_call", "--technique", "hybrid")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("error: --program runs one program on the bare machine; --scenario and "
                             "--technique apply to scenarios\n")


def test_a_technique_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "two.vspec").write_text(
        'import "pg74.vspec"\nhypervisor bt on pg74 { technique hardware_assisted }\n'
        "scenario first { hypervisor pg_monitor  guest g runs user_task }\n"
        "scenario second { hypervisor bt  guest g runs user_task }\n", encoding="utf-8")
    result = run_vdsl("run", "two.vspec", "--trace", "t.jsonl", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert "hypervisor bt is hardware_assisted, but isa pg74 declares no virtualization" in result.stderr
    assert not (tmp_path / "t.jsonl").exists()


def test_a_guest_stopped_by_another_guests_halt_did_not_finish(tmp_path: Path) -> None:
    (tmp_path / "halt.vspec").write_text(
        'import "pg74.vspec"\nisa stoppable extends pg74 { inst STOP { halt } }\n'
        "program stop on stoppable { mode user  STOP }\n"
        "program spin on stoppable { mode user  top: JMP top }\n"
        "hypervisor h on pg74 { allocate memory 64 per guest  schedule round_robin quantum 3 }\n"
        "scenario s { hypervisor h  guest a runs stop  guest b runs spin }\n", encoding="utf-8")
    result = run_vdsl("run", "halt.vspec", cwd=tmp_path)
    assert result.returncode == 1
    assert "  guest a: program stop from user, memory E[9..72]: halted after 1 instruction; halted the real " \
           "machine at pc 0" in result.stdout
    assert "  guest b: program spin from user, memory E[73..136]: stopped after 0 instructions: the real " \
           "machine halted under it" in result.stdout
    assert "    efficiency: no instruction ran" in result.stdout
    assert result.stderr == "vdsl: scenario s: guest b did not finish: the real machine halted under it\n"


def test_a_file_with_nothing_to_run_says_so(tmp_path: Path) -> None:
    (tmp_path / "isas.vspec").write_text("machine m { word 16  memory E[64]  modes { s > u }  reg A  reg P pc }\n"
                                         "isa i for m { inst NOP { } }\n", encoding="utf-8")
    result = run_vdsl("run", str(tmp_path / "isas.vspec"))  # isas only
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("error: there is nothing to run: the files declare no scenario and no program; "
                             "`vdsl check` classifies their isas\n")


def test_an_encoded_program_runs_as_on_its_unencoded_twin(tmp_path: Path) -> None:
    encoded = Path(__file__).parent.parent / "specs" / "rv_encoded.vspec"
    twin = tmp_path / "rv_plain.vspec"
    twin.write_text(re.sub(r' = "[^"]*"', "", encoded.read_text(encoding="utf-8")), encoding="utf-8")
    runs = []
    for spec in (encoded, twin):
        trace = tmp_path / f"{spec.stem}.jsonl"
        result = run_vdsl("run", str(spec), "--program", "sum", "--format", "json", "--trace", str(trace))
        assert (result.returncode, result.stderr) == (0, "")
        runs.append((json.loads(result.stdout),
                     [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]))
    (mine, my_steps), (theirs, their_steps) = runs
    # The twin lays the program out in more words (an opcode word, then a word per operand), so
    # addresses differ: the pc, and the pc the trap saved in E[1]; everything else is the same.
    assert (mine["status"], mine["steps"], mine["state"]["mode"]) == ("halted", 26, "machine")
    assert (theirs["status"], theirs["steps"], theirs["state"]["mode"]) == ("halted", 26, "machine")
    registers = {name: value for name, value in mine["state"]["registers"].items() if name != "PC"}
    assert registers == {name: value for name, value in theirs["state"]["registers"].items() if name != "PC"}
    assert mine["state"]["memory_changes"]["100"] == theirs["state"]["memory_changes"]["100"] == 15
    def steps(trace: list[dict[str, object]]) -> list[tuple[object, ...]]:
        """Each step's instruction, operands (but a branch's target address) and register changes."""
        return [(s["instruction"], s["operands"] if s["instruction"] not in ("BEQ", "BNE") else None,
                 {k: v for k, v in s["changes"]["registers"].items() if k != "PC"})  # type: ignore[index]
                for s in trace]

    assert steps(my_steps) == steps(their_steps)
    assert [s["operands"] for s in my_steps if s["instruction"] == "LI"] == [[6, 0xDEADBEEF]]
