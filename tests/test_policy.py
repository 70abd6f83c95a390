"""Data owners' policies (TOML) and the leakage warnings: what `veil cost --policy` and
`veil approve --policy` check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import compile_text

from veil.analysis import policy
from veil.analysis.policy import check, load, parse, review
from veil.compiler import Compiled, compile_path, compile_source
from veil.diagnostics import VeilError

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"
POLICY = CREDIT / "cn_bank_policy.toml"
SOURCE = (CREDIT / "main.mpc").read_text(encoding="utf-8")


def credit(text: str = SOURCE) -> Compiled:
    return compile_source(text, "main.mpc", CREDIT)


def codes(diags) -> list[str]:
    return [d.code for d in diags]


# ---------------------------------------------------------------- the cases


def test_credit_scoring_passes_its_policy() -> None:
    result = review(credit(), [load(POLICY)])
    assert result.ok and result.violations == []
    assert codes(result.warnings) == ["W1202"]


def test_record_level_output_to_eu_bank_fails() -> None:
    text = SOURCE.replace("output approved to cn_bank", "output approved to cn_bank, eu_bank")
    errors = [d for d in check(credit(text), [load(POLICY)]) if d.severity == "error"]
    assert codes(errors) == ["V1203"]
    (error,) = errors
    assert "`approved`" in error.message and "eu_bank" in error.message
    assert error.span is not None and error.span.line == 26
    assert error.help is not None
    assert "input applicants (main.mpc:16) → @, +, comparison (main.mpc:25) → output " \
           "approved" in error.help


def test_ten_decisions_to_the_regulator_fail() -> None:
    text = SOURCE + "output top = approved[0..10] to regulator\n"
    result = review(credit(text), [load(POLICY)])
    assert codes(result.violations) == ["V1203"]
    (error,) = result.violations
    assert "`top`" in error.message and "regulator (EU)" in error.message
    assert "1 record" in error.message and "50 records" in error.message
    assert "index (main.mpc:28)" in (error.help or "")
    rendered = error.render(credit(text).sources)
    assert "output top = approved[0..10] to regulator" in rendered


def test_two_sums_one_row_apart_warn_differencing() -> None:
    text = SOURCE + "output rest = sum(approved[1..N]) to regulator\n"
    result = review(credit(text), [load(POLICY)])
    assert result.ok
    differencing = [d for d in result.warnings if d.code == "W1201"]
    assert len(differencing) == 1
    message = differencing[0].message
    assert "`approvals` and `rest`" in message and "differ in only 1 record" in message
    assert "1,000 records and 999 records" in message
    assert "50" in (differencing[0].help or "")  # the policy's min_aggregate


def test_differencing_default_threshold_and_far_apart_sets() -> None:
    head = "party p\nparty q\ninput x: secret int[40, 2] from p\n"
    near = review(compile_text(head + "output a = sum(x) to q\n"
                               "output b = sum(x[0..31]) to q\n"))
    assert codes(near.warnings) == ["W1201"]  # 9 rows apart: fewer than 10
    far = review(compile_text(head + "output a = sum(x) to q\noutput b = sum(x[0..30]) to q\n"))
    assert codes(far.warnings) == []
    other = review(compile_text(head + "party r\noutput a = sum(x) to q\n"
                                "output b = sum(x[1..]) to r\n"))
    assert codes(other.warnings) == []  # different receivers


def test_differencing_within_one_output_names_elements() -> None:
    src = """
party p
party q
input x: secret int[40, 2] from p
var windows: secret int[3] = [0, 0, 0]
for i in 0..3 {
    windows[i] = sum(x[i..i + 20])
}
output windows to q
"""
    (warning,) = review(compile_text(src)).warnings
    assert warning.code == "W1201"
    assert "`windows[0]` and `windows[1]`" in warning.message
    assert "differ in only 2 records" in warning.message


def test_echo_warning() -> None:
    src = """
