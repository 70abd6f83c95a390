"""Mutually authenticated TLS 1.3 with pinned certificates.

Every connection between sites is TLS 1.3 in both directions: each side presents its
own certificate and accepts only certificates listed in the deployment. OpenSSL checks
the handshake against the pinned set (each self-signed certificate is its own trust
anchor); the caller then checks that the peer's certificate is *exactly* the one pinned
for the name it claims (`peer_certificate`), so a certificate that merely chains to a
pinned one is not enough. No SNI is sent (names never appear in clear on the wire) and
hostnames are not checked: identity is the pinned certificate, not the address.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path


def _context(purpose: int, cert_path: Path, key_path: Path, trusted_pem: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(cert_path), str(key_path))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=trusted_pem)
    # session tickets would let a later connection skip the certificate exchange
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


def server_context(cert_path: Path, key_path: Path, trusted_pem: str) -> ssl.SSLContext:
    """For accepting connections: a client certificate is required."""
    return _context(ssl.PROTOCOL_TLS_SERVER, cert_path, key_path, trusted_pem)


def client_context(cert_path: Path, key_path: Path, trusted_pem: str) -> ssl.SSLContext:
    """For dialing a server: its certificate must be pinned (checked exactly after)."""
    ctx = _context(ssl.PROTOCOL_TLS_CLIENT, cert_path, key_path, trusted_pem)
    ctx.check_hostname = False  # identity is the pinned certificate, not the address
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def wrap_server(ctx: ssl.SSLContext, sock: socket.socket, timeout: float) -> ssl.SSLSocket:
    """Run the server side of the handshake on an accepted socket within `timeout`."""
    sock.settimeout(timeout)
    tls = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    tls.do_handshake()
    return tls


def wrap_client(ctx: ssl.SSLContext, sock: socket.socket, timeout: float) -> ssl.SSLSocket:
    sock.settimeout(timeout)
    tls = ctx.wrap_socket(sock, server_side=False, server_hostname=None,
                          do_handshake_on_connect=False)
    tls.do_handshake()
    return tls


def peer_certificate(tls: ssl.SSLSocket) -> bytes:
    """The DER certificate the peer presented (the handshake made it mandatory)."""
    der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the peer presented no certificate")
    return der


def describe(exc: ssl.SSLError) -> str:
    """What a TLS failure means for the user, from OpenSSL's reason code."""
    reason = str(exc.reason or exc).lower().replace("_", " ")
    if any(k in reason for k in ("unknown ca", "bad certificate", "certificate unknown",
                                 "certificate required")):
        return "did not accept this site's certificate (it is not the one pinned in the " \
               "deployment)"
    if "certificate verify failed" in reason:
        return "presented a certificate that is not pinned in the deployment"
    return f"TLS failed ({reason})"
