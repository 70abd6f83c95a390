"""Run a rep3 session in one process: three server threads and one thread per party
over socket pairs, with random pairwise keys. The protocol code is exactly what real
servers and parties run after their TLS session setup (veil.runtime.session); used
where a test needs each server's view (every message it received) or many quick runs."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

import numpy as np

from veil.backend.base import RunResult
from veil.ir.nodes import Circuit
from veil.net.transport import Channel
from veil.runtime.session import (
    Fault,
    PartyResult,
    combined_stats,
    party_session,
    serve_session,
)
from veil.runtime.sharing import owners_of, receivers_of, site_ids


@dataclass
class ThreadedRun:
    result: RunResult
    views: dict[int, list[tuple[int, int, bytes]]]  # server → messages it received


@dataclass
class Outcome:
    """What every site of a run ended with: each party's result or error, each
    server's error (None when it finished)."""

    parties: dict[str, PartyResult | BaseException]
    servers: dict[int, BaseException | None]


def run_threaded(circuit: Circuit, inputs: dict[str, np.ndarray], timeout: float = 20.0
                 ) -> ThreadedRun:  # fmt: skip
    outcome, run = _run(circuit, inputs, timeout, None)
    errors = [e for e in outcome.servers.values() if e is not None]
    errors += [r for r in outcome.parties.values() if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    assert run is not None
    return run


def run_with_fault(circuit: Circuit, inputs: dict[str, np.ndarray], fault: Fault | None,
                   timeout: float = 20.0) -> Outcome:  # fmt: skip
    """A run in which one server may misbehave (`fault`); every site's outcome."""
    return _run(circuit, inputs, timeout, fault)[0]


def _run(circuit: Circuit, inputs: dict[str, np.ndarray], timeout: float,
         fault: Fault | None) -> tuple[Outcome, ThreadedRun | None]:  # fmt: skip
    session = os.urandom(16)
    ids = site_ids(circuit)
    parties = sorted(set(owners_of(circuit)) | set(receivers_of(circuit)))
    sites = [0, 1, 2, *(ids[p] for p in parties)]
    names = {0: "server0", 1: "server1", 2: "server2", **{ids[p]: p for p in parties}}
    channels: dict[int, dict[int, Channel]] = {s: {} for s in sites}
    for i, a in enumerate(sites):
        for b in sites[i + 1:]:
            if a >= 3 and b >= 3:
                continue  # parties never talk to each other
            sa, sb = socket.socketpair()
            channels[a][b] = Channel(sa, a, b, session, names[b], timeout)
            channels[b][a] = Channel(sb, b, a, session, names[a], timeout)
    keys = [os.urandom(16) for _ in range(3)]  # k_i is shared by servers i-1 and i
    views: dict[int, list] = {}
    for server in range(3):
        log: list = []
        for ch in channels[server].values():
            ch.log = log
        views[server] = log
    server_errors: dict[int, BaseException | None] = {}
    results: dict[str, PartyResult | BaseException] = {}

    def serve(me: int) -> None:
        peers = {j: channels[me][j] for j in range(3) if j != me}
        party_channels = {p: channels[me][ids[p]] for p in parties}
        try:
            serve_session(me, circuit, (keys[me], keys[(me + 1) % 3]), peers, party_channels,
                          fault=fault)
            server_errors[me] = None
        except BaseException as exc:
            server_errors[me] = exc
            for ch in channels[me].values():
                ch.abort(f"stopped: {exc}")  # as a real server does

    def act(party: str) -> None:
        mine = {s.name for s in circuit.inputs if s.owner == party}
        values = {k: v for k, v in inputs.items() if k in mine}
        own = [channels[ids[party]][s] for s in range(3)]
        try:
            results[party] = party_session(party, circuit, values, own)
        except BaseException as exc:
            results[party] = exc
            for ch in own:
                ch.abort(f"stopped: {exc}")  # as veil.runtime.party does

    threads = [threading.Thread(target=serve, args=(me,), daemon=True) for me in range(3)]
    threads += [threading.Thread(target=act, args=(p,), daemon=True) for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    for party in channels.values():
        for ch in party.values():
            ch.close()
    for me in range(3):
        server_errors.setdefault(me, TimeoutError(f"server {me} did not finish"))
    for party in parties:
        results.setdefault(party, TimeoutError(f"{party} did not finish"))
    outcome = Outcome(dict(results), server_errors)
    done = {p: r for p, r in results.items() if isinstance(r, PartyResult)}
    if len(done) != len(parties):
        return outcome, None
    outputs: dict[str, np.ndarray] = {}
    for r in done.values():
        outputs.update(r.outputs)
    return outcome, ThreadedRun(RunResult(outputs, combined_stats(circuit, done)), views)
