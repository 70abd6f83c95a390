"""Range analysis: an interval for every value of a circuit, and where one may overflow.

Intervals are kept in ring units (a `fixed` value x of scale s is held as x · 2^s; s is
f for stored values and 2f for a product before its truncation) and propagated through
the circuit by interval arithmetic, starting from the inputs' declared ranges
(`input x: secret fixed[N] in [0.0, 1000.0] from bank`). An input without a declared
range spans everything the loader accepts (±2^(62 - 2f) for fixed). Three things can
make a `fixed` result wrong, and each is reported with the line it comes from:

- a value leaves the 64-bit ring (|raw| ≥ 2^63) and wraps around;
- a product reaches a truncation at |raw| ≥ 2^62, where the rep3 truncation is no
  longer exact (docs/security.md, section 5);
- a comparison of values more than 2^63 ring units apart (its sign bit is wrong).

Math functions (exp, log, ...) are one node each at this stage: their intervals come
from the functions themselves, and an argument that may leave a function's domain is
reported too. `int` arithmetic is modular by definition (docs/language.md, section 3)
and is not reported.

A finding about public values only is certain (the values are known at compile time),
an error; any other is a warning. Read-only: the circuit is not changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from veil.diagnostics import Diagnostic, Span
from veil.ir.nodes import Circuit, Node
from veil.ir.ops import MATH, trunc_bits
from veil.ir.semantics import const_array
from veil.types import BOOL, FIXED, TRUNC_BITS, fixed_limit, fixed_limit_bits

NAME = "ranges"
SUMMARY = "interval of every value; warn where a fixed value may leave the representable range"

RING_LIMIT = 2.0**63
TRUNC_LIMIT = 2.0**TRUNC_BITS
DATA_MOVEMENT = {"reshape", "transpose", "slice", "broadcast", "monotone"}
BOOLEAN_RESULT = {"lt", "eq", "and", "or", "xor", "not", "to_bits", "bit"}


@dataclass(frozen=True)
class Interval:
    """Every element of a value lies in [lo, hi] (ring units, as a signed number)."""

    lo: float
    hi: float
    scale: int = 0  # fractional bits of the ring representation (fixed values)
    unrestricted: frozenset[str] = frozenset()  # inputs without a range it depends on

    @property
    def magnitude(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    def real(self, value: float) -> float:
        return value / 2.0**self.scale


def _hull(parts: list[Interval], scale: int) -> Interval:
    return Interval(min(p.lo for p in parts), max(p.hi for p in parts), scale,
                    frozenset().union(*(p.unrestricted for p in parts)))


def _product(a: Interval, b: Interval, count: int = 1) -> tuple[float, float]:
    corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return count * min(corners), count * max(corners)


@dataclass(frozen=True)
class Finding:
    """A value that may be wrong: what, where, how large it may get, and why."""

    node: int
    kind: str  # "wrap" | "trunc" | "compare" | "domain"
    span: Span | None
    message: str
    certain: bool
    unrestricted: frozenset[str]


@dataclass
class RangeResult:
    intervals: dict[int, Interval] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def diagnostics(self) -> list[Diagnostic]:
        """One diagnostic per source span, the first finding there: W0602 (may overflow),
        W0603 (may leave a function's domain) or V0319 (overflows, known at compile time)."""
        out: list[Diagnostic] = []
        seen: set[Span | None] = set()
        for f in self.findings:
            if f.span in seen:
                continue
            seen.add(f.span)
            if f.certain:
                message = f.message.replace("may reach", "reaches").replace(
                    "and overflow:", "and overflows:").replace("may be", "is")
                out.append(Diagnostic("V0319", message, f.span,
                                      "these values are known at compile time; change them "
                                      "so that the result fits"))
                continue
            if f.unrestricted:
                names = ", ".join(f"`{n}`" for n in sorted(f.unrestricted))
                help_text = (f"{names} {'has' if len(f.unrestricted) == 1 else 'have'} no "
                             "declared range, so every accepted value is assumed: declare "
                             "one with `input NAME: ... in [lo, hi] from ...`")
            else:
                help_text = ("the declared input ranges allow it: narrow them, scale the "
                             "data down, or choose a coarser `precision`")
            if f.kind == "domain":
                help_text = "see docs/numerics.md for what the function returns there" + (
                    f"; {', '.join(f'`{n}`' for n in sorted(f.unrestricted))} "
                    "has no declared range" if f.unrestricted else "")
            out.append(Diagnostic("W0602" if f.kind != "domain" else "W0603", f.message,
                                  f.span, help_text, severity="warning"))
        return out


class _Analysis:
    def __init__(self, circuit: Circuit):
        self.c = circuit
        self.f = circuit.frac_bits
        self.result = RangeResult()
        self.users = circuit.users()

    def iv(self, node_id: int) -> Interval:
        return self.result.intervals[node_id]

    def report(self, node: Node, kind: str, message: str, parts: Interval) -> None:
        certain = not node.type.is_secret
        self.result.findings.append(Finding(node.id, kind, node.span, message, certain,
                                            parts.unrestricted))

    # ------------------------------------------------------------ leaves

    def leaf(self, node: Node) -> Interval:
        t = node.type
        if node.op == "const":
            if t.base == BOOL:
                return Interval(0, 1)
            scale = self.f if t.base == FIXED else 0
            data = node.attr("data")
            if len(data) == 1:  # a scalar: no array for one number
                return Interval(float(data[0]), float(data[0]), scale)
            raw = const_array(node).view(np.int64).astype(np.float64)
            return Interval(float(raw.min()), float(raw.max()), scale)
        spec = next(s for s in self.c.inputs if s.node == node.id)
        if t.base == BOOL:
            return Interval(0, 1)
        scale = self.f if t.base == FIXED else 0
        if spec.range is not None:
            lo, hi = spec.range
            return Interval(math.floor(lo * 2.0**scale), math.ceil(hi * 2.0**scale), scale)
        if t.base == FIXED:
            limit = fixed_limit(self.f) * 2.0**scale
            return Interval(-limit, limit, scale, frozenset({spec.name}))
        return Interval(-RING_LIMIT, RING_LIMIT - 1, 0, frozenset({spec.name}))

    # ------------------------------------------------------------ transfer

    def transfer(self, node: Node) -> Interval:
        op, t = node.op, node.type
        if op in ("input", "const"):
            return self.leaf(node)
        args = [self.iv(a) for a in node.args]
        if op in BOOLEAN_RESULT or op == "b2a" or t.base == BOOL:
            return Interval(0, 1)
        if op in DATA_MOVEMENT:
            return args[0]
        if op in ("update", "concat", "stack"):
            return _hull(args, args[0].scale)
        if op == "select":
            return self.select(node, args)
        if op == "add":
            a, b = args
            return Interval(a.lo + b.lo, a.hi + b.hi, max(a.scale, b.scale),
                            a.unrestricted | b.unrestricted)
        if op == "sub":
            a, b = args
            return Interval(a.lo - b.hi, a.hi - b.lo, max(a.scale, b.scale),
                            a.unrestricted | b.unrestricted)
        if op == "neg":
            return Interval(-args[0].hi, -args[0].lo, args[0].scale, args[0].unrestricted)
        if op in ("mul", "matmul"):
            a, b = args
            count = 1
            if op == "matmul":
                shape = self.c.node(node.args[0]).type.shape
                count = shape[-1] if shape else 1
            lo, hi = _product(a, b, count)
            if node.args[0] == node.args[1] and (op == "mul" or len(t.shape) == 0):
                lo = max(lo, 0.0)  # x * x, v @ v: squares are never negative
            return Interval(lo, hi, a.scale + b.scale, a.unrestricted | b.unrestricted)
        if op == "sum":
            a = args[0]
            count = self.c.node(node.args[0]).type.size // max(t.size, 1)
            return Interval(count * a.lo, count * a.hi, a.scale, a.unrestricted)
        if op == "trunc":
            a = args[0]
            bits = np.asarray(trunc_bits(node.attr("bits"), t.shape))
            lo_d, hi_d = int(bits.min()), int(bits.max())
            los = [math.floor(a.lo / 2.0**d) for d in (lo_d, hi_d)]
            his = [math.floor(a.hi / 2.0**d) + 1 for d in (lo_d, hi_d)]  # rep3: +1 unit
            # every truncation ends a fixed value at scale f (products, division) or an int
            return Interval(min(los), max(his), self.f if t.base == FIXED else 0,
                            a.unrestricted)
        if op in MATH:
            return self.math(node, args)
        if op in ("sort_by", "shuffle"):  # the same rows in another order
            return args[-1] if op == "sort_by" else args[0]
        if op == "sum_by":  # a total of at most every row's value
            v = args[1]
            count = self.c.node(node.args[1]).type.size
            return Interval(count * min(v.lo, 0.0), count * max(v.hi, 0.0), v.scale,
                            v.unrestricted)
        # anything else (protocol-level ops): the whole ring, never reported
        return Interval(-RING_LIMIT, RING_LIMIT - 1)

    def select(self, node: Node, args: list[Interval]) -> Interval:
        """Either branch; for the shapes `max`, `min` and `abs` lower to, what they are."""
        scale = max(args[1].scale, args[2].scale)
        cond = self.c.node(node.args[0])
        then, other = node.args[1], node.args[2]
        deps = args[1].unrestricted | args[2].unrestricted
        if cond.op == "lt":
            p, q = cond.args
            if (then, other) == (q, p):  # p < q ? q : p  is  max(p, q)
                return Interval(max(args[1].lo, args[2].lo), max(args[1].hi, args[2].hi),
                                scale, deps)
            if (then, other) == (p, q):  # q < p ? q : p  is  min(p, q)
                return Interval(min(args[1].lo, args[2].lo), min(args[1].hi, args[2].hi),
                                scale, deps)
            zero = self.c.node(q)
            flipped = self.c.node(then)
            if other == p and flipped.op == "neg" and flipped.args[0] == p and \
                    zero.op == "const" and not np.any(const_array(zero)):  # abs
                x = args[2]
                top = max(abs(x.lo), abs(x.hi))
                return Interval(0.0 if x.lo <= 0 <= x.hi else min(abs(x.lo), abs(x.hi)), top,
                                scale, deps)
        return _hull(args[1:], scale)

    # ------------------------------------------------------------ math functions

    def math(self, node: Node, args: list[Interval]) -> Interval:
        """The interval of an approximated function, from the function itself (not from
        its expansion, whose internal values wrap on purpose); W0603 where the argument
        may leave the function's domain (docs/numerics.md gives the result there)."""
        f = self.f
        unit = 2.0**f
        top = fixed_limit(f)
        deps = frozenset().union(*(a.unrestricted for a in args))
        lo, hi = (args[0].lo / unit, args[0].hi / unit)
        name = {"div": "`/`", "recip": "math.reciprocal", "exp": "math.exp",
                "log": "math.log", "sqrt": "math.sqrt", "sigmoid": "ml.sigmoid"}[node.op]

        def out(a: float, b: float) -> Interval:
            return Interval(math.floor(a * unit) - 4, math.ceil(b * unit) + 4, f, deps)

        def domain(message: str) -> None:
            self.result.findings.append(Finding(node.id, "domain", node.span,
                                                f"{name}: {message}", False, deps))

        if node.op == "sigmoid":
            return out(0.0, 1.0)
        if node.op == "exp":
            x_max = math.log(top)
            if hi > x_max:
                domain(f"the argument may reach {_num(hi)}, above {_num(x_max)} where e^x "
                       f"leaves the fixed range (the result saturates at 2^{fixed_limit_bits(f)})")
            return out(math.exp(min(lo, x_max)), math.exp(min(hi, x_max)))
        if node.op == "log":
            if lo <= 0:
                domain(f"the argument may be {_num(lo)}, not positive (the result is then "
                       f"-2^{fixed_limit_bits(f)})")
                return out(-top, math.log(max(hi, 2.0**-f)))
            return out(math.log(lo), math.log(hi))
        if node.op == "sqrt":
            if lo < 0:
                domain(f"the argument may be {_num(lo)}, negative (the result is then 0)")
            return out(math.sqrt(max(lo, 0.0)), math.sqrt(max(hi, 0.0)))
        quotient_limit = 2.0 ** (fixed_limit_bits(f) - 1)
        if node.op == "recip":
            num_lo = num_hi = 1.0
            d_lo, d_hi = lo, hi
        else:
            num_lo, num_hi = lo, hi
            d_lo, d_hi = args[1].lo / unit, args[1].hi / unit
            if max(abs(num_lo), abs(num_hi)) >= top:
                domain(f"the numerator may reach {_num(max(abs(num_lo), abs(num_hi)))}, "
                       f"outside the accepted range ±2^{fixed_limit_bits(f)}")
        if d_lo <= 0 <= d_hi:
            domain(f"the divisor may be 0 (the result is then 0) or close to it (the "
                   f"quotient may overflow ±2^{fixed_limit_bits(f) - 1})")
            return out(-quotient_limit, quotient_limit)
        corners = [a / b for a in (num_lo, num_hi) for b in (d_lo, d_hi)]
        q_lo, q_hi = min(corners), max(corners)
        if max(abs(q_lo), abs(q_hi)) >= quotient_limit:
            self.result.findings.append(Finding(
                node.id, "wrap", node.span, f"this quotient may reach "
                f"{_num(max(abs(q_lo), abs(q_hi)))} in magnitude and overflow: it must stay "
                f"below 2^{fixed_limit_bits(f) - 1} = {_num(quotient_limit)}", not
                node.type.is_secret, deps))
            q_lo, q_hi = max(q_lo, -quotient_limit), min(q_hi, quotient_limit)
        return out(q_lo, q_hi)

    # ------------------------------------------------------------ checks

    def check(self, node: Node, out: Interval) -> None:
        if node.op == "trunc":
            source = self.c.node(node.args[0])
            a = self.iv(source.id)
            if source.type.base == FIXED and a.magnitude >= TRUNC_LIMIT:
                bits = np.asarray(trunc_bits(node.attr("bits"), node.type.shape))
                d = int(bits.min())
                result_scale = d + (self.f if node.type.base == FIXED else 0)
                what = "product" if source.op in ("mul", "matmul") else "value"
                limit_bits = TRUNC_BITS - result_scale
                self.report(node, "trunc", f"this {what} may reach "
                            f"{_num(a.magnitude / 2.0**result_scale)} in magnitude and "
                            f"overflow: it must stay below 2^{limit_bits} = "
                            f"{_num(2.0**limit_bits)} to be truncated exactly", a)
            return
        if node.op == "lt":
            a, b = (self.iv(x) for x in node.args)
            if self.c.node(node.args[0]).type.base == FIXED:
                span = max(abs(a.hi - b.lo), abs(b.hi - a.lo))
                if span >= RING_LIMIT:
                    self.report(node, "compare", "this comparison may be wrong: the two "
                                f"values may differ by {_num(a.real(span))}, beyond "
                                f"{_num(a.real(RING_LIMIT))}",
                                Interval(0, 0, 0, a.unrestricted | b.unrestricted))
            return
        if node.type.base != FIXED or out.magnitude < RING_LIMIT or \
                node.op not in ("add", "sub", "neg", "mul", "matmul", "sum"):
            return
        if node.op in ("mul", "matmul") and self.users[node.id] and all(
                self.c.node(u).op == "trunc" for u in self.users[node.id]):
            return  # reported by its truncation, whose bound is the stricter one
        self.report(node, "wrap", f"this value may reach {_num(out.real(out.magnitude))} in "
                    f"magnitude and overflow: a fixed value with {out.scale} fractional bits "
                    f"must stay below 2^{63 - out.scale} = {_num(out.real(RING_LIMIT))}", out)

    def run(self) -> RangeResult:
        for node in self.c.nodes:
            out = self.transfer(node)
            if node.op not in ("input", "const"):
                before = len(self.result.findings)
                self.check(node, out)
                if len(self.result.findings) > before:
                    # reported once, here: what follows is analysed as if this value had
                    # stayed in range, so one cause gives one warning, not a cascade
                    out = self.clamp(node, out)
            self.result.intervals[node.id] = out
        return self.result

    def clamp(self, node: Node, out: Interval) -> Interval:
        """The value as if it had stayed within the accepted range of fixed values."""
        if node.op == "trunc":
            d = int(np.asarray(trunc_bits(node.attr("bits"), node.type.shape)).min())
            bound = TRUNC_LIMIT / 2.0**d
        else:
            bound = fixed_limit(self.f) * 2.0**out.scale
        return Interval(max(out.lo, -bound), min(out.hi, bound), out.scale, out.unrestricted)


def _num(x: float) -> str:
    return f"{x:.4g}"


def run(circuit: Circuit) -> RangeResult:
    """Intervals of every node of a (high-level) circuit and what may overflow."""
    return _Analysis(circuit).run()


__all__ = ["NAME", "SUMMARY", "Finding", "Interval", "RangeResult", "run"]
