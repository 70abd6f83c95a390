"""Exponential and logistic sigmoid of secret fixed-point values.

Both rest on e^x = 2^t with t = x·log2(e), computed exactly in the ring (x times a
public constant with 40 or so fractional bits: free), and on the bits of t from one
arithmetic-to-boolean conversion (Aly & Smart, "Benchmarking Privacy Preserving
Scientific Operations", ACNS 2019, exp2 by integer and fractional part):

- exp: 2^t = 2^n · 2^φ with n = ⌊t⌋ and φ in [0, 1). 2^n is the product of
  1 + b_j(2^(2^j) - 1) over the bits b_j of n (integer products, 3 rounds); 2^φ a
  polynomial in φ. Arguments above ln(2^(62-2f)) saturate at the largest accepted value
  and those below -(f+1)·ln 2 give 0 (both by a comparison made alongside).
- sigmoid(x) = 1/(1 + 2^-|t|): for |t| = n + φ, n < 16, the value is one of 16
  polynomials in φ (one per n, fitted to 1/(1 + 2^-(n+φ))), mirrored for negative x;
  beyond, it is 0 or 1 within 2^-16. The bits of n, the sign and an "|x| is large" flag
  select the polynomial's coefficients through a one-hot demultiplexer (3 AND rounds),
  so all the polynomials share the powers of φ and cost one product each. 16 rounds for
  f = 16, against 18 comparisons and selects for the piecewise-linear sigmoid, with an
  error of one unit (1.5·10^-5) instead of 3·10^-3.
"""

from __future__ import annotations

import math

import numpy as np

from veil.ir import fx_tables
from veil.ir.fx_emit import Emit, Handle
from veil.ir.fx_normalized import MAX_SCALE, polynomial, powers
from veil.types import FIXED, INT, fixed_limit_bits

LOG2_E = 1.4426950408889634


def exp_degree(f: int) -> int:
    t = np.linspace(0.0, 1.0, 4001)
    for d, c in sorted(fx_tables.EXP2.items()):
        if np.abs(np.polyval(c[::-1], t) / 2.0**t - 1).max() < 2.0 ** -(f + 1):
            return d
    return max(fx_tables.EXP2)


def exp_limits(f: int) -> tuple[int, int]:
    """Raw bounds (lo, hi): below lo the result is 0, above hi it saturates."""
    top = fixed_limit_bits(f)
    hi = math.floor(top * math.log(2) * 2.0**f - 1e-9)
    lo = math.ceil(-(f + 1) * math.log(2) * 2.0**f) + 1
    return lo, hi


def _column(e: Emit, bits: Handle) -> Handle:
    """A flat bool vector as a [1, n] matrix."""
    return e.op("reshape", (bits,), shape=(1, e.type(bits).shape[0]))


def _tree_product(e: Emit, factors: list[Handle]) -> Handle:
    """Integer product of the factors as a balanced tree (⌈log2 k⌉ rounds)."""
    while len(factors) > 1:
        paired = [e.mul(factors[i], factors[i + 1]) for i in range(0, len(factors) - 1, 2)]
        factors = paired + ([factors[-1]] if len(factors) % 2 else [])
    return factors[0]


def exp(e: Emit, x: Handle) -> Handle:
    f = e.f
    top = fixed_limit_bits(f)
    lo, hi = exp_limits(f)
    scale_t = 63 - math.ceil(math.log2(63 - f))  # t + f + 1 < 63 - f in the domain
    frac = min(f + 4, MAX_SCALE)  # bits of φ
    over = e.op("lt", (e.op("cast", (e.const(np.int64(hi)),), base=FIXED), x))
    under = e.op("lt", (x, e.op("cast", (e.const(np.int64(lo)),), base=FIXED)))
    raw = e.op("cast", (x,), base=INT)
    shifted = e.plus(e.scale(raw, round(LOG2_E * 2.0 ** (scale_t - f))), (f + 1) << scale_t)
    bits = e.bits(shifted)  # t + f + 1 = n' + φ, n' = n + f + 1 in [0, 62 - f]
    flags = e.b2a(e.concat([e.rows(bits, scale_t - frac, scale_t + 6),
                            _column(e, over), _column(e, under)]))
    phi = e.row(e.linear(np.array([[1 << i for i in range(frac)]]), e.rows(flags, 0, frac)), 0)
    factors = [e.plus(e.scale(e.row(flags, frac + j), (1 << (1 << j)) - 1), 1) for j in range(6)]
    over_i, under_i = e.row(flags, frac + 6), e.row(flags, frac + 7)
    inside = e.sub(e.sub(e.const(np.int64(1)), over_i), under_i)  # 0 outside the domain
    power = _tree_product(e, [*factors, inside])  # 2^n' (0 outside)
    mantissa = polynomial(e, phi, fx_tables.EXP2[exp_degree(f)], frac, f - 1)  # 2^φ
    value = e.mul_trunc(power, mantissa, f)  # 2^n'·2^φ / 2 at scale f is e^x
    saturated = e.scale(over_i, (1 << (top + f)) - 1)
    return e.op("cast", (e.add(value, saturated),), base=FIXED)


