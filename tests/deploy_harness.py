"""Deployments for tests: keys, a deployment file, approvals, and `veil server` /
`veil party` as real processes (the same commands a bank runs)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from veil.deploy import approvals, deployment, keys
from veil.ir.serialize import circuit_params

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"
SERVERS = {"s_cn": "CN", "s_eu": "EU", "s_sg": "SG"}
PARTIES = {"cn_bank": "CN", "eu_bank": "EU", "regulator": "EU"}
VEIL = [sys.executable, "-m", "veil"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_deployment(root: Path, addresses: dict[str, tuple[str, int]],
                     servers: dict[str, str] = SERVERS, parties: dict[str, str] = PARTIES,
                     links: dict[str, tuple[float, float]] | None = None) -> Path:  # fmt: skip
    lines = []
    for name, jurisdiction in servers.items():
        host, port = addresses[name]
        lines += [f"[servers.{name}]", f'host = "{host}"', f"port = {port}",
                  f'jurisdiction = "{jurisdiction}"', f'certificate = "keys/{name}.crt"', ""]
    for name, jurisdiction in parties.items():
        lines += [f"[parties.{name}]", f'jurisdiction = "{jurisdiction}"',
                  f'certificate = "keys/{name}.crt"', ""]
    if links:
        lines.append("[links]")
        for pair, (rtt, mbit) in links.items():
            lines.append(f'"{pair}" = {{ rtt_ms = {rtt}, mbit = {mbit} }}')
    path = root / "deployment.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Site:
    """A temporary deployment on this machine: keys, file, approvals, processes."""

    root: Path
    program: Path = CREDIT
    addresses: dict[str, tuple[str, int]] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "keys").mkdir(parents=True, exist_ok=True)
        for name in (*SERVERS, *PARTIES):
            if not (self.root / "keys" / f"{name}.key").exists():
                keys.keygen(name, self.root / "keys")
        if not self.addresses:
            self.addresses = {s: ("127.0.0.1", free_port()) for s in SERVERS}
        self.path = write_deployment(self.root, self.addresses)

    def key(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.key"

    def approve_all(self, directory: Path, program: Path | None = None,
                    params: dict[str, str] | None = None, skip: tuple[str, ...] = ()) -> Path:
        """Every site's approval of `program` (compiled as `veil approve` does) in `directory`."""
        from veil.compiler import compile_path

        directory.mkdir(parents=True, exist_ok=True)
        compiled = compile_path(program or self.program, params, backend="rep3")
        dep = deployment.load(self.path)
        for name in (*SERVERS, *PARTIES):
            if name in skip:
                continue
            a = approvals.create(keys.load_private_key(self.key(name)), name, dep,
                                 compiled.fingerprint, circuit_params(compiled.executable))
            (directory / f"{name}.json").write_text(a.to_json(), encoding="utf-8")
        return directory

    def start_server(self, name: str, approvals_dir: Path, *extra: str,
                     listen: str | None = None, prefix: list[str] | None = None
                     ) -> subprocess.Popen:  # fmt: skip
        log = open(self.root / f"{name}.err", "ab")  # noqa: SIM115 - closed with the process
        cmd = [*(prefix or []), *VEIL, "server", name, "--deployment", str(self.path),
               "--key", str(self.key(name)), "--approvals", str(approvals_dir),
               "--audit-log", str(self.root / f"{name}.log"), *extra]
        if listen:
            cmd += ["--listen", listen]
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def start_party(self, name: str, approvals_dir: Path, *extra: str,
                    program: Path | None = None, key: Path | None = None,
                    deployment: Path | None = None, prefix: list[str] | None = None
                    ) -> subprocess.Popen:  # fmt: skip
        cmd = [*(prefix or []), *VEIL, "party", name, str(program or self.program),
               "--deployment", str(deployment or self.path),
               "--key", str(key or self.key(name)),
               "--approvals", str(approvals_dir), "--json", *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def server_log(self, name: str) -> str:
        path = self.root / f"{name}.err"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def copy_approvals(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob("*.json"):
        if f.stem not in skip:
            shutil.copy(f, dst / f.name)
    return dst
