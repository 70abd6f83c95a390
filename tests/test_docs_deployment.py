"""docs/deployment.md, run as written: every command of its ```sh blocks, in order, in a
fresh directory, with its deployment file (the ```toml block) pointed at local ports.

Servers and parties run in the background like at their sites; the other commands run
one after another and must succeed. The deterministic parts of the shown output (the
deployment section of the report, the parties' results, the audit verdict) must be
what the commands print."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from deploy_harness import free_port
from test_docs import extract

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deployment.md"
VEIL = [sys.executable, "-m", "veil"]


def local_deployment(toml: str) -> str:
    """The doc's deployment file with every host on 127.0.0.1 and a free port each."""
    toml = re.sub(r'host = "[^"]+"', 'host = "127.0.0.1"', toml)
    return re.sub(r"port = 7000", lambda _: f"port = {free_port()}", toml)


def commands() -> list[list[str]]:
    out = []
    for block in extract(DOC):
        if block.kind != "sh":
            continue
        for line in block.text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(shlex.split(line))
    return out


def shown(kind: str = "text") -> str:
    return "\n".join(b.text for b in extract(DOC) if b.kind == kind)


def wait_for_done(logs: list[Path], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.exists() and '"event":"done"' in p.read_text() for p in logs):
            return
        time.sleep(0.05)
    raise AssertionError("the servers did not log the end of the session")


def test_the_deployment_guide_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "programs").symlink_to(ROOT / "programs")
    tomls = [b.text for b in extract(DOC) if b.kind == "toml"]
    assert len(tomls) == 1
    (tmp_path / "deployment.toml").write_text(local_deployment(tomls[0]))
    background: list[subprocess.Popen] = []
    parties: dict[str, subprocess.Popen] = {}
    outputs: dict[str, str] = {}
    try:
        for cmd in commands():
            if cmd[0] == "veil" and cmd[1] == "server":
                background.append(subprocess.Popen([*VEIL, *cmd[1:]], cwd=tmp_path,
                                                   stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
                continue
            if cmd[0] == "veil" and cmd[1] == "party":
                parties[cmd[2]] = subprocess.Popen([*VEIL, *cmd[1:], "--timeout", "60"],
                                                   cwd=tmp_path, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
                continue
            for name, proc in list(parties.items()):  # the parties finish before what follows
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, (name, err.decode())
                outputs[name] = out.decode()
                del parties[name]
            if cmd[0] == "veil" and cmd[1] == "audit":
                wait_for_done([tmp_path / a for a in cmd if a.endswith(".audit.log")])
            run = subprocess.run([*VEIL, *cmd[1:]] if cmd[0] == "veil" else cmd, cwd=tmp_path,
                                 capture_output=True, timeout=120)
            assert run.returncode == 0, (cmd, run.stderr.decode())
            outputs[" ".join(cmd[:3])] = run.stdout.decode()
    finally:
        for proc in [*background, *parties.values()]:
            proc.terminate()
            proc.wait(10)
    expected = json.loads((ROOT / "programs" / "credit_scoring" / "expected.json").read_text())
    for party in ("eu_bank", "regulator"):
        assert f"approvals = {expected['approved_count']}" in outputs[party]
    assert f"regulator:\n  approvals = {expected['approved_count']}" in shown()
    assert re.search(r"approved = \[(true|false), ", outputs["cn_bank"])  # not a hex number
    assert "(1,000 values; --json or --out FILE shows all)" in outputs["cn_bank"]
    report = outputs["veil cost programs/credit_scoring"]
    deterministic = [ln for ln in shown().splitlines()
                     if ln.startswith(("    s_", "    connect ", "  pairs of servers"))]
    assert len(deterministic) >= 7
    for line in deterministic:
        assert line in report, line
    verdict = outputs["veil audit verify"]
    assert verdict.startswith("ok: 3 logs,") and "1 session;" in verdict
    assert "outcome              done" in outputs["veil audit show"]
    assert "approved by          cn_bank" in outputs["veil audit show"]
