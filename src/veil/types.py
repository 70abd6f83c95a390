"""Value types shared by the checker and the IR: security label, base type, static shape.

Also the number format: `fixed` is a signed 64-bit ring element holding round(x * 2^16).
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"
SECRET = "secret"
INT = "int"
FIXED = "fixed"
BOOL = "bool"
WORD = "word"
"""Protocol level only: a 64-bit word of boolean-shared bits (one per ring element)."""

Shape = tuple[int, ...]

FRAC_BITS = 16
"""Default fractional bits of `fixed`: resolution 2^-16 ≈ 1.5e-5 (a program may choose
another number with `precision N`)."""

RING_BITS = 64
TRUNC_BITS = 62
"""A truncation over shares is exact to one unit for every raw value in
[-2^62, 2^62) (veil.backend.rep3, docs/security.md): the bound every fixed-point
product must respect before it is truncated."""


def fixed_limit_bits(frac_bits: int = FRAC_BITS) -> int:
    """log2 of the largest magnitude accepted for a `fixed` input, literal or param:
    62 - 2f, so that a product with any factor of magnitude at most 1 stays inside the
    truncation bound (2^30 at 16 fractional bits)."""
    return TRUNC_BITS - 2 * frac_bits


def fixed_limit(frac_bits: int = FRAC_BITS) -> float:
    return 2.0 ** fixed_limit_bits(frac_bits)


FIXED_LIMIT = fixed_limit()
"""Largest magnitude accepted for a `fixed` input or constant at the default precision."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


@dataclass(frozen=True)
class VType:
    """The type of a value: who may see it, what it is, and its static shape."""

    label: str
    base: str
    shape: Shape = ()

    def __str__(self) -> str:
        dims = f"[{', '.join(map(str, self.shape))}]" if self.shape else ""
        return f"{self.label} {self.base}{dims}"

    @property
    def is_secret(self) -> bool:
        return self.label == SECRET

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def with_(self, label: str | None = None, base: str | None = None,
              shape: Shape | None = None) -> VType:  # fmt: skip
        return VType(label or self.label, base or self.base,
                     self.shape if shape is None else shape)  # fmt: skip


def join_label(*labels: str) -> str:
    """Secret if any operand is secret: public flows into secret, never back."""
    return SECRET if SECRET in labels else PUBLIC


def numeric_join(a: str, b: str) -> str | None:
    """Base type of arithmetic on a and b: int+int=int, any fixed gives fixed, bool None."""
    if BOOL in (a, b):
        return None
    return FIXED if FIXED in (a, b) else INT


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """NumPy broadcasting of two static shapes (trailing dimensions align; 1 stretches)."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def matmul_shape(a: Shape, b: Shape) -> Shape | None:
    """Shape of a @ b for vectors and matrices, or None when the inner sizes differ."""
    if len(a) == 1 and len(b) == 1:
        return () if a[0] == b[0] else None
    if len(a) == 2 and len(b) == 1:
        return (a[0],) if a[1] == b[0] else None
    if len(a) == 1 and len(b) == 2:
        return (b[1],) if a[0] == b[0] else None
    if len(a) == 2 and len(b) == 2:
        return (a[0], b[1]) if a[1] == b[0] else None
    return None


def fmt_shape(shape: Shape) -> str:
    return f"[{', '.join(map(str, shape))}]" if shape else "scalar"
