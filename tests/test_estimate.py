"""The cost report as a reader sees it (issue 12): operations as written beside the
protocol's, conversions counted as conversions, an estimate that says what it includes
(the input upload; local computation when calibrated), and `veil run --json` phases to
compare it with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veil.cli import main
from veil.compiler import compile_source
from veil.cost import report
from veil.cost.timing import LocalModel, load_local_model, save_local_model
from veil.schedule import schedule

ROOT = Path(__file__).resolve().parents[1]
SOURCE = """party a, b
input x: secret fixed[4] from a
input y: secret fixed[4] from a
let high = x > y
output n = sum(high) to b
output r = sum(x) / sum(y) to b
output m = select(x[0] < 1.0, x[1], y[1]) to b
"""


def _report(backend: str, local: LocalModel | None = None) -> dict:
    compiled = compile_source(SOURCE, backend=backend)
    return report.build(compiled.executable, compiled.passes, backend=backend,
                        written=compiled.unoptimized, local=local)


def test_operations_as_written_are_counted_on_both_backends() -> None:
    for backend in ("plain", "rep3"):
        written = _report(backend)["ops_as_written"]
        assert written["comparisons"] == 5  # x > y (4) and x[0] < 1.0
        assert written["divisions"] == 1 and written["selects"] == 1
        assert written["conversions"] == 4  # sum of 4 bools


def test_rep3_conversions_are_not_multiplications() -> None:
    source = SOURCE.replace("output r = sum(x) / sum(y) to b\n", "")
    compiled = compile_source(source, backend="rep3")
    data = report.build(compiled.executable, backend="rep3", written=compiled.unoptimized)
    # sum(high) and the select's bit (2 each); the bits of the 4 + 1 differences compared
    assert data["ops"]["conversions"] == 2 * (4 + 1) + 64 * (4 + 1)
    assert data["ops"]["secret_multiplications"] == 1  # the select's one product
    text = report.render(data)
    assert "operations as written" in text and "protocol operations (rep3" in text
    assert "(bool → number: 2 products each; a comparison's bits: 64)" in text
    assert "of them in comparisons)" in text
    assert "\n  comparisons   " not in text.split("protocol operations")[1].split("network")[0]


def test_the_estimate_says_what_it_includes() -> None:
    data = _report("rep3")
    assert data["local_compute"] == {"included": False}
    text = report.render(data)
    upload = sum(data["input_bytes"].values())
    assert f"the upload of {upload:,} bytes of input shares" in text
    assert "local computation not included: `veil cost --calibrate` measures" in text


def test_a_calibrated_machine_adds_its_local_computation() -> None:
    model = LocalModel(0.001, 2e-5, 1e-7, 1e-8, "testhost, 2026-01-01")
    without, data = _report("rep3"), _report("rep3", model)
    compiled = compile_source(SOURCE, backend="rep3")
    local = model.seconds(compiled.executable, schedule(compiled.executable))
    assert data["local_compute"]["seconds"] == pytest.approx(local, abs=1e-6)
    for name, est in data["estimates"].items():
        assert est["seconds"] == pytest.approx(without["estimates"][name]["seconds"] + local,
                                               abs=1e-5)
        assert est["phases"]["local"] == pytest.approx(local, abs=1e-6)
    text = report.render(data)
    assert "calibrated on testhost, 2026-01-01" in text
    assert "of the compute phase included, as calibrated" in text


def test_calibrations_are_kept_and_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "cal.json"
    monkeypatch.setenv("VEIL_CALIBRATION", str(path))
    assert load_local_model() is None
    model = LocalModel(0.001, 2e-5, 1e-7, 1e-8, "here")
    assert save_local_model(model) == path
    assert load_local_model() == model
    path.write_text("{not json")
    assert load_local_model() is None  # a broken file is no calibration, not a crash
    result = CliRunner().invoke(main, ["cost", str(ROOT / "programs" / "joint_average")])
    assert result.exit_code == 0 and "not included" in result.output


def test_run_json_phases() -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "programs" / "joint_average"),
                                       "--json", "-q"])
    assert result.exit_code == 0, result.output
    phases = json.loads(result.output)["stats"]["phases"]
    assert list(phases) == ["compile", "setup", "input", "compute", "output", "total"]
    assert all(v >= 0 for v in phases.values())
    parts = sum(phases[k] for k in ("compile", "setup", "input", "compute", "output"))
    assert parts <= phases["total"] + 0.05
    plain = CliRunner().invoke(main, ["run", str(ROOT / "programs" / "joint_average"),
                                      "--json", "--backend", "plain"])
    assert list(json.loads(plain.output)["stats"]["phases"]) == ["compile", "input",
                                                                  "compute", "total"]


@pytest.mark.slow
def test_calibration_fits_a_model_of_this_machine() -> None:
    from veil.calibrate import calibrate

    lines: list[str] = []
    model = calibrate(lines.append)
    assert len(lines) == 5
    assert min(model.per_round, model.per_node, model.per_interactive, model.per_local) >= 0
    assert model.per_round + model.per_node + model.per_interactive + model.per_local > 0
