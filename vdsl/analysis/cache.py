"""A persistent cache of decided questions: re-checking an unchanged spec costs seconds.

An entry is one job's result (an instruction's answers, or its policy check), stored under a
hash of everything the result depends on: the job's own text (`identity`: the instruction, the
machine, the guest context, the question's options) and the code that decides it (vdsl's version
and a fingerprint of its sources, so that a changed analysis never reads an old answer).  A
changed instruction changes only its own key: it alone is decided again.

The entry keeps the whole key text and is used only when it matches (a hash collision is a miss,
not a wrong answer); entries are written atomically, and one that cannot be read is a miss, never
a crash.  The folder: `$VDSL_CACHE_DIR`, else `$XDG_CACHE_HOME/vdsl`, else `~/.cache/vdsl`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Protocol

from vdsl import __version__

FORMAT = 1  # the layout of an entry; a new one leaves the old entries unread


class Keyed(Protocol):
    """What the cache needs of a job: the text its result depends on."""

    def identity(self) -> str: ...


def cache_dir() -> Path:
    """Where the cache lives: `$VDSL_CACHE_DIR`, `$XDG_CACHE_HOME/vdsl`, or `~/.cache/vdsl`."""
    chosen = os.environ.get("VDSL_CACHE_DIR")
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vdsl"


@functools.cache
def code_fingerprint() -> str:
    """vdsl's version and a hash of its Python sources: answers are only as good as the code that
    gave them, and a development checkout changes without a new version."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return f"vdsl {__version__} {digest.hexdigest()[:16]}"


class DiskCache:
    """Decided questions on disk, one file per job result, under `directory`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = (directory if directory is not None else cache_dir()) / f"questions-{FORMAT}"

    def key(self, job: Keyed) -> tuple[str, str]:
        """The file name of a job's entry, and the full text it must store."""
        text = f"{code_fingerprint()}\n{job.identity()}"
        return hashlib.sha256(text.encode()).hexdigest(), text

    def path(self, name: str) -> Path:
        return self.directory / name[:2] / name

    def get(self, job: Keyed) -> bytes | None:
        """The stored result of `job` (as `put` was given it), or None: not stored, stored under
        another key with the same hash, or unreadable."""
        name, text = self.key(job)
        try:
            # the user's own cache folder, written by vdsl: trusted as the user's files are
            entry: Any = pickle.loads(self.path(name).read_bytes())  # noqa: S301
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a miss, whatever it holds
            return None
        if not isinstance(entry, dict) or entry.get("key") != text:
            return None
        result = entry.get("result")
        return result if isinstance(result, bytes) else None

    def put(self, job: Keyed, result: bytes) -> None:
        """Store `result` for `job`, atomically (a reader sees the whole entry or none); a cache
        that cannot be written is no cache, not an error."""
        name, text = self.key(job)
        target = self.path(name)
        with contextlib.suppress(OSError):
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as file:
                    pickle.dump({"key": text, "result": result}, file, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
