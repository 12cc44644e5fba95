"""The allocator: which words of memory each guest gets, and where its relocation goes.

Partitions never overlap, and never cover the monitor's own words (its trap areas) when the
machine relocates; on a machine without relocation a guest's addresses are physical, so the
one guest it can hold gets all of memory and the monitor's words inside it are kept apart
(`Partition.kept`).  The allocator is also called whenever a guest changes its relocation
register: it composes the guest's virtual R with the partition, so that the real window
never leaves the partition.
"""

from __future__ import annotations

import attrs

from vdsl.errors import RunError
from vdsl.ir import nodes as ir
from vdsl.ir.layout import trap_words
from vdsl.semantics.bits import extract, insert, mask


@attrs.frozen
class Partition:
    """Real words [offset, offset + size) for one guest; `kept` are the monitor's words
    inside it (only without relocation)."""

    guest: str
    offset: int
    size: int
    kept: frozenset[int] = frozenset()

    def contains(self, address: int) -> bool:
        return self.offset <= address < self.offset + self.size


class Allocator:
    """Partitions the memory of one (real or virtual) machine among the guests of a monitor."""

    def __init__(self, machine: ir.Machine, monitor: str) -> None:
        self.machine = machine
        self.monitor = monitor
        self.reserved = trap_words(machine)  # the monitor's own words
        self.partitions: list[Partition] = []
        self.placed: dict[tuple[int, int, int], int | None] = {}  # relocations already composed

    def allocate(self, guests: list[str], size: int | None) -> list[Partition]:
        """One partition per guest, `size` words each (None: the free memory shared equally)."""
        machine = self.machine
        total = machine.memory.size
        if machine.relocation is None:
            if len(guests) > 1:
                raise RunError(f"machine '{machine.name}' does not relocate addresses, so hypervisor "
                               f"{self.monitor} can hold one guest only, not {len(guests)}: each guest's "
                               "addresses are physical")
            self.partitions = [Partition(guests[0], 0, total, self.reserved)]
            return self.partitions
        free = self.free_runs()
        if size is None:
            size = max((end - start) for start, end in free) // len(guests) if free else 0
        placed: list[Partition] = []
        for guest in guests:
            run = next(((start, end) for start, end in free if end - start >= size), None)
            if run is None or size == 0:
                available = sum(end - start for start, end in free)
                raise RunError(f"hypervisor {self.monitor} cannot give {len(guests)} guest"
                               f"{'s' if len(guests) != 1 else ''} {size} words each: machine "
                               f"'{machine.name}' has {available} free words outside the monitor's "
                               "trap areas; allocate less memory per guest")
            start, end = run
            placed.append(Partition(guest, start, size))
            free[free.index(run)] = (start + size, end)
        self.partitions = placed
        self.check_disjoint()
        return placed

    def free_runs(self) -> list[tuple[int, int]]:
        """The runs of words outside the monitor's own, in address order."""
        runs: list[tuple[int, int]] = []
        start = None
        for address in range(self.machine.memory.size + 1):
            free = address < self.machine.memory.size and address not in self.reserved
            if free and start is None:
                start = address
            elif not free and start is not None:
                runs.append((start, address))
                start = None
        return runs

    def check_disjoint(self) -> None:
        """The allocator's invariant: no word belongs to two guests or to a guest and the monitor."""
        owner: dict[int, str] = {}
        for partition in self.partitions:
            for address in range(partition.offset, partition.offset + partition.size):
                assert address not in owner, f"word {address} given to {owner[address]} and {partition.guest}"
                assert address in partition.kept or address not in self.reserved
                owner[address] = partition.guest

    def relocation(self, partition: Partition, virtual: int) -> int | None:
        """The real relocation register for a guest whose virtual one is `virtual`: the same
        window moved up by the partition's offset, with the bound cut at the partition's end
        (None when the moved base does not fit the base field)."""
        key = (partition.offset, partition.size, virtual)
        if key not in self.placed:
            self.placed[key] = self.compose(partition, virtual)
        return self.placed[key]

    def compose(self, partition: Partition, virtual: int) -> int | None:
        machine = self.machine
        assert machine.relocation is not None
        reg = machine.register(machine.relocation)
        assert reg is not None
        base, bound = reg.field("base"), reg.field("bound")
        assert base is not None and bound is not None
        virtual_base = extract(virtual, base.lo, base.width)
        virtual_bound = extract(virtual, bound.lo, bound.width)
        if virtual_base >= partition.size:  # every access traps, in the virtual machine too
            real_base, real_bound = partition.offset, 0
        else:
            real_base = virtual_base + partition.offset
            real_bound = min(virtual_bound, partition.size - virtual_base)
        if real_base > mask(base.width):
            return None
        value = insert(virtual, reg.width, base.lo, real_base, base.width)
        return insert(value, reg.width, bound.lo, real_bound, bound.width)
