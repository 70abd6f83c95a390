"""rep3 against plain: the protocol lowering is exact in the clear, and the secret-shared
run gives the same ints and bools, and fixed values within the truncation bound."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rep3_harness import run_threaded
from test_passes import program, values

from veil.backend.plain import PlainBackend
from veil.compiler import compile_source
from veil.ir.semantics import decode, encode
from veil.ir.verify import verify

ULP = 2.0**-16

INT_PROGRAM = """
party p
party q
input a: secret int[5] from p
input b: secret int[5] from q
input c: secret bool[5] from q
let m = a * b - 3 * a
output o1 = select(a < b, m, b) to p
output o2 = (a == b) or (c and a >= 0) to q
output o3 = abs(a - b) + max(a) * min(b) to p
output o4 = argmax(a * b) to q
output o5 = prod(a) to p
output o6 = sum(to_int(c)) + a[2] to p
"""


def _run_both(src: str, vals: dict) -> tuple[dict, dict]:
    plain = compile_source(src)
    rep3 = compile_source(src, backend="rep3")
    verify(rep3.executable)
    enc = {s.name: encode(vals[s.name], s.type.base) for s in plain.circuit.inputs}
    want = PlainBackend().run(plain.circuit, enc).outputs
    got = run_threaded(rep3.executable, enc).result.outputs
    return ({o.name: decode(want[o.name], o.type.base) for o in plain.circuit.outputs},
            {o.name: decode(got[o.name], o.type.base) for o in rep3.executable.outputs})


ints = st.lists(st.integers(-1000, 1000), min_size=5, max_size=5)


@settings(max_examples=15, deadline=None)
@given(ints, ints, st.lists(st.booleans(), min_size=5, max_size=5))
def test_int_and_bool_programs_are_exact(a, b, c) -> None:
    want, got = _run_both(INT_PROGRAM, {"a": a, "b": b, "c": c})
    for name in want:
        assert np.array_equal(want[name], got[name]), name


def test_int_edges() -> None:
    edges = [2**63 - 1, -(2**63), 0, -1, 1]
    want, got = _run_both(INT_PROGRAM, {"a": edges, "b": edges[::-1], "c": [True] * 5})
    for name in want:
        assert np.array_equal(want[name], got[name]), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program(), values, values, st.lists(st.integers(-5, 5), min_size=4, max_size=4),
       st.floats(-2, 2, allow_nan=False))
def test_protocol_lowering_is_exact_in_the_clear(src, a, b, n, s) -> None:
    """Random programs: the rep3-lowered circuit on the plain backend = the original."""
    plain = compile_source(src)
    rep3 = compile_source(src, backend="rep3")
    verify(rep3.executable)
    vals = {"a": a, "b": b, "n": n, "s": s}
    enc = {spec.name: encode(vals[spec.name], spec.type.base) for spec in plain.circuit.inputs}
    want = PlainBackend().run(plain.circuit, enc).outputs
    got = PlainBackend().run(rep3.executable, enc).outputs
    for name in want:
        assert np.array_equal(want[name], got[name]), name


LEAF = st.sampled_from(["a", "b", "s", "to_fixed(n)", "0.75", "[1.0, -2.0, 0.5, 3.0]"])


@st.composite
def fixed_expr(draw, depth: int = 3) -> str:
    """Products, divisions and sums of any depth; comparisons only between leaves, so
    that plain and rep3 take the same branches and differ only by truncation."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(LEAF)
    x, y = draw(fixed_expr(depth - 1)), draw(fixed_expr(depth - 1))
    p, q = draw(LEAF), draw(LEAF)
    return draw(st.sampled_from([
        f"({x} + {y})", f"({x} * {y})", f"({x} - {y})", f"({x} / 3.0)",
        f"select({p} < {q}, {x}, {y})", f"max({p}, {q}) * {x}", f"sum({x} * {y})",
        f"abs({p}) * {y}", f"(({x} + a) @ [0.5, 1.5, -1.0, 2.0])",
    ]))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fixed_expr(), min_size=1, max_size=3), values, values,
       st.lists(st.integers(-5, 5), min_size=4, max_size=4), st.floats(-2, 2, allow_nan=False))
def test_random_fixed_programs_within_truncation_bound(exprs, a, b, n, s) -> None:
    """Each truncation on shares is off by at most +1 ulp from the plain backend's floor.
    Later products scale that difference by the other factor (here up to about 2^6),
    over at most three levels; 2^-8 relative to the value's magnitude bounds it, while a
    protocol bug (a wrong share, a lost carry) is off by far more."""
    src = """
party p
party q
input a: secret fixed[4] from p
input b: secret fixed[4] from q
input n: secret int[4] from p
input s: secret fixed from q
""" + "\n".join(f"output o{i} = {e} to p" for i, e in enumerate(exprs))
    want, got = _run_both(src, {"a": a, "b": b, "n": n, "s": s})
    for name in want:
        bound = 2.0**-8 * (1 + np.abs(want[name]))
        assert np.all(np.abs(want[name] - got[name]) <= bound), (name, src)


def test_division_by_an_array_shifts_each_element_by_its_own_amount() -> None:
    src = """
party p
input x: secret fixed[3] from p
output q = x / [1.0, 100000.0, 0.5] to p
"""
    want, got = _run_both(src, {"x": [123456.0, 123456.0, -7.25]})
    assert np.all(np.abs(want["q"] - got["q"]) <= ULP)  # rep3 may round up by one unit
