"""Measured = predicted: for every shipped program, three real server processes over TCP
send exactly the rounds, messages and bytes that the cost report predicts, and compute
what the plain backend computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from veil.backend.plain import PlainBackend
from veil.compiler import compile_path, compile_source
from veil.cost import report
from veil.io.inputs import load_inputs
from veil.ir.semantics import decode, encode
from veil.runtime.local import LocalRun

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
ALL = sorted(p.name for p in PROGRAMS.iterdir() if (p / "main.mpc").is_file())

TEST_PROGRAM = """
party a
party b
input x: secret int[6] from a
input f: secret fixed[6] from b
input flags: secret bool[6] from a
let big = x > 10 and flags
output n = sum(big) to b
output y = select(big, f * 2.5, f / 3.0) to a, b
output e = x == 7 or not flags to a
output m = max(x) to b
"""


def assert_traffic_matches(circuit, stats: dict) -> None:
    predicted = report.build(circuit, backend="rep3")
    assert stats["rounds"] == predicted["rounds"]
    assert stats["bytes_sent"] == predicted["bytes_per_server"]
    assert stats["messages"] == predicted["messages_per_server"]
    assert stats["input_bytes"] == predicted["input_bytes"]
    assert stats["output_bytes"] == predicted["output_bytes"]
    # the verified mode's preprocessing (none in semi-honest runs): its own rounds and bytes
    assert stats["preprocess_rounds"] == predicted["rounds_by_phase"].get("preprocess", 0)
    assert stats["preprocess_bytes_sent"] == predicted["preprocess_bytes_per_server"]


def decoded(circuit, raw: dict) -> dict:
    return {o.name: decode(raw[o.name], o.type.base) for o in circuit.outputs}


@pytest.mark.parametrize("name", ALL)
def test_program_rounds_and_bytes_equal_the_report(name: str) -> None:
    rep3 = compile_path(PROGRAMS / name, backend="rep3")
    plain = compile_path(PROGRAMS / name, backend="plain")
    inputs = load_inputs(rep3.executable, PROGRAMS / name / "inputs")
    result = LocalRun(timeout=20).run(rep3.executable, inputs)
    assert_traffic_matches(rep3.executable, result.stats)
    expected = decoded(plain.circuit, PlainBackend().run(plain.circuit, inputs).outputs)
    got = decoded(rep3.executable, result.outputs)
    for out in plain.circuit.outputs:
        if out.type.base == "fixed":  # truncation may round up by 1 ulp per product
            assert np.allclose(got[out.name], expected[out.name], atol=1e-3), out.name
        else:
            assert np.array_equal(got[out.name], expected[out.name]), out.name


def test_test_program_traffic_and_results() -> None:
    c = compile_source(TEST_PROGRAM, backend="rep3")
    plain = compile_source(TEST_PROGRAM)
    values = {"x": [1, 11, 7, 30, -5, 12], "f": [1.0, -2.0, 3.5, 0.25, 8.0, -1.5],
              "flags": [True, True, False, True, True, False]}
    enc = {s.name: encode(values[s.name], s.type.base) for s in c.executable.inputs}
    result = LocalRun(timeout=20).run(c.executable, enc)
    assert_traffic_matches(c.executable, result.stats)
    got = decoded(c.executable, result.outputs)
    want = decoded(plain.circuit, PlainBackend().run(plain.circuit, enc).outputs)
    assert int(got["n"]) == int(want["n"]) == 2
    assert got["e"].tolist() == want["e"].tolist()
    assert int(got["m"]) == 30
    assert np.allclose(got["y"], want["y"], atol=3 * 2**-16)
