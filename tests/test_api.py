"""The Python API is the command line's code: same fingerprints, same report, same
outputs, same diagnostics; and it shows errors in IPython as diagnostics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import veil
from veil import api as veil_api
from veil.cli import main

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "programs" / "matrix_product"
AUCTION = ROOT / "programs" / "sealed_bid_auction"


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_compile_matches_the_command_line() -> None:
    prog = veil.compile(AUCTION, params={"reserve": np.float64(120.0)})
    data = cli_json("cost", str(AUCTION), "--param", "reserve=120.0")
    assert prog.fingerprint == data["fingerprint"]
    assert json.loads(json.dumps(prog.report)) == data
    assert str(prog.report).startswith(f"fingerprint  {prog.fingerprint}")
    html = prog.report._repr_html_()
    assert prog.fingerprint in html and "bid_alice" in html and "<table>" in html


def test_source_text_levels_and_backends() -> None:
    text = "party a\ninput x: secret int[3] from a\noutput y = sum(x * x) to a\n"
    plain = veil.compile(source=text, backend="plain", optimize=0)
    assert plain.backend == "plain"
    assert plain.run({"a": {"x": [1, 2, 3]}})["a"]["y"] == 14
    with pytest.raises(ValueError, match="unknown pass"):
        veil.compile(source=text, passes=["no-such-pass"])
    with pytest.raises(TypeError):
        veil.compile(MATRIX, source=text)


def test_plain_run_matches_the_command_line_and_returns_numpy() -> None:
    prog = veil.compile(MATRIX, backend="plain")
    data = cli_json("run", str(MATRIX), "--backend", "plain")
    inputs = {party: str(MATRIX / "inputs" / f"{party}.json") for party in ("retailer",
                                                                             "supplier")}
    out = prog.run(inputs)
    for party, outputs in data["outputs"].items():
        for name, value in outputs.items():
            assert np.asarray(out[party][name]).tolist() == value
    assert isinstance(out["supplier"]["best_region"], np.int64)
    assert out["retailer"]["by_segment"].dtype == np.float64
    assert out.backend == "plain" and out.fingerprint == data["fingerprint"]


def test_compile_errors_are_veil_errors_with_diagnostics() -> None:
    with pytest.raises(veil.VeilError) as info:
        veil.compile(source="party a\ninput x: secret int from b\n")
    (diag,) = info.value.diagnostics
    assert diag.code == "V0203" and diag.span.line == 2
    assert "main.mpc:2:" in str(info.value) and "^" in str(info.value)
    html = info.value._repr_html_()
    assert html.startswith("<pre>") and "color:#b00020" in html and "error[V0203]" in html


def test_every_input_problem_is_reported_together() -> None:
    prog = veil.compile(MATRIX, backend="plain")
    with pytest.raises(veil.VeilError) as info:
        prog.run({"retailer": {"purchases": np.ones((3, 4)), "extra": 1},
                  "auditor": {}, "supplier": {}})
    found = sorted((d.code, d.message.split(":")[0]) for d in info.value.diagnostics)
    assert found == [("V0701", "supplier"), ("V0702", "retailer"), ("V0706", "inputs")]
    with pytest.raises(veil.VeilError, match="V0701"):
        prog.run({"retailer": {"purchases": np.ones((3, 4))}})


def test_params_must_be_values() -> None:
    with pytest.raises(veil.VeilError) as info:
        veil.compile(AUCTION, params={"reserve": object()})
    assert info.value.diagnostics[0].code == "V0708"
    with pytest.raises(veil.VeilError) as info:
        veil.compile(AUCTION, params={"reserve": [1, 2]})
    assert info.value.diagnostics[0].code == "V0708"


def test_notebook_errors_register_with_the_shell() -> None:
    class Shell:
        handlers: tuple = ()

        def set_custom_exc(self, types, handler):
            self.handlers = (types, handler)

    shell = Shell()
    assert veil_api.notebook_errors(shell)
    types, handler = shell.handlers
    assert types == (veil.VeilError,) and handler is veil_api._show_error
    assert not veil_api.notebook_errors() or "IPython" in sys.modules


def test_ipython_shows_diagnostics_instead_of_a_traceback() -> None:
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    veil_api.notebook_errors(shell)
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        shell.run_cell("import veil\nveil.compile(source='party a\\noutput y = 1 to b\\n')")
    text = captured.stdout + captured.stderr + "".join(
        str(o.data.get("text/plain", "")) for o in captured.outputs)
    assert "error[V0203]" in text and "Traceback" not in text
