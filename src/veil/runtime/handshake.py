"""The messages that set a session up, and the keys they agree.

- A party's HELLO: who it is, the terms it wants to run (program fingerprint, params,
  deployment digest, security mode), a fresh nonce, the approvals it carries and the
  compiled circuit (zlib-compressed; a server runs it only if its SHA-256 is the
  approved fingerprint).
- A server's HELLO to another server: its name and deployment digest (the mesh).
- A server's SESSION proposal to the two others: the terms, every party's nonce, the
  approvals it holds, and an ephemeral X25519 public key, all signed with its identity
  key. The three proposals together fix the session id (a hash over all of them), and
  each pair of servers derives its pairwise PRG key from X25519 with HKDF bound to that
  session id: the key exchange is authenticated by the identity keys and bound to the
  transcript, so no unauthenticated exchange remains.
- START from a server to a party: the session id; a party sends its input shares only
  after all three servers sent the same one.

Every payload is JSON, size-capped and validated field by field: a peer's bytes never
reach the protocol unchecked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from veil.deploy import keys
from veil.deploy.approvals import Approval

MAX_HELLO = 256 << 20
MAX_CIRCUIT_TEXT = 1 << 30
MAX_SMALL = 4 << 20


class BadMessage(ValueError):
    """A setup message that does not have the expected form."""


def _load(payload: bytes | bytearray) -> dict[str, Any]:
    try:
        data = json.loads(bytes(payload))
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    return data


def _field(data: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise BadMessage(f"field `{key}` missing or malformed")
    return value


@dataclass(frozen=True)
class Terms:
    """What every site must agree on before a session may start."""

    fingerprint: str
    params: str  # canonical JSON of the params, so that Terms is hashable
    deployment: str
    security: str

    @property
    def params_dict(self) -> dict[str, Any]:
        return json.loads(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "params": self.params_dict,
                "deployment": self.deployment, "security": self.security}

    @classmethod
    def from_dict(cls, data: dict) -> Terms:
        params = _field(data, "params", dict)
        return cls(_field(data, "fingerprint", str), keys.canonical(params).decode(),
                   _field(data, "deployment", str), _field(data, "security", str))

    @classmethod
    def of(cls, fingerprint: str, params: dict[str, Any], deployment: str,
           security: str) -> Terms:  # fmt: skip
        return cls(fingerprint, keys.canonical(params).decode(), deployment, security)


def _approvals(data: dict) -> list[Approval]:
    raw = _field(data, "approvals", list)
    out = []
    for item in raw:
        try:
            out.append(Approval.from_dict(item))
        except ValueError as exc:
            raise BadMessage(f"carried approval: {exc}") from None
    return out


@dataclass(frozen=True)
class PartyHello:
    name: str
    terms: Terms
    nonce: str
    approvals: tuple[Approval, ...]
    circuit: bytes  # zlib-compressed canonical circuit text

    def encode(self) -> bytes:
        return json.dumps({"role": "party", "name": self.name, **self.terms.to_dict(),
                           "nonce": self.nonce,
                           "approvals": [a.to_dict() for a in self.approvals],
                           "circuit": base64.b64encode(self.circuit).decode()}).encode()

    def circuit_text(self) -> str:
        """The circuit, checked against the fingerprint it claims to have."""
        try:
            text = zlib.decompressobj().decompress(self.circuit, MAX_CIRCUIT_TEXT)
        except zlib.error:
            raise BadMessage("the circuit is not zlib data") from None
        if hashlib.sha256(text).hexdigest() != self.terms.fingerprint:
            raise BadMessage("the circuit sent does not have the fingerprint claimed")
        return text.decode("ascii")


def compress_circuit(text: str) -> bytes:
    return zlib.compress(text.encode("ascii"), 6)


@dataclass(frozen=True)
class ServerHello:
    name: str
    deployment: str

    def encode(self) -> bytes:
        return json.dumps({"role": "server", "name": self.name,
                           "deployment": self.deployment}).encode()


def decode_hello(payload: bytes | bytearray) -> PartyHello | ServerHello:
    data = _load(payload)
    role = data.get("role")
    if role == "server":
        return ServerHello(_field(data, "name", str), _field(data, "deployment", str))
    if role != "party":
        raise BadMessage("unknown role")
    try:
        circuit = base64.b64decode(_field(data, "circuit", str), validate=True)
    except ValueError:
        raise BadMessage("field `circuit` is not base64") from None
    return PartyHello(_field(data, "name", str), Terms.from_dict(data),
                      _field(data, "nonce", str), tuple(_approvals(data)), circuit)


def new_nonce() -> str:
    return os.urandom(16).hex()


@dataclass(frozen=True)
class Proposal:
    """A server's signed proposal for a session (see the module docstring)."""

    server: str
    terms: Terms
    parties: dict[str, str]  # party → nonce
    approvals: tuple[Approval, ...]
    key_share: str  # X25519 public key, hex
    signature: bytes

    def body(self) -> dict[str, Any]:
        return {"server": self.server, **self.terms.to_dict(), "parties": self.parties,
                "approvals": sorted((a.to_dict() for a in self.approvals),
                                    key=lambda d: keys.canonical(d)),
                "key_share": self.key_share}

    def encode(self) -> bytes:
        return json.dumps({**self.body(), "signature": self.signature.hex()}).encode()

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Proposal:
        data = _load(payload)
        parties = _field(data, "parties", dict)
        if not all(isinstance(v, str) for v in parties.values()):
            raise BadMessage("field `parties` malformed")
        try:
            signature = bytes.fromhex(_field(data, "signature", str))
        except ValueError:
            raise BadMessage("field `signature` is not hex") from None
        return cls(_field(data, "server", str), Terms.from_dict(data), parties,
                   tuple(_approvals(data)), _field(data, "key_share", str), signature)

    def agrees_with(self, other: Proposal) -> str | None:
        """None when both proposals are for the same terms and parties, else what differs."""
        if self.terms != other.terms:
            return "proposes other terms"
        if self.parties != other.parties:
            return "saw other party connections (names or nonces differ)"
        return None


