"""The cross-border deployment on six hosts: one network namespace per site (servers in
CN, EU and SG; cn_bank, eu_bank and the regulator), joined by veth pairs to a bridge in
a seventh namespace, with the traffic captured on that bridge.

Runs when this process is root and `ip netns` works (as on CI); skipped otherwise, with
the reason. Each site runs the real `veil server` / `veil party` command inside its own
namespace: credit_scoring gives the same outputs as a local run, each party only its
own, and the wire between the namespaces carries TLS records only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_harness import CREDIT, PARTIES, SERVERS, Site, finish, write_deployment
from packet_capture import tcp_streams, tls_records

HERE = Path(__file__).resolve().parent
EXPECTED = json.loads((CREDIT / "expected.json").read_text())


def _why_not() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2) for network namespaces"
    probe = f"veilprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return f"`ip netns add` failed here: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


REASON = _why_not()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Hosts:
    """Namespaces `<prefix>h<i>` with address 10.77.<net>.<i+1>, bridged in `<prefix>sw`."""

    def __init__(self, names: list[str]) -> None:
        tag = os.getpid() % 10000
        self.prefix = f"vt{tag}"
        self.switch = f"{self.prefix}sw"
        self.net = 10 + tag % 200
        self.ns: dict[str, str] = {}
        self.ip: dict[str, str] = {}
        sh("ip", "netns", "add", self.switch)
        self.made = [self.switch]
        sh("ip", "netns", "exec", self.switch, "ip", "link", "add", "br0", "type", "bridge")
        sh("ip", "netns", "exec", self.switch, "ip", "link", "set", "br0", "up")
        for i, name in enumerate(names):
            ns = f"{self.prefix}h{i}"
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            a, b = f"{self.prefix}a{i}", f"{self.prefix}b{i}"
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", ns)
            sh("ip", "link", "set", b, "netns", self.switch)
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", b, "master", "br0")
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", b, "up")
            address = f"10.77.{self.net}.{i + 1}"
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", a)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", a, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            self.ns[name], self.ip[name] = ns, address

    def exec_prefix(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[name]]

    def close(self) -> None:
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def hosts():
    h = Hosts([*SERVERS, *PARTIES])
    yield h
    h.close()


def test_credit_scoring_across_six_hosts_with_tls_only_on_the_wire(hosts: Hosts,
                                                                   tmp_path: Path) -> None:
    addresses = {s: (hosts.ip[s], 7000) for s in SERVERS}
    site = Site(tmp_path, addresses=addresses)
    site.path = write_deployment(tmp_path, addresses)
    approvals = site.approve_all(tmp_path / "approvals")
    capture_file = tmp_path / "wire.cap"
    capture = subprocess.Popen(["ip", "netns", "exec", hosts.switch, sys.executable,
                                str(HERE / "packet_capture.py"), str(capture_file)],
                               stdout=subprocess.PIPE)
    try:
        assert capture.stdout is not None and capture.stdout.readline().strip() == b"ready"
        for s in SERVERS:
            site.start_server(s, approvals, "--once", "--timeout", "20",
                              prefix=hosts.exec_prefix(s))
        parties = {p: site.start_party(p, approvals, "--timeout", "30",
                                       prefix=hosts.exec_prefix(p)) for p in PARTIES}
        results = {p: finish(proc, 90) for p, proc in parties.items()}
        for proc in site.procs[:3]:
            assert proc.wait(30) == 0
        time.sleep(0.3)  # the last frames reach the capture
    finally:
        capture.terminate()
        capture.wait(10)
        site.stop()
    outs = {}
    for p, (code, out, err) in results.items():
        assert code == 0, (p, err)
        outs[p] = json.loads(out)["outputs"]
    approved = outs["cn_bank"]["cn_bank"]["approved"]
    assert set(outs["cn_bank"]) == {"cn_bank"} and set(outs["cn_bank"]["cn_bank"]) == \
        {"approved"}
    assert sum(approved) == EXPECTED["approved_count"]
    for p in ("eu_bank", "regulator"):
        assert outs[p] == {p: {"approvals": EXPECTED["approved_count"]}}

    streams = tcp_streams(capture_file)
    fingerprint = json.loads(results["cn_bank"][1])["fingerprint"]
    assert len(streams) >= 2 * (3 * 3 + 3)  # parties → servers, the server mesh: both ways
    ports = {sport for (_, sport, _, dport) in streams} | {d for (_, _, _, d) in streams}
    assert 7000 in ports
    secrets = [fingerprint.encode(), b"VEIL", *(n.encode() for n in (*PARTIES, *SERVERS)),
               b"approval", b"cutoff"]
    wire = b"".join(streams.values())
    assert len(wire) > 300_000  # cn_bank's input shares alone are 336 kB
    for marker in secrets:
        assert marker not in wire, marker
    for key, data in streams.items():
        records = tls_records(data)  # raises if any byte is not inside a TLS record
        assert records and records[0][0] == 22, key  # starts with a handshake
        assert {t for t, _ in records} <= {20, 21, 22, 23}
