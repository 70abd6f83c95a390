"""IR well-formedness: what every pass must preserve (checked between passes in tests)."""

from __future__ import annotations

from veil.ir.nodes import Circuit
from veil.ir.ops import IRError, infer


def verify(circuit: Circuit) -> None:
    """Raise IRError unless ids are unique, operands precede their users, every stored
    type is what the op infers, and inputs/outputs name existing nodes."""
    seen: set[int] = set()
    for node in circuit.nodes:
        if node.id in seen:
            raise IRError(f"duplicate node id {node.id}")
        for a in node.args:
            if a not in seen:
                raise IRError(f"node {node.id} ({node.op}) uses {a} before it is defined")
        expected = infer(node.op, [circuit.node(a).type for a in node.args], node.attrs)
        if expected != node.type:
            raise IRError(f"node {node.id} ({node.op}) has type {node.type}, op gives {expected}")
        if any(attrs[0] >= attrs[1] for attrs in zip(node.attrs, node.attrs[1:], strict=False)):
            raise IRError(f"node {node.id} attributes are not sorted by key")
        seen.add(node.id)
    for spec in circuit.inputs:
        node = circuit.node(spec.node)
        if node.op != "input" or node.attr("name") != spec.name or node.type != spec.type:
            raise IRError(f"input {spec.name} does not match node {spec.node}")
    for out in circuit.outputs:
        if out.node not in seen:
            raise IRError(f"output {out.name} names a missing node")
        if circuit.node(out.node).type.base != out.type.base or \
                circuit.node(out.node).type.shape != out.type.shape:
            raise IRError(f"output {out.name} type differs from its node")
