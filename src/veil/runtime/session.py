"""The protocol part of a session, once every site is connected and the keys agreed.

Server side (`serve_session`): take each owner's input shares, compute the rounds of the
schedule with the two other servers, send each receiver one re-randomized share of its
outputs, and tell every party the run is done with what it measured. Party side
(`party_session`): send its own input shares to the three servers, then reconstruct its
own outputs (if it receives any) from the three servers' shares.

A receiver needs the shares of all three servers: an output is revealed only when every
server finished the computation. Real servers (veil.runtime.server) and the in-process
test harness (tests/rep3_harness.py) both run exactly this code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from veil.backend.rep3 import Rep3Server, pack
from veil.backend.rep3_verify import VerificationFailed, output_digest
from veil.backend.tamper import Tamper
from veil.ir.nodes import Circuit, OutputSpec
from veil.net.transport import ACCEPT, DONE, INPUT, OUTPUT, PROGRESS, ROUND, Channel, PeerError
from veil.runtime.sharing import (
    input_messages,
    owners_of,
    read_input_message,
    receivers_of,
    reconstruct,
)
from veil.schedule import SERVERS, schedule

Audit = Callable[[str, dict], None]


@dataclass
class Fault:
    """Test-only fault injection: make one server exit or hang at a compute round, or
    (action "tamper", verified mode) deviate as `tamper` says (veil.backend.tamper)."""

    server: int
    round: int
    action: str  # "exit" | "hang" | "tamper"
    tamper: Tamper | None = None


def _no_audit(event: str, fields: dict) -> None:
    pass


def _round_traffic(peers: dict[int, Channel]) -> tuple[int, int]:
    """(messages, bytes) this server has sent the other servers in rounds so far."""
    messages = sent = 0
    for ch in peers.values():
        m, b = ch.counters.sent(ROUND)
        messages, sent = messages + m, sent + b
    return messages, sent


@contextmanager
def heartbeat(parties: dict[str, Channel], server: Rep3Server, interval: float,
              peers: dict[int, Channel] | None = None):  # fmt: skip
    """While the servers preprocess and compute, tell every party once per `interval`
    that this server is alive, which round it is in and how many bytes of rounds it sent
    the other servers: a party waiting for its outputs can then tell a long computation
    from a dead server, and show how far it is."""
    stop = threading.Event()
    total = server.sched.compute_rounds

    def beat() -> None:
        while not stop.wait(interval):
            sent = _round_traffic(peers or {})[1]
            if server.preprocessing:
                event = {"phase": "preprocess", "bytes": sent,
                         "detail": "(multiplication triples, before the computation)"}
            else:
                event = {"phase": "compute", "round": len(server.rounds_sent),
                         "rounds": total, "bytes": sent}
            payload = json.dumps(event).encode()
            for ch in parties.values():
                with contextlib.suppress(PeerError):  # gone: the output phase says so
                    ch.send(PROGRESS, 0, payload)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def serve_session(me: int, circuit: Circuit, keys: tuple[bytes, bytes],
                  peers: dict[int, Channel], parties: dict[str, Channel],
                  audit: Audit = _no_audit, fault: Fault | None = None,
                  heartbeat_s: float | None = None) -> dict:  # fmt: skip
    """One server's input, compute and output phases; returns what it measured.

    `keys` = (k_me, shared with server me-1; k_me+1, shared with server me+1);
    `peers` holds channels to the two other servers, `parties` to every input owner
    and result receiver (by name)."""
    sched = schedule(circuit)
    prev, nxt = (me - 1) % SERVERS, (me + 1) % SERVERS
    server = Rep3Server(me, circuit, sched, keys[0], keys[1], peers[prev], peers[nxt])
    started = time.monotonic()
    clock = {"start": time.time()}  # wall clock: the launcher lines phases up across sites
    if fault is not None and fault.server == me and fault.tamper is not None:
        server.tamper = fault.tamper
    index = {spec.node: k for k, spec in enumerate(circuit.inputs)}
    for owner, specs in owners_of(circuit).items():
        payload = parties[owner].recv(INPUT, 0)
        try:
            pairs = read_input_message(me, specs, payload)
        except ValueError as exc:
            raise PeerError(f"{owner} sent malformed input shares: {exc}") from None
        for spec, pair in zip(specs, pairs, strict=True):
            server.values[spec.node] = tuple(  # type: ignore[assignment]
                server.tamper.sent("inputs", ("input", index[spec.node], j), pair[j])
                for j in range(2))
        audit("input", {"owner": owner, "bytes": len(payload),
                        "inputs": [{"name": s.name, "shape": list(s.type.shape)} for s in specs],
                        "sha256": hashlib.sha256(payload).hexdigest()})
    if server.verifier is not None:
        server.verifier.note_inputs(circuit.inputs, server.values)
    input_done = time.monotonic()
    clock["inputs"] = time.time()
    if fault is not None and fault.server == me and fault.action != "tamper":
        _inject(server, fault)
    beating = heartbeat(parties, server, heartbeat_s, peers) if heartbeat_s else \
        contextlib.nullcontext()
    with beating:
        # the verified mode's triples and daBits need no input; they are made once the
        # owners' shares are in (an owner is never kept waiting to send them)
        server.preprocess()
        preprocessed = time.monotonic()
        if server.verifier is not None:
            clock["preprocessed"] = time.time()
        pre_messages, pre_sent = _round_traffic(peers)
        server.compute()
    compute_done = time.monotonic()
    clock["computed"] = time.time()
    messages, sent = _round_traffic(peers)
    audit("compute", {"rounds": len(server.rounds_sent), "messages": messages, "bytes": sent})

    last = sched.compute_rounds + 1
    receivers = receivers_of(circuit)
    for receiver, outs in receivers.items():
        if server.verifier is None:
            payload = pack([server.output_share(o.node, o.type.base) for o in outs])
        else:
            payload = _verified_output(server, receiver, outs)
        parties[receiver].send(OUTPUT, last, payload)
        audit("output", {"receiver": receiver, "outputs": [o.name for o in outs],
                         "bytes": len(payload)})
    if server.verifier is not None:
        for receiver in receivers:  # every receiver's shares checked out, or nobody's
            parties[receiver].recv(ACCEPT, last, max_length=0)
    for ch in parties.values():
        m, b = ch.counters.sent(OUTPUT)
        messages, sent = messages + m, sent + b
    stats = {
        "server": me,
        "rounds_sent": server.rounds_sent,
        "messages": messages,
        "bytes_sent": sent,  # all of it, the preprocessing's included
        "preprocess": {"rounds": len(server.preprocess_rounds_sent()),
                       "messages": pre_messages, "bytes_sent": pre_sent},
        "seconds": {"input": round(input_done - started, 6),
                    "preprocess": round(preprocessed - input_done, 6),
                    "compute": round(compute_done - preprocessed, 6)},
        "clock": clock,
    }
    done = json.dumps(stats).encode()
    for ch in parties.values():
        ch.send(DONE, last, done)
    return stats


def _verified_output(server: Rep3Server, receiver: str, outs: list[OutputSpec]) -> bytes:
    """A receiver's message in the verified mode: this server's component of each of
    its (reshared) outputs, then the SHA-256 of the component the next server sends."""
    assert server.verifier is not None
    position = {id(o): k for k, o in enumerate(server.circuit.outputs)}
    pairs = [server.verifier.outputs[position[id(o)]] for o in outs]
    firsts = [server.tamper.sent("outputs", ("output", receiver, "share"), p[0])
              for p in pairs]
    digest = output_digest(receiver, (server.me + 1) % SERVERS, pack([p[1] for p in pairs]))
    digest = bytes(server.tamper.sent("outputs", ("output", receiver, "digest"),
                                      np.frombuffer(digest, dtype=np.uint8)))
    return bytes(pack(firsts)) + digest


def _inject(server: Rep3Server, fault: Fault) -> None:
    original = server.run_round

    def run_round(number: int) -> None:
        if number == fault.round:
            if fault.action == "exit":
                os._exit(3)
            time.sleep(3600)
        original(number)

    server.run_round = run_round  # type: ignore[method-assign]


@dataclass
class PartyResult:
    """What one party got from a run: its own raw outputs, and what it measured."""

    outputs: dict[str, np.ndarray]
    input_bytes: int
    output_bytes: int
    server_stats: list[dict]
    seconds: dict[str, float] = field(default_factory=dict)  # when each phase ended
    finished: float = 0.0  # wall clock (time.time()) when the party had everything


def party_session(name: str, circuit: Circuit, values: dict[str, np.ndarray],
                  servers: list[Channel]) -> PartyResult:  # fmt: skip
    """One party's input and output phases over channels to the three servers (in order).

    `values` holds this party's own encoded inputs only."""
    started = time.monotonic()
    owners = owners_of(circuit)
    input_bytes = 0
    if name in owners:
        messages = input_messages(owners[name], values)
        _send_all(servers, [(INPUT, 0, seeds, *([body] if body is not None else []))
                            for seeds, body in messages])
        input_bytes = sum(ch.counters.sent(INPUT)[1] for ch in servers)
    inputs_sent = time.monotonic()
    last = schedule(circuit).compute_rounds + 1
    outputs: dict[str, np.ndarray] = {}
    output_bytes = 0
    outs = receivers_of(circuit).get(name)
    if outs:
        payloads = [ch.recv(OUTPUT, last) for ch in servers]
        output_bytes = sum(ch.counters.received(OUTPUT)[1] for ch in servers)
        if circuit.security == "malicious":
            payloads = _checked_outputs(name, payloads)
        try:
            outputs = reconstruct(outs, payloads)
        except ValueError as exc:
            raise PeerError(f"malformed output shares: {exc}") from None
        if circuit.security == "malicious":
            for ch in servers:
                ch.send(ACCEPT, last)
    stats = []
    for ch in servers:
        try:
            stats.append(json.loads(bytes(ch.recv(DONE, last, max_length=1 << 20))))
        except ValueError:
            raise PeerError(f"{ch.peer_name} sent a malformed done message") from None
    done = time.monotonic()
    return PartyResult(outputs, input_bytes, output_bytes, stats,
                       {"input": round(inputs_sent - started, 6),
                        "compute_and_output": round(done - inputs_sent, 6)}, time.time())


