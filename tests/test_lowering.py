"""Lowering: functions inline, loops unroll, a secret `if` becomes selects, spans and
function names are kept on every node for cost attribution."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from helpers import compile_text, run_text

from veil.diagnostics import VeilError


def ops(circuit) -> Counter:
    return Counter(n.op for n in circuit.nodes)


def test_for_loop_unrolls_and_accumulates() -> None:
    src = """
party p
input x: secret int[5] from p
var acc: secret int = 0
for i in 0..5 { acc = acc + x[i] * i }
output acc to p
"""
    c = compile_text(src)
    assert ops(c.circuit)["slice"] == 5
    assert int(run_text(src, {"x": [1, 2, 3, 4, 5]})["acc"]) == 0 + 2 + 6 + 12 + 20


def test_public_while_and_if_are_evaluated_at_compile_time() -> None:
    src = """
party p
input x: secret int from p
var n = 1
var steps = 0
while n < 100 { n = n * 3
    steps = steps + 1 }
var y = x
if steps == 5 { y = x + 1 } else { y = x - 1 }
output y to p
"""
    c = compile_text(src)
    assert ops(c.circuit)["select"] == 0  # the public if chose a branch
    assert int(run_text(src, {"x": 10})["y"]) == 11  # 3^5 = 243 ≥ 100 after 5 steps


def test_secret_if_selects_every_assigned_variable() -> None:
    src = """
party p
input x: secret fixed from p
var a: secret fixed = 0.0
var b: secret fixed[2] = 1.0
if x > 2.0 { a = x * 2.0
    b[0] = x } else { a = -x }
output a to p
output b to p
"""
    c = compile_text(src)
    assert ops(c.circuit)["select"] == 2
    hi = run_text(src, {"x": 3.0})
    lo = run_text(src, {"x": 1.0})
    assert float(hi["a"]) == 6.0 and hi["b"].tolist() == [3.0, 1.0]
    assert float(lo["a"]) == -1.0 and lo["b"].tolist() == [1.0, 1.0]


def test_nested_secret_ifs() -> None:
    src = """
party p
input x: secret int from p
var r: secret int = 0
if x > 0 { if x > 10 { r = 2 } else { r = 1 } } else { r = -1 }
output r to p
"""
    for x, want in ((-3, -1), (5, 1), (50, 2)):
        assert int(run_text(src, {"x": x})["r"]) == want


def test_functions_inline_with_names_and_call_site_spans() -> None:
    src = """
party p
fn double(v: secret fixed[..]) -> secret fixed[..] {
    return v * v * 2.0
}
input x: secret fixed[3] from p
output y = double(x) + double(x[0]) to p
"""
    c = compile_text(src, level=0)
    fns = {n.fn for n in c.circuit.nodes}
    assert "double" in fns
    lines = {n.span.line for n in c.circuit.nodes if n.fn == "double"}
    assert lines == {7}  # inlined nodes are attributed to the call site
    out = run_text(src, {"x": [1.0, 2.0, 3.0]})
    assert out["y"].tolist() == [4.0, 10.0, 20.0]


def test_module_functions_are_qualified() -> None:
    c = compile_text("""
party p
use ml
input z: secret fixed[4] from p
output s = ml.relu(z) to p
""")
    assert {n.fn for n in c.circuit.nodes} >= {"ml.relu"}


def test_index_out_of_range_found_while_unrolling() -> None:
    src = """
party p
input x: secret int[3] from p
var acc: secret int = 0
for i in 0..4 { acc = acc + x[i] }
output acc to p
"""
    with pytest.raises(VeilError) as info:
        compile_text(src)
    assert [d.code for d in info.value.diagnostics] == ["V0307"]
    assert "test.mpc:5:" in info.value.render()


def test_runaway_while_is_an_error() -> None:
    src = """
party p
input x: secret int from p
var n = 0
while n >= 0 { n = n + 1 }
output x to p
"""
    with pytest.raises(VeilError) as info:
        compile_text(src)
    assert info.value.diagnostics[0].code == "V0504"


def test_slices_reshape_transpose_and_literals() -> None:
    src = """
party p
input m: secret int[2, 3] from p
output col = m[.., 1] to p
output row = m[1, 1..3] to p
output t = transpose(m) to p
output r = reshape(m, 3, 2) to p
output lit = [m[0, 0], 7, m[1, 2]] to p
output n = len(m) + size(m) to p
"""
    m = np.array([[1, 2, 3], [4, 5, 6]])
    out = run_text(src, {"m": m})
    assert out["col"].tolist() == [2, 5]
    assert out["row"].tolist() == [5, 6]
    assert out["t"].tolist() == m.T.tolist()
    assert out["r"].tolist() == m.reshape(3, 2).tolist()
    assert out["lit"].tolist() == [1, 7, 6]
    assert int(out["n"]) == 8


def test_secret_bool_logic() -> None:
    src = """
party p
input a: secret bool[4] from p
input b: secret bool[4] from p
output x = a and not b to p
output y = a or b to p
output z = a == b to p
output w = a != b to p
output n = sum(a) to p
"""
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    out = run_text(src, {"a": a, "b": b})
    assert out["x"].tolist() == (a & ~b).tolist()
    assert out["y"].tolist() == (a | b).tolist()
    assert out["z"].tolist() == (a == b).tolist()
    assert out["w"].tolist() == (a != b).tolist()
    assert int(out["n"]) == 2


def test_secret_ifs_that_set_different_elements_select_in_parallel() -> None:
    """Each iteration selects only its element, read from before the other iterations'
    updates: the depth is that of one select, not a chain of eight."""
    from veil.opt.metrics import measure

    src = """
party p
input x: secret int[8] from p
input k: secret int from p
var y: secret int[8] = x
for i in 0..8 { if k == i { y[i] = 0 } }
output y to p
"""
    c = compile_text(src)
    selects = [n for n in c.circuit.nodes if n.op == "select"]
    assert len(selects) == 8 and all(n.type.shape == () for n in selects)
    level = measure(c.circuit).depth
    assert level == 2  # the equality, then one select (high-level depth)
    x = np.arange(10, 18)
    for k in (0, 3, 7, 9):
        want = np.where(np.arange(8) == k, 0, x)
        assert run_text(src, {"x": x, "k": k})["y"].tolist() == want.tolist()


def test_sliding_slices_with_a_loop_variable() -> None:
    src = """
party p
input x: secret int[6] from p
var acc: secret int[2] = 0
for i in 0..5 { acc = acc + x[i..i + 2] * i }
output acc to p
"""
    x = np.arange(1, 7)
    want = sum(x[i:i + 2] * i for i in range(5))
    assert run_text(src, {"x": x})["acc"].tolist() == want.tolist()
    with pytest.raises(VeilError) as info:
        compile_text(src.replace("0..5", "0..6"))
    assert info.value.diagnostics[0].code == "V0307"
    assert "slice 5..7 is out of range" in info.value.render()
