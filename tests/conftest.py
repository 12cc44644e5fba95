"""Shared helpers: compile spec text, run the installed `vdsl` command."""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from lark import Lark, Token

from vdsl import compile_text
from vdsl.ir.nodes import Spec
from vdsl.resources import grammar_path
from vdsl.syntax.parser import _NamesEverywhere

# The analysis's cache of decided questions: one of its own per test session (shared by the
# session's workers and the commands they run), never the user's.
if "VDSL_CACHE_DIR" not in os.environ:
    os.environ["VDSL_CACHE_DIR"] = tempfile.mkdtemp(prefix="vdsl-test-cache-")
    atexit.register(shutil.rmtree, os.environ["VDSL_CACHE_DIR"], True)

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
DATA = ROOT / "tests" / "data"


def spec_from(text: str, name: str = "test.vspec") -> Spec:
    """Compile dedented spec text (no imports)."""
    return compile_text(textwrap.dedent(text), name)


def run_vdsl(*args: str, cwd: Path | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the vdsl command line in a subprocess, as a user would: this checkout's vdsl, wherever
    the command runs and whichever checkout is installed."""
    return subprocess.run(
        [sys.executable, "-m", "vdsl.cli", *args],
        capture_output=True, text=True, cwd=cwd, input=stdin, timeout=300, check=False, env=checkout_env(),
    )


def checkout_env() -> dict[str, str]:
    """The environment for a subprocess that runs vdsl: this checkout's package first on the path,
    so that a second working tree tests its own code, not the installed checkout's."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write dedented spec text to a file in a temporary folder; returns its path."""
    def write(text: str, name: str = "spec.vspec") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


_COMMENTS: list[Token] = []


@functools.cache
def _comment_collector() -> Lark:
    """vdsl's grammar with lark's own way of keeping comments: a callback on the ignored terminals."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                postlex=_NamesEverywhere(),
                lexer_callbacks={"LINE_COMMENT": _COMMENTS.append, "BLOCK_COMMENT": _COMMENTS.append})


def comment_places(text: str) -> list[tuple[str, str]]:
    """Each comment of spec text (found by lark, not by `vdsl fmt`, without trailing spaces) with
    the code before it on its line, spaces removed: an end-of-line comment that stays after the
    same code, and an own-line comment that stays on a line of its own, keep their places."""
    _COMMENTS.clear()
    _comment_collector().parse(text)
    lines = text.split("\n")
    return [(re.sub(r"[ \t\r]+$", "", str(comment), flags=re.MULTILINE),
             re.sub(r"\s", "", lines[comment.line - 1][:comment.column - 1]))
            for comment in list(_COMMENTS)]


def sarif_errors(log: object) -> list[str]:
    """Where a SARIF log breaks the official SARIF 2.1.0 schema (tests/data/README.md), offline."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in _sarif_validator().iter_errors(log)]


@functools.cache
def _sarif_validator():  # type: ignore[no-untyped-def]
    import jsonschema  # a test dependency; the schema's $refs are all within the file

    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema, format_checker=validator.FORMAT_CHECKER)
