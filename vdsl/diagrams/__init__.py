"""Graphviz diagrams: each kind a pure function from a subject to a `graphviz.Digraph`.

| kind | subjects | drawn from |
|---|---|---|
| layers | scenario, hypervisor, stack | the spec |
| rings | scenario, hypervisor, isa | the spec |
| classes | isa | its classification |
| traps | scenario | a run of it |
| schedule | scenario | a run of it |
"""

from __future__ import annotations

from vdsl.diagrams.classes import classes
from vdsl.diagrams.layers import layers
from vdsl.diagrams.rings import rings
from vdsl.diagrams.runs import schedule, trap_flow

__all__ = ["classes", "layers", "rings", "schedule", "trap_flow"]
