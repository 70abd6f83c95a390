"""The deployment commands of `veil`: keygen, approve, server, party, audit.

Each site runs these on its own host: keys never leave it, a party reads only its own
inputs and sees only its own outputs, and the files that travel between sites are
public (certificates, the deployment file, approvals, audit logs).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from veil.cli import (
    JSON,
    LIMITS,
    PARAM,
    PROGRAM,
    QUIET,
    SECURITY,
    _compile,
    _timeout,
    _user_errors,
    current_limits,
    main,
    progress_bar,
)
from veil.diagnostics import Diagnostic, VeilError

DEPLOYMENT = click.option("--deployment", "deployment_path", required=True,
                          type=click.Path(path_type=Path), metavar="FILE",
                          help="The deployment file (TOML) every site shares.")
KEY = click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
                   metavar="KEY", help="This site's private key (from `veil keygen`).")
SAME_JURISDICTION = click.option(
    "--allow-same-jurisdiction", is_flag=True,
    help="Accept a deployment in which one jurisdiction runs two servers (testing only).")


TIMEOUT = click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0,
                       show_default=True, metavar="SECONDS",
                       callback=lambda ctx, p, v: _timeout(v),
                       help="Seconds to wait for the servers at start, and for a silent "
                            "peer during the run.")


def _load_deployment(path: Path, allow_same_jurisdiction: bool):
    from veil.deploy.deployment import load

    return load(path, allow_same_jurisdiction)


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise VeilError([Diagnostic("V0001", f"{path} exists; not overwriting it",
                                    help="choose a new file name, or remove the old file "
                                         "first")])


def _write_new(path: Path, text: str) -> None:
    _refuse_existing(path)
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise VeilError([Diagnostic("V0001", f"cannot write {path}: {exc.strerror or exc}")]) \
            from None


@main.command()
@click.argument("name")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              metavar="DIR", help="Directory for NAME.key and NAME.crt.")
@_user_errors
def keygen(name: str, out_dir: Path) -> None:
    """Make a site's identity: NAME.key (private, mode 0600) and NAME.crt (to pin).

    The key never leaves this host; the certificate goes into the deployment file that
    all sites share."""
    from veil.deploy import keys

    key_path, cert_path = keys.keygen(name, out_dir)
    cert = keys.load_certificate(cert_path)
    click.echo(f"wrote {key_path} (private: keep it on this host)")
    click.echo(f"wrote {cert_path} (certificate SHA-256 {keys.certificate_sha256(cert)})")


def _disclosure_summary(compiled, dep) -> str:
    """What a site approves: the program, its inputs and disclosures, the deployment."""
    from veil.cost import report

    circuit = compiled.executable
    data = report.build(circuit, backend=compiled.backend)
    lines = [f"program      {compiled.path}", f"fingerprint  {compiled.fingerprint}"]
    if data["params"]:
        lines.append("params       " + ", ".join(f"{k} = {v}" for k, v in data["params"].items()))
    lines.append(f"deployment   {dep.path} (digest {dep.digest})")
    lines.append("servers      " + ", ".join(f"{s.name} ({s.jurisdiction})" for s in dep.servers))
    lines.append("")
    lines.append("inputs (secret-shared by their owner; no server sees them)")
    for spec in circuit.inputs:
        owner = dep.parties[spec.owner]
        lines.append(f"  {spec.name:<20} {spec.type.base}{list(spec.type.shape) or ''} from "
                     f"{spec.owner} ({owner.jurisdiction})")
    lines.append("")
    lines.append("disclosures (the only values anyone learns)")
    for out in circuit.outputs:
        to = ", ".join(f"{r} ({dep.parties[r].jurisdiction})" for r in out.receivers)
        lines.append(f"  {out.name:<20} {out.type.base}{list(out.type.shape) or ''} to {to}")
    if "rounds" in data:
        lines.append("")
        lines.append(f"cost         {data['rounds']} rounds, "
                     f"{max(data['bytes_per_server']):,} bytes from the busiest server")
    return "\n".join(lines)


@main.command()
@PROGRAM
@PARAM
@DEPLOYMENT
@KEY
@click.option("-o", "--out", "out_file", required=True, type=click.Path(path_type=Path),
              metavar="FILE", help="Write the signed approval to FILE (never overwritten).")
@click.option("--policy", "policy_files", multiple=True, type=click.Path(path_type=Path),
              metavar="FILE", help="A data owner's policy (TOML, repeatable): refuse to sign "
                                   "a program that breaks it.")
@SAME_JURISDICTION
@SECURITY
@LIMITS
@_user_errors
def approve(program: Path, params: tuple[str, ...], deployment_path: Path, key_path: Path,
            out_file: Path, policy_files: tuple[Path, ...],
            allow_same_jurisdiction: bool, security: str) -> None:  # fmt: skip
    """Review PROGRAM's disclosures and sign an approval of exactly this computation.

    The approval covers the program fingerprint (which includes every param value), the
    params, the deployment digest and the security mode. The approver is the site whose
    certificate in the deployment matches KEY."""
    from veil.deploy import approvals, keys
    from veil.ir.serialize import circuit_params

    dep = _load_deployment(deployment_path, allow_same_jurisdiction)
    key = keys.load_private_key(key_path)
    site = next((s for s in (*dep.servers, *dep.parties.values())
                 if keys.matches(key, s.certificate)), None)
    if site is None:
        raise VeilError([Diagnostic("V1103", f"{key_path} is the key of no site in "
                                             f"{deployment_path}",
                                    help="use the key whose certificate the deployment pins")])
    _refuse_existing(out_file)
    from veil.analysis import policy as owner_policy

    policies = [owner_policy.load(p) for p in policy_files]
    compiled = _compile(program, params, security=security)
    dep.check_program_parties(compiled.executable.parties)
    click.echo(_disclosure_summary(compiled, dep))
    review = owner_policy.review(compiled, policies,
                                 jurisdictions={n: s.jurisdiction for n, s in dep.parties.items()})
    click.echo("")
    click.echo(owner_policy.render_summary(review, compiled.sources,
                                           servers={s.name: s.jurisdiction
                                                    for s in dep.servers}))
    if not review.ok:
        raise VeilError([*review.violations,
                         Diagnostic("V1203" if any(d.code == "V1203" for d in review.violations)
                                    else review.violations[0].code,
                                    f"not approved: the program breaks "
                                    f"{len(review.violations)} polic"
                                    f"{'y rule' if len(review.violations) == 1 else 'y rules'}; "
                                    f"no approval was written",
                                    help="change the program (or the policy) and review "
                                         "it again")], compiled.sources)
    approval = approvals.create(key, site.name, dep, compiled.fingerprint,
                                circuit_params(compiled.executable), compiled.security)
    _write_new(out_file, approval.to_json())
    click.echo("")
    click.echo(f"approved as {site.name} ({site.role}, {site.jurisdiction}): wrote {out_file}")


@main.command()
@click.argument("name")
@DEPLOYMENT
@KEY
@click.option("--approvals", "approvals_dir", required=True, type=click.Path(path_type=Path),
              metavar="DIR", help="Directory of approval files (re-read for every session).")
@click.option("--audit-log", "audit_path", type=click.Path(path_type=Path), metavar="FILE",
              help="Append a signed, hash-chained record of every event to FILE.")
@click.option("--once", is_flag=True,
              help="Serve one session, then exit (status 1 if it was refused or aborted).")
@click.option("--listen", "listen_on", metavar="HOST:PORT",
              help="Address to bind [default: the host and port in the deployment].")
@click.option("--session-wait", type=click.FloatRange(min=0.1), default=600.0,
              show_default=True, metavar="SECONDS",
              callback=lambda ctx, p, v: _timeout(v),
              help="Seconds connected parties may wait for the others.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", callback=lambda ctx, p, v: _timeout(v),
              help="Seconds a silent peer is tolerated during a session.")
@SAME_JURISDICTION
@click.option("--security", type=click.Choice(("semi-honest", "malicious")), default=None,
              help="Run only sessions of this security mode (default: the mode each "
                   "approved circuit carries).")
@_user_errors
def server(name: str, deployment_path: Path, key_path: Path, approvals_dir: Path,
           audit_path: Path | None, once: bool, listen_on: str | None, session_wait: float,
           timeout: float, allow_same_jurisdiction: bool,
           security: str | None) -> None:  # fmt: skip
    """Run compute server NAME of the deployment until stopped.

    It accepts only TLS 1.3 connections from certificates pinned in the deployment, and
    starts a session only with valid approvals of the same program, params and
    deployment from every party of the program and all three servers."""
    from veil.runtime.server import ServerConfig, run_server

    dep = _load_deployment(deployment_path, allow_same_jurisdiction)
    if name not in [s.name for s in dep.servers]:
        raise VeilError([Diagnostic("V1102", f"{name} is not a server of {deployment_path}",
                                    help="servers: " + ", ".join(s.name for s in dep.servers))])
    if not approvals_dir.is_dir():
        raise VeilError([Diagnostic("V1103", f"approvals directory {approvals_dir} does not "
                                             f"exist")])
    bind = None
    if listen_on is not None:
        host, sep, port = listen_on.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"{listen_on!r}: expected HOST:PORT", param_hint="--listen")
        bind = (host or "0.0.0.0", int(port))
    cfg = ServerConfig(name, dep, key_path, approvals_dir, audit_path, timeout, session_wait,
                       once, bind, security=security)
    # stopped by its operator (kill, systemd): leave like on Ctrl-C, telling the parties
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        status = run_server(cfg)
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


@main.command()
@click.argument("name")
@PROGRAM
@PARAM
@DEPLOYMENT
@KEY
@click.option("--approvals", "approvals_dir", required=True, type=click.Path(path_type=Path),
              metavar="DIR", help="Directory of approval files to present to the servers.")
@click.option("--inputs", "inputs_file", type=click.Path(path_type=Path), metavar="FILE",
              help="This party's input file [default: inputs/NAME.json beside the program].")
@click.option("--out", "out_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Also write this party's outputs to FILE (JSON; never overwritten).")
@JSON
@TIMEOUT
@SAME_JURISDICTION
@SECURITY
@LIMITS
@QUIET
@_user_errors
def party(name: str, program: Path, params: tuple[str, ...], deployment_path: Path,
          key_path: Path, approvals_dir: Path, inputs_file: Path | None, out_file: Path | None,
          as_json: bool, timeout: float, allow_same_jurisdiction: bool,
          security: str) -> None:  # fmt: skip
    """Act for party NAME only: share its own inputs, receive only its own outputs.

    Compiles PROGRAM here, reads and validates only NAME's inputs, dials the three
    servers (retrying until they answer, up to --timeout), and reconstructs only the
    outputs sent to NAME."""
    from veil.api import party_stats, submit
    from veil.deploy.approvals import load_dir
    from veil.io.inputs import load_party_inputs
    from veil.io.outputs import dumps, render_text

    dep = _load_deployment(deployment_path, allow_same_jurisdiction)
    if name not in dep.parties:
        raise VeilError([Diagnostic("V1102", f"{name} is not a party of {deployment_path}")])
    if out_file is not None:
        _refuse_existing(out_file)
    compiled = _compile(program, params, security=security)
    circuit = compiled.executable
    dep.check_program_parties(circuit.parties)
    if name not in circuit.parties:
        raise VeilError([Diagnostic("V1102", f"{name} is not a party of {program}",
                                    help="parties: " + ", ".join(circuit.parties))])
    assert compiled.path is not None
    path = inputs_file or compiled.path.parent / "inputs" / f"{name}.json"
    values = load_party_inputs(circuit, name, path, current_limits().input_bytes)
    approvals = load_dir(approvals_dir)
    bar = progress_bar()
    decoded, result = submit(compiled, name, dep, key_path, approvals, values, timeout,
                             bar if bar.enabled else False)
    bar.close()
    mine = decoded
    stats = party_stats(result)
    if out_file is not None:
        _write_new(out_file, dumps(mine) + "\n")
    if as_json:
        click.echo(dumps({"outputs": {name: mine} if mine else {},
                          "fingerprint": compiled.fingerprint, "backend": "rep3",
                          "stats": stats}))
        return
    click.echo(f"fingerprint {compiled.fingerprint} (backend rep3, deployment "
               f"{dep.digest[:16]}…)")
    if mine:
        click.echo(render_text({name: mine}, "--json or --out FILE shows all"))
    else:
        click.echo(f"{name} receives no output; its inputs were used in a completed run")


@main.group()
def audit() -> None:
    """Verify and read the servers' audit logs (no key needed but the deployment)."""


