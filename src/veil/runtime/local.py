"""`veil run` on one machine: the deployment path, with ephemeral keys.

The launcher forks one process per party from itself (each starts reading its own
input files at once), makes a key and a certificate for three local servers and for
every party in a private temporary directory, writes a deployment on 127.0.0.1, signs
every approval with those keys (a try-out: this one launcher holds every key, which is
why it is not a way to keep data apart), then forks three server processes: no
interpreter start, no re-import and no re-compile per process. Each
party process reads and validates only its own inputs, splits them into shares, and
reconstructs only its own outputs; the launcher gathers what the parties received into
one report. Servers and parties run exactly the code of a real deployment: TLS 1.3 with
pinned certificates, approvals, signed key exchange, sessions.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veil.backend.base import RunResult
from veil.deploy import approvals, deployment, keys
from veil.diagnostics import RUN_ABORTED, Diagnostic, VeilError
from veil.heap import keep_freed_memory
from veil.ir.nodes import Circuit
from veil.ir.serialize import circuit_params, dumps
from veil.net.transport import listen
from veil.runtime.party import PartyConfig, aborted, run_party
from veil.runtime.server import ServerConfig, run_server
from veil.runtime.session import Fault, PartyResult, combined_stats, wall_phases
from veil.runtime.sharing import owners_of, receivers_of
from veil.schedule import schedule

HOST = "127.0.0.1"
SERVER_NAMES = ("server0", "server1", "server2")
Loader = Callable[[str], dict[str, np.ndarray]]


@dataclass
class LocalRun:
    """Backend `rep3` on this machine: three server processes and one per party, over TLS."""

    timeout: float = 30.0
    fault: Fault | None = None
    audit_dir: Path | None = None  # each server appends to <dir>/<server>.log
    workdir: Path | None = None  # keep the keys and deployment here (default: deleted)
    name: str = "rep3"
    server_log: Callable[[str], None] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _started: float = field(default=0.0, init=False, repr=False)  # monotonic, of `run`
    on_progress: Callable[[dict[str, Any]], None] | None = None
    """Receives progress events (veil.progress) while the run goes on: the launcher's
    own setup, then what the first party's process hears from the servers (each party
    hears the same), sent up its pipe."""

    def run(self, circuit: Circuit, inputs: dict[str, np.ndarray] | None = None,
            load: Loader | None = None, circuit_text: str | None = None,
            fingerprint: str | None = None, problems: list[Diagnostic] | None = None
            ) -> RunResult:  # fmt: skip
        """Run `circuit`. Each party process takes its own inputs from `load(party)` (read
        in that process) or, for tests and benchmarks, from `inputs` (all encoded inputs,
        of which each party process keeps only its own). `problems` found beforehand are
        reported together with the parties' own, and nothing runs if there is any."""
        started = self._started = time.monotonic()
        self.wall_started = time.time()
        self.timings = {}
        if self.on_progress is not None:
            self.on_progress({"phase": "setup"})
        text = circuit_text if circuit_text is not None else dumps(circuit)
        fp = fingerprint or hashlib.sha256(text.encode("ascii")).hexdigest()
        params = circuit_params(circuit)
        required = sorted(set(owners_of(circuit)) | set(receivers_of(circuit)))
        clash = set(SERVER_NAMES) & set(circuit.parties)
        if clash:
            raise VeilError([Diagnostic("V0801", f"a party may not be called "
                                                 f"{sorted(clash)[0]} in a local run")])
        schedule(circuit)  # once, here: the forked processes inherit it
        with contextlib.ExitStack() as stack:
            root = self.workdir or Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="veil-run-")))
            ctx = multiprocessing.get_context("fork")
            servers, parties = [], {}
            # the children's collections skip every object inherited from here: no
            # traversal of the compiled program, and no page copied only to be traversed
            gc.freeze()
            try:
                # the parties first: each reads its input files while this process loads
                # the deployment code, makes the keys and approvals and starts the servers
                for party in required:
                    reports = self.on_progress is not None and not parties  # the first one
                    parties[party] = _start(ctx, _party_main, (party, circuit, text, fp, params,
                                                               load, inputs, reports))
                configs = self._start_servers(ctx, circuit, root, fp, params, servers)
                return self._collect(circuit, servers, parties, configs, started,
                                     problems or [])
            finally:
                gc.unfreeze()
                for proc, conn in parties.values():
                    _stop(proc, conn, 2.0)
                # after a good run the servers exit by themselves; otherwise some may still
                # wait for parties that will never come
                for proc, conn in servers:
                    _stop(proc, conn, 2.0 if self.timings.get("total") else 0.2)

    def _start_servers(self, ctx, circuit: Circuit, root: Path, fp: str,
                       params: dict[str, Any], servers: list) -> dict[str, tuple]:  # fmt: skip
        """Keys, deployment and approvals in `root`, then the three server processes
        (appended to `servers`); returns what each party process needs to join."""
        dep, listeners = _local_deployment(root, circuit.parties)
        approvals_given = [
            approvals.create(keys.load_private_key(root / f"{site}.key"), site, dep, fp,
                             params, circuit.security)
            for site in (*circuit.parties, *SERVER_NAMES)]
        self.timings["setup"] = time.monotonic() - self._started
        for i, name in enumerate(SERVER_NAMES):
            cfg = ServerConfig(name, dep, root / f"{name}.key",
                               audit_path=(self.audit_dir / f"{name}.log"
                                           if self.audit_dir else None),
                               timeout=self.timeout, session_wait=self.timeout,
                               once=True, listener=listeners[i], fault=self.fault,
                               log=self.server_log or (lambda line: None),
                               circuits={fp: circuit},
                               heartbeat=1.0 if self.on_progress is None else 0.25)
            servers.append(_start(ctx, _server_main, (cfg,)))
        for sock in listeners:
            sock.close()  # the servers hold them now
        return {party: (dep.path, root / f"{party}.key", approvals_given, self.timeout,
                        circuit.security) for party in circuit.parties}

    def _collect(self, circuit: Circuit, servers: list, parties: dict[str, Any],
                 configs: dict[str, tuple], started: float, problems: list[Diagnostic]
                 ) -> RunResult:  # fmt: skip
        problems = list(problems)
        for party, (proc, conn) in parties.items():
            kind, value = _receive(proc, conn, party, None)
            if kind == "error":
                problems += value
        if problems:
            for _, conn in parties.values():
                with contextlib.suppress(OSError):
                    conn.send("stop")
            raise VeilError(list(dict.fromkeys(problems)))
        self.timings["ready"] = time.monotonic() - started
        for party, (_, conn) in parties.items():
            conn.send(("go", configs[party]))
        results: dict[str, PartyResult] = {}
        failures: list[str] = []
        for party, (proc, conn) in parties.items():
            kind, value = _receive(proc, conn, party, None, self.on_progress)
            if kind == "done":
                results[party] = value
            else:
                failures += [_strip(d.message) for d in value]
        if failures:
            unique = list(dict.fromkeys(failures))
            raise aborted("; ".join(unique))
        self.timings["total"] = time.monotonic() - started
        outputs: dict[str, np.ndarray] = {}
        for result in results.values():
            outputs.update(result.outputs)
        stats = combined_stats(circuit, results)
        stats["seconds"] = {k: round(v, 6) for k, v in self.timings.items()}
        phases = wall_phases(results, self.wall_started)
        if phases:
            stats["phases"] = {**phases, "total": round(self.timings["total"], 6)}
        return RunResult(outputs, stats)




