"""Run-time overflow check of the `plain` backend: stop, naming the line, when a `fixed`
value actually leaves what the ring can hold.

The same three conditions as the range analysis (veil.analysis.ranges), now on the
actual values: a fixed result that wrapped around 2^64, a product that reaches a
truncation at 2^62 or more (where the rep3 truncation is no longer exact), and a
comparison of fixed values 2^63 or more apart. Wrap-around is detected by recomputing
the operation in float64 from the operands (their error is far below the 2^64 jump of a
wrap). `int` arithmetic is modular by definition and is not checked. Nodes that wrap on
purpose (inside an approximation, where the value is discarded) carry the attribute
`wraps` and are skipped. Secret-shared backends cannot check this without revealing
values: there the range analysis is the check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.ir.nodes import Circuit, Node
from veil.types import FIXED, TRUNC_BITS, fixed_limit_bits

WRAP = 2.0**63
ARITHMETIC = {"add", "sub", "neg", "mul", "matmul", "sum"}


def _float(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.uint64).view(np.int64).astype(np.float64)


def _exact(node: Node, args: Sequence[np.ndarray]) -> np.ndarray:
    a = [_float(x) for x in args]
    if node.op == "add":
        return a[0] + a[1]
    if node.op == "sub":
        return a[0] - a[1]
    if node.op == "neg":
        return -a[0]
    if node.op == "mul":
        return a[0] * a[1]
    if node.op == "matmul":
        return np.matmul(a[0], a[1])
    return np.sum(a[0], axis=node.attr("axis"))


def check(circuit: Circuit, node: Node, args: Sequence[np.ndarray], value: np.ndarray) -> None:
    """Raise V0802 if this node's actual value overflowed."""
    if node.attr("wraps") or not node.args:
        return
    problem = None
    f = circuit.frac_bits
    if node.op == "trunc" and circuit.node(node.args[0]).type.base == FIXED:
        raw = np.abs(_float(args[0]))
        if np.any(raw >= 2.0**TRUNC_BITS):
            problem = (f"a product (or quotient) reaches {float(raw.max()) / 2.0**(2 * f):.4g}"
                       f", beyond the fixed-point range ±2^{fixed_limit_bits(f)}")
    elif node.op == "lt" and circuit.node(node.args[0]).type.base == FIXED:
        gap = np.abs(_float(args[0]) - _float(args[1]))
        if np.any(gap >= WRAP):
            problem = (f"the compared values are {float(gap.max()) / 2.0**f:.4g} apart, too "
                       "far for their difference to be held")
    elif node.op in ARITHMETIC and node.type.base == FIXED:
        exact = np.abs(_exact(node, args))
        if np.any(exact >= WRAP):
            scale = sum(f for a in node.args if circuit.node(a).type.base == FIXED) \
                if node.op in ("mul", "matmul") else f
            what = "product" if scale > f else "value"
            problem = (f"the {what} reaches {float(exact.max()) / 2.0**scale:.4g} and wraps "
                       "around the 64-bit ring")
    if problem is not None:
        raise VeilError([Diagnostic(
            "V0802", f"fixed-point overflow at run time: {problem}", node.span,
            "`veil check` warns (W0602) where this can happen; declare narrower input "
            "ranges, scale the data down, or choose a coarser `precision`")])
