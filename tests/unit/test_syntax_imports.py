"""Loading files and their imports (`vdsl.syntax.imports`): each file once, cycles, missing files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from vdsl import SpecError, compile_files, compile_text
from vdsl.phases import Compilation

BASE = """\
machine m {
    word 16
    memory E[256]
    modes { supervisor > user }
    reg A
    reg P pc
}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder, so that diagnostics show short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(*paths: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        compile_files(*paths)
    return [d.render() for d in caught.value.diagnostics]


def test_relative_import_from_a_subfolder(folder: Path) -> None:
    write(folder, "base.vspec", BASE)
    write(folder, "sub/isa.vspec", 'import "../base.vspec"\nisa i for m { inst H { halt } }\n')
    write(folder, "main.vspec", 'import "sub/isa.vspec"\nprogram p on i { H }\n')
    spec = compile_files("main.vspec")
    assert ([m.name for m in spec.machines], [i.name for i in spec.isas], [p.name for p in spec.programs]) \
        == (["m"], ["i"], ["p"])


def test_diamond_import_loads_the_shared_file_once(folder: Path) -> None:
    write(folder, "base.vspec", BASE)
    write(folder, "sub/left.vspec", 'import "../base.vspec"\nisa left for m { inst L { halt } }\n')
    write(folder, "sub/right.vspec", 'import "../base.vspec"\nisa right for m { inst R { halt } }\n')
    write(folder, "top.vspec", 'import "sub/left.vspec"\nimport "sub/right.vspec"\nprogram p on left { L }\n')
    compilation = Compilation(["top.vspec"])
    loaded = [Path(module.path).resolve() for module in compilation.modules]
    assert loaded.count((folder / "base.vspec").resolve()) == 1
    assert loaded[0] == (folder / "base.vspec").resolve(), "dependencies come first"
    assert loaded[-1] == (folder / "top.vspec").resolve()
    assert [i.name for i in compilation.spec.isas] == ["left", "right"]


def test_two_files_given_that_import_the_same_file(folder: Path) -> None:
    write(folder, "base.vspec", BASE)
    write(folder, "a.vspec", 'import "base.vspec"\nisa a for m { inst H { halt } }\n')
    write(folder, "b.vspec", 'import "base.vspec"\nisa b for m { inst H { halt } }\n')
    spec = compile_files("a.vspec", "b.vspec")
    assert [m.name for m in spec.machines] == ["m"]


def test_missing_imports_are_all_reported(folder: Path) -> None:
    write(folder, "base.vspec", BASE)
    write(folder, "main.vspec", 'import "nope.vspec"\nimport "base.vspec"\nimport "also/missing.vspec"\n')
    assert errors_of("main.vspec") == [
        "main.vspec:1:1: error[V018]: cannot find imported file 'nope.vspec'\n"
        '   1 | import "nope.vspec"\n'
        "     | ^^^^^^^^^^^^^^^^^^^\n"
        "  hint: paths are relative to ./ or name a bundled spec",
        "main.vspec:3:1: error[V018]: cannot find imported file 'also/missing.vspec'\n"
        '   3 | import "also/missing.vspec"\n'
        "     | ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  hint: paths are relative to ./ or name a bundled spec",
    ]


def test_missing_import_hint_names_the_importing_folder(folder: Path) -> None:
    write(folder, "sub/main.vspec", 'import "nope.vspec"\n')
    [error] = errors_of("sub/main.vspec")
    assert error.endswith("  hint: paths are relative to sub/ or name a bundled spec")


def test_missing_imports_of_several_files_are_all_reported(folder: Path) -> None:
    write(folder, "a.vspec", 'import "x.vspec"\n')
    write(folder, "b.vspec", 'import "y.vspec"\n')
    errors = errors_of("a.vspec", "b.vspec")
    assert [e.splitlines()[0] for e in errors] == [
        "a.vspec:1:1: error[V018]: cannot find imported file 'x.vspec'",
        "b.vspec:1:1: error[V018]: cannot find imported file 'y.vspec'",
    ]


def test_import_cycle_names_the_chain(folder: Path) -> None:
    write(folder, "a.vspec", 'import "b.vspec"\n')
    write(folder, "b.vspec", 'import "c.vspec"\n')
    write(folder, "c.vspec", 'import "a.vspec"\n')
    assert errors_of("a.vspec") == [
        "c.vspec:1:1: error[V017]: import cycle: a.vspec -> b.vspec -> c.vspec -> a.vspec\n"
        '   1 | import "a.vspec"\n'
        "     | ^^^^^^^^^^^^^^^^\n"
        "  hint: move the shared declarations into a file both can import",
    ]


def test_a_file_importing_itself_is_a_cycle(folder: Path) -> None:
    write(folder, "self.vspec", BASE + 'import "self.vspec"\n')
    assert errors_of("self.vspec") == [
        "self.vspec:8:1: error[V017]: import cycle: self.vspec -> self.vspec\n"
        '   8 | import "self.vspec"\n'
        "     | ^^^^^^^^^^^^^^^^^^^\n"
        "  hint: move the shared declarations into a file both can import",
    ]


def test_missing_file(folder: Path) -> None:
    assert errors_of("nope.vspec") == [
        "nope.vspec: error[V018]: cannot read 'nope.vspec': No such file or directory\n"
        "  hint: check the path",
    ]


def test_directory_given_as_a_file(folder: Path) -> None:
    (folder / "specs.vspec").mkdir()
    [error] = errors_of("specs.vspec")
    assert error.startswith("specs.vspec: error[V018]: cannot read 'specs.vspec': ")


def test_directory_imported_as_a_file(folder: Path) -> None:
    (folder / "lib.vspec").mkdir()
    write(folder, "main.vspec", 'import "lib.vspec"\n')
    [error] = errors_of("main.vspec")
    assert error.startswith("main.vspec:1:1: error[V018]: cannot find imported file 'lib.vspec'")


def test_unreadable_file(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write(folder, "locked.vspec", BASE)
    if os.name == "posix" and os.geteuid() != 0:
        locked.chmod(0)
    else:  # root reads anything: make the read fail as it would for another user
        real_open = Path.open

        def open_file(path: Path, *args: Any, **kwargs: Any) -> Any:
            if path.name == "locked.vspec":
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(Path, "open", open_file)
    write(folder, "main.vspec", 'import "locked.vspec"\n')
    try:
        assert errors_of("main.vspec") == [
            "locked.vspec: error[V018]: cannot read 'locked.vspec': Permission denied\n"
            "  hint: check the path",
        ]
    finally:
        locked.chmod(0o644)


def test_a_file_that_is_not_utf8_says_so(folder: Path) -> None:
    # A Latin-1 name shows up as U+FFFD; the user must learn that the encoding is the problem.
    (folder / "latin1.vspec").write_bytes(BASE.replace("machine m", "machine caf\xe9").encode("latin-1"))
    [error] = errors_of("latin1.vspec")
    assert "UTF-8" in error, error


def test_syntax_error_in_an_imported_file_names_that_file(folder: Path) -> None:
    write(folder, "broken.vspec", "machine x {\n  word 16\n")
    write(folder, "main.vspec", 'import "broken.vspec"\n')
    assert errors_of("main.vspec") == [
        "broken.vspec:2:10: error[V003]: machine 'x' is not closed: '}' is missing\n"
        "   2 |   word 16\n"
        "     |          ^\n"
        "broken.vspec:1:1: note: machine 'x' starts here\n"
        "   1 | machine x {\n"
        "     | ^^^^^^^^^^^\n"
        "  hint: add '}' where machine 'x' ends",
    ]


def test_duplicate_across_files_names_the_first_file(folder: Path) -> None:
    write(folder, "base.vspec", BASE)
    write(folder, "main.vspec", 'import "base.vspec"\nmachine m { word 8 }\n')
    [error] = errors_of("main.vspec")
    assert error.splitlines()[:5] == [
        "main.vspec:2:1: error[V011]: machine 'm' is defined twice",
        "   2 | machine m { word 8 }",
        "     | ^^^^^^^^^^^^^^^^^^^^",
        "base.vspec:1:1: note: first defined here",
        "   1 | " + BASE.splitlines()[0],
    ]


def test_bundled_spec_imported_by_name(folder: Path) -> None:
    write(folder, "mine.vspec", 'import "pg74.vspec"\n'
                                "isa mine extends pg74 { inst NOP { } }\n"
                                "program q on mine { NOP HALT }\n")
    spec = compile_files("mine.vspec")
    mine = spec.isa("mine")
    assert mine is not None and mine.machine.name == "pg74"
    assert mine.instruction("LPSW") is not None and mine.instruction("NOP") is not None
    assert {p.name for p in spec.programs} == {"supervisor_call", "bounds_fault", "user_task", "whoami",
                                               "retu_boot", "where", "takeover", "q"}


def test_a_local_file_shadows_a_bundled_spec(folder: Path) -> None:
    write(folder, "pg74.vspec", BASE)
    write(folder, "main.vspec", 'import "pg74.vspec"\n')
    spec = compile_files("main.vspec")
    assert [m.name for m in spec.machines] == ["m"]


def test_compile_text_follows_imports() -> None:
    # compile_text says its imports are relative to the current folder: an import it cannot
    # find must not be dropped silently, and a bundled spec must be found by name.
    with pytest.raises(SpecError) as caught:
        compile_text('import "no-such-file.vspec"\n', "text.vspec")
    assert [d.code for d in caught.value.diagnostics] == ["V018"]
    spec = compile_text('import "pg74.vspec"\nisa mine extends pg74 { }\n', "text.vspec")
    assert [i.name for i in spec.isas] == ["pg74", "pg74_getm", "pg74_lpa", "pg74_retu", "pg74_flat", "mine"]
