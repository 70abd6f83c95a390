"""Secret division and the elementary functions (veil.ir.numerics) against numpy float64,
on the plain backend and over secret shares, across their domains and at their edges.

The bounds are the ones docs/numerics.md documents: an absolute error where the exact
result is below 1 in magnitude, a relative error where it is at least 1 (bench/
numerics_errors.py measures the table on 10^6 points).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from rep3_harness import run_threaded

from veil.compiler import compile_source
from veil.cost import report
from veil.ir import fx_tables
from veil.ir.semantics import decode, encode

ULP = 2.0**-16
TOP = 2.0**30
ROOT = Path(__file__).resolve().parent.parent

# function: (expression, exact, abs bound (|exact| < 1), rel bound (|exact| >= 1), rounds)
BOUNDS = {
    "div": ("x / y", lambda a, b: a / b, 8 * ULP, 1e-4, 26),
    "recip": ("math.reciprocal(x)", lambda x: 1 / x, 4 * ULP, 5e-5, 26),
    "exp": ("math.exp(x)", np.exp, 3 * ULP, 6e-5, 17),
    "log": ("math.log(x)", np.log, 3 * ULP, 5e-5, 25),
    "sqrt": ("math.sqrt(x)", np.sqrt, 3 * ULP, 5e-5, 28),
    "sigmoid": ("ml.sigmoid(x)", lambda x: 0.5 * (1 + np.tanh(x / 2)), 2 * ULP, 1e-4, 16),
}


def source(expr: str, n: int, precision: int = 16) -> str:
    head = f"precision {precision}\n" if precision != 16 else ""
    ins = f"input x: secret fixed[{n}] from p\n"
    if "y" in expr:
        ins += f"input y: secret fixed[{n}] from p\n"
    return f"{head}party p\nuse math\nuse ml\n{ins}output r = {expr} to p\n"


def log_uniform(rng, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def signs(rng, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, -1.0, 1.0)


def samples(name: str, n: int, seed: int = 0, top: float = TOP, ulp: float = ULP) -> list:
    rng = np.random.default_rng(seed)
    if name == "div":
        a = np.concatenate([rng.uniform(-1000, 1000, n // 2),
                            signs(rng, n - n // 2) * log_uniform(rng, ulp, top / 2, n - n // 2)])
        b = signs(rng, n) * np.concatenate([log_uniform(rng, 2**-6, top / 2, n // 2),
                                            log_uniform(rng, 1.0, 2**16, n - n // 2)])
        limit = top / 4  # the domain: |a/b| below 2^(61-2f) = top/2
        return [np.clip(a, -np.abs(b) * limit, np.abs(b) * limit), b]
    if name == "recip":
        low = max(4 * ulp, 4 / top)  # the domain: |1/x| below 2^(61-2f) = top/2
        x = signs(rng, n) * log_uniform(rng, low, top * 0.999, n)
        x[:4] = [low, -low, top - ulp, -(top - ulp)]
        return [x]
    if name == "exp":
        hi = np.log(top)
        x = rng.uniform(-0.69 * (np.log2(1 / ulp) + 1), hi, n)
        x[:3] = [hi - 1e-3, 0.0, -0.69 * np.log2(1 / ulp)]
        return [x]
    if name in ("log", "sqrt"):
        x = np.concatenate([log_uniform(rng, ulp, top * 0.999, n // 2),
                            rng.uniform(ulp, 4, n - n // 2)])
        x[:2] = [ulp, top - ulp]
        return [x]
    x = np.concatenate([rng.uniform(-16, 16, n - n // 10),
                        signs(rng, n // 10) * log_uniform(rng, 16, top * 0.999, n // 10)])
    return [x]


def check(name: str, got: np.ndarray, args: list, ulp: float = ULP) -> None:
    _, exact_fn, abs_bound, rel_bound, _ = BOUNDS[name]
    stored = [np.round(a / ulp) * ulp for a in args]
    exact = exact_fn(*stored)
    scale = ulp / ULP  # the bounds are in units of the last place
    diff = np.abs(got - exact)
    small = np.abs(exact) < 1
    assert diff[small].max(initial=0) <= abs_bound * scale, (
        name, stored[0][small][np.argmax(diff[small])], diff[small].max() / ulp)
    rel = diff[~small] / np.abs(exact[~small])
    assert rel.max(initial=0) <= max(rel_bound, 8 * ulp), (
        name, stored[0][~small][np.argmax(rel)], rel.max())


@pytest.mark.parametrize("name", list(BOUNDS))
def test_plain_against_float64_across_the_domain(name: str) -> None:
    n = 100_000
    args = samples(name, n)
    compiled = compile_text(source(BOUNDS[name][0], n))
    got = run_circuit(compiled.circuit, dict(zip("xy", args, strict=False)))["r"]
    check(name, got, args)


@pytest.mark.parametrize("name", list(BOUNDS))
def test_rep3_against_float64_with_its_rounds(name: str) -> None:
    n = 3000
    args = samples(name, n, seed=1)
    circuit = compile_source(source(BOUNDS[name][0], n), backend="rep3").executable
    raw = run_threaded(circuit, {k: encode(a, "fixed") for k, a in zip("xy", args,
                                                                     strict=False)})
    check(name, decode(raw.result.outputs["r"], "fixed"), args)
    rounds = report.build(circuit, backend="rep3")["rounds_by_phase"]["compute"]
    assert rounds <= BOUNDS[name][4]


@pytest.mark.parametrize("precision", [12, 20, 24])
@pytest.mark.parametrize("name", list(BOUNDS))
def test_other_precisions(name: str, precision: int) -> None:
    ulp = 2.0**-precision
    top = 2.0 ** (62 - 2 * precision)
    n = 5000
    args = samples(name, n, seed=2, top=top, ulp=ulp)
    if name == "exp":
        args = [np.random.default_rng(3).uniform(-0.69 * precision, np.log(top) - 1e-3, n)]
    got = run_circuit(compile_text(source(BOUNDS[name][0], n, precision)).circuit,
                      dict(zip("xy", args, strict=False)))["r"]
    check(name, got, args, ulp)


# ---------------------------------------------------------------- outside the domains


EDGES = {
    "x / y": ([5.0, 0.0, -3.0, 7.5], [0.0, 0.0, 0.0, 2.5], [0.0, 0.0, 0.0, 3.0]),
    "math.reciprocal(x)": ([0.0, 1.0, -4.0], None, [0.0, 1.0, -0.25]),
    "math.log(x)": ([0.0, -3.0, 1.0], None, [-(TOP - ULP), -(TOP - ULP), 0.0]),
    "math.sqrt(x)": ([-2.0, 0.0, 4.0], None, [0.0, 0.0, 2.0]),
    "math.exp(x)": ([25.0, 1000000.0, -12.0, -100000.0, 0.0],
                    None, [TOP - ULP, TOP - ULP, 0.0, 0.0, 1.0]),
    "ml.sigmoid(x)": ([1000000.0, -1000000.0, 23.0, -23.0, 0.0], None,
                      [1.0, 0.0, 1.0, 0.0, 0.5]),
}


@pytest.mark.parametrize("expr", list(EDGES))
def test_documented_results_outside_the_domain(expr: str) -> None:
    x, y, want = EDGES[expr]
    inputs = {"x": np.array(x)} | ({"y": np.array(y)} if y is not None else {})
    text = source(expr, len(x))
    got = run_circuit(compile_text(text).circuit, inputs)["r"]
    assert np.allclose(got, want, atol=2 * ULP), (got, want)
    circuit = compile_source(text, backend="rep3").executable
    raw = run_threaded(circuit, {k: encode(v, "fixed") for k, v in inputs.items()})
    assert np.allclose(decode(raw.result.outputs["r"], "fixed"), want, atol=8 * ULP)


def test_shapes_broadcast_and_ints() -> None:
    text = """
