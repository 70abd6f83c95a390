"""One compute round's messages with the two neighbouring servers, each socket driven by
exactly one thread.

A truncation round sends to both neighbours and hears from both (veil.backend.rep3), so
a connection carries a message each way at the same time. Two threads must never use
one connection at once (an SSL connection does not allow it: concurrent reads and
writes corrupt it), and a server that first sends everything and only then reads can
deadlock with a peer doing the same once messages outgrow the socket buffers. So a
connection that carries both directions in a round is served by one thread that
interleaves non-blocking writes and reads until both messages are through; the frame
is the transport's (veil.net.transport: same header, same checks, same counters).
"""

from __future__ import annotations

import select
import ssl
import threading
import time

from veil.net.transport import (
    ABORT,
    HEADER,
    KIND_NAMES,
    MAGIC,
    MAX_PAYLOAD,
    ROUND,
    UNKNOWN,
    VERSION,
    Channel,
    PeerError,
    printable,
)

CHUNK = 1 << 18
WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


def _checked_length(ch: Channel, header: bytes, number: int) -> tuple[int, bool]:
    """The payload length of a received header; (length, True) for an ABORT."""
    magic, version, kind, sender, receiver, session, round_no, length = HEADER.unpack(header)
    if magic != MAGIC or version != VERSION:
        raise PeerError(f"{ch.peer_name} does not speak this protocol version")
    if kind == ABORT:
        return min(length, 4000), True
    if session != ch.session:
        raise PeerError(f"{ch.peer_name} is in another session")
    if (ch.peer != UNKNOWN and sender != ch.peer) or receiver != ch.me:
        raise PeerError(f"message from site {sender} to {receiver} on the channel of "
                        f"{ch.peer_name}")
    if kind != ROUND or round_no != number:
        raise PeerError(f"{ch.peer_name} sent a {KIND_NAMES.get(kind, kind)} message of round "
                        f"{round_no}, expected round message of round {number}")
    if length > MAX_PAYLOAD:
        raise PeerError(f"{ch.peer_name} announced a {length}-byte round message")
    return length, False


def send_and_receive(ch: Channel, number: int, payload: bytes) -> bytearray:
    """Send one round message on `ch` and receive the peer's, at the same time, from this
    thread only. Silence for the channel's timeout raises PeerError, as a receive does."""
    out = memoryview(HEADER.pack(MAGIC, VERSION, ROUND, ch.me, ch.peer, ch.session, number,
                                 len(payload)) + payload)
    sock = ch.sock
    header = bytearray(HEADER.size)
    body: bytearray | None = None
    aborted = False
    sent = got_header = got = 0
    what = f"round message of round {number}"
    deadline = time.monotonic() + ch.timeout
    sock.setblocking(False)
    try:
        while sent < len(out) or body is None or got < len(body):
            progressed = False
            if sent < len(out):
                try:
                    written = sock.send(out[sent:sent + CHUNK])
                except WOULD_BLOCK:
                    written = 0
                except (OSError, ValueError) as exc:
                    raise PeerError(f"cannot send to {ch.peer_name}: "
                                    f"{getattr(exc, 'strerror', None) or exc}") from None
                sent += written
                progressed = written > 0
            if body is None or got < len(body):
                target = memoryview(header)[got_header:] if body is None else \
                    memoryview(body)[got:]
                try:
                    k = sock.recv_into(target, len(target)) if len(target) else 0
                except WOULD_BLOCK:
                    k = -1
                except (OSError, ValueError) as exc:
                    raise PeerError(f"connection to {ch.peer_name} failed while waiting for "
                                    f"{what}: {getattr(exc, 'strerror', None) or exc}") from None
                if k == 0 and len(target):
                    raise PeerError(f"{ch.peer_name} closed the connection (waiting for {what})")
                if k > 0:
                    progressed = True
                    if body is None:
                        got_header += k
                    else:
                        got += k
                if body is None and got_header == HEADER.size:
                    length, aborted = _checked_length(ch, bytes(header), number)
                    body = bytearray(length)
                    progressed = True
            if progressed:
                deadline = time.monotonic() + ch.timeout
                continue
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerError(f"{ch.peer_name} sent nothing for {ch.timeout:g} s "
                                f"(waiting for {what})")
            select.select([sock], [sock] if sent < len(out) else [], [], min(remaining, 1.0))
    finally:
        try:
            sock.setblocking(True)
            sock.settimeout(ch.timeout)
        except (OSError, ValueError):
            pass
    assert body is not None
    if aborted:
        reason = printable(bytes(body).decode("utf-8", "replace"))
        raise PeerError(f"{ch.peer_name} {reason}", aborted=True)
    ch.counters.count(True, ROUND, len(out))
    ch.counters.count(False, ROUND, HEADER.size + len(body))
    if ch.log is not None:
        ch.log.append((ROUND, number, bytes(body)))
    return body


def round_trip(number: int, plan: list[tuple[Channel, bytes | None, bool]]
               ) -> list[bytearray | None]:  # fmt: skip
    """Each (channel, payload to send or None, whether a message is expected) on its own
    thread (the first on the caller's): one thread per connection, all at once."""
    results: list[bytearray | None] = [None] * len(plan)
    errors: list[BaseException] = []

    def serve(k: int) -> None:
        ch, payload, expect = plan[k]
        try:
            if payload is not None and expect:
                results[k] = send_and_receive(ch, number, payload)
            elif payload is not None:
                ch.send(ROUND, number, payload)
            elif expect:
                results[k] = ch.recv(ROUND, number)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(k,), daemon=True)
               for k in range(1, len(plan))]
    for t in threads:
        t.start()
    serve(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results

