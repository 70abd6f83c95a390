"""`precision N`: the number of fractional bits of `fixed`, chosen per program.

The resolution is 2^-N and the accepted range ±2^(62 - 2N); literals, params, inputs,
products, division by public values, outputs and the report all follow the choice, on
plain and on rep3.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from rep3_harness import run_threaded

from veil.compiler import compile_source
from veil.cost import report
from veil.diagnostics import VeilError
from veil.io.inputs import load_inputs
from veil.io.outputs import by_party
from veil.ir.semantics import decode, encode

PROGRAM = """
precision {bits}
party p
input x: secret fixed[5] from p
input y: secret fixed[5] from p
param scale: public fixed = 0.0001
output xy = x * y to p
output q = x / 3.0 to p
output s = x * scale to p
output whole = to_int(x) to p
"""

X = [1.5, -2.25, 1e-4, 3.0, -0.5]
Y = [2.0, 0.1, 3.0, -1.0 / 3, 7.0]


@pytest.mark.parametrize("bits", [8, 12, 16, 20, 24])
def test_arithmetic_follows_the_precision_on_plain_and_rep3(bits: int) -> None:
    compiled = compile_text(PROGRAM.format(bits=bits))
    assert compiled.circuit.frac_bits == bits
    ulp = 2.0**-bits
    x, y = np.array(X), np.array(Y)
    xr, yr = np.round(x / ulp) * ulp, np.round(y / ulp) * ulp  # the stored values
    got = run_circuit(compiled.circuit, {"x": X, "y": Y})
    assert np.allclose(got["xy"], xr * yr, atol=ulp)
    assert np.allclose(got["q"], xr / 3.0, atol=2 * ulp + abs(xr / 3).max() * ulp)
    assert np.allclose(got["s"], xr * np.round(1e-4 / ulp) * ulp, atol=ulp)
    assert got["whole"].tolist() == np.floor(xr).astype(int).tolist()
    rep3 = compile_source(PROGRAM.format(bits=bits), backend="rep3").executable
    enc = {s.name: encode({"x": X, "y": Y}[s.name], "fixed", bits) for s in rep3.inputs}
    raw = run_threaded(rep3, enc).result.outputs
    for name in ("xy", "q", "s"):
        assert np.allclose(decode(raw[name], "fixed", bits), got[name], atol=ulp)


def test_finer_precision_is_more_accurate() -> None:
    errors = {}
    for bits in (12, 16, 20):
        got = run_circuit(compile_text(PROGRAM.format(bits=bits)).circuit, {"x": X, "y": Y})
        errors[bits] = np.abs(got["q"] - np.array(X) / 3.0).max()
    assert errors[12] > errors[16] > errors[20]


def test_the_range_follows_the_precision() -> None:
    compile_text("precision 20\nparty p\noutput r = 4000000.0 to p\n")  # 2^21.9 < 2^22
    with pytest.raises(VeilError) as info:
        compile_text("precision 20\nparty p\noutput r = 5000000.0 to p\n")
    assert "V0312" in info.value.render() and "±2^22" in info.value.render()
    with pytest.raises(VeilError) as info:
        compile_text("party p\noutput r = 1100000000.0 to p\n")  # default: ±2^30
    assert "±2^30" in info.value.render()
    compile_text("precision 8\nparty p\noutput r = 70000000000.0 to p\n")  # 2^46 at 8 bits


@pytest.mark.parametrize("text,code", [
    ("precision 30\nparty p\noutput r = 1 to p\n", "V0317"),
    ("precision 7\nparty p\noutput r = 1 to p\n", "V0317"),
    ("precision 16\nprecision 20\nparty p\noutput r = 1 to p\n", "V0317"),
])
def test_bad_precision(text: str, code: str) -> None:
    with pytest.raises(VeilError) as info:
        compile_text(text)
    assert code in [d.code for d in info.value.diagnostics]


def test_inputs_outputs_and_report_use_the_precision(tmp_path) -> None:
    src = "precision 20\nparty p\ninput x: secret fixed[2] from p\noutput y = x * 0.5 to p\n"
    compiled = compile_source(src, backend="rep3")
    (tmp_path / "p.json").write_text(json.dumps({"x": [1.0000009536743164, 2000000.0]}))
    inputs = load_inputs(compiled.executable, tmp_path)
    assert inputs["x"].view(np.int64).tolist() == [2**20 + 1, 2000000 * 2**20]
    (tmp_path / "p.json").write_text(json.dumps({"x": [1.0, 5000000.0]}))
    with pytest.raises(VeilError) as info:
        load_inputs(compiled.executable, tmp_path)
    assert "V0705" in info.value.render() and "±2^22" in info.value.render()
    out = by_party(compiled.executable, {"y": encode([0.5, 3.0], "fixed", 20)})
    assert out["p"]["y"] == [0.5, 3.0]
    data = report.build(compiled.executable, backend="rep3")
    assert data["frac_bits"] == 20 and data["fixed_range"] == 2.0**22
    assert "fixed point  20 fractional bits" in report.render(data)


def test_a_library_module_cannot_set_the_precision(tmp_path) -> None:
    (tmp_path / "lib.mpc").write_text("precision 20\nfn f(x: fixed) -> fixed { return x }\n")
    with pytest.raises(VeilError) as info:
        compile_source("party p\nuse lib\noutput r = lib.f(1.0) to p\n", program_dir=tmp_path)
    assert "V0502" in [d.code for d in info.value.diagnostics]


def test_library_constants_are_encoded_at_the_programs_precision() -> None:
    src = "precision 20\nparty p\nuse ml\noutput b = ml.SIGMOID_SLOPES[0] to p\n"
    got = run_circuit(compile_text(src).circuit, {})
    assert got["b"] == pytest.approx(0.244903564453125, abs=2**-20)


def test_the_python_api_uses_the_precision_and_the_declared_ranges() -> None:
    import veil

    prog = veil.compile(source="precision 20\nparty p\n"
                        "input x: secret fixed[3] in [0.0, 10.0] from p\n"
                        "output y = x * 3.0 to p\n", backend="plain")
    assert prog.inputs["x"]["range"] == (0.0, 10.0)
    x = np.array([0.1, 2.0**-20, 9.75])  # 2^-20 is one ulp at 20 fractional bits
    got = prog.run({"p": {"x": x}})["p"]["y"]
    assert np.allclose(got, 3 * x, atol=3 * 2.0**-20) and got[1] > 0
    with pytest.raises(VeilError) as info:  # outside the declared range, and the ±2^22 limit
        prog.run({"p": {"x": np.array([1.0, 12.5, 5e6])}})
    found = [(d.code, d.message) for d in info.value.diagnostics]
    assert found == [("V0705", "p: field `x`[2]: outside the fixed-point range ±2^22")]
    with pytest.raises(VeilError) as info:
        prog.run({"p": {"x": [1.0, 12.5, -1.0]}})
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("V0710", "p: field `x`[1]: above its declared range [0, 10]"),
        ("V0710", "p: field `x`[2]: below its declared range [0, 10]")]
