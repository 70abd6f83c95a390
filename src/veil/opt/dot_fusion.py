"""Pass `dot-fusion`: sums of secret products become one dot product.

On shares a dot product of any length costs one reshare per output, like a single
multiplication; a sum of n separate products costs n. Two shapes are fused:
`sum(a * b)` over whole arrays, and sums of scalar products (what a loop
`acc = acc + x[i] * y[i]` unrolls to). For fixed point the fused product is truncated
once instead of once per term, so the result may differ from the unfused one by the
rounding of the dropped truncations (less than one ulp per term, and more accurate).
"""

from __future__ import annotations

from veil.ir.nodes import Circuit, Node
from veil.opt.rewrite import Editor

NAME = "dot-fusion"
SUMMARY = "fuse sums of secret products into dot products (one reshare each)"


def _product(circuit: Circuit, ed: Editor, node_id: int) -> tuple[Node, Node | None] | None:
    """(mul, trunc or None) if node_id is a secret×secret elementwise product."""
    node = circuit.node(node_id)
    trunc = None
    if node.op == "trunc":
        trunc = node
        node = circuit.node(node.args[0])
        if not ed.single_use(node.id):
            return None
    if node.op != "mul":
        return None
    a, b = (circuit.node(x) for x in node.args)
    if not (a.type.is_secret and b.type.is_secret) or a.type.shape != b.type.shape:
        return None
    return node, trunc


def _dot(ed: Editor, muls: list[tuple[Node, Node | None]], like: Node) -> int:
    """One matmul over the stacked (or flattened) operands, truncated once if fixed."""
    if len(muls) == 1:
        mul = muls[0][0]
        left, right = (ed.arg(a) for a in mul.args)
        n = mul.type.size
        if len(mul.type.shape) != 1:
            left = ed.emit("reshape", (left,), {"shape": (n,)}, like)
            right = ed.emit("reshape", (right,), {"shape": (n,)}, like)
    else:
        left = ed.emit("stack", [ed.arg(m.args[0]) for m, _ in muls], {}, like)
        right = ed.emit("stack", [ed.arg(m.args[1]) for m, _ in muls], {}, like)
    out = ed.emit("matmul", (left, right), {}, like)
    trunc = muls[0][1]
    if trunc is not None:
        out = ed.emit("trunc", (out,), dict(trunc.attrs), like)
    return out


def run(circuit: Circuit) -> Circuit:
    ed = Editor(circuit)
    absorbed: set[int] = set()
    plans: dict[int, tuple[list[list[tuple[Node, Node | None]]], list[int]]] = {}
    for node in reversed(circuit.nodes):
        if node.id in absorbed or not node.type.is_secret or node.type.shape != ():
            continue
        if node.op == "sum" and node.attr("axis") is None:
            found = _product(circuit, ed, node.args[0])
            if found is not None and ed.single_use(node.args[0]):
                plans[node.id] = ([[found]], [])
            continue
        if node.op != "add":
            continue
        # the add tree under this node: interior adds are scalar, single-use
        leaves: list[int] = []
        stack = list(node.args)
        while stack:
            a = stack.pop()
            an = circuit.node(a)
            if an.op == "add" and an.type == node.type and ed.single_use(a):
                absorbed.add(a)
                stack.extend(an.args)
            else:
                leaves.append(a)
        groups: dict[tuple, list[tuple[Node, Node | None]]] = {}
        others: list[int] = []
        for leaf in sorted(leaves):
            found = _product(circuit, ed, leaf) if ed.single_use(leaf) else None
            if found is None or found[0].type.shape != ():
                others.append(leaf)
                continue
            mul, trunc = found
            key = (tuple(circuit.node(a).type for a in mul.args),
                   trunc.attrs if trunc is not None else None)
            groups.setdefault(key, []).append(found)
        fused = [g for g in groups.values() if len(g) >= 2]
        for g in groups.values():
            if len(g) < 2:
                others.extend((t or m).id for m, t in g)
        if fused:
            plans[node.id] = (fused, sorted(others))
    for node in circuit.nodes:
        if node.id not in plans:
            ed.keep(node)
            continue
        fused, others = plans[node.id]
        terms = [_dot(ed, g, node) for g in fused] + [ed.arg(o) for o in others]
        total = terms[0]
        for t in terms[1:]:
            total = ed.emit("add", (total, t), {}, node)
        ed.replace(node.id, total)
    return ed.finish()
