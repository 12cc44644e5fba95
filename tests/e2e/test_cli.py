"""The `vdsl` command line, run in a subprocess as a user runs it: output and exit codes.

Exit codes: 0 ok, 1 a run that did not halt, 2 the spec has errors (or a bad request),
3 an internal error.  No command ever shows a Python traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SPECS, checkout_env, run_vdsl

from vdsl import __version__
from vdsl.resources import bundled_specs

PG74 = str(SPECS / "pg74.vspec")
WriteSpec = Callable[..., Path]

BAD_SPEC = """\
machine m {
    word 16
    memory E[64]
    modes { supervisor > user }
    reg A
    reg P pc
}
isa i for m {
    inst LOAD addr { A = mem[adr] }
    inst STORE addr { mem[addr] = AA }
}
"""

BAD_SPEC_ERRORS = """\
spec.vspec:9:30: error[V010]: undefined name 'adr'
   9 |     inst LOAD addr { A = mem[adr] }
     |                              ^^^
  hint: did you mean 'addr'?
spec.vspec:10:35: error[V010]: undefined name 'AA'
  10 |     inst STORE addr { mem[addr] = AA }
     |                                   ^^
  hint: did you mean 'A'?
2 errors
"""

DIAGNOSTIC_KEYS = {"code", "severity", "message", "file", "line", "column", "end_line", "end_column", "hint",
                   "related"}
TRACE_KEYS = {"step", "pc", "mode", "instruction", "operands", "trapped", "cause", "changes"}

SUPERVISOR_CALL_FINAL_STATE = """\
program supervisor_call: halted after 22 steps
  mode supervisor
  A = 107
  P = 211
  R = 67108864 (base=0 bound=1024)
  memory written: [0]=1, [1]=7, [2]=64, [3]=64, [8]=1, [9]=107, [98]=107
