"""Building blocks for the fixed-point approximations (veil.ir.numerics): one code path
that either adds circuit nodes or computes cleartext values.

An expansion is written once against `Emit` and run two ways: with `GraphEmit` it
appends nodes to a Builder (the circuit every backend runs); with `ValueEmit` it
evaluates the same operations on numpy arrays through the reference semantics (what
constant folding and the monotone pass see). So the value a math node stands for is
by construction the value its expansion computes on the plain backend.

Expansions work on flat vectors of raw ring values typed `int` (a fixed value x at
scale s is the int x·2^s): internal arithmetic wraps on purpose where a result is
discarded, and only the final value is cast back to `fixed`. Bits are bool matrices
with one row per bit position (row i = bit i) and one column per element.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from veil.ir.nodes import Node
from veil.ir.ops import infer
from veil.types import BOOL, FIXED, INT, VType

Handle = Any  # a node id (GraphEmit) or a (VType, ndarray) pair (ValueEmit)


class Emit:
    """The operations an expansion may use; subclasses build nodes or compute values."""

    def __init__(self, frac_bits: int):
        self.f = frac_bits

    def op(self, name: str, args: Sequence[Handle], **attrs: Any) -> Handle:
        raise NotImplementedError

    def const(self, raw: Any, base: str = INT) -> Handle:
        """A public array of raw ring values (ints) or bools, used as given."""
        raise NotImplementedError

    def type(self, h: Handle) -> VType:
        raise NotImplementedError

    # ---------------------------------------------------------------- arithmetic

    def add(self, a: Handle, b: Handle) -> Handle:
        return self.op("add", (a, b))

    def sub(self, a: Handle, b: Handle) -> Handle:
        return self.op("sub", (a, b))

    def mul(self, a: Handle, b: Handle) -> Handle:
        return self.op("mul", (a, b))

    def trunc(self, x: Handle, bits: int) -> Handle:
        """x >> bits (±1 unit on rep3), as an int; `bits` of 0 is no truncation."""
        return x if bits == 0 else self.op("trunc", (x,), bits=int(bits), base=INT)

    def mul_trunc(self, a: Handle, b: Handle, bits: int) -> Handle:
        return self.trunc(self.mul(a, b), bits)

    def scale(self, x: Handle, factor: int) -> Handle:
        """x times a public int (free on shares)."""
        return self.mul(x, self.const(np.int64(factor)))

    def plus(self, x: Handle, raw: int) -> Handle:
        return self.add(x, self.const(np.int64(raw)))

    # ---------------------------------------------------------------- shapes

    def flat(self, x: Handle) -> Handle:
        t = self.type(x)
        return x if len(t.shape) == 1 else self.op("reshape", (x,), shape=(t.size,))

    def rows(self, m: Handle, lo: int, hi: int) -> Handle:
        n = self.type(m).shape[1]
        return self.op("slice", (m,), spec=(("r", lo, hi), ("r", 0, n)))

    def row(self, m: Handle, i: int) -> Handle:
        return self.op("slice", (m,), spec=(("i", i),))

    def stack(self, parts: Sequence[Handle]) -> Handle:
        return self.op("stack", tuple(parts))

    def concat(self, parts: Sequence[Handle]) -> Handle:
        return parts[0] if len(parts) == 1 else self.op("concat", tuple(parts))

    # ---------------------------------------------------------------- bits

    def bits(self, x: Handle) -> Handle:
        """The 64 bits of a flat int vector as a bool matrix [64, n] (row i = bit i)."""
        return self.op("transpose", (self.op("to_bits", (x,)),))

    def b2a(self, bits: Handle) -> Handle:
        return self.op("b2a", (bits,))

    def prefix_or_down(self, z: Handle) -> Handle:
        """y[i] = z[i] or z[i+1] or ... or z[k-1] for a bool matrix z [k, n]: log2(k)
        rounds of OR, each on the rows that still have a partner s rows above."""
        k = self.type(z).shape[0]
        y, s = z, 1
        while s < k:
            merged = self.op("or", (self.rows(y, 0, k - s), self.rows(y, s, k)))
            y = self.concat([merged, self.rows(y, k - s, k)])
            s *= 2
        return y

    def or_all(self, z: Handle) -> Handle:
        """OR of all rows of z [k, n], as a [1, n] matrix: a balanced tree."""
        while self.type(z).shape[0] > 1:
            k = self.type(z).shape[0]
            half = k // 2
            merged = self.op("or", (self.rows(z, 0, half), self.rows(z, half, 2 * half)))
            z = self.concat([merged, self.rows(z, 2 * half, k)]) if k % 2 else merged
        return z

    def linear(self, weights: np.ndarray, values: Handle, bias: np.ndarray | None = None
               ) -> Handle:  # fmt: skip
        """weights [m, k] @ values [k, n] + bias[:, None]: public coefficients, so free."""
        out = self.op("matmul", (self.const(np.asarray(weights, dtype=np.int64)), values))
        if bias is not None:
            b = np.asarray(bias, dtype=np.int64).reshape(-1, 1)
            out = self.add(out, self.const(b))
        return out

    def of_msb(self, y_int: Handle, table: Sequence[int]) -> Handle:
        """G(p) for every column, where y_int [k, n] holds the 0/1 prefix flags y_i = 1
        for i <= p (p = -1: none set) and table[p + 1] = G(p), p = -1 .. k-1.

        Linear in the flags: G(p) = G(-1) + sum over i <= p of (G(i) - G(i-1)), so any
        function of the position of the top bit costs nothing once the flags are
        arithmetic (the ring wraps, so differences of large values are fine)."""
        g = [int(v) for v in table]
        k = self.type(y_int).shape[0]
        assert len(g) == k + 1
        steps = np.array([[_wrap(g[i + 1] - g[i]) for i in range(k)]], dtype=np.int64)
        return self.row(self.linear(steps, y_int, np.array([_wrap(g[0])])), 0)


def _wrap(v: int) -> int:
    """A Python int as the signed 64-bit ring element it is congruent to."""
    v %= 1 << 64
    return v - (1 << 64) if v >= 1 << 63 else v


class GraphEmit(Emit):
    """Appends nodes to a Builder (veil.ir.lower.Builder)."""

    def __init__(self, builder: Any, frac_bits: int):
        super().__init__(frac_bits)
        self.b = builder

    def op(self, name: str, args: Sequence[Handle], **attrs: Any) -> Handle:
        return self.b.add(name, tuple(args), attrs)

    def const(self, raw: Any, base: str = INT) -> Handle:
        arr = np.asarray(raw)
        if base == BOOL:
            data = tuple(int(x) for x in arr.astype(bool).reshape(-1).tolist())
        else:
            data = tuple(_wrap(int(x)) for x in arr.reshape(-1).tolist())
        return self.b.add("const", (), {"base": base, "shape": tuple(arr.shape), "data": data})

    def type(self, h: Handle) -> VType:
        return self.b.type(h)


class ValueEmit(Emit):
    """Computes every operation at once, on cleartext arrays (reference semantics)."""

    def op(self, name: str, args: Sequence[Handle], **attrs: Any) -> Handle:
        from veil.ir.semantics import apply

        items = tuple(sorted(attrs.items()))
        t = infer(name, [a[0] for a in args], items)
        node = Node(-1, name, (), t, items)
        return (t, np.asarray(apply(node, [a[1] for a in args])))

    def const(self, raw: Any, base: str = INT) -> Handle:
        arr = np.asarray(raw)
        if base == BOOL:
            return (VType("public", BOOL, arr.shape), arr.astype(np.bool_))
        data = np.array([_wrap(int(x)) for x in arr.reshape(-1).tolist()], dtype=np.int64)
        return (VType("public", base, arr.shape), data.reshape(arr.shape).view(np.uint64))

    def type(self, h: Handle) -> VType:
        return h[0]

    def value(self, x: np.ndarray, base: str = FIXED) -> Handle:
        """A cleartext operand (ring or bool array) as a secret-labelled handle, so that
        the expansion takes the same path it takes on secret data."""
        arr = np.asarray(x)
        return (VType("secret", base, arr.shape), arr)