def _send_all(channels: list[Channel], messages: list[tuple]) -> None:
    """Send messages[i] (Channel.send's arguments) on channels[i], the large ones at the
    same time: a TLS write releases the GIL, so two 16 MB input messages are encrypted
    and taken by their servers side by side instead of one after the other."""
    large = [i for i, m in enumerate(messages) if sum(len(p) for p in m[2:]) > 1 << 16]
    threaded = set(large[1:])  # the first large one is sent from this thread
    failures: list[PeerError] = []

    def send(i: int) -> None:
        try:
            channels[i].send(*messages[i])
        except PeerError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in large[1:]]
    for t in threads:
        t.start()
    for i in range(len(messages)):
        if i not in threaded:
            send(i)
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def wall_phases(results: dict[str, PartyResult], started: float) -> dict[str, float]:
    """Wall-clock seconds of a run's phases, from `started` (time.time() when the run
    began) and the servers' clocks: setup (until the first server starts the session),
    input (until the last server has every input share), compute (until the last one
    has computed), output (until the last party has its outputs and the servers'
    statistics), with the verified mode's preprocessing between input and compute. The
    phases of `veil cost`'s estimate, measured."""
    servers = [s.get("clock", {}) for r in results.values() for s in r.server_stats]
    if not servers or not all({"start", "inputs", "computed"} <= set(c) for c in servers):
        return {}
    start = min(c["start"] for c in servers)
    inputs = max(c["inputs"] for c in servers)
    computed = max(c["computed"] for c in servers)
    finished = max(r.finished for r in results.values())
    phases = {"setup": round(max(start - started, 0.0), 6),
              "input": round(max(inputs - start, 0.0), 6)}
    if any("preprocessed" in c for c in servers):  # the verified mode's triples
        preprocessed = max(c.get("preprocessed", inputs) for c in servers)
        phases["preprocess"] = round(max(preprocessed - inputs, 0.0), 6)
        inputs = preprocessed
    phases.update({"compute": round(max(computed - inputs, 0.0), 6),
                   "output": round(max(finished - computed, 0.0), 6)})
    return phases


