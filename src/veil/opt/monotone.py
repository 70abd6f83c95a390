"""Pass `monotone`: compare the argument of a monotone function, not its value.

`ml.sigmoid(z) > 0.5` costs the whole sigmoid (17 comparisons and selects per element)
and then a comparison. Because sigmoid never decreases, the same answer is `z > z0`
for the threshold z0 = max{z : sigmoid(z) <= 0.5}, computed here at compile time by
evaluating the compiled function itself (reference semantics) on candidate values; for
`<` (and so `>=`, `<=`) the lower boundary is used. Shifted and scaled forms
(`2.0 * sigmoid(z) - 1.0 > t`) are handled the same way: the function evaluated is the
whole path from z to the compared value, as long as every step is elementwise and
non-decreasing in z.

Functions are marked by the `monotone` modifier (`monotone fn sigmoid(...)`), which
lowering records as a `monotone(result, argument)` node. The boundary is verified
before the rewrite: on every raw value within 2^16 ulps of it and on 2^14 values spread
over the whole fixed-point range, the rewritten comparison must agree with the original
one, else the comparison is left as it was. Markers are removed afterwards.
"""

from __future__ import annotations

import numpy as np

from veil.ir.nodes import Circuit, Node
from veil.ir.ops import MATH
from veil.ir.semantics import apply, const_array, decode
from veil.opt.rewrite import Editor
from veil.types import fixed_limit

NAME = "monotone"
SUMMARY = "replace f(z) > t by z > f⁻¹(t) for monotone f and public t"

U64 = np.uint64
ELEMENTWISE = {"add", "sub", "mul", "neg", "trunc", "lt", "eq", "select", "not", "and", "or",
               "xor", "b2a", "monotone", "const", "cast"} | MATH  # math: one node each here
# steps from a marker to the compared value that keep it non-decreasing in z
RISING = {"monotone", "add", "sub", "mul", "trunc"}


def _uniform_const(node: Node) -> np.ndarray | None:
    """A public constant whose elements are all equal, as a 0-d array."""
    if node.op != "const":
        return None
    values = const_array(node).reshape(-1)
    if values.size == 0 or np.any(values != values[0]):
        return None
    return np.asarray(values[0])


class _Function:
    """The elementwise path z → x of a circuit, evaluated on batches of raw z values."""

    def __init__(self, circuit: Circuit, z: int, x: int):
        self.circuit = circuit
        self.z = z
        self.order: list[Node] = []
        self.ok = self._collect(x)

    def _collect(self, x: int) -> bool:
        needed: set[int] = set()
        stack = [x]
        while stack:
            n = stack.pop()
            if n in needed or n == self.z:
                continue
            needed.add(n)
            node = self.circuit.node(n)
            if node.op not in ELEMENTWISE:
                return False
            if node.op == "const":
                if _uniform_const(node) is None:
                    return False
                continue
            if node.op == "input":
                return False
            stack.extend(node.args)
        self.order = [n for n in self.circuit.nodes if n.id in needed]
        return True

    def __call__(self, z_raw: np.ndarray, x: int) -> np.ndarray:
        values: dict[int, np.ndarray] = {self.z: z_raw.astype(np.int64).view(U64)}
        for node in self.order:
            if node.op == "const":
                values[node.id] = _uniform_const(node)  # type: ignore[assignment]
            else:
                values[node.id] = apply(node, [values[a] for a in node.args])
        return values[x]


def _rises_from_marker(circuit: Circuit, x: int) -> Node | None:
    """The marker that x is computed from by non-decreasing steps, if any."""
    node = circuit.node(x)
    while node.op != "monotone":
        if node.op not in RISING:
            return None
        secret = [a for a in node.args if circuit.node(a).type.is_secret]
        if len(secret) != 1:
            return None
        other = [a for a in node.args if a != secret[0]]
        if node.op == "sub" and node.args[0] != secret[0]:
            return None  # c - f(z) falls as z grows
        if node.op == "mul":
            c = _uniform_const(circuit.node(other[0])) if other else None
            if c is None or int(c.view(np.int64)) <= 0:
                return None
        node = circuit.node(secret[0])
    return node


