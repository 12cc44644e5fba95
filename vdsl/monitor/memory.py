"""A virtual machine's memory: a window of the real memory, as compiled code sees a list.

A guest's words [0, size) live at real addresses [offset, offset + size).  On a machine
without relocation the window starts at 0 and may hold words the monitor owns (its trap
areas): the guest's own values of those words are kept apart, in `kept`, so that the
guest's view and the monitor's words never mix.  Views compose: the memory of a guest of a
nested monitor is a window of its monitor's virtual memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableSequence
from typing import overload


class PartitionMemory:
    """Words [0, size) of a guest, stored at `offset` in `real` (except the `kept` words)."""

    __slots__ = ("kept", "offset", "real", "size")

    def __init__(self, real: MutableSequence[int], offset: int, size: int,
                 kept: dict[int, int] | None = None) -> None:
        assert offset >= 0 and offset + size <= len(real)
        self.real = real
        self.offset = offset
        self.size = size
        self.kept = kept if kept is not None else {}

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, address: int) -> int: ...

    @overload
    def __getitem__(self, address: slice) -> list[int]: ...

    def __getitem__(self, address: int | slice) -> int | list[int]:
        if isinstance(address, slice):
            return [self[a] for a in range(*address.indices(self.size))]
        if not 0 <= address < self.size:
            raise IndexError(address)
        kept = self.kept
        if kept and address in kept:
            return kept[address]
        return self.real[self.offset + address]

    def __setitem__(self, address: int, value: int) -> None:
        if not 0 <= address < self.size:
            raise IndexError(address)
        if self.kept and address in self.kept:
            self.kept[address] = value
        else:
            self.real[self.offset + address] = value

    def __iter__(self) -> Iterator[int]:
        return iter(self.words())

    def words(self) -> list[int]:
        """All the guest's words, as a list (for comparisons and reports)."""
        if isinstance(self.real, list):
            words = self.real[self.offset:self.offset + self.size]
        else:
            words = [self.real[self.offset + a] for a in range(self.size)]
        for address, value in self.kept.items():
            words[address] = value
        return words


class WatchView:
    """The compiled-code watch of the real emulator, seen from a guest's addresses: a write
    the monitor makes to a guest word holding real compiled code forgets that code."""

    __slots__ = ("kept", "offset", "watch")

    def __init__(self, watch: dict[int, Callable[[int], None]] | WatchView, offset: int,
                 kept: dict[int, int]) -> None:
        self.watch = watch
        self.offset = offset
        self.kept = kept

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and address not in self.kept and address + self.offset in self.watch

    def __getitem__(self, address: int) -> Callable[[int], None]:
        real = address + self.offset
        forget = self.watch[real]
        return lambda _: forget(real)
