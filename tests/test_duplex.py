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
from veil.net.transport import ROUND, Channel, PeerError, listen

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
