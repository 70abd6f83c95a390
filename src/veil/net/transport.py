"""The message layer: framed messages between sites, with clear failures.

Every message carries a fixed header: magic, version, kind, sender, receiver, the
session id, the round number and the payload length. A receiver checks all of them, so
a message from another run, another site or another round is an error, not data.
A closed connection or a peer silent for longer than the timeout raises PeerError
naming the peer; the caller aborts the run. Sites are numbered: servers 0, 1, 2 (their
order in the deployment) and the program's parties from 3 on, in the program's order.

The same layer runs over TLS sockets (every deployment, and `veil run`) and over plain
socket pairs (the in-process test harness). Traffic is counted per message kind, so the
protocol's bytes can be compared with the cost report's prediction exactly.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from veil.net.tls import describe

MAGIC = b"VEIL"
VERSION = 2
HEADER = struct.Struct("!4sBBBB16sIQ")
assert HEADER.size == 36  # veil.schedule.HEADER_BYTES
NO_SESSION = bytes(16)
UNKNOWN = 255  # the sender id of a peer not identified yet

# message kinds
HELLO = 1  # first message of a connection: who is calling and for what (JSON)
SESSION = 2  # server ↔ server: a session proposal with a signed key share (JSON)
INPUT = 3  # party → server: its shares of its inputs
ROUND = 4  # server → server: one compute round
OUTPUT = 5  # server → party: one share of its outputs
ABORT = 6  # anyone: stopping, with a reason
DONE = 7  # server → party: finished, with what it measured (JSON)
START = 8  # server → party: the session is agreed and approved; send inputs (JSON)
PROGRESS = 9  # server → party: still working (round k of n), or who is still awaited
ACCEPT = 10  # party → server (verified mode): the output shares checked out

KIND_NAMES = {HELLO: "hello", SESSION: "session", INPUT: "input", ROUND: "round",
              OUTPUT: "output", ABORT: "abort", DONE: "done", START: "start",
              PROGRESS: "progress", ACCEPT: "accept"}  # fmt: skip
MAX_PAYLOAD = 1 << 34
MAX_REASON = 600


def fresh_buffer(size: int) -> memoryview:
    """`size` writable bytes, not zeroed: a message buffer is filled completely right
    after (zeroing it first, as bytearray does, was one more pass over every message)."""
    return memoryview(np.empty(size, dtype=np.uint8))


class PeerError(Exception):
    """A peer closed the connection, went silent, or sent something unexpected;
    `aborted` when the peer said so itself (an ABORT message with its reason)."""

    def __init__(self, message: str, aborted: bool = False) -> None:
        super().__init__(message)
        self.aborted = aborted


def printable(text: str, limit: int = MAX_REASON) -> str:
    """One line of printable characters, cut to `limit` (a peer's text is never echoed raw)."""
    cleaned = "".join(c if c.isprintable() else " " for c in text.replace("\n", " "))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


@dataclass
class Counters:
    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    sent_by_kind: dict[int, list[int]] = field(default_factory=dict)  # kind → [messages, bytes]
    received_by_kind: dict[int, list[int]] = field(default_factory=dict)

    def count(self, sent: bool, kind: int, nbytes: int) -> None:
        table = self.sent_by_kind if sent else self.received_by_kind
        entry = table.setdefault(kind, [0, 0])
        entry[0] += 1
        entry[1] += nbytes
        if sent:
            self.messages_sent += 1
            self.bytes_sent += nbytes
        else:
            self.messages_received += 1
            self.bytes_received += nbytes

    def sent(self, *kinds: int) -> tuple[int, int]:
        """(messages, bytes) sent of these kinds."""
        rows = [self.sent_by_kind.get(k, [0, 0]) for k in kinds]
        return sum(r[0] for r in rows), sum(r[1] for r in rows)

    def received(self, *kinds: int) -> tuple[int, int]:
        rows = [self.received_by_kind.get(k, [0, 0]) for k in kinds]
        return sum(r[0] for r in rows), sum(r[1] for r in rows)


class Channel:
    """One framed, two-way connection between this site and one peer."""

    def __init__(self, sock: socket.socket, me: int, peer: int, session: bytes,
                 peer_name: str, timeout: float):  # fmt: skip
        self.sock = sock
        self.me = me
        self.peer = peer
        self.session = session
        self.peer_name = peer_name
        self.timeout = timeout
        self.counters = Counters()
        self.log: list[tuple[int, int, bytes]] | None = None  # tests: every received message
        self.on_progress: Callable[[bytes], None] | None = None
        self.send_lock = threading.Lock()  # held while a frame is being written
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, kind: int, round_no: int, payload: bytes | memoryview = b"",
             *more: bytes | bytearray | memoryview) -> None:
        """One message whose payload is `payload` followed by the parts `more` (sent as
        they are, never joined into one copy)."""
        parts = [p for p in (payload, *more) if len(p)]
        length = sum(len(p) for p in parts)
        header = HEADER.pack(MAGIC, VERSION, kind, self.me, self.peer, self.session, round_no,
                             length)
        try:
            with self.send_lock:
                self.sock.settimeout(self.timeout)  # a receive may have left a short one
                self.sock.sendall(header)
                for part in parts:
                    self.sock.sendall(part)
        except (OSError, ValueError) as exc:
            raise PeerError(f"cannot send to {self.peer_name}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
        self.counters.count(True, kind, HEADER.size + length)

    def _recv_exact(self, n: int, deadline: float, what: str) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerError(f"{self.peer_name} sent nothing for {self.timeout:g} s "
                                f"(waiting for {what})")
            try:
                self.sock.settimeout(remaining)
                k = self.sock.recv_into(view[got:], n - got)
            except TimeoutError:
                continue
            except ssl.SSLError as exc:
                raise PeerError(f"{self.peer_name} {describe(exc)} (waiting for {what})") \
                    from None
            except (OSError, ValueError) as exc:
                raise PeerError(f"connection to {self.peer_name} failed while waiting for "
                                f"{what}: {getattr(exc, 'strerror', None) or exc}") from None
            if k == 0:
                raise PeerError(f"{self.peer_name} closed the connection (waiting for {what})")
            got += k
        return buf

    def wait_readable(self, seconds: float) -> bool:
        """True when data (or a close) is waiting, False after `seconds` of silence."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], seconds)
        except (OSError, ValueError):
            return True  # closed: the next recv says so
        return bool(readable)

    def recv_any(self, what: str, max_length: int = MAX_PAYLOAD
                 ) -> tuple[int, int, bytearray]:  # fmt: skip
        """The next message of any kind but ABORT (which raises): (kind, round, payload)."""
        deadline = time.monotonic() + self.timeout
        while True:
            header = self._recv_exact(HEADER.size, deadline, what)
            magic, version, kind, sender, receiver, session, round_no, length = \
                HEADER.unpack(header)
            if magic != MAGIC or version != VERSION:
                raise PeerError(f"{self.peer_name} does not speak this protocol version")
            if kind == ABORT:
                try:  # the reason follows at once; do not let a spent deadline hide it
                    raw = self._recv_exact(min(length, 4000), time.monotonic() + 1.0,
                                           "abort reason")
                    reason = printable(bytes(raw).decode("utf-8", "replace"))
                except PeerError:
                    reason = "stopped (no reason given)"
                # a reason reads as the peer's own words: "stopped: …", "refused …"
                raise PeerError(f"{self.peer_name} {reason}", aborted=True)
            if session != self.session:
                raise PeerError(f"{self.peer_name} is in another session")
            if (self.peer != UNKNOWN and sender != self.peer) or receiver != self.me:
                raise PeerError(f"message from site {sender} to {receiver} on the channel of "
                                f"{self.peer_name}")
            if length > max_length:
                raise PeerError(f"{self.peer_name} announced a {length}-byte "
                                f"{KIND_NAMES.get(kind, kind)} message")
            payload = self._recv_exact(length, deadline, what)
            if self.log is not None:
                self.log.append((kind, round_no, bytes(payload)))
            self.counters.count(False, kind, HEADER.size + length)
            if kind == PROGRESS and self.on_progress is not None:
                self.on_progress(bytes(payload))  # a sign of life: wait afresh
                deadline = time.monotonic() + self.timeout
                continue
            return kind, round_no, payload

    def recv(self, kind: int, round_no: int, max_length: int = MAX_PAYLOAD) -> bytearray:
        """The payload of the next message, which must be of this kind and round."""
        what = f"{KIND_NAMES.get(kind, kind)} message of round {round_no}"
        got_kind, got_round, payload = self.recv_any(what, max_length)
        if got_kind != kind or got_round != round_no:
            raise PeerError(f"{self.peer_name} sent a {KIND_NAMES.get(got_kind, got_kind)} "
                            f"message of round {got_round}, expected {what}")
        return payload

    def abort(self, reason: str) -> None:
        """Tell the peer this site is stopping (best effort, never blocking long), then close.

        The reason is what the peer prints after this site's name, e.g. "stopped: s_eu
        closed the connection" or "refused to run program …: no approval from eu_bank"."""
        data = printable(reason).encode("utf-8")
        with contextlib.suppress(OSError, ValueError):
            self.sock.settimeout(1.0)
            if self.send_lock.acquire(timeout=1.0):
                try:
                    self.sock.sendall(HEADER.pack(MAGIC, VERSION, ABORT, self.me, self.peer,
                                                  self.session, 0, len(data)) + data)
                finally:
                    self.send_lock.release()
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.sock.close()


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(64)
    return server


def connect(host: str, port: int, timeout: float, peer_name: str,
            stop: Callable[[], bool] | None = None) -> socket.socket:  # fmt: skip
    """Connect, retrying until the peer listens, the timeout passes or `stop()` is true."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=max(0.1, min(timeout, 10.0)))
        except OSError as exc:
            if time.monotonic() >= deadline or (stop is not None and stop()):
                raise PeerError(f"cannot reach {peer_name} at {host}:{port}: "
                                f"{exc.strerror or exc}") from None
            time.sleep(0.05)


def exchange(send: Callable[[], None], receive: Callable[[], object]) -> object:
    """Send and receive at once, so that large messages cannot deadlock the ring."""
    error: list[BaseException] = []

    def sender() -> None:
        try:
            send()
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        result = receive()
    finally:
        thread.join()
    if error:
        raise error[0]
    return result