def sigmoid_degree(f: int) -> int:
    t = np.linspace(0.0, 1.0, 2001)
    for d, rows in sorted(fx_tables.SIGMOID.items()):
        worst = max(np.abs(np.polyval(c[::-1], t) - 1 / (1 + 2.0 ** -(n + t))).max()
                    for n, c in enumerate(rows))
        if worst < 2.0 ** -(f + 1):
            return d
    return max(fx_tables.SIGMOID)


def sigmoid_segments(f: int) -> int:
    """|t| = n + φ with n below this: beyond, the sigmoid is 0 or 1 within 2^-segments,
    which must be below one unit (16 segments up to 16 fractional bits, else 32)."""
    return 16 if f <= 16 else 32


def sigmoid_limit(f: int) -> int:
    """Raw |x| beyond which |t| reaches the segments (|x| >= 11.09 at 16 bits)."""
    return math.floor(sigmoid_segments(f) * math.log(2) * 2.0**f) - 1


def sigmoid(e: Emit, x: Handle) -> Handle:
    f = e.f
    n = e.type(x).shape[0]
    scale_t = 57  # |t| < 32 stays below 2^62
    frac = min(f + 4, MAX_SCALE)
    coef_scale = min(f + 6, 58 - frac)
    limit = sigmoid_limit(f)
    # |x| large: t = x·log2(e) wraps around the ring, so neither its bits nor its sign
    # mean anything there; the comparisons decide
    large_positive = e.op("lt", (e.op("cast", (e.const(np.int64(limit)),), base=FIXED), x))
    large_negative = e.op("lt", (x, e.op("cast", (e.const(np.int64(-limit)),), base=FIXED)))
    big = e.op("or", (large_positive, large_negative))
    raw = e.op("cast", (x,), base=INT)
    bits = e.bits(e.scale(raw, round(LOG2_E * 2.0 ** (scale_t - f))))
    sign = e.row(bits, 63)
    magnitude = e.op("xor", (e.rows(bits, 0, 63), e.rows(bits, 63, 64)))  # |t| (to 2^-57)
    segments = sigmoid_segments(f)
    digits = [e.row(magnitude, scale_t + j) for j in range(segments.bit_length() - 1)]

    def literals(b: Handle) -> Handle:
        return e.stack([e.op("not", (b,)), b])  # [2, n]: row v is [bit == v]

    def outer(hi: Handle, lo: Handle) -> Handle:  # [a, n] and [b, n] → [a·b, n]
        a, b = e.type(hi).shape[0], e.type(lo).shape[0]
        both = e.op("and", (e.op("reshape", (hi,), shape=(a, 1, n)),
                            e.op("reshape", (lo,), shape=(1, b, n))))
        return e.op("reshape", (both,), shape=(a * b, n))

    low = outer(literals(digits[1]), literals(digits[0]))  # n mod 4
    mid = outer(literals(digits[3]), literals(digits[2]))
    top = literals(sign) if len(digits) == 4 else outer(literals(sign), literals(digits[4]))
    high = e.op("and", (top, _column(e, e.op("not", (big,)))))  # n's top bits and the sign
    one_hot = outer(high, outer(mid, low))  # row n + segments·sign, 0 when |x| is large
    flags = e.b2a(e.concat([one_hot, _column(e, large_positive)]))
    phi_bits = e.b2a(e.rows(magnitude, scale_t - frac, scale_t))
    phi = e.row(e.linear(np.array([[1 << i for i in range(frac)]]), phi_bits), 0)
    degree = sigmoid_degree(f)
    table = fx_tables.SIGMOID[degree]
    weights = np.zeros((degree + 1, 2 * segments), dtype=np.int64)
    for s in (0, 1):  # sigmoid(-a) = 1 - sigmoid(a)
        for k in range(segments):
            for j, c in enumerate(table[k]):
                value = (s + (1 - 2 * s) * c) if j == 0 else (1 - 2 * s) * c
                weights[j, k + segments * s] = round(value * 2.0**coef_scale)
    coefficients = e.linear(weights, e.rows(flags, 0, 2 * segments))  # [degree + 1, n]
    p = powers(e, phi, degree, frac)
    total = e.scale(e.row(coefficients, 0), 1 << frac)
    for j in range(1, degree + 1):
        total = e.add(total, e.mul(e.row(coefficients, j), p[j]))
    value = e.trunc(total, coef_scale + frac - f)
    return e.op("cast", (e.add(value, e.scale(e.row(flags, 2 * segments), 1 << f)),),
                base=FIXED)
