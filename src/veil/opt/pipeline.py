"""The pass pipeline: the registry of passes, the optimization levels, and a record of
what each pass changed (nodes, multiplications, AND gates, depth before and after)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from veil.ir.nodes import Circuit
from veil.opt import (
    constant_fold,
    cse,
    dead_code,
    dot_fusion,
    free_ops,
    monotone,
    rebalance,
    trunc_compare,
)
from veil.opt.metrics import Metrics, measure

PASSES: dict[str, ModuleType] = {
    m.NAME: m
    for m in (constant_fold, monotone, free_ops, dot_fusion, trunc_compare, rebalance, cse,
              dead_code)
}

LEVELS: dict[int, tuple[str, ...]] = {
    0: (),
    # dead-code first: the later passes then see only what an output needs (a program
    # whose statements are mostly unused checks about twice as fast).
    1: ("dead-code", "constant-fold", "cse", "dead-code"),
    2: ("dead-code", "constant-fold", "cse", "monotone", "free-ops", "dot-fusion",
        "trunc-compare", "rebalance", "cse", "dead-code"),
}
DEFAULT_LEVEL = 2
PROTOCOL_PASSES = ("constant-fold", "cse", "dead-code")
"""Run again after lowering to protocol primitives (there: identical conversions once)."""


@dataclass(frozen=True)
class PassRecord:
    """What one pass did, measured before and after it."""

    name: str
    before: Metrics
    after: Metrics

    def as_dict(self) -> dict:
        return {"name": self.name,
                **{f"{k}_before": v for k, v in vars(self.before).items()},
                **{f"{k}_after": v for k, v in vars(self.after).items()}}


def record(name: str, before: Circuit, after: Circuit) -> PassRecord:
    return PassRecord(name, measure(before), measure(after))


def parse_passes(text: str) -> tuple[str, ...]:
    """A comma-separated pass list; ValueError naming the unknown ones."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise ValueError(f"unknown pass(es): {', '.join(unknown)}; "
                         f"passes: {', '.join(PASSES)}")
    return names


def selected(level: int, passes: tuple[str, ...] | None) -> tuple[str, ...]:
    """The passes `optimize` runs for this level or explicit list."""
    return passes if passes is not None else LEVELS[level]


def optimize(circuit: Circuit, level: int = 1, passes: tuple[str, ...] | None = None,
             verify: Callable[[Circuit], None] | None = None,
             on_pass: Callable[[str], None] | None = None, measured: bool = True
             ) -> tuple[Circuit, list[PassRecord]]:  # fmt: skip
    """Run the passes of `level` (or the named `passes`) in order; record each.
    `on_pass(name)` is called as each pass starts (progress on long compiles).
    `measured=False` skips the records (a pass over the circuit each: `veil check`,
    which shows none of them, saves that time on long programs)."""
    names = selected(level, passes)
    records: list[PassRecord] = []
    before = measure(circuit) if names and measured else None
    for name in names:
        if on_pass is not None:
            on_pass(name)
        circuit = PASSES[name].run(circuit)
        if verify is not None:
            verify(circuit)
        if not measured:
            continue
        after = measure(circuit)
        assert before is not None
        records.append(PassRecord(name, before, after))
        before = after
    return circuit, records
