"""`vdsl check` and `vdsl explain` on small specs, run as a user runs them: output and exit codes.

Exit codes: 0 every `expect` (and `--require`) holds, 1 one does not, 2 the spec has errors or
the request is wrong (unknown isa, mode, instruction), 3 an internal error.  Theorem 1 failing
is reported as "T1's condition fails", never as "not virtualizable" (DESIGN.md section 1).
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import run_vdsl

from vdsl import cli, commands

SPEC = textwrap.dedent("""\
    machine pg {
        word 8
        memory E[16]
        modes { supervisor > user }
        reg A
        reg P pc
        control reg R { base, bound }
        relocate through R
        trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
    }

    isa good for pg {
        inst LOAD a  { A = mem[a] }
        inst LPSW a  { if M == user { trap privileged }  (M, P, R) = mem[a] }
        inst HALT    { if M == user { trap privileged }  halt }
        expect T1 holds, T3 holds, LPSW privileged, LOAD innocuous
    }

    isa bad extends good {
        inst GETM { A = M }
        inst RETU a { M = user; P = a }
        expect T1 fails with GETM RETU, T3 holds, GETM mode-sensitive
    }
""")

# The same isas, stating two things that are not so.
FAILING = SPEC.replace("expect T1 fails with GETM RETU, T3 holds", "expect T1 fails with GETM, T3 fails")

# One expectation that is not so.
ONE_FAILING = SPEC.replace("LOAD innocuous", "LOAD privileged")

# A pinned control field: CLI faults in ring3 unless IOPL is 3, and the monitor pins IOPL = 0.
IOPL = textwrap.dedent("""\
    machine x {
        word 8
        memory E[16]
        modes { ring0 > ring3 }
        reg A
        reg P pc
        reg FL { control IF [0], control IOPL [2:1] }
    }

    isa io for x {
        inst CLI { if M == ring3 && FL.IOPL != 3 { trap privileged }  FL.IF = 0 }
        guests run in ring3
        pin FL.IOPL = 0
        expect T1 holds, CLI privileged
    }
""")

# RDT reads a clock: innocuous, but it breaks Theorem 2's condition unprivileged.
TIMING = textwrap.dedent("""\
    machine clocked {
        word 8
        memory E[16]
        modes { supervisor > user }
        reg A
        reg P pc
        timing reg T
    }

    isa clocked for clocked {
        inst RDT { A = T }
        expect T1 holds, T2 fails with RDT, RDT innocuous, RDT timing-sensitive
    }
""")

GOOD_TEXT = """\
isa good (machine pg), guests run in user
  instruction  privileged  control  mode  location  state  user  timing
  LOAD         -           -        -     -         -      -     -       innocuous
  LPSW         yes         yes      -     yes       -      -     -
  HALT         yes         yes      -     -         -      -     -

  T1's condition holds: every sensitive instruction is privileged
  T2's condition holds: T1's condition holds and no unprivileged instruction reads timing state
  T3's condition holds: every user-sensitive instruction is privileged
  expect T1 holds: ok (T1 holds)
  expect T3 holds: ok (T3 holds)
  expect LPSW privileged: ok (LPSW is privileged, control-sensitive, location-sensitive, behaviour-sensitive)
  expect LOAD innocuous: ok (LOAD is innocuous)
"""

BAD_TEXT = """\
isa bad (machine pg), guests run in user
  instruction  privileged  control  mode  location  state  user  timing
  LOAD         -           -        -     -         -      -     -       innocuous
  LPSW         yes         yes      -     yes       -      -     -
  HALT         yes         yes      -     -         -      -     -
  GETM         -           -        yes   -         -      -     -
  RETU         -           yes      -     -         -      -     -

  T1's condition fails: sensitive but not privileged: GETM (mode-sensitive), RETU (control-sensitive)
  T2's condition fails: sensitive or timing-dependent but not privileged: GETM (mode-sensitive), RETU (control-sensitive)
  T3's condition holds: every user-sensitive instruction is privileged
  expect T1 fails with GETM RETU: ok (T1 fails (GETM, RETU))
  expect T3 holds: ok (T3 holds)
  expect GETM mode-sensitive: ok (GETM is mode-sensitive, behaviour-sensitive)
