"""Shared machinery for passes: rebuild a circuit node by node with operand renaming."""

from __future__ import annotations

from collections.abc import Callable

from veil.ir.nodes import Circuit, Node
from veil.ir.ops import infer
from veil.types import VType

# A rewrite sees each node with its operands already renamed and returns either a
# node to keep (possibly changed) or the id of an existing node that replaces it.
Rewrite = Callable[[Node], "Node | int"]


def rebuild(circuit: Circuit, rewrite: Rewrite) -> Circuit:
    """Apply `rewrite` to every node in order; users follow replacements."""
    rename: dict[int, int] = {}
    nodes: list[Node] = []
    for node in circuit.nodes:
        if rename:
            args = tuple([rename.get(a, a) for a in node.args])
            if args != node.args:
                node = node.with_args(args)
        result = rewrite(node)
        if isinstance(result, int):
            rename[node.id] = rename.get(result, result)
        else:
            nodes.append(result)
    return circuit.with_nodes(nodes, rename)


def interactive_elements(circuit: Circuit) -> int:
    """Elements computed by ops that need communication on secret shares."""
    from veil.ir.ops import is_interactive

    total = 0
    for n in circuit.nodes:
        if is_interactive(n.op, [circuit.node(a).type for a in n.args]):
            total += n.type.size
    return total


class Editor:
    """Builds a new circuit from an old one: keep nodes, replace them, or emit new ones.

    Nodes are visited in the old (topological) order; emitted nodes get fresh ids and
    the type their op infers, and inherit the span and function of the node they stand
    for, so costs stay attributed to the same source line."""

    def __init__(self, circuit: Circuit):
        self.src = circuit
        self.nodes: list[Node] = []
        self.rename: dict[int, int] = {}
        self.types: dict[int, VType] = {}
        self.next_id = max((n.id for n in circuit.nodes), default=-1) + 1
        self.users = circuit.users()
        self.outputs = {o.node for o in circuit.outputs}

    def arg(self, old: int) -> int:
        return self.rename.get(old, old)

    def renamed(self, node: Node) -> Node:
        rename = self.rename
        if not rename:
            return node
        args = tuple([rename.get(a, a) for a in node.args])
        return node if args == node.args else node.with_args(args)

    def keep(self, node: Node) -> int:
        node = self.renamed(node)
        self.nodes.append(node)
        self.types[node.id] = node.type
        return node.id

    def emit(self, op: str, args: tuple[int, ...] | list[int], attrs: dict, like: Node) -> int:
        items = tuple(sorted(attrs.items()))
        t = infer(op, [self.types[a] for a in args], items)
        node = Node(self.next_id, op, tuple(args), t, items, like.span, like.fn)
        self.next_id += 1
        self.nodes.append(node)
        self.types[node.id] = t
        return node.id

    def replace(self, old: int, new: int) -> None:
        self.rename[old] = new

    def single_use(self, old: int) -> bool:
        """Used by exactly one node and not an output: can be absorbed into its user."""
        return len(self.users[old]) == 1 and old not in self.outputs

    def finish(self) -> Circuit:
        return self.src.with_nodes(self.nodes, self.rename)
