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

so a run costs R + 9 one-way delays in all. Each phase takes the slowest link it uses;
the input phase includes the upload of the input shares (each owner sends a third of its
share bytes to each server, over three links at once).

Local computation — the servers' numpy work, their randomness, framing and encryption
— is the other part of a run. It depends on the machine, so it is measured, not
assumed: `veil cost --calibrate` runs a few small circuits through a local rep3 run and
fits LocalModel (seconds per compute round, per operation and per element, interactive
and local elements apart) by least squares; the estimate then adds it to the compute
phase, and the report says when and where it was calibrated. Without a calibration the
report says that local computation is not included. Compiling and reading input files
are never in the estimate; `veil run --json` reports measured seconds per phase beside
it (`phases`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from veil.ir import ops
from veil.ir.nodes import Circuit
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
    if sched.pre_rounds:  # the verified mode's triples, once the inputs are in
        phases["preprocess"] = _rounds_seconds(sched.pre_rounds, link)
    phases["compute"] = _rounds_seconds(sched.rounds, link)
    phases["output"] = max((link(s, r).one_way * t.output_rounds + link(s, r).transfer(
        t.output_bytes_per_receiver[r] // SERVERS) for r in receivers for s in servers),
        default=0.0)  # verified mode: the receivers' acceptance is a second trip
    phases["total"] = sum(phases.values())
    return {k: round(v, 6) for k, v in phases.items()}


def _rounds_seconds(rounds, link: LinkOf) -> float:
    """Seconds of rounds between the servers: each as long as its slowest message."""
    total = 0.0
    for rnd in rounds:
        slowest = 0.0
        for s in range(SERVERS):
            for direction, peer in ((PREV, (s - 1) % SERVERS), (NEXT, (s + 1) % SERVERS)):
                nbytes = rnd.bytes_to(s, direction)
                if nbytes:
                    slowest = max(slowest, link(s, peer).one_way +
                                  link(s, peer).transfer(nbytes))
        total += slowest
    return total


@dataclass(frozen=True)
class LocalModel:
    """A server's local computation: seconds = per_round·R + per_node·N +
    per_interactive·I + per_local·L, for R compute rounds, N operations, I elements of
    interactive operations (products, truncations, AND gates; a word counts 64 bits as
    one element) and L elements of local ones, fitted on this machine."""

    per_round: float
    per_node: float
    per_interactive: float
    per_local: float
    calibrated: str = ""  # where and when: "host, 2026-01-31"

    def features(self, circuit: Circuit, sched: Schedule) -> tuple[int, int, int, int]:
        return features(circuit, sched)

    def seconds(self, circuit: Circuit, sched: Schedule) -> float:
        r, n, i, loc = features(circuit, sched)
        return self.per_round * r + self.per_node * n + self.per_interactive * i + \
            self.per_local * loc


def features(circuit: Circuit, sched: Schedule) -> tuple[int, int, int, int]:
    """(compute rounds, operations, interactive elements, local elements) of a
    protocol-level circuit: what LocalModel's time depends on."""
    interactive = local = nodes = 0
    types = {n.id: n.type for n in circuit.nodes}
    for node in circuit.nodes:
        if node.op in ("input", "const") or not node.type.is_secret:
            continue
        nodes += 1
        size = node.type.size
        if node.op in ops.MAYBE_INTERACTIVE and \
                ops.is_interactive(node.op, [types[a] for a in node.args]):
            interactive += size
        else:
            local += size
    return sched.compute_rounds, nodes, interactive, local


CALIBRATION_ENV = "VEIL_CALIBRATION"


def calibration_path() -> Path:
    """Where `veil cost --calibrate` keeps this machine's LocalModel: $VEIL_CALIBRATION,
    else $XDG_CACHE_HOME/veil/local-compute.json (~/.cache by default)."""
    if os.environ.get(CALIBRATION_ENV):
        return Path(os.environ[CALIBRATION_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "veil" / "local-compute.json"


def load_local_model(path: Path | None = None) -> LocalModel | None:
    """This machine's calibration, or None if there is none (or it cannot be read)."""
    try:
        data = json.loads((path or calibration_path()).read_text(encoding="utf-8"))
        return LocalModel(**{k: data[k] for k in LocalModel.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_local_model(model: LocalModel, path: Path | None = None) -> Path:
    target = path or calibration_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(asdict(model), indent=2) + "\n", encoding="utf-8")
    return target


def one_way_delays(sched: Schedule) -> int:
    """The number of one-way trips on the critical path of a whole run."""
    # verified mode (a plan of checks): the receivers' acceptance of their shares
    return CONNECT_ONE_WAY + 4 + sched.preprocess_rounds + sched.compute_rounds + \
        (1 if sched.plan is not None else 0)