"""

QUESTION_TITLES = ["privileged", "control-sensitive", "mode-sensitive", "location-sensitive",
                   "sensitive to other control state", "user-sensitive (Theorem 3)", "timing-sensitive",
                   "reaches the trap areas from a guest mode (the theorems' premise)"]
QUESTIONS = ["privileged", "control-sensitive", "mode-sensitive", "location-sensitive",
             "control-state-sensitive", "user-sensitive", "timing-sensitive"]
CLASSES = {"privileged", "control-sensitive", "mode-sensitive", "location-sensitive", "behaviour-sensitive",
           "user-sensitive", "timing-sensitive", "innocuous"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("check")
    for name, text in (("spec.vspec", SPEC), ("failing.vspec", FAILING), ("one.vspec", ONE_FAILING),
                       ("iopl.vspec", IOPL), ("timing.vspec", TIMING)):
        (path / name).write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def vdsl(folder: Path):
    """Run vdsl in the spec folder (each command line once per module)."""
    @functools.cache
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_vdsl(*args, cwd=folder)
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        assert "internal error" not in output
        # DESIGN.md: T1 is sufficient only; its failure never reads "not virtualizable".
        assert "not virtualizable" not in output.lower()
        return result
    return run


# ---------------------------------------------------------------- check, text


def test_check_text(vdsl) -> None:
    result = vdsl("check", "spec.vspec")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == GOOD_TEXT + "\n" + BAD_TEXT


def test_theorem_failing_is_a_condition(vdsl) -> None:
    result = vdsl("check", "spec.vspec", "--isa", "bad")
    assert result.stdout == BAD_TEXT
    assert "  T1's condition fails: sensitive but not privileged: GETM (mode-sensitive), RETU " \
           "(control-sensitive)\n" in result.stdout


def test_failing_expectations_exit_1(vdsl) -> None:
    result = vdsl("check", "failing.vspec")
    assert result.returncode == 1
    assert result.stderr == "vdsl: 2 expectations failed\n"
    assert "  expect T1 fails with GETM: FAILED (T1 fails (GETM, RETU); also breaking it: RETU)\n" \
        in result.stdout
    assert "  expect T3 fails: FAILED (T3 holds)\n" in result.stdout
    assert result.stdout.count("FAILED") == 2
    # The classification itself is printed as usual.
    assert result.stdout.startswith(GOOD_TEXT)


def test_one_failing_expectation(vdsl) -> None:
    result = vdsl("check", "one.vspec", "--isa", "good")
    assert (result.returncode, result.stderr) == (1, "vdsl: 1 expectation failed\n")
    assert "  expect LOAD privileged: FAILED (LOAD is innocuous)\n" in result.stdout


@pytest.mark.parametrize(("args", "code", "stderr"), [
    (["--require", "T1", "--require", "T3"], 1, "vdsl: --require T1: its condition fails for isa bad\n"),
    (["--require", "T3"], 0, ""),
    (["--require", "T1", "--isa", "good"], 0, ""),
])
def test_require(vdsl, args: list[str], code: int, stderr: str) -> None:
    result = vdsl("check", "spec.vspec", *args)
    assert (result.returncode, result.stderr) == (code, stderr)


def test_require_unknown_theorem(vdsl) -> None:
    result = vdsl("check", "spec.vspec", "--require", "T4")
    assert result.returncode == 2
    assert "invalid choice: 'T4'" in result.stderr


def test_guest_mode_override(vdsl) -> None:
    # Guests in supervisor mode: nothing traps for them, so nothing is privileged, and LPSW and
    # RETU change control state in the guest context, and HALT halts there (user-sensitive).
    result = vdsl("check", "spec.vspec", "--isa", "bad", "--guest-mode", "supervisor")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "isa bad (machine pg), guests run in supervisor"
    assert "  LPSW         -           yes      -     yes       -      yes   -" in lines
    assert "  RETU         -           yes      -     -         -      yes   -" in lines
    assert "  HALT         -           yes      -     -         -      yes   -" in lines
    assert "  T3's condition fails: user-sensitive but not privileged: LPSW (user-sensitive), HALT " \
           "(user-sensitive), RETU (user-sensitive)" in lines
    assert "  expect T3 holds: FAILED (T3 fails (HALT, LPSW, RETU))" in lines
    # The same mode the isa declares changes nothing.
    assert vdsl("check", "spec.vspec", "--guest-mode", "user").stdout == GOOD_TEXT + "\n" + BAD_TEXT


@pytest.mark.parametrize("command", ["check", "explain"])
def test_unknown_guest_mode(vdsl, command: str) -> None:
    args = ["spec.vspec", "GETM"] if command == "explain" else ["spec.vspec"]
    result = vdsl(command, *args, "--guest-mode", "supervisr")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == \
        "error: there is no mode 'supervisr' in machine 'pg'; did you mean 'supervisor'?\n"
    if command == "explain":
        return
    result = vdsl(command, *args, "--guest-mode", "kernel")
    assert result.returncode == 2
    assert result.stderr == "error: there is no mode 'kernel' in machine 'pg'; " \
        "the modes of 'pg' are supervisor, user\n"


def test_isa_selection(vdsl) -> None:
    assert vdsl("check", "spec.vspec", "--isa", "good").stdout == GOOD_TEXT
    both = vdsl("check", "spec.vspec", "--isa", "bad", "--isa", "good")
    assert both.stdout == BAD_TEXT + "\n" + GOOD_TEXT


def test_unknown_isa(vdsl) -> None:
    result = vdsl("check", "spec.vspec", "--isa", "goo")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: there is no isa 'goo'; did you mean 'good'?\n"
    result = vdsl("check", "spec.vspec", "--isa", "zzz")
    assert result.returncode == 2
    assert result.stderr == "error: there is no isa 'zzz'; the isas are good, bad\n"


def test_pins_in_the_header(vdsl) -> None:
    result = vdsl("check", "iopl.vspec")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[:3] == [
        "isa io (machine x), guests run in ring3, pinned FL.IOPL = 0",
        "  instruction  privileged  control  mode  location  state  user  timing",
        "  CLI          yes         yes      -     -         yes    yes   -",
    ]


def test_timing_verdict(vdsl) -> None:
    """RDT is innocuous: the T2 line names it for reading timing state, and must not call it
    sensitive (the table above it says innocuous)."""
    result = vdsl("check", "timing.vspec")
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert "  RDT          -           -        -     -         -      -     yes     innocuous" in lines
    assert "  T1's condition holds: every sensitive instruction is privileged" in lines
    [t2] = [line for line in lines if line.startswith("  T2's condition")]
    assert t2.startswith("  T2's condition fails: ")
    assert t2.endswith("RDT (reads timing state)")
    assert "sensitive but not privileged" not in t2


# ---------------------------------------------------------------- check, JSON


def test_check_json_schema(vdsl) -> None:
    result = vdsl("check", "spec.vspec", "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "diagnostics", "isas"}
    assert (report["ok"], report["diagnostics"]) == (True, [])
    assert [i["name"] for i in report["isas"]] == ["good", "bad"]
    for isa in report["isas"]:
        assert set(isa) == {"name", "machine", "guest_mode", "pins", "context_from", "instructions", "premise",
                            "theorems", "expectations"}
        assert isa["premise"] == {"holds": True, "decided": True, "condition": "no instruction run by a guest "
                                  "reaches the trap areas", "offending": [], "undecided": []}
        assert (isa["machine"], isa["guest_mode"], isa["pins"]) == ("pg", "user", {})
        assert set(isa["theorems"]) == {"T1", "T2", "T3"}
        for verdict in isa["theorems"].values():
            assert set(verdict) == {"holds", "decided", "premise", "condition", "offending", "undecided"}
            assert verdict["decided"] is True and verdict["undecided"] == [] and verdict["premise"] is True
            for offender in verdict["offending"]:
                assert set(offender) == {"name", "classes", "offences"}
        for expectation in isa["expectations"]:
            assert set(expectation) == {"expect", "holds", "decided", "detail"}
            assert expectation["holds"] is True
        for inst in isa["instructions"]:
            assert set(inst) == {"name", "classes", "undecided", "offends", "privileged_where_sensitive",
                                 "evidence", "premise"}
            check_answer_json(inst["premise"])
            assert inst["undecided"] == []
            assert set(inst["offends"]) == {"T1", "T2", "T3"}
            assert set(inst["classes"]) <= CLASSES
            assert list(inst["evidence"]) == QUESTIONS
            for answer in inst["evidence"].values():
                check_answer_json(answer)
    bad = report["isas"][1]
    assert {i["name"]: i["classes"] for i in bad["instructions"]} == {
        "LOAD": ["innocuous"],
        "LPSW": ["privileged", "control-sensitive", "location-sensitive", "behaviour-sensitive"],
        "HALT": ["privileged", "control-sensitive"],
        "GETM": ["mode-sensitive", "behaviour-sensitive"],
        "RETU": ["control-sensitive"],
    }
    assert bad["theorems"]["T1"] == {
        "holds": False, "decided": True, "premise": True, "condition": "every sensitive instruction is privileged",
        "offending": [{"name": "GETM", "classes": ["mode-sensitive", "behaviour-sensitive"],
                       "offences": ["mode-sensitive"]},
                      {"name": "RETU", "classes": ["control-sensitive"], "offences": ["control-sensitive"]}],
        "undecided": []}
    assert bad["theorems"]["T3"] == {
        "holds": True, "decided": True, "premise": True,
        "condition": "every user-sensitive instruction is privileged",
        "offending": [], "undecided": []}
    assert bad["expectations"][0] == {
        "expect": "T1 fails with GETM RETU", "holds": True, "decided": True, "detail": "T1 fails (GETM, RETU)"}


def check_answer_json(answer: dict) -> None:  # type: ignore[type-arg]
    assert set(answer) in ({"holds", "proved"}, {"holds", "witness"})
    assert isinstance(answer["holds"], bool)
    if "proved" in answer:
        assert isinstance(answer["proved"], str) and answer["proved"]
        return
    witness = answer["witness"]
    assert set(witness) == {"operands", "shift", "runs", "shows", "reads"}
    assert witness["shift"] is None or isinstance(witness["shift"], int)
    assert len(witness["shows"]) >= 1
    assert len(witness["runs"]) in (1, 2)
    for run in witness["runs"]:
        assert set(run) == {"label", "before", "after", "trapped", "halted"}
        assert run["trapped"] is None or isinstance(run["trapped"], str)
        assert isinstance(run["halted"], bool)
        for moment in ("before", "after"):
            assert set(run[moment]) == {"mode", "registers", "memory"}
            assert run[moment]["mode"] in ("supervisor", "user")
            assert set(run[moment]["registers"]) == {"A", "P", "R"}
            assert set(run[moment]["registers"]["R"]) == {"value", "fields"}


def test_check_json_failing(vdsl) -> None:
    result = vdsl("check", "failing.vspec", "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    failed = [e for isa in report["isas"] for e in isa["expectations"] if not e["holds"]]
    assert failed == [
        {"expect": "T1 fails with GETM", "holds": False, "decided": True,
         "detail": "T1 fails (GETM, RETU); also breaking it: RETU"},
        {"expect": "T3 fails", "holds": False, "decided": True, "detail": "T3 holds"},
    ]


def test_check_json_pins_and_location_witness(vdsl) -> None:
    report = json.loads(vdsl("check", "iopl.vspec", "--format", "json").stdout)
    (isa,) = report["isas"]
    assert (isa["guest_mode"], isa["pins"]) == ("ring3", {"FL.IOPL": 0})
    report = json.loads(vdsl("check", "spec.vspec", "--isa", "good", "--format", "json").stdout)
    lpsw = next(i for i in report["isas"][0]["instructions"] if i["name"] == "LPSW")
    witness = lpsw["evidence"]["location-sensitive"]["witness"]
    first, second = witness["runs"]
    shift = witness["shift"]
    assert isinstance(shift, int) and shift > 0
    assert (first["label"], second["label"]) == ("at R", f"at R shifted by {shift}")
    base = [r["before"]["registers"]["R"]["fields"]["base"] for r in (first, second)]
    assert base[1] == base[0] + shift


def test_check_json_unknown_isa(vdsl) -> None:
    result = vdsl("check", "spec.vspec", "--isa", "goo", "--format", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": "there is no isa 'goo'; did you mean 'good'?"}


# ---------------------------------------------------------------- explain


def explain_blocks(text: str) -> dict[str, list[str]]:
    """The explanation split into its question blocks: title -> the block's lines."""
    blocks = text.rstrip("\n").split("\n\n")
    found = {}
    for block in blocks[1:]:
        lines = block.splitlines()
        title, _, answer = lines[0].rpartition(": ")
        assert answer in ("yes", "no"), lines[0]
        found[title] = lines
    return found


