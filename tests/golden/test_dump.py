"""The canonical IR dump of every bundled spec, against its golden file.

Refresh the golden files after an intended change with
`VDSL_UPDATE_GOLDEN=1 python -m pytest tests/golden` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SPECS

from vdsl import compile_files, dump

GOLDEN = Path(__file__).resolve().parent
BUNDLED = sorted(SPECS.glob("*.vspec"))
UPDATE = os.environ.get("VDSL_UPDATE_GOLDEN") == "1"


def test_the_bundled_specs_are_found() -> None:
    assert BUNDLED, f"no bundled specs found in {SPECS}"


@pytest.mark.parametrize("spec", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_dump_matches_the_golden_file(spec: Path) -> None:
    actual = dump(compile_files(spec))
    golden = GOLDEN / f"{spec.stem}.dump"
    if UPDATE:
        golden.write_text(actual, encoding="utf-8")
        return
    if not golden.exists():
        pytest.fail(f"the golden file {golden.relative_to(GOLDEN.parent.parent)} is missing; create it "
                    "with `VDSL_UPDATE_GOLDEN=1 python -m pytest tests/golden` and review it",
                    pytrace=False)
    # compare as lists of lines: pytest then shows which lines differ
    assert actual.splitlines() == golden.read_text(encoding="utf-8").splitlines(), (
        f"the dump of {spec.name} differs from {golden.name}; if the change is intended, refresh "
        "it with `VDSL_UPDATE_GOLDEN=1 python -m pytest tests/golden` and review the diff")


def test_every_golden_file_belongs_to_a_bundled_spec() -> None:
    stale = sorted(p.name for p in GOLDEN.glob("*.dump") if not (SPECS / f"{p.stem}.vspec").exists())
    assert not stale, f"golden files without a bundled spec (delete them): {', '.join(stale)}"
