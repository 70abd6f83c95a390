"""Audit logs: real logs of real runs verify; a flipped byte, a deleted line, a line
from elsewhere, or servers that disagree fail, naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from veil.cli import main
from veil.compiler import compile_source
from veil.deploy import audit, deployment
from veil.ir.semantics import encode
from veil.runtime.local import SERVER_NAMES, LocalRun

SRC = """
party bank_a
party bank_b
input a: secret int[8] from bank_a
input b: secret int[8] from bank_b
output s = sum(a * b) to bank_a, bank_b
output m = max(a) to bank_b
"""


def run_twice(root: Path) -> Path:
    """Two sessions of the same deployment, logged by its three servers."""
    c = compile_source(SRC, backend="rep3").executable
    root.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        inputs = {"a": encode(np.arange(8) + k, "int"), "b": encode(np.ones(8, int), "int")}
        out = LocalRun(timeout=20, audit_dir=root, workdir=root).run(c, inputs)
        assert int(out.outputs["s"].view(np.int64)) == 28 + 8 * k
    return root


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return run_twice(tmp_path_factory.mktemp("audit"))


def paths(root: Path) -> list[Path]:
    return [root / f"{name}.log" for name in SERVER_NAMES]


def verify(root: Path, files: list[Path] | None = None) -> list[audit.Problem]:
    dep = deployment.load(root / "deployment.toml")
    return audit.verify(files or paths(root), dep)[0]


def copy(root: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in root.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_real_logs_verify_and_show_the_sessions(logs: Path) -> None:
    assert verify(logs) == []
    result = CliRunner().invoke(main, ["audit", "verify", *map(str, paths(logs)),
                                       "--deployment", str(logs / "deployment.toml")])
    assert result.exit_code == 0, result.output
    assert "3 logs" in result.output and "2 sessions" in result.output
    shown = CliRunner().invoke(main, ["audit", "show", str(paths(logs)[1]),
                                      "--deployment", str(logs / "deployment.toml")])
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert text.count("outcome              done") == 2
    assert "approved by          bank_a" in text and "server0" in text
    assert "output delivered to  bank_b" in text and "input from           bank_a" in text


def test_a_flipped_byte_is_found(logs: Path, tmp_path: Path) -> None:
    root = copy(logs, tmp_path / "c")
    log = root / "server1.log"
    lines = log.read_bytes().splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if b'"bytes":' in ln)
    lines[k] = lines[k].replace(b'"bytes":', b'"bytes":9', 1)
    log.write_bytes(b"".join(lines))
    problems = verify(root)
    assert problems and problems[0].file == log and problems[0].line == k + 1
    assert "signature does not verify" in problems[0].message
    result = CliRunner().invoke(main, ["audit", "verify", *map(str, paths(root)),
                                       "--deployment", str(root / "deployment.toml")])
    assert result.exit_code == 1 and f"{log}:{k + 1}:" in result.output


def test_a_deleted_line_is_found(logs: Path, tmp_path: Path) -> None:
    root = copy(logs, tmp_path / "c")
    log = root / "server2.log"
    lines = log.read_bytes().splitlines(keepends=True)
    del lines[2]
    log.write_bytes(b"".join(lines))
    problems = verify(root)
    assert problems[0].file == log and problems[0].line == 3
    assert "hash chain broken" in problems[0].message


def test_a_line_from_another_session_is_found(logs: Path, tmp_path: Path) -> None:
    root = copy(logs, tmp_path / "c")
    log = root / "server0.log"
    lines = log.read_bytes().splitlines(keepends=True)
    second = max(i for i, ln in enumerate(lines) if b'"session_start"' in ln)
    # replace a line of the first session by the same kind of line of the second one
    first_input = next(i for i, ln in enumerate(lines) if b'"event":"input"' in ln)
    later_input = next(i for i, ln in enumerate(lines) if b'"event":"input"' in ln and
                       i > second)
    lines[first_input] = lines[later_input]
    log.write_bytes(b"".join(lines))
    problems = verify(root)
    assert problems[0].file == log and problems[0].line == first_input + 1


def test_a_log_of_one_server_copied_under_another_name_is_found(logs: Path,
                                                                tmp_path: Path) -> None:
    root = copy(logs, tmp_path / "c")
    (root / "server2.log").write_bytes((root / "server1.log").read_bytes())
    problems = verify(root)
    assert any("second log of server1" in p.message for p in problems)


def test_servers_that_disagree_are_found(tmp_path: Path) -> None:
    """A server whose log lost a whole session (re-signed: a server lying about its own
    log) is caught by the cross-check with the two others."""
    from veil.deploy import keys

    root = run_twice(tmp_path / "r")
    dep = deployment.load(root / "deployment.toml")
    log = root / "server1.log"
    import json

    records = [json.loads(x) for x in log.read_bytes().splitlines()]
    start = next(i for i, r in enumerate(records) if r["event"] == "session_start")
    kept = [r for i, r in enumerate(records) if not (start <= i and r.get("session") ==
                                                     records[start]["session"])]
    log.unlink()
    writer = audit.AuditLog(log, "server1", keys.load_private_key(root / "server1.key"))
    for r in kept:
        writer.append(r["event"], {k: v for k, v in r.items()
                                   if k not in ("format", "seq", "server", "time", "event",
                                                "prev", "sig")})
    problems = audit.verify(paths(root), dep)[0]
    assert any("missing from server1's log" in p.message for p in problems)
