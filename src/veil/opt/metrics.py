"""What a pass changes, measured on the circuit: multiplications, AND gates, depth."""

from __future__ import annotations

from dataclasses import dataclass

from veil.ir.nodes import Circuit
from veil.ir.ops import MAYBE_INTERACTIVE, is_interactive
from veil.types import WORD


@dataclass(frozen=True)
class Metrics:
    nodes: int
    interactive: int  # elements of interactive ops
    multiplications: int  # reshares of secret products: mul elements + matmul outputs
    and_gates: int  # AND gates in bits (a word AND is 64)
    depth: int  # longest chain of interactive ops = rounds of the compute phase


def measure(circuit: Circuit) -> Metrics:
    interactive = mults = ands = 0
    level: dict[int, int] = {}
    depth = 0
    index = circuit._index  # the circuit's own map of nodes: no new one per pass
    for n in circuit.nodes:
        inter = n.op in MAYBE_INTERACTIVE and \
            is_interactive(n.op, [index[a].type for a in n.args])
        lv = 0
        for a in n.args:  # a loop, not max() of a generator: this runs per node per pass
            if level[a] > lv:
                lv = level[a]
        if inter:
            lv += 1
        level[n.id] = lv
        if lv > depth:
            depth = lv
        if not inter:
            continue
        size = n.type.size
        interactive += size
        if n.op in ("mul", "matmul"):
            mults += size
        elif n.op in ("and", "or"):
            ands += size * (64 if n.type.base == WORD else 1)
    return Metrics(len(circuit), interactive, mults, ands, depth)
