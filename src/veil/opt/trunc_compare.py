"""Pass `trunc-compare`: compare a fixed-point product before its truncation.

`x @ w + b > t` truncates the product (a round and, in the verified mode, eight checked
products and about sixty AND gates an element) only to compare the result. With raw
values (integers) and the truncation ⌊p / 2^d⌋ of the reference semantics (rounding
toward minus infinity), for all integers a, p, v:

    a < ⌊p / 2^d⌋ + v   ⇔   a·2^d + (2^d − 1) < p + v·2^d
    ⌊p / 2^d⌋ + v < a   ⇔   p + v·2^d < a·2^d

(the first because a − v < ⌊p/2^d⌋ ⇔ a − v + 1 ≤ ⌊p/2^d⌋ ⇔ (a − v + 1)·2^d ≤ p; the
second because ⌊p/2^d⌋ < a − v ⇔ p < (a − v)·2^d). The products by 2^d are local
(public operands), so the comparison costs what it did and the truncation is gone. The
verified truncation is this floor exactly; the semi-honest one may be a unit more
(docs/security.md, section 5), so there the rewritten comparison is the more exact one:
it gives the reference answer also where that unit would have flipped it.

A comparison is the sign bit of the difference of its operands, which is the answer
only while the difference stays below 2^63 in magnitude. The rewrite is made only where
the range analysis (veil.analysis.ranges, from the inputs' declared or accepted ranges)
bounds both the original difference and the new one below 2^62, where the truncation
and the addition are used by the comparison alone, and where the analysis reports
nothing that may overflow (its bounds after such a finding are not bounds).
"""

from __future__ import annotations

from veil.analysis import ranges
from veil.ir.nodes import Circuit, Node
from veil.opt import dead_code
from veil.opt.rewrite import Editor
from veil.types import INT

NAME = "trunc-compare"
SUMMARY = "compare a truncated product by the product itself: no truncation"

SAFE = 2.0**62  # below the comparisons' 2^63, with room for the intervals' float rounding


def _truncated_sum(circuit: Circuit, ed: Editor, side: int) -> tuple[Node, int | None, bool] | None:
    """(trunc node, v, v_negated) if `side` is trunc(p, d), trunc + v, v + trunc or
    trunc − v, each node used only here; None otherwise."""
    node = circuit.node(side)
    if not ed.single_use(side):
        return None
    if node.op == "trunc":
        return node, None, False
    if node.op not in ("add", "sub"):
        return None
    first, second = (circuit.node(a) for a in node.args)
    for t, v, negated in ((first, second, node.op == "sub"), (second, first, False)):
        if t.op == "trunc" and ed.single_use(t.id) and (node.op == "add" or t is first):
            return t, v.id, negated
    return None


def _shift(circuit: Circuit, trunc: Node) -> int | None:
    """The truncation's shift d, if it is one shift for all elements and the truncation
    keeps its operand's type (`to_int` of a fixed value truncates into another)."""
    bits = trunc.attr("bits")
    if not isinstance(bits, int) or not 1 <= bits <= 61 or not trunc.type.is_secret or \
            circuit.node(trunc.args[0]).type.base != trunc.type.base:
        return None
    return bits


def run(circuit: Circuit) -> Circuit:
    candidates = [n for n in circuit.nodes if n.op == "lt" and n.type.is_secret]
    if not candidates:
        return circuit
    # what an earlier rewrite left unused (monotone's sigmoid) must not count as a use
    circuit = dead_code.run(circuit)
    candidates = [n for n in circuit.nodes if n.op == "lt" and n.type.is_secret]
    analysis = ranges.run(circuit)
    if analysis.findings:
        return circuit
    iv = analysis.intervals

    def span(parts: list[tuple[int | None, float]], constant: float = 0.0) -> float:
        """Largest |Σ k·x + constant| over the intervals of the x (None: absent)."""
        lo = hi = constant
        for x, k in parts:
            if x is None:
                continue
            a, b = iv[x].lo * k, iv[x].hi * k
            lo, hi = lo + min(a, b), hi + max(a, b)
        return max(abs(lo), abs(hi))

    ed = Editor(circuit)
    plans: dict[int, tuple[Node, int, int | None, bool, bool]] = {}
    for node in candidates:
        for side, other in ((1, 0), (0, 1)):  # lt(a, T): the truncated sum on the right
            found = _truncated_sum(circuit, ed, node.args[side])
            if found is None:
                continue
            trunc, v, negated = found
            d = _shift(circuit, trunc)
            if d is None:
                continue
            a, p, scale = node.args[other], trunc.args[0], float(2**d)
            sign_v = -1.0 if negated else 1.0
            before = span([(a, 1.0), (trunc.id, -1.0), (v, -sign_v)])
            after = span([(a, scale), (p, -1.0), (v, -sign_v * scale)], scale)
            if before < SAFE and after < SAFE:
                plans[node.id] = (trunc, a, v, negated, side == 1)
                break
    if not plans:
        return circuit
    for node in circuit.nodes:
        if node.id not in plans:
            ed.keep(node)
            continue
        trunc, a, v, negated, truncated_right = plans[node.id]
        d = trunc.attr("bits")
        factor = ed.emit("const", (), {"base": INT, "shape": (), "data": (1 << d,)}, node)
        raw = ed.arg(trunc.args[0])
        if v is not None:
            scaled_v = ed.emit("mul", (ed.arg(v), factor), {}, node)
            raw = ed.emit("sub" if negated else "add", (raw, scaled_v), {}, node)
        scaled_a = ed.emit("mul", (ed.arg(a), factor), {}, node)
        note = node.attr("note")
        attrs = {"note": f"{note}; compared before its truncation" if note else
                 "compared before its truncation (no truncation)"}
        if truncated_right:  # a < T  ⇔  a·2^d + (2^d − 1) < p ± v·2^d
            base = ed.types[scaled_a].base
            low = ed.emit("const", (), {"base": base, "shape": (), "data": ((1 << d) - 1,)},
                          node)
            new = ed.emit("lt", (ed.emit("add", (scaled_a, low), {}, node), raw), attrs, node)
        else:  # T < a  ⇔  p ± v·2^d < a·2^d
            new = ed.emit("lt", (raw, scaled_a), attrs, node)
        ed.replace(node.id, new)
    return ed.finish()
