"""Pass `rebalance`: associative chains become balanced trees (depth n-1 → ⌈log2 n⌉).

A loop `p = p * x[i]` over 64 secret ints is a chain of 63 multiplications, each
waiting for the previous one: 63 rounds. The same product as a balanced tree takes 6.
Chains of `+`, int `*`, `and` and `or` are regrouped. The operands are combined
shallowest first (like Huffman's construction, with depth instead of weight), so a
leaf that is ready late joins near the top and public operands, which cost nothing,
do not add a level. These operations are associative and commutative on Z_2^64 and on
bits, so the result is exactly the same. Fixed-point products are not regrouped: each
carries its own truncation, and regrouping would change the rounding.
"""

from __future__ import annotations

import heapq

from veil.ir.nodes import Circuit, Node
from veil.ir.ops import MAYBE_INTERACTIVE, is_interactive
from veil.opt.rewrite import Editor
from veil.types import FIXED

NAME = "rebalance"
SUMMARY = "regroup chains of +, int *, and, or into balanced trees"

# XOR chains are left alone: XOR is free on shares, so regrouping cannot save a round
# (and Bristol circuits such as AES have thousands of them).
OPS = {"add", "mul", "and", "or"}


def _chain_op(node: Node) -> bool:
    if node.op not in OPS or not node.type.is_secret:
        return False
    return not (node.op == "mul" and node.type.base == FIXED)


def run(circuit: Circuit) -> Circuit:
    ed = Editor(circuit)

    def interior(arg: int, root: Node) -> bool:
        a = circuit.node(arg)
        return a.op == root.op and a.type == root.type and ed.single_use(arg) and \
            _chain_op(a)

    absorbed: set[int] = set()
    roots: dict[int, list[int]] = {}
    # walk from the end so each chain is claimed by its top node
    for node in reversed(circuit.nodes):
        if node.id in absorbed or not _chain_op(node):
            continue
        leaves: list[int] = []
        stack = [node.id]
        while stack:
            current = circuit.node(stack.pop())
            for a in reversed(current.args):
                if interior(a, node):
                    absorbed.add(a)
                    stack.append(a)
                else:
                    leaves.append(a)
        if len(leaves) >= 3:
            roots[node.id] = _in_order(circuit, node, absorbed)
    depth: dict[int, int] = {}
    types = {n.id: n.type for n in circuit.nodes}
    for node in circuit.nodes:
        level = 0
        for a in node.args:
            if depth[a] > level:
                level = depth[a]
        if node.op in MAYBE_INTERACTIVE and \
                is_interactive(node.op, [types[a] for a in node.args]):
            level += 1
        depth[node.id] = level
    for node in circuit.nodes:
        if node.id not in roots:
            ed.keep(node)
            continue
        # (depth, position) orders the heap; position keeps ties in operand order
        heap = [(depth[a], k, ed.arg(a)) for k, a in enumerate(roots[node.id])]
        heapq.heapify(heap)
        position = len(heap)
        while len(heap) > 1:
            d1, _, x = heapq.heappop(heap)
            d2, _, y = heapq.heappop(heap)
            combined = ed.emit(node.op, (x, y), dict(node.attrs), node)
            step = 1 if is_interactive(node.op, [ed.types[x], ed.types[y]]) else 0
            heapq.heappush(heap, (max(d1, d2) + step, position, combined))
            position += 1
        ed.replace(node.id, heap[0][2])
    return ed.finish()


def _in_order(circuit: Circuit, root: Node, absorbed: set[int]) -> list[int]:
    """The chain's leaves from left to right (operand order preserved)."""
    out: list[int] = []
    stack = [root.id]
    while stack:
        item = stack.pop()
        if item < 0:  # a leaf, marked by ~id so that it comes out in order
            out.append(~item)
            continue
        for a in reversed(circuit.node(item).args):
            stack.append(a if a in absorbed else ~a)
    return out
