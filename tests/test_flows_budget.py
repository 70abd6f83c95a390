"""The provenance analysis is bounded: a value too large to analyse element by element
(an all-pairs matrix of two 100,000-row tables) is analysed coarsely, soundly and
quickly, and the flows say so."""

from __future__ import annotations

import json

from click.testing import CliRunner

from veil.analysis import flows, provenance
from veil.cli import main
from veil.compiler import compile_source

ALL_PAIRS = """
party eu_bank in EU
party cn_bank in CN
party regulator in SG
const N = {n}
input eu: secret int[N, 2] from eu_bank
input cn: secret int[N, 2] from cn_bank
let m = reshape(eu[.., 0], N, 1) == reshape(cn[.., 0], 1, N)
output twice = sum(m) to regulator
output first_row = sum(m[0, ..]) to regulator
"""


def test_an_all_pairs_program_at_100k_by_100k_is_reported_in_bounded_time(tmp_path) -> None:
    (tmp_path / "main.mpc").write_text(ALL_PAIRS.format(n=100_000))
    result = CliRunner().invoke(main, ["cost", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    by_output = {f["output"]: f for f in data["flows"]}
    for name in ("twice", "first_row"):
        flow = by_output[name]
        assert flow["approximate"] is True
        assert flow["min_records"] == 1  # the cautious answer, not a made-up aggregate
        assert {i["name"] for i in flow["inputs"]} == {"eu", "cn"}


def test_below_the_budget_the_same_program_is_exact(monkeypatch) -> None:
    circuit = compile_source(ALL_PAIRS.format(n=50)).circuit
    exact = {f.output: f for f in flows.run(circuit)}
    assert not exact["twice"].approximate and exact["twice"].min_records == 50
    assert exact["first_row"].min_records == 1  # row 0 of eu against every row of cn
    monkeypatch.setattr(provenance, "ELEMENT_BUDGET", 100)  # the matrix has 2,500
    coarse = {f.output: f for f in flows.run(circuit)}
    assert coarse["twice"].approximate and coarse["twice"].min_records == 1
    assert {s.name for s in coarse["first_row"].sources} == {"eu", "cn"}