@pytest.mark.parametrize(("instruction", "isa", "classes", "answers"), [
    ("GETM", [], "mode-sensitive, behaviour-sensitive", "no no yes no no no no no"),
    ("LPSW", ["--isa", "good"], "privileged, control-sensitive, location-sensitive, behaviour-sensitive",
     "yes yes no yes no no no no"),
    ("LOAD", ["--isa", "bad"], "innocuous", "no no no no no no no no"),
])
def test_explain_text(vdsl, instruction: str, isa: list[str], classes: str, answers: str) -> None:
    result = vdsl("explain", "spec.vspec", instruction, *isa)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    name = isa[1] if isa else "bad"
    assert lines[:2] == [f"{instruction} in isa {name} (guests run in user)", f"classes: {classes}"]
    blocks = explain_blocks(result.stdout)
    assert list(blocks) == QUESTION_TITLES
    assert [block[0].rpartition(": ")[2] for block in blocks.values()] == answers.split()
    for title, block in blocks.items():
        if block[1].startswith("  proved: "):
            assert len(block) == 2, title
            continue
        # A witness: what it shows, and the runs side by side, before and after each.
        assert any(line.startswith("  shows: ") for line in block), title
        header = next(line for line in block if line.startswith("  state  "))
        runs = header.count(" before")  # a "LABEL before" and a "LABEL after" column per run
        assert runs in (1, 2) and header.count(" after") == runs, title
        assert re.fullmatch(rf"  state +(\S.* before +\S.* after *){{{runs}}}", header), title
        assert block[-1].startswith("  trap"), title


