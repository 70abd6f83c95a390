"""Division, reciprocal, logarithm and square root of secret fixed-point values.

All four start the same way (Catrina & Saxena, "Secure Computation With Fixed-Point
Numbers", FC 2010, protocol Norm; Aly & Smart, "Benchmarking Privacy Preserving
Scientific Operations", ACNS 2019): find the position p of the top bit of the value,
because any function G(p) of it is a public linear combination of the prefix flags
y_i = [i <= p] (Emit.of_msb) and costs nothing more. The bits come from one
arithmetic-to-boolean conversion (8 rounds), the flags from a prefix OR (6 rounds) and
one bit injection (2 rounds): 16 rounds before any arithmetic. Then:

- x·2^(61-p), truncated, is the mantissa m in [0.5, 1]: division runs Goldschmidt's
  method on it (1/m ≈ w0 = 2.9142 - 2m, Catrina & Saxena; the correction
  1/(1 - e) = 1 + e + e^2 + ..., e = 1 - m·w0, summed with powers computed at once),
  while the numerator is shifted by the secret amount f - 1 - p in stages whose
  headroom never overflows;
- ln x = ln m + (p + 1 - f)·ln 2 with a polynomial in m - 0.75;
- sqrt x: the mantissa normalized to an even power, [0.25, 1), with its half (the
  parity of p) choosing a linear start for 1/sqrt(m), then Goldschmidt's coupled
  iteration for sqrt(m) and 1/(2 sqrt(m)) (Markstein; Liedel, "Secure Distributed
  Computation of the Square Root and Applications", ISPEC 2012).

Values outside a function's domain give a documented result, never garbage: x / 0 is 0,
ln x for x <= 0 is the most negative accepted value, sqrt of a negative is 0
(docs/numerics.md). Every truncation here stays inside the ±2^62 bound of the rep3
protocol for every argument in the domain (the scales are chosen for that).
"""

from __future__ import annotations

import math

import numpy as np

from veil.ir import fx_tables
from veil.ir.fx_emit import Emit, Handle, ValueEmit
from veil.types import FIXED, INT, fixed_limit_bits

RECIPROCAL_START = 2.9142  # 1/m ≈ 2.9142 - 2m on [0.5, 1], relative error ≤ 0.0858
RECIPROCAL_ERROR = 0.0858


def error_terms(f: int) -> int:
    """How many terms e, e^2, ... of 1/(1 - e) reach a relative error below 2^-(f+1)."""
    d = 1
    while RECIPROCAL_ERROR ** (d + 1) > 2.0 ** -(f + 1):
        d += 1
    return d


def powers(e: Emit, x: Handle, degree: int, scale: int) -> dict[int, Handle]:
    """x^1 .. x^degree at `scale` (x at that scale too), log-depth: x^k = x^h · x^(k-h)
    for h the largest power of two below k, so all of them take ⌈log2 degree⌉ products."""
    out = {1: x}
    for k in range(2, degree + 1):
        h = 1 << (k - 1).bit_length() - 1
        out[k] = e.mul_trunc(out[h], out[k - h], scale)
    return out


MAX_SCALE = 30
"""Largest internal scale: a product of two values below 1 stays below 2^60."""


def polynomial(e: Emit, x: Handle, coefficients: list[float], scale: int, out_scale: int
               ) -> Handle:  # fmt: skip
    """Σ c_k x^k for |x| <= 1 at `scale`, with one truncation to `out_scale`: the
    coefficients get as many bits as the sum leaves room for (at most scale + 8)."""
    headroom = math.ceil(math.log2(sum(abs(c) for c in coefficients) + 1))
    cs = min(scale + 8, 61 - scale - headroom)
    p = powers(e, x, len(coefficients) - 1, scale)
    raw = [round(c * 2.0**cs) for c in coefficients]
    total = e.const(np.int64(raw[0] << scale))
    for k in range(1, len(raw)):
        total = e.add(total, e.scale(p[k], raw[k]))
    return e.trunc(total, cs + scale - out_scale)


def msb_flags(e: Emit, x: Handle, signed: bool) -> tuple[Handle, Handle, Handle | None]:
    """The prefix flags of a flat int vector, as ints [k, n], and its sign as an int row.

    signed: the bits of |x| - 1 for negative x (x XOR its sign), k = 63, plus a row that
    is 0 exactly when x = 0; otherwise the raw 64 bits (a negative x has p = 63)."""
    bits = e.bits(x)
    sign = e.rows(bits, 63, 64)
    if not signed:
        flags = e.b2a(e.prefix_or_down(bits))
        return flags, e.row(flags, 63), None
    z = e.op("xor", (e.rows(bits, 0, 63), sign))
    flags = e.b2a(e.concat([e.prefix_or_down(z), sign, e.or_all(bits)]))
    return e.rows(flags, 0, 63), e.row(flags, 63), e.row(flags, 64)


def _table(k: int, fn) -> list[int]:
    """G(p) for p = -1 .. k-1 (fn returns None outside its range: 0 there)."""
    return [int(v) if (v := fn(p)) is not None else 0 for p in range(-1, k)]


