"""The plain backend against numpy float64 and Python integers, with stated tolerances.

Fixed point has 16 fractional bits; encoding rounds to the nearest 2^-16 (error ≤ 2^-17)
and each truncation rounds toward −∞ (error < 2^-16). The bounds below follow from that.
"""

from __future__ import annotations

import math

import numpy as np
from helpers import run_text
from hypothesis import given, settings
from hypothesis import strategies as st

ULP = 2.0**-16
small = st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False)
vec = st.lists(small, min_size=5, max_size=5)
ints64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

ELEMENTWISE = """
party p
party q
input a: secret fixed[5] from p
input b: secret fixed[5] from q
output sum_ = a + b to p
output diff = a - b to p
output prod_ = a * b to p
output neg = -a to p
output lt_ = a < b to p
output ge_ = a >= b to p
output eq_ = a == a to p
output mx = max(a, b) to p
output mn = min(a, b) to p
output ab = abs(a) to p
output sel = select(a > b, a, b * 2.0) to p
"""


@settings(max_examples=60, deadline=None)
@given(vec, vec)
def test_elementwise_fixed_matches_float64(a: list[float], b: list[float]) -> None:
    out = run_text(ELEMENTWISE, {"a": a, "b": b})
    x, y = np.array(a), np.array(b)
    xr, yr = np.rint(x / ULP) * ULP, np.rint(y / ULP) * ULP  # what the encoding keeps
    assert np.all(np.abs(out["sum_"] - (x + y)) <= ULP)
    assert np.all(np.abs(out["diff"] - (x - y)) <= ULP)
    # product of rounded inputs, then one truncation toward -inf
    assert np.all(np.abs(out["prod_"] - x * y) <= (np.abs(x) + np.abs(y) + 2) * ULP)
    assert np.all(out["prod_"] <= xr * yr + 1e-12)
    assert np.all(np.abs(out["neg"] + x) <= ULP)
    assert np.array_equal(out["lt_"], xr < yr)
    assert np.array_equal(out["ge_"], xr >= yr)
    assert out["eq_"].all()
    assert np.allclose(out["mx"], np.maximum(xr, yr), atol=0)
    assert np.allclose(out["mn"], np.minimum(xr, yr), atol=0)
    assert np.allclose(out["ab"], np.abs(xr), atol=0)
    expected_sel = np.where(xr > yr, xr, yr * 2)
    assert np.all(np.abs(out["sel"] - expected_sel) <= 2 * ULP)


REDUCTIONS = """
party p
input a: secret fixed[5] from p
input m: secret fixed[2, 5] from p
output s = sum(a) to p
output s0 = sum(m, 0) to p
output s1 = sum(m, 1) to p
output pr = prod(a) to p
output top = max(a) to p
output bottom = min(a) to p
output best = argmax(a) to p
output mv = m @ a to p
output d = dot(a, a) to p
"""


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=5, max_size=5),
       st.lists(st.floats(-50, 50, allow_nan=False), min_size=10, max_size=10))
def test_reductions_match_float64(a: list[float], m: list[float]) -> None:
    out = run_text(REDUCTIONS, {"a": a, "m": np.array(m).reshape(2, 5)})
    x = np.rint(np.array(a) / ULP) * ULP
    mat = np.rint(np.array(m).reshape(2, 5) / ULP) * ULP
    assert abs(out["s"] - x.sum()) <= 1e-9
    assert np.allclose(out["s0"], mat.sum(0), atol=1e-9)
    assert np.allclose(out["s1"], mat.sum(1), atol=1e-9)
    # a balanced product tree: 4 truncations, each off by < 1 ulp times what follows
    assert abs(out["pr"] - np.prod(x)) <= 4 * ULP * (1 + np.max(np.abs(x))) ** 4
    assert out["top"] == x.max() and out["bottom"] == x.min()
    assert int(out["best"]) == int(np.argmax(x))  # first index on ties, as numpy
    assert np.all(np.abs(out["mv"] - mat @ x) <= ULP)  # one truncation per dot product
    assert abs(out["d"] - x @ x) <= ULP


@settings(max_examples=100, deadline=None)
@given(ints64, ints64)
def test_int_arithmetic_wraps_modulo_2_64(a: int, b: int) -> None:
    src = """
party p
input a: secret int from p
input b: secret int from p
output s = a + b to p
output d = a - b to p
output m = a * b to p
"""
    out = run_text(src, {"a": a, "b": b})

    def wrap(v: int) -> int:
        return (v + 2**63) % 2**64 - 2**63

    assert int(out["s"]) == wrap(a + b)
    assert int(out["d"]) == wrap(a - b)
    assert int(out["m"]) == wrap(a * b)


