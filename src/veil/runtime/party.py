"""One party of a deployment (`veil party`): it acts for itself only.

On its own host a party compiles the program (the caller does), reads and validates only
its own inputs, dials the three servers over TLS (retrying until they answer, so start
order does not matter; a bank opens no inbound port), presents its hello with the
approvals it carries, waits until all three servers sent the same session id, sends
each server its two shares of every input, and, if it receives outputs, reconstructs
only its own from the three servers' shares.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from veil.deploy import keys
from veil.deploy.approvals import Approval
from veil.deploy.deployment import Deployment
from veil.diagnostics import RUN_ABORTED, Diagnostic, VeilError
from veil.ir.nodes import Circuit
from veil.net import tls
from veil.net.transport import HELLO, NO_SESSION, START, Channel, PeerError, connect
from veil.runtime.handshake import (
    BadMessage,
    PartyHello,
    Terms,
    compress_circuit,
    decode_start,
    new_nonce,
)
from veil.runtime.session import PartyResult, party_session
from veil.runtime.sharing import site_ids


@dataclass
class PartyConfig:
    name: str
    deployment: Deployment
    key_path: Path
    approvals: list[Approval]
    timeout: float = 30.0
    security: str = "semi-honest"
    on_progress: Callable[[dict[str, Any]], None] | None = None


def aborted(detail: str, help: str | None = None) -> VeilError:
    return VeilError([Diagnostic(
        RUN_ABORTED, f"the run was aborted; no output was revealed: {detail}",
        help=help or "the servers' consoles and audit logs say more; --timeout sets how long "
                     "a silent peer is tolerated")])


def _connect(cfg: PartyConfig, me_id: int, index: int, hello: bytes, ctx: ssl.SSLContext,
             deadline: float) -> Channel:  # fmt: skip
    site = cfg.deployment.servers[index]
    assert site.host is not None and site.port is not None
    while True:
        remaining = deadline - time.monotonic()
        sock = connect(site.host, site.port, max(0.1, remaining), site.name)
        try:
            conn = tls.wrap_client(ctx, sock, max(1.0, min(remaining, 10.0)))
        except ssl.SSLError as exc:
            sock.close()
            raise PeerError(f"{site.name} at {site.host}:{site.port} {tls.describe(exc)}") \
                from None
        except OSError as exc:  # reset while the server (re)starts: try again
            sock.close()
            if time.monotonic() >= deadline:
                raise PeerError(f"cannot reach {site.name} at {site.host}:{site.port}: "
                                f"{exc.strerror or exc}") from None
            time.sleep(0.2)
            continue
        if tls.peer_certificate(conn) != site.certificate_der:
            conn.close()
            raise PeerError(f"the server at {site.host}:{site.port} is not {site.name}: its "
                            f"certificate is not the one pinned for {site.name}")
        channel = Channel(conn, me_id, index, NO_SESSION, site.name, cfg.timeout)
        try:
            channel.send(HELLO, 0, hello)
        except PeerError:
            # in TLS 1.3 the server judges our certificate after our side of the handshake
            # is done: its refusal arrives as an alert, which a read shows
            try:
                conn.settimeout(2.0)
                conn.recv(1)
            except ssl.SSLError as exc:
                raise PeerError(f"{site.name} at {site.host}:{site.port} "
                                f"{tls.describe(exc)}") from None
            except OSError:
                pass
            raise PeerError(f"{site.name} at {site.host}:{site.port} closed the connection right "
                            f"after the TLS handshake: most likely it did not accept this "
                            f"site's certificate (is it the one pinned in the deployment?)") \
                from None
        return channel


def _await_start(channels: list[Channel], deadline: float, timeout: float,
                 on_progress: Callable[[dict[str, Any]], None] | None = None
                 ) -> bytes:  # fmt: skip
    waiting: dict[str, list[str]] = {}

    def progress(ch: Channel) -> Callable[[bytes], None]:
        def note(payload: bytes) -> None:
            try:
                info = json.loads(payload)
            except ValueError:
                info = {}
            if isinstance(info, dict) and isinstance(info.get("for"), list):
                waiting[ch.peer_name] = [str(x) for x in info["for"]]
                if on_progress is not None:
                    who = sorted({p for names in waiting.values() for p in names})
                    on_progress({"phase": "waiting", "for": who})
            if time.monotonic() > deadline:
                who = sorted({p for names in waiting.values() for p in names})
                raise PeerError(f"the session did not start within {timeout:g} s" +
                                (f"; the servers are waiting for {', '.join(who)}"
                                 if who else ""))
            ch.timeout = max(0.05, deadline - time.monotonic())  # not a fresh full wait
        return note

    sessions = []
    for ch in channels:
        ch.on_progress = progress(ch)
        ch.timeout = max(0.1, deadline - time.monotonic())
        try:
            payload = ch.recv(START, 0, max_length=4096)
        except PeerError as exc:
            if "sent nothing" in str(exc):
                who = sorted({p for names in waiting.values() for p in names})
                raise PeerError(f"the session did not start within {timeout:g} s" +
                                (f"; the servers are waiting for {', '.join(who)}"
                                 if who else "")) from None
            raise
        try:
            sessions.append(decode_start(payload))
        except BadMessage as exc:
            raise PeerError(f"{ch.peer_name} sent a malformed start: {exc}") from None
    if len(set(sessions)) != 1:
        raise PeerError("the servers announced different sessions")
    return sessions[0]


def run_party(cfg: PartyConfig, circuit: Circuit, circuit_text: str, fingerprint: str,
              params: dict[str, Any], values: dict[str, np.ndarray]) -> PartyResult:  # fmt: skip
    """Run this party's side of one session; VeilError (V0801) when the run fails."""
    dep = cfg.deployment
    site = dep.parties.get(cfg.name)
    if site is None:
        raise aborted(f"{cfg.name} is not a party of the deployment {dep.path}")
    key = keys.load_private_key(cfg.key_path)
    if not keys.matches(key, site.certificate):
        raise keys.key_error(f"{cfg.key_path} is not the key of {cfg.name}: it does not match "
                             f"the certificate pinned for {cfg.name} in {dep.path}")
    ctx = tls.client_context(site.certificate_path, cfg.key_path, dep.trusted_pem())
    terms = Terms.of(fingerprint, params, dep.digest, cfg.security)
    hello = PartyHello(cfg.name, terms, new_nonce(), tuple(cfg.approvals),
                       compress_circuit(circuit_text)).encode()
    me_id = site_ids(circuit)[cfg.name]
    started = time.monotonic()
    deadline = started + cfg.timeout
    channels: list[Channel | None] = [None, None, None]
    errors: list[str] = []

    def dial(i: int) -> None:
        try:
            channels[i] = _connect(cfg, me_id, i, hello, ctx, deadline)
        except PeerError as exc:
            errors.append(str(exc))

    notify = cfg.on_progress or (lambda event: None)
    notify({"phase": "connect"})
    threads = [threading.Thread(target=dial, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    connected = [ch for ch in channels if ch is not None]
    try:
        if errors:
            raise PeerError("; ".join(errors))
        connected_at = time.monotonic()
        session = _await_start(connected, deadline, cfg.timeout, cfg.on_progress)
        started_at = time.monotonic()
        notify({"phase": "input"})
        for index, ch in enumerate(connected):
            ch.session = session
            ch.timeout = cfg.timeout
            ch.on_progress = _progress_reporter(cfg.on_progress, index)
        result = party_session(cfg.name, circuit, values, connected)
        result.seconds = {"connect": round(connected_at - started, 6),
                          "wait_start": round(started_at - connected_at, 6), **result.seconds,
                          "total": round(time.monotonic() - started, 6)}
        return result
    except PeerError as exc:
        for ch in connected:
            ch.abort(f"stopped: {exc}")
        raise aborted(str(exc)) from None
    finally:
        for ch in connected:
            ch.close()


def _progress_reporter(callback: Callable[[dict[str, Any]], None] | None, server: int
                       ) -> Callable[[bytes], None] | None:  # fmt: skip
    """The channel's handler of a server's progress messages: the callback receives them
    as dicts, with the server's index added."""
    if callback is None:
        return lambda payload: None

    def report(payload: bytes) -> None:
        try:
            info = json.loads(payload)
        except ValueError:
            return
        if isinstance(info, dict):
            callback({**info, "server": server})

    return report
