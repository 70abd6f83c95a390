"""Fixed-point multiplication over shares: the truncation protocol of veil.backend.rep3.

Documented (docs/security.md): for every raw value x in [-2^62, 2^62) the result is
⌊x/2^d⌋ or ⌊x/2^d⌋ + 1, with no failure probability at all. Every product of a value
the validator accepts (|a| < 2^30 at 16 fractional bits) with a factor |b| ≤ 1 is in
that range, so the tests multiply values at the very edges of the accepted range: 10^6
of them, with 0 results off by more than one unit and so 0 sign flips.
"""

from __future__ import annotations

import numpy as np
from rep3_harness import run_threaded

from veil.compiler import compile_source
from veil.ir.semantics import encode
from veil.types import FIXED_LIMIT, TRUNC_BITS

N = 1_000_000
SRC = f"""
party p
party q
input a: secret fixed[{N}] from p
input b: secret fixed[{N}] from q
output c = a * b to p
"""


def products(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rep3 results and the exact floor ⌊a·b·2^16⌋ (raw, computed without wrap-around)."""
    c = compile_source(SRC, backend="rep3").executable
    enc = {"a": encode(a, "fixed"), "b": encode(b, "fixed")}
    got = run_threaded(c, enc).result.outputs["c"].view(np.int64)
    ra, rb = enc["a"].view(np.int64), enc["b"].view(np.int64)
    exact = ra.astype(object) * rb.astype(object)
    assert all(-(2**TRUNC_BITS) <= x < 2**TRUNC_BITS for x in exact)  # inside the bound
    floor = np.array([int(v) >> 16 for v in exact], dtype=np.int64)
    return got, floor


def test_million_products_are_exact_to_one_ulp() -> None:
    rng = np.random.default_rng(7)
    a = rng.uniform(-32, 32, N)
    b = rng.uniform(-32, 32, N)
    edges = np.array([32.0, -32.0, 2**-16, -(2**-16), 0.0, 1.0, -1.0, 31.999985, 1e-3])
    a[: len(edges)] = edges
    b[: len(edges)] = edges[::-1]
    a[len(edges): 2 * len(edges)] = edges
    b[len(edges): 2 * len(edges)] = edges
    got, floor = products(a, b)
    diff = got - floor
    assert np.all((diff == 0) | (diff == 1)), np.flatnonzero((diff != 0) & (diff != 1))[:10]
    assert (diff == 1).mean() > 0.1  # both roundings occur: the test can see them


def test_million_products_at_the_edges_of_the_accepted_range_never_flip_a_sign() -> None:
    """|a| just below the input limit 2^30 times |b| ≤ 1: the raw product is up to
    2^62 - 2^16, the largest a truncation accepts (the old protocol failed with
    probability |a·b|·2^-32, about one product in two here)."""
    rng = np.random.default_rng(11)
    top = FIXED_LIMIT - 2**-16
    a = np.where(rng.random(N) < 0.5, -1.0, 1.0) * (top - rng.integers(0, 2**20, N) * 2**-16)
    b = rng.uniform(-1.0, 1.0, N)
    b[: N // 4] = np.where(rng.random(N // 4) < 0.5, -1.0, 1.0)  # exactly ±1: the edge
    b[N // 4: N // 2] = np.where(rng.random(N // 4) < 0.5, -1.0, 1.0) * (1 - rng.integers(
        1, 64, N // 4) * 2**-16)
    a[:4] = [top, -top, -FIXED_LIMIT + 2**-16, top]
    b[:4] = [1.0, 1.0, -1.0, -1.0]
    got, floor = products(a, b)
    diff = got - floor
    assert np.count_nonzero((diff != 0) & (diff != 1)) == 0
    expected_sign = np.sign(np.round(a * 2**16) * np.round(b * 2**16))
    flips = np.count_nonzero((np.sign(got) != expected_sign) & (floor != 0) & (floor != -1))
    assert flips == 0
    assert (diff == 1).any() and (diff == 0).any()
