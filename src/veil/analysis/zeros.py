"""Known zeros: the elements of each node that are 0 (or false) whatever the inputs are.

The provenance analysis uses them as masks: a product with a known zero, an `and` with
a known false and the zero terms of a matrix product do not depend on the other
operand. Public values are known outright (evaluated with veil.ir.semantics); a secret
value has known zeros where a public mask put them, and keeps them through the ops that
map 0 to 0 (`sum((x * mask) * y)` does not depend on the rows of y the mask zeroes,
even after dot fusion made it one matrix product). Every rule here is exact: a known
zero is 0 for every input, so dropping what it multiplies is sound.
"""

from __future__ import annotations

import numpy as np

from veil.ir.nodes import Circuit, Node
from veil.ir.semantics import apply, const_array

Mask = np.ndarray | None
"""A bool array in the node's shape, True where the element is known to be 0 / false;
None when no element is."""

MOVES = {"reshape", "transpose", "broadcast", "slice", "update", "concat", "stack",
         "to_bits"}


def subscript(spec: tuple) -> tuple:
    """A slice node's subscript as numpy indexing (as veil.ir.semantics reads it)."""
    return tuple(p[1] if p[0] == "i" else slice(p[1], p[2]) for p in spec)


def move(op: str, node: Node, arrays: list[np.ndarray]) -> np.ndarray:
    """Move per-element facts (set ids, zero masks) the way a data-movement op moves
    values; `arrays` are in the operands' shapes."""
    shape = node.type.shape
    if op == "reshape":
        return np.reshape(arrays[0], shape)
    if op == "transpose":
        return arrays[0].T
    if op == "broadcast":
        return np.broadcast_to(arrays[0], shape)
    if op == "slice":
        return np.asarray(arrays[0][subscript(node.attr("spec"))])
    if op == "update":
        out = np.array(arrays[0], copy=True)
        out[subscript(node.attr("spec"))] = arrays[1]
        return out
    if op == "concat":
        return np.concatenate(arrays, axis=0)
    if op == "stack":
        return np.stack(arrays, axis=0)
    if op == "to_bits":  # every bit of an element comes from that element
        return np.broadcast_to(arrays[0][..., None], shape)
    raise ValueError(f"not a data-movement op: {op}")


class KnownZeros:
    """Known zeros of every node, filled in topological order by `visit`."""

    def __init__(self, circuit: Circuit, budget: int | None = None):
        self.circuit = circuit
        self.budget = budget  # larger secret nodes get no known zeros (sound: fewer zeros)
        self.values: dict[int, np.ndarray] = {}
        self.masks: dict[int, Mask] = {}

    def public(self, node_id: int) -> np.ndarray | None:
        """The value of a node that depends on no input (None for secret nodes)."""
        node = self.circuit.node(node_id)
        if node.type.is_secret or node.op == "input":
            return None
        value = self.values.get(node_id)
        if value is None:
            if node.op == "const":
                value = const_array(node)
            else:
                value = apply(node, [self.public(a) for a in node.args])
            self.values[node_id] = value
        return value

    def of(self, node_id: int) -> Mask:
        if node_id not in self.masks:
            value = self.public(node_id)
            self.masks[node_id] = None if value is None else \
                self._tidy(~np.asarray(value).astype(np.bool_))
        return self.masks[node_id]

    @staticmethod
    def _tidy(mask: np.ndarray | None) -> Mask:
        return mask if mask is not None and mask.any() else None

    def visit(self, node: Node) -> None:
        """Compute the known zeros of a secret node from its operands'."""
        if node.id in self.masks or not node.type.is_secret:
            return
        if self.budget is not None and node.type.size > self.budget:
            self.masks[node.id] = None
            return
        self.masks[node.id] = self._tidy(self._rule(node))

    def _rule(self, node: Node) -> np.ndarray | None:
        op, shape = node.op, node.type.shape
        zs = [self.of(a) for a in node.args]

        def full(z: Mask, like: int) -> np.ndarray:
            arg_shape = self.circuit.node(node.args[like]).type.shape
            return np.zeros(arg_shape, np.bool_) if z is None else np.asarray(z)

        if op in ("mul", "and"):  # a zero (false) either side
            known = [np.broadcast_to(z, shape) for z in zs if z is not None]
            return np.logical_or.reduce(known) if known else None
        if op in ("add", "sub", "xor", "or"):  # zero (false) on both sides
            if any(z is None for z in zs):
                return None
            return np.logical_and.reduce([np.broadcast_to(z, shape) for z in zs])
        if op in ("neg", "trunc", "b2a", "monotone"):
            return zs[0]
        if op == "select":
            cond = self.public(node.args[0])
            if cond is None and (zs[1] is None or zs[2] is None):
                return None
            a, b = (np.broadcast_to(full(zs[k], k), shape) for k in (1, 2))
            return a & b if cond is None else np.where(np.broadcast_to(cond, shape), a, b)
        if op == "sum":
            if zs[0] is None:
                return None
            z = np.broadcast_to(zs[0], self.circuit.node(node.args[0]).type.shape)
            return np.asarray(z.all(axis=node.attr("axis")))
        if op == "matmul":
            if all(z is None for z in zs):
                return None
            a_shape, b_shape = (self.circuit.node(a).type.shape for a in node.args)
            live_a = ~full(zs[0], 0).reshape(-1, a_shape[-1])  # [m, n] (m = 1: a vector)
            live_b = ~full(zs[1], 1).reshape(b_shape[0], -1)  # [n, k]
            terms = live_a.astype(np.int64) @ live_b.astype(np.int64)
            return (terms == 0).reshape(shape)
        if op in MOVES:
            if all(z is None for z in zs):
                return None
            return move(op, node, [full(z, k) for k, z in enumerate(zs)])
        return None