party p
party q
input a: secret int[3] from p
input b: secret int from q
output mine = a * 2 to p
output both = sum(a) + b to p, q
output nothing = 1 + 2 to q
"""
    warnings = review(compile_text(src)).warnings
    echoes = [(d.code, d.message.split(" depends")[0]) for d in warnings if d.code == "W1203"]
    assert echoes == [("W1203", "`mine` to p"), ("W1203", "`nothing` to q")]


def test_model_extraction_needs_enough_values_and_own_inputs() -> None:
    head = "party bank\nparty owner\ninput w: secret int[4] from owner\n"
    few = head + "input x: secret int[3, 4] from bank\noutput y = x @ w to bank\n"
    many = head + "input x: secret int[4, 4] from bank\noutput y = x @ w to bank\n"
    assert codes(review(compile_text(few)).warnings) == []
    assert codes(review(compile_text(many)).warnings) == ["W1202"]
    third = head + "party other\ninput x: secret int[4, 4] from bank\n" \
        "input z: secret int from other\noutput y = x @ w + z to bank\n"
    assert codes(review(compile_text(third)).warnings) == []  # a third party's data too


# ---------------------------------------------------------------- rules


SMALL = """
party a in CN, b in EU, c
input t: secret int[100, 2] from a
input m: secret int[2] from b
output rows = t[0..2] to b
output total = sum(t) to b, c
output model = m * 2 to a
"""


def rules(text: str) -> list[str]:
    return codes(review(compile_text(SMALL), [parse(text, "p.toml")]).violations)


def test_rules() -> None:
    assert rules('[inputs.t]\nstay_in = ["CN"]\n') == ["V1203"]  # rows to b (EU)
    assert rules('[inputs.t]\nstay_in = ["CN", "EU"]\n') == []
    # c has no jurisdiction: only aggregates may reach it; total has 100 records
    assert rules('[inputs.t]\nstay_in = ["CN", "EU"]\nmin_aggregate = 100\n') == []
    assert rules('[inputs.t]\nstay_in = ["CN", "EU"]\nmin_aggregate = 101\n') == ["V1203"]
    # min_aggregate alone: only the owner may receive smaller aggregates
    assert rules("[inputs.t]\nmin_aggregate = 5\n") == ["V1203"]
    assert rules('[inputs.t]\nreceivers = ["b"]\n') == ["V1204"]  # c is not listed
    assert rules('[inputs.t]\nreceivers = ["b", "c"]\n') == []
    # a model (not record-level): stay_in restricts every result derived from it
    assert rules('[inputs.m]\nstay_in = ["EU"]\n') == ["V1203"]
    assert rules('[inputs.m]\nreceivers = ["b"]\n') == ["V1204"]  # a receives model
    assert rules('[inputs.m]\nreceivers = ["a"]\n') == []
    assert rules('[inputs.t]\nrecords = "none"\nstay_in = ["CN", "EU"]\n') == ["V1203"]


def test_undeclared_receiver_jurisdiction_is_named() -> None:
    result = review(compile_text(SMALL), [parse('[inputs.t]\nstay_in = ["CN", "EU"]\n'
                                                'min_aggregate = 101\n', "p.toml")])
    (error,) = result.violations
    assert "c (jurisdiction not declared)" in error.message
    assert "party c in" in (error.help or "")


def test_policy_must_fit_the_program() -> None:
    def fit(text: str) -> list[str]:
        return [d.message for d in review(compile_text(SMALL), [parse(text, "p.toml")])
                .violations if d.code == "V1202"]

    assert "no input `tt`" in fit('[inputs.tt]\nstay_in = ["CN"]\n')[0]
    assert "is a's, not b's" in fit('owner = "b"\n[inputs.t]\nstay_in = ["CN"]\n')[0]
    assert "`z` is not a party" in fit('[inputs.t]\nreceivers = ["z"]\n')[0]
    assert "not record-level" in fit("[inputs.m]\nmin_aggregate = 5\n")[0]
    assert "owner `zz`" in fit('owner = "zz"\n[inputs.t]\nstay_in = ["CN"]\n')[0]
    both = review(compile_text(SMALL), [parse('[inputs.t]\nrecords = "rows"\n', "a.toml"),
                                        parse('[inputs.t]\nrecords = "none"\n', "b.toml")])
    assert "contradicts" in both.violations[0].message


@pytest.mark.parametrize(("text", "fragment"), [
    ("[inputs.t\n", "not valid TOML"),
    ("x = 1\n[inputs.t]\n", "x: unknown key"),
    ("", "at least one `[inputs.NAME]`"),
    ("[inputs.t]\nrecord = \"rows\"\n", "record: unknown rule"),
    ("[inputs.t]\nrecords = \"yes\"\n", "records: expected \"rows\" or \"none\""),
    ("[inputs.t]\nmin_aggregate = 0\n", "min_aggregate: expected a positive integer"),
    ("[inputs.t]\nmin_aggregate = true\n", "min_aggregate: expected a positive integer"),
    ("[inputs.t]\nstay_in = \"CN\"\n", "stay_in: expected a list of jurisdictions"),
    ("[inputs.t]\nreceivers = [1]\n", "receivers: expected a list of party names"),
    ("owner = 3\n[inputs.t]\n", "owner: expected a party name"),
    ("[inputs]\nt = 1\n", "[inputs.t]: expected a table of rules"),
])
def test_malformed_policies_name_file_and_field(text: str, fragment: str) -> None:
    with pytest.raises(VeilError) as info:
        parse(text, "bad.toml")
    (diag,) = info.value.diagnostics
    assert diag.code == "V1201" and "policy bad.toml" in diag.message
    assert fragment in diag.message


def test_invalid_toml_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[inputs.t]\nstay_in = [CN]\n")
    with pytest.raises(VeilError) as info:
        load(path)
    span = info.value.diagnostics[0].span
    assert span is not None and span.line == 2
    with pytest.raises(VeilError) as missing:
        load(tmp_path / "absent.toml")
    assert "cannot read" in missing.value.diagnostics[0].message


def test_render_summary_for_approve() -> None:
    text = SOURCE.replace("output approved to cn_bank", "output approved to cn_bank, eu_bank")
    compiled = credit(text)
    result = review(compiled, [load(POLICY)])
    summary = policy.render_summary(result, compiled.sources,
                                    servers={"s_cn": "CN", "s_eu": "EU", "s_sg": "SG"})
    assert summary.splitlines()[0] == "flows (what reaches whom, derived from whose data)"
    assert "policies (" in summary and "1 violation" in summary
    assert "error[V1203]" in summary and "warning[W1202]" in summary
    assert "s_cn (CN), s_eu (EU), s_sg (SG)" in summary


# ---------------------------------------------------------------- the command line


def veil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_cli_cost_with_policy(tmp_path: Path) -> None:
    ok = veil("cost", str(CREDIT), "--policy", str(POLICY))
    assert ok.returncode == 0, ok.stderr
    assert "no violation" in ok.stdout and "warning[W1202]" in ok.stderr

    bad = tmp_path / "prog"
    bad.mkdir()
    (bad / "main.mpc").write_text(SOURCE.replace("output approved to cn_bank",
                                                 "output approved to cn_bank, eu_bank"))
    (bad / "inputs").mkdir()
    proc = veil("cost", str(bad), "--policy", str(POLICY), "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["policies"] == [str(POLICY)] and len(data["violations"]) == 1
    assert "error[V1203]" in proc.stderr and "main.mpc:26:1" in proc.stderr
    assert "Traceback" not in proc.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text("[inputs.applicants]\nmin_aggregate = -1\n")
    proc = veil("cost", str(CREDIT), "--policy", str(POLICY), "--policy", str(broken))
    assert proc.returncode == 1 and "error[V1201]" in proc.stderr and proc.stdout == ""


def test_two_policies_both_apply() -> None:
    eu = parse('[inputs.weights]\nstay_in = ["EU"]\n', "eu.toml")
    result = review(compile_path(CREDIT), [load(POLICY), eu])
    assert codes(result.violations) == ["V1203"]
    assert "`approved` reaches cn_bank (CN)" in result.violations[0].message


def test_deployment_jurisdictions_fill_in_and_must_agree() -> None:
    src = "party a in CN, b\ninput t: secret int[20, 2] from a\noutput s = t[0] to b\n"
    compiled = compile_text(src)
    filled = review(compiled, jurisdictions={"a": "CN", "b": "EU"})
    assert filled.ok
    assert (filled.flows[0].receiver_jurisdiction, filled.flows[0].crosses_border) == \
        ("EU", True)
    clash = review(compiled, jurisdictions={"a": "EU", "b": "EU"})
    assert codes(clash.violations) == ["V1205"]
    assert "`party a in CN`" in clash.violations[0].message
    assert "deployment puts a in EU" in clash.violations[0].message


def test_cli_cost_with_a_deployment_fills_and_checks_jurisdictions(tmp_path: Path) -> None:
    from deploy_harness import Site

    site = Site(tmp_path / "site")  # parties: cn_bank CN, eu_bank EU, regulator EU
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "main.mpc").write_text(SOURCE.replace(" in EU", "").replace(" in CN", ""))
    proc = veil("cost", str(bare), "--deployment", str(site.path), "--json")
    assert proc.returncode == 0, proc.stderr
    flows = {(f["output"], f["receiver"]): f for f in json.loads(proc.stdout)["flows"]}
    assert flows["approvals", "regulator"]["receiver_jurisdiction"] == "EU"
    assert flows["approvals", "regulator"]["crosses_border"] is True

    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "main.mpc").write_text(SOURCE.replace("party cn_bank in CN", "party cn_bank in SG"))
    proc = veil("cost", str(moved), "--deployment", str(site.path))
    assert proc.returncode == 1 and "error[V1205]" in proc.stderr
    assert "`party cn_bank in SG` but the deployment puts cn_bank in CN" in proc.stderr
