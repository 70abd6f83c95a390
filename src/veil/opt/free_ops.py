"""Pass `free-ops`: a product with a public whole number needs no truncation.

`x * 2.0` on a secret fixed x is, as written, a local product followed by a truncation
(a round on shares). When every element of the public fixed operand is a whole number
c, x·c needs no rescaling: multiply by the int c instead. The result is the same value
(x·(c·2^16) / 2^16 = x·c exactly, within the range where neither wraps). Products with
other public values stay local too; only their truncation remains.
"""

from __future__ import annotations

import numpy as np

from veil.ir.nodes import Circuit, Node
from veil.ir.semantics import const_array
from veil.opt.rewrite import Editor
from veil.types import FIXED, INT

NAME = "free-ops"
SUMMARY = "products with public whole numbers skip their truncation"


def _whole_constant(node: Node, frac_bits: int) -> np.ndarray | None:
    if node.op != "const" or node.type.base != FIXED:
        return None
    raw = const_array(node).view(np.int64)
    if np.any(raw % (1 << frac_bits)):
        return None
    return raw >> frac_bits


def run(circuit: Circuit) -> Circuit:
    ed = Editor(circuit)
    for node in circuit.nodes:
        if node.op == "trunc" and node.attr("bits") == circuit.frac_bits and \
                node.type.base == FIXED and node.type.is_secret:
            product = circuit.node(node.args[0])
            if product.op in ("mul", "matmul") and ed.single_use(product.id):
                args = [circuit.node(a) for a in product.args]
                whole = [_whole_constant(a, circuit.frac_bits) for a in args]
                if any(w is not None for w in whole) and all(a.type.base == FIXED for a in args):
                    k = 0 if whole[0] is not None else 1
                    c = whole[k]
                    assert c is not None
                    data = tuple(int(x) for x in c.reshape(-1).tolist())
                    const = ed.emit("const", (), {"base": INT, "shape": tuple(c.shape),
                                                  "data": data}, args[k])
                    operands = [ed.arg(a.id) for a in args]
                    operands[k] = const
                    ed.replace(node.id, ed.emit(product.op, operands, {}, product))
                    continue
        ed.keep(node)
    return ed.finish()
