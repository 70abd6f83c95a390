"""Approvals: a site's signature over exactly what it agrees to run.

An approval names the program fingerprint (the SHA-256 of the compiled circuit, which
already covers every param value), the params again in readable form, the deployment
digest, the approver and its role, and the time; it is signed with the approver's
identity key and verified against the certificate pinned for that name in the
deployment. A server runs a session only when it holds valid approvals of the same
fingerprint, params and deployment from every party of the program and from all three
server operators.

Approvals are public: they travel freely (files, carried by parties, relayed between
servers) because nothing in them is secret and nobody can forge one.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.deploy import keys
from veil.deploy.deployment import Deployment
from veil.diagnostics import Diagnostic, VeilError

FORMAT = "veil-approval/1"
CODE = "V1103"
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Approval:
    approver: str
    role: str  # "party" | "server"
    fingerprint: str
    params: dict[str, Any]
    deployment: str
    time: str
    security: str
    signature: bytes

    def body(self) -> dict[str, Any]:
        return {"format": FORMAT, "approver": self.approver, "role": self.role,
                "fingerprint": self.fingerprint, "params": self.params,
                "deployment": self.deployment, "time": self.time, "security": self.security}

    def to_dict(self) -> dict[str, Any]:
        return {"approval": self.body(), "signature": self.signature.hex()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Approval:
        """Parse (not verify) an approval; ValueError when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("approval"), dict):
            raise ValueError("not a Veil approval")
        body = data["approval"]
        if body.get("format") != FORMAT:
            raise ValueError(f"not a Veil approval (format {body.get('format')!r})")
        try:
            fields = {k: body[k] for k in ("approver", "role", "fingerprint", "params",
                                           "deployment", "time", "security")}
            signature = bytes.fromhex(data["signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"incomplete approval: {exc}") from None
        if not all(isinstance(fields[k], str) for k in fields if k != "params") or \
                not isinstance(fields["params"], dict):
            raise ValueError("malformed approval")
        return cls(**fields, signature=signature)

    def same_terms(self, fingerprint: str, params: dict[str, Any], digest: str,
                   security: str) -> str | None:  # fmt: skip
        """None when this approval is for exactly these terms, else what differs."""
        if self.fingerprint != fingerprint:
            return f"is for program fingerprint {self.fingerprint[:16]}…, not {fingerprint[:16]}…"
        if self.params != params:
            return f"is for params {_show(self.params)}, not {_show(params)}"
        if self.deployment != digest:
            return f"is for another deployment (digest {self.deployment[:16]}…, not {digest[:16]}…)"
        if self.security != security:
            return f"is for security `{self.security}`, not `{security}`"
        return None


def _show(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())) + "}" \
        if params else "{}"


def approval_error(message: str, help: str | None = None) -> VeilError:
    return VeilError([Diagnostic(CODE, message, help=help)])


def create(key, approver: str, deployment: Deployment, fingerprint: str,
           params: dict[str, Any], security: str = "semi-honest",
           now: datetime.datetime | None = None) -> Approval:  # fmt: skip
    """Sign an approval as `approver` (whose certificate must match `key`)."""
    site = deployment.site(approver)
    if site is None:
        raise approval_error(f"{approver} is not a site of the deployment {deployment.path}")
    if not keys.matches(key, site.certificate):
        raise approval_error(f"the key given is not {approver}'s: it does not match the "
                             f"certificate pinned for {approver} in {deployment.path}")
    when = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    unsigned = Approval(approver, site.role, fingerprint, params, deployment.digest, when,
                        security, b"")
    signature = keys.sign(key, keys.canonical(unsigned.body()))
    return Approval(**{**unsigned.__dict__, "signature": signature})


def signature_valid(approval: Approval, deployment: Deployment) -> str | None:
    """None when the approval is signed by the key pinned for its approver, else why not."""
    site = deployment.site(approval.approver)
    if site is None:
        return f"is signed by `{approval.approver}`, who is not in the deployment"
    if site.role != approval.role:
        return f"claims role {approval.role}, but {approval.approver} is a {site.role}"
    if not keys.verify(site.certificate, approval.signature, keys.canonical(approval.body())):
        return f"has a signature that does not verify with {approval.approver}'s certificate"
    return None


def load_dir(directory: Path) -> list[Approval]:
    """Every approval file (*.json) in a directory; files that are not approvals are errors."""
    if not directory.is_dir():
        raise approval_error(f"approvals directory {directory} does not exist",
                             help="collect the parties' and servers' approval files "
                                  "(`veil approve ... -o FILE`) in one directory")
    found = []
    for path in sorted(directory.glob("*.json")):
        found.append(load_file(path))
    return found


def load_file(path: Path) -> Approval:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise approval_error(f"{path} is larger than an approval can be")
        data = json.loads(path.read_text(encoding="utf-8"))
        return Approval.from_dict(data)
    except OSError as exc:
        raise approval_error(f"cannot read approval {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise approval_error(f"{path} is not an approval: {exc}") from None


def check_complete(candidates: list[Approval], deployment: Deployment,
                   program_parties: tuple[str, ...], fingerprint: str, params: dict[str, Any],
                   security: str = "semi-honest"
                   ) -> tuple[dict[str, Approval], list[str]]:  # fmt: skip
    """The valid approval of every required approver, and a problem line for each one
    missing or invalid (empty when the session may start)."""
    required = [*program_parties, *(s.name for s in deployment.servers)]
    valid: dict[str, Approval] = {}
    reasons: dict[str, list[str]] = {}
    for a in candidates:
        if a.approver not in required or a.approver in valid:
            continue
        why = signature_valid(a, deployment) or \
            a.same_terms(fingerprint, params, deployment.digest, security)
        if why is None:
            valid[a.approver] = a
        else:
            reasons.setdefault(a.approver, []).append(why)
    problems = []
    for name in required:
        if name in valid:
            continue
        if name in reasons:
            problems.append(f"{name}'s approval {reasons[name][0]}")
        else:
            problems.append(f"no approval from {name}")
    return valid, problems
