"""Identity keys: one Ed25519 key per site, which never leaves its host, and a
self-signed X.509 certificate for it, which the other sites pin in the deployment file.

One key serves three purposes: the TLS 1.3 certificate of the site's connections, the
signature on its approvals, and the signature on every line of its audit log. Ed25519
(RFC 8032) because its signatures are deterministic (a weak random number generator at
signing time cannot leak the key) and small; OpenSSL accepts it in TLS 1.3.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from veil.diagnostics import Diagnostic, VeilError

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
VALID_DAYS = 3650
CODE = "V1101"


def key_error(message: str, help: str | None = None) -> VeilError:
    return VeilError([Diagnostic(CODE, message, help=help)])


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise key_error(f"`{name}` is not a valid site name",
                        help="use letters, digits, `_`, `.` or `-`, starting with a letter "
                             "(the name of a party in the program or of a server)")


def generate(name: str) -> tuple[Ed25519PrivateKey, x509.Certificate]:
    """A fresh key and a self-signed certificate whose common name is `name`."""
    key = Ed25519PrivateKey.generate()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    # a day of slack before "now" so that a peer whose clock is a little behind accepts it
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, None))
    return key, cert


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write a key readable by its owner only; never overwrite (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem(key))


def keygen(name: str, out_dir: Path) -> tuple[Path, Path]:
    """Write out_dir/NAME.key (mode 0600) and out_dir/NAME.crt; refuse to overwrite."""
    check_name(name)
    key_path, cert_path = out_dir / f"{name}.key", out_dir / f"{name}.crt"
    for path in (key_path, cert_path):
        if path.exists():
            raise key_error(f"{path} exists; not overwriting it",
                            help="a site's key is its identity: keep the old one, or move it "
                                 "away deliberately before making a new one")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        key, cert = generate(name)
        write_private_key(key_path, key)
        with open(cert_path, "xb") as f:
            f.write(certificate_pem(cert))
    except OSError as exc:
        raise key_error(f"cannot write the key for {name} into {out_dir}: "
                        f"{exc.strerror or exc}") from None
    return key_path, cert_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file that only its owner can read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise key_error(f"cannot read key {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise key_error(f"key {path} can be read by other users (mode {stat.S_IMODE(mode):o})",
                        help=f"a private key must be readable by its owner only: "
                             f"chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise key_error(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise key_error(f"{path} is not an Ed25519 key", help="make keys with `veil keygen`")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise key_error(f"cannot read certificate {path}: {exc.strerror or exc}") from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise key_error(f"{path} is not a PEM certificate: {exc}") from None
    if not isinstance(cert.public_key(), Ed25519PublicKey):
        raise key_error(f"certificate {path} does not hold an Ed25519 key",
                        help="make keys with `veil keygen`")
    return cert


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def certificate_sha256(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint (hex): how logs and reports name a site's key."""
    return hashlib.sha256(certificate_der(cert)).hexdigest()


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def public_key(cert: x509.Certificate) -> Ed25519PublicKey:
    key = cert.public_key()
    assert isinstance(key, Ed25519PublicKey)
    return key


def matches(key: Ed25519PrivateKey, cert: x509.Certificate) -> bool:
    """Is `cert` the certificate of `key`?"""
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return key.public_key().public_bytes(*raw) == public_key(cert).public_bytes(*raw)


def canonical(obj: Any) -> bytes:
    """The bytes that are signed: compact JSON with sorted keys, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(cert: x509.Certificate, signature: bytes, data: bytes) -> bool:
    try:
        public_key(cert).verify(signature, data)
    except InvalidSignature:
        return False
    return True
