"""Audit logs: what each server did, hash-chained and signed, readable by a regulator.

Each server appends one JSON line per event: its session starts (fingerprint, params,
deployment digest, every approval with its signature, the parties by certificate
fingerprint), each input received (owner, shapes, bytes, SHA-256 of the share message),
the rounds and bytes of the computation, each output delivered (receiver, bytes), and
the outcome (done, or abort with the reason); refusals are logged too. Every line
carries the SHA-256 of the line before it and the server's Ed25519 signature, so a
changed, deleted, reordered or transplanted line breaks the chain or a signature.

`verify` checks each log against the public deployment alone (no key but the pinned
certificates), then checks that the three servers' logs tell the same story about
every session they share: same terms, same approvals, same parties, same deliveries,
same outcome. What it cannot prove: that lines were not cut off the end of all three
logs alike, or what the servers computed in between (that is the protocol's job).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.deploy import keys
from veil.deploy.deployment import Deployment

GENESIS = "0" * 64
FORMAT = "veil-audit/1"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


class AuditLog:
    """An append-only, signed, hash-chained log (thread-safe; each line is fsync'ed)."""

    def __init__(self, path: Path, server: str, key) -> None:
        self.path = path
        self.server = server
        self.key = key
        self.lock = threading.Lock()
        self.prev, self.seq = GENESIS, 0
        if path.exists():
            last = b""
            with path.open("rb") as f:
                for raw in f:
                    if raw.strip():
                        last, self.seq = raw, self.seq + 1
            if last:
                self.prev = line_hash(last)

    def append(self, event: str, fields: dict[str, Any]) -> None:
        with self.lock:
            record = {"format": FORMAT, "seq": self.seq, "server": self.server,
                      "time": _now(),
                      "event": event, **fields, "prev": self.prev}
            record["sig"] = keys.sign(self.key, keys.canonical(record)).hex()
            line = keys.canonical(record)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self.prev, self.seq = line_hash(line), self.seq + 1


@dataclass
class Problem:
    file: Path
    line: int  # 1-based; 0 when about the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


@dataclass
class SessionView:
    """One server's account of one session, built from its log."""

    server: str
    file: Path
    line: int
    start: dict[str, Any]
    inputs: list[str] = field(default_factory=list)  # owners, in order
    outputs: list[tuple[str, int]] = field(default_factory=list)  # (receiver, bytes)
    compute: dict[str, Any] | None = None
    outcome: str | None = None  # "done" | "abort: reason"

    def comparable(self) -> dict[str, Any]:
        s = self.start
        return {"fingerprint": s.get("fingerprint"), "params": s.get("params"),
                "deployment": s.get("deployment"), "security": s.get("security"),
                "approvals": sorted(keys.canonical(a).decode() for a in s.get("approvals", [])),
                "parties": s.get("parties"), "inputs": self.inputs, "outputs": self.outputs,
                "outcome": (self.outcome or "").split(":")[0]}


@dataclass
class LogView:
    file: Path
    server: str | None
    records: list[tuple[int, dict[str, Any]]]


def read_log(path: Path, deployment: Deployment, problems: list[Problem]) -> LogView:
    """Parse one log and check its chain and signatures; problems name file and line."""
    try:
        raw_lines = path.read_bytes().splitlines()
    except OSError as exc:
        problems.append(Problem(path, 0, f"cannot read: {exc.strerror or exc}"))
        return LogView(path, None, [])
    prev, server = GENESIS, None
    records: list[tuple[int, dict[str, Any]]] = []
    expected_seq = None
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            problems.append(Problem(path, number, "not a JSON audit record"))
            return LogView(path, server, records)
        if record.get("format") != FORMAT:
            problems.append(Problem(path, number, "not a Veil audit record"))
            return LogView(path, server, records)
        name = record.get("server")
        site = deployment.site(name) if isinstance(name, str) else None
        if site is None or site.role != "server":
            problems.append(Problem(path, number, f"written by `{name}`, not a server of "
                                                  f"the deployment"))
            return LogView(path, server, records)
        if server is None:
            server = name
        elif name != server:
            problems.append(Problem(path, number, f"a line of {name}'s log in {server}'s log"))
            return LogView(path, server, records)
        unsigned = {k: v for k, v in record.items() if k != "sig"}
        try:
            signature = bytes.fromhex(record.get("sig", ""))
        except (TypeError, ValueError):
            signature = b""
        if not keys.verify(site.certificate, signature, keys.canonical(unsigned)):
            problems.append(Problem(path, number, f"signature does not verify with {name}'s "
                                                  f"certificate (the line was changed)"))
            return LogView(path, server, records)
        if record.get("prev") != prev:
            problems.append(Problem(path, number, "hash chain broken: the line before it was "
                                                  "changed, deleted or reordered, or this "
                                                  "line comes from elsewhere"))
            return LogView(path, server, records)
        seq = record.get("seq")
        if expected_seq is not None and seq != expected_seq:
            problems.append(Problem(path, number, f"sequence number {seq}, expected "
                                                  f"{expected_seq}"))
            return LogView(path, server, records)
        expected_seq = (seq if isinstance(seq, int) else 0) + 1
        prev = line_hash(raw)
        records.append((number, record))
    return LogView(path, server, records)


def sessions_of(log: LogView) -> dict[str, SessionView]:
    sessions: dict[str, SessionView] = {}
    for number, r in log.records:
        sid = r.get("session")
        if not isinstance(sid, str):
            continue
        event = r.get("event")
        if event == "session_start":
            sessions[sid] = SessionView(log.server or "?", log.file, number, r)
            continue
        view = sessions.get(sid)
        if view is None:
            continue
        if event == "input":
            view.inputs.append(str(r.get("owner")))
        elif event == "output":
            view.outputs.append((str(r.get("receiver")), int(r.get("bytes", 0))))
        elif event == "compute":
            view.compute = r
        elif event == "done":
            view.outcome = "done"
        elif event == "abort":
            view.outcome = f"abort: {r.get('reason', '')}"
    return sessions


def verify(paths: list[Path], deployment: Deployment) -> tuple[list[Problem], list[LogView]]:
    """Check every log's chain and signatures, then that the servers agree on each session."""
    problems: list[Problem] = []
    logs = [read_log(p, deployment, problems) for p in paths]
    owners: dict[str, Path] = {}
    for log in logs:
        if log.server is None:
            continue
        if log.server in owners:
            problems.append(Problem(log.file, 0, f"a second log of {log.server} "
                                                 f"(the first is {owners[log.server]})"))
        owners[log.server] = log.file
    views: dict[str, list[SessionView]] = {}
    for log in logs:
        for sid, view in sessions_of(log).items():
            views.setdefault(sid, []).append(view)
    for _sid, group in views.items():
        base = group[0]
        expected_servers = set(base.start.get("servers", []))
        for other in group[1:]:
            a, b = base.comparable(), other.comparable()
            for key in a:
                if a[key] != b[key]:
                    problems.append(Problem(other.file, other.line,
                                            f"session {_sid[:12]}: {other.server} records "
                                            f"{key} {_short(b[key])}, {base.server} records "
                                            f"{_short(a[key])} ({base.file}:{base.line})"))
        present = {v.server for v in group}
        logged = set(owners)
        for missing in sorted((expected_servers & logged) - present):
            problems.append(Problem(owners[missing], 0, f"session {_sid[:12]} (in "
                                                        f"{base.file}:{base.line}) is missing "
                                                        f"from {missing}'s log"))
    return problems, logs


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:79] + "…"


