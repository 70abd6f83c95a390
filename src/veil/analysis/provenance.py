"""Analysis `provenance`: for every element of every node, which units (rows) of which
inputs it may depend on.

Each input is a sequence of units along its first axis (a matrix's rows, a vector's
elements, a scalar's one value); for a record-level input (one row per person) a unit
is a record. The analysis walks the circuit once in topological order and gives every
node, per input it depends on, an array of set ids (veil.analysis.rowsets) in the
node's shape, or one id when all elements share a set.

Why on the optimized high-level circuit (`compiled.circuit`) and not the rep3 protocol
circuit: the two compute the same function, so an over-approximation of dependence on
either is one of the other; the high-level ops (`sum`, `@`, a slice) say directly which
elements combine, whereas lowering turns one comparison into dozens of bit operations
(slower to walk, and a chain of ops in a policy error would name gates instead of the
`>` the user wrote).

Sound: an element's set always contains every unit its value can depend on. Each op's
rule over-approximates its semantics (veil.ir.semantics), and an op without a rule
here is treated as mixing all of its operands into every element. Exact where it
matters: slices, constant indices, element updates, reshapes, concatenation and
broadcasting move sets element by element, and known zeros (veil.analysis.zeros:
public zeros, and the zeros a public mask leaves in a secret value) are followed, so a
product with a known zero, an `and` with a known false, an `or` with public true, a
`select` on a public condition and the zero terms of `@` drop the dependence they
mask. Work is per node on whole arrays of ids (numpy), never per element in Python
except for distinct pairs of different sets.

Bounded: a node of more than ELEMENT_BUDGET elements (an all-pairs matrix of two
100,000-row tables has 10^10) is not analysed element by element: it and everything
computed from it get one set per input, the union of all their operands' sets
(sound: it over-approximates dependence), and are marked *coarse*. A coarse value's
record counts are then unknown, so `min_units` reports 1 for it (the cautious answer
for a policy's minimum aggregation) and the flows say the counts are lower bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from veil.analysis.rowsets import EMPTY, SetTable
from veil.analysis.zeros import MOVES, KnownZeros, move
from veil.ir.nodes import Circuit, Node

NAME = "provenance"
SUMMARY = "which rows of which inputs every element may depend on"

Ids = int | np.ndarray
"""One set id for every element, or an int64 array of ids in the node's shape."""
Deps = dict[str, Ids]
"""Input name → ids; an input that is absent is not depended on at all."""

ELEMENT_BUDGET = 1 << 25
"""Nodes with more elements are analysed coarsely (one set per input: 8 bytes per element
and input would otherwise be needed, 80 GB for 10^10 elements)."""

ELEMENTWISE = {"add", "sub", "lt", "eq", "xor", "neg", "not", "trunc", "b2a", "monotone",
               "a2b_comp", "b2a_comp", "shl", "shr", "bit", "mul", "and", "or", "select"}


@dataclass
class Provenance:
    """The result: per node, per input, the units every element may depend on."""

    circuit: Circuit
    tables: dict[str, SetTable]
    deps: dict[int, Deps] = field(default_factory=dict)
    coarse: set[int] = field(default_factory=set)  # nodes analysed as one set per input

    def ids(self, node_id: int, name: str) -> np.ndarray:
        """Set ids of every element of a node for one input (EMPTY where independent)."""
        shape = self.circuit.node(node_id).type.shape
        value = self.deps[node_id].get(name, EMPTY)
        return np.broadcast_to(np.asarray(value, dtype=np.int64), shape)

    def output_node(self, output: str) -> int:
        return next(o.node for o in self.circuit.outputs if o.name == output)

    def inputs_of(self, node_id: int) -> list[str]:
        """The inputs a node depends on, in the circuit's input order."""
        deps = self.deps[node_id]
        return [i.name for i in self.circuit.inputs if i.name in deps]

    def record_sets(self, output: str, name: str) -> list[np.ndarray]:
        """For each element of an output (row-major), the units of `name` it may use."""
        table = self.tables[name]
        ids = self.ids(self.output_node(output), name).reshape(-1)
        return [table.members(int(i)) for i in ids]

    def dependent(self, node_id: int, name: str) -> int:
        """How many elements of a node depend on the input at all."""
        return int(np.count_nonzero(self.ids(node_id, name) != EMPTY))

    def min_units(self, node_id: int, name: str) -> int | None:
        """The fewest units any dependent element combines (None if none depends); 1 for a
        coarse node, whose elements' sets are not known (the cautious answer)."""
        value = self.deps[node_id].get(name)
        if value is None:
            return None
        if node_id in self.coarse:
            return 1
        table = self.tables[name]
        if isinstance(value, int):
            return table.size(value)
        sizes = table.sizes(value)
        sizes = sizes[sizes > 0]
        return int(sizes.min()) if sizes.size else None


