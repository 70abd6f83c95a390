"""Keys, the deployment file and approvals: what is written, what is refused, and that
signatures bind exactly the terms they name."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from deploy_harness import PARTIES, SERVERS, Site, write_deployment

from veil.deploy import approvals, deployment, keys
from veil.diagnostics import VeilError


def test_keygen_writes_a_private_key_and_a_certificate(tmp_path: Path) -> None:
    key_path, cert_path = keys.keygen("cn_bank", tmp_path / "k")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = keys.load_certificate(cert_path)
    assert keys.common_name(cert) == "cn_bank"
    assert keys.matches(keys.load_private_key(key_path), cert)
    with pytest.raises(VeilError, match="exists; not overwriting"):
        keys.keygen("cn_bank", tmp_path / "k")
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY")


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_path, _ = keys.keygen("a", tmp_path)
    key_path.chmod(0o644)
    with pytest.raises(VeilError, match="chmod 600"):
        keys.load_private_key(key_path)


def test_bad_names_are_refused(tmp_path: Path) -> None:
    for name in ("../x", "a b", "", "-a"):
        with pytest.raises(VeilError, match="not a valid site name"):
            keys.keygen(name, tmp_path)


def test_deployment_loads_and_its_digest_ignores_layout(tmp_path: Path) -> None:
    site = Site(tmp_path)
    dep = deployment.load(site.path)
    assert [s.name for s in dep.servers] == list(SERVERS)
    assert set(dep.parties) == set(PARTIES)
    text = site.path.read_text()
    site.path.write_text("# a comment\n\n" + text.replace(" = ", "=") + "\n")
    assert deployment.load(site.path).digest == dep.digest
    assert len(dep.reconstructing_pairs()) == 3


def test_digest_changes_with_a_certificate_or_an_address(tmp_path: Path) -> None:
    site = Site(tmp_path)
    before = deployment.load(site.path).digest
    (tmp_path / "keys" / "regulator.crt").unlink()
    (tmp_path / "keys" / "regulator.key").unlink()
    keys.keygen("regulator", tmp_path / "keys")
    assert deployment.load(site.path).digest != before
    moved = dict(site.addresses, s_cn=("127.0.0.9", 7000))
    write_deployment(tmp_path, moved)
    assert deployment.load(site.path).digest != before


def test_two_servers_in_one_jurisdiction_are_refused(tmp_path: Path) -> None:
    site = Site(tmp_path)
    write_deployment(tmp_path, site.addresses, servers={"s_cn": "CN", "s_eu": "CN",
                                                        "s_sg": "SG"})
    with pytest.raises(VeilError) as info:
        deployment.load(site.path)
    text = info.value.render()
    assert "s_cn and s_eu are both in jurisdiction CN" in text
    assert "could reconstruct" in text and "--allow-same-jurisdiction" in text
    assert deployment.load(site.path, allow_same_jurisdiction=True).servers[1].jurisdiction == "CN"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('port = ', 'prot = ', 1), "unknown key `prot`"),
    (lambda t: t.replace('keys/s_eu.crt', 'keys/nope.crt'), "cannot read certificate"),
    (lambda t: t.split("[servers.s_sg]")[0] + "[parties.cn_bank]" +
     t.split("[parties.cn_bank]")[1], "exactly three"),
    (lambda t: t + '\n[links]\n"s_cn-nowhere" = { rtt_ms = 1, mbit = 1 }\n', "SITE-SITE"),
    (lambda t: t + '\n[links]\n"s_cn-s_eu" = { rtt_ms = -1, mbit = 1 }\n', "rtt_ms"),
    (lambda t: t.replace("[servers.s_cn]", "[servers.s_cn"), "not valid TOML"),
])
def test_bad_deployment_files_name_the_problem(tmp_path: Path, edit, message: str) -> None:
    site = Site(tmp_path)
    site.path.write_text(edit(site.path.read_text()))
    with pytest.raises(VeilError, match=message):
        deployment.load(site.path)


def test_approvals_bind_fingerprint_params_deployment_and_signer(tmp_path: Path) -> None:
    site = Site(tmp_path)
    dep = deployment.load(site.path)
    key = keys.load_private_key(site.key("cn_bank"))
    a = approvals.create(key, "cn_bank", dep, "ab" * 32, {"cutoff": 0.5})
    assert approvals.signature_valid(a, dep) is None
    again = approvals.Approval.from_dict(json.loads(a.to_json()))
    assert approvals.signature_valid(again, dep) is None
    forged = approvals.Approval(**{**again.__dict__, "params": {"cutoff": 0.9}})
    assert "does not verify" in approvals.signature_valid(forged, dep)
    with pytest.raises(VeilError, match="not cn_bank's"):
        approvals.create(keys.load_private_key(site.key("eu_bank")), "cn_bank", dep, "ab" * 32,
                         {})
    parties = tuple(PARTIES)
    valid, problems = approvals.check_complete([a], dep, parties, "ab" * 32, {"cutoff": 0.5})
    assert set(valid) == {"cn_bank"}
    assert "no approval from eu_bank" in problems and "no approval from s_sg" in problems
    _, problems = approvals.check_complete([a], dep, parties, "cd" * 32, {"cutoff": 0.5})
    assert problems[0].startswith("cn_bank's approval is for program fingerprint abababab")
    _, problems = approvals.check_complete([a], dep, parties, "ab" * 32, {"cutoff": 0.6})
    assert problems[0] == 'cn_bank\'s approval is for params {cutoff=0.5}, not {cutoff=0.6}'
    _, problems = approvals.check_complete([forged], dep, parties, "ab" * 32, {"cutoff": 0.9})
    assert "signature that does not verify" in problems[0]


def test_approvals_directory_with_a_stray_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(VeilError, match="not an approval"):
        approvals.load_dir(tmp_path)
    with pytest.raises(VeilError, match="does not exist"):
        approvals.load_dir(tmp_path / "missing")


def test_approve_shows_the_flows_and_refuses_a_program_that_breaks_a_policy(tmp_path: Path
                                                                           ) -> None:
    import shutil

    from click.testing import CliRunner
    from deploy_harness import CREDIT

    from veil.cli import main

    site = Site(tmp_path)
    policy = CREDIT / "cn_bank_policy.toml"
    ok = CliRunner().invoke(main, ["approve", str(CREDIT), "--deployment", str(site.path),
                                   "--key", str(site.key("cn_bank")), "--policy", str(policy),
                                   "-o", str(tmp_path / "ok.json")])
    assert ok.exit_code == 0, ok.output
    assert "flows (what reaches whom" in ok.output and "no violation" in ok.output
    assert "W1202" in ok.output  # the model-extraction warning is shown, not fatal
    leaky = tmp_path / "leaky"
    shutil.copytree(CREDIT, leaky)
    main_mpc = leaky / "main.mpc"
    main_mpc.write_text(main_mpc.read_text().replace("output approved to cn_bank",
                                                     "output approved to cn_bank, eu_bank"))
    bad = CliRunner().invoke(main, ["approve", str(leaky), "--deployment", str(site.path),
                                    "--key", str(site.key("cn_bank")), "--policy", str(policy),
                                    "-o", str(tmp_path / "bad.json")])
    assert bad.exit_code == 1
    assert "V1203" in bad.output and "eu_bank" in bad.output and "no approval was written" in \
        bad.output
    assert not (tmp_path / "bad.json").exists()
