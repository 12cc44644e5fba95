"""The wheel carries the grammar and the bundled specs; an installed vdsl finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (built,) = out.glob("vdsl-*.whl")
    return built


def test_wheel_contains_grammar_and_specs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "vdsl/_data/grammar/vspec.lark" in names
    bundled = {p.name for p in (ROOT / "specs").glob("*.vspec")}
    assert bundled and {f"vdsl/_data/specs/{name}" for name in bundled} <= names


def test_installed_wheel_runs_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))

    def vdsl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vdsl.cli", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    listing = vdsl("specs")
    assert listing.returncode == 0, listing.stderr
    assert "pg74.vspec" in listing.stdout
    assert str(target / "vdsl" / "_data" / "specs") in listing.stdout
    spec = elsewhere / "uses_bundled.vspec"
    spec.write_text('import "pg74.vspec"\n', encoding="utf-8")
    run = vdsl("run", str(spec), "--program", "supervisor_call")
    assert run.returncode == 0, run.stderr
    assert "A = 107" in run.stdout
    # The wheel registers the .vspec lexer: Pygments finds it by its alias.
    lexed = subprocess.run([sys.executable, "-m", "pygments", "-l", "vspec", "-f", "raw", str(spec)], cwd=elsewhere,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
    assert lexed.returncode == 0, lexed.stderr
    assert lexed.stdout.startswith("Token.Keyword\t'import'\n")