@settings(max_examples=100, deadline=None)
@given(st.integers(-(2**62), 2**62 - 1), st.integers(-(2**62), 2**62 - 1))
def test_int_comparisons_exact_within_range(a: int, b: int) -> None:
    src = """
party p
input a: secret int from p
input b: secret int from p
output lt = a < b to p
output le = a <= b to p
output eq = a == b to p
output ne = a != b to p
"""
    out = run_text(src, {"a": a, "b": b})
    assert bool(out["lt"]) == (a < b) and bool(out["le"]) == (a <= b)
    assert bool(out["eq"]) == (a == b) and bool(out["ne"]) == (a != b)


def test_int_edge_values() -> None:
    src = """
party p
input a: secret int[4] from p
output inc = a + 1 to p
output neg = -a to p
"""
    edges = [2**63 - 1, -(2**63), 0, -1]
    out = run_text(src, {"a": edges})
    assert out["inc"].tolist() == [-(2**63), -(2**63) + 1, 1, 0]
    assert out["neg"].tolist() == [-(2**63) + 1, -(2**63), 0, 1]


@settings(max_examples=60, deadline=None)
@given(small, st.sampled_from([3.0, 7.0, 0.5, 1000.0, -12.5, 1e-3]))
def test_division_by_public_relative_error(x: float, c: float) -> None:
    src = f"""
party p
input x: secret fixed from p
output q = x / {c!r} to p
"""
    out = float(run_text(src, {"x": x})["q"])
    # the literal itself is a fixed value: 1e-3 is stored as 66 / 2^16
    exact = round(x / ULP) * ULP / (round(c / ULP) * ULP)
    # the reciprocal keeps ~16 significant bits; then one truncation
    assert abs(out - exact) <= abs(exact) * 2.0**-15 + ULP


def test_int_divided_by_public_is_fixed() -> None:
    src = """
party p
input n: secret int from p
output q = n / 4 to p
"""
    assert float(run_text(src, {"n": 10})["q"]) == 2.5


@settings(max_examples=40, deadline=None)
@given(small)
def test_conversions(x: float) -> None:
    src = """
party p
input x: secret fixed from p
output i = to_int(x) to p
output back = to_fixed(to_int(x)) to p
output b = to_int(x > 0.0) to p
"""
    out = run_text(src, {"x": x})
    xr = round(x / ULP) * ULP
    assert int(out["i"]) == math.floor(xr)
    assert float(out["back"]) == math.floor(xr)
    assert int(out["b"]) == int(xr > 0)


def test_sigmoid_error_bound() -> None:
    src = """
party p
use ml
input z: secret fixed[2001] from p
output s = ml.sigmoid(z) to p
"""
    z = np.linspace(-12, 12, 2001)
    out = run_text(src, {"z": z})["s"]
    err = np.max(np.abs(out - 1 / (1 + np.exp(-z))))
    assert err <= 0.0035, err  # the bound stated in stdlib/ml.mpc
    # monotone up to rounding: each of the 16 segment terms truncates once
    assert np.all(np.diff(out) >= -16 * ULP)


def test_stats_module() -> None:
    src = """
party p
use stats
input x: secret fixed[6] from p
param w: public fixed[6] = [1.0, 2.0, 1.0, 0.5, 3.0, 1.0]
output m = stats.mean(x) to p
output v = stats.variance(x) to p
output wm = stats.weighted_mean(x, w) to p
"""
    x = np.array([1.5, 2.0, -3.0, 4.25, 0.0, 10.0])
    w = np.array([1.0, 2.0, 1.0, 0.5, 3.0, 1.0])
    out = run_text(src, {"x": x})
    assert abs(out["m"] - x.mean()) <= 1e-4
    assert abs(out["v"] - x.var()) <= 1e-3
    assert abs(out["wm"] - (x * w).sum() / w.sum()) <= 1e-3


def test_array_divisor_of_mixed_sizes_keeps_precision_per_element() -> None:
    src = """
party p
input x: secret fixed[3] from p
output q = x / [1.0, 100000.0, 0.5] to p
"""
    x = np.array([123456.0, 123456.0, -7.25])
    out = run_text(src, {"x": x})["q"]
    exact = x / np.array([1.0, 100000.0, 0.5])
    assert np.all(np.abs(out - exact) <= np.abs(exact) * 2.0**-15 + ULP)
