"""A deployment on this machine with the real commands: three long-running `veil server`
processes and one `veil party` process per bank, over TLS on loopback.

Each party gets exactly its own outputs; every refusal happens before any input share
is accepted (the servers' audit logs show no input event); stray, silent, resetting
and unauthenticated connections do not disturb a run."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from deploy_harness import CREDIT, PARTIES, SERVERS, Site, copy_approvals, finish

from veil.deploy import keys

EXPECTED = json.loads((CREDIT / "expected.json").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Three servers that stay up for every test of this module; they hold no approvals
    of their own: the parties carry them."""
    root = tmp_path_factory.mktemp("deployment")
    s = Site(root)
    s.all_approvals = s.approve_all(root / "approvals")
    empty = root / "server-approvals"
    empty.mkdir()
    for name in SERVERS:
        s.start_server(name, empty, "--timeout", "10", "--session-wait", "20")
    yield s
    s.stop()


def run_parties(site: Site, approvals: Path, *extra: str, timeout: str = "20",
                only: tuple[str, ...] = tuple(PARTIES), **per_party) -> dict[str, tuple]:
    procs = {p: site.start_party(p, approvals, "--timeout", timeout, *extra,
                                 **per_party.get(p, {})) for p in only}
    return {p: finish(proc) for p, proc in procs.items()}


def audit_events(site: Site, server: str) -> list[dict]:
    path = site.root / f"{server}.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_no_input_since(site: Site, marks: dict[str, int]) -> None:
    for server in SERVERS:
        events = audit_events(site, server)[marks[server]:]
        assert not [e for e in events if e["event"] in ("input", "session_start")], server


def marks(site: Site) -> dict[str, int]:
    return {s: len(audit_events(site, s)) for s in SERVERS}


def test_each_party_gets_only_its_own_outputs(site: Site) -> None:
    results = run_parties(site, site.all_approvals)
    for party, (code, _, err) in results.items():
        assert code == 0, (party, err)
    outs = {p: json.loads(out) for p, (_, out, _) in results.items()}
    assert set(outs["cn_bank"]["outputs"]) == {"cn_bank"}
    assert set(outs["cn_bank"]["outputs"]["cn_bank"]) == {"approved"}
    approved = outs["cn_bank"]["outputs"]["cn_bank"]["approved"]
    assert len(approved) == 1000 and sum(approved) == EXPECTED["approved_count"]
    for p in ("eu_bank", "regulator"):
        assert outs[p]["outputs"] == {p: {"approvals": EXPECTED["approved_count"]}}
    fingerprints = {o["fingerprint"] for o in outs.values()}
    assert len(fingerprints) == 1
    for server in SERVERS:
        events = [e["event"] for e in audit_events(site, server)]
        assert "session_start" in events and events[-1] == "done"


def test_a_missing_approval_is_refused_before_any_input(site: Site, tmp_path: Path) -> None:
    before = marks(site)
    approvals = copy_approvals(site.all_approvals, tmp_path / "a", skip=("regulator",))
    results = run_parties(site, approvals)
    for party, (code, out, err) in results.items():
        assert code == 1, party
        assert "no approval from regulator" in err and "V0801" in err, err
        assert out == ""
    assert_no_input_since(site, before)
    refused = [e for s in SERVERS for e in audit_events(site, s)[before[s]:]
               if e["event"] == "refused"]
    # each server decides alone (the same way); a party may leave on the first refusal
    # before a slower server got there, which then logs its parties leaving instead
    assert any("no approval from regulator" in e["reason"] for e in refused)


def test_an_approval_for_other_params_is_refused(site: Site, tmp_path: Path) -> None:
    before = marks(site)
    approvals = copy_approvals(site.all_approvals, tmp_path / "a", skip=("eu_bank",))
    other = site.approve_all(tmp_path / "other", params={"cutoff": "0.6"})
    shutil.copy(other / "eu_bank.json", approvals / "eu_bank.json")
    results = run_parties(site, approvals)
    for code, _, err in results.values():
        assert code == 1
        assert "eu_bank's approval is for program fingerprint" in err, err
    assert_no_input_since(site, before)


