"""Overflow is never silent: declared input ranges (checked on loading), the range
analysis (W0602 where a fixed value may leave the ring or the truncation bound, V0319
where it certainly does), the plain backend's run-time check (V0802), and W0604 for
public values that fixed-point rounding moves by more than 1%."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.analysis import ranges
from veil.compiler import compile_source
from veil.diagnostics import VeilError
from veil.io.inputs import load_inputs
from veil.ir.serialize import dumps, loads


def codes(text: str) -> list[str]:
    return [w.code for w in compile_text(text).warnings]


def error_codes(text: str) -> list[str]:
    with pytest.raises(VeilError) as info:
        compile_text(text)
    return [d.code for d in info.value.diagnostics]


# ---------------------------------------------------------------- declarations


@pytest.mark.parametrize("decl", [
    "input b: secret bool[2] in [0.0, 1.0] from p",
    "input x: secret fixed[2] in [5.0, 1.0] from p",
    "input x: secret fixed[2] in [0.0, 2000000000.0] from p",
    "input n: secret int[2] in [0.0, 2.5] from p",
    "input x: secret fixed[2] in [0.0, true] from p",
    "input x: secret fixed[2] in [0.0, y] from p",
])
def test_bad_ranges_are_refused(decl: str) -> None:
    assert "V0318" in error_codes(f"party p\ninput y: secret fixed from p\n{decl}\n"
                                  "output r = y to p\n")


def test_range_is_part_of_the_circuit_and_its_fingerprint() -> None:
    text = "party p\nconst HI = 10.0\ninput x: secret fixed[2] in [-HI, HI] from p\n" \
           "output r = x to p\n"
    c = compile_source(text).circuit
    assert c.inputs[0].range == (-10.0, 10.0)
    assert loads(dumps(c)).inputs[0].range == (-10.0, 10.0)
    other = compile_source(text.replace("-HI, HI", "-HI, 11.0")).fingerprint
    assert other != compile_source(text).fingerprint
    assert '"range"' not in dumps(compile_source("party p\ninput x: secret fixed from p\n"
                                                 "output r = x to p\n").circuit)


def test_values_outside_the_declared_range_are_refused_on_loading(tmp_path) -> None:
    text = "party p\ninput x: secret fixed[2, 2] in [0.0, 1000.0] from p\n" \
           "input n: secret int in [1, 5] from p\noutput r = x to p\noutput m = n to p\n"
    c = compile_source(text).circuit
    (tmp_path / "p.json").write_text(json.dumps({"x": [[0.0, 1000.0], [999.5, 12.0]], "n": 5}))
    assert load_inputs(c, tmp_path)["x"].shape == (2, 2)
    (tmp_path / "p.json").write_text(json.dumps({"x": [[0.0, 1200.5], [-1.0, 12.0]], "n": 6}))
    with pytest.raises(VeilError) as info:
        load_inputs(c, tmp_path)
    text = info.value.render()
    assert [d.code for d in info.value.diagnostics] == ["V0710"] * 3
    assert "p.json: field `x`[0][1]: above its declared range [0, 1000]" in text
    assert "field `x`[1][0]: below its" in text and "field `n`: above its" in text
    assert "1200.5" not in text  # inputs are secret: no values shown


# ---------------------------------------------------------------- the analysis


def test_a_certain_overflow_is_an_error_naming_the_line() -> None:
    with pytest.raises(VeilError) as info:
        compile_text("party p\nconst A = 50000.0\noutput r = A * A to p\n")
    (d,) = info.value.diagnostics
    assert d.code == "V0319" and d.span.line == 3 and "2.5e+09" in d.message


def test_declared_ranges_prove_products_safe() -> None:
    safe = "party p\ninput x: secret fixed[4] in [-100.0, 100.0] from p\n" \
           "input y: secret fixed[4] in [0.0, 1000.0] from p\noutput r = x * y + x @ y to p\n"
    assert codes(safe) == []
    big = safe.replace("[0.0, 1000.0]", "[0.0, 20000000.0]")
    found = compile_text(big).warnings  # `x * y` and `x @ y`: one warning each
    assert [(w.code, w.span.line, w.span.col) for w in found] == [("W0602", 4, 12),
                                                                   ("W0602", 4, 20)]
    assert "2e+09" in found[0].message
    assert "narrow them" in found[0].help  # the declared ranges allow it


def test_inputs_without_a_range_are_named() -> None:
    found = compile_text("party p\ninput x: secret fixed from p\n"
                         "input y: secret fixed in [0.0, 1.0] from p\n"
                         "output r = x * x to p\noutput s = y * y to p\n").warnings
    assert [(w.code, w.span.line) for w in found] == [("W0602", 4)]
    assert "`x` has no declared range" in found[0].help


def test_one_cause_gives_one_warning() -> None:
    found = compile_text("party p\ninput x: secret fixed[8] in [0.0, 100000.0] from p\n"
                         "let y = x * x\nlet z = y - 1.0\noutput r = z > 3.0 to p\n"
                         ).warnings
    assert [(w.code, w.span.line) for w in found] == [("W0602", 3)]


@pytest.mark.parametrize("body,line", [
    ("var s: secret fixed = x[0]\nfor i in 0..60 {\n    s = s * 1.5\n}\noutput r = s to p", 3),
    ("output r = sum(x) / 3.0 to p", 1),
    ("output r = to_fixed(n) * 0.5 to p", 1),
])
def test_loops_divisions_and_conversions(body: str, line: int) -> None:
    head = "party p\ninput x: secret fixed[100000] in [0.0, 100000.0] from p\n" \
           "input n: secret int from p\n"
    found = compile_text(head + body + "\n").warnings
    assert [(w.code, w.span.line - 3) for w in found if w.code == "W0602"] == [("W0602", line)]


def test_intervals() -> None:
    c = compile_text("party p\ninput x: secret fixed[3] in [-2.0, 3.0] from p\n"
                     "input n: secret int in [0, 10] from p\n"
                     "output a = x * x to p\noutput b = sum(x) - to_fixed(n) to p\n",
                     level=0).circuit
    iv = ranges.run(c).intervals
    out = {o.name: iv[o.node] for o in c.outputs}
    f = 2.0**16
    assert out["a"].lo == 0 and out["a"].hi == 9 * f + 1  # a square; truncation: +1 unit
    assert out["b"].lo == -6 * f - 10 * f and out["b"].hi == 9 * f


# ---------------------------------------------------------------- run time (plain)


def test_plain_stops_naming_the_line_when_a_value_overflows() -> None:
    c = compile_text("party p\ninput x: secret fixed[2] from p\ninput y: secret fixed[2] "
                     "from p\nlet z = x + 1.0\noutput r = z * y to p\n").circuit
    assert run_circuit(c, {"x": [1.0, 2.0], "y": [3.0, 4.0]})["r"].tolist() == [6.0, 12.0]
    with pytest.raises(VeilError) as info:
        run_circuit(c, {"x": [1.0, 50000.0], "y": [3.0, 50000.0]})
    (d,) = info.value.diagnostics
    assert d.code == "V0802" and d.span.line == 5 and "2.5e+09" in d.message


def test_int_arithmetic_wraps_by_definition() -> None:
    c = compile_text("party p\ninput n: secret int from p\noutput r = n * 4 to p\n").circuit
    assert run_circuit(c, {"n": 2**62})["r"] == 0


# ---------------------------------------------------------------- precision loss


def test_constants_that_lose_more_than_one_percent_warn_with_the_value_used() -> None:
    found = compile_text("party p\ninput x: secret fixed from p\nparam lr: public fixed = "
                         "0.001\nconst N = 1000\noutput a = x * lr to p\n"
                         "output b = x * (lr / N) to p\noutput c = x * 0.0001 to p\n").warnings
    assert [(w.code, w.span.line) for w in found] == [("W0604", 6), ("W0604", 7)]
    assert "1.00708e-06 is stored as 0 " in found[0].message
    assert "0.0001 is stored as 0.00010681152" in found[1].message
    quiet = compile_text("precision 24\nparty p\ninput x: secret fixed from p\n"
                         "output c = x * 0.0001 to p\n").warnings
    assert quiet == []


# ---------------------------------------------------------------- soundness


TERMS = ["x", "y", "z", "(x * y)", "(y * z)", "sum(x)", "(x @ y)", "2.5", "x[0]"]


@st.composite
def programs(draw):
    """A random expression over three ranged inputs, and values inside the ranges."""
    bounds = []
    for _ in range(3):
        scale = 10.0 ** draw(st.integers(0, 9))
        lo = draw(st.floats(-1.0, 1.0)) * scale
        hi = lo + draw(st.floats(0.0, 2.0)) * scale
        bounds.append((round(lo, 3), round(hi, 3)))
    expr = draw(st.sampled_from(TERMS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["+", "-", "*"]))
        expr = f"({expr} {op} {draw(st.sampled_from(TERMS))})"
    seed = draw(st.integers(0, 2**32 - 1))
    return bounds, expr, seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_no_warning_means_no_overflow_at_run_time(case) -> None:
    """Whatever the program and the values inside the declared ranges: if the analysis
    finds nothing, the plain backend's exact check never fires."""
    bounds, expr, seed = case
    names = ("x", "y", "z")
    decls = "".join(f"input {n}: secret fixed[3] in [{lo}, {hi}] from p\n"
                    for n, (lo, hi) in zip(names, bounds, strict=True))
    try:
        compiled = compile_text(f"party p\n{decls}output r = {expr} to p\n")
    except VeilError:
        return  # a bound out of the accepted range: refused, fine
    warned = any(w.code == "W0602" for w in compiled.warnings)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        values = {n: np.concatenate([[lo, hi], rng.uniform(lo, hi, 1)])
                  for n, (lo, hi) in zip(names, bounds, strict=True)}
        try:
            run_circuit(compiled.circuit, values)
        except VeilError as exc:
            assert warned, (expr, bounds, exc.render())


def test_the_cases_of_issue_10(tmp_path) -> None:
    """`50000.0 * 50000.0` and `1.0 * 2147483647.99` used to print wrong numbers silently."""
    assert error_codes("party p\noutput r = 50000.0 * 50000.0 to p\n") == ["V0319"]
    assert error_codes("party p\noutput r = 1.0 * 2147483647.99 to p\n") == ["V0312"]
    c = compile_source("party p\ninput x: secret fixed from p\noutput r = 1.0 * x to p\n")
    (tmp_path / "p.json").write_text(json.dumps({"x": 2147483647.99}))
    with pytest.raises(VeilError) as info:
        load_inputs(c.circuit, tmp_path)
    assert [d.code for d in info.value.diagnostics] == ["V0705"]