"""


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr


# ---------------------------------------------------------------- check


@pytest.mark.parametrize("spec", bundled_specs(), ids=lambda path: path.name)
def test_check_bundled_specs(spec: Path) -> None:
    # Every bundled spec states what the analysis must find with `expect`: checking them
    # is itself a regression test.
    result = run_vdsl("check", str(spec))
    assert (result.returncode, result.stderr) == (0, "")
    if spec.name == "stacks.vspec":  # layer-only systems: nothing to classify
        assert result.stdout == "ok: 2 stacks\n"
    else:
        assert result.stdout.startswith("isa ")
    assert "FAILED" not in result.stdout


def test_check_bad_spec_prints_every_diagnostic(tmp_path: Path, write_spec: WriteSpec) -> None:
    write_spec(BAD_SPEC)
    result = run_vdsl("check", "spec.vspec", cwd=tmp_path)
    assert_no_traceback(result)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", BAD_SPEC_ERRORS)


def test_check_json_diagnostics(tmp_path: Path, write_spec: WriteSpec) -> None:
    write_spec(BAD_SPEC)
    result = run_vdsl("check", "--format", "json", "spec.vspec", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert all(set(d) == DIAGNOSTIC_KEYS for d in report["diagnostics"])
    assert report["diagnostics"][0] == {
        "code": "V010",
        "severity": "error",
        "message": "undefined name 'adr'",
        "file": "spec.vspec",
        "line": 9,
        "column": 30,
        "end_line": 9,
        "end_column": 33,
        "hint": "did you mean 'addr'?",
        "related": [],
    }
    assert [d["message"] for d in report["diagnostics"]] == ["undefined name 'adr'", "undefined name 'AA'"]


def test_check_json_ok() -> None:
    result = run_vdsl("check", "--format", "json", PG74)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert (report["ok"], report["diagnostics"]) == (True, [])
    assert [i["name"] for i in report["isas"]] == ["pg74", "pg74_getm", "pg74_lpa", "pg74_retu", "pg74_flat"]
    pg74 = report["isas"][0]
    assert set(pg74) == {"name", "machine", "guest_mode", "pins", "context_from", "instructions", "premise",
                         "theorems", "expectations"}
    assert pg74["premise"]["holds"] is True
    assert (pg74["machine"], pg74["guest_mode"], pg74["pins"]) == ("pg74", "user", {})
    assert {t: v["holds"] for t, v in pg74["theorems"].items()} == {"T1": True, "T2": True, "T3": True}
    lpsw = next(i for i in pg74["instructions"] if i["name"] == "LPSW")
    assert lpsw["classes"] == ["privileged", "control-sensitive", "location-sensitive", "behaviour-sensitive"]
    assert lpsw["evidence"]["privileged"] == {
        "holds": True, "proved": "traps in mode user and not in mode supervisor, for every state and "
                                 "operand (z3: unsat)"}
    witness = lpsw["evidence"]["control-sensitive"]["witness"]
    assert set(witness) == {"operands", "shift", "runs", "shows", "reads"}
    assert all(e["holds"] for isa in report["isas"] for e in isa["expectations"])


def test_check_json_missing_file_names_the_file(tmp_path: Path) -> None:
    # Tools group diagnostics by file: the file that cannot be read is that file.
    result = run_vdsl("check", "--format", "json", "nope.vspec", cwd=tmp_path)
    assert result.returncode == 2
    [diagnostic] = json.loads(result.stdout)["diagnostics"]
    assert set(diagnostic) == DIAGNOSTIC_KEYS
    assert (diagnostic["code"], diagnostic["file"]) == ("V018", "nope.vspec")


# ---------------------------------------------------------------- missing and odd files


@pytest.mark.parametrize("command", [["check"], ["run", "--program", "p"]])
def test_missing_file(tmp_path: Path, command: list[str]) -> None:
    result = run_vdsl(*command, "nope.vspec", cwd=tmp_path)
    assert_no_traceback(result)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "nope.vspec: error[V018]: cannot read 'nope.vspec': No such file or directory\n"
               "  hint: check the path\n1 error\n")


def test_directory_given_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    result = run_vdsl("check", "folder", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.startswith("folder: error[V018]: cannot read 'folder': ")


def test_binary_file(tmp_path: Path) -> None:
    (tmp_path / "image.vspec").write_bytes(bytes(range(256)) * 4)
    result = run_vdsl("check", "image.vspec", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 2
    # 0x80, the first byte that is not UTF-8, is on line 3 (after the 0x0a and the 0x0d, each a
    # line ending), column 115
    assert result.stderr.startswith("image.vspec:3:115: error[V036]: the file is not valid UTF-8")
    assert all(c.isprintable() or c == "\n" for c in result.stderr), "control characters reach the terminal"


# ---------------------------------------------------------------- dump


def test_dump() -> None:
    result = run_vdsl("dump", PG74)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("(spec\n  :machines\n    (machine\n      :name pg74\n")
    assert result.stdout.count("(") == result.stdout.count(")")


# ---------------------------------------------------------------- run


def test_run_prints_the_final_state() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_call")
    assert (result.returncode, result.stdout, result.stderr) == (0, SUPERVISOR_CALL_FINAL_STATE, "")


def test_run_json() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_call", "--format", "json")
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "program": "supervisor_call",
        "status": "halted",
        "steps": 22,
        "message": "halted after 22 steps",
        "cause": None,
        "state": {
            "mode": "supervisor",
            "registers": {"A": 107, "P": 211, "R": {"value": 67108864, "fields": {"base": 0, "bound": 1024}}},
            "memory_changes": {"0": 1, "1": 7, "2": 64, "3": 64, "8": 1, "9": 107, "98": 107},
        },
    }


def test_run_step_limit() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_call", "--max-steps", "3")
    assert_no_traceback(result)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "program supervisor_call: stopped after 3 steps without reaching halt "
        "(raise the limit with --max-steps)")


def test_run_bad_step_limit() -> None:
    result = run_vdsl("run", PG74, "-p", "supervisor_call", "--max-steps", "0")
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "vdsl run: error: argument --max-steps: must be at least 1"


def test_run_trace(tmp_path: Path) -> None:
    trace = tmp_path / "run.trace.jsonl"
    result = run_vdsl("run", PG74, "-p", "supervisor_call", "--trace", str(trace))
    assert (result.returncode, result.stdout) == (0, SUPERVISOR_CALL_FINAL_STATE)
    steps = [json.loads(line) for line in trace.read_text(encoding="utf-8").splitlines()]
    assert len(steps) == 22
    assert all(set(step) == TRACE_KEYS for step in steps)
    assert [step["step"] for step in steps] == list(range(1, 23))
    assert steps[0] == {
        "step": 1, "pc": 20, "mode": "supervisor", "instruction": "LPSW", "operands": [13],
        "trapped": False, "cause": None,
        "changes": {"registers": {"P": {"old": 20, "new": 0}, "R": {"old": 67108864, "new": 4194368},
                                  "M": {"old": 0, "new": 1}},
                    "memory": []},
    }
    trapped = [(step["step"], step["instruction"], step["cause"]) for step in steps if step["trapped"]]
    assert trapped == [(4, "SVC", "svc"), (16, "HALT", "privileged")]
    assert steps[3]["changes"]["memory"][:2] == [{"address": 0, "old": 0, "new": 1},
                                                 {"address": 1, "old": 0, "new": 4}]


def test_run_trace_to_an_unwritable_place(tmp_path: Path) -> None:
    result = run_vdsl("run", PG74, "-p", "supervisor_call", "--trace", str(tmp_path / "no" / "t.jsonl"))
    assert_no_traceback(result)
    assert result.returncode == 2
    assert result.stderr == (f"error: cannot write the trace to '{tmp_path / 'no' / 't.jsonl'}': "
                             "No such file or directory\n")


def test_run_unknown_program_suggests_a_name() -> None:
    result = run_vdsl("run", PG74, "--program", "supervisor_cal")
    assert_no_traceback(result)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "error: there is no program 'supervisor_cal'; did you mean 'supervisor_call'?\n")


def test_run_needs_a_program_name_when_there_are_several(tmp_path: Path) -> None:
    # A file with no scenarios of its own runs a program bare; the imported file's scenarios don't run.
    (tmp_path / "mine.vspec").write_text('import "pg74.vspec"\n', encoding="utf-8")
    result = run_vdsl("run", "mine.vspec", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2, "error: say which program to run with --program (programs: supervisor_call, bounds_fault, "
           "user_task, whoami, retu_boot, where, takeover)\n")


# ---------------------------------------------------------------- specs, other folders, the script


def test_specs_lists_the_bundled_specs_from_any_folder(tmp_path: Path) -> None:
    result = run_vdsl("specs", cwd=tmp_path)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if not line.startswith("(")]
    assert "pg74.vspec" in names
    assert names == sorted(path.name for path in bundled_specs())


IMPORTS_PG74 = 'import "pg74.vspec"\nisa mine extends pg74 { inst NOP { } }\nprogram q on mine { NOP HALT }\n'


def test_from_another_folder(tmp_path: Path, write_spec: WriteSpec) -> None:
    write_spec(IMPORTS_PG74, "mine.vspec")
    check = run_vdsl("check", "mine.vspec", cwd=tmp_path)
    assert check.returncode == 0
    assert check.stdout.startswith("isa mine (machine pg74), guests run in user\n")
    run = run_vdsl("run", "mine.vspec", "-p", "supervisor_call", cwd=tmp_path)
    assert (run.returncode, run.stdout) == (0, SUPERVISOR_CALL_FINAL_STATE)


def test_installed_console_script(tmp_path: Path, write_spec: WriteSpec) -> None:
    # The README's test command installs vdsl, so the console script must be there.
    write_spec(IMPORTS_PG74, "mine.vspec")
    vdsl = shutil.which("vdsl")
    assert vdsl is not None, "the vdsl console script is not on PATH: is vdsl installed?"
    result = subprocess.run([vdsl, "run", "mine.vspec", "-p", "q", "--format", "json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    assert_no_traceback(result)
    assert result.returncode == 0
    run = json.loads(result.stdout)
    assert (run["program"], run["status"], run["steps"]) == ("q", "halted", 2)


def test_the_version_and_help_load_neither_the_parser_nor_z3() -> None:
    # `vdsl --version` and `--help` start at once: lark, z3 and graphviz load only to run a command.
    probe = ("import sys\nfrom vdsl.cli import main\nfor argv in (['--version'], ['--help'], ['check', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('lark', 'z3', 'graphviz', 'vdsl.analysis', 'vdsl.emulator') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False,
                            env=checkout_env())
    assert result.stdout.splitlines()[-1] == "[]", result.stdout


def test_python_dash_m_vdsl_is_the_command_line() -> None:
    result = subprocess.run([sys.executable, "-m", "vdsl", "--version"], capture_output=True, text=True,
                            timeout=60, check=False, env=checkout_env())
    assert (result.returncode, result.stdout) == (0, f"vdsl {__version__}\n")


def test_check_each_grades_a_folder_file_by_file(tmp_path: Path) -> None:
    # Two submissions declare the same machine name: together they would clash, each alone is
    # fine.  One has an error, one an expectation that fails; a file that crashes vdsl would say so.
    machine = "machine m {\n    word 8\n    memory E[16]\n    modes { s > u }\n    reg A\n    reg P pc\n    control reg F\n}\n"
    (tmp_path / "a.vspec").write_text(machine + "isa i for m {\n    inst RD { if M == u { trap privileged }  A = F }\n"
                                      "    expect T1 holds\n}\n", encoding="utf-8")
    (tmp_path / "b.vspec").write_text(machine + "isa i for m {\n    inst RD { A = F }\n    expect T1 holds\n}\n",
                                      encoding="utf-8")
    (tmp_path / "c.vspec").write_text(machine + "isa i for m {\n    inst RD { A = G }\n}\n", encoding="utf-8")
    result = run_vdsl("check", "--each", "a.vspec", "b.vspec", "c.vspec", cwd=tmp_path)
    assert result.returncode == 2  # the worst: c has an error
    assert result.stdout.splitlines() == [
        "a.vspec: ok (i: T1 holds, T2 holds, T3 holds; 1 expectation holds)",
        "b.vspec: FAILED: 1 of 1 expectations fail (i: T1 fails, T2 fails, T3 fails)",
        "c.vspec: 1 error (first: c.vspec:10:19: error[V010]: undefined name 'G')",
        "3 files: 1 ok, 1 failed, 1 with errors",
    ]
    assert result.stderr == ""
    result = run_vdsl("check", "--each", "a.vspec", "b.vspec", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["ok"] is False
    assert [(f["file"], f["status"]) for f in data["files"]] == [("a.vspec", 0), ("b.vspec", 1)]
    assert data["files"][1]["isas"][0]["theorems"]["T1"]["holds"] is False
    together = run_vdsl("check", "a.vspec", "b.vspec", cwd=tmp_path)
    assert together.returncode == 2 and "V011" in together.stderr  # one spec: the names clash


@pytest.mark.parametrize("path", ["/dev/zero", "fifo.vspec", "."])
def test_check_refuses_what_is_not_a_regular_file(tmp_path: Path, path: str) -> None:
    # /dev/zero never ends and a pipe with no writer blocks forever: both are refused at once.
    os.mkfifo(tmp_path / "fifo.vspec")
    result = run_vdsl("check", path, cwd=tmp_path)
    assert result.returncode == 2
    assert f"error[V018]: cannot read '{path}': it is not a regular file (a folder, a device or a pipe)" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_check_refuses_a_file_too_large_to_be_a_spec(tmp_path: Path) -> None:
    (tmp_path / "huge.vspec").write_text("// " + "x" * (4 << 20) + "\n", encoding="utf-8")
    result = run_vdsl("check", "huge.vspec", cwd=tmp_path)
    assert result.returncode == 2 and "it is larger than 4 MiB" in result.stderr


def test_a_comment_ends_at_a_carriage_return(tmp_path: Path) -> None:
    # Old Mac line endings: the comment on the second line must not swallow the rest of the file.
    text = "machine m {\r    word 8 // the word\r    memory E[16]\r    modes { s > u }\r    reg A\r    reg P pc\r" \
           "    reg Q: 0\r}\r"
    (tmp_path / "cr.vspec").write_bytes(text.encode())
    result = run_vdsl("check", "cr.vspec", cwd=tmp_path)
    assert result.returncode == 2 and "cr.vspec:7:" in result.stderr


@pytest.mark.parametrize("size", ["4294967296", "268435456"])
def test_a_memory_too_large_to_simulate_is_an_error(tmp_path: Path, size: str) -> None:
    (tmp_path / "big.vspec").write_text(f"machine m {{\n    word 8\n    memory E[{size}]\n    modes {{ s > u }}\n"
                                        "    reg A\n    reg P pc\n}\nisa i for m {\n    inst LD a { A = mem[a] }\n}\n",
                                        encoding="utf-8")
    result = run_vdsl("check", "big.vspec", cwd=tmp_path)
    assert result.returncode == 2
    assert (f"big.vspec:3:5: error[V023]: a memory of {size} words is more than vdsl simulates (at most 1048576 "
            "words, 2^20)") in result.stderr


def test_a_trace_that_fills_its_device_is_an_error() -> None:
    result = run_vdsl("run", PG74, "-s", "two_guests", "--trace", "/dev/full")
    assert result.returncode == 2
    assert result.stderr == "error: cannot write the trace to '/dev/full': No space left on device\n"


def test_closed_standard_output_and_a_reader_that_leaves() -> None:
    closed = subprocess.run(["bash", "-c", f"'{sys.executable}' -m vdsl check '{PG74}' >&-"], capture_output=True,
                            text=True, timeout=120, check=False, env=checkout_env())
    assert closed.returncode == 2
    assert closed.stderr == "vdsl: standard output is closed: there is nowhere to write the report\n"
    # The x86 dump is far larger than a pipe holds: when head leaves, vdsl still has output to write.
    cut = subprocess.run(["bash", "-c", f"'{sys.executable}' -m vdsl dump '{SPECS / 'x86-32.vspec'}' | head -1; "
                          "echo ${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=120, check=False,
                         env=checkout_env())
    assert cut.stdout.splitlines() == ["(spec", "141"] and cut.stderr == ""


def test_github_annotations_point_at_what_failed(tmp_path: Path) -> None:
    # One model of findings feeds the annotations: a diagnostic, an expectation that fails, and
    # for a run, a scenario expectation; each with its file, line and columns, escaped.
    machine = "machine m {\n    word 8\n    memory E[16]\n    modes { s > u }\n    reg A\n    reg P pc\n    control reg F\n}\n"
    (tmp_path / "wrong.vspec").write_text(machine + "isa i for m {\n    inst RD { A = F }\n    expect T1 holds\n}\n",
                                          encoding="utf-8")
    (tmp_path / "broken.vspec").write_text(machine + "isa i for m {\n    inst RD { A = G }\n}\n", encoding="utf-8")
    result = run_vdsl("check", "wrong.vspec", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ("::error file=wrong.vspec,line=11,col=12,endLine=11,endColumn=20,title=vdsl expect::"
                             "expect T1 holds: fails (T1 fails (RD))\n")
    result = run_vdsl("check", "broken.vspec", "--format", "github", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith("::error file=broken.vspec,line=10,col=19,endLine=10,endColumn=20,"
                                    "title=vdsl V010::undefined name 'G'")
    result = run_vdsl("check", "--each", "wrong.vspec", "broken.vspec", "--format", "github", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stdout.splitlines()) == 2
    result = run_vdsl("check", PG74, "--format", "github")
    assert (result.returncode, result.stdout) == (0, "")
    result = run_vdsl("run", PG74, "-s", "getm", "--technique", "hybrid", "--format", "github")
    assert result.returncode == 1
    assert result.stdout.startswith("::error file=") and ",title=vdsl expect::expect kernel divergence at GETM: " \
        "fails (equivalent)" in result.stdout


def test_pins_no_state_can_satisfy_are_reported_at_the_pin(tmp_path: Path) -> None:
    (tmp_path / "pins.vspec").write_text(
        "machine m {\n    word 8\n    memory E[16]\n    modes { s > u }\n    reg A\n    reg P pc\n"
        "    control reg F: 4 { IOPL [2:1] }\n}\nisa i for m {\n    inst RD { A = zext(F, 8) }\n"
        "    pin F = 3\n    pin F.IOPL = 0\n}\n", encoding="utf-8")
    result = run_vdsl("check", "pins.vspec", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("pins.vspec:12:5: error[V035]: the pins of isa i cannot all hold: no state has "
                                    "F = 3, F.IOPL = 0\n")
