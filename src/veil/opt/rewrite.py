"""Shared machinery for passes: rebuild a circuit node by node with operand renaming."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from veil.ir.nodes import Circuit, Node

# A rewrite sees each node with its operands already renamed and returns either a
# node to keep (possibly changed) or the id of an existing node that replaces it.
Rewrite = Callable[[Node], "Node | int"]


def rebuild(circuit: Circuit, rewrite: Rewrite) -> Circuit:
    """Apply `rewrite` to every node in order; users follow replacements."""
    rename: dict[int, int] = {}
    nodes: list[Node] = []
    for node in circuit.nodes:
        args = tuple(rename.get(a, a) for a in node.args)
        if args != node.args:
            node = replace(node, args=args)
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
