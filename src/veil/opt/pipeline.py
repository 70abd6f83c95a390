"""The pass pipeline: which passes run at each level, with counts before and after each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from veil.ir.nodes import Circuit
from veil.opt import constant_fold, cse, dead_code
from veil.opt.rewrite import interactive_elements

PASSES: dict[str, ModuleType] = {m.NAME: m for m in (constant_fold, cse, dead_code)}

LEVELS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("constant-fold", "cse", "dead-code"),
}


@dataclass(frozen=True)
class PassRecord:
    """What one pass did: node counts and interactive elements before and after."""

    name: str
    nodes_before: int
    nodes_after: int
    interactive_before: int
    interactive_after: int


def record(name: str, before: Circuit, after: Circuit) -> PassRecord:
    return PassRecord(name, len(before), len(after), interactive_elements(before),
                      interactive_elements(after))


def optimize(circuit: Circuit, level: int = 1, passes: tuple[str, ...] | None = None,
             verify: Callable[[Circuit], None] | None = None
             ) -> tuple[Circuit, list[PassRecord]]:  # fmt: skip
    """Run the passes of `level` (or the named `passes`) in order; record each."""
    names = passes if passes is not None else LEVELS[level]
    records = []
    for name in names:
        before = circuit
        circuit = PASSES[name].run(circuit)
        if verify is not None:
            verify(circuit)
        records.append(record(name, before, circuit))
    return circuit, records