def test_explain_witness_side_by_side(vdsl) -> None:
    """GETM's mode-sensitivity: the same state in both modes, A differs after."""
    blocks = explain_blocks(vdsl("explain", "spec.vspec", "GETM").stdout)
    block = blocks["mode-sensitive"]
    assert block[0] == "mode-sensitive: yes"
    rows = {line.split()[0]: line.split()[1:] for line in block if not line.startswith("  shows:")}
    assert rows["state"] in (["mode", "user", "before", "mode", "user", "after",
                              "mode", "supervisor", "before", "mode", "supervisor", "after"],
                             ["mode", "supervisor", "before", "mode", "supervisor", "after",
                              "mode", "user", "before", "mode", "user", "after"])
    a_before_1, a_after_1, a_before_2, a_after_2 = (int(v) for v in rows["A"])
    assert a_before_1 == a_before_2 and a_after_1 != a_after_2
    assert rows["M"][0] == rows["M"][1] and rows["M"][2] == rows["M"][3] and rows["M"][0] != rows["M"][2]


def test_explain_guest_mode(vdsl) -> None:
    result = vdsl("explain", "spec.vspec", "LPSW", "--isa", "good", "--guest-mode", "supervisor")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "LPSW in isa good (guests run in supervisor)",
        "classes: control-sensitive, location-sensitive, behaviour-sensitive, user-sensitive"]


