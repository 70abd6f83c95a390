"""docs/python.md, run like a notebook: its ```python blocks in order, in one namespace,
in a scratch directory holding the repository's programs/; a ```text block right after a
python block is what that block prints. The deployment section runs against a real
deployment on this machine (three `veil server` and two `veil party` processes, keys and
approvals made by tests/deploy_harness.py). At the end, `veil run` on the same program
and params must give the outputs the API gave from the DataFrame and from sqlite.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_harness import Site, finish

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "python.md"

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


@dataclass
class Cell:
    line: int
    code: str
    output: str | None  # what it prints, when the page shows it


def cells() -> list[Cell]:
    blocks: list[tuple[int, str, str, int]] = []  # line, kind, text, closing line
    kind, start, body = None, 0, []
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if kind is None and stripped.startswith("```"):
            kind, start, body = stripped[3:].strip(), number, []
        elif kind is not None and stripped == "```":
            blocks.append((start, kind, "\n".join(body) + "\n", number))
            kind = None
        elif kind is not None:
            body.append(line)
    out: list[Cell] = []
    for k, (start, kind, text, end) in enumerate(blocks):
        if kind != "python":
            continue
        output = None
        if k + 1 < len(blocks) and blocks[k + 1][1] == "text":
            between = lines[end:blocks[k + 1][0] - 1]
            if all(not line.strip() for line in between):
                output = blocks[k + 1][2]
        out.append(Cell(start, text, output))
    return out


def test_every_example_shows_its_output() -> None:
    found = cells()
    assert len(found) >= 8 and all(c.output is not None for c in found)


@contextlib.contextmanager
def deployment(root: Path):
    """Servers and the two other parties of credit_scoring, running, for section 5."""
    site = Site(root)
    approvals = site.approve_all(root / "approvals")
    for name in ("s_cn", "s_eu", "s_sg"):
        site.start_server(name, approvals, "--once")
    others = {name: site.start_party(name, approvals, "--timeout", "60")
              for name in ("eu_bank", "regulator")}
    try:
        yield others
    finally:
        site.stop()


@pytest.mark.slow
def test_python_guide_runs_like_a_notebook(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "programs").symlink_to(ROOT / "programs")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__notebook__"}
    for cell in cells():
        printed = io.StringIO()
        with contextlib.ExitStack() as stack:
            others = stack.enter_context(deployment(tmp_path)) if "veil.party(" in cell.code \
                else None
            with contextlib.redirect_stdout(printed):
                exec(compile(cell.code, f"python.md:{cell.line}", "exec"), namespace)
            if others is not None:
                for name, proc in others.items():
                    code, out, err = finish(proc)
                    assert code == 0, (name, err)
                    assert json.loads(out)["outputs"][name]["approvals"] == 935
        if cell.output is not None:
            assert printed.getvalue().rstrip() == cell.output.rstrip(), \
                f"python.md:{cell.line} printed:\n{printed.getvalue()}"
    # the command line computes the same from the program's own input files
    cli = subprocess.run([sys.executable, "-m", "veil", "run", "programs/credit_scoring",
                          "--param", "cutoff=0.6", "--json"],
                         capture_output=True, text=True, check=True, timeout=120)
    expected = json.loads(cli.stdout)["outputs"]
    for result in (namespace["out"], namespace["out_sql"], namespace["from_parquet"]):
        assert result.fingerprint == json.loads(cli.stdout)["fingerprint"]
        for party, outputs in expected.items():
            for name, value in outputs.items():
                assert result[party][name].tolist() == value, (party, name)
