"""Secret comparisons under rep3: the MSB-only circuit for `<` (241 AND gates) and the
carry-check circuit for `==` (126), in both bit layouts (one bool per value for few
values, 64 values a word for many), against the plain backend on edge values and
random ones, and their cost in the report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rep3_harness import run_threaded

from veil.backend.plain import PlainBackend
from veil.compiler import compile_source
from veil.cost import report
from veil.ir import bitops
from veil.ir.semantics import encode
from veil.ir.verify import verify

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
EDGES = [0, 1, -1, 2, -2, INT_MIN, INT_MAX, INT_MIN + 1, INT_MAX - 1, 2**62, -(2**62),
         2**31, -(2**31), 12345, -12345, 3]


def source(n: int) -> str:
    return f"""
party p
party q
input a: secret int[{n}] from p
input b: secret int[{n}] from q
output lt = a < b to p
output le = a <= b to p
output gt = a > b to q
output eq = a == b to q
output ne = a != b to p
output mixed = (a < 5) and not (b == -3) to p
"""


def _compiled(n: int):
    plain = compile_source(source(n))
    rep3 = compile_source(source(n), backend="rep3")
    verify(rep3.executable)
    return plain, rep3


COMPILED = {n: _compiled(n) for n in (len(EDGES) ** 2, 7, 64)}


def _check(a: list[int], b: list[int], threaded: bool) -> None:
    plain, rep3 = COMPILED[len(a)]
    enc = {"a": encode(np.array(a, dtype=np.int64), "int"),
           "b": encode(np.array(b, dtype=np.int64), "int")}
    want = PlainBackend().run(plain.circuit, enc).outputs
    got = (run_threaded(rep3.executable, enc).result.outputs if threaded
           else PlainBackend().run(rep3.executable, enc).outputs)
    for name in want:
        assert np.array_equal(want[name], got[name]), name
    diff = np.array(a, dtype=np.int64) - np.array(b, dtype=np.int64)  # wraps like the ring
    assert np.array_equal(want["lt"], diff < 0)
    assert np.array_equal(want["eq"], np.array(a) == np.array(b))


def test_every_pair_of_edge_values_under_rep3() -> None:
    """All 256 ordered pairs of edge values (equal ones included) in one run: the packed
    layout (256 values, 4 words a row)."""
    a = [x for x in EDGES for _ in EDGES]
    b = [y for _ in EDGES for y in EDGES]
    assert bitops.packed_layout(len(a))
    _check(a, b, threaded=True)


def test_edge_values_in_the_bool_layout_under_rep3() -> None:
    assert not bitops.packed_layout(7)
    _check([0, -1, INT_MIN, INT_MAX, 5, 5, -3], [0, 1, INT_MAX, INT_MIN, 5, 4, -3],
           threaded=True)


values64 = st.lists(st.sampled_from(EDGES) | st.integers(INT_MIN, INT_MAX), min_size=64,
                    max_size=64)


@settings(max_examples=60, deadline=None)
@given(values64, values64, st.lists(st.booleans(), min_size=64, max_size=64))
def test_random_values_lowered_circuit_in_the_clear(a, b, same) -> None:
    """The lowered circuit evaluated in the clear (plain backend) equals `<`/`==`."""
    b = [x if s else y for x, y, s in zip(a, b, same, strict=True)]
    assert bitops.packed_layout(64)
    _check(a, b, threaded=False)


@settings(max_examples=5, deadline=None)
@given(values64, values64)
def test_random_values_under_rep3(a, b) -> None:
    _check(a, b[:32] + a[32:], threaded=True)


@pytest.mark.parametrize("n", [1, 100, 1000, 4096, 100_000])
def test_gates_rounds_and_bytes_per_comparison(n: int) -> None:
    src = (f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
           f"output c = a < b to p\n")
    data = report.build(compile_source(src, backend="rep3").executable, backend="rep3")
    lt = data["comparisons"]["lt"]
    assert lt["count"] == n and lt["and_gates_each"] <= 250
    assert lt["and_gates"] == data["ops"]["boolean_gates"]
    assert data["rounds_by_phase"]["compute"] <= 8
    # a bit a gate, packed: about 241/8 bytes; the old adder sent 832/8 = 104
    assert lt["bytes_per_comparison"] <= 250 / 8
    eq = report.build(compile_source(src.replace("<", "=="), backend="rep3").executable,
                      backend="rep3")
    assert eq["comparisons"]["eq"]["and_gates_each"] <= 130
    assert eq["rounds_by_phase"]["compute"] <= 7
    assert "bytes a server each" in report.render(data)


def test_bit_layout_kernels() -> None:
    rng = np.random.default_rng(4)
    for n in (1, 63, 64, 65, 128, 1000, 4096):
        x = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) * np.uint64(3)
        before = x.copy()
        bits = ((x[None, :] >> np.arange(64, dtype=np.uint64)[:, None]) & np.uint64(1)
                ).astype(bool)
        assert np.array_equal(bitops.bitslice(x, packed=False), bits)
        packed = bitops.bitslice(x, packed=True)
        assert np.array_equal(x, before)  # transposed in a copy, never in the operand
        assert packed.shape == (64, bitops.words_for(n))
        assert np.array_equal(bitops.unpack(packed, n), bits)
        assert np.array_equal(bitops.pack(bits), packed)


@pytest.mark.parametrize("n", [1, 63, 191, 192, 193, 250, 1000, 3000])
def test_each_server_inputs_a_third_of_the_differences(n: int) -> None:
    """Semi-honest comparisons start with `a2b_pair`: from a word's worth of elements
    for each, the three servers take a third each (whole words), so each sends as
    much; the thirds cover every element once, as the plain run of the protocol
    circuit shows."""
    src = (f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
           f"output lt = a < b to p\noutput eq = a == b to p\n")
    circuit = compile_source(src, backend="rep3").executable
    pairs = [node for node in circuit.nodes if node.op == "a2b_pair"]
    assert sorted(p.attr("server") for p in pairs) == ([0, 1, 2] if n >= 192 else [0])
    rng = np.random.default_rng(n)
    a = rng.integers(-2**62, 2**62, n)
    b = np.where(rng.random(n) < 0.5, a, rng.integers(-2**62, 2**62, n))
    got = PlainBackend().run(circuit, {"a": encode(a, "int"), "b": encode(b, "int")}).outputs
    assert np.array_equal(got["lt"], a < b) and np.array_equal(got["eq"], a == b)
    sent = report.build(circuit, backend="rep3")["bytes_per_server"]
    if n >= 192:  # the thirds differ by a word of 64 elements at most: 64 × 8 bytes
        assert max(sent) - min(sent) <= 64 * 8