# ---------------------------------------------------------------- division


def divide(e: Emit, a: Handle, b: Handle) -> Handle:
    """a / b for flat fixed vectors; 0 where b = 0. Exact to about 2^-(f+1) relative plus
    a few units, for |a| < 2^(62-2f) and |a/b| < 2^(61-2f)."""
    f = e.f
    big, small = f + 8, f + 4  # scales of the precise mantissa and of the error terms
    numerator = e.op("cast", (a,), base=INT)
    x = e.op("cast", (b,), base=INT)
    y, sign, nonzero = msb_flags(e, x, signed=True)
    assert nonzero is not None
    # m = |x| / 2^(p+1) in [0.5, 1] (negative for negative x), at two precisions
    norm = e.mul(x, e.of_msb(y, _table(63, lambda p: 1 << (61 - p) if p <= 61 else 1)))
    m_f, m_big = e.trunc(norm, 62 - f), e.trunc(norm, 62 - big)
    # w0 ≈ 1/m; 0 when x = 0 (nonzero - 2·sign is 1, -1 or 0), so the quotient is 0 there
    start = e.scale(e.sub(nonzero, e.scale(sign, 2)), round(RECIPROCAL_START * 2.0**f))
    w0 = e.sub(start, e.scale(m_f, 2))
    err = e.sub(e.const(np.int64(1 << small)), e.mul_trunc(m_big, w0, big + f - small))
    shifted = _shift_numerator(e, numerator, y)  # a·2^(f-1-p): |shifted| <= |a/b|
    u = e.mul_trunc(shifted, w0, f)  # ≈ (a/b)·m·w0
    terms = powers(e, err, error_terms(f), small)
    series = terms[1]
    for k in range(2, len(terms) + 1):
        series = e.add(series, terms[k])
    # a/b = u / (1 - err) = u + u·(err + err^2 + ...)
    return e.op("cast", (e.add(u, e.mul_trunc(u, series, small)),), base=FIXED)


def _shift_numerator(e: Emit, numerator: Handle, y: Handle) -> Handle:
    """numerator · 2^(f-1-p) for the secret p of y, with every truncation input below 2^62.

    A shift by a secret amount is a product with a secret power of two and a truncation
    by a public amount h, which needs h bits of headroom. Candidate j covers right
    shifts r = p+1-f in (T_j, T_j + h_j]: it first drops T_j bits publicly (so the value
    has T_j more bits of headroom) and then shifts by at most h_j = T_j + f. Candidates
    are computed side by side and one is kept by the flags y (one product)."""
    f = e.f
    # candidate 1: r in [-f, f] (left shifts up to f bits: then the result is what needs
    # the headroom, and it is at most |a/b|)
    candidates = [e.trunc(e.mul(numerator, e.of_msb(y, _table(
        63, lambda p: 1 << (2 * f - 1 - p) if p <= 2 * f - 1 else None))), f)]
    flags: list[int] = []
    top = f  # the largest right shift covered so far
    while top < 62 - f:
        dropped = top
        h = dropped + f
        base = e.trunc(numerator, dropped)
        first_p = dropped + f  # r > dropped  ⇔  p >= dropped + f
        table = _table(63, lambda p, d=dropped, h=h, lo=first_p: (
            1 << (h + d + f - 1 - p)) if lo <= p <= min(62, d + h + f - 1) else None)
        candidates.append(e.trunc(e.mul(base, e.of_msb(y, table)), h))
        flags.append(first_p)
        top = dropped + h
    out = candidates[0]
    for j, p in enumerate(flags, start=1):  # p >= first p of candidate j: take it
        out = e.add(out, e.mul(e.row(y, p), e.sub(candidates[j], candidates[j - 1])))
    return out


def reciprocal(e: Emit, x: Handle) -> Handle:
    one = e.op("cast", (e.const(np.full(e.type(x).shape, 1 << e.f, dtype=np.int64)),),
               base=FIXED)
    return divide(e, one, x)


# ---------------------------------------------------------------- logarithm


def log_degree(f: int) -> int:
    return min(d for d, c in fx_tables.LN.items()
               if _ln_error(c) < 2.0 ** -(f + 2) or d == max(fx_tables.LN))


def _ln_error(coefficients: list[float]) -> float:
    u = np.linspace(-0.25, 0.25, 4001)
    return float(np.abs(np.polyval(coefficients[::-1], u) - np.log(0.75 + u)).max())


def log_floor(f: int) -> int:
    """Raw value of ln x for x <= 0: the most negative accepted value."""
    return -((1 << (fixed_limit_bits(f) + f)) - 1)