def _strip(message: str) -> str:
    prefix = "the run was aborted; no output was revealed: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _local_deployment(root: Path, parties: tuple[str, ...]):
    for name in (*SERVER_NAMES, *parties):
        if not (root / f"{name}.key").exists():
            keys.keygen(name, root)
    listeners = [listen(HOST, 0) for _ in SERVER_NAMES]
    lines = []
    for i, (name, sock) in enumerate(zip(SERVER_NAMES, listeners, strict=True)):
        lines += [f"[servers.{name}]", f'host = "{HOST}"', f"port = {sock.getsockname()[1]}",
                  f'jurisdiction = "local-{i}"', f'certificate = "{name}.crt"', ""]
    for name in parties:
        lines += [f"[parties.{name}]", 'jurisdiction = "local"', f'certificate = "{name}.crt"',
                  ""]
    path = root / "deployment.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return deployment.load(path), listeners


def _start(ctx, target, args):
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), daemon=True)
    proc.start()
    child.close()
    return proc, parent


def _stop(proc, conn, grace: float) -> None:
    proc.join(timeout=grace)
    if proc.is_alive():
        proc.kill()
        proc.join()
    conn.close()


def _receive(proc, conn, who: str, timeout: float | None,
             on_progress: Callable[[dict[str, Any]], None] | None = None
             ) -> tuple[str, Any]:  # fmt: skip
    """The next message of a child, or an error when it died without one; progress
    events on the way go to `on_progress`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            if conn.poll(0.2):
                kind, value = conn.recv()
                if kind != "progress":
                    return kind, value
                if on_progress is not None:
                    on_progress(value)
                continue
        except (EOFError, OSError):
            pass
        if not proc.is_alive() and not conn.poll(0):
            return "error", [Diagnostic(RUN_ABORTED, f"{who} stopped unexpectedly "
                                                     f"(exit code {proc.exitcode})")]
        if deadline is not None and time.monotonic() > deadline:
            return "error", [Diagnostic(RUN_ABORTED, f"{who} did not answer")]


def _server_main(conn, cfg) -> None:
    keep_freed_memory()  # (also when the launcher is not the CLI, which sets it already)
    try:
        status = run_server(cfg)
        conn.send(("exit", status))
    except VeilError as exc:
        conn.send(("error", exc.diagnostics))
    except Exception as exc:  # a bug: report it instead of dying silently
        conn.send(("error", [Diagnostic(RUN_ABORTED, f"{cfg.name} failed: {exc!r}")]))
    finally:
        conn.close()


def _party_main(conn, name: str, circuit: Circuit, text: str, fp: str,
                params: dict[str, Any], load: Loader | None,
                inputs: dict[str, np.ndarray] | None, reports: bool) -> None:  # fmt: skip
    keep_freed_memory()
    try:
        try:
            if load is not None:
                values = load(name)
            else:
                mine = {s.name for s in circuit.inputs if s.owner == name}
                values = {k: v for k, v in (inputs or {}).items() if k in mine}
        except VeilError as exc:
            conn.send(("error", exc.diagnostics))
            return
        conn.send(("ready", None))
        message = conn.recv()
        if not (isinstance(message, tuple) and message[0] == "go"):
            return
        # the deployment as the launcher wrote it: read here, as a party on its own host
        # would (its certificates are not objects a pipe can carry)
        dep_path, key_path, approvals_given, timeout, security = message[1]
        cfg = PartyConfig(name, deployment.load(dep_path), key_path, approvals_given, timeout,
                          security)
        if reports:
            cfg.on_progress = lambda event: conn.send(("progress", event))
        try:
            result = run_party(cfg, circuit, text, fp, params, values)
        except VeilError as exc:
            conn.send(("error", exc.diagnostics))
            return
        except Exception as exc:  # a bug: report it, never hang the launcher
            conn.send(("error", [Diagnostic(RUN_ABORTED, f"{name} failed: {exc!r}")]))
            return
        conn.send(("done", result))
    finally:
        conn.close()
