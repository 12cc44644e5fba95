"""The emulator benchmark stays runnable: a small run checks both emulators' final states.

The figures of a small run mean nothing (compilation dominates); the test only proves
that the script, its spec and its 6502 twin still agree.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

import pytest
from conftest import ROOT


def load(name: str) -> ModuleType:
    """A benchmark script of `benchmarks/`, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    """One tiny run reports the four workloads, each emulator's final state checked on the way."""
    module = load("bench_emulator")
    assert module.main(["--instructions", "10000", "--calls", "20", "--passes", "200", "--repeat", "1",
                        "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    workloads = report["workloads"]
    assert set(workloads) == {"tight_loop", "multi_block", "trap_heavy", "trap_and_emulate"}
    for loop in ("tight_loop", "multi_block"):
        # The loop counts are sized alike, so the two runs differ by one instruction: the 6502
        # twin stops at its BRK without running it, vdsl runs its HALT.
        assert workloads[loop]["vdsl"]["instructions"] == workloads[loop]["py65"]["instructions"] + 1
        # unicorn (the test extra installs it) runs the x86 twin to its end
        assert workloads[loop]["unicorn"]["instructions_per_second"] > 0
    assert workloads["trap_heavy"]["vdsl"]["instructions"] == 10 * 20  # SVC, JMP and 8 in the handler
    guest = workloads["trap_and_emulate"]
    assert guest["bare"]["instructions"] == guest["trap_and_emulate"]["instructions"]
    # the targets are reported, met or not (speed lives in the benchmark, not in the tests)
    assert [t["at_least"] for t in report["targets"]] == [20, 15, 8, 1, 0.9]
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    assert report["timer"] == "time.process_time" and report["statistic"] == "median"


def test_benchmark_text_names_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("bench_emulator")
    assert module.main(["--instructions", "1000", "--calls", "5", "--passes", "50", "--repeat", "1"]) == 0
    text = capsys.readouterr().out
    for line in ("tight loop:", "multi block:", "trap heavy:", "trap and emulate:", "targets:",
                 "(at least 20)", "(at least 15)", "(at least 8)", "(at least 1)", "(at least 0.9)"):
        assert line in text


def test_monitor_benchmark_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The monitor benchmark's guests halt bare and under the monitor, with the same counts."""
    module = load("bench_monitor")
    assert module.main(["--passes", "200", "--calls", "20", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    innocuous, heavy = report["innocuous"], report["trap_heavy"]
    # 5 instructions a pass, and the final HALT
    assert innocuous["bare"]["instructions"] == innocuous["trap_and_emulate"]["instructions"] == 5 * 200 + 1
    assert innocuous["lockstep"]["instructions"] == 5 * 200 + 1
    # each call a trap; under the monitor, also each return (LPSW) and the final HALT
    assert heavy["bare"]["traps"] == 20
    assert heavy["trap_and_emulate"]["traps"] == 20 + 19 + 2


def test_techniques_benchmark_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    """Each technique runs the x86 guest to its halt; only trap-and-emulate diverges."""
    module = load("bench_techniques")
    assert module.main(["--loops", "5", "--repeat", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    techniques = report["techniques"]
    assert {name: t["equivalent"] for name, t in techniques.items()} == {
        "trap_and_emulate": False, "binary_translation": True, "paravirtual": True, "hardware_assisted": True}
    assert all(t["instructions"] == report["bare"]["instructions"] for t in techniques.values())


def test_sweep_benchmark_small_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The sweep benchmark counts its jobs in each place; its timings are not checked."""
    module = load("bench_sweep")
    assert module.main(["--guests", "3", "--fixes-isa", "rv_s_tvm", "--families", "trap",
                        "--where", "serial,pool", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["guests"]["serial"]["guests"] == report["guests"]["pool"]["guests"] == 2 * 3
    assert report["guests"]["serial"]["jobs"] == 2 * 3  # one guest a job in this process, batches on a pool
    assert report["fixes"]["serial"]["jobs"] == report["fixes"]["pool"]["jobs"] >= 1
    assert report["estimate"]["workers"] == 64
