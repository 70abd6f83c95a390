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
from veil.runtime.session import PartyResult, combined_stats, party_session, serve_session
from veil.runtime.sharing import owners_of, receivers_of, site_ids


@dataclass
class ThreadedRun:
    result: RunResult
    views: dict[int, list[tuple[int, int, bytes]]]  # server → messages it received


def run_threaded(circuit: Circuit, inputs: dict[str, np.ndarray], timeout: float = 20.0
                 ) -> ThreadedRun:  # fmt: skip
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
    errors: list[BaseException] = []
    results: dict[str, PartyResult] = {}

    def serve(me: int) -> None:
        peers = {j: channels[me][j] for j in range(3) if j != me}
        party_channels = {p: channels[me][ids[p]] for p in parties}
        try:
            serve_session(me, circuit, (keys[me], keys[(me + 1) % 3]), peers, party_channels)
        except BaseException as exc:
            errors.append(exc)
            for ch in channels[me].values():
                ch.close()

    def act(party: str) -> None:
        mine = {s.name for s in circuit.inputs if s.owner == party}
        values = {k: v for k, v in inputs.items() if k in mine}
        try:
            results[party] = party_session(party, circuit, values,
                                           [channels[ids[party]][s] for s in range(3)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(me,), daemon=True) for me in range(3)]
    threads += [threading.Thread(target=act, args=(p,), daemon=True) for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    for party in channels.values():
        for ch in party.values():
            ch.close()
    if errors:
        raise errors[0]
    outputs: dict[str, np.ndarray] = {}
    for r in results.values():
        outputs.update(r.outputs)
    return ThreadedRun(RunResult(outputs, combined_stats(circuit, results)), views)
