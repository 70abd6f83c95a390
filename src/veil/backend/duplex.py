"""One compute round's messages with the neighbouring servers, every socket driven by the
calling thread alone.

A round sends to one or both neighbours and hears from one or both (a truncation round
sends to both and hears from both, veil.backend.rep3), so a connection may carry a
message each way at the same time. Two threads must never use one connection at once (an
SSL connection does not allow it: concurrent reads and writes corrupt it), and a server
that first sends everything and only then reads can deadlock with a peer doing the same
once messages outgrow the socket buffers. So the caller's thread interleaves
non-blocking writes and reads on all the round's connections until every message is
through (no thread per round: starting one cost 1 to 3 ms a round on a busy machine,
a third of an AES round's time); the frame is the transport's (veil.net.transport: same
header, same checks, same counters).
"""

from __future__ import annotations

import contextlib
import select
import ssl
import time

from veil.net.tls import describe
from veil.net.transport import (
    ABORT,
    HEADER,
    KIND_NAMES,
    MAGIC,
    MAX_PAYLOAD,
    PROGRESS,
    ROUND,
    UNKNOWN,
    VERSION,
    Channel,
    PeerError,
    fresh_buffer,
    printable,
)

CHUNK = 1 << 18
WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


def _checked(ch: Channel, header: bytes, number: int) -> tuple[int, int]:
    """(kind, payload length) of a received header: a round message of this round, a
    PROGRESS message (read and passed on, as Channel.recv does) or an ABORT."""
    magic, version, kind, sender, receiver, session, round_no, length = HEADER.unpack(header)
    if magic != MAGIC or version != VERSION:
        raise PeerError(f"{ch.peer_name} does not speak this protocol version")
    if kind == ABORT:
        return kind, min(length, 4000)
    if session != ch.session:
        raise PeerError(f"{ch.peer_name} is in another session")
    if (ch.peer != UNKNOWN and sender != ch.peer) or receiver != ch.me:
        raise PeerError(f"message from site {sender} to {receiver} on the channel of "
                        f"{ch.peer_name}")
    if kind != PROGRESS and (kind != ROUND or round_no != number):
        raise PeerError(f"{ch.peer_name} sent a {KIND_NAMES.get(kind, kind)} message of round "
                        f"{round_no}, expected round message of round {number}")
    if length > MAX_PAYLOAD:
        raise PeerError(f"{ch.peer_name} announced a {length}-byte "
                        f"{KIND_NAMES.get(kind, kind)} message")
    return kind, length