def _raw_limit(circuit: Circuit) -> int:
    """|raw| of the largest accepted fixed value at the circuit's precision."""
    return int(fixed_limit(circuit.frac_bits)) << circuit.frac_bits


def _boundary(f: _Function, x: int, test) -> int | None:
    """The last raw z where test(f(z)) is False, for a predicate rising in z; None if the
    predicate does not switch once inside the fixed-point range."""
    limit = _raw_limit(f.circuit)
    lo, hi = -limit, limit
    if test(f(np.array([lo]), x))[0] or not test(f(np.array([hi]), x))[0]:
        return None
    while hi - lo > 1:  # lo: False, hi: True
        points = np.unique(np.linspace(lo, hi, 4097).astype(np.int64))
        flags = test(f(points, x))
        first = int(np.argmax(flags))
        lo, hi = int(points[first - 1]), int(points[first])
    return lo


def _verified(f: _Function, x: int, test, z0: int) -> bool:
    limit = _raw_limit(f.circuit)
    window = np.arange(z0 - (1 << 16), z0 + (1 << 16) + 1, dtype=np.int64)
    spread = np.unique(np.concatenate([
        np.linspace(-limit, limit, 1 << 13).astype(np.int64),
        # every magnitude up to the accepted range (beyond it a value has overflowed)
        np.sign(np.linspace(-1, 1, 1 << 13)) * np.logspace(0, np.log2(limit), 1 << 13,
                                                           base=2.0),
    ]).astype(np.int64))
    return all(np.array_equal(test(f(z, x)), z > z0) for z in (window, spread))


def run(circuit: Circuit) -> Circuit:
    ed = Editor(circuit)
    rewrites: dict[int, tuple[int, int, bool, str]] = {}
    for node in circuit.nodes:
        if node.op != "lt" or not node.type.is_secret:
            continue
        a, b = (circuit.node(x) for x in node.args)
        # lt(t, x): x > t (rising predicate); lt(x, t): x < t (falling)
        if not a.type.is_secret and _uniform_const(a) is not None:
            threshold, value, rising = a, b, True
        elif not b.type.is_secret and _uniform_const(b) is not None:
            threshold, value, rising = b, a, False
        else:
            continue
        marker = _rises_from_marker(circuit, value.id)
        if marker is None:
            continue
        z = marker.args[1]
        f = _Function(circuit, z, value.id)
        if not f.ok or circuit.node(z).type.shape != node.type.shape:
            continue
        t = _uniform_const(threshold)
        assert t is not None

        def test(fx: np.ndarray, t: np.ndarray = t, rising: bool = rising) -> np.ndarray:
            diff = (t - fx) if rising else (fx - t)  # sign bit = t < f(z), or f(z) < t
            return (np.asarray(diff, dtype=U64) >> U64(63)).astype(bool) == rising

        z0 = _boundary(f, value.id, test)
        if z0 is None or not _verified(f, value.id, test, z0):
            continue
        base = circuit.node(z).type.base
        shown = decode(np.asarray(z0).view(U64), base, circuit.frac_bits)
        note = (f"{marker.attr('fn')}(z) {'>' if rising else '<'} "
                f"{decode(t.view(U64), threshold.type.base, circuit.frac_bits)} became z "
                f"{'>' if rising else '<='} {shown}")
        rewrites[node.id] = (z, z0, rising, note)
    for node in circuit.nodes:
        if node.op == "monotone":
            ed.replace(node.id, ed.arg(node.args[0]))
            continue
        if node.id not in rewrites:
            ed.keep(node)
            continue
        z, z0, rising, note = rewrites[node.id]
        zt = circuit.node(z).type
        const = ed.emit("const", (), {"base": zt.base, "shape": (), "data": (z0,)}, node)
        if rising:  # f(z) > t  ⇔  z > z0  ⇔  lt(z0, z)
            new = ed.emit("lt", (const, ed.arg(z)), {"note": note}, node)
        else:  # f(z) < t  ⇔  z <= z0  ⇔  not lt(z0, z)
            new = ed.emit("not", (ed.emit("lt", (const, ed.arg(z)), {"note": note}, node),),
                          {}, node)
        ed.replace(node.id, new)
    return ed.finish()
