"""Progress of long work (instructions classified, policies checked, scenarios run), shown on a
terminal only: a bar on standard error that disappears when the work is done.

Off when standard error is not a terminal (a pipe, a file, CI logs) or with `--quiet`, so that
nothing extra ever reaches a log or a test.  `rich` draws it and is imported only when it is on.
The analysis and the monitor know nothing of this: they call `Step` callbacks they are given.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from vdsl.ir.vocabulary import Step


def _nothing(_done: str) -> None:
    return None


class Progress:
    """One command's progress display, or none."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        stream = sys.stderr
        return cls(not quiet and stream is not None and stream.isatty())

    @contextlib.contextmanager
    def shown(self) -> Iterator[Progress]:
        """Draw the bars while the block runs (nothing when off)."""
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        with Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bars:
            self._bar = bars
            try:
                yield self
            finally:
                self._bar = None

    def task(self, what: str, total: int) -> Step:
        """A task of `total` steps; the returned callback marks one done (and names it)."""
        bars = self._bar
        if bars is None:
            return _nothing
        task = bars.add_task(what, total=total)

        def step(done: str) -> None:
            bars.update(task, advance=1, description=f"{what}: {done}" if done else what)

        return step