@audit.command("verify")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=Path))
@DEPLOYMENT
@SAME_JURISDICTION
@_user_errors
def audit_verify(logs: tuple[Path, ...], deployment_path: Path,
                 allow_same_jurisdiction: bool) -> None:  # fmt: skip
    """Check the logs' hash chains and signatures, and that the servers agree."""
    from veil.deploy.audit import sessions_of, verify

    dep = _load_deployment(deployment_path, allow_same_jurisdiction)
    problems, views = verify(list(logs), dep)
    if problems:
        for p in problems:
            click.echo(f"error[V1104]: {p}", err=True)
        click.echo(f"audit verification failed: {len(problems)} problem"
                   f"{'s' if len(problems) != 1 else ''}", err=True)
        sys.exit(1)
    sessions = {sid for v in views for sid in sessions_of(v)}
    lines = sum(len(v.records) for v in views)
    click.echo(f"ok: {len(views)} log{'s' if len(views) != 1 else ''}, {lines} lines, "
               f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}; chains and "
               f"signatures verify, the servers agree on every session")


@audit.command("show")
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--deployment", "deployment_path", type=click.Path(path_type=Path),
              metavar="FILE", help="Verify the log against the deployment first.")
@SAME_JURISDICTION
@_user_errors
def audit_show(log: Path, deployment_path: Path | None, allow_same_jurisdiction: bool) -> None:
    """Print the sessions of a server's log as a regulator reads them."""
    from veil.deploy.audit import LogView, show, verify

    if deployment_path is not None:
        dep = _load_deployment(deployment_path, allow_same_jurisdiction)
        problems, views = verify([log], dep)
        if problems:
            for p in problems:
                click.echo(f"error[V1104]: {p}", err=True)
            sys.exit(1)
        view = views[0]
    else:
        view = _read_unverified(log, LogView)
    click.echo(show(view))


def _read_unverified(path: Path, log_view) -> Any:
    records = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise VeilError([Diagnostic("V1104", f"cannot read {path}: {exc.strerror or exc}")]) \
            from None
    server = None
    for number, raw in enumerate(lines, 1):
        try:
            record = json.loads(raw)
        except ValueError:
            raise VeilError([Diagnostic("V1104", f"{path}:{number}: not a JSON audit record")]) \
                from None
        if isinstance(record, dict):
            server = server or record.get("server")
            records.append((number, record))
    click.echo("(not verified: give --deployment to check signatures and the chain)", err=True)
    return log_view(path, server, records)
