"""The time estimate of a rep3 run: network latency and bandwidth, phase by phase.

Measured on the runtime, not assumed: a compute round costs ONE one-way delay, not a
round trip (each server sends to one neighbour and receives from the other, and all
three do so at once), plus the time to push its bytes through the link. Around the
compute rounds a whole run has a fixed number of one-way trips:

    connect   5   each party dials each server: TCP (1 RTT), TLS 1.3 (1 RTT), then its
                  Finished and its hello together (½ RTT); the servers' mesh connections
                  are made the same way, in parallel, before or while the parties connect
    agree     1   the servers' signed session proposals (server ↔ server)
    start     1   START, server → party
    input     1   each owner's input shares, party → server (+ bytes / bandwidth)
    compute   R   one per compute round (+ the round's bytes / bandwidth)
    output    1   the output shares and the done message, server → party (+ bytes)

so a run costs R + 9 one-way delays in all. Each phase takes the slowest link it uses.
Local computation (compiling, loading inputs, numpy work on the servers) is not in the
estimate; `veil run --json` reports measured seconds per phase beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from veil.schedule import NEXT, PREV, SERVERS, Schedule, Traffic

CONNECT_ONE_WAY = 5  # TCP + TLS 1.3 + hello, in one-way delays
HELLO_BYTES = 2048  # a party's hello without the circuit (terms, nonce, approvals)


@dataclass(frozen=True)
class LinkSpeed:
    rtt_ms: float
    mbit: float

    @property
    def one_way(self) -> float:
        return self.rtt_ms / 2000

    def transfer(self, nbytes: int) -> float:
        return nbytes * 8 / (self.mbit * 1e6)


# Who is on each end of a link: a server index (0, 1, 2) or a party name.
Site = int | str
LinkOf = Callable[[Site, Site], LinkSpeed]


def estimate(sched: Schedule, t: Traffic, link: LinkOf, owners: list[str],
             receivers: list[str], circuit_bytes: int = 0) -> dict[str, float]:  # fmt: skip
    """Seconds per phase and in total, for links given by `link(a, b)`."""
    servers = range(SERVERS)
    parties = sorted(set(owners) | set(receivers))
    phases: dict[str, float] = {}
    phases["connect"] = max((CONNECT_ONE_WAY * link(p, s).one_way +
                             link(p, s).transfer(HELLO_BYTES + circuit_bytes)
                             for p in parties for s in servers), default=0.0)
    phases["agree"] = max(link(a, b).one_way for a in servers for b in servers if a != b)
    phases["start"] = max((link(s, p).one_way for p in parties for s in servers), default=0.0)
    phases["input"] = max((link(p, s).one_way + link(p, s).transfer(t.input_bytes_per_owner[p]
                                                                     // SERVERS)
                           for p in owners for s in servers), default=0.0)
    compute = 0.0
    for rnd in sched.rounds:
        slowest = 0.0
        for s in servers:
            for direction, peer in ((PREV, (s - 1) % SERVERS), (NEXT, (s + 1) % SERVERS)):
                nbytes = rnd.bytes_to(s, direction)
                if nbytes:
                    slowest = max(slowest, link(s, peer).one_way +
                                  link(s, peer).transfer(nbytes))
        compute += slowest
    phases["compute"] = compute
    phases["output"] = max((link(s, r).one_way * t.output_rounds + link(s, r).transfer(
        t.output_bytes_per_receiver[r] // SERVERS) for r in receivers for s in servers),
        default=0.0)  # verified mode: the receivers' acceptance is a second trip
    phases["total"] = sum(phases.values())
    return {k: round(v, 6) for k, v in phases.items()}


def one_way_delays(sched: Schedule) -> int:
    """The number of one-way trips on the critical path of a whole run."""
    # verified mode (a plan of checks): the receivers' acceptance of their shares
    return CONNECT_ONE_WAY + 4 + sched.compute_rounds + (1 if sched.plan is not None else 0)
