"""Export a pure-boolean circuit as Bristol Fashion, for other MPC frameworks.

A program whose inputs and outputs are all `bool` arrays and whose operations are
boolean gates and data movement becomes one gate list: every input element is a wire
(inputs in declaration order, elements in row-major order), every gate one line, and
the outputs are copied (EQW) onto the last wires in output order, as the format wants.
"""

from __future__ import annotations

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.ir import bitops
from veil.ir.nodes import Circuit
from veil.ir.semantics import const_array
from veil.types import BOOL, WORD

MOVES = {"slice", "stack", "concat", "transpose", "reshape", "broadcast"}
GATES = {"and", "or", "xor", "not", "select"}
BIT_SLICED = {"xor_net", "pack", "unpack"}
"""A Bristol call inlined by layers (veil.ir.lower_bristol); a packed word is 64 wires."""


def export(circuit: Circuit) -> str:
    """Bristol Fashion text of the circuit; VeilError V0902 if it is not pure boolean."""
    from veil import bristol

    problems = [f"{s.name} is {s.type}" for s in (*circuit.inputs, *circuit.outputs)
                if s.type.base != BOOL or not s.type.shape]
    problems += [f"`{n.op}` at {n.span}" for n in circuit.nodes
                 if n.op not in MOVES | GATES | BIT_SLICED | {"input", "const"}
                 or n.type.base not in (BOOL, WORD)
                 or (n.type.base == WORD and n.op not in BIT_SLICED | {"and", "xor", "not",
                                                                        "slice", "concat"})]
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
            wires[node.id] = _gates(elementwise[node.op], args)
        elif node.op == "xor_net":
            wires[node.id] = _xor_net(node, args, elementwise, constant)
        elif node.op == "pack":
            rows, n = args[0].shape
            padded = np.empty((rows, 64 * (-(-n // 64))), dtype=object)
            padded[:, :n] = args[0]
            padded[:, n:] = constant(False)
            wires[node.id] = padded.reshape(rows, -1, 64)
        elif node.op == "unpack":
            wires[node.id] = args[0].reshape(args[0].shape[0], -1)[:, :node.attr("n")]
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


def _gates(fn, args: list[np.ndarray]) -> np.ndarray:
    """One gate per element of the broadcast operands (wire numbers)."""
    parts = np.broadcast_arrays(*args)
    out = np.empty(parts[0].shape, dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = fn(*(int(p[index]) for p in parts))
    return out


def _xor_net(node, args: list[np.ndarray], elementwise: dict, constant) -> np.ndarray:
    """The gates of an xor_net program (see veil.ir.bitops), row by row."""
    load, code = node.attr("load"), node.attr("code")
    rows = [args[k][r] for k, r in zip(load[0::2], load[1::2], strict=True)]
    shape = rows[0].shape if rows else args[0].shape[1:]
    pc = 0
    while pc < len(code):
        op, count = code[pc], code[pc + 1]
        width = bitops.ARITY[op] * count
        operands = code[pc + 2:pc + 2 + width]
        new = []
        for i in range(count):
            if op == bitops.XOR:
                new.append(_gates(elementwise["xor"], [rows[operands[i]],
                                                        rows[operands[count + i]]]))
            elif op == bitops.NOT:
                new.append(_gates(elementwise["not"], [rows[operands[i]]]))
            else:
                new.append(np.full(shape, constant(op == bitops.ONE), dtype=object))
        rows += new
        pc += 2 + width
    return np.stack([rows[r] for r in node.attr("out")]) if node.attr("out") else \
        np.empty((0, *shape), dtype=object)


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