def units_of(shape: Sequence[int]) -> int:
    """Units of an input of this shape: its first dimension (1 for a scalar)."""
    return shape[0] if shape else 1


class _Walker:
    def __init__(self, circuit: Circuit):
        self.circuit = circuit
        self.tables = {i.name: SetTable(units_of(i.type.shape)) for i in circuit.inputs}
        self.deps: dict[int, Deps] = {}
        self.zeros = KnownZeros(circuit, ELEMENT_BUDGET)
        self.coarse: set[int] = set()

    @staticmethod
    def spread(value: Ids, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.int64), shape)

    def tidy(self, value: Ids) -> Ids | None:
        """One id when all elements agree; None when nothing depends."""
        if isinstance(value, int):
            return None if value == EMPTY else value
        if value.size == 0:
            return None
        first = int(value.flat[0])
        if value.ndim == 0 or (value == first).all():
            return None if first == EMPTY else first
        return value

    def union(self, name: str, values: list[Ids], shape: tuple[int, ...]) -> Ids | None:
        table = self.tables[name]
        acc = values[0]
        fresh = False  # acc is a new value, not an operand's (already tidy) one
        for v in values[1:]:
            if v is acc:
                continue
            if isinstance(acc, int) and isinstance(v, int):
                acc = table.union(acc, v)
                continue
            a = acc if isinstance(acc, np.ndarray) and acc.shape == shape else \
                self.spread(acc, shape)
            b = v if isinstance(v, np.ndarray) and v.shape == shape else self.spread(v, shape)
            # Operands from the same records (x[.., 0] ^ x[.., 1]) are the common case.
            if np.array_equal(a, b):
                acc = a
            else:
                acc, fresh = table.union_arrays(a, b), True
        if isinstance(acc, np.ndarray) and acc.shape != shape:
            return self.tidy(self.spread(acc, shape))
        return self.tidy(acc) if fresh or isinstance(acc, int) else acc

    def names(self, args: Sequence[int]) -> list[str]:
        seen: dict[str, None] = {}
        for a in args:
            for name in self.deps[a]:
                seen[name] = None
        return list(seen)

    # ------------------------------------------------------------ rules

    def elementwise(self, node: Node, keep: list[np.ndarray | None]) -> Deps:
        """Each element joins its operands' elements (broadcast); `keep[k]` (a bool
        array) says where operand k can still matter, when another operand masks it."""
        shape = node.type.shape
        out: Deps = {}
        for name in self.names(node.args):
            values: list[Ids] = []
            for a, mask in zip(node.args, keep, strict=True):
                v = self.deps[a].get(name)
                if v is None:
                    continue
                if mask is not None:
                    mask = np.broadcast_to(mask, shape)
                    if not mask.any():
                        continue
                    if not mask.all():
                        v = self.tidy(np.where(mask, self.spread(v, shape), EMPTY))
                if v is not None:
                    values.append(v)
            if values:
                joined = self.union(name, values, shape)
                if joined is not None:
                    out[name] = joined
        return out

    def masks(self, node: Node) -> list[np.ndarray | None]:
        """Where an operand's known zeros (or a public condition) make the other
        operands irrelevant: True where operand k can still matter."""
        args = node.args
        keep: list[np.ndarray | None] = [None] * len(args)
        if node.op in ("mul", "and") and len(args) == 2:
            for k in (0, 1):
                zero = self.zeros.of(args[1 - k])
                if zero is not None:
                    keep[k] = ~zero
        elif node.op == "or" and len(args) == 2:
            for k in (0, 1):
                other = self.zeros.public(args[1 - k])
                if other is not None:
                    keep[k] = ~np.asarray(other, dtype=np.bool_)
        elif node.op == "select":
            cond = self.zeros.public(args[0])
            if cond is not None:
                cond = np.asarray(cond, dtype=np.bool_)
                keep = [None, cond, ~cond]
        return keep

    def matmul(self, node: Node) -> Deps:
        a_node, b_node = (self.circuit.node(x) for x in node.args)
        a_shape, b_shape = a_node.type.shape, b_node.type.shape
        m = a_shape[0] if len(a_shape) == 2 else 1
        k = b_shape[1] if len(b_shape) == 2 else 1
        n = a_shape[-1]
        zero_a, zero_b = self.zeros.of(a_node.id), self.zeros.of(b_node.id)
        out: Deps = {}
        for name in self.names(node.args):
            table = self.tables[name]
            parts: list[Ids] = []
            # out[p, q] joins a[p, l] and b[l, q] over every l where the other factor
            # is not a known zero.
            va = self.deps[a_node.id].get(name)
            if va is not None:
                ids = self.spread(va, a_shape).reshape(m, n)
                if zero_b is None:
                    parts.append(np.broadcast_to(table.union_last_axis(ids)[:, None], (m, k)))
                else:
                    nonzero = ~np.broadcast_to(zero_b, b_shape).reshape(n, k)
                    parts.append(self._masked_join(table, ids, nonzero))
            vb = self.deps[b_node.id].get(name)
            if vb is not None:
                ids = self.spread(vb, b_shape).reshape(n, k).T  # [k, n]
                if zero_a is None:
                    parts.append(np.broadcast_to(table.union_last_axis(ids)[None, :], (m, k)))
                else:
                    nonzero = ~np.broadcast_to(zero_a, a_shape).reshape(m, n).T  # [n, m]
                    parts.append(self._masked_join(table, ids, nonzero).T)
            joined = self.union(name, parts, (m, k))
            if isinstance(joined, np.ndarray):
                joined = self.tidy(np.reshape(joined, node.type.shape))
            if joined is not None:
                out[name] = joined
        return out

    @staticmethod
    def _masked_join(table: SetTable, ids: np.ndarray, nonzero: np.ndarray) -> np.ndarray:
        """[rows, n] ids and an [n, cols] bool mask: row r, col c joins ids[r, l] for
        every l with nonzero[l, c]. One union per distinct mask column."""
        rows, cols = ids.shape[0], nonzero.shape[1]
        out = np.full((rows, cols), EMPTY, dtype=np.int64)
        patterns, which = np.unique(nonzero.T, axis=0, return_inverse=True)
        which = which.reshape(-1)
        for p, pattern in enumerate(patterns):
            if pattern.any():
                out[:, which == p] = table.union_last_axis(ids[:, pattern])[:, None]
        return out

    def reduce(self, node: Node) -> Deps:
        (arg,) = node.args
        axis = node.attr("axis")
        shape = self.circuit.node(arg).type.shape
        out: Deps = {}
        for name, v in self.deps[arg].items():
            table = self.tables[name]
            if isinstance(v, int):
                out[name] = v
                continue
            if axis is None:
                joined: Ids = table.union_all(self.spread(v, shape))
            else:
                moved = np.moveaxis(self.spread(v, shape), axis, -1)
                flat = table.union_last_axis(moved.reshape(-1, shape[axis]))
                joined = flat.reshape(node.type.shape)
            tidy = self.tidy(joined)
            if tidy is not None:
                out[name] = tidy
        return out

    def move(self, node: Node) -> Deps:
        """Data movement: the ids travel exactly like the values."""
        op = node.op
        out: Deps = {}
        arg_shapes = [self.circuit.node(a).type.shape for a in node.args]
        for name in self.names(node.args):
            vals = [self.deps[a].get(name, EMPTY) for a in node.args]
            if op in ("reshape", "transpose", "slice", "broadcast") and isinstance(vals[0], int):
                out[name] = vals[0]
                continue
            arrays = [self.spread(v, s) for v, s in zip(vals, arg_shapes, strict=True)]
            moved = move(op, node, arrays)
            tidy = self.tidy(moved if moved.ndim else int(moved))
            if tidy is not None:
                out[name] = tidy
        return out

    def everything(self, node: Node) -> Deps:
        """An op without a rule: every element may use every element of every operand."""
        out: Deps = {}
        for name in self.names(node.args):
            table = self.tables[name]
            joined = EMPTY
            for a in node.args:
                v = self.deps[a].get(name)
                if isinstance(v, int):  # one set for all elements: never spread it out
                    joined = table.union(joined, v)
                elif v is not None:
                    joined = table.union(joined, table.union_all(v))
            if joined != EMPTY:
                out[name] = joined
        return out

    # ------------------------------------------------------------ walk

    def node(self, node: Node) -> Deps:
        op = node.op
        if op == "input":
            name = node.attr("name")
            shape = node.type.shape
            units = units_of(shape)
            if units == 1:
                return {name: 0}
            rows = np.arange(units, dtype=np.int64).reshape((units,) + (1,) * (len(shape) - 1))
            return {name: np.broadcast_to(rows, shape)}
        if not node.type.is_secret or not any(self.deps[a] for a in node.args):
            return {}
        if node.type.size > ELEMENT_BUDGET or any(a in self.coarse for a in node.args):
            self.coarse.add(node.id)
            return self.everything(node)
        if op in ELEMENTWISE:
            return self.elementwise(node, self.masks(node))
        if op == "matmul":
            return self.matmul(node)
        if op == "sum":
            return self.reduce(node)
        if op in MOVES:
            return self.move(node)
        return self.everything(node)

    def run(self) -> Provenance:
        for node in self.circuit.nodes:
            self.zeros.visit(node)
            self.deps[node.id] = self.node(node)
        return Provenance(self.circuit, self.tables, self.deps, self.coarse)


def run(circuit: Circuit) -> Provenance:
    """Compute the provenance of every node of a circuit."""
    return _Walker(circuit).run()
