"""Optimizer passes: semantics unchanged (differential, on random programs), IR stays
well-formed after every pass, and each pass does what it is named for."""

from __future__ import annotations

import numpy as np
from helpers import compile_text, run_circuit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.backend.plain import PlainBackend
from veil.ir.semantics import encode
from veil.ir.verify import verify
from veil.opt.pipeline import LEVELS, PASSES, optimize

HEADER = """
party p
party q
input a: secret fixed[4] from p
input b: secret fixed[4] from q
input n: secret int[4] from p
input s: secret fixed from q
param k: public fixed = 1.5
"""

LEAVES = ["a", "b", "s", "to_fixed(n)", "k", "(k * 2.0 + 1.0)", "0.25", "[1.0, -2.0, 0.5, 3.0]"]


@st.composite
def vec_expr(draw, depth: int = 3) -> str:
    """A random fixed-valued expression of shape [4] or scalar (broadcasts to [4])."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES))
    sub = vec_expr(depth - 1)
    form = draw(st.integers(0, 11))
    x, y = draw(sub), draw(sub)
    forms = [
        f"({x} + {y})", f"({x} - {y})", f"({x} * {y})", f"(-{x})",
        f"select({x} < {y}, {x}, {y} * 0.5)", f"max({x}, {y})", f"min({x}, {y})",
        f"abs({x})", f"sum({x} * {y})", f"({x} / 4.0)", f"({x} + {x})",
        f"select(not ({x} >= {y}) or {x} == {y}, {y}, {x})",
    ]
    return forms[form]


@st.composite
def program(draw) -> str:
    lines = [HEADER, "var acc: secret fixed[4] = 0.0"]
    for _ in range(draw(st.integers(0, 2))):
        lines.append(f"for i in 0..{draw(st.integers(1, 3))} {{ acc = acc + {draw(vec_expr(2))} }}")
    if draw(st.booleans()):
        lines.append(f"if sum({draw(vec_expr(1))}) < sum({draw(vec_expr(1))}) "
                     f"{{ acc = acc * 0.5 }} else {{ acc[1] = sum({draw(vec_expr(1))}) }}")
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"output o{i} = {draw(vec_expr())} + acc to p")
    return "\n".join(lines)


values = st.lists(st.floats(-2, 2, allow_nan=False), min_size=4, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program(), values, values, st.lists(st.integers(-5, 5), min_size=4, max_size=4),
       st.floats(-2, 2, allow_nan=False))
def test_optimized_equals_unoptimized_exactly(src, a, b, n, s) -> None:
    compiled = compile_text(src, level=0)
    inputs = {"a": a, "b": b, "n": n, "s": s}
    reference = run_circuit(compiled.circuit, inputs)
    optimized, _ = optimize(compiled.circuit, level=1, verify=verify)
    result = run_circuit(optimized, inputs)
    for name, value in reference.items():
        assert np.array_equal(value, result[name]), (name, src)
    # every pass alone preserves the result exactly, but dot fusion, which truncates
    # a fixed-point dot product once instead of once per term
    for name in PASSES:
        alone, _ = optimize(compiled.circuit, passes=(name,), verify=verify)
        for out, value in run_circuit(alone, inputs).items():
            if name == "dot-fusion":
                assert np.allclose(value, reference[out], atol=2**-12), (name, out)
            else:
                assert np.array_equal(value, reference[out]), (name, out)
    full, _ = optimize(compiled.circuit, level=2, verify=verify)
    for out, value in run_circuit(full, inputs).items():
        assert np.allclose(value, reference[out], atol=2**-12), ("-O2", out)


def test_levels_name_registered_passes() -> None:
    for names in LEVELS.values():
        assert all(n in PASSES for n in names)


def test_constant_fold_leaves_no_public_operation() -> None:
    c = compile_text(HEADER + """
let t = (k * 2.0 + 1.0) * 3.0
output o = a * t to p
""")
    public_ops = [n for n in c.circuit.nodes if not n.type.is_secret and n.op != "const"]
    assert public_ops == []
    ops = [n.op for n in c.unoptimized.nodes if not n.type.is_secret and n.op != "const"]
    assert ops, "the unoptimized circuit computed the public expression"


def test_cse_merges_repeated_products() -> None:
    c = compile_text(HEADER + """
output o1 = a * b + b * a to p
output o2 = a * b to q
""")
    muls = [n for n in c.circuit.nodes if n.op == "mul" and n.type.is_secret]
    assert len(muls) == 1
    assert len([n for n in c.unoptimized.nodes if n.op == "mul"]) == 3


def test_dead_code_removes_unused_work_but_keeps_inputs() -> None:
    c = compile_text(HEADER + """
let unused = a * b * s
output o = a + b to p
""")
    assert not any(n.op == "mul" for n in c.circuit.nodes)
    assert {i.name for i in c.circuit.inputs} == {"a", "b", "n", "s"}
    assert sum(n.op == "input" for n in c.circuit.nodes) == 4
    unused = {w.message.split("`")[1] for w in c.warnings if w.code == "W0601"}
    assert unused == {"n", "s"}  # n and s reach no output


def test_pass_records_count_before_and_after() -> None:
    c = compile_text(HEADER + "output o = a * b + a * b to p", level=1)
    names = [r.name for r in c.passes]
    assert names == list(LEVELS[1])
    cse = c.passes[names.index("cse")]
    assert cse.after.multiplications < cse.before.multiplications


def test_plain_backend_runs_level_0_and_1_on_arrays() -> None:
    c = compile_text(HEADER + "output o = a @ b to p")
    enc = {s.name: encode(np.zeros(s.type.shape), s.type.base) for s in c.circuit.inputs}
    assert PlainBackend().run(c.circuit, enc).outputs["o"].shape == ()