class _Leg:
    """One connection's part of a round: a message to send, one to receive, or both."""

    def __init__(self, ch: Channel, number: int, payload: bytes | None, expect: bool) -> None:
        self.ch = ch
        self.number = number
        # the header and the payload go out one after the other: joining them would copy
        # every message once more
        self.out = [] if payload is None else [
            memoryview(HEADER.pack(MAGIC, VERSION, ROUND, ch.me, ch.peer, ch.session, number,
                                   len(payload))), memoryview(payload)]
        self.total = sum(len(part) for part in self.out)
        self.sent = 0
        self.expect = expect
        self.what = f"round message of round {number}"
        self._new_message()
        self.result: bytearray | None = None
        self.deadline = time.monotonic() + ch.timeout

    def _new_message(self) -> None:
        self.header = bytearray(HEADER.size)
        self.got_header = 0
        self.kind = 0
        self.body: memoryview | None = None
        self.got = 0

    def writing(self) -> bool:
        return self.sent < self.total

    def _unsent(self) -> memoryview:
        """The next at most CHUNK bytes not yet written."""
        at = self.sent
        for part in self.out:
            if at < len(part):
                return part[at:at + CHUNK]
            at -= len(part)
        return memoryview(b"")

    def reading(self) -> bool:
        return self.expect and self.result is None

    def busy(self) -> bool:
        return self.writing() or self.reading()

    def step(self) -> bool:
        """Write and read what the socket takes now, without blocking; True on progress."""
        progressed = False
        ch = self.ch
        if self.writing():
            try:
                written = ch.sock.send(self._unsent())
            except WOULD_BLOCK:
                written = 0
            except (OSError, ValueError) as exc:
                raise PeerError(f"cannot send to {ch.peer_name}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
            self.sent += written
            progressed = written > 0
            if not self.writing():
                ch.counters.count(True, ROUND, self.total)
        while self.reading():
            target = memoryview(self.header)[self.got_header:] if self.body is None else \
                memoryview(self.body)[self.got:]
            k = 0
            if len(target):
                try:
                    k = ch.sock.recv_into(target, len(target))
                except WOULD_BLOCK:
                    break
                except ssl.SSLError as exc:
                    raise PeerError(f"{ch.peer_name} {describe(exc)} (waiting for "
                                    f"{self.what})") from None
                except (OSError, ValueError) as exc:
                    raise PeerError(f"connection to {ch.peer_name} failed while waiting "
                                    f"for {self.what}: "
                                    f"{getattr(exc, 'strerror', None) or exc}") from None
                if k == 0:
                    raise PeerError(f"{ch.peer_name} closed the connection (waiting for "
                                    f"{self.what})")
                progressed = True
            if self.body is None:
                self.got_header += k
                if self.got_header < HEADER.size:
                    continue
                self.kind, length = _checked(ch, bytes(self.header), self.number)
                self.body = fresh_buffer(length)  # recv_into fills all of it
                progressed = True
            else:
                self.got += k
            if self.got == len(self.body):
                self._received()
        if progressed:
            self.deadline = time.monotonic() + ch.timeout
        return progressed

    def _received(self) -> None:
        ch, body = self.ch, self.body
        assert body is not None
        if self.kind == ABORT:
            reason = printable(bytes(body).decode("utf-8", "replace"))
            raise PeerError(f"{ch.peer_name} {reason}", aborted=True)
        ch.counters.count(False, self.kind, HEADER.size + len(body))
        if ch.log is not None:
            ch.log.append((self.kind, self.number, bytes(body)))
        if self.kind == PROGRESS:  # a sign of life, as Channel.recv takes it
            if ch.on_progress is not None:
                ch.on_progress(bytes(body))
            self._new_message()
            return
        self.result = body

    def pending(self) -> bool:
        sock = self.ch.sock
        return self.reading() and isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def round_trip(number: int, plan: list[tuple[Channel, bytes | None, bool]]
               ) -> list[bytearray | None]:  # fmt: skip
    """Send and receive one round's messages: each (channel, payload to send or None,
    whether a message is expected), all at once from this thread. Silence on a channel
    for its timeout raises PeerError, as a receive does; so does an ABORT from a peer."""
    legs = [_Leg(ch, number, payload, expect) for ch, payload, expect in plan]
    locked = [leg.ch for leg in legs if leg.writing()]
    for ch in locked:  # Channel.abort from another thread waits for the frame to finish
        ch.send_lock.acquire()
    try:
        for leg in legs:
            leg.ch.sock.setblocking(False)
        while True:
            busy = [leg for leg in legs if leg.busy()]
            if not busy:
                break
            progressed = False
            for leg in busy:
                progressed = leg.step() or progressed
            if progressed or any(leg.pending() for leg in busy):
                continue
            now = time.monotonic()
            late = min(busy, key=lambda leg: leg.deadline)
            if late.deadline <= now:
                raise PeerError(f"{late.ch.peer_name} sent nothing for {late.ch.timeout:g} s "
                                f"(waiting for {late.what})")
            with contextlib.suppress(OSError, ValueError):  # closed: the next step says so
                select.select([leg.ch.sock for leg in busy if leg.reading()],
                              [leg.ch.sock for leg in busy if leg.writing()], [],
                              min(late.deadline - now, 1.0))
    finally:
        for leg in legs:
            try:
                leg.ch.sock.setblocking(True)
                leg.ch.sock.settimeout(leg.ch.timeout)
            except (OSError, ValueError):
                pass
        for ch in locked:
            ch.send_lock.release()
    return [leg.result for leg in legs]


def send_and_receive(ch: Channel, number: int, payload: bytes) -> bytearray:
    """Send one round message on `ch` and receive the peer's, at the same time."""
    got = round_trip(number, [(ch, payload, True)])[0]
    assert got is not None
    return got