def test_explain_json(vdsl) -> None:
    result = vdsl("explain", "spec.vspec", "LPSW", "--isa", "good", "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert set(report) == {"isa", "guest_mode", "name", "classes", "undecided", "offends",
                           "privileged_where_sensitive", "evidence", "premise", "offences"}
    assert report["offences"] == []  # privileged for every operand: nothing more to ask
    assert (report["isa"], report["guest_mode"], report["name"]) == ("good", "user", "LPSW")
    assert report["classes"] == [
        "privileged", "control-sensitive", "location-sensitive", "behaviour-sensitive"]
    assert list(report["evidence"]) == QUESTIONS
    for answer in report["evidence"].values():
        check_answer_json(answer)
    assert report["evidence"]["privileged"] == {
        "holds": True,
        "proved": "traps in mode user and not in mode supervisor, for every state and operand (z3: unsat)"}


def test_explain_unknown_instruction(vdsl) -> None:
    result = vdsl("explain", "spec.vspec", "GETN")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: no isa has an instruction 'GETN'; did you mean 'GETM'?\n"


def test_explain_instruction_of_several_isas(vdsl) -> None:
    result = vdsl("explain", "spec.vspec", "LPSW")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: several isas have LPSW (good, bad); choose one with --isa\n"


def test_explain_unknown_isa(vdsl) -> None:
    result = vdsl("explain", "spec.vspec", "LPSW", "--isa", "goo")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: there is no isa 'goo'; did you mean 'good'?\n"


