"""One compute server of a deployment (`veil server`), long-running.

Between sessions a server keeps a TLS connection to each of the two other servers (the
mesh; a server dials the servers before it in the deployment and accepts the ones
after it) and collects parties as they connect, grouped by the terms they ask for
(program fingerprint, params, deployment digest, security mode). A group is complete
when every input owner and result receiver of its program is connected. Then:

1. the servers exchange signed proposals (terms, each party's nonce, the approvals each
   holds, an X25519 key share). Server 0 decides which complete group runs; the others
   follow it (they propose eagerly, and switch if server 0 proposes other terms);
2. each server checks that all three proposals agree and that the approvals (from its
   directory, carried by the parties, relayed by the other servers) include a valid one
   from every party of the program and every server operator for exactly these terms;
   if not, it refuses, naming whose approval is missing or invalid, before any input
   share exists;
3. the session id and the pairwise PRG keys follow from the proposals; each party gets
   START, sends its input shares, and the protocol runs (veil.runtime.session);
4. everything is recorded in the audit log; all connections of the session are closed.

Parties asking for different programs while one is required by the other's program are
refused at once (the parties do not run the same program). A failure anywhere aborts
every site of the session with a reason, and nothing is revealed.
"""

from __future__ import annotations

import contextlib
import json
import queue
import select
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from veil.deploy import keys
from veil.deploy.approvals import Approval, check_complete, load_dir
from veil.deploy.audit import AuditLog
from veil.deploy.deployment import Deployment
from veil.diagnostics import VeilError
from veil.ir.nodes import Circuit
from veil.ir.serialize import loads
from veil.net import tls
from veil.net.transport import (
    PROGRESS,
    SESSION,
    START,
    Channel,
    PeerError,
    listen,
    printable,
)
from veil.runtime.handshake import (
    MAX_HELLO,
    BadMessage,
    KeyShare,
    PartyHello,
    Proposal,
    ServerHello,
    Terms,
    encode_start,
    session_id,
    sign_proposal,
)
from veil.runtime.lobby import Arrival, Lobby
from veil.runtime.session import Fault, serve_session
from veil.runtime.sharing import owners_of, receivers_of, site_ids
from veil.schedule import schedule

NOTICE_SECONDS = 2.0


@dataclass
class ServerConfig:
    name: str
    deployment: Deployment
    key_path: Path
    approvals_dir: Path | None = None
    audit_path: Path | None = None
    timeout: float = 30.0  # a silent peer is tolerated this long during a session
    session_wait: float = 600.0  # how long connected parties wait for the others
    once: bool = False
    bind: tuple[str, int] | None = None  # default: the deployment's host and port
    listener: socket.socket | None = None  # already bound (the local launcher)
    fault: Fault | None = None  # tests only; not reachable from the command line
    circuits: dict[str, Circuit] = field(default_factory=dict)  # by fingerprint, already
    # loaded (the local launcher's own compile); a hello's circuit is still hash-checked
    heartbeat: float = 1.0
    security: str | None = None  # run only sessions of this mode (None: what is approved)
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr,
                                                                  flush=True))


@dataclass
class Group:
    """Parties that asked for the same terms, waiting for the rest of their program."""

    terms: Terms
    circuit: Circuit
    required: set[str]
    parties: dict[str, Arrival] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)
    last_notice: float = 0.0

    def missing(self) -> list[str]:
        return sorted(self.required - set(self.parties))


@dataclass
class Cycle:
    """The state of one cycle: the mesh, the proposals sent and received, the leader's
    choice. Proposals belong to connections: when a peer's connection is replaced, what
    it proposed is forgotten and ours are sent again on the new one."""

    mesh: dict[int, Channel] = field(default_factory=dict)
    props: dict[int, dict[Terms, Proposal]] = field(default_factory=dict)
    mine: dict[Terms, tuple[Proposal, KeyShare, float]] = field(default_factory=dict)
    leader: Terms | None = None


