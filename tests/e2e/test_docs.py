"""The code in the docs runs: every ```vspec block checks (or, in the diagnostics reference,
fails with its section's code), and every ```console transcript reproduces exactly.

A vspec block is a whole file whose first line `// NAME.vspec` names it; console blocks
run, in order, in a folder holding the document's vspec files written so far.  With
VDSL_UPDATE_DOCS=1 the transcripts are rewritten with what the commands print now (review
the diff: the prose around them must still be true).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, checkout_env

DOCUMENTS = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\S*)\s*$")
SEPARATOR = "<<<vdsl-docs-separator>>>"


def fenced_blocks(text: str) -> list[tuple[str, str, str, int]]:
    """(info string, body, the heading above it, line number) of each fenced block."""
    found = []
    lines = text.splitlines()
    heading, i = "", 0
    while i < len(lines):
        if lines[i].startswith("#"):
            heading = lines[i]
        match = FENCE.match(lines[i])
        if match and match.group(1):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append((match.group(1), "\n".join(lines[i + 1:end]) + "\n", heading, i + 1))
            i = end
        i += 1
    return found


def run_transcript(body: str, folder: Path) -> tuple[list[str], str]:
    """Run the `$ ` commands of a console block: the differences from the shown output, and
    the block as it would read with the actual output."""
    commands: list[str] = []
    expected: list[list[str]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            commands.append(line[2:])
            expected.append([])
        elif commands:
            expected[-1].append(line)
    if not commands:
        return [], body  # set-up instructions, not a transcript
    script = "\n".join(f"{command} 2>&1\nstatus=$?; echo '{SEPARATOR}'; (exit $status)"
                       for command in commands)
    output = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True,
                            timeout=300, check=False, env=checkout_env()).stdout
    problems = []
    actual = []
    for command, want, have in zip(commands, expected, output.split(SEPARATOR + "\n"), strict=False):
        if "\n".join(want).rstrip("\n") != have.rstrip("\n"):
            problems.append(f"$ {command}\n--- documented\n{chr(10).join(want)}\n--- actual\n{have}")
        actual.append(f"$ {command}\n" + (have.rstrip("\n") + "\n" if have.strip() else ""))
    return problems, "".join(actual)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_document_examples_run(document: Path, tmp_path: Path) -> None:
    failures: list[str] = []
    diagnostics_reference = document.name == "diagnostics.md"
    text = document.read_text(encoding="utf-8")
    updated = text
    for info, body, heading, line in fenced_blocks(text):
        where = f"{document.relative_to(ROOT)}:{line}"
        if info == "vspec":
            name = re.match(r"// (\S+\.vspec)", body)
            if name is None:
                failures.append(f"{where}: a vspec block must start with `// NAME.vspec`")
                continue
            (tmp_path / name.group(1)).write_text(body, encoding="utf-8")
            result = subprocess.run(["vdsl", "check", name.group(1)], cwd=tmp_path, capture_output=True,
                                    text=True, timeout=300, check=False, env=checkout_env())
            code = re.search(r"V0\d\d", heading)
            if diagnostics_reference and code:
                if result.returncode != 2 or f"[{code.group(0)}]" not in result.stderr:
                    failures.append(f"{where}: expected {code.group(0)}:\n{result.stderr}{result.stdout}")
            elif result.returncode != 0:
                failures.append(f"{where}: does not check:\n{result.stderr}")
        elif info == "console":
            problems, actual = run_transcript(body, tmp_path)
            failures.extend(f"{where}: {problem}" for problem in problems)
            if problems:
                updated = updated.replace("```console\n" + body, "```console\n" + actual, 1)
    if failures and os.environ.get("VDSL_UPDATE_DOCS"):
        document.write_text(updated, encoding="utf-8")
        return
    assert not failures, "\n\n".join(failures)


def test_every_diagnostic_code_has_a_section_in_the_reference() -> None:
    used = set()
    for path in (ROOT / "vdsl").rglob("*.py"):
        used.update(re.findall(r"\"(V0\d\d)\"", path.read_text(encoding="utf-8")))
    reference = (ROOT / "docs" / "reference" / "diagnostics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## (V0\d\d):", reference, re.MULTILINE))
    assert used - documented == set()


def test_every_vspec_block_highlights() -> None:
    # The docs' ```vspec blocks are highlighted by vdsl's Pygments lexer (alias vspec): none of
    # them may have a character it cannot lex, but V001's, which shows a character vspec lacks.
    from pygments.token import Error

    from vdsl.highlight import VspecLexer

    lexer = VspecLexer()
    failures = []
    for document in DOCUMENTS:
        for info, body, heading, line in fenced_blocks(document.read_text(encoding="utf-8")):
            if info == "vspec" and not heading.startswith("## V001"):
                errors = [value for kind, value in lexer.get_tokens(body) if kind in Error]
                if errors:
                    failures.append(f"{document.relative_to(ROOT)}:{line}: cannot lex {errors}")
    assert failures == []
