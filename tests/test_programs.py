"""Every shipped program runs on its sample inputs and matches a numpy float64 reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.backend.plain import PlainBackend
from veil.compiler import compile_path
from veil.io.inputs import load_inputs
from veil.io.outputs import by_party

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
ALL = sorted(p.name for p in PROGRAMS.iterdir() if (p / "main.mpc").is_file())


def run(name: str) -> dict:
    compiled = compile_path(PROGRAMS / name)
    inputs = load_inputs(compiled.circuit, PROGRAMS / name / "inputs")
    raw = PlainBackend().run(compiled.circuit, inputs).outputs
    return by_party(compiled.circuit, raw)


def test_there_are_at_least_four_programs() -> None:
    assert len(ALL) >= 4 and "credit_scoring" in ALL


@pytest.mark.parametrize("name", ALL)
def test_program_compiles_without_warnings_and_runs(name: str) -> None:
    compiled = compile_path(PROGRAMS / name)
    assert compiled.warnings == []
    assert run(name)


def test_credit_scoring_matches_float64_model() -> None:
    base = PROGRAMS / "credit_scoring"
    expected = json.loads((base / "expected.json").read_text())
    eu = json.loads((base / "inputs" / "eu_bank.json").read_text())
    x = np.loadtxt(base / "inputs" / "applicants.csv", delimiter=",")
    z = x @ np.array(eu["weights"]) + eu["bias"]
    outputs = run("credit_scoring")
    approved = np.array(outputs["cn_bank"]["approved"])
    assert np.array_equal(approved, 1 / (1 + np.exp(-z)) > 0.5)
    assert outputs["regulator"]["approvals"] == expected["approved_count"] == approved.sum()
    assert outputs["eu_bank"] == {"approvals": expected["approved_count"]}
    assert "approved" not in outputs["regulator"]


def _inputs(name: str) -> dict:
    data: dict = {}
    for f in (PROGRAMS / name / "inputs").glob("*.json"):
        data.update(json.loads(f.read_text()))
    return data


def test_joint_average() -> None:
    d = _inputs("joint_average")
    loans = np.array([d["loans_a"], d["loans_b"], d["loans_c"]])
    out = run("joint_average")["bank_b"]
    assert abs(out["average"] - loans.mean()) <= loans.mean() * 2.0**-15  # division by 24
    assert out["above_limit"] == int((loans > 250).sum())


def test_sealed_bid_auction() -> None:
    d = _inputs("sealed_bid_auction")
    bids = np.array([d["bid_alice"], d["bid_bob"], d["bid_carol"], d["bid_dave"]])
    out = run("sealed_bid_auction")["auctioneer"]
    assert out["winner"] == int(np.argmax(bids))
    assert out["price"] == max(np.sort(bids)[-2], 100.0)
    assert out["sold"] is True


def test_matrix_product() -> None:
    d = _inputs("matrix_product")
    product = np.array(d["purchases"]) @ np.array(d["margins"])
    out = run("matrix_product")
    assert np.allclose(out["retailer"]["by_segment"], product)
    assert abs(out["supplier"]["total"] - product.sum()) < 1e-9
    assert out["supplier"]["best_region"] == int(np.argmax(product.sum(0)))


def _rep3(name: str) -> dict:
    """A program's outputs over secret shares (servers in threads: tests/rep3_harness)."""
    from rep3_harness import run_threaded

    compiled = compile_path(PROGRAMS / name, backend="rep3")
    inputs = load_inputs(compiled.executable, PROGRAMS / name / "inputs")
    return by_party(compiled.executable, run_threaded(compiled.executable, inputs).result.outputs)


def _training_check(model: np.ndarray) -> None:
    base = PROGRAMS / "joint_training"
    expected = json.loads((base / "expected.json").read_text())
    reference = np.array(expected["model"])
    assert np.abs(model - reference).max() < 1e-3  # numpy, same steps, exact sigmoid
    x = np.vstack([np.loadtxt(base / "inputs" / f"{p}_records.csv", delimiter=",")
                   for p in ("eu_bank", "cn_bank")])
    ours = x @ model[:-1] + model[-1] > 0
    theirs = x @ reference[:-1] + reference[-1] > 0
    assert np.mean(ours == theirs) >= 0.999
    assert int(theirs.sum()) == expected["flagged"]


@pytest.mark.parametrize("backend", ["plain", "rep3"])
def test_joint_training_matches_numpy(backend: str) -> None:
    outputs = run("joint_training") if backend == "plain" else _rep3("joint_training")
    assert outputs["eu_bank"]["model"] == outputs["cn_bank"]["model"]
    _training_check(np.array(outputs["eu_bank"]["model"]))


@pytest.mark.parametrize("backend", ["plain", "rep3"])
def test_model_validation_matches_numpy(backend: str) -> None:
    expected = json.loads((PROGRAMS / "model_validation" / "expected.json").read_text())
    outputs = run("model_validation") if backend == "plain" else _rep3("model_validation")
    assert set(outputs) == {"regulator"} and set(outputs["regulator"]) == {"auc", "ks", "psi"}
    for name in ("auc", "ks", "psi"):
        assert abs(outputs["regulator"][name] - expected[name]) < 1e-3, name


def _reference(name: str):
    """The program's own plain-numpy reference script, imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{name}_reference",
                                                  PROGRAMS / name / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_double_financing_matches_its_numpy_reference() -> None:
    base = PROGRAMS / "double_financing"
    want = _reference("double_financing").reference(base / "inputs")
    got = run("double_financing")
    assert got["eu_bank"] == want["eu_bank"] and got["cn_bank"] == want["cn_bank"]
    reg = got["regulator"]
    assert reg["invoices_financed_twice"] == want["regulator"]["invoices_financed_twice"] > 0
    for key in ("amount_eu", "amount_cn"):  # amounts with 3 decimals, 16 fractional bits
        assert abs(reg[key] - want["regulator"][key]) < 1e-3 * len(want["eu_bank"]
                                                                  ["eu_duplicates"])


def test_supplier_exposure_matches_its_numpy_reference() -> None:
    base = PROGRAMS / "supplier_exposure"
    want = _reference("supplier_exposure").reference(base / "inputs", base)
    got = run("supplier_exposure")
    assert got == {"regulator": want["regulator"]}
    over = want["regulator"]["over_limit"]
    assert 0 < sum(over) < len(over)
    exposure = np.array(want["exposure"])
    assert np.min(np.abs(exposure - 700.0)) > 1.0  # no supplier within rounding of the limit