def _checked_outputs(name: str, payloads: list[bytearray]) -> list[bytes]:
    """The share parts of the three servers' messages, once each component matched the
    digest of it that the other server holding it sent (VerificationFailed otherwise)."""
    digest_size = 32
    if any(len(p) < digest_size for p in payloads):
        raise VerificationFailed("malformed output message: no digest")
    shares = [bytes(p[:-digest_size]) for p in payloads]
    for j in range(SERVERS):
        told = bytes(payloads[(j - 1) % SERVERS][-digest_size:])
        if output_digest(name, j, shares[j]) != told:
            raise VerificationFailed(f"verification failed: the output shares of server {j} "
                                     f"do not match what server {(j - 1) % SERVERS} holds")
    return shares


def combined_stats(circuit: Circuit, results: dict[str, PartyResult]) -> dict:
    """The run's statistics as the cost report states them, from the parties' results."""
    any_result = next(iter(results.values()))
    server_stats = sorted(any_result.server_stats, key=lambda s: s["server"])
    compute_rounds = sorted({r for s in server_stats for r in s["rounds_sent"]})
    input_bytes = {p: r.input_bytes for p, r in sorted(results.items()) if r.input_bytes}
    output_bytes = {p: r.output_bytes for p, r in sorted(results.items()) if r.output_bytes}
    pre = [s.get("preprocess", {}) for s in server_stats]
    pre_rounds = max((p.get("rounds", 0) for p in pre), default=0)
    return {
        "backend": "rep3",
        "rounds": pre_rounds + (1 if input_bytes else 0) + len(compute_rounds) +
        ((2 if circuit.security == "malicious" else 1) if output_bytes else 0),
        "preprocess_rounds": pre_rounds,
        "compute_rounds": len(compute_rounds),
        "bytes_sent": [s["bytes_sent"] for s in server_stats],
        "preprocess_bytes_sent": [p.get("bytes_sent", 0) for p in pre],
        "messages": [s["messages"] for s in server_stats],
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "server_seconds": [s.get("seconds", {}) for s in server_stats],
        "party_seconds": {p: r.seconds for p, r in sorted(results.items())},
    }
