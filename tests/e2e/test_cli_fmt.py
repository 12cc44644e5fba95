"""`vdsl fmt`: rewriting in place, --check, --diff, standard input, exit codes, and that a file is
written whole or not at all."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_vdsl
from test_docs import DOCUMENTS, fenced_blocks

from vdsl import SpecError, format_text
from vdsl.cli import main
from vdsl.syntax import fmt

MESSY = "machine m{word 8\n\n\n  reg A   // the accumulator\n}\n"
TIDY = "machine m { word 8\n\n    reg A   // the accumulator\n}\n"
BROKEN = "machine m {\n    word 8\n"
BROKEN_DIAGNOSTIC = (
    "broken.vspec:2:11: error[V003]: machine 'm' is not closed: '}' is missing\n"
    "   2 |     word 8\n"
    "     |           ^\n"
    "broken.vspec:1:1: note: machine 'm' starts here\n"
    "   1 | machine m {\n"
    "     | ^^^^^^^^^^^\n"
    "  hint: add '}' where machine 'm' ends\n"
    "1 error\n")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "messy.vspec").write_text(MESSY, encoding="utf-8")
    (tmp_path / "tidy.vspec").write_text(TIDY, encoding="utf-8")
    return tmp_path


def test_fmt_rewrites_the_files_that_change_and_leaves_the_others_alone(folder: Path) -> None:
    tidy = folder / "tidy.vspec"
    before = tidy.stat()
    (folder / "messy.vspec").chmod(0o640)
    result = run_vdsl("fmt", "messy.vspec", "tidy.vspec", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "1 file reformatted, 1 file left unchanged\n", "")
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == TIDY
    assert (folder / "messy.vspec").stat().st_mode & 0o777 == 0o640
    after = tidy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in folder.iterdir()) == ["messy.vspec", "tidy.vspec"]


def test_fmt_check_writes_nothing_and_names_what_would_change(folder: Path) -> None:
    result = run_vdsl("fmt", "--check", "messy.vspec", "tidy.vspec", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "would reformat: messy.vspec\n1 file would be reformatted, 1 file already formatted\n", "")
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == MESSY
    assert run_vdsl("fmt", "--check", "tidy.vspec", cwd=folder).returncode == 0


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(folder: Path) -> None:
    result = run_vdsl("fmt", "--diff", "messy.vspec", "tidy.vspec", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (1, (
        "--- messy.vspec\n"
        "+++ messy.vspec\n"
        "@@ -1,5 +1,4 @@\n"
        "-machine m{word 8\n"
        "+machine m { word 8\n"
        " \n"
        "-\n"
        "-  reg A   // the accumulator\n"
        "+    reg A   // the accumulator\n"
        " }\n"), "1 file would be reformatted, 1 file already formatted\n")
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == MESSY
    assert run_vdsl("fmt", "--diff", "tidy.vspec", cwd=folder).stdout == ""


def test_a_file_that_does_not_parse_is_reported_and_left_alone_and_the_others_are_formatted(
        folder: Path) -> None:
    (folder / "broken.vspec").write_text(BROKEN, encoding="utf-8")
    result = run_vdsl("fmt", "broken.vspec", "messy.vspec", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "1 file reformatted\n", BROKEN_DIAGNOSTIC)
    assert (folder / "broken.vspec").read_text(encoding="utf-8") == BROKEN
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == TIDY


def test_a_file_that_cannot_be_read_is_reported(folder: Path) -> None:
    result = run_vdsl("fmt", "missing.vspec", cwd=folder)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", (
        "missing.vspec: error[V018]: cannot read 'missing.vspec': No such file or directory\n"
        "  hint: check the path\n"
        "1 error\n"))


def test_a_folder_stands_for_its_vspec_files(folder: Path) -> None:
    result = run_vdsl("fmt", "--check", ".", cwd=folder)
    assert (result.returncode, result.stdout) == (
        1, "would reformat: messy.vspec\n1 file would be reformatted, 1 file already formatted\n")


def test_standard_input_is_formatted_to_standard_output() -> None:
    result = run_vdsl("fmt", "-", stdin=MESSY)
    assert (result.returncode, result.stdout, result.stderr) == (0, TIDY, "")
    result = run_vdsl("fmt", "--check", "-", stdin=MESSY)
    assert (result.returncode, result.stdout, result.stderr) == (1, "would reformat: -\n", "")


def test_standard_input_that_does_not_parse_gets_its_diagnostic() -> None:
    result = run_vdsl("fmt", "-", stdin=BROKEN)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == BROKEN_DIAGNOSTIC.replace("broken.vspec", "<stdin>")


def test_a_crash_while_writing_leaves_the_file_as_it_was_and_no_temporary_file(
        folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    messy = folder / "messy.vspec"

    def crash(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    assert main(["fmt", str(messy)]) == 2
    assert capsys.readouterr().err == f"error: cannot write '{messy}': No space left on device\n"
    assert messy.read_text(encoding="utf-8") == MESSY
    assert sorted(p.name for p in folder.iterdir()) == ["messy.vspec", "tidy.vspec"]


def test_an_interruption_while_writing_leaves_no_temporary_file(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(source: object, target: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    assert main(["fmt", str(folder / "messy.vspec")]) == 130
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == MESSY
    assert sorted(p.name for p in folder.iterdir()) == ["messy.vspec", "tidy.vspec"]


def test_a_layout_that_would_change_a_token_is_an_internal_error_and_writes_nothing(
        folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(fmt, "_print", lambda elements: "machine n { word 8 }\n")
    assert main(["fmt", str(folder / "messy.vspec")]) == 3
    assert capsys.readouterr().err.startswith(
        f"vdsl: internal error: formatting {folder / 'messy.vspec'} would change its tokens")
    assert (folder / "messy.vspec").read_text(encoding="utf-8") == MESSY


def test_the_vspec_examples_of_the_docs_are_formatted() -> None:
    unformatted = []
    for document in DOCUMENTS:
        for info, body, _, line in fenced_blocks(document.read_text(encoding="utf-8")):
            if info != "vspec":
                continue
            try:
                formatted = format_text(body)
            except SpecError:  # the diagnostics reference shows syntax errors on purpose
                continue
            if formatted != body:
                unformatted.append(f"{document.relative_to(ROOT)}:{line}")
    assert not unformatted


def test_fmt_is_listed_in_the_help() -> None:
    result = run_vdsl("--help")
    assert re.search(r"^    fmt +rewrite \.vspec files in one layout", result.stdout, re.MULTILINE)
