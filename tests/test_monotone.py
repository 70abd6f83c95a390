"""Monotone elimination: `f(z) > t` for a `monotone fn f` becomes `z > f⁻¹(t)`, with
exactly the same results, and nothing of f is computed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.cost import report

TEMPLATE = """
party p
use ml
input z: secret fixed[400] from p
output o = {expr} to p
"""

FORMS = [
    "ml.sigmoid(z) > 0.5", "ml.sigmoid(z) >= 0.5", "ml.sigmoid(z) < 0.5",
    "ml.sigmoid(z) <= 0.5", "ml.sigmoid(z) > 0.9", "ml.sigmoid(z) < 0.01",
    "2.0 * ml.sigmoid(z) - 1.0 > 0.2", "ml.sigmoid(z) + 0.25 >= 1.0",
    "ml.sigmoid(z * 3.0 + 1.0) > 0.7",
]


def values() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.uniform(-10, 10, 300), np.linspace(-0.01, 0.01, 100)])


@pytest.mark.parametrize("expr", FORMS)
def test_rewritten_forms_agree_and_skip_the_function(expr: str) -> None:
    src = TEMPLATE.format(expr=expr)
    plain = compile_text(src, level=1)
    best = compile_text(src, level=2)
    z = values()
    assert np.array_equal(run_circuit(plain.circuit, {"z": z})["o"],
                          run_circuit(best.circuit, {"z": z})["o"])
    ops = [n.op for n in best.circuit.nodes]
    assert "to_bits" not in ops and ops.count("lt") == 1, expr  # no sigmoid left
    assert report.build(best.circuit)["notes"], "the report says what was rewritten"


def test_credit_scoring_evaluates_no_sigmoid() -> None:
    from pathlib import Path

    from veil.compiler import compile_path

    program = Path(__file__).resolve().parent.parent / "programs" / "credit_scoring"
    naive = report.build(compile_path(program, backend="rep3", optimize_level=1).executable,
                         backend="rep3")
    best = report.build(compile_path(program, backend="rep3", optimize_level=2).executable,
                        backend="rep3")
    assert best["rounds"] < naive["rounds"] and best["ops"]["boolean_gates"] * 3 < \
        naive["ops"]["boolean_gates"]
    high = compile_path(program, optimize_level=2).circuit  # one comparison per applicant
    assert [n.op for n in high.nodes].count("lt") == 1
    assert "to_bits" not in {n.op for n in high.nodes}
    # z0 is 3 ulps: below that, sigmoid(z) rounds to exactly 0.5, which is not > 0.5
    assert any("ml.sigmoid(z) > 0.5 became z > 4.5776" in n for n in best["notes"])


def test_thresholds_the_function_never_reaches_are_left_alone() -> None:
    src = TEMPLATE.format(expr="ml.sigmoid(z) > 1.5")
    best = compile_text(src, level=2)
    assert "to_bits" in [n.op for n in best.circuit.nodes]  # the sigmoid is computed
    assert not run_circuit(best.circuit, {"z": values()})["o"].any()


def test_functions_not_marked_monotone_are_not_touched() -> None:
    src = """
party p
input z: secret fixed[10] from p
fn bump(x: fixed[..]) -> fixed[..] { return select(x > 0.0, x, x * 0.5) }
output o = bump(z) > 0.25 to p
"""
    best = compile_text(src, level=2)
    assert [n.op for n in best.circuit.nodes].count("select") == 1


@settings(max_examples=30, deadline=None)
@given(st.floats(0.001, 0.999), st.sampled_from([">", ">=", "<", "<="]))
def test_any_threshold_gives_the_same_answers(t: float, op: str) -> None:
    src = TEMPLATE.format(expr=f"ml.sigmoid(z) {op} {t!r}")
    z = values()
    assert np.array_equal(run_circuit(compile_text(src, level=1).circuit, {"z": z})["o"],
                          run_circuit(compile_text(src, level=2).circuit, {"z": z})["o"])
