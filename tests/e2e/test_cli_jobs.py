"""`-j N` and the cache of decided questions on the command line: whatever decides the questions
(one process, a pool, the cache), `vdsl check` and `vdsl explain` print the same thing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SPECS, run_vdsl
from test_benchmark import load

SMALL = """\
machine small {
    word 8
    memory E[16]
    modes { supervisor > user }
    reg A
    reg P pc
    control reg R { base, bound }
    relocate through R
}
"""
M68K = str(SPECS / "m68k.vspec")  # 33 instructions in two isas: enough for the pool to be used


def checked(*args: str) -> str:
    result = run_vdsl("check", M68K, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_pool_prints_what_one_process_does() -> None:
    assert checked("-j", "2", "--no-cache") == checked("-j", "1", "--no-cache")


def test_a_warm_cache_prints_what_a_cold_one_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDSL_CACHE_DIR", str(tmp_path))
    cold = checked("-j", "2")
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(entries) == 18  # the 68010 shares 15 of its 17 instructions with the 68000
    assert checked("-j", "1") == cold
    assert checked("--no-cache") == cold
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(entries)


def test_explain_agrees_with_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VDSL_CACHE_DIR", str(tmp_path))  # explain decides afresh: nothing cached
    result = run_vdsl("explain", M68K, "MOVE_FROM_SR", "--isa", "m68000", "--format", "json")
    assert result.returncode == 0, result.stderr
    explained = json.loads(result.stdout)
    isa = next(i for i in json.loads(checked("--no-cache"))["isas"] if i["name"] == "m68000")
    entry = next(i for i in isa["instructions"] if i["name"] == "MOVE_FROM_SR")
    assert {key: explained[key] for key in entry} == entry


@pytest.mark.parametrize("jobs", ["0", "two"])
def test_jobs_must_be_a_positive_number(jobs: str) -> None:
    result = run_vdsl("check", M68K, "-j", jobs)
    assert result.returncode == 2
    assert "-j/--jobs: " in result.stderr


@pytest.mark.slow  # six classifications and two commands: about 20 s on a busy machine
def test_the_benchmark_measures_every_way_and_finds_the_same_answers(tmp_path: Path) -> None:
    bench = load("bench_classify")
    spec = tmp_path / "small.vspec"
    instructions = [f"    inst ADD{n} a {{ A = A + mem[a] + {n} }}" for n in range(11)]
    spec.write_text(SMALL + "isa s for small {\n" + "\n".join([*instructions, "    inst GETM { A = M }"]) + "\n}\n",
                    encoding="utf-8")
    result = bench.measure(spec, workers=2)
    assert result["same_results"]
    assert result["jobs"] == {"serial decided": 12, "serial cached": 0, "pool decided": 12, "pool cached": 0,
                              "cold decided": 12, "cold cached": 0, "warm decided": 0, "warm cached": 12}
    assert set(result["seconds"]) == {"serial", "pool", "cold", "warm", "cli cold", "cli warm"}
