"""Backend `plain`: the reference semantics, executed in the clear.

It runs exactly the arithmetic the secret-sharing backends compute (Z_2^64 wrap-around,
fixed point with explicit truncation, sign-bit comparisons), one vectorized numpy
operation per node, and is what every other backend is checked against. Unlike them it
can see the values, so it also stops when a fixed value overflows (veil.backend.overflow).
"""

from __future__ import annotations

import os

import numpy as np

from veil.backend import overflow
from veil.backend.base import RunResult
from veil.ir.nodes import Circuit
from veil.ir.semantics import apply


class PlainBackend:
    """Runs the reference semantics; with `check_overflow` (the default) it stops with
    V0802, naming the line, when a fixed value actually overflows."""

    name = "plain"

    def __init__(self, check_overflow: bool = True) -> None:
        self.check_overflow = check_overflow

    def run(self, circuit: Circuit, inputs: dict[str, np.ndarray]) -> RunResult:
        values: dict[int, np.ndarray] = {}
        seed = os.urandom(16)  # this run's shuffles
        by_node = {spec.node: spec.name for spec in circuit.inputs}
        for node in circuit.nodes:
            if node.op == "input":
                values[node.id] = np.asarray(inputs[by_node[node.id]])
            else:
                args = [values[a] for a in node.args]
                values[node.id] = apply(node, args, seed)
                if self.check_overflow:
                    overflow.check(circuit, node, args, values[node.id])
        outputs = {o.name: values[o.node] for o in circuit.outputs}
        return RunResult(outputs, {"backend": self.name, "nodes": len(circuit)})


BACKENDS = {"plain": PlainBackend}
