"""Deciding the analysis's jobs (`vdsl.analysis.jobs`) and the cache of decided questions
(`vdsl.analysis.cache`): the same answers, witnesses included, however and wherever they are
decided; a changed instruction decided again alone; a broken cache entry a miss."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from conftest import SPECS, spec_from
from test_analysis_classify import CLI_IOPL, iopl, pg

from vdsl import compile_files
from vdsl.analysis import jobs
from vdsl.analysis.cache import DiskCache, cache_dir
from vdsl.analysis.classify import (
    ClassifyJob,
    IsaReport,
    classify_instruction,
    classify_isa,
    classify_isas,
    guest_context,
)
from vdsl.analysis.jobs import Decider, dump_result, load_result
from vdsl.analysis.questions import Questions
from vdsl.ir import nodes as ir
from vdsl.scale.jobs import Executor

INSTRUCTIONS = ("LOAD a { A = mem[a] }", "STORE a { mem[a] = A }", "GETM { A = M }",
                "SETC a { if M == user { trap privileged }  C = a }", "CLZ { F.Z = 0 }")


def isa_of(text: str) -> ir.Isa:
    isa = spec_from(text).isa("t")
    assert isa is not None
    return isa


def classified(isa: ir.Isa, decider: Decider) -> IsaReport:
    jobs.forget()  # each run decides, or reads the disk cache: nothing from an earlier one
    return classify_isa(isa, decider=decider)


def test_a_job_decides_the_same_whatever_was_decided_before() -> None:
    """Each job has a z3 context of its own: without one, z3's models (and so the witnesses) of
    these instructions change with the terms earlier questions left behind."""
    spec = compile_files(SPECS / "m68k.vspec")
    isa = spec.isa("m68000")
    assert isa is not None
    isa = attrs.evolve(isa, instructions=isa.instructions[:9], expects=())
    together = classified(isa, Decider())
    for instruction in reversed(isa.instructions):
        alone = classified(attrs.evolve(isa, instructions=(instruction,)), Decider())
        assert alone.instructions == (together.instruction(instruction.name),)


def test_a_result_travels_without_its_machine_and_comes_back_joined_to_the_jobs() -> None:
    isa = isa_of(pg(*INSTRUCTIONS))
    job = ClassifyJob(isa.machine, isa.instructions[2], guest_context(isa))
    report = job.run()
    blob = dump_result(report, job)
    assert len(blob) < 20_000  # the machine is left out
    again = load_result(blob, job)
    assert again == report
    witness = again.answers["mode-sensitive"].witness
    assert witness is not None and witness.runs[0].before.machine is isa.machine


def test_a_pool_decides_what_one_process_does() -> None:
    isa = isa_of(pg(*INSTRUCTIONS, *(f"NOP{n} {{ A = A + {n} }}" for n in range(8))))
    assert len(isa.instructions) >= jobs.SERIAL_BELOW  # else the pool is not used
    serial = classified(isa, Decider())
    pooled = classified(isa, Decider(Executor(workers=2)))
    assert pooled.instructions == serial.instructions


def test_warm_cache_gives_the_cold_answers_and_decides_nothing(tmp_path: Path) -> None:
    isa = isa_of(pg(*INSTRUCTIONS))
    cold = Decider(cache=DiskCache(tmp_path))
    first = classified(isa, cold)
    assert (cold.decided, cold.cached) == (len(INSTRUCTIONS), 0)
    warm = Decider(cache=DiskCache(tmp_path))
    second = classified(isa, warm)
    assert (warm.decided, warm.cached) == (0, len(INSTRUCTIONS))
    assert second.instructions == first.instructions
    assert second.verdicts == first.verdicts


def test_a_changed_instruction_is_decided_again_alone(tmp_path: Path) -> None:
    classified(isa_of(pg(*INSTRUCTIONS)), Decider(cache=DiskCache(tmp_path)))
    changed = (*INSTRUCTIONS[:3], "SETC a { C = a }", *INSTRUCTIONS[4:])
    # the file changes around it too: a comment moves every line, which changes no answer
    again = Decider(cache=DiskCache(tmp_path))
    report = classified(isa_of("// moved down a line\n" + pg(*changed)), again)
    assert (again.decided, again.cached) == (1, len(INSTRUCTIONS) - 1)
    setc = report.instruction("SETC")
    assert setc is not None and "privileged" not in setc.classes


def test_a_changed_machine_or_context_is_decided_again(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    classified(isa_of(iopl(CLI_IOPL)), Decider(cache=cache))
    for text in (iopl(CLI_IOPL, extra="    guests run in ring3\n    pin FL.IOPL = 0\n"),
                 iopl(CLI_IOPL).replace("word 8", "word 16")):
        decider = Decider(cache=cache)
        classified(isa_of(text), decider)
        assert (decider.decided, decider.cached) == (1, 0)


def test_a_different_rlimit_is_another_question(tmp_path: Path) -> None:
    isa = isa_of(pg(*INSTRUCTIONS[:1]))
    cache = DiskCache(tmp_path)
    classified(isa, Decider(cache=cache))
    decider = Decider(cache=cache)
    jobs.forget()
    classify_isa(isa, rlimit=1_000_000, decider=decider)
    assert decider.decided == 1


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_broken_entry_is_a_miss_and_is_written_again(tmp_path: Path, damage: bytes) -> None:
    isa = isa_of(pg(*INSTRUCTIONS[:2]))
    first = classified(isa, Decider(cache=DiskCache(tmp_path)))
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(damage)
    decider = Decider(cache=DiskCache(tmp_path))
    assert classified(isa, decider).instructions == first.instructions
    assert (decider.decided, decider.cached) == (2, 0)
    repaired = Decider(cache=DiskCache(tmp_path))
    classified(isa, repaired)
    assert repaired.cached == 2


def test_an_entry_of_another_key_is_a_miss(tmp_path: Path) -> None:
    """Two jobs whose keys hash alike (forced here by swapping their files) read nothing wrong."""
    isa = isa_of(pg(*INSTRUCTIONS[:2]))
    cache = DiskCache(tmp_path)
    classified(isa, Decider(cache=cache))
    context = guest_context(isa)
    load, store = (cache.path(cache.key(ClassifyJob(isa.machine, i, context))[0]) for i in isa.instructions)
    load_bytes = load.read_bytes()
    load.write_bytes(store.read_bytes())
    store.write_bytes(load_bytes)
    decider = Decider(cache=cache)
    classified(isa, decider)
    assert (decider.decided, decider.cached) == (2, 0)


def test_an_unwritable_cache_is_no_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder would be", encoding="utf-8")
    decider = Decider(cache=DiskCache(blocked))
    report = classified(isa_of(pg(*INSTRUCTIONS[:1])), decider)
    assert report.instructions[0].classes == ("innocuous",)


def test_explain_decides_as_check_does() -> None:
    isa = isa_of(pg(*INSTRUCTIONS))
    whole = classified(isa, Decider())
    jobs.forget()
    one = classify_instruction(Questions(isa, guest_context(isa)), isa.instructions[2])
    assert one == whole.instruction("GETM")


def test_the_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VDSL_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen"
    monkeypatch.delenv("VDSL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "vdsl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "vdsl"


def test_isas_are_decided_together_and_what_they_share_once() -> None:
    text = pg(*INSTRUCTIONS) + "isa u for pg {\n" + "\n".join(
        f"    inst {i}" for i in (*INSTRUCTIONS[:3], "NEG { A = 0 - A }")) + "\n}\n"
    spec = spec_from(text)
    isas = [spec.isa("t"), spec.isa("u")]
    assert isas[0] is not None and isas[1] is not None
    jobs.forget()
    decider, told = Decider(), []
    reports = classify_isas(isas, decider=decider, steps=lambda isa: lambda name: told.append((isa.name, name)))
    assert decider.decided == len(INSTRUCTIONS) + 1
    assert sorted(told) == sorted([("t", i.name) for i in isas[0].instructions]
                                  + [("u", i.name) for i in isas[1].instructions])
    assert reports[1].instruction("GETM") == reports[0].instruction("GETM")
    assert [r.instructions for r in reports] == [classified(isa, Decider()).instructions for isa in isas]
