"""Progress of long work: shown on a terminal, never in a pipe, a file or with --quiet.

The command runs in a pseudo-terminal (its standard error is a tty), as a user at a terminal
runs it; standard output stays a pipe, so the report itself is compared whole.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import SPECS, checkout_env, run_vdsl
from test_cli_check import SPEC


def run_at_a_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Exit status, standard output, and what reached the terminal (standard error)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "vdsl", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=terminal,
                               env={**checkout_env(), "COLUMNS": "100", "TERM": "xterm"})
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command has ended
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    with process:  # closes the pipe
        assert process.stdout is not None
        output = process.stdout.read().decode()
        status = process.wait(timeout=10)
    return status, output, seen.decode(errors="replace")


def test_check_shows_the_instructions_classified_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "spec.vspec").write_text(SPEC)
    status, output, terminal = run_at_a_terminal("check", "spec.vspec", cwd=tmp_path)
    assert status == 0
    assert "classifying good" in terminal and "classifying bad" in terminal
    assert "/3" in terminal and "/5" in terminal  # instructions done of each isa's
    assert output == run_vdsl("check", "spec.vspec", cwd=tmp_path).stdout  # the report is unchanged


def test_quiet_shows_nothing(tmp_path: Path) -> None:
    (tmp_path / "spec.vspec").write_text(SPEC)
    status, _, terminal = run_at_a_terminal("check", "--quiet", "spec.vspec", cwd=tmp_path)
    assert (status, terminal) == (0, "")


def test_nothing_extra_reaches_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "spec.vspec").write_text(SPEC)
    result = run_vdsl("check", "spec.vspec", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


def test_run_shows_the_scenarios_run_on_a_terminal(tmp_path: Path) -> None:
    status, _, terminal = run_at_a_terminal("run", str(SPECS / "pg74.vspec"), "--format", "json",
                                            cwd=tmp_path)
    assert status == 0
    assert "running scenarios" in terminal
