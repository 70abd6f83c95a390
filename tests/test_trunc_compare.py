"""Pass `trunc-compare`: a comparison of a truncated product compares the product
itself, with exactly the results of the truncated comparison (at the boundaries too),
on the plain backend and over shares in both security modes; where the ranges do not
bound the new difference, nothing changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from hypothesis import given, settings
from hypothesis import strategies as st
from rep3_harness import run_threaded

from veil.compiler import compile_path, compile_source
from veil.ir.semantics import encode

N = 64
TEMPLATE = f"""
party p
party q
input x: secret fixed[{N}] in [-50.0, 50.0] from p
input w: secret fixed[{N}] in [-50.0, 50.0] from q
input b: secret fixed[{N}] in [-100.0, 100.0] from q
input t: secret fixed[{N}] in [-3000.0, 3000.0] from p
output o = {{expr}} to p
"""

# each form, and the raw value of the compared side T(X, W, B) it truncates
FORMS = {
    "x * w > t": lambda p, b: p >> 16,
    "x * w + b > t": lambda p, b: (p >> 16) + b,
    "b + x * w >= t": lambda p, b: (p >> 16) + b,
    "x * w - b < t": lambda p, b: (p >> 16) - b,
    "x * w - b <= t": lambda p, b: (p >> 16) - b,
    "t < x * w + b": lambda p, b: (p >> 16) + b,
    "t >= x * w": lambda p, b: p >> 16,
}
FRAC = 2.0**16


def _raw(values: np.ndarray) -> np.ndarray:
    return encode(values, "fixed").view(np.int64)


def _inputs(rng: np.random.Generator, form) -> dict[str, np.ndarray]:
    """Random x, w, b, and t at the boundary of the comparison (T − 1, T, T + 1) or
    anywhere in its range."""
    x, w = rng.uniform(-50, 50, N), rng.uniform(-50, 50, N)
    x[: N // 2] = np.round(x[: N // 2])  # whole: the product a multiple of 2^16
    b = rng.uniform(-100, 100, N)
    side = form(_raw(x) * _raw(w), _raw(b))
    t_raw = side + rng.integers(-1, 2, N)
    far = rng.random(N) < 0.25
    t_raw[far] = _raw(rng.uniform(-3000, 3000, N))[far]
    return {"x": x, "w": w, "b": b, "t": t_raw / FRAC}


@pytest.mark.parametrize("expr", FORMS)
def test_rewritten_comparisons_agree_exactly(expr: str) -> None:
    src = TEMPLATE.format(expr=expr)
    unchanged = compile_text(src, level=1)
    best = compile_text(src, level=2)
    assert "trunc" in [n.op for n in unchanged.circuit.nodes]
    assert "trunc" not in [n.op for n in best.circuit.nodes], "the truncation is gone"
    rng = np.random.default_rng(11)
    for _ in range(20):
        inputs = _inputs(rng, FORMS[expr])
        assert np.array_equal(run_circuit(unchanged.circuit, inputs)["o"],
                              run_circuit(best.circuit, inputs)["o"])


@settings(max_examples=60, deadline=None)
@given(x=st.integers(-50 * 2**16, 50 * 2**16), w=st.integers(-50 * 2**16, 50 * 2**16),
       b=st.integers(-100 * 2**16, 100 * 2**16), delta=st.integers(-2, 2),
       whole=st.booleans(), expr=st.sampled_from(sorted(FORMS)))
def test_the_boundary_is_exact_for_any_raw_values(x: int, w: int, b: int, delta: int,
                                                  whole: bool, expr: str) -> None:
    if whole:  # a product that truncates to itself: where a − 1 and a part
        x -= x % 2**16
    src = TEMPLATE.format(expr=expr)
    unchanged, best = _compiled(src)
    side = FORMS[expr](np.int64(x) * np.int64(w), np.int64(b))
    t = int(np.clip(side + delta, -3000 * 2**16, 3000 * 2**16))
    inputs = {k: np.full(N, v / FRAC) for k, v in (("x", x), ("w", w), ("b", b), ("t", t))}
    assert np.array_equal(run_circuit(unchanged.circuit, inputs)["o"],
                          run_circuit(best.circuit, inputs)["o"])


_CACHE: dict[str, tuple] = {}


def _compiled(src: str) -> tuple:
    if src not in _CACHE:
        _CACHE[src] = (compile_text(src, level=1), compile_text(src, level=2))
    return _CACHE[src]


@pytest.mark.parametrize("security", ["semi-honest", "malicious"])
def test_over_shares_the_results_are_those_of_the_truncated_comparison(security: str) -> None:
    expr = "x * w + b > t"
    src = TEMPLATE.format(expr=expr)
    reference = compile_text(src, level=1).circuit
    shared = compile_source(src, backend="rep3", security=security).executable
    assert "trunc" not in [n.op for n in shared.nodes]
    inputs = _inputs(np.random.default_rng(12), FORMS[expr])
    encoded = {k: encode(v, "fixed") for k, v in inputs.items()}
    out = run_threaded(shared, encoded).result.outputs
    assert np.array_equal(np.asarray(out["o"]), run_circuit(reference, inputs)["o"])


def test_without_bounds_the_comparison_keeps_its_truncation() -> None:
    """Inputs without declared ranges may make the product overflow before it is
    truncated (the range analysis warns): the pass then changes nothing."""
    src = (f"party p\ninput x: secret fixed[{N}] from p\ninput w: secret fixed[{N}] from p\n"
           f"output o = x * w > 1.5 to p\n")
    best = compile_text(src, level=2)
    assert "trunc" in [n.op for n in best.circuit.nodes]


def test_a_truncation_used_elsewhere_stays_and_equality_is_not_rewritten() -> None:
    shared = TEMPLATE.format(expr="x * w > t") + "output s = x * w to p\n"
    assert "trunc" in [n.op for n in compile_text(shared, level=2).circuit.nodes]
    equal = TEMPLATE.format(expr="x * w == t")
    assert "trunc" in [n.op for n in compile_text(equal, level=2).circuit.nodes]


def test_credit_scoring_compares_its_scores_untruncated() -> None:
    program = Path(__file__).resolve().parent.parent / "programs" / "credit_scoring"
    compiled = compile_path(program, backend="rep3")
    assert "trunc" not in [n.op for n in compiled.circuit.nodes]
    notes = [n.attr("note") for n in compiled.circuit.nodes if n.attr("note")]
    assert any("compared before its truncation" in note for note in notes)


MIXED = f"""
party p
input x: secret fixed[{N}] in [-100.0, 100.0] from p
input y: secret fixed[{N}] in [-100.0, 100.0] from p
input k: secret int[{N}] in [-100, 100] from p
output o = {{expr}} to p
"""

SIDES = ["x * y", "x * 3.5", "x / 4.0", "x * y + y", "x * y - x", "y + x * 0.25",
         "to_int(x)", "to_int(x * y)", "k", "x", "1.5", "y * y", "to_fixed(k)"]


@settings(max_examples=80, deadline=None)
@given(left=st.sampled_from(SIDES), right=st.sampled_from(SIDES),
       op=st.sampled_from(["<", ">", "<=", ">="]), seed=st.integers(0, 2**32 - 1))
def test_random_comparisons_of_truncated_values_keep_their_results(left: str, right: str,
                                                                   op: str, seed: int) -> None:
    """Any pair of sides (truncated products, divisions, `to_int`, which truncates into
    another type, plain values): -O2 gives the -O1 results, on whole and fractional
    values and at the boundaries where the two sides are equal."""
    ints = {"to_int(x)", "to_int(x * y)", "k"}
    if (left in ints) != (right in ints) or left == right:
        return  # int and fixed do not compare; x < x is constant-folded
    src = MIXED.format(expr=f"{left} {op} {right}")
    unchanged, best = _compiled(src)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-100, 100, N), rng.uniform(-100, 100, N)
    x[::2] = np.round(x[::2])
    y[1::4] = x[1::4] * 3.5  # equal sides for `x * 3.5 ? y`, up to rounding
    inputs = {"x": x, "y": y, "k": rng.integers(-100, 101, N)}
    assert np.array_equal(run_circuit(unchanged.circuit, inputs)["o"],
                          run_circuit(best.circuit, inputs)["o"])
