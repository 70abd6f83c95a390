"""Pass `math-lower`: expand division by a secret and the elementary functions into the
circuit's own operations (products, truncations, bit conversions, comparisons), so that
the optimizer, the cost report and every backend see each of them.

Until this pass a math function is one node (`div`, `recip`, `exp`, `log`, `sqrt`,
`sigmoid`; veil.ir.ops.MATH) carrying the program's fractional bits: the optimizer
folds it when its argument is public, the monotone pass evaluates it, and the range
analysis knows its domain and its range. Both of those use `evaluate`, which runs the
very expansion this pass emits on cleartext values: there is one definition of what
a math node computes. The algorithms are in veil.ir.fx_normalized (division,
reciprocal, log, sqrt) and veil.ir.fx_exp (exp, sigmoid); docs/numerics.md gives
their domains, errors and costs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from veil.ir import fx_exp, fx_normalized
from veil.ir.fx_emit import Emit, GraphEmit, Handle, ValueEmit
from veil.ir.nodes import Circuit, Node
from veil.ir.ops import MATH
from veil.types import FIXED

NAME = "math-lower"
SUMMARY = "expand secret division, exp, log, sqrt and sigmoid into products and comparisons"

Expansion = Callable[..., Handle]
EXPANSIONS: dict[str, Expansion] = {
    "div": fx_normalized.divide,
    "recip": fx_normalized.reciprocal,
    "log": fx_normalized.log,
    "sqrt": fx_normalized.sqrt,
    "exp": fx_exp.exp,
    "sigmoid": fx_exp.sigmoid,
}
assert set(EXPANSIONS) == MATH


def expand_values(e: Emit, op: str, args: Sequence[Handle]) -> Handle:
    """The expansion of one math op on operands of any (common) shape."""
    shape = e.type(args[0]).shape
    for a in args[1:]:
        shape = np.broadcast_shapes(shape, e.type(a).shape)
    flat = []
    for a in args:
        if e.type(a).shape != shape:
            a = e.op("broadcast", (a,), shape=shape)
        size = int(np.prod(shape, dtype=np.int64))
        flat.append(e.op("reshape", (a,), shape=(size,)) if shape != (size,) else a)
    out = EXPANSIONS[op](e, *flat)
    return out if shape == e.type(out).shape else e.op("reshape", (out,), shape=shape)


def evaluate(node: Node, args: Sequence[np.ndarray]) -> np.ndarray:
    """What a math node computes on cleartext operands (the plain backend's value)."""
    e = ValueEmit(node.attr("frac_bits"))
    handles = [e.value(a, FIXED) for a in args]
    return np.asarray(expand_values(e, node.op, handles)[1])


def run(circuit: Circuit) -> Circuit:
    """Replace every math node by its expansion (spans and function names kept, so the
    cost lands on the line that called it)."""
    if not any(n.op in MATH for n in circuit.nodes):
        return circuit
    from veil.ir.lower import Builder

    b = Builder(circuit.frac_bits)
    rename: dict[int, int] = {}
    for node in circuit.nodes:
        args = tuple(rename[a] for a in node.args)
        b.span, b.fn = node.span, node.fn
        if node.op in MATH:
            e = GraphEmit(b, node.attr("frac_bits"))
            rename[node.id] = expand_values(e, node.op, args)
            continue
        new = replace(node, id=len(b.nodes), args=args)
        b.nodes.append(new)
        rename[node.id] = new.id
    return circuit.with_nodes(b.nodes, rename)
