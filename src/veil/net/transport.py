"""The message layer: framed messages between parties over TCP, with clear failures.

Every message carries a fixed header: magic, version, kind, sender, receiver, the
session id, the round number and the payload length. A receiver checks all of them, so
a message from another run, another party or another round is an error, not data.
A closed connection or a peer silent for longer than the timeout raises PeerError
naming the peer; the caller aborts the run. The same layer serves the local runner
(TCP on localhost) and a multi-host deployment (where the sockets are wrapped in TLS).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAGIC = b"VEIL"
VERSION = 1
HEADER = struct.Struct("!4sBBBB16sIQ")
assert HEADER.size == 36  # veil.schedule.HEADER_BYTES

# message kinds
HELLO = 1
KEY = 2
INPUT = 3
ROUND = 4
OUTPUT = 5
ABORT = 6
DONE = 7

KIND_NAMES = {HELLO: "hello", KEY: "key", INPUT: "input", ROUND: "round", OUTPUT: "output",
              ABORT: "abort", DONE: "done"}  # fmt: skip
MAX_PAYLOAD = 1 << 34


class PeerError(Exception):
    """A peer closed the connection, went silent, or sent something unexpected."""


@dataclass
class Counters:
    messages_sent: int = 0
    bytes_sent: int = 0
    messages_received: int = 0
    bytes_received: int = 0


class Channel:
    """One framed, two-way connection between this party and one peer."""

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
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, kind: int, round_no: int, payload: bytes | memoryview = b"") -> None:
        header = HEADER.pack(MAGIC, VERSION, kind, self.me, self.peer, self.session, round_no,
                             len(payload))
        try:
            self.sock.sendall(header)
            if len(payload):
                self.sock.sendall(payload)
        except OSError as exc:
            raise PeerError(f"cannot send to {self.peer_name}: {exc.strerror or exc}") from None
        self.counters.messages_sent += 1
        self.counters.bytes_sent += HEADER.size + len(payload)

    def _recv_exact(self, n: int, deadline: float, what: str) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerError(f"{self.peer_name} sent nothing for {self.timeout:g} s "
                                f"(waiting for {what})")
            self.sock.settimeout(remaining)
            try:
                k = self.sock.recv_into(view[got:], n - got)
            except TimeoutError:
                continue
            except OSError as exc:
                raise PeerError(f"connection to {self.peer_name} failed while waiting for "
                                f"{what}: {exc.strerror or exc}") from None
            if k == 0:
                raise PeerError(f"{self.peer_name} closed the connection (waiting for {what})")
            got += k
        return buf

    def wait_readable(self, seconds: float) -> bool:
        """True when data (or a close) is waiting, False after `seconds` of silence."""
        import select

        readable, _, _ = select.select([self.sock], [], [], seconds)
        return bool(readable)

    def recv(self, kind: int, round_no: int) -> bytearray:
        """The payload of the next message, which must be of this kind and round."""
        what = f"{KIND_NAMES.get(kind, kind)} message of round {round_no}"
        deadline = time.monotonic() + self.timeout
        header = self._recv_exact(HEADER.size, deadline, what)
        magic, version, got_kind, sender, receiver, session, got_round, length = \
            HEADER.unpack(header)
        if magic != MAGIC or version != VERSION:
            raise PeerError(f"{self.peer_name} does not speak this protocol version")
        if got_kind == ABORT:
            try:  # the reason follows at once; do not let a spent deadline hide it
                reason = bytes(self._recv_exact(min(length, 4000), time.monotonic() + 1.0,
                                                "abort reason")).decode("utf-8", "replace")
            except PeerError:
                reason = "no reason given"
            raise PeerError(f"{self.peer_name} aborted: {reason}")
        if session != self.session:
            raise PeerError(f"{self.peer_name} is in another session")
        if sender != self.peer or receiver != self.me:
            raise PeerError(f"message from party {sender} to {receiver} on the channel of "
                            f"{self.peer_name}")
        if got_kind != kind or got_round != round_no:
            raise PeerError(f"{self.peer_name} sent a {KIND_NAMES.get(got_kind, got_kind)} "
                            f"message of round {got_round}, expected {what}")
        if length > MAX_PAYLOAD:
            raise PeerError(f"{self.peer_name} announced a {length}-byte message")
        payload = self._recv_exact(length, deadline, what)
        if self.log is not None:
            self.log.append((got_kind, got_round, bytes(payload)))
        self.counters.messages_received += 1
        self.counters.bytes_received += HEADER.size + length
        return payload

    def abort(self, reason: str) -> None:
        """Tell the peer this party is stopping (best effort), then close."""
        data = reason.encode("utf-8")[:4000]
        with contextlib.suppress(OSError):
            self.sock.sendall(HEADER.pack(MAGIC, VERSION, ABORT, self.me, self.peer,
                                          self.session, 0, len(data)) + data)
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(16)
    return server


def connect(host: str, port: int, timeout: float, peer_name: str) -> socket.socket:
    """Connect, retrying until the peer listens or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=max(0.1, timeout))
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise PeerError(f"cannot reach {peer_name} at {host}:{port}: "
                                f"{exc.strerror or exc}") from None
            time.sleep(0.05)


IDENT = struct.Struct("!4sB16s")


def introduce(sock: socket.socket, me: int, session: bytes) -> None:
    """First bytes on a new connection: who is calling, in which session."""
    sock.sendall(IDENT.pack(MAGIC, me, session))


def identify(sock: socket.socket, session: bytes, timeout: float) -> int:
    """Read the caller's introduction on an accepted connection; its party id."""
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < IDENT.size:
            chunk = sock.recv(IDENT.size - len(data))
            if not chunk:
                raise PeerError("a connection closed before introducing itself")
            data += chunk
    except TimeoutError:
        raise PeerError("a connection did not introduce itself in time") from None
    magic, who, got_session = IDENT.unpack(data)
    if magic != MAGIC or got_session != session:
        raise PeerError("a connection from another session or program was refused")
    return who


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