def log(e: Emit, x: Handle) -> Handle:
    """Natural logarithm; the most negative accepted value for x <= 0."""
    f = e.f
    scale = min(f + 8, MAX_SCALE)
    raw = e.op("cast", (x,), base=INT)
    y, _, _ = msb_flags(e, raw, signed=False)
    coefficients = fx_tables.LN[log_degree(f)]
    # x = m·2^(p+1-f) with m in [0.5, 1); p = -1 (x = 0), 62 and 63 (negative): m = 0
    norm = e.of_msb(y, _table(64, lambda p: 1 << (61 - p) if 0 <= p <= 61 else None))
    m = e.mul_trunc(raw, norm, 62 - scale)
    u = e.plus(m, -round(0.75 * 2.0**scale))
    poly = polynomial(e, u, coefficients, scale, f)
    # the value of the polynomial at m = 0, computed exactly as the circuit computes it,
    # so that the saturated results land on the floor
    probe = ValueEmit(f)
    at_zero = polynomial(probe, probe.const(np.int64(-round(0.75 * 2.0**scale))),
                         coefficients, scale, f)
    zero_value = int(np.asarray(at_zero[1]).view(np.int64))
    floor = log_floor(f)

    def exponent(p: int) -> int:
        if 0 <= p <= 61:
            return round((p + 1 - f) * math.log(2) * 2.0**f)
        return floor - zero_value

    return e.op("cast", (e.add(poly, e.of_msb(y, _table(64, exponent))),), base=FIXED)


# ---------------------------------------------------------------- square root


def sqrt_iterations(f: int) -> int:
    eps = _rsqrt_start_error()
    n, err = 0, eps
    while err > 2.0 ** -(f + 2):
        err = 1.5 * err * err
        n += 1
    return n


def _rsqrt_start_error() -> float:
    m = np.linspace(0.5, 1.0, 4001)
    a, b = fx_tables.RSQRT_HIGH
    return float(np.abs((a - b * m) * np.sqrt(m) - 1).max())


def sqrt(e: Emit, x: Handle) -> Handle:
    """Square root; 0 for x <= 0."""
    f = e.f
    scale = min(f + 8, 26)  # of m, g and r; products of g and h stay below 2^62
    extra = 8  # y0 and h carry 8 more bits: the slopes of the start are k / 2^8
    raw = e.op("cast", (x,), base=INT)
    y, _, _ = msb_flags(e, raw, signed=False)
    # x·2^f = m·2^(2k) with m in [0.25, 1), k = ⌈(p + f + 1)/2⌉; valid for p <= 60
    shift = 62 - scale

    def k_of(p: int) -> int:
        return -(-(p + f + 1) // 2)

    def valid(p: int) -> bool:  # positive and accepted (raw < 2^(62-f)), with a bit to spare
        return 0 <= p <= min(60, 62 - f)

    def factor(p: int, even: bool) -> int | None:
        if not valid(p) or ((p + f + 1) % 2 == 0) != even:
            return None
        return 1 << (62 + f - 2 * k_of(p))

    factors = e.stack([e.of_msb(y, _table(64, lambda p: factor(p, True))),
                       e.of_msb(y, _table(64, lambda p: factor(p, False)))])
    halves = e.trunc(e.mul(raw, factors), shift)  # [2, n]: the value in the half it is in
    m_high, m_low = e.row(halves, 0), e.row(halves, 1)
    m = e.add(m_high, m_low)
    is_high = e.of_msb(y, _table(64, lambda p: 1 if factor(p, True) else None))
    is_low = e.of_msb(y, _table(64, lambda p: 1 if factor(p, False) else None))
    (a_hi, b_hi), (a_lo, b_lo) = fx_tables.RSQRT_HIGH, fx_tables.RSQRT_LOW
    start = e.add(e.scale(is_high, round(a_hi * 2.0 ** (scale + extra))),
                  e.scale(is_low, round(a_lo * 2.0 ** (scale + extra))))
    slope = e.add(e.scale(m_high, round(b_hi * 2**extra)), e.scale(m_low, round(b_lo * 2**extra)))
    y0 = e.sub(start, slope)  # ≈ 1/sqrt(m) at scale + extra; 0 outside the domain
    g = e.mul_trunc(m, y0, scale + extra)  # → sqrt(m)
    h = y0  # → 1/(2 sqrt(m)), at scale + extra + 1
    half = e.const(np.int64(1 << (scale - 1)))
    iterations = sqrt_iterations(f)
    # the result is g·2^k: shift g by the secret k - scale in the last step (one stage:
    # g < 1 leaves the headroom)
    head = max(scale - k_of(0), 0)  # so that every shift factor is a whole number

    def out_factor(p: int) -> int | None:
        return 1 << (k_of(p) - scale + head) if valid(p) else None

    for i in range(iterations):
        r = e.sub(half, e.mul_trunc(g, h, scale + extra + 1))
        if i == iterations - 1:
            scaled = e.mul_trunc(g, e.of_msb(y, _table(64, out_factor)), head)
            return e.op("cast", (e.add(scaled, e.mul_trunc(scaled, r, scale)),), base=FIXED)
        g, h = e.add(g, e.mul_trunc(g, r, scale)), e.add(h, e.mul_trunc(h, r, scale))
    raise AssertionError("sqrt needs at least one iteration")
