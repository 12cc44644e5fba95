"""`vdsl sweep` as a user runs it: the fixes as sentences, JSON, the same results serially, on a
local pool and on a Dask LocalCluster, and clean errors for bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SPECS, run_vdsl

PG74 = str(SPECS / "pg74.vspec")


def _without_where(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "where"}


def test_fixes_of_pg74_retu_read_as_a_sentence() -> None:
    result = run_vdsl("sweep", "fixes", PG74, "--isa", "pg74_retu", "-j", "1")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "sweep fixes of isa pg74_retu: T1's condition, guests run in user (decided in this process)",
        "  as it is, 1 instruction breaks it:",
        "    RETU (control-sensitive): a = 0: mode supervisor: M becomes user (was supervisor)",
        "  single changes: 1 decided (trap 1, pin 0); 1 remove an offender",
        "    make RETU trap in user: removes RETU; it holds",
        "  minimal fixes (no change in one can be left out): 1 set of 1 change, checked: with it, T1's condition "
        "holds",
        "    1. make RETU trap in user",
    ]


def test_serial_pool_and_dask_give_the_same_results() -> None:
    args = ("sweep", "fixes", PG74, "--isa", "pg74_getm", "--policy", "pg_monitor", "--format", "json")
    runs = [run_vdsl(*args, "-j", "1"), run_vdsl(*args, "-j", "2"),
            run_vdsl(*args, "-j", "2", "--scheduler", "local")]
    for run in runs:
        assert run.returncode == 0, run.stderr
    results = [json.loads(run.stdout) for run in runs]
    assert [r["where"] for r in results] == [
        "this process", "a local pool of 2 processes", "a Dask LocalCluster of 2 workers"]
    assert _without_where(results[0]) == _without_where(results[1]) == _without_where(results[2])
    assert [f["sentence"] for f in results[0]["fixes"]] == ["make GETM trap in user"]


def test_modes_decides_the_theorems_in_each_mode() -> None:
    result = run_vdsl("sweep", "modes", PG74, "--isa", "pg74_retu", "-j", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout)["modes"]
    assert [m["mode"] for m in modes] == ["supervisor", "user"]
    assert modes[1]["theorems"]["T1"] == {"verdict": "fails", "offending": ["RETU"]}
    assert modes[1]["theorems"]["T3"] == {"verdict": "holds", "offending": []}


@pytest.mark.parametrize(("args", "message"), [
    (("--isa", "pg74_retv"), "error: there is no isa 'pg74_retv'; did you mean 'pg74_retu'?"),
    (("--isa", "pg74_retu", "--policy", "nobody"), "error: there is no hypervisor 'nobody'"),
    (("--isa", "pg74_retu", "--scheduler", "tcp://127.0.0.1:9"), "error: cannot reach the Dask scheduler"),
])
def test_bad_input_is_a_clear_error(args: tuple[str, ...], message: str) -> None:
    result = run_vdsl("sweep", "fixes", PG74, *args, "-j", "1")
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_a_spec_with_errors_exits_2(tmp_path: Any) -> None:
    bad = tmp_path / "bad.vspec"
    bad.write_text("isa broken for nowhere { }\n")
    result = run_vdsl("sweep", "fixes", str(bad), "--isa", "broken")
    assert result.returncode == 2
    assert "bad.vspec:1:" in result.stderr


def test_guests_diverge_at_retu_under_trap_and_emulate_only() -> None:
    result = run_vdsl("sweep", "guests", PG74, "--isa", "pg74_retu", "-n", "40", "-j", "1")
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == ("sweep guests on isa pg74_retu under hypervisor pg_monitor's VM map: 40 random guests "
                        "per technique, seed 0 (run in this process)")
    assert lines[1].startswith("  trap_and_emulate: ") and "diverged" in lines[1]
    assert lines[2].startswith("    ") and "diverged at RETU" in lines[2]
    assert lines[2].endswith("RETU is control-sensitive: it breaks T1's condition")
    assert lines[3].startswith("  hybrid: ") and "diverged" not in lines[3] and len(lines) == 4


def test_guest_campaigns_are_the_same_serially_on_a_pool_and_on_dask() -> None:
    args = ("sweep", "guests", PG74, "--isa", "pg74_retu", "-n", "12", "--seed", "7", "--format", "json")
    runs = [run_vdsl(*args, "-j", "1"), run_vdsl(*args, "-j", "2"),
            run_vdsl(*args, "-j", "2", "--scheduler", "local")]
    for run in runs:
        assert run.returncode == 0, run.stderr
    results = [_without_where(json.loads(run.stdout)) for run in runs]
    assert results[0] == results[1] == results[2]
    other_seed = json.loads(run_vdsl(*args[:-4], "--seed", "8", "--format", "json", "-j", "1").stdout)
    assert _without_where(other_seed)["techniques"] != results[0]["techniques"]


def test_guests_under_hardware_assistance_need_an_extension() -> None:
    result = run_vdsl("sweep", "guests", PG74, "--isa", "pg74_retu", "--technique", "hardware_assisted")
    assert result.returncode == 2
    assert result.stderr.startswith("error: hypervisor pg_monitor is hardware_assisted, but isa pg74_retu "
                                    "declares no virtualization extension")
