"""Provenance and flows: which records of which inputs each output value combines, who
receives it, where. Slices, constant indices and public masks are followed exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import compile_text

from veil.analysis import flows, provenance
from veil.analysis.policy import review
from veil.analysis.rowsets import SMALL, SetTable
from veil.compiler import compile_path, compile_source
from veil.cost import report

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"

HEAD = """
party p in CN
party q in EU
input x: secret int[6, 2] from p
input w: secret int[2] from q
"""


def record_sets(body: str, output: str, name: str = "x", level: int = 2) -> list[list[int]]:
    compiled = compile_text(HEAD + body, level=level)
    prov = provenance.run(compiled.circuit)
    return [sorted(s.tolist()) for s in prov.record_sets(output, name)]


ALL = list(range(6))

EXACT = [
    ("output a = x[2] to q", "a", [[2], [2]]),
    ("output s = sum(x) to q", "s", [ALL]),
    ("output c = sum(x, 0) to q", "c", [ALL, ALL]),
    ("output c = sum(x, 1) to q", "c", [[i] for i in ALL]),
    ("output s = sum(x[1..4]) to q", "s", [[1, 2, 3]]),
    ("output s = sum(x[4..]) + x[0, 1] to q", "s", [[0, 4, 5]]),
    # public masks: a product with zero, a select and an `and` on public conditions
    ("let m = [1, 0, 1, 0, 0, 1]\noutput s = sum(x[.., 0] * m) to q", "s", [[0, 2, 5]]),
    ("let m = [1, 0, 1, 0, 0, 1]\noutput s = select(m > 0, x[.., 0], 0) to q", "s",
     [[0], [], [2], [], [], [5]]),
    ("let b = x[.., 0] > 0\noutput r = b and [true, false, true, false, true, false] to q",
     "r", [[0], [], [2], [], [4], []]),
    ("let b = x[.., 0] > 0\noutput r = b or [true, false, true, false, true, false] to q",
     "r", [[], [1], [], [3], [], [5]]),
    # the zeros a public mask leaves in a secret value mask what it multiplies next
    ("let m = [1, 0, 1, 0, 0, 1]\noutput s = sum((x[.., 0] * m) * x[.., 1]) to q", "s",
     [[0, 2, 5]]),
    ("output s = (x[.., 0] * [0, 0, 0, 0, 0, 0]) * x[.., 1] to q", "s", [[]] * 6),
    # a public matrix picks rows: its zeros are followed
    ("let P = [[0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]]\noutput y = P @ x[.., 0] to q", "y",
     [[1], [5]]),
    ("let P = [[1, 0], [0, 0]]\noutput y = x @ P to q", "y",
     [[i] if j == 0 else [] for i in ALL for j in (0, 1)]),
    # element assignment, array literals, reshape, transpose, loops
    ("var v: secret int[6] = x[.., 0]\nv[3] = 0\noutput s = sum(v) to q", "s",
     [[0, 1, 2, 4, 5]]),
    ("output s = [x[0, 0], x[5, 1]] to q", "s", [[0], [5]]),
    ("output s = reshape(x, 12) to q", "s", [[i // 2] for i in range(12)]),
    ("output s = transpose(x) to q", "s", [[i] for i in ALL] * 2),
    ("var acc: secret int = 0\nfor i in 0..3 { acc = acc + x[2 * i, 0] }\noutput acc to q",
     "acc", [[0, 2, 4]]),
    ("output y = x[1..6, 0] - x[0..5, 0] to q", "y", [[i, i + 1] for i in range(5)]),
    ("output y = x @ w to q", "y", [[i] for i in ALL]),
    ("output y = x - sum(x, 0) to q", "y", [ALL] * 12),
    ("output y = x[0, 0] * 0 + x[1, 1] to q", "y", [[1]]),
]


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize(("body", "output", "expected"), EXACT,
                         ids=[b.replace("\n", "; ") for b, _, _ in EXACT])
def test_record_sets_are_exact(body: str, output: str, expected: list[list[int]],
                               level: int) -> None:  # fmt: skip
    assert record_sets(body, output, level=level) == expected


def test_other_inputs_are_tracked_by_element_too() -> None:
    assert record_sets("output y = x @ w to q", "y", "w") == [[0, 1]] * 6
    assert record_sets("output y = x[0, 0] * w[1] to p", "y", "w") == [[1]]
    assert record_sets("output y = [w[0], 1] to p", "y", "w") == [[0], []]


def test_an_unknown_op_mixes_everything_soundly() -> None:
    compiled = compile_text(HEAD + "output y = x[.., 0] + 1 to q")
    circuit = compiled.circuit
    node = circuit.node(circuit.outputs[0].node)
    from dataclasses import replace

    # Pretend a future op the analysis has no rule for: every element joins every row.
    odd = replace(node, op="future_op")
    changed = circuit.with_nodes([odd if n.id == node.id else n for n in circuit.nodes])
    prov = provenance.run(changed)
    assert [s.tolist() for s in prov.record_sets("y", "x")] == [ALL] * 6


# ---------------------------------------------------------------- set table


def test_set_table_interns_and_joins() -> None:
    table = SetTable(100)
    a = table.of_units([1, 2])
    assert table.of_units([1, 2]) == a and a <= -2
    assert table.of_units([7]) == 7 and table.of_units([]) == -1
    big = table.of_units(list(range(40)))
    assert table.size(big) == 40 and table.union(big, 3) == big
    assert table.union(a, big) == big
    joined = table.union(big, 60)
    assert table.members(joined).tolist() == [*range(40), 60]
    ids = np.array([[3, 4, -1], [big, 5, 39], [-1, -1, -1]])
    rows = table.union_last_axis(ids)
    assert [table.members(int(r)).tolist() for r in rows] == [[3, 4], list(range(40)), []]
    assert table.members(table.union_all(np.arange(SMALL + 5))).tolist() == \
        list(range(SMALL + 5))
    pairs = table.union_arrays(np.array([0, 1, big, -1]), np.array([1, 1, 50, 9]))
    assert [table.members(int(p)).tolist() for p in pairs] == \
        [[0, 1], [1], [*range(40), 50], [9]]


# ---------------------------------------------------------------- flows and credit scoring


def credit_flows() -> dict[tuple[str, str], flows.Flow]:
    compiled = compile_path(CREDIT)
    return {(f.output, f.receiver): f for f in flows.run(compiled.circuit)}


def test_credit_scoring_flows() -> None:
    found = credit_flows()
    approved = found["approved", "cn_bank"]
    assert approved.crosses_border is False and approved.min_records == 1
    assert approved.receiver_jurisdiction == "CN"
    assert {(s.name, s.owner, s.jurisdiction) for s in approved.sources} == {
        ("applicants", "cn_bank", "CN"), ("weights", "eu_bank", "EU"), ("bias", "eu_bank", "EU")}
    for receiver in ("regulator", "eu_bank"):
        approvals = found["approvals", receiver]
        assert approvals.crosses_border is True and approvals.min_records == 1000
        assert approvals.receiver_jurisdiction == "EU"
    assert "records stay in CN" in approved.describe()
    assert "from cn_bank.applicants (CN → EU), each value combines ≥ 1,000 records" in \
        found["approvals", "regulator"].describe()


def test_credit_scoring_model_extraction_warning() -> None:
    result = review(compile_path(CREDIT))
    assert [d.code for d in result.warnings] == ["W1202"]
    (warning,) = result.warnings
    assert "cn_bank" in warning.message and "weights" in warning.message
    assert warning.span is not None and warning.span.line == 26  # `output approved`


def test_credit_scoring_at_100000_applicants_is_exact() -> None:
    text = (CREDIT / "main.mpc").read_text().replace("const N = 1000", "const N = 100000")
    compiled = compile_source(text, "main.mpc", CREDIT)
    found = {(f.output, f.receiver): f.min_records for f in flows.run(compiled.circuit)}
    assert found == {("approved", "cn_bank"): 1, ("approvals", "regulator"): 100000,
                     ("approvals", "eu_bank"): 100000}


def test_crossing_needs_every_jurisdiction() -> None:
    src = """
