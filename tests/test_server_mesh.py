"""The servers' agreement on a session (veil.runtime.server): a peer that has agreed
starts the session at once, and in the verified mode its first preprocessing message
may reach a server that is still waiting for the third server's proposal. That message
must be left for the session, not read as a bad proposal (which dropped the peer and
stalled the run until its timeout, about one run in thirty)."""

from __future__ import annotations

from veil.net.transport import ROUND, SESSION
from veil.runtime.server import Cycle, Server


class _Peer:
    """A mesh channel with one message waiting."""

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.read = False
        self.closed = False

    def wait_readable(self, timeout: float) -> bool:
        return not self.read

    def recv_any(self, what: str, max_length: int):
        self.read = True
        return self.kind, 0, b"not a proposal"

    def close(self) -> None:
        self.closed = True


def _server() -> Server:
    server = Server.__new__(Server)  # only read_mesh's state is needed
    server.said = []
    server.say = server.said.append
    return server


class _Deployment:
    def __init__(self) -> None:
        self.servers = [type("Site", (), {"name": f"server{i}"})() for i in range(3)]


class _Config:
    def __init__(self) -> None:
        self.deployment = _Deployment()


def test_a_round_message_after_a_matching_proposal_waits_for_the_session() -> None:
    terms = object()
    peer = _Peer(ROUND)
    cy = Cycle(mesh={1: peer}, props={1: {terms: "proposal"}, 2: {}},
               mine={terms: ("ours", None, 0.0)})
    _server().read_mesh(cy)
    assert not peer.read and not peer.closed
    assert cy.props[1] == {terms: "proposal"} and cy.mesh[1] is peer


def test_a_peer_that_has_not_proposed_what_we_propose_is_still_read() -> None:
    ours, theirs = object(), object()
    peer = _Peer(SESSION)
    cy = Cycle(mesh={1: peer}, props={1: {theirs: "proposal"}, 2: {}},
               mine={ours: ("ours", None, 0.0)})
    server = _server()
    server.cfg = _Config()
    server.read_mesh(cy)
    assert peer.read  # its (malformed) proposal was read and the peer dropped
    assert 1 not in cy.mesh and server.said
