"""The examples in docs/*.md: every ```veil block compiles, every ```veil-error block fails.

A ```veil block is a complete program and must compile without error. A ```veil-error
block starts with a comment `# error: V0403` and must fail with a diagnostic of that
code. Test ids are `FILE:LINE`, the line of the opening fence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from veil.compiler import compile_source
from veil.diagnostics import VeilError

DOCS = Path(__file__).resolve().parent.parent / "docs"
KINDS = ("veil", "veil-error")
ERROR_LINE = re.compile(r"^#\s*error:\s*([VW]\d{4})\s*$")


@dataclass(frozen=True)
class Block:
    file: str
    line: int
    kind: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def extract(path: Path) -> list[Block]:
    """Fenced code blocks of one Markdown file (info string = the word after ```)."""
    blocks: list[Block] = []
    kind: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if kind is None:
            if stripped.startswith("```"):
                kind, start, body = stripped[3:].strip(), number, []
        elif stripped == "```":
            blocks.append(Block(path.name, start, kind, "\n".join(body) + "\n"))
            kind = None
        else:
            body.append(line)
    assert kind is None, f"{path.name}:{start}: unclosed code block"
    return blocks


def all_blocks() -> list[Block]:
    return [b for path in sorted(DOCS.glob("*.md")) for b in extract(path)]


BLOCKS = all_blocks()
PROGRAMS = [b for b in BLOCKS if b.kind == "veil"]
FAILING = [b for b in BLOCKS if b.kind == "veil-error"]


def test_docs_have_examples() -> None:
    assert len(PROGRAMS) >= 10 and len(FAILING) >= 10


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.kind.startswith("veil")], ids=lambda b: b.id
)
def test_no_misspelled_info_string(block: Block) -> None:
    assert block.kind in KINDS, f"{block.id}: unknown block kind `{block.kind}`"


@pytest.mark.parametrize("block", PROGRAMS, ids=lambda b: b.id)
def test_example_compiles(block: Block) -> None:
    try:
        compile_source(block.text, "doc.mpc", program_dir=DOCS.parent)  # paths: repo root
    except VeilError as exc:
        pytest.fail(f"{block.id}: example does not compile:\n{exc.render()}")


@pytest.mark.parametrize("block", FAILING, ids=lambda b: b.id)
def test_error_example_fails_with_its_code(block: Block) -> None:
    first = block.text.splitlines()[0] if block.text.strip() else ""
    match = ERROR_LINE.match(first.strip())
    assert match, f"{block.id}: a veil-error block must start with `# error: CODE`"
    code = match.group(1)
    with pytest.raises(VeilError) as info:
        compile_source(block.text, "doc.mpc", program_dir=DOCS.parent)  # paths: repo root
    codes = [d.code for d in info.value.diagnostics]
    assert code in codes, f"{block.id}: expected {code}, got {codes}:\n{info.value.render()}"