party p
use math
input m: secret fixed[2, 3] from p
input v: secret fixed[3] from p
input n: secret int[3] from p
input s: secret fixed from p
output a = m / v to p
output b = s / v to p
output c = n / s to p
output d = math.exp(m) to p
"""
    m = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, -6.0]])
    v = np.array([2.0, -4.0, 0.5])
    got = run_circuit(compile_text(text).circuit, {"m": m, "v": v, "n": [3, 6, 9], "s": 1.5})
    assert np.allclose(got["a"], m / v, atol=1e-4)
    assert np.allclose(got["b"], 1.5 / v, atol=1e-4)
    assert np.allclose(got["c"], np.array([3, 6, 9]) / 1.5, atol=1e-4)
    assert got["d"].shape == (2, 3) and np.allclose(got["d"], np.exp(m), rtol=1e-4, atol=ULP)


def test_public_arguments_fold_to_what_the_circuit_computes() -> None:
    public = compile_text("party p\nuse math\noutput r = math.exp(2.5) + math.log(3.0) to p\n")
    assert all(n.op == "const" for n in public.circuit.nodes)
    secret = compile_text("party p\nuse math\ninput x: secret fixed[2] from p\n"
                          "output r = math.exp(x[0]) + math.log(x[1]) to p\n")
    folded = run_circuit(public.circuit, {})["r"]
    assert folded == run_circuit(secret.circuit, {"x": [2.5, 3.0]})["r"]
    assert folded == pytest.approx(np.exp(2.5) + np.log(3.0), rel=2e-5)


def test_math_is_monotone_for_the_optimizer() -> None:
    text = "party p\nuse math\ninput z: secret fixed[1000] from p\noutput o = {} to p\n"
    z = np.concatenate([np.linspace(-3, 3, 900), np.linspace(0.69, 0.70, 100)])
    for expr in ("math.exp(z) > 2.0", "math.log(z) < 0.5", "math.sqrt(z) >= 1.5"):
        naive = compile_text(text.format(expr), level=1)
        best = compile_text(text.format(expr), level=2)
        assert "to_bits" not in [n.op for n in best.circuit.nodes], expr
        assert np.array_equal(run_circuit(naive.circuit, {"z": z})["o"],
                              run_circuit(best.circuit, {"z": z})["o"]), expr


# ---------------------------------------------------------------- the sigmoid


def test_sigmoid_is_within_1e4_over_a_million_points() -> None:
    x = np.linspace(-16, 16, 1_000_000)
    got = run_circuit(compile_text(source("ml.sigmoid(x)", len(x))).circuit, {"x": x})["r"]
    stored = np.round(x / ULP) * ULP
    assert np.abs(got - 0.5 * (1 + np.tanh(stored / 2))).max() < 1e-4


def test_spector_mazzeo_logit_scores_within_1e4() -> None:
    """The classic logit example: scores of the float64 maximum-likelihood model,
    computed over shares with ml.sigmoid, against float64."""
    data = np.loadtxt(ROOT / "tests/data/spector/spector.csv", delimiter=",", skiprows=1)
    features, grade = data[:, :3], data[:, 3]
    design = np.column_stack([np.ones(len(data)), features])
    w = np.zeros(4)
    for _ in range(25):  # Newton's method to the maximum-likelihood estimate
        p = 1 / (1 + np.exp(-design @ w))
        w += np.linalg.solve(design.T @ (design * (p * (1 - p))[:, None]),
                             design.T @ (grade - p))
    assert np.allclose(w, [-13.0213, 2.8261, 0.0952, 2.3787], atol=1e-4)  # as published
    exact = 1 / (1 + np.exp(-design @ w))
    text = """
