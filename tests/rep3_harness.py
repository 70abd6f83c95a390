"""Run the rep3 session in one process: three server threads and the runner over
socket pairs. Same protocol code as `veil run`; used where a test needs each server's
view (every message it received) or many quick runs."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

import numpy as np

from veil.backend.base import RunResult
from veil.backend.rep3_session import RUNNER, runner_session, server_session
from veil.ir.nodes import Circuit
from veil.ir.serialize import fingerprint
from veil.net.transport import Channel


@dataclass
class ThreadedRun:
    result: RunResult
    views: dict[int, list[tuple[int, int, bytes]]]  # server → messages it received


def run_threaded(circuit: Circuit, inputs: dict[str, np.ndarray], timeout: float = 20.0
                 ) -> ThreadedRun:  # fmt: skip
    session = os.urandom(16)
    fp = fingerprint(circuit)
    parties = [0, 1, 2, RUNNER]
    channels: dict[int, dict[int, Channel]] = {p: {} for p in parties}
    for i, a in enumerate(parties):
        for b in parties[i + 1:]:
            sa, sb = socket.socketpair()
            channels[a][b] = Channel(sa, a, b, session, f"party {b}", timeout)
            channels[b][a] = Channel(sb, b, a, session, f"party {a}", timeout)
    views: dict[int, list] = {}
    for server in range(3):
        log: list = []
        for ch in channels[server].values():
            ch.log = log
        views[server] = log
    errors: list[BaseException] = []

    def serve(me: int) -> None:
        try:
            server_session(me, circuit, fp, session, channels[me])
        except BaseException as exc:
            errors.append(exc)
            for ch in channels[me].values():
                ch.close()

    threads = [threading.Thread(target=serve, args=(me,), daemon=True) for me in range(3)]
    for t in threads:
        t.start()
    try:
        result = runner_session(circuit, inputs, [channels[RUNNER][s] for s in range(3)])
    finally:
        for t in threads:
            t.join(timeout)
        for party in channels.values():
            for ch in party.values():
                ch.close()
    if errors:
        raise errors[0]
    return ThreadedRun(result, views)
