"""Every example of docs/disclosure.md runs and prints what the page shows.

- A block right after `<!-- file: PATH -->` is a file: written into a scratch directory
  for the commands, or, if PATH is a file of the repository, it must be that file.
- A ```text block whose first line is `$ veil ARGS` is run (in the scratch directory,
  where `programs/` is the repository's); the lines after it, cut at lines `...`, must
  each appear as consecutive lines of its standard output or standard error, in order;
  a last line `[exit status N]` gives the exit status (0 otherwise).
- A ```python block is executed, in the repository root.
(```veil blocks are compiled by tests/test_docs.py.)
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "disclosure.md"
FILE_MARK = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->$")
EXIT_LINE = re.compile(r"^\[exit status (\d+)\]$")


@dataclass(frozen=True)
class Block:
    line: int
    kind: str
    text: str
    file: str | None  # the path of a `<!-- file: ... -->` block


def blocks() -> list[Block]:
    out: list[Block] = []
    kind: str | None = None
    body: list[str] = []
    start, mark, previous = 0, None, ""
    for number, line in enumerate(PAGE.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if kind is None:
            if stripped.startswith("```"):
                found = FILE_MARK.match(previous)
                kind, start, body = stripped[3:].strip(), number, []
                mark = found.group(1) if found else None
            if stripped:
                previous = stripped
        elif stripped == "```":
            out.append(Block(start, kind, "\n".join(body) + "\n", mark))
            kind, previous = None, ""
        else:
            body.append(line)
    return out


BLOCKS = blocks()
FILES = [b for b in BLOCKS if b.file is not None]
COMMANDS = [b for b in BLOCKS if b.kind == "text" and b.text.startswith("$ veil ")]
PYTHON = [b for b in BLOCKS if b.kind == "python"]


def test_the_page_has_its_examples() -> None:
    assert len(FILES) >= 5 and len(COMMANDS) >= 6 and PYTHON


@pytest.mark.parametrize("block", [b for b in FILES if (ROOT / b.file).exists()],
                         ids=lambda b: f"disclosure.md:{b.line}")
def test_shown_repository_files_are_the_real_ones(block: Block) -> None:
    assert (ROOT / block.file).read_text(encoding="utf-8") == block.text


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("disclosure")
    (where / "programs").symlink_to(ROOT / "programs")
    for block in FILES:
        if not (ROOT / block.file).exists():
            (where / block.file).write_text(block.text, encoding="utf-8")
    return where


def _segments(lines: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for line in lines:
        if line.strip() == "...":
            out.append([])
        else:
            out[-1].append(line.rstrip())
    return [s for s in out if s]


def _find(segment: list[str], lines: list[str], start: int) -> int | None:
    """Index after `segment` found as consecutive lines of `lines` from `start`."""
    for i in range(start, len(lines) - len(segment) + 1):
        if lines[i:i + len(segment)] == segment:
            return i + len(segment)
    return None


@pytest.mark.parametrize("block", COMMANDS, ids=lambda b: f"disclosure.md:{b.line}")
def test_command_prints_what_the_page_shows(block: Block, scratch: Path) -> None:
    command, *expected = block.text.rstrip("\n").split("\n")
    status = 0
    if expected and (match := EXIT_LINE.match(expected[-1].strip())):
        status, expected = int(match.group(1)), expected[:-1]
    args = shlex.split(command.removeprefix("$ veil "))
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True,
                          text=True, cwd=scratch, env=env)
    assert proc.returncode == status, proc.stdout + proc.stderr
    streams = [[line.rstrip() for line in s.splitlines()] for s in (proc.stdout, proc.stderr)]
    positions = [0, 0]
    for segment in _segments(expected):
        for k, lines in enumerate(streams):
            end = _find(segment, lines, positions[k])
            if end is not None:
                positions[k] = end
                break
        else:
            shown = "\n".join(segment)
            pytest.fail(f"disclosure.md:{block.line}: not printed (in this order):\n{shown}"
                        f"\n--- stdout:\n{proc.stdout}\n--- stderr:\n{proc.stderr}")


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: f"disclosure.md:{b.line}")
def test_python_example_runs(block: Block, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(block.text, f"disclosure.md:{block.line}", "exec"), {})
    assert "flows (what reaches whom" in capsys.readouterr().out
