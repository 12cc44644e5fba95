"""Where the grammar and the bundled specs live, installed or in a checkout.

The wheel ships the top-level `grammar/` and `specs/` folders as `vdsl/_data/...`; in a
source checkout (or an editable install) they are found beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder `name` (`grammar` or `specs`), wherever this vdsl was installed from."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


def grammar_path() -> Path:
    return data_dir("grammar") / "vspec.lark"


def bundled_specs() -> list[Path]:
    return sorted(data_dir("specs").glob("*.vspec"))