class CycleEnd(Exception):
    """The current cycle cannot go on (a peer aborted); `outcome` says how it ended."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class Server:
    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        dep = cfg.deployment
        self.me = dep.server_index(cfg.name)
        self.site = dep.servers[self.me]
        self.key = keys.load_private_key(cfg.key_path)
        if not keys.matches(self.key, self.site.certificate):
            raise keys.key_error(f"{cfg.key_path} is not the key of {cfg.name}: it does not "
                                 f"match the certificate pinned for {cfg.name} in {dep.path}")
        self.peers = [j for j in range(3) if j != self.me]
        self.audit_log = AuditLog(cfg.audit_path, cfg.name, self.key) if cfg.audit_path else None
        trusted = dep.trusted_pem()
        self.server_ctx = tls.server_context(self.site.certificate_path, cfg.key_path, trusted)
        self.client_ctx = tls.client_context(self.site.certificate_path, cfg.key_path, trusted)
        self.groups: dict[Terms, Group] = {}
        self.circuits: dict[str, Circuit] = dict(cfg.circuits)

    # ------------------------------------------------------------ helpers

    def say(self, text: str) -> None:
        self.cfg.log(f"[{self.cfg.name}] {text}")

    def audit(self, event: str, fields: dict) -> None:
        if self.audit_log is not None:
            self.audit_log.append(event, fields)

    def refused_connection(self, where: str, reason: str) -> None:
        reason = printable(reason)
        self.say(f"refused a connection from {where}: {reason}")
        self.audit("connection_refused", {"from": where, "reason": reason})

    def circuit_for(self, hello: PartyHello) -> Circuit:
        fp = hello.terms.fingerprint
        if fp in self.circuits:
            hello.circuit_text()  # what the party sent must still be what it claims
        else:
            text = hello.circuit_text()  # checked against the fingerprint
            try:
                circuit = loads(text)
                schedule(circuit)  # a verified circuit with an unchecked step is refused here
            except (ValueError, KeyError, TypeError) as exc:
                raise BadMessage(f"the circuit does not load: {exc}") from None
            if len(self.circuits) >= 8:
                self.circuits.pop(next(iter(self.circuits)))
            self.circuits[fp] = circuit
        return self.circuits[fp]

    def approvals_from_dir(self) -> list[Approval]:
        if self.cfg.approvals_dir is None:
            return []
        try:
            return load_dir(self.cfg.approvals_dir)
        except VeilError as exc:
            self.say(f"approvals directory: {exc.diagnostics[0].message}")
            return []

    # ------------------------------------------------------------ serving

    def serve(self) -> int:
        """Serve sessions until stopped (or one with `once`); exit status for the CLI."""
        dep = self.cfg.deployment
        listener = self.cfg.listener
        if listener is None:
            host, port = self.cfg.bind or (self.site.host, self.site.port)
            assert host is not None and port is not None
            try:
                listener = listen(host, port)
            except OSError as exc:
                raise keys.key_error(f"{self.cfg.name} cannot listen on {host}:{port}: "
                                     f"{exc.strerror or exc}") from None
        addr = listener.getsockname()
        self.say(f"listening on {addr[0]}:{addr[1]} as server {self.me} of "
                 f"{', '.join(s.name for s in dep.servers)} (deployment {dep.digest[:16]}…)")
        self.audit("server_start", {"deployment": dep.digest,
                                    "certificate": self.site.certificate_sha256})
        lobby = Lobby(self.me, dep, listener, self.server_ctx, self.client_ctx,
                      self.cfg.timeout, self.refused_connection)
        lobby.start()
        try:
            while True:
                outcome = self.cycle(lobby)
                if self.cfg.once:
                    return 0 if outcome == "done" else 1
        finally:
            lobby.close()
            for group in self.groups.values():
                for arrival in group.parties.values():
                    arrival.channel.abort("stopped: the server is shutting down")

    def cycle(self, lobby: Lobby) -> str:
        cy = Cycle(props={j: {} for j in self.peers})
        try:
            while True:
                for j in self.peers:
                    if j < self.me and j not in cy.mesh and not lobby.dialing(j):
                        lobby.dial(j)
                self.wait(lobby, cy.mesh)
                self.take_arrivals(lobby, cy)
                self.read_mesh(cy)
                self.poll_parties(cy)
                self.expire(cy)
                if len(cy.mesh) < 2:
                    continue
                terms = self.choose(cy.leader)
                if terms is not None and terms not in cy.mine:
                    self.propose(terms, cy)
                for terms in list(cy.mine):
                    if all(terms in cy.props[j] for j in self.peers):
                        return self.agree_and_run(terms, cy)
        except CycleEnd as end:
            return end.outcome
        finally:
            for ch in cy.mesh.values():
                ch.close()

    def wait(self, lobby: Lobby, mesh: dict[int, Channel]) -> None:
        """Sleep until an arrival is queued or a connection of ours has something to say
        (at most half a second, for the timers)."""
        watched = [lobby.wakeup, *(ch.sock for ch in mesh.values()),
                   *(a.channel.sock for g in self.groups.values() for a in g.parties.values())]
        if any(isinstance(s, ssl.SSLSocket) and s.pending() for s in watched[1:]):
            return
        with contextlib.suppress(OSError, ValueError):
            select.select(watched, [], [], 0.5)
        lobby.drain_wakeups()

    def take_arrivals(self, lobby: Lobby, cy: Cycle) -> None:
        try:
            arrival = lobby.arrivals.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(arrival.hello, ServerHello):
                self.add_peer(lobby, arrival, cy)
            else:
                self.add_party(arrival, cy)
            try:
                arrival = lobby.arrivals.get_nowait()
            except queue.Empty:
                return

    def add_peer(self, lobby: Lobby, arrival: Arrival, cy: Cycle) -> None:
        j = self.cfg.deployment.server_index(arrival.site.name)
        if j < self.me:
            lobby.dialed(j)
        hello = arrival.hello
        assert isinstance(hello, ServerHello)
        if hello.deployment != self.cfg.deployment.digest:
            self.say(f"{hello.name} uses another deployment file (digest "
                     f"{hello.deployment[:16]}…, here {self.cfg.deployment.digest[:16]}…)")
            arrival.channel.close()
            return
        self.drop_peer(cy, j)
        cy.mesh[j] = arrival.channel
        for prop, _, _ in cy.mine.values():  # what we proposed went with the old connection
            with contextlib.suppress(PeerError):
                arrival.channel.send(SESSION, 0, prop.encode())

    def drop_peer(self, cy: Cycle, j: int) -> None:
        old = cy.mesh.pop(j, None)
        if old is not None:
            old.close()
        cy.props[j].clear()

    def add_party(self, arrival: Arrival, cy: Cycle) -> None:
        hello = arrival.hello
        assert isinstance(hello, PartyHello)
        name, ch = hello.name, arrival.channel
        if hello.terms.deployment != self.cfg.deployment.digest:
            ch.abort(f"refused: you use another deployment file (digest "
                     f"{hello.terms.deployment[:16]}…, the servers' is "
                     f"{self.cfg.deployment.digest[:16]}…)")
            return
        try:
            circuit = self.circuit_for(hello)
        except BadMessage as exc:
            ch.abort(f"refused your hello: {exc}")
            return
        if name not in circuit.parties:
            ch.abort(f"refused: {name} is not a party of program "
                     f"{hello.terms.fingerprint[:16]}…")
            return
        if hello.terms.security != circuit.security:
            ch.abort(f"refused: you ask for security `{hello.terms.security}`, but program "
                     f"{hello.terms.fingerprint[:16]}… is built for `{circuit.security}`")
            return
        if self.cfg.security is not None and circuit.security != self.cfg.security:
            ch.abort(f"refused: {self.cfg.name} runs only `{self.cfg.security}` sessions; "
                     f"program {hello.terms.fingerprint[:16]}… is `{circuit.security}`")
            return
        required = set(owners_of(circuit)) | set(receivers_of(circuit))
        if name not in required:
            ch.abort(f"refused: {name} has no input and no output in this program; "
                     f"there is nothing for it to do (its approval is still required)")
            return
        group = self.groups.get(hello.terms)
        if group is None:
            group = self.groups[hello.terms] = Group(hello.terms, circuit, required)
        previous = group.parties.pop(name, None)
        if previous is not None:
            previous.channel.abort(f"stopped: {name} connected again; this "
                                   f"connection is replaced")
        ch.peer = site_ids(circuit)[name]
        group.parties[name] = arrival
        self.say(f"{name} connected for program {hello.terms.fingerprint[:16]}… "
                 f"(certificate {arrival.site.certificate_sha256[:16]}…)")
        self.find_conflicts(cy)

    def find_conflicts(self, cy: Cycle) -> None:
        """Refuse groups whose parties are all connected but not all for the same terms:
        the parties are not running the same program (or params), so none of it can
        start. Decided once everyone needed is here, so every party hears why."""
        where = {name: g for g in self.groups.values() for name in g.parties}
        for group in list(self.groups.values()):
            if group.terms not in self.groups or any(n not in where for n in group.required):
                continue
            involved = {id(where[n]): where[n] for n in group.required}
            if len(involved) == 1:
                continue
            stories = "; ".join(
                f"{', '.join(sorted(g.parties))} submitted program {g.terms.fingerprint[:16]}… "
                f"with params {g.terms.params}" for g in involved.values())
            reason = ("refused: the parties are not running the same program "
                      f"({stories}); nothing was run")
            self.say(reason)
            for g in involved.values():
                self.audit("refused", {"fingerprint": g.terms.fingerprint,
                                       "params": g.terms.params_dict,
                                       "parties": sorted(g.parties), "reason": reason})
                self.drop_group(g, reason)
            if any(g.terms in cy.mine for g in involved.values()):
                for ch in cy.mesh.values():  # already proposed: stop the other servers too
                    ch.abort(reason)
                raise CycleEnd("refused")
            where = {name: g for g in self.groups.values() for name in g.parties}

    def drop_group(self, group: Group, reason: str) -> None:
        self.groups.pop(group.terms, None)
        for a in group.parties.values():
            a.channel.abort(reason)

    def read_mesh(self, cy: Cycle) -> None:
        for j, ch in list(cy.mesh.items()):
            if cy.mine and all(terms in cy.props[j] for terms in cy.mine):
                # j proposed all we propose: what it sends next may already be the
                # session's (the verified mode's preprocessing starts at once), which
                # serve_session reads once the other peer agrees too
                continue
            if not ch.wait_readable(0):
                continue
            try:
                kind, _, payload = ch.recv_any("session proposal", MAX_HELLO)
                if kind != SESSION:
                    raise BadMessage(f"unexpected message kind {kind}")
                prop = Proposal.decode(payload)
                site = self.cfg.deployment.servers[j]
                if prop.server != site.name or not keys.verify(
                        site.certificate, prop.signature, keys.canonical(prop.body())):
                    raise BadMessage("proposal not signed by that server")
            except PeerError as exc:
                self.drop_peer(cy, j)
                if exc.aborted and cy.mine:
                    # the peer stopped the setup on purpose (a refusal): so do we, and say why
                    reason = printable(f"stopped: {exc}")
                    for terms in list(cy.mine):
                        group = self.groups.get(terms)
                        if group is not None:
                            self.drop_group(group, reason)
                    for other in cy.mesh.values():
                        other.abort(reason)
                    self.say(f"session setup aborted: {reason}")
                    raise CycleEnd("aborted") from None
                continue  # a dropped connection: it is made again, and proposals resent
            except BadMessage as exc:
                self.say(f"{self.cfg.deployment.servers[j].name} sent a bad proposal: {exc}")
                self.drop_peer(cy, j)
                continue
            # one message per peer and pass: agreement is checked before a later EOF
            cy.props[j][prop.terms] = prop
            if j == 0:
                cy.leader = prop.terms

    def poll_parties(self, cy: Cycle) -> None:
        now = time.monotonic()
        for group in list(self.groups.values()):
            for name, arrival in list(group.parties.items()):
                if arrival.channel.wait_readable(0):  # nothing is expected before START
                    with contextlib.suppress(PeerError):
                        arrival.channel.recv_any("nothing", 0)
                    arrival.channel.close()
                    del group.parties[name]
                    self.say(f"{name} left before the session started")
            if not group.parties:
                del self.groups[group.terms]
                cy.mine.pop(group.terms, None)  # nobody left to run it for
                continue
            if group.missing() and now - group.last_notice > NOTICE_SECONDS:
                group.last_notice = now
                notice = json.dumps({"phase": "waiting", "for": group.missing()}).encode()
                for arrival in group.parties.values():
                    with contextlib.suppress(PeerError):
                        arrival.channel.send(PROGRESS, 0, notice)

    def expire(self, cy: Cycle) -> None:
        now = time.monotonic()
        for group in list(self.groups.values()):
            if now - group.since < self.cfg.session_wait:
                continue
            missing = group.missing()
            reason = (f"gave up: the session did not start within "
                      f"{self.cfg.session_wait:g} s: " +
                      (f"{', '.join(missing)} did not connect" if missing else
                       "the other servers did not agree to start it"))
            self.say(reason)
            self.drop_group(group, reason)
            if group.terms in cy.mine:
                for ch in cy.mesh.values():
                    ch.abort(reason)
                raise CycleEnd("aborted")

    def choose(self, leader: Terms | None) -> Terms | None:
        complete = sorted((g for g in self.groups.values() if not g.missing()),
                          key=lambda g: g.since)
        terms = [g.terms for g in complete]
        if leader is not None and leader in terms:
            return leader
        if terms and (self.me == 0 or leader is None):
            return terms[0]
        return None

    def propose(self, terms: Terms, cy: Cycle) -> None:
        group = self.groups[terms]
        approvals = {keys.canonical(a.to_dict()): a for a in self.approvals_from_dir()}
        for arrival in group.parties.values():
            assert isinstance(arrival.hello, PartyHello)
            for a in arrival.hello.approvals:
                approvals.setdefault(keys.canonical(a.to_dict()), a)
        share = KeyShare()
        nonces = {n: a.hello.nonce for n, a in group.parties.items()
                  if isinstance(a.hello, PartyHello)}
        prop = sign_proposal(self.key, self.cfg.name, terms, nonces, list(approvals.values()),
                             share)
        payload = prop.encode()
        cy.mine[terms] = (prop, share, time.monotonic())
        for j in self.peers:
            try:
                cy.mesh[j].send(SESSION, 0, payload)
            except PeerError:
                self.drop_peer(cy, j)  # resent on the new connection

    # ------------------------------------------------------------ the session

    def agree_and_run(self, terms: Terms, cy: Cycle) -> str:
        mesh, props = cy.mesh, cy.props
        mine_prop, share, _ = cy.mine[terms]
        group = self.groups.pop(terms, None)
        if group is None or group.missing():
            left = ", ".join(sorted(set(mine_prop.parties) - set(group.parties if group else ())))
            reason = f"stopped: {left} disconnected before the session started"
            if group is None:
                group = Group(terms, self.circuits[terms.fingerprint], set())
            return self.refuse(group, reason, [*(a.channel for a in group.parties.values()),
                                               *mesh.values()], "aborted")
        ordered: list[Proposal] = []
        for i in range(3):
            ordered.append(mine_prop if i == self.me else props[i][terms])
        parties = {n: a.channel for n, a in group.parties.items()}
        everyone = [*parties.values(), *mesh.values()]
        for j in self.peers:
            why = mine_prop.agrees_with(ordered[j])
            if why is not None:
                reason = f"stopped: {self.cfg.deployment.servers[j].name} {why}"
                return self.refuse(group, reason, everyone, "aborted")
        union = {keys.canonical(a.to_dict()): a for p in ordered for a in p.approvals}
        dep = self.cfg.deployment
        valid, problems = check_complete(list(union.values()), dep, group.circuit.parties,
                                         terms.fingerprint, terms.params_dict, terms.security)
        if problems:
            reason = f"refused to run program {terms.fingerprint[:16]}…: " + \
                "; ".join(problems)
            return self.refuse(group, reason, everyone, "refused")
        session = session_id(ordered)
        prev, nxt = (self.me - 1) % 3, (self.me + 1) % 3
        try:
            key_prev = share.pairwise_key(ordered[prev].key_share, session, (self.me, prev))
            key_next = share.pairwise_key(ordered[nxt].key_share, session, (self.me, nxt))
        except BadMessage as exc:
            return self.refuse(group, f"stopped: {exc}", everyone, "aborted")
        for ch in mesh.values():
            ch.session = session
        sid = session.hex()
        self.audit("session_start", {
            "session": sid, **terms.to_dict(),
            "servers": [s.name for s in dep.servers],
            "approvals": [valid[n].to_dict() for n in sorted(valid)],
            "parties": [{"name": n, "certificate": group.parties[n].site.certificate_sha256,
                         "nonce": mine_prop.parties[n]} for n in sorted(group.parties)]})
        for n in sorted(group.parties):
            self.audit("party", {"session": sid, "party": n,
                                 "certificate": group.parties[n].site.certificate_sha256})
        self.say(f"session {sid[:16]}… started: program {terms.fingerprint[:16]}…, parties "
                 f"{', '.join(sorted(parties))}")
        try:
            start = encode_start(session, self.cfg.name)
            for ch in parties.values():
                ch.send(START, 0, start)  # still outside the session: the id is inside
                ch.session = session
            stats = serve_session(self.me, group.circuit, (key_prev, key_next), mesh, parties,
                                  lambda event, fields: self.audit(event, {"session": sid,
                                                                           **fields}),
                                  self.cfg.fault, self.cfg.heartbeat)
        except PeerError as exc:
            reason = printable(f"stopped: {exc}")
            for ch in everyone:
                ch.abort(reason)
            self.audit("abort", {"session": sid, "reason": reason})
            self.say(f"session {sid[:16]}… aborted: {reason}")
            return "aborted"
        finally:
            for ch in everyone:
                ch.close()
        self.audit("done", {"session": sid, "rounds": len(stats["rounds_sent"]),
                            "bytes": stats["bytes_sent"]})
        self.say(f"session {sid[:16]}… done: {len(stats['rounds_sent'])} rounds, "
                 f"{stats['bytes_sent']:,} bytes sent")
        return "done"

    def refuse(self, group: Group, reason: str, channels: list[Channel], outcome: str) -> str:
        reason = printable(reason, 2000)
        self.say(reason)
        self.audit("refused", {"fingerprint": group.terms.fingerprint,
                               "params": group.terms.params_dict,
                               "parties": sorted(group.parties), "reason": reason})
        for ch in channels:
            ch.abort(reason)
        return outcome


def run_server(cfg: ServerConfig) -> int:
    return Server(cfg).serve()
