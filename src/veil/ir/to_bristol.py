"""Export a pure-boolean circuit as Bristol Fashion, for other MPC frameworks.

A program whose inputs and outputs are all `bool` arrays and whose operations are
boolean gates and data movement becomes one gate list: every input element is a wire
(inputs in declaration order, elements in row-major order), every gate one line, and
the outputs are copied (EQW) onto the last wires in output order, as the format wants.
"""

from __future__ import annotations

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.ir.nodes import Circuit
from veil.ir.semantics import const_array
from veil.types import BOOL

MOVES = {"slice", "stack", "concat", "transpose", "reshape", "broadcast"}
GATES = {"and", "or", "xor", "not", "select"}


def export(circuit: Circuit) -> str:
    """Bristol Fashion text of the circuit; VeilError V0902 if it is not pure boolean."""
    from veil import bristol

    problems = [f"{s.name} is {s.type}" for s in (*circuit.inputs, *circuit.outputs)
                if s.type.base != BOOL or not s.type.shape]
    problems += [f"`{n.op}` at {n.span}" for n in circuit.nodes
                 if n.op not in MOVES | GATES | {"input", "const"} or n.type.base != BOOL]
    if problems:
        raise VeilError([Diagnostic(
            "V0902", "only pure-boolean programs can be exported as Bristol Fashion: "
            + "; ".join(problems[:5]),
            help="inputs and outputs must be bool arrays, and every operation a boolean "
                 "gate (and, or, xor, not, select on bools) or an index, slice or stack")])
    gates: list[bristol.Gate] = []
    next_wire = 0
    wires: dict[int, np.ndarray] = {}
    for spec in circuit.inputs:
        n = spec.type.size
        wires[spec.node] = np.arange(next_wire, next_wire + n, dtype=object).reshape(
            spec.type.shape)
        next_wire += n
    constants: dict[bool, int] = {}

    def gate(op: str, ins: tuple[int, ...]) -> int:
        nonlocal next_wire
        out = next_wire
        next_wire += 1
        gates.append(bristol.Gate(op, ins, (out,), 0))
        return out

    def constant(value: bool) -> int:
        if value not in constants:
            constants[value] = gate("EQ", (int(value),))
        return constants[value]

    elementwise = {
        "and": lambda a, b: gate("AND", (a, b)),
        "xor": lambda a, b: gate("XOR", (a, b)),
        "or": lambda a, b: gate("XOR", (gate("XOR", (a, b)), gate("AND", (a, b)))),
        "not": lambda a: gate("INV", (a,)),
        "select": lambda c, a, b: gate("XOR", (b, gate("AND", (c, gate("XOR", (a, b)))))),
    }
    for node in circuit.nodes:
        if node.op == "input":
            continue
        args = [wires[a] for a in node.args]
        if node.op == "const":
            values = const_array(node)
            wires[node.id] = np.vectorize(lambda v: constant(bool(v)), otypes=[object])(values) \
                if values.size else np.empty(values.shape, dtype=object)
        elif node.op in elementwise:
            fn = elementwise[node.op]
            parts = np.broadcast_arrays(*args)
            out = np.empty(node.type.shape, dtype=object)
            for index in np.ndindex(node.type.shape):
                out[index] = fn(*(int(p[index]) for p in parts))
            wires[node.id] = out
        else:
            wires[node.id] = _move(node, args)
    outputs = []
    for spec in circuit.outputs:
        outputs.append([int(w) for w in np.asarray(wires[spec.node]).reshape(-1)])
    for wire_list in outputs:
        for w in wire_list:
            gate("EQW", (w,))
    return bristol.to_text(next_wire, tuple(s.type.size for s in circuit.inputs),
                           tuple(len(o) for o in outputs), gates)


def _move(node, args: list[np.ndarray]) -> np.ndarray:
    if node.op == "slice":
        index = tuple(p[1] if p[0] == "i" else slice(p[1], p[2]) for p in node.attr("spec"))
        return np.asarray(args[0][index], dtype=object)
    if node.op == "stack":
        return np.stack(args, axis=0)
    if node.op == "concat":
        return np.concatenate(args, axis=0)
    if node.op == "transpose":
        return np.ascontiguousarray(np.transpose(args[0]))
    if node.op == "reshape":
        return np.reshape(args[0], tuple(node.attr("shape")))
    return np.broadcast_to(args[0], tuple(node.attr("shape"))).copy()