party a in CN, b in CN
party c
input x: secret int[4, 2] from a
input v: secret int[2] from b
output s = sum(x) to b, c
output t = v * 2 to a
output u = v * 2 to c
"""
    found = {(f.output, f.receiver): f for f in flows.run(compile_text(src).circuit)}
    assert found["s", "b"].crosses_border is False
    assert found["s", "c"].crosses_border is None
    assert found["t", "a"].crosses_border is False and found["t", "a"].min_records is None
    assert "border unknown" in found["u", "c"].describe()
    no_input = flows.run(compile_text("party a in CN\noutput k = 3 to a\n").circuit)
    assert no_input[0].sources == () and no_input[0].crosses_border is False


def test_record_level_by_default_for_tables_and_by_policy_marks() -> None:
    src = "party a\ninput t: secret int[4, 2] from a\ninput v: secret int[4] from a\n" \
          "output s = sum(t) + sum(v) to a\n"
    circuit = compile_text(src).circuit
    assert flows.record_inputs(circuit) == {"t": True, "v": False}
    assert flows.record_inputs(circuit, {"t": False, "v": True}) == {"t": False, "v": True}
    (flow,) = flows.run(circuit, {"v": True})
    assert {s.name: s.min_records for s in flow.sources} == {"t": 4, "v": 4}


# ---------------------------------------------------------------- report and CLI


def test_report_has_flows_in_json_and_text() -> None:
    compiled = compile_path(CREDIT)
    result = review(compiled)
    data = report.build(compiled.circuit, disclosure=result.as_report())
    json.dumps(data)
    assert [(f["output"], f["receiver"], f["receiver_jurisdiction"], f["crosses_border"],
             f["min_records"]) for f in data["flows"]] == [
        ("approved", "cn_bank", "CN", False, 1), ("approvals", "regulator", "EU", True, 1000),
        ("approvals", "eu_bank", "EU", True, 1000)]
    assert {"name": "applicants", "owner": "cn_bank", "jurisdiction": "CN"}.items() <= \
        data["flows"][0]["inputs"][2].items()
    text = report.render(data)
    assert "flows (what reaches whom, derived from whose data)" in text
    assert "  approvals (1 value) → regulator (EU): from cn_bank.applicants (CN → EU), each " \
           "value combines ≥ 1,000 records; from eu_bank.weights (EU), eu_bank.bias (EU) — " \
           "records cross a border" in text


def veil(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_cost_json_flows_and_check_warnings() -> None:
    proc = veil("cost", str(CREDIT), "--json", "--backend", "plain")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["flows"][0]["min_records"] == 1 and data["policies"] == []
    assert any("W1202" in w for w in data["warnings"])
    check = veil("check", str(CREDIT))
    assert check.returncode == 0 and "warning[W1202]" in check.stderr