class KeyShare:
    """This server's ephemeral X25519 key for one session."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()

    def public_hex(self) -> str:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

    def pairwise_key(self, peer_public_hex: str, session: bytes, pair: tuple[int, int]) -> bytes:
        """The 128-bit PRG key this server shares with one peer in this session."""
        try:
            peer = X25519PublicKey.from_public_bytes(bytes.fromhex(peer_public_hex))
        except ValueError:
            raise BadMessage("malformed key share") from None
        shared = self._private.exchange(peer)
        low, high = sorted(pair)
        info = b"veil rep3 pairwise key " + bytes([low, high]) + session
        return HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=info).derive(shared)


def sign_proposal(key, server: str, terms: Terms, parties: dict[str, str],
                  approvals: list[Approval], share: KeyShare) -> Proposal:  # fmt: skip
    unsigned = Proposal(server, terms, dict(sorted(parties.items())), tuple(approvals),
                        share.public_hex(), b"")
    return Proposal(**{**unsigned.__dict__,
                       "signature": keys.sign(key, keys.canonical(unsigned.body()))})


def session_id(proposals: list[Proposal]) -> bytes:
    """16 bytes fixed by the three proposals (in server order): the terms, every party's
    nonce and every server's key share, so each session is fresh for every site."""
    first = proposals[0]
    transcript = {"terms": first.terms.to_dict(), "parties": first.parties,
                  "key_shares": [p.key_share for p in proposals]}
    return hashlib.sha256(b"veil session " + keys.canonical(transcript)).digest()[:16]


def encode_start(session: bytes, server: str) -> bytes:
    return json.dumps({"session": session.hex(), "server": server}).encode()


def decode_start(payload: bytes | bytearray) -> bytes:
    data = _load(payload)
    try:
        session = bytes.fromhex(_field(data, "session", str))
    except ValueError:
        raise BadMessage("field `session` is not hex") from None
    if len(session) != 16:
        raise BadMessage("field `session` has the wrong length")
    return session
