"""SARIF 2.1.0 (`--format sarif`): the findings of a check or a run as one static-analysis log, for
GitHub code scanning and other SARIF viewers.

One run of one tool (vdsl): a rule for every code the findings use, a result per finding with its
place in the spec (and the other places it is about, as related locations), and one invocation
that says whether vdsl did what was asked.  Paths are made relative to the folder vdsl ran in
(`%SRCROOT%`) where they can be, so a viewer finds them in the repository; columns count Unicode
code points, as vdsl's do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vdsl import __version__
from vdsl.report.codes import CODES, DIAGNOSTIC_CODES
from vdsl.report.findings import Finding
from vdsl.source import Span

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"
_LEVELS = {"error": "error", "warning": "warning", "notice": "note"}


def convert(findings: Sequence[Finding], root: Path, failure: str | None = None) -> dict[str, Any]:
    """The SARIF log of `findings`; `root` is the folder relative paths start from, `failure` what
    stopped vdsl from doing what was asked (a bad request, a crash), if anything did."""
    codes = sorted({f.code for f in findings})
    invocation: dict[str, Any] = {"executionSuccessful": failure is None}
    if failure is not None:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": failure}}]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "vdsl",
                "version": __version__,
                "rules": [_rule(code) for code in codes],
            }},
            "invocations": [invocation],
            "originalUriBaseIds": {SOURCE_ROOT: {"uri": _folder(root).as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, codes.index(f.code), root) for f in findings],
        }],
    }


def _rule(code: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": code, "shortDescription": {"text": CODES.get(code, code)}}
    if code in DIAGNOSTIC_CODES:
        rule["help"] = {"text": f"See docs/reference/diagnostics.md#{diagnostic_anchor(code)}"}
    return rule


def diagnostic_anchor(code: str) -> str:
    """The anchor of the code's section in the diagnostics reference, as GitHub makes them."""
    return re.sub(r"[^\w\- ]", "", f"{code}: {DIAGNOSTIC_CODES[code]}".lower()).replace(" ", "-")


def _result(finding: Finding, rule_index: int, root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"ruleId": finding.code, "ruleIndex": rule_index,
                              "level": _LEVELS[finding.level], "message": {"text": finding.message}}
    file = finding.span.file if finding.span is not None else finding.file
    if file is not None:
        result["locations"] = [{"physicalLocation": _physical(file, finding.span, root)}]
    if finding.related:
        result["relatedLocations"] = [
            {"id": number, "physicalLocation": _physical(related.span.file, related.span, root),
             "message": {"text": related.message}} for number, related in enumerate(finding.related, 1)]
    return result


def _physical(file: str, span: Span | None, root: Path) -> dict[str, Any]:
    where: dict[str, Any] = {"artifactLocation": _artifact(file, root)}
    if span is not None:
        where["region"] = {"startLine": span.line, "startColumn": span.column,
                           "endLine": span.end_line, "endColumn": span.end_column}
    return where


def _artifact(file: str, root: Path) -> dict[str, str]:
    """The file relative to `root` when it lies inside it, else an absolute file URI."""
    base = _folder(root)
    path = Path(os.path.normpath(base / file))
    if path.is_relative_to(base):
        return {"uri": quote(path.relative_to(base).as_posix()), "uriBaseId": SOURCE_ROOT}
    return {"uri": path.as_uri()}


def _folder(root: Path) -> Path:
    # normpath, not resolve: a path through a symlink keeps its name, as the user gave it
    return Path(os.path.normpath(root.absolute()))
