"""The command line: every command, its JSON forms, exit codes and error output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from veil import __version__
from veil.cli import main

ROOT = Path(__file__).resolve().parent.parent
AUCTION = ROOT / "programs" / "sealed_bid_auction"
MATRIX = ROOT / "programs" / "matrix_product"


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_check_prints_summary_and_fingerprint() -> None:
    result = invoke("check", AUCTION)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 4 inputs, 3 outputs, fingerprint ")


def test_check_template_writes_one_file_per_owner(tmp_path: Path) -> None:
    result = invoke("check", MATRIX, "--template", tmp_path / "t")
    assert result.exit_code == 0, result.output
    retailer = json.loads((tmp_path / "t" / "retailer.json").read_text())
    assert retailer == {"purchases": [[0] * 4] * 3}
    assert json.loads((tmp_path / "t" / "supplier.json").read_text())["margins"][0] == [0.0, 0.0]
    again = invoke("check", MATRIX, "--template", tmp_path / "t")
    assert again.exit_code == 1 and "not overwriting" in again.output


def test_run_json_has_outputs_per_party() -> None:
    result = invoke("run", MATRIX, "--backend", "plain", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"outputs", "fingerprint", "backend", "stats"}
    assert data["outputs"]["supplier"]["total"] == 129.25
    assert data["outputs"]["retailer"]["by_segment"][0] == [31.0, 25.5]
    assert "by_segment" not in data["outputs"]["supplier"]  # only receivers see an output
    assert isinstance(data["outputs"]["supplier"]["best_region"], int)


def test_run_out_dir_writes_one_file_per_receiver(tmp_path: Path) -> None:
    result = invoke("run", AUCTION, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alice.json", "auctioneer.json", "bob.json", "carol.json", "dave.json"]
    assert json.loads((tmp_path / "auctioneer.json").read_text()) == {
        "winner": 1, "price": 499.0, "sold": True}
    assert "sold" not in json.loads((tmp_path / "bob.json").read_text())


def test_param_override_changes_result_and_fingerprint() -> None:
    base = json.loads(invoke("run", AUCTION, "--json").output)
    high = json.loads(invoke("run", AUCTION, "--json", "--param", "reserve=600").output)
    assert high["outputs"]["auctioneer"]["sold"] is False
    assert high["outputs"]["auctioneer"]["price"] == 600.0
    assert high["fingerprint"] != base["fingerprint"]


def test_bad_param_is_a_user_error() -> None:
    result = invoke("run", AUCTION, "--param", "nothere=1")
    assert result.exit_code == 1 and "V0708" in result.output
    result = invoke("run", AUCTION, "--param", "reserve=abc")
    assert result.exit_code == 1 and "V0708" in result.output
    result = invoke("run", AUCTION, "--param", "noequals")
    assert result.exit_code == 2


def test_cost_json_has_the_documented_keys() -> None:
    result = invoke("cost", AUCTION, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("schema_version", "fingerprint", "inputs", "disclosures", "ops", "depth",
                "by_line"):
        assert key in data
    assert {d["name"] for d in data["disclosures"]} == {"winner", "price", "sold"}
    assert data["backend"] == "rep3"  # the default: protocol-level counts and traffic
    assert data["ops"]["boolean_gates"] > 0 and data["depth"] > 0
    assert data["rounds"] == sum(data["rounds_by_phase"].values())
    assert len(data["bytes_per_server"]) == 3 and min(data["bytes_per_server"]) > 0
    assert set(data["estimates"]) == {"lan", "wan"}
    assert all(line.startswith("main.mpc:") for line in data["by_line"])
    plain = json.loads(invoke("cost", AUCTION, "--json", "--backend", "plain").output)
    assert plain["ops"]["comparisons"] > 0 and "rounds" not in plain


def test_cost_profiles() -> None:
    result = invoke("cost", AUCTION, "--json", "--profile", "sat=600,20")
    data = json.loads(result.output)
    assert set(data["estimates"]) == {"sat"}
    est = data["estimates"]["sat"]
    phases = est["phases"]
    assert est["seconds"] == phases["total"]
    # every compute round is one one-way delay (300 ms) plus its bytes at 20 Mbit/s
    compute_bytes = max(data["bytes_per_server"])
    assert 0.3 * data["rounds_by_phase"]["compute"] <= phases["compute"] <= \
        0.3 * data["rounds_by_phase"]["compute"] + compute_bytes * 8 / 20e6
    # connect (5), agree, start, input, output: one one-way delay each beyond the rounds
    assert data["one_way_delays"] == data["rounds_by_phase"]["compute"] + 9
    assert phases["connect"] >= 5 * 0.3 and phases["agree"] == phases["start"] == 0.3
    assert invoke("cost", AUCTION, "--profile", "bad").exit_code == 2


def test_cost_text_and_O0() -> None:
    result = invoke("cost", MATRIX, "-O", "0")
    assert result.exit_code == 0
    assert "disclosures" in result.output and "dot products" in result.output
    assert "constant-fold" not in result.output  # no optimizer pass ran at -O0
    assert "rep3-lower" in result.output  # only the lowering to protocol primitives


def test_usage_errors_exit_2() -> None:
    assert invoke("run").exit_code == 2
    assert invoke("frobnicate").exit_code == 2
    assert invoke("run", AUCTION, "--backend", "nope").exit_code == 2


def test_user_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mpc"
    bad.write_text("party p\ninput x: secret int from p\nfor i in 0..x { }\n")
    proc = subprocess.run([sys.executable, "-m", "veil.cli", "run", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "V0401" in proc.stderr and "bad.mpc:3:13" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    missing = subprocess.run([sys.executable, "-m", "veil.cli", "check",
                              str(tmp_path / "absent.mpc")], capture_output=True, text=True)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_bad_inputs_run_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "retailer.json").write_text('{"purchases": [[1, 2]]}')
    result = invoke("run", MATRIX, "--inputs", inputs, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "V0703" in result.output and "V0701" in result.output
    assert not (tmp_path / "out").exists()
