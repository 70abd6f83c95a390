"""The deployment file: the one public document every site shares (TOML).

It names the three compute servers (address, jurisdiction, certificate), every party
of the program (jurisdiction, certificate; parties only dial out, so no address) and,
optionally, the measured links between sites for the time estimate. Certificates are
pinned: a connection is accepted only from the exact certificate listed for the name
it claims. The servers' order in the file is their role in the protocol (server 0, 1,
2).

The deployment digest, which every approval signs, is the SHA-256 of a canonical form
of the servers and parties with each certificate replaced by its SHA-256: it changes
when an address, a jurisdiction or a certificate changes, not with comments or layout.
The `[links]` table only feeds the cost estimate and is not part of the digest.

A deployment in which one jurisdiction runs two or more servers is refused: any two
servers of the three together hold every share and can reconstruct everything.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from cryptography import x509

from veil.deploy import keys
from veil.diagnostics import Diagnostic, VeilError

CODE = "V1102"
SERVER_KEYS = {"host", "port", "jurisdiction", "certificate"}
PARTY_KEYS = {"jurisdiction", "certificate"}
LINK_KEYS = {"rtt_ms", "mbit"}


@dataclass(frozen=True)
class Site:
    """A server or a party: its name, jurisdiction and pinned certificate."""

    name: str
    role: str  # "server" | "party"
    jurisdiction: str
    certificate: x509.Certificate = field(compare=False)
    certificate_path: Path
    host: str | None = None
    port: int | None = None

    @property
    def certificate_der(self) -> bytes:
        return keys.certificate_der(self.certificate)

    @property
    def certificate_sha256(self) -> str:
        return keys.certificate_sha256(self.certificate)


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    rtt_ms: float
    mbit: float


@dataclass(frozen=True)
class Deployment:
    path: Path
    servers: tuple[Site, ...]
    parties: dict[str, Site]
    links: tuple[Link, ...] = ()

    def site(self, name: str) -> Site | None:
        for s in self.servers:
            if s.name == name:
                return s
        return self.parties.get(name)

    def server_index(self, name: str) -> int:
        return [s.name for s in self.servers].index(name)

    def by_certificate(self, der: bytes) -> Site | None:
        """The site whose pinned certificate is exactly `der`."""
        for s in (*self.servers, *self.parties.values()):
            if s.certificate_der == der:
                return s
        return None

    def trusted_pem(self) -> str:
        """Every pinned certificate, for TLS verification (the exact match is checked after)."""
        return "".join(keys.certificate_pem(s.certificate).decode()
                       for s in (*self.servers, *self.parties.values()))

    def canonical(self) -> dict[str, Any]:
        return {
            "format": "veil-deployment/1",
            "servers": [{"name": s.name, "host": s.host, "port": s.port,
                         "jurisdiction": s.jurisdiction, "certificate": s.certificate_sha256}
                        for s in self.servers],
            "parties": {n: {"jurisdiction": p.jurisdiction, "certificate": p.certificate_sha256}
                        for n, p in sorted(self.parties.items())},
        }

    @property
    def digest(self) -> str:
        return hashlib.sha256(keys.canonical(self.canonical())).hexdigest()

    def reconstructing_pairs(self) -> list[tuple[Site, Site]]:
        """Pairs of servers that together hold every share (in rep3: every pair)."""
        return list(combinations(self.servers, 2))

    def link(self, a: str, b: str) -> Link | None:
        for ln in self.links:
            if {ln.a, ln.b} == {a, b}:
                return ln
        return None

    def check_program_parties(self, parties: tuple[str, ...]) -> None:
        """Every party of the program must be in the deployment (and not be a server)."""
        missing = [p for p in parties if p not in self.parties]
        if missing:
            raise deployment_error(
                f"{self.path}: the program's part{'ies' if len(missing) > 1 else 'y'} "
                f"{', '.join(missing)} {'are' if len(missing) > 1 else 'is'} not in the "
                f"deployment", help="add a [parties.NAME] table with its jurisdiction and "
                                    "certificate for every party of the program")


def deployment_error(message: str, help: str | None = None) -> VeilError:
    return VeilError([Diagnostic(CODE, message, help=help)])


def _string(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise deployment_error(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def _unknown(table: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise deployment_error(f"{where}: unknown key `{extra[0]}`",
                               help=f"expected: {', '.join(sorted(allowed))}")


def _site(path: Path, name: str, table: Any, role: str) -> Site:
    where = f"{path}: [{role}s.{name}]"
    if not isinstance(table, dict):
        raise deployment_error(f"{where} must be a table")
    keys.check_name(name)
    _unknown(table, SERVER_KEYS if role == "server" else PARTY_KEYS, where)
    jurisdiction = _string(table, "jurisdiction", where)
    cert_path = path.parent / _string(table, "certificate", where)
    cert = keys.load_certificate(cert_path)
    host = port = None
    if role == "server":
        host = _string(table, "host", where)
        port = table.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise deployment_error(f"{where}: `port` must be an integer from 1 to 65535")
    return Site(name, role, jurisdiction, cert, cert_path, host, port)


def _links(path: Path, table: Any, names: set[str]) -> tuple[Link, ...]:
    if not isinstance(table, dict):
        raise deployment_error(f"{path}: [links] must be a table")
    links = []
    for pair, spec in table.items():
        where = f"{path}: [links] \"{pair}\""
        a, sep, b = pair.partition("-")
        if not sep or a not in names or b not in names or a == b:
            raise deployment_error(f"{where}: expected \"SITE-SITE\" naming two sites of "
                                   f"the deployment")
        if not isinstance(spec, dict):
            raise deployment_error(f"{where}: expected {{ rtt_ms = …, mbit = … }}")
        _unknown(spec, LINK_KEYS, where)
        rtt, mbit = spec.get("rtt_ms"), spec.get("mbit")
        if not isinstance(rtt, int | float) or isinstance(rtt, bool) or not 0 <= rtt < 1e6:
            raise deployment_error(f"{where}: `rtt_ms` must be a number of milliseconds >= 0")
        if not isinstance(mbit, int | float) or isinstance(mbit, bool) or not 0 < mbit < 1e9:
            raise deployment_error(f"{where}: `mbit` must be a bandwidth in Mbit/s > 0")
        links.append(Link(a, b, float(rtt), float(mbit)))
    return tuple(links)


def load(path: Path, allow_same_jurisdiction: bool = False) -> Deployment:
    """Read and validate a deployment file; every problem is a VeilError naming the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise deployment_error(f"cannot read deployment {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise deployment_error(f"{path} is not valid TOML: {exc}") from None
    _unknown(data, {"servers", "parties", "links"}, str(path))
    servers_t, parties_t = data.get("servers", {}), data.get("parties", {})
    if not isinstance(servers_t, dict) or len(servers_t) != 3:
        count = len(servers_t) if isinstance(servers_t, dict) else 0
        raise deployment_error(f"{path}: expected exactly three [servers.NAME] tables, "
                               f"found {count}",
                               help="rep3 runs on three servers, ideally in three jurisdictions")
    if not isinstance(parties_t, dict):
        raise deployment_error(f"{path}: [parties] must hold one table per party")
    servers = tuple(_site(path, n, t, "server") for n, t in servers_t.items())
    parties = {n: _site(path, n, t, "party") for n, t in parties_t.items()}
    both = set(servers_t) & set(parties)
    if both:
        raise deployment_error(f"{path}: `{sorted(both)[0]}` is both a server and a party",
                               help="a party may run a server, under a separate name and key")
    seen: dict[str, str] = {}
    for site in (*servers, *parties.values()):
        other = seen.setdefault(site.certificate_sha256, site.name)
        if other != site.name:
            raise deployment_error(f"{path}: {site.name} and {other} have the same certificate",
                                   help="every site needs its own key (`veil keygen NAME`)")
    by_country: dict[str, list[str]] = {}
    for s in servers:
        by_country.setdefault(s.jurisdiction, []).append(s.name)
    shared = {j: names for j, names in by_country.items() if len(names) > 1}
    if shared and not allow_same_jurisdiction:
        j, names = next(iter(shared.items()))
        raise deployment_error(
            f"{path}: servers {' and '.join(names)} are both in jurisdiction {j}: together they "
            f"hold every share and could reconstruct all inputs and outputs",
            help="place the three servers in three jurisdictions "
                 "(--allow-same-jurisdiction overrides this, for testing only)")
    links = _links(path, data.get("links", {}), set(servers_t) | set(parties))
    return Deployment(path, servers, parties, links)
