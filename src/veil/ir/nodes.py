"""Circuit IR: immutable tensor-operation nodes and the circuit that holds them.

A circuit is a DAG: each node has an op, operand node ids, a value type (label, base,
shape), attributes (hashable, JSON-able) and the source span it came from, so every
cost can be attributed back to a line. Nodes are stored in a topological order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from veil.diagnostics import Span
from veil.types import VType

if TYPE_CHECKING:
    import networkx as nx

Attrs = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Node:
    """One tensor operation."""

    id: int
    op: str
    args: tuple[int, ...]
    type: VType
    attrs: Attrs = ()
    span: Span | None = None
    fn: str = ""  # the innermost source function, "" at the top level

    def with_args(self, args: tuple[int, ...]) -> Node:
        """This node over other operands (what `dataclasses.replace` does, several times
        faster: passes call it once per node)."""
        return Node(self.id, self.op, args, self.type, self.attrs, self.span, self.fn)

    def attr(self, key: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def key(self) -> tuple:
        """What makes two nodes compute the same value (for common subexpressions)."""
        return (self.op, self.args, self.type, self.attrs)


@dataclass(frozen=True)
class InputSpec:
    name: str
    owner: str
    type: VType
    node: int
    range: tuple[float, float] | None = None  # declared `in [lo, hi]`, checked on loading


@dataclass(frozen=True)
class OutputSpec:
    name: str
    receivers: tuple[str, ...]
    type: VType
    node: int


@dataclass(frozen=True)
class Circuit:
    """A whole program after lowering: its nodes plus who provides and receives what."""

    nodes: tuple[Node, ...]
    parties: tuple[str, ...]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    params: tuple[tuple[str, Any], ...] = ()
    frac_bits: int = 16
    jurisdictions: tuple[tuple[str, str], ...] = ()
    """(party, jurisdiction) for every party declared `party NAME in JURISDICTION`."""
    security: str = "semi-honest"
    """The protocol this circuit is built for: "semi-honest" or "malicious" (verified
    rep3, docs/security.md); part of the fingerprint when it is not the default."""
    _index: dict[int, Node] = field(default=None, compare=False, repr=False)  # type: ignore

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {n.id: n for n in self.nodes})

    def node(self, node_id: int) -> Node:
        return self._index[node_id]

    def __len__(self) -> int:
        return len(self.nodes)

    def digraph(self) -> nx.DiGraph:
        """The DAG as networkx: node ids with attribute `node`, edges operand → user."""
        import networkx as nx  # here: the runtime needs no graph library

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.id, node=n)
            for a in n.args:
                g.add_edge(a, n.id)
        return g

    def with_nodes(self, nodes: list[Node] | tuple[Node, ...], rename: dict[int, int] | None = None
                   ) -> Circuit:  # fmt: skip
        """A new circuit over these nodes; inputs/outputs follow `rename` (old id → new id)."""
        rename = rename or {}
        inputs = tuple(replace(i, node=rename.get(i.node, i.node)) for i in self.inputs)
        outputs = tuple(replace(o, node=rename.get(o.node, o.node)) for o in self.outputs)
        return replace(self, nodes=tuple(nodes), inputs=inputs, outputs=outputs)

    def jurisdiction(self, party: str) -> str | None:
        """Where `party` is, as the program declares it (None if it does not say)."""
        return dict(self.jurisdictions).get(party)

    def users(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for a in n.args:
                out[a].append(n.id)
        return out