def show(log: LogView) -> str:
    """The sessions of one log as a regulator reads them."""
    lines = [f"audit log of {log.server or '?'} ({log.file})"]
    sessions = sessions_of(log)
    refusals = [(n, r) for n, r in log.records if r.get("event") == "refused"]
    for sid, v in sessions.items():
        s = v.start
        lines.append("")
        lines.append(f"session {sid}  started {s.get('time')}  (line {v.line})")
        lines.append(f"  program fingerprint  {s.get('fingerprint')}")
        params = s.get("params") or {}
        lines.append("  params               " + (", ".join(f"{k} = {json.dumps(val)}"
                                                            for k, val in sorted(params.items()))
                                                 or "(none)"))
        lines.append(f"  deployment digest    {s.get('deployment')}")
        lines.append(f"  security             {s.get('security')}")
        approvers = sorted(f"{a['approval']['approver']} ({a['approval']['time']})"
                           for a in s.get("approvals", []))
        lines.append(f"  approved by          {', '.join(approvers)}")
        parties = s.get("parties") or []
        lines.append("  parties connected    " + ", ".join(
            f"{p['name']} (certificate {p['certificate'][:16]}…)" for p in parties))
        for owner in v.inputs:
            lines.append(f"  input from           {owner}")
        if v.compute:
            lines.append(f"  computed             {v.compute.get('rounds')} rounds, "
                         f"{v.compute.get('bytes'):,} bytes sent by this server")
        for receiver, nbytes in v.outputs:
            lines.append(f"  output delivered to  {receiver} ({nbytes:,} bytes of shares)")
        lines.append(f"  outcome              {v.outcome or 'unfinished (no done or abort line)'}")
    for n, r in refusals:
        lines.append("")
        program = str(r.get("fingerprint"))[:16]
        lines.append(f"refused {r.get('time')} (line {n}): program {program}… — "
                     f"{r.get('reason')}")
    if not sessions and not refusals:
        lines.append("(no sessions)")
    return "\n".join(lines)
