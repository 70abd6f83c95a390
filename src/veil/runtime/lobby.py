"""A server's front door: accepting connections, TLS handshakes and hellos off the
accept loop, and dialing the other servers.

The accept loop only accepts: every new connection gets its own thread with a deadline
for the TLS handshake and the first message, so a stray, silent, slow, resetting or
unauthenticated client costs one bounded thread and never delays a session. A
connection becomes an `Arrival` (its site, by the exact pinned certificate it
presented, and its hello) only when all of that succeeded; everything else is closed
and reported through `on_refused`.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from veil.deploy.deployment import Deployment, Site
from veil.net import tls
from veil.net.transport import HELLO, NO_SESSION, UNKNOWN, Channel, PeerError, connect
from veil.runtime.handshake import MAX_HELLO, BadMessage, PartyHello, ServerHello, decode_hello

MAX_PENDING_HANDSHAKES = 32
HANDSHAKE_SECONDS = 10.0


@dataclass
class Arrival:
    """An authenticated connection and what it asked for."""

    site: Site
    channel: Channel
    hello: PartyHello | ServerHello


class Lobby:
    def __init__(self, me: int, deployment: Deployment, listener: socket.socket,
                 server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, timeout: float,
                 on_refused: Callable[[str, str], None]) -> None:  # fmt: skip
        self.me = me
        self.name = deployment.servers[me].name
        self.deployment = deployment
        self.listener = listener
        self.server_ctx = server_ctx
        self.client_ctx = client_ctx
        self.timeout = timeout
        self.on_refused = on_refused
        self.arrivals: queue.Queue[Arrival] = queue.Queue()
        self.closing = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_PENDING_HANDSHAKES)
        self._dialing: set[int] = set()
        self._lock = threading.Lock()
        # a byte on this pair wakes the main loop when an arrival is queued, so that it
        # can sleep in select() on its own connections instead of polling
        self.wakeup, self._wake = socket.socketpair()
        self.wakeup.setblocking(False)

    def put(self, arrival: Arrival) -> None:
        self.arrivals.put(arrival)
        with contextlib.suppress(OSError):
            self._wake.send(b"!")

    def drain_wakeups(self) -> None:
        with contextlib.suppress(OSError):
            while self.wakeup.recv(4096):
                pass

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        for sock in (self.listener, self.wakeup, self._wake):
            with contextlib.suppress(OSError):
                sock.close()

    # ------------------------------------------------------------ inbound

    def _accept_loop(self) -> None:
        self.listener.settimeout(0.5)
        while not self.closing.is_set():
            try:
                sock, addr = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.closing.is_set():
                    return
                time.sleep(0.05)  # e.g. out of file descriptors: do not spin
                continue
            if not self._slots.acquire(blocking=False):
                sock.close()  # too many handshakes in flight: shed load, keep serving
                continue
            threading.Thread(target=self._admit, args=(sock, addr), daemon=True).start()

    def _admit(self, sock: socket.socket, addr) -> None:
        where = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
        try:
            try:
                conn = tls.wrap_server(self.server_ctx, sock, min(self.timeout, HANDSHAKE_SECONDS))
            except (ssl.SSLError, OSError, ValueError) as exc:
                self.on_refused(where, f"TLS handshake failed: {_reason(exc)}")
                sock.close()
                return
            site = self.deployment.by_certificate(tls.peer_certificate(conn))
            if site is None:  # chains to a pinned certificate but is not one of them
                self.on_refused(where, "certificate not pinned in the deployment")
                conn.close()
                return
            channel = Channel(conn, self.me, UNKNOWN, NO_SESSION, site.name,
                              min(self.timeout, HANDSHAKE_SECONDS))
            try:
                kind, _, payload = channel.recv_any("hello", MAX_HELLO)
                if kind != HELLO:
                    raise BadMessage("the first message is not a hello")
                hello = decode_hello(payload)
            except (PeerError, BadMessage) as exc:
                self.on_refused(where, f"{site.name}: {exc}")
                channel.close()
                return
            role = "server" if isinstance(hello, ServerHello) else "party"
            if hello.name != site.name or role != site.role:
                self.on_refused(where, f"certificate of {site.name} used to claim to be "
                                       f"{role} {hello.name}")
                channel.close()
                return
            if isinstance(hello, ServerHello):
                channel.peer = self.deployment.server_index(site.name)
            channel.timeout = self.timeout
            self.put(Arrival(site, channel, hello))
        except Exception as exc:  # never let one connection take the server down
            self.on_refused(where, f"dropped: {exc}")
            with contextlib.suppress(OSError):
                sock.close()
        finally:
            self._slots.release()

    # ------------------------------------------------------------ outbound

    def dialing(self, peer: int) -> bool:
        with self._lock:
            return peer in self._dialing

    def dialed(self, peer: int) -> None:
        """The main loop took the connection a dial made: a new dial may start later."""
        with self._lock:
            self._dialing.discard(peer)

    def dial(self, peer: int) -> None:
        """Connect to server `peer` in the background (retrying until it answers); the
        peer stays marked as dialing until the main loop took the connection (`dialed`)."""
        with self._lock:
            if peer in self._dialing:
                return
            self._dialing.add(peer)
        threading.Thread(target=self._dial, args=(peer,), daemon=True).start()

    def _dial(self, peer: int) -> None:
        site = self.deployment.servers[peer]
        assert site.host is not None and site.port is not None
        connected = False
        try:
            while not self.closing.is_set():
                try:
                    sock = connect(site.host, site.port, 1.0, site.name, self.closing.is_set)
                    conn = tls.wrap_client(self.client_ctx, sock, HANDSHAKE_SECONDS)
                    if tls.peer_certificate(conn) != site.certificate_der:
                        self.on_refused(f"{site.host}:{site.port}",
                                        f"the server there is not {site.name} (certificate)")
                        conn.close()
                        time.sleep(1.0)
                        continue
                    channel = Channel(conn, self.me, peer, NO_SESSION, site.name, self.timeout)
                    channel.send(HELLO, 0, ServerHello(self.name,
                                                       self.deployment.digest).encode())
                    self.put(Arrival(site, channel, ServerHello(site.name,
                                                                self.deployment.digest)))
                    connected = True
                    return
                except (PeerError, ssl.SSLError, OSError, ValueError):
                    time.sleep(0.2)
        finally:
            if not connected:
                with self._lock:
                    self._dialing.discard(peer)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
