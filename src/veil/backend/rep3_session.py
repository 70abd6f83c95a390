"""Running rep3 on one machine: three server processes over TCP on localhost, and the
runner that acts for the data owners (sharing inputs) and the receivers (reconstructing
outputs).

Session: every server connects to the lower-numbered servers and accepts the others
and the runner; all parties exchange the circuit fingerprint (a server refuses to run a
circuit that differs from everyone else's); each pair of servers agrees on a key with
X25519. Then: input phase (each owner sends each server its two shares), the compute
rounds of the schedule, and the output phase (each server sends each receiver one
re-randomized share of its outputs). Any error, closed connection or silence longer
than the timeout makes a party send ABORT to everyone and stop; the runner returns
outputs only after all three servers finished, so nothing is revealed on abort.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from veil.backend.base import RunResult
from veil.backend.prg import KeyAgreement
from veil.backend.rep3 import Rep3Server, pack, unpack
from veil.diagnostics import Diagnostic, VeilError
from veil.ir.nodes import Circuit
from veil.ir.serialize import dumps, fingerprint, loads
from veil.net.transport import (
    DONE,
    HELLO,
    INPUT,
    KEY,
    OUTPUT,
    Channel,
    PeerError,
    connect,
    identify,
    introduce,
    listen,
)
from veil.schedule import SERVERS, schedule
from veil.types import BOOL

RUNNER = 3
HOST = "127.0.0.1"
U64 = np.uint64


def party_name(party: int) -> str:
    return "the runner" if party == RUNNER else f"server {party}"


def owners_of(circuit: Circuit) -> dict[str, list]:
    owners: dict[str, list] = {}
    for spec in circuit.inputs:
        owners.setdefault(spec.owner, []).append(spec)
    return dict(sorted(owners.items()))


def receivers_of(circuit: Circuit) -> dict[str, list]:
    receivers: dict[str, list] = {}
    for out in circuit.outputs:
        for r in out.receivers:
            receivers.setdefault(r, []).append(out)
    return dict(sorted(receivers.items()))


# ---------------------------------------------------------------- server process


@dataclass
class Fault:
    """Test-only fault injection: make one server exit or hang at a compute round."""

    server: int
    round: int
    action: str  # "exit" | "hang"


def _serve(me: int, session: bytes, circuit_text: str, expected_fp: str, timeout: float,
           conn, fault: Fault | None) -> None:  # fmt: skip
    """Entry point of a server process: connect to the others, then run the session."""
    gc.disable()  # a short-lived process: refcounting frees the arrays; no cycles to chase
    channels: dict[int, Channel] = {}
    try:
        # the fingerprint is the hash of the canonical text (loads/dumps round-trip
        # exactly, tests/test_fingerprint.py), so hash what arrived instead of re-serializing
        fp = hashlib.sha256(circuit_text.encode("ascii")).hexdigest()
        circuit = loads(circuit_text)
        listener = listen(HOST)
        conn.send(("port", listener.getsockname()[1]))
        ports = conn.recv()
        for j in range(me):
            sock = connect(HOST, ports[j], timeout, party_name(j))
            introduce(sock, me, session)
            channels[j] = Channel(sock, me, j, session, party_name(j), timeout)
        expected = set(range(me + 1, SERVERS)) | {RUNNER}
        listener.settimeout(timeout)
        while expected:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                raise PeerError(f"{', '.join(party_name(p) for p in sorted(expected))} "
                                f"did not connect within {timeout:g} s") from None
            try:
                who = identify(sock, session, timeout)
            except PeerError:  # a stray connection (another program, a port scan): drop it
                sock.close()
                continue
            if who not in expected:
                sock.close()
                continue
            expected.discard(who)
            channels[who] = Channel(sock, me, who, session, party_name(who), timeout)
        listener.close()
        stats = server_session(me, circuit, expected_fp, session, channels, fault, fp)
        conn.send(("done", stats))
    except PeerError as exc:
        _abort(channels, f"server {me}: {exc}")
        conn.send(("error", f"server {me}: {exc}"))
    except Exception as exc:  # a bug: report it, and still abort everyone cleanly
        _abort(channels, f"server {me} failed: {exc}")
        conn.send(("error", f"server {me} failed: {exc}\n{traceback.format_exc()}"))
    finally:
        for ch in channels.values():
            ch.close()


def server_session(me: int, circuit: Circuit, expected_fp: str, session: bytes,
                   channels: dict[int, Channel], fault: Fault | None = None,
                   fp: str | None = None) -> dict:  # fmt: skip
    """One server's whole run over connected channels (to both servers and the runner).

    Checks the fingerprint with every peer, agrees on keys, takes its input shares,
    computes the rounds and sends its output shares; returns what it measured."""
    fp = fp or fingerprint(circuit)
    if fp != expected_fp:
        raise PeerError(f"circuit fingerprint {fp[:12]} differs from the approved "
                        f"{expected_fp[:12]}")
    sched = schedule(circuit)
    for ch in channels.values():
        ch.send(HELLO, 0, fp.encode("ascii"))
    for ch in channels.values():
        got = bytes(ch.recv(HELLO, 0)).decode("ascii", "replace")
        if got != fp:
            raise PeerError(f"{ch.peer_name} holds circuit {got[:12]}, not {fp[:12]}")
    agreement = KeyAgreement()
    peers = [(me - 1) % SERVERS, (me + 1) % SERVERS]
    for j in peers:
        channels[j].send(KEY, 0, agreement.public_bytes())
    keys = {j: agreement.derive(channels[j].recv(KEY, 0), session, (me, j)) for j in peers}
    setup = {p: (ch.counters.messages_sent, ch.counters.bytes_sent)
             for p, ch in channels.items()}

    server = Rep3Server(me, circuit, sched, keys[peers[0]], keys[peers[1]],
                        channels[peers[0]], channels[peers[1]])
    runner = channels[RUNNER]
    for specs in owners_of(circuit).values():
        layout = [(s.type.shape, s.type.base == BOOL) for s in specs for _ in range(2)]
        arrays = unpack(runner.recv(INPUT, 0), layout)
        for k, spec in enumerate(specs):
            server.values[spec.node] = (arrays[2 * k], arrays[2 * k + 1])

    if fault is not None and fault.server == me:
        _inject(server, fault)
    server.compute()

    last = sched.compute_rounds + 1
    for outs in receivers_of(circuit).values():
        shares = [server.output_share(o.node, o.type.base) for o in outs]
        runner.send(OUTPUT, last, pack(shares))
    stats = {
        "server": me,
        "rounds_sent": server.rounds_sent,
        "messages": sum(ch.counters.messages_sent - setup[p][0] for p, ch in channels.items()),
        "bytes_sent": sum(ch.counters.bytes_sent - setup[p][1] for p, ch in channels.items()),
        "setup_bytes": sum(b for _, b in setup.values()),
    }
    runner.send(DONE, last, json.dumps(stats).encode())
    return stats


def _abort(channels: dict[int, Channel], reason: str) -> None:
    for ch in channels.values():
        ch.abort(reason)


def _inject(server: Rep3Server, fault: Fault) -> None:
    original = server.run_round

    def run_round(number: int) -> None:
        if number == fault.round:
            if fault.action == "exit":
                os._exit(3)
            time.sleep(3600)
        original(number)

    server.run_round = run_round  # type: ignore[method-assign]


# ---------------------------------------------------------------- runner


@dataclass
class Rep3Backend:
    """Backend `rep3`: three server processes on this machine, over TCP on localhost."""

    timeout: float = 30.0
    fault: Fault | None = None
    name: str = "rep3"
    last_error: str | None = field(default=None, init=False)

    def run(self, circuit: Circuit, inputs: dict[str, np.ndarray]) -> RunResult:
        session = os.urandom(16)
        text = dumps(circuit)
        fp = hashlib.sha256(text.encode("ascii")).hexdigest()
        ctx = multiprocessing.get_context("spawn")
        pipes, procs = [], []
        for me in range(SERVERS):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(me, session, text, fp, self.timeout, child,
                                                    self.fault), daemon=True)
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        channels: list[Channel] = []
        try:
            ports = {}
            for me, pipe in enumerate(pipes):
                ports[me] = self._port_of(pipe, me)
            for pipe in pipes:
                pipe.send(ports)
            for me in range(SERVERS):
                sock = connect(HOST, ports[me], self.timeout, party_name(me))
                introduce(sock, RUNNER, session)
                channels.append(Channel(sock, RUNNER, me, session, party_name(me), self.timeout))
            return runner_session(circuit, inputs, channels, self.name,
                                  alive=lambda: self._check_alive(procs), fp=fp)
        except PeerError as exc:
            for ch in channels:
                ch.abort(f"the runner stopped: {exc}")
            reasons = self._collect_errors(pipes, procs)
            detail = f"{exc}; {reasons}" if reasons else str(exc)
            raise VeilError([Diagnostic(
                "V0801", f"the run was aborted; no output was revealed: {detail}",
                help="check that all three servers can run; --timeout sets how long a "
                     "silent peer is tolerated")]) from None
        finally:
            for ch in channels:
                ch.close()
            for proc in procs:  # a hung server is killed: the others have already stopped
                proc.join(timeout=1)
                if proc.is_alive():
                    proc.kill()
                    proc.join()

    @staticmethod
    def _check_alive(procs) -> None:
        for me, proc in enumerate(procs):
            if not proc.is_alive() and proc.exitcode not in (0, None):
                raise PeerError(f"server {me} exited with code {proc.exitcode}")

    def _port_of(self, pipe, me: int) -> int:
        if not pipe.poll(self.timeout + 30):  # a cold interpreter start can be slow
            raise PeerError(f"server {me} did not start")
        try:
            kind, value = pipe.recv()
        except (EOFError, OSError):
            raise PeerError(f"server {me} stopped while starting") from None
        if kind == "error":
            raise PeerError(value)
        return value

    def _collect_errors(self, pipes, procs) -> str:
        reasons = []
        deadline = time.monotonic() + 3
        for me, (pipe, proc) in enumerate(zip(pipes, procs, strict=True)):
            try:
                if pipe.poll(max(0.0, deadline - time.monotonic())):
                    kind, value = pipe.recv()
                    if kind == "error":
                        reasons.append(value.splitlines()[0])
                elif not proc.is_alive() and proc.exitcode not in (0, None):
                    reasons.append(f"server {me} exited with code {proc.exitcode}")
            except (EOFError, OSError):
                if proc.exitcode not in (0, None):
                    reasons.append(f"server {me} exited with code {proc.exitcode}")
        return "; ".join(reasons)



def split(value: np.ndarray, is_bool: bool) -> list[np.ndarray]:
    """Three fresh random shares of a value (x = x0 + x1 + x2, or x0 ⊕ x1 ⊕ x2)."""
    value = np.asarray(value)
    n = int(value.size)
    if is_bool:
        r = np.frombuffer(os.urandom(2 * n), dtype=np.uint8).astype(np.bool_)
        r0, r1 = r[:n].reshape(value.shape), r[n:].reshape(value.shape)
        return [r0, r1, value.astype(np.bool_) ^ r0 ^ r1]
    r = np.frombuffer(os.urandom(16 * n), dtype=U64)
    r0, r1 = r[:n].reshape(value.shape), r[n:].reshape(value.shape)
    last = value.astype(U64)  # one new array, no temporaries
    last -= r0
    last -= r1
    return [r0, r1, last]


def runner_session(circuit: Circuit, inputs: dict[str, np.ndarray], channels: list[Channel],
                   backend: str = "rep3", alive: Callable[[], None] | None = None,
                   fp: str | None = None) -> RunResult:  # fmt: skip
    """The data owners' and receivers' side of a run, over channels to the three servers.

    Outputs are reconstructed only after every server reported success, so an aborted
    run reveals nothing. While the servers compute, the runner hears nothing for as long
    as the computation takes; `alive` (which raises PeerError) says whether they are
    still working, so that a long run is not mistaken for a silent peer."""
    fp = fp or fingerprint(circuit)
    for ch in channels:
        ch.send(HELLO, 0, fp.encode("ascii"))
    for ch in channels:
        if bytes(ch.recv(HELLO, 0)).decode("ascii", "replace") != fp:
            raise PeerError(f"{ch.peer_name} holds a different circuit")
    input_bytes = share_inputs(circuit, inputs, channels)
    last = schedule(circuit).compute_rounds + 1
    if alive is not None:  # wait for the first server to finish (or abort)
        while not any(ch.wait_readable(1.0 / len(channels)) for ch in channels):
            alive()
    shares, output_bytes = collect_output_shares(circuit, channels, last)
    server_stats = [json.loads(bytes(ch.recv(DONE, last))) for ch in channels]
    outputs = reconstruct(circuit, shares)
    compute_rounds = sorted({r for s in server_stats for r in s["rounds_sent"]})
    stats = {
        "backend": backend,
        "rounds": (1 if input_bytes else 0) + len(compute_rounds) + (1 if output_bytes else 0),
        "compute_rounds": len(compute_rounds),
        "bytes_sent": [s["bytes_sent"] for s in server_stats],
        "messages": [s["messages"] for s in server_stats],
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "setup_bytes": [s["setup_bytes"] for s in server_stats],
    }
    return RunResult(outputs, stats)


def share_inputs(circuit: Circuit, inputs: dict[str, np.ndarray],
                 channels: list[Channel]) -> dict[str, int]:  # fmt: skip
    """Each owner splits its inputs into three random shares; server i gets (x_i, x_i+1)."""
    sent: dict[str, int] = {}
    for owner, specs in owners_of(circuit).items():
        before = sum(ch.counters.bytes_sent for ch in channels)
        for me, message in input_messages(specs, inputs):
            channels[me].send(INPUT, 0, message)
        sent[owner] = sum(ch.counters.bytes_sent for ch in channels) - before
    return sent


def _fill_random(buf: np.ndarray, step: int = 1 << 20) -> None:
    for i in range(0, buf.size, step):
        buf[i:i + step] = np.frombuffer(os.urandom(min(step, buf.size - i)), dtype=np.uint8)


def input_messages(specs: list, inputs: dict[str, np.ndarray]):
    """Yield (server, message) for one owner's inputs, as `pack` lays them out: for each
    input the server's two components, ring values first, then all bits packed.

    Ring inputs, the large ones, are shared in two message buffers instead of three
    component arrays plus a message: server 0's message [x0 | x1] is random; server
    1's is [x1 | x − x0 − x1]; server 0's buffer is then rewritten in place into server
    2's [x2 | x0]. The runner holds the inputs and two messages at most (for a 1M×7
    fixed input: 56 + 2 × 112 MB instead of 56 + 3 × 56 + 112)."""
    ring = [inputs[s.name].reshape(-1) for s in specs if s.type.base != BOOL]
    bool_parts = [split(inputs[s.name], True) for s in specs if s.type.base == BOOL]
    sizes = [int(x.size) for x in ring]
    starts = np.cumsum([0, *(2 * n for n in sizes)])
    ring_total = int(starts[-1])
    bits_total = 2 * sum(int(p[0].size) for p in bool_parts)
    length = 8 * ring_total + (bits_total + 7) // 8

    def halves(buf: bytearray) -> list[tuple[np.ndarray, np.ndarray]]:
        words = np.frombuffer(buf, dtype=U64, count=ring_total)
        return [(words[a:a + n], words[a + n:a + 2 * n])
                for a, n in zip(starts[:-1], sizes, strict=True)]

    def with_bits(buf: bytearray, me: int) -> bytearray:
        if bool_parts:
            bits = np.concatenate([part.reshape(-1) for comps in bool_parts
                                   for part in (comps[me], comps[(me + 1) % SERVERS])])
            np.frombuffer(buf, dtype=np.uint8, offset=8 * ring_total)[...] = np.packbits(bits)
        return buf

    first = bytearray(length)
    _fill_random(np.frombuffer(first, dtype=np.uint8, count=8 * ring_total))
    yield 0, with_bits(first, 0)  # [x0 | x1], both random
    def fill_second(second: bytearray) -> None:
        for x, (x0, x1), (y1, y2) in zip(ring, halves(first), halves(second), strict=True):
            y1[...] = x1
            np.subtract(x.astype(U64, copy=False), x0, out=y2)
            y2 -= x1

    def rewrite_first(second: bytearray) -> None:
        for (x0, x1), (_, x2) in zip(halves(first), halves(second), strict=True):
            x1[...] = x0
            x0[...] = x2

    second = bytearray(length)
    fill_second(second)
    yield 1, with_bits(second, 1)  # [x1 | x2]
    rewrite_first(second)
    del second  # no view of it is left: its 8 bytes a value go back before the last send
    yield 2, with_bits(first, 2)  # [x2 | x0]


Shares = dict[str, list[list[np.ndarray]]]  # receiver → per server → per output


def collect_output_shares(circuit: Circuit, channels: list[Channel], last: int
                          ) -> tuple[Shares, dict[str, int]]:  # fmt: skip
    """Every receiver's share messages from the three servers (not yet combined)."""
    shares: Shares = {}
    received: dict[str, int] = {}
    for receiver, outs in receivers_of(circuit).items():
        layout = [(o.type.shape, o.type.base == BOOL) for o in outs]
        before = sum(ch.counters.bytes_received for ch in channels)
        shares[receiver] = [unpack(ch.recv(OUTPUT, last), layout) for ch in channels]
        received[receiver] = sum(ch.counters.bytes_received for ch in channels) - before
    return shares, received


def reconstruct(circuit: Circuit, shares: Shares) -> dict[str, np.ndarray]:
    """Each receiver adds up (or XORs) the three shares of each of its outputs."""
    values: dict[str, np.ndarray] = {}
    for receiver, outs in receivers_of(circuit).items():
        for k, out in enumerate(outs):
            a, b, c = (server_parts[k] for server_parts in shares[receiver])
            if out.type.base == BOOL:
                values[out.name] = a ^ b ^ c
            else:
                with np.errstate(over="ignore"):
                    values[out.name] = np.asarray(a + b + c, dtype=U64)
    return values
