"""A deployment over emulated wide-area links (a user-space delay relay in front of each
server): a server killed mid-run stops every other process cleanly, and the cost
report's time estimate matches what a run measures."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from deploy_harness import PARTIES, SERVERS, VEIL, Site, finish, free_port, write_deployment
from netsim import DelayRelay


def wan_site(root: Path, one_way_s: float) -> tuple[Site, list[DelayRelay], dict[str, str]]:
    """A site whose published server addresses are relays holding each byte one_way_s."""
    site = Site(root)
    real = {s: ("127.0.0.1", free_port()) for s in SERVERS}
    relays = [DelayRelay(real[s], one_way_s) for s in SERVERS]
    published = {s: ("127.0.0.1", r.port) for s, r in zip(SERVERS, relays, strict=True)}
    rtt = 2000 * one_way_s
    names = [*SERVERS, *PARTIES]
    links = {f"{a}-{b}": (rtt, 10000) for i, a in enumerate(names) for b in names[i + 1:]
             if a in SERVERS or b in SERVERS}
    site.addresses = published
    site.path = write_deployment(root, published, links=links)
    listen = {s: f"{h}:{p}" for s, (h, p) in real.items()}
    return site, relays, listen


def wait_for(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.01)
    return False


def test_a_server_killed_mid_run_stops_everyone(tmp_path: Path) -> None:
    site, relays, listen = wan_site(tmp_path, 0.1)
    try:
        approvals = site.approve_all(tmp_path / "approvals")
        servers = {s: site.start_server(s, approvals, "--once", "--timeout", "5",
                                        listen=listen[s]) for s in SERVERS}
        parties = {p: site.start_party(p, approvals, "--timeout", "5") for p in PARTIES}
        assert wait_for(tmp_path / "s_eu.err", "started", 30)
        started = time.monotonic()
        servers["s_eu"].kill()
        results = {p: finish(proc, 30) for p, proc in parties.items()}
        for s in ("s_cn", "s_sg"):
            assert servers[s].wait(30) == 1
        elapsed = time.monotonic() - started
    finally:
        site.stop()
        for r in relays:
            r.close()
    assert elapsed < 5 + 3  # within --timeout (a closed connection is noticed at once)
    for p, (code, out, err) in results.items():
        assert code == 1, p
        assert out == ""  # no output, not even a partial one
        assert "V0801" in err and "no output was revealed" in err
        assert "s_eu" in err, err
    for s in ("s_cn", "s_sg"):
        events = [json.loads(x)["event"] for x in (tmp_path / f"{s}.log").read_text().splitlines()]
        assert events[-1] == "abort" and "output" not in events


def measure(tmp_path: Path, one_way_s: float) -> tuple[dict, dict]:
    """One run of credit_scoring over links of 2 × one_way_s RTT: the cost report's
    estimate and what the parties and servers measured."""
    site, relays, listen = wan_site(tmp_path, one_way_s)
    try:
        approvals = site.approve_all(tmp_path / "approvals")
        cost = subprocess.run([*VEIL, "cost", str(site.program), "--json", "--deployment",
                               str(site.path)], capture_output=True, check=True)
        estimate = json.loads(cost.stdout)["deployment"]["estimate"]
        for s in SERVERS:
            site.start_server(s, approvals, "--once", listen=listen[s])
        time.sleep(1.0)  # servers up and their mesh made, as in a long-running deployment
        parties = {p: site.start_party(p, approvals, "--timeout", "30") for p in PARTIES}
        results = {p: finish(proc, 60) for p, proc in parties.items()}
    finally:
        site.stop()
        for r in relays:
            r.close()
    stats = {}
    for p, (code, out, err) in results.items():
        assert code == 0, err
        stats[p] = json.loads(out)["stats"]
    return estimate, stats


@pytest.mark.slow
def test_the_time_estimate_matches_a_wan_run(tmp_path: Path) -> None:
    """100 ms RTT on every link: the measured compute phase (the servers' own clocks) and
    the whole run are each within 1.3× of the report's estimate. The whole run is timed by
    the party that dialed last (from its first dial to its outputs): the others' clocks
    also count the seconds their peers took to start up and compile."""
    estimate, stats = measure(tmp_path, 0.05)
    compute = max(s["compute"] for s in stats["cn_bank"]["server_seconds"])
    whole = min(s["seconds"]["total"] for s in stats.values())
    assert 1 / 1.3 <= compute / estimate["compute"] <= 1.3, (compute, estimate)
    assert 1 / 1.3 <= whole / estimate["total"] <= 1.3, (whole, estimate)