party school, lab
use ml
input x: secret fixed[32, 3] from school
input w: secret fixed[3] from lab
input b: secret fixed from lab
output score = ml.sigmoid(x @ w + b) to school
"""
    inputs = {"x": features, "w": w[1:], "b": w[0]}
    plain = run_circuit(compile_text(text).circuit, inputs)["score"]
    assert np.abs(plain - exact).max() <= 1e-4
    circuit = compile_source(text, backend="rep3").executable
    raw = run_threaded(circuit, {k: encode(v, "fixed") for k, v in inputs.items()})
    assert np.abs(decode(raw.result.outputs["score"], "fixed") - exact).max() <= 1e-4


# ---------------------------------------------------------------- the tables


def test_stored_coefficients_are_what_the_fitting_script_makes() -> None:
    spec = importlib.util.spec_from_file_location("fit", ROOT / "bench/fit_coefficients.py")
    assert spec is not None and spec.loader is not None
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    for stored, made in ((fx_tables.EXP2, fit.exp2_tables()), (fx_tables.LN, fit.ln_tables())):
        assert stored.keys() == made.keys()
        for d in stored:
            assert np.allclose(stored[d], made[d], rtol=1e-9, atol=1e-12)
    for d, rows in fit.sigmoid_tables().items():
        assert np.allclose(fx_tables.SIGMOID[d], rows, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the range analysis


@pytest.mark.parametrize("decls,expr,code", [
    ("input x: secret fixed in [-1.0, 1.0] from p", "math.log(x)", "W0603"),
    ("input x: secret fixed in [0.0, 30.0] from p", "math.exp(x)", "W0603"),
    ("input x: secret fixed in [-1.0, 4.0] from p", "math.sqrt(x)", "W0603"),
    ("input x: secret fixed in [0.0, 10.0] from p\ninput y: secret fixed in [0.0, 10.0] "
     "from p", "x / y", "W0603"),
    ("input x: secret fixed in [0.0, 100000000.0] from p\ninput y: secret fixed in "
     "[0.01, 1.0] from p", "x / y", "W0602"),
    ("input x: secret fixed in [0.0, 100.0] from p\ninput y: secret fixed in [1.0, 10.0] "
     "from p", "x / y * 2.0 + math.exp(y) + math.log(y) + math.sqrt(x)", None),
])
def test_domains_in_the_range_analysis(decls: str, expr: str, code: str | None) -> None:
    found = compile_text(f"party p\nuse math\n{decls}\noutput r = {expr} to p\n").warnings
    assert [w.code for w in found] == ([code] if code else [])


def test_two_divisions_by_one_secret_normalize_it_once() -> None:
    compiled = compile_text("party p\ninput a: secret fixed[5] from p\ninput c: secret fixed[5] "
                            "from p\ninput b: secret fixed[5] from p\n"
                            "output r = a / b + c / b to p\n")
    assert [n.op for n in compiled.circuit.nodes].count("to_bits") == 1