def test_a_forged_approval_is_refused(site: Site, tmp_path: Path) -> None:
    before = marks(site)
    approvals = copy_approvals(site.all_approvals, tmp_path / "a")
    data = json.loads((approvals / "s_sg.json").read_text())
    data["approval"]["params"] = {"cutoff": 0.1}
    (approvals / "s_sg.json").write_text(json.dumps(data))
    results = run_parties(site, approvals)
    for code, _, err in results.values():
        assert code == 1
        assert "s_sg's approval has a signature that does not verify" in err, err
    assert_no_input_since(site, before)


def test_a_certificate_not_in_the_deployment_is_refused(site: Site, tmp_path: Path) -> None:
    """An impostor with its own key and a deployment file of its own that pins it: the
    servers' TLS refuses its certificate; the real parties wait for cn_bank, then stop."""
    before = marks(site)
    keys.keygen("cn_bank", tmp_path / "keys")
    for name in (*SERVERS, "eu_bank", "regulator"):
        shutil.copy(site.root / "keys" / f"{name}.crt", tmp_path / "keys")
    shutil.copy(site.path, tmp_path / "deployment.toml")
    own = run_parties(site, site.all_approvals, timeout="6", only=("cn_bank",),
                      cn_bank={"key": tmp_path / "keys" / "cn_bank.key"})
    code, _, err = own["cn_bank"]
    assert code == 1 and "is not the key of cn_bank" in err  # caught before dialing
    impostor = site.start_party("cn_bank", site.all_approvals, "--timeout", "6",
                                key=tmp_path / "keys" / "cn_bank.key",
                                deployment=tmp_path / "deployment.toml")
    results = run_parties(site, site.all_approvals, timeout="4",
                          only=("eu_bank", "regulator"))
    code, _, err = finish(impostor)
    assert code == 1 and "did not accept this site's certificate" in err, err
    for p in ("eu_bank", "regulator"):
        code, _, err = results[p]
        assert code == 1 and "the servers are waiting for cn_bank" in err, err
    assert_no_input_since(site, before)


def test_an_unpinned_certificate_fails_the_tls_handshake(site: Site, tmp_path: Path) -> None:
    key_path, cert_path = keys.keygen("cn_bank", tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(cert_path), str(key_path))
    host, port = site.addresses["s_cn"]
    before = len(audit_events(site, "s_cn"))
    with socket.create_connection((host, port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as conn, pytest.raises((ssl.SSLError, ConnectionError)):
        conn.sendall(b"x" * 64)
        conn.recv(1)
        conn.recv(1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = audit_events(site, "s_cn")[before:]
        if any(e["event"] == "connection_refused" for e in new):
            break
        time.sleep(0.1)
    assert any("TLS handshake failed" in e.get("reason", "") for e in new)


def test_a_tampered_program_at_one_party_is_refused(site: Site, tmp_path: Path) -> None:
    before = marks(site)
    tampered = tmp_path / "tampered"
    shutil.copytree(CREDIT, tampered)
    main = tampered / "main.mpc"
    main.write_text(main.read_text().replace("output approved to cn_bank",
                                             "output approved to cn_bank, eu_bank"))
    results = run_parties(site, site.all_approvals, eu_bank={"program": tampered})
    for party, (code, _, err) in results.items():
        assert code == 1, party
        assert "not running the same program" in err or "eu_bank" in err, err
    assert_no_input_since(site, before)


def test_stray_connections_do_not_disturb_a_run(site: Site) -> None:
    stop = threading.Event()

    def pester(host: str, port: int) -> None:
        while not stop.is_set():
            for mode in ("garbage", "stall", "reset", "tls-garbage"):
                try:
                    s = socket.create_connection((host, port), timeout=2)
                    if mode == "garbage":
                        s.sendall(bytes(range(256)) * 8)
                    elif mode == "stall":
                        s.sendall(b"\x16\x03\x01")
                        time.sleep(0.3)
                    elif mode == "reset":
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    elif mode == "tls-garbage":
                        s.sendall(b"\x16\x03\x03\x00\x05hello" * 20)
                    s.close()
                except OSError:
                    pass
            time.sleep(0.02)

    threads = [threading.Thread(target=pester, args=addr, daemon=True)
               for addr in site.addresses.values()]
    for t in threads:
        t.start()
    try:
        results = run_parties(site, site.all_approvals)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for party, (code, _, err) in results.items():
        assert code == 0, (party, err)
    assert json.loads(results["regulator"][1])["outputs"]["regulator"]["approvals"] == \
        EXPECTED["approved_count"]