def test_explain_instruction_not_in_the_chosen_isa(vdsl) -> None:
    """GETM is in isa bad, not in the isa chosen: the message must say that isa good has no
    GETM, not that no isa has it."""
    result = vdsl("explain", "spec.vspec", "GETM", "--isa", "good")
    assert (result.returncode, result.stdout) == (2, "")
    assert "no isa has" not in result.stderr
    assert "'good'" in result.stderr or "isa good" in result.stderr


# ---------------------------------------------------------------- malformed expectations

FORMS = ("hint: write one of: `expect T1 holds`; `expect T1 fails`; `expect T1 fails with NAME NAME ...`; "
         "`expect premise holds`; `expect premise fails with NAME ...`; `expect NAME CLASS`; `expect NAME not CLASS`; "
         "`expect policy HYPERVISOR holds`; `expect policy HYPERVISOR fails with NAME ...`")


def bad_expect(*lines: str) -> str:
    """A small isa with these `expect` lines, from line 4 on, each starting at column 5."""
    return ("machine pg { word 8 memory E[16] modes { supervisor > user } reg A reg P pc }\n"
            "isa i for pg {\n"
            "    inst LOAD a { A = mem[a] }\n"
            + "".join(f"    {line}\n" for line in lines)
            + "}\n")


# Each malformed line and the whole diagnostic it gets; all in one isa, reported at once.
MALFORMED = [
    ("expect T1 maybe",
     "V037", "expected `T1 holds` or `T1 fails [with NAME ...]`", "^^^^^^^^",
     "hint: say whether it holds: `expect T1 holds` or `expect T1 fails`"),
    ("expect T2 fails with",
     "V037", "expected `T2 fails` or `T2 fails with NAME ...`", "^^^^^^^^^^^^^",
     "hint: name the instructions after 'with': `expect T2 fails with NAME ...`"),
    ("expect LOAD privilidged",
     "V037", "unknown class 'privilidged'", "^^^^^^^^^^^^^^^^", "hint: did you mean 'privileged'?"),
    ("expect LOAD not sensitve",
     "V037", "unknown class 'sensitve'", "^^^^^^^^^^^^^^^^^", "hint: did you mean 'sensitive'?"),
    ("expect efficiency >= 0.8",
     "V037", "this expectation is not one an isa can state", "^^^^^^^^^^^^^^^^^", FORMS),
    ("expect LOAD",
     "V037", "this expectation is not one an isa can state", "^^^^", FORMS),
    # An unknown name where an instruction (or a theorem) is expected is an undefined name.
    ("expect NOPE privileged",
     "V010", "undefined instruction 'NOPE'", "^^^^^^^^^^^^^^^",
     "hint: an expectation starts with an instruction of the isa, a theorem (T1, T2, T3), `premise` or "
     "`policy`"),
    ("expect LAOD privileged",
     "V010", "undefined instruction 'LAOD'", "^^^^^^^^^^^^^^^", "hint: did you mean 'LOAD'?"),
    # (another misspelling: the same undefined name twice is one diagnostic, its uses notes)
    ("expect T1 fails with LOADD",
     "V010", "undefined instruction 'LOADD'", "^^^^^^^^^^^^^^^^^^^", "hint: did you mean 'LOAD'?"),
]


