"""Pass `constant-fold`: evaluate every operation whose operands are all public constants.

Public values are known at compile time, so after this pass only secret-dependent
operations remain (plus the constants they use) and shuffles, whose permutation is
drawn at run time. Evaluation uses the reference semantics, the same code the plain
backend runs.
"""

from __future__ import annotations

from dataclasses import replace

from veil.ir.nodes import Circuit, Node
from veil.ir.ops import RANDOM
from veil.ir.semantics import apply
from veil.limits import DEFAULT as DEFAULT_LIMITS

NAME = "constant-fold"
SUMMARY = "evaluate operations on public constants at compile time"


MAX_FOLDED = DEFAULT_LIMITS.elements
"""A public value larger than this is left for the backend to compute when the program
runs (a secret `var z: secret int[N] = 0` of 10^10 elements starts from a public
broadcast of 0): folding it would spend its memory at compile time. The checker keeps
public values of the program itself within the `elements` budget (veil.limits)."""


def run(circuit: Circuit) -> Circuit:
    values = {}
    nodes: list[Node] = []
    for node in circuit.nodes:
        if node.op == "const":
            values[node.id] = apply(node, [])
            nodes.append(node)
            continue
        if node.op == "input" or node.op in RANDOM or not all(a in values for a in node.args) \
                or node.type.size > MAX_FOLDED:
            nodes.append(node)
            continue
        value = apply(node, [values[a] for a in node.args])
        values[node.id] = value
        data = tuple(int(x) for x in value.astype("int64").reshape(-1).tolist())
        attrs = tuple(sorted({"base": node.type.base, "shape": tuple(value.shape),
                              "data": data}.items()))
        nodes.append(replace(node, op="const", args=(), attrs=attrs))
    return circuit.with_nodes(nodes)
