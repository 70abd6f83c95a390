"""Backend `plain`: the reference semantics, executed in the clear.

It runs exactly the arithmetic the secret-sharing backends compute (Z_2^64 wrap-around,
fixed point with explicit truncation, sign-bit comparisons), one vectorized numpy
operation per node, and is what every other backend is checked against.
"""

from __future__ import annotations

import os

import numpy as np

from veil.backend.base import RunResult
from veil.ir.nodes import Circuit
from veil.ir.semantics import apply


class PlainBackend:
    name = "plain"

    def run(self, circuit: Circuit, inputs: dict[str, np.ndarray]) -> RunResult:
        values: dict[int, np.ndarray] = {}
        seed = os.urandom(16)  # this run's shuffles
        by_node = {spec.node: spec.name for spec in circuit.inputs}
        for node in circuit.nodes:
            if node.op == "input":
                values[node.id] = np.asarray(inputs[by_node[node.id]])
            else:
                values[node.id] = apply(node, [values[a] for a in node.args], seed)
        outputs = {o.name: values[o.node] for o in circuit.outputs}
        return RunResult(outputs, {"backend": self.name, "nodes": len(circuit)})


BACKENDS = {"plain": PlainBackend}