def test_malformed_expect(tmp_path: Path) -> None:
    (tmp_path / "spec.vspec").write_text(bad_expect(*(m[0] for m in MALFORMED)), encoding="utf-8")
    result = run_vdsl("check", "spec.vspec", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    expected = "".join(
        f"spec.vspec:{number}:12: error[{code}]: {message}\n"
        f"{number:>4} |     {line}\n"
        f"     |            {caret}\n"
        f"  {hint}\n"
        for number, (line, code, message, caret, hint) in enumerate(MALFORMED, start=4))
    assert result.stderr == expected + f"{len(MALFORMED)} errors\n"


def test_malformed_expect_in_one_line(tmp_path: Path) -> None:
    """Each expectation of a line has its own diagnostic, pointing at it."""
    (tmp_path / "spec.vspec").write_text(bad_expect("expect T1 maybe, LOAD privilidged, T3 holds"),
                                         encoding="utf-8")
    result = run_vdsl("check", "--format", "json", "spec.vspec", cwd=tmp_path)
    assert result.returncode == 2
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert [(d["code"], d["line"], d["column"], d["end_column"]) for d in diagnostics] == [
        ("V037", 4, 12, 20), ("V037", 4, 22, 38)]


@pytest.mark.parametrize(("line", "canonical"), [
    # DESIGN.md's own spellings are accepted and mean the canonical forms.
    ("expect theorem1 fails", "T1 fails"),
    ("expect mode-sensitive LOAD", "LOAD mode-sensitive"),
    ("expect privileged LOAD", "LOAD privileged"),
])
def test_expect_in_another_words_order(tmp_path: Path, line: str, canonical: str) -> None:
    """Not "undefined instruction 'theorem1'": the words name a theorem or a class, and the
    expectation is checked in its canonical form."""
    (tmp_path / "spec.vspec").write_text(bad_expect(line), encoding="utf-8")
    result = run_vdsl("check", "--format", "json", "spec.vspec", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    [isa] = json.loads(result.stdout)["isas"]
    assert [e["expect"] for e in isa["expectations"]] == [canonical]


def test_expect_not_without_a_class(tmp_path: Path) -> None:
    """`expect LOAD not` names no class: the message must say a class is missing, not quote
    an empty one."""
    (tmp_path / "spec.vspec").write_text(bad_expect("expect LOAD not"), encoding="utf-8")
    result = run_vdsl("check", "--format", "json", "spec.vspec", cwd=tmp_path)
    assert result.returncode == 2
    [diagnostic] = json.loads(result.stdout)["diagnostics"]
    assert diagnostic["code"] == "V037"
    assert "''" not in diagnostic["message"]


# ---------------------------------------------------------------- `expect policy` in an isa

POLICY_EXPECTED = """\
import "pg74.vspec"
isa where extends pg74_lpa {
    expect policy pg_monitor fails with LPA, policy pg_hybrid holds
}
"""


def test_expect_policy_is_reported_like_the_other_expectations(tmp_path: Path) -> None:
    (tmp_path / "where.vspec").write_text(POLICY_EXPECTED, encoding="utf-8")
    result = run_vdsl("check", "where.vspec", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "  expect policy pg_monitor fails with LPA: ok (policy pg_monitor fails (LPA))\n" in result.stdout
    assert "  expect policy pg_hybrid holds: FAILED (policy pg_hybrid fails (LPA))\n" in result.stdout
    assert result.stderr == "vdsl: 1 expectation failed\n"
    # The policy reports themselves are --policy's; the JSON has the expectations as the others.
    assert "\npolicy " not in result.stdout
    data = json.loads(run_vdsl("check", "where.vspec", "--format", "json", cwd=tmp_path).stdout)
    assert not data["ok"] and "policies" not in data
    assert [(e["expect"], e["holds"], e["decided"]) for e in data["isas"][0]["expectations"]] == [
        ("policy pg_monitor fails with LPA", True, True), ("policy pg_hybrid holds", False, True)]


def test_expect_policy_errors_are_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "bad.vspec").write_text(
        'import "pg74.vspec"\nisa where extends pg74_lpa {\n    expect policy pg_monitr holds, policy pg_flat_monitor '
        'holds\n}\nhypervisor bt on pg74 { technique binary_translation }\nisa also extends pg74 { expect policy bt '
        'fails }\n', encoding="utf-8")
    result = run_vdsl("check", "bad.vspec", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "bad.vspec:3:19: error[V010]: undefined hypervisor 'pg_monitr'\n"
        "   3 |     expect policy pg_monitr holds, policy pg_flat_monitor holds\n"
        "     |                   ^^^^^^^^^\n"
        "  hint: did you mean 'pg_monitor'?\n"
        "bad.vspec:3:43: error[V047]: hypervisor pg_flat_monitor runs on machine pg74_flat, not on isa where "
        "(machine pg74)\n"
        "   3 |     expect policy pg_monitr holds, policy pg_flat_monitor holds\n"
        "     |                                           ^^^^^^^^^^^^^^^\n"
        "  hint: the hypervisors for it are pg_monitor, pg_hybrid, bt\n"
        "bad.vspec:6:39: error[V048]: hypervisor bt is binary_translation: it runs directly only what the "
        "classification finds correct, so its check is `vdsl check` itself; the policy check is for "
        "trap_and_emulate, hybrid, hardware_assisted\n"
        "   6 | isa also extends pg74 { expect policy bt fails }\n"
        "     |                                       ^^\n"
        "  hint: expect the theorems instead (`expect T1 ...`), or name a hypervisor whose technique is one of "
        "those\n"
        "3 errors\n")


def test_a_policy_is_checked_once_for_expect_and_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`expect policy pg_monitor ...` and `--policy pg_monitor` share one check per isa."""
    (tmp_path / "where.vspec").write_text(POLICY_EXPECTED, encoding="utf-8")
    calls: list[tuple[str, str]] = []
    real = commands.check_policy

    def counted(isa, hypervisor, rlimit, step=None, decider=None):  # type: ignore[no-untyped-def]
        calls.append((isa.name, hypervisor.name))
        return real(isa, hypervisor, rlimit, step, decider)

    monkeypatch.setattr(commands, "check_policy", counted)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "where.vspec", "--policy", "pg_monitor"]) == 1
    assert sorted(calls) == [("where", "pg_hybrid"), ("where", "pg_monitor")]
    output = capsys.readouterr().out
    assert "expect policy pg_monitor fails with LPA: ok" in output
    assert "policy pg_monitor (trap_and_emulate, guests run in user) on isa where: fails" in output
