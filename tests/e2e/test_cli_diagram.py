"""`vdsl diagram` as a user runs it: DOT, rendered SVG and PNG, and its errors."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import SPECS, run_vdsl

PG74 = str(SPECS / "pg74.vspec")


def svg_texts(path: Path) -> str:
    root = ElementTree.parse(path).getroot()  # well-formed XML
    return " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))


def test_dot_goes_to_standard_output_and_is_the_same_every_time() -> None:
    first = run_vdsl("diagram", PG74, "--kind", "classes", "--isa", "pg74_getm")
    second = run_vdsl("diagram", PG74, "--kind", "classes", "--isa", "pg74_getm", "-o", "-")
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.startswith("digraph classes {")
    assert first.stdout == second.stdout


@pytest.mark.parametrize(("kind", "subject", "labels"), [
    ("classes", ["--isa", "pg74_getm"], ["GETM", "LPSW", "privileged", "T1:", "fails (1)"]),
    ("rings", ["--scenario", "getm"], ["supervisor", "user", "pg_monitor", "deprivileged"]),
    ("layers", ["--scenario", "two_guests"], ["pg_monitor", "supervisor_call", "user_task", "pg74"]),
    ("traps", ["--scenario", "two_guests"], ["dispatcher D", "LPSW", "17", "5 traps"]),
    ("schedule", ["--scenario", "two_guests"], ["kernel", "task", "20"]),
])
def test_each_kind_renders_to_svg_with_its_labels(tmp_path: Path, kind: str, subject: list[str],
                                                  labels: list[str]) -> None:
    target = tmp_path / f"{kind}.svg"
    result = run_vdsl("diagram", PG74, "--kind", kind, *subject, "-o", str(target))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    texts = svg_texts(target)
    for label in labels:
        assert label in texts, label


def test_png_and_pdf_from_the_extension(tmp_path: Path) -> None:
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        target = tmp_path / f"rings.{ext}"
        assert run_vdsl("diagram", PG74, "--kind", "rings", "--hypervisor", "pg_monitor", "-o",
                        str(target)).returncode == 0
        assert target.read_bytes().startswith(magic)


def test_all_kinds_into_a_folder(tmp_path: Path) -> None:
    result = run_vdsl("diagram", str(SPECS / "stacks.vspec"), "--kind", "all", "-o", str(tmp_path / "out"))
    assert result.returncode == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["layers-docker_host.svg", "layers-jvm_desktop.svg"]
    assert result.stdout.splitlines() == [str(tmp_path / "out" / n) for n in names]
    assert "nginx 1.25" in svg_texts(tmp_path / "out" / "layers-docker_host.svg")


def test_one_kind_into_an_existing_folder(tmp_path: Path) -> None:
    result = run_vdsl("diagram", PG74, "--kind", "rings", "--isa", "pg74", "--format", "png", "-o", str(tmp_path))
    assert (result.returncode, result.stdout) == (0, f"{tmp_path / 'rings.png'}\n")
    assert (tmp_path / "rings.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "layers"], "error: the files have several things --kind layers can draw (two_guests, getm, "
                           "retu, retu_hybrid, lpa, takeover); choose one with --scenario NAME or --hypervisor NAME or "
                           "--stack NAME"),
    (["--kind", "classes", "--scenario", "getm"], "error: --kind classes draws an isa, not a scenario"),
    (["--kind", "rings", "--scenario", "getn"], "error: there is no scenario 'getn'; did you mean 'getm'?"),
    (["--kind", "rings", "--isa", "pg74", "-o", "out.jpg"],
     "error: cannot tell the format of 'out.jpg' from its extension; use .dot, .svg, .png or .pdf, or give "
     "--format"),
    (["--kind", "rings", "--isa", "pg74", "--format", "png"],
     "error: png is written to a file: give one with -o FILE.png"),
    (["--kind", "all"], "error: --kind all writes one file per diagram: give a folder with -o DIR"),
])
def test_errors_are_clear_and_exit_2(args: list[str], message: str) -> None:
    result = run_vdsl("diagram", PG74, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == message + "\n"


def test_nothing_to_draw(tmp_path: Path) -> None:
    (tmp_path / "empty.vspec").write_text('import "pg74.vspec"\n', encoding="utf-8")
    result = run_vdsl("diagram", "empty.vspec", "--kind", "traps", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "error: the files declare no scenario\n")


def test_a_missing_dot_binary_is_named_with_how_to_install_it(tmp_path: Path) -> None:
    # A PATH with python and nothing else: no `dot`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    result = run_vdsl_env({"PATH": str(bin_dir)}, "diagram", PG74, "--kind", "rings", "--isa", "pg74", "-o",
                          str(tmp_path / "r.svg"))
    assert result.returncode == 2
    assert result.stderr == ("error: rendering SVG needs graphviz's `dot` program, which is not installed: "
                             "install graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                             "graphviz), or write DOT with -o FILE.dot\n")
    assert not (tmp_path / "r.svg").exists()
    # DOT needs no `dot`
    assert run_vdsl_env({"PATH": str(bin_dir)}, "diagram", PG74, "--kind", "rings", "--isa", "pg74", "-o",
                        str(tmp_path / "r.dot")).returncode == 0


def run_vdsl_env(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run([sys.executable, "-m", "vdsl.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300, check=False)
