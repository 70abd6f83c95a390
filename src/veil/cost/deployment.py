"""The deployment section of the cost report (`veil cost --deployment FILE`).

Which servers run where, which pairs of servers together hold every share (in rep3
every pair of the three: that is why each must be in a different jurisdiction), what
each link carries, and the time estimate from the deployment's measured `[links]`.
"""

from __future__ import annotations

import zlib
from typing import Any

from veil.cost.timing import LinkSpeed, estimate
from veil.deploy.deployment import Deployment
from veil.ir.nodes import Circuit
from veil.ir.serialize import dumps
from veil.schedule import NEXT, PREV, SERVERS, schedule, traffic

DEFAULT_LINK = LinkSpeed(0.2, 1000.0)  # a link missing from [links]: assume a LAN


def section(circuit: Circuit, dep: Deployment) -> dict[str, Any]:
    sched = schedule(circuit)
    t = traffic(circuit, sched)
    names = [s.name for s in dep.servers]
    assumed: set[tuple[str, str]] = set()

    def name_of(site: int | str) -> str:
        return names[site] if isinstance(site, int) else site

    def link(a: int | str, b: int | str) -> LinkSpeed:
        x, y = name_of(a), name_of(b)
        found = dep.link(x, y)
        if found is None:
            assumed.add(tuple(sorted((x, y))))  # type: ignore[arg-type]
            return DEFAULT_LINK
        return LinkSpeed(found.rtt_ms, found.mbit)

    owners = sorted(t.input_bytes_per_owner)
    receivers = sorted(t.output_bytes_per_receiver)
    circuit_bytes = len(zlib.compress(dumps(circuit).encode("ascii"), 6))
    phases = estimate(sched, t, link, owners, receivers, circuit_bytes)
    ring = []
    for s in range(SERVERS):
        for direction, peer in ((PREV, (s - 1) % SERVERS), (NEXT, (s + 1) % SERVERS)):
            sent = [r.bytes_to(s, direction) for r in sched.rounds]
            if direction == NEXT and not any(sent):
                continue  # a successor hears from a server in truncations and shuffles
            speed = link(s, peer)
            ring.append({"from": names[s], "to": names[peer], "rtt_ms": speed.rtt_ms,
                         "mbit": speed.mbit, "rounds": sum(1 for b in sent if b),
                         "bytes": sum(sent)})
    return {
        "digest": dep.digest,
        "servers": [{"name": s.name, "jurisdiction": s.jurisdiction, "host": s.host,
                     "port": s.port, "certificate": s.certificate_sha256} for s in dep.servers],
        "parties": {n: p.jurisdiction for n, p in sorted(dep.parties.items())},
        "reconstructing_pairs": [{"servers": [a.name, b.name],
                                  "jurisdictions": [a.jurisdiction, b.jurisdiction]}
                                 for a, b in dep.reconstructing_pairs()],
        "compute_links": ring,
        "estimate": phases,
        "assumed_links": [f"{a}-{b}" for a, b in sorted(assumed)],
    }


def render(data: dict[str, Any]) -> list[str]:
    out = ["", f"deployment (digest {data['digest'][:16]}…)"]
    for s in data["servers"]:
        out.append(f"  server {s['name']:<14} {s['jurisdiction']:<6} {s['host']}:{s['port']}")
    out.append("  pairs of servers that together could reconstruct everything:")
    for p in data["reconstructing_pairs"]:
        a, b = p["servers"]
        ja, jb = p["jurisdictions"]
        out.append(f"    {a} ({ja}) + {b} ({jb})")
    out.append("  compute links (each round: every server sends to its predecessor; in "
               "truncations and shuffles to its successor too)")
    for ln in data["compute_links"]:
        out.append(f"    {ln['from']} → {ln['to']:<12} {ln['rtt_ms']:g} ms RTT, {ln['mbit']:g} "
                   f"Mbit/s: {ln['rounds']} rounds, {ln['bytes']:,} bytes")
    est = data["estimate"]
    out.append("  estimated time (network only; local computation not included)")
    out.append("    " + ", ".join(f"{k} {v:.3f} s" for k, v in est.items() if k != "total") +
               f" = {est['total']:.3f} s")
    if data["assumed_links"]:
        out.append(f"    links not in [links], assumed {DEFAULT_LINK.rtt_ms:g} ms RTT and "
                   f"{DEFAULT_LINK.mbit:g} Mbit/s: {', '.join(data['assumed_links'])}")
    return out
