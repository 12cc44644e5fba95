"""Every diagram of every bundled spec, as DOT, against the gallery's files (which are the golden
files): `vdsl diagram SPEC --kind all --format dot` must write exactly the files of
`docs/gallery/SPEC/`.  Refresh with `VDSL_UPDATE_GOLDEN=1 pytest tests/golden` (then render the
images with the command in `docs/gallery.md` and look at them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from vdsl.cli import main

GALLERY = ROOT / "docs" / "gallery"
BUNDLED = ["pg74", "pdp10", "x86-32", "stacks", "m68k", "riscv", "s370", "armv7"]


def draw_all(spec: str, folder: Path, fmt: str = "dot") -> dict[str, bytes]:
    assert main(["diagram", str(SPECS / f"{spec}.vspec"), "--kind", "all", "--format", fmt, "-o",
                 str(folder)]) == 0
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("spec", BUNDLED)
def test_every_diagram_matches_the_gallery(spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drawn = draw_all(spec, tmp_path / spec)
    capsys.readouterr()
    golden = GALLERY / spec
    if os.environ.get("VDSL_UPDATE_GOLDEN"):
        golden.mkdir(parents=True, exist_ok=True)
        for stale in golden.glob("*.dot"):
            stale.unlink()
        for name, data in drawn.items():
            (golden / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in sorted(golden.glob("*.dot"))}
    assert sorted(drawn) == sorted(expected)
    for name, data in drawn.items():
        assert data == expected[name], f"{spec}/{name} differs from the gallery's"


def test_the_same_spec_gives_byte_identical_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = draw_all("pg74", tmp_path / "one")
    second = draw_all("pg74", tmp_path / "two")
    capsys.readouterr()
    assert first == second


def svg_texts(svg: bytes) -> list[str]:
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    return [t.text or "" for t in root.iter() if t.tag.endswith("text")]


@pytest.mark.parametrize("spec", BUNDLED)
def test_every_gallery_image_is_an_svg_of_its_diagram(spec: str) -> None:
    # The committed SVG must show what its DOT says today: the same texts as a fresh rendering
    # (the geometry may differ between graphviz versions, the words may not).
    for dot in sorted((GALLERY / spec).glob("*.dot")):
        svg = dot.with_suffix(".svg")
        assert svg.exists(), f"{svg} is missing: render the gallery (docs/gallery.md)"
        fresh = subprocess.run(["dot", "-Tsvg", str(dot)], capture_output=True, check=True).stdout
        assert svg_texts(svg.read_bytes()) == svg_texts(fresh), f"{svg} is stale: render the gallery"
    assert sorted(p.stem for p in (GALLERY / spec).glob("*.svg")) == sorted(
        p.stem for p in (GALLERY / spec).glob("*.dot"))


def test_rendering_needs_and_finds_dot() -> None:
    # CI installs graphviz (the README's test command): the rendering tests must not skip there.
    assert shutil.which("dot") is not None, "graphviz's dot is not installed: apt-get install graphviz"
