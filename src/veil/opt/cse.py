"""Pass `cse`: compute each distinct operation once (common subexpressions).

Two nodes are the same when they have the same op, operands, type and attributes;
operands of commutative ops are compared as a set.
"""

from __future__ import annotations

from veil.ir.nodes import Circuit, Node
from veil.opt.rewrite import rebuild

NAME = "cse"
SUMMARY = "merge identical operations (commutative operands in any order)"

COMMUTATIVE = {"add", "mul", "and", "or", "xor", "eq"}


def run(circuit: Circuit) -> Circuit:
    seen: dict[tuple, int] = {}

    def rewrite(node: Node) -> Node | int:
        if node.op == "input":
            return node
        args = tuple(sorted(node.args)) if node.op in COMMUTATIVE else node.args
        key = (node.op, args, node.type, node.attrs)
        if key in seen:
            return seen[key]
        seen[key] = node.id
        return node

    return rebuild(circuit, rewrite)
