"""veil.backend.duplex: a round message each way on one connection at once, in one
thread per socket. A shuffle's last stage (like a truncation round) has two servers send
to each other in the same round; reading a TLS socket in one thread while another writes
it broke the stream under load (OpenSSL keeps one read/write state per connection), so
rounds never do that."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from veil.backend.duplex import round_trip, send_and_receive
from veil.deploy import keys
from veil.net import tls
from veil.net.transport import PROGRESS, ROUND, Channel, PeerError, listen

SESSION = bytes(range(16))


def tls_pair(tmp_path) -> tuple[socket.socket, socket.socket]:
    paths = {name: keys.keygen(name, tmp_path) for name in ("left", "right")}
    trusted = "".join(paths[n][1].read_text() for n in paths)
    server_ctx = tls.server_context(paths["left"][1], paths["left"][0], trusted)
    client_ctx = tls.client_context(paths["right"][1], paths["right"][0], trusted)
    listener = listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        accepted.append(tls.wrap_server(server_ctx, conn, 10))

    t = threading.Thread(target=accept)
    t.start()
    right = tls.wrap_client(client_ctx, socket.create_connection(listener.getsockname()), 10)
    t.join()
    listener.close()
    return accepted[0], right


@pytest.mark.parametrize("kind", ["tls", "socketpair"])
def test_large_messages_cross_on_one_connection(kind: str, tmp_path) -> None:
    a, b = tls_pair(tmp_path) if kind == "tls" else socket.socketpair()
    left = Channel(a, 0, 1, SESSION, "right", timeout=30)
    right = Channel(b, 1, 0, SESSION, "left", timeout=30)
    results: dict[str, bytes] = {}
    for round_no, size in enumerate((0, 1, 70_000, 9_000_000, 3, 9_000_001), start=1):
        mine, theirs = os.urandom(size), os.urandom(size + 5)

        def other(round_no=round_no, theirs=theirs) -> None:
            results["right"] = bytes(send_and_receive(right, round_no, theirs))

        t = threading.Thread(target=other)
        t.start()
        results["left"] = bytes(round_trip(round_no, [(left, mine, True)])[0] or b"")
        t.join()
        assert results["left"] == theirs and results["right"] == mine, size
        left.send(ROUND, 100 + round_no, b"after")  # the stream is intact afterwards
        assert bytes(right.recv(ROUND, 100 + round_no)) == b"after"
    assert left.counters.sent(ROUND) == right.counters.received(ROUND)
    left.close()
    right.close()


def test_a_peer_that_never_answers_times_out_while_sending(tmp_path) -> None:
    a, b = socket.socketpair()
    left = Channel(a, 0, 1, SESSION, "right", timeout=0.5)
    with pytest.raises(PeerError, match="sent nothing"):
        send_and_receive(left, 1, os.urandom(20_000_000))  # b never reads nor writes
    a.close()
    b.close()


def test_one_thread_serves_both_neighbours_and_passes_progress_on() -> None:
    """A round with a send-only and a receive-only channel, as a product round has, in
    the caller's thread; a PROGRESS message before the round message is passed on."""
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    to_next = Channel(a, 0, 1, SESSION, "next", timeout=5)
    next_end = Channel(b, 1, 0, SESSION, "s0", timeout=5)
    from_prev = Channel(c, 0, 2, SESSION, "prev", timeout=5)
    prev_end = Channel(d, 2, 0, SESSION, "s0", timeout=5)
    seen: list[bytes] = []
    from_prev.on_progress = seen.append
    prev_end.send(PROGRESS, 0, b"still here")
    prev_end.send(ROUND, 7, b"from prev")
    got = round_trip(7, [(to_next, b"to next", False), (from_prev, None, True)])
    assert got == [None, bytearray(b"from prev")]
    assert seen == [b"still here"]
    assert bytes(next_end.recv(ROUND, 7)) == b"to next"
    assert to_next.counters.sent(ROUND) == next_end.counters.received(ROUND)
    for s in (a, b, c, d):
        s.close()


def test_an_abort_in_a_round_stops_it_with_the_peers_reason() -> None:
    a, b = socket.socketpair()
    left = Channel(a, 0, 1, SESSION, "right", timeout=5)
    right = Channel(b, 1, 0, SESSION, "left", timeout=5)
    right.abort("stopped: \x1b[31mred\x1b[0m")
    with pytest.raises(PeerError, match="right stopped") as caught:
        round_trip(3, [(left, None, True)])
    assert caught.value.aborted and "\x1b" not in str(caught.value)
    a.close()


def test_a_round_message_of_another_round_is_refused() -> None:
    a, b = socket.socketpair()
    left = Channel(a, 0, 1, SESSION, "right", timeout=5)
    right = Channel(b, 1, 0, SESSION, "left", timeout=5)
    right.send(ROUND, 4, b"early")
    with pytest.raises(PeerError, match="of round 4, expected round message of round 3"):
        round_trip(3, [(left, b"x", True)])
    a.close()
    b.close()
