"""Progress: the events of compiles and runs, the terminal line that draws them, and
silence everywhere else (pipes, --quiet), with --json output unchanged."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import veil
from veil.cli import main
from veil.progress import Bar, human_bytes

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bar_draws_phase_rounds_and_bytes_after_its_delay() -> None:
    screen, clock = Terminal(), Clock()
    bar = Bar("veil run", screen, clock=clock)
    assert bar.enabled
    bar.update({"phase": "setup"})
    assert screen.getvalue() == ""  # quick work prints nothing
    clock.now += 1.0
    bar.update({"phase": "compute", "round": 6, "rounds": 12, "bytes": 1500, "server": 0})
    bar.update({"phase": "compute", "round": 5, "rounds": 12, "bytes": 2000, "server": 1})
    clock.now += 0.2
    bar.update({"phase": "compute", "round": 6, "rounds": 12, "bytes": 2500, "server": 2})
    line = screen.getvalue().split("\r")[-1]
    assert line.startswith("veil run: compute  [") and "] round 5/12" in line
    assert "6.0 kB sent" in line and "1.2 s" in line  # slowest server; bytes of all three
    bar.close()
    assert screen.getvalue().endswith("\r" + " " * len(line.rstrip()) + "\r")


def test_bar_shows_waiting_parties_and_compile_steps() -> None:
    screen, clock = Terminal(), Clock()
    bar = Bar("veil party", screen, clock=clock, delay=0)
    bar.update({"phase": "waiting", "for": ["eu_bank", "regulator"]})
    assert bar.text().startswith("veil party: waiting for eu_bank, regulator")
    bar.update({"phase": "compile", "step": "dot-fusion", "done": 5, "total": 10})
    assert "compile dot-fusion  [############------------] 5/10" in bar.text()


def test_bar_is_silent_off_a_terminal() -> None:
    pipe = io.StringIO()
    bar = Bar("veil run", pipe, delay=0)
    bar.update({"phase": "compute", "round": 1, "rounds": 2})
    bar.close()
    assert not bar.enabled and pipe.getvalue() == ""
    assert human_bytes(999) == "999 B" and human_bytes(1_234_567) == "1.2 MB"


def test_compile_reports_each_step() -> None:
    events: list[dict] = []
    veil.compile(CREDIT, progress=events.append)
    steps = [e["step"] for e in events]
    assert steps[:3] == ["parse", "check", "lower"] and "rep3-lower" in steps
    assert [e["done"] for e in events] == list(range(len(events)))
    assert {e["total"] for e in events} == {len(events)}


SLOW = """
party a
party b
const N = 40000
input x: secret fixed[N] from a
input y: secret fixed[N] from b
var acc: secret fixed[N] = x
for i in 0..24 {
    acc = select(acc > y, acc * 0.5, acc + y)
}
output s = sum(acc) to b
"""


def test_a_long_run_reports_rounds_and_bytes_from_every_server() -> None:
    prog = veil.compile(source=SLOW)
    events: list[dict] = []
    x, y = np.linspace(0, 1, 40000), np.linspace(1, 0, 40000)
    out = prog.run({"a": {"x": x}, "b": {"y": y}}, progress=events.append)
    compute = [e for e in events if e["phase"] == "compute"]
    assert compute, events
    rounds = prog.report["rounds_by_phase"]["compute"]
    assert all(e["rounds"] == rounds and 0 <= e["round"] <= rounds for e in compute)
    assert all(e["bytes"] > 0 and e["server"] in (0, 1, 2) for e in compute)
    assert max(e["bytes"] for e in compute) <= max(out.stats["bytes_sent"])
    assert [e["phase"] for e in events][:2] == ["setup", "connect"]


PRODUCTS = """
party a
party b
input x: secret int[600000] from a
input y: secret int[600000] from b
output p = x * y to b
"""


def test_a_verified_run_reports_its_preprocessing() -> None:
    """The verified mode's preprocessing (600,000 products' triples: about a second here;
    the heartbeat comes every quarter second) is reported as its own phase, before the
    compute rounds, so a party can tell it from a dead server."""
    prog = veil.compile(source=PRODUCTS, security="malicious")
    events: list[dict] = []
    x = np.arange(600000) % 7
    out = prog.run({"a": {"x": x}, "b": {"y": np.ones(600000, dtype=np.int64)}},
                   progress=events.append)
    assert np.array_equal(out["b"]["p"], x)
    phases = [e["phase"] for e in events]
    assert "preprocess" in phases, phases
    first = phases.index("preprocess")
    assert "compute" not in phases[:first]


def test_quiet_and_json_output_unchanged() -> None:
    runner = CliRunner()
    loud = runner.invoke(main, ["run", str(CREDIT), "--json"])
    quiet = runner.invoke(main, ["run", str(CREDIT), "--json", "--quiet"])
    assert loud.exit_code == quiet.exit_code == 0
    assert json.loads(loud.output)["outputs"] == json.loads(quiet.output)["outputs"]
    for command in (["check"], ["compile", "-o", os.devnull], ["cost"], ["run"]):
        result = runner.invoke(main, [*command, str(CREDIT), "-q"])
        assert result.exit_code == 0, result.output


def run_on_terminal(*args: str) -> tuple[str, bytes]:
    """Run `veil ARGS` with standard error on a pseudo-terminal: (stdout, what the
    terminal received)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "veil", *args], stdout=subprocess.PIPE,
                            stderr=follower, env={**os.environ, "TERM": "xterm"})
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    out = proc.communicate(timeout=10)[0].decode()
    os.close(leader)
    assert proc.returncode == 0, screen.decode(errors="replace")
    return out, screen


@pytest.mark.slow
def test_a_terminal_gets_the_progress_line_and_stdout_does_not(tmp_path: Path) -> None:
    # 6,000 dependent products take a few seconds to compile: long enough for the line
    # (x is declared small, so the range analysis proves them safe and warns of nothing)
    lines = ["party a", "party b", "input x: secret fixed[64] in [-0.5, 0.5] from a",
             "var acc: secret fixed[64] = x", *(f"acc = acc * x + {i}.5" for i in range(6000)),
             "output s = sum(acc) to b"]
    big = tmp_path / "big.mpc"
    big.write_text("\n".join(lines) + "\n")
    # (written to a file: run_on_terminal reads standard output only at the end)
    out, screen = run_on_terminal("compile", str(big), "-o", os.devnull)
    assert b"veil compile: compile " in screen and b"\r" in screen
    assert screen.endswith(b"\r") and out.startswith(f"wrote {os.devnull}")
    assert "veil compile" not in out
    out, screen = run_on_terminal("compile", str(big), "-o", os.devnull, "--quiet")
    assert screen == b"" and out.startswith(f"wrote {os.devnull}")
