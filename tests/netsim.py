"""A user-space delay relay: emulates a wide-area link on loopback (this machine's kernel
has no `netem`). Each direction's bytes are held for `delay_s` before they are passed
on, so a connection through the relay has an RTT of 2 × delay_s, and bytes sent
back-to-back keep their spacing. Used by the WAN tests and bench/bench_wan.py."""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time


class DelayRelay:
    """Listen on 127.0.0.1:<port> and forward every connection to `target`, late."""

    def __init__(self, target: tuple[str, int], delay_s: float,
                 host: str = "127.0.0.1") -> None:  # fmt: skip
        self.target = target
        self.delay = delay_s
        self.listener = socket.create_server((host, 0))
        self.address = self.listener.getsockname()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return self.address[1]

    def close(self) -> None:
        self.closing.set()
        for s in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            self.sockets += [client, server]
            self._pipe(client, server)
            self._pipe(server, client)

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        queue: collections.deque = collections.deque()
        ready = threading.Condition()

        def read() -> None:
            while True:
                try:
                    data = src.recv(1 << 16)
                except OSError:
                    data = b""
                with ready:
                    queue.append((time.monotonic() + self.delay, data))
                    ready.notify()
                if not data:
                    return

        def write() -> None:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, data = queue.popleft()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()
