"""`veil fmt`: idempotent, keeps every comment and token, and does not change what a
program computes; tested on every .mpc file of the repository that parses, every
example in docs/, whitespace-scrambled variants of them, and the command line."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark
from test_docs import all_blocks

from veil.cli import main
from veil.compiler import compile_source
from veil.diagnostics import VeilError
from veil.lang.fmt import _signature, format_source
from veil.lang.parser import grammar_text, parse

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for d in ("programs", "stdlib", "tests") for p in (ROOT / d).rglob("*.mpc"))


def parses(text: str) -> bool:
    try:
        parse(text)
    except VeilError:
        return False
    return True


SOURCES = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in FILES] + \
    [(b.id, b.text) for b in all_blocks() if b.kind in ("veil", "veil-error")]
PARSING = [(name, text) for name, text in SOURCES if parses(text)]


def test_most_sources_parse() -> None:
    assert len(PARSING) >= 90 and len(SOURCES) - len(PARSING) >= 5


@pytest.mark.parametrize(("name", "text"), PARSING, ids=[s[0] for s in PARSING])
def test_idempotent_and_keeps_tokens_and_comments(name: str, text: str) -> None:
    once = format_source(text, name)
    assert format_source(once, name) == once
    assert _signature(once) == _signature(text)  # the same tokens, the same comments
    assert text.count("#") == once.count("#")


def _computation(compiled) -> tuple:
    """What a circuit computes, without the source positions (which formatting moves)."""
    c = compiled.executable
    return (tuple((n.op, n.args, n.type, n.attrs) for n in c.nodes), c.inputs, c.outputs,
            c.params, c.parties)


PROGRAMS = sorted((ROOT / "programs").glob("*/main.mpc"))


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.parent.name)
def test_formatted_programs_compute_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    formatted = format_source(text)
    before = compile_source(text, "main.mpc", path.parent, backend="rep3")
    after = compile_source(formatted, "main.mpc", path.parent, backend="rep3")
    assert _computation(before) == _computation(after)


def test_shipped_programs_and_stdlib_are_formatted() -> None:
    # like ruff for the Python code: what the repository ships is in the house style
    for path in [*PROGRAMS, *ROOT.glob("stdlib/*.mpc")]:
        text = path.read_text(encoding="utf-8")
        assert format_source(text) == text, f"run `veil fmt {path.relative_to(ROOT)}`"


MESSY = """\
# header

party a,b in EU   # parties


const M = [
  [1, 2], # row 0
  [3,4]
]
fn f(x: fixed[..], y : fixed) -> fixed[..] {   # opens


    let z = x *
       y   # trailing
    # own line in block
    return -z+ - y
    # end of block
}
monotone fn g(x: fixed[..]) -> fixed[..] { return x }
input q: secret fixed[2,2] from a
input longer_name:secret int from b
var s: secret fixed = 0.0
for i in 0..2 { if i == 0 { s = s + q[i, 0] } else if i==1 {s = s+q[i,..]
[0]} else { } }
output o = not (s > 1.0) and true or false to a,b
output t = f(q, 1.0)[0..1, ..] to b   # last
"""

TIDY = """\
# header

party a, b in EU   # parties

const M = [
    [1, 2],   # row 0
    [3, 4]
]
fn f(x: fixed[..], y: fixed) -> fixed[..] {   # opens
    let z = x *
        y   # trailing
    # own line in block
    return -z + -y
    # end of block
}
monotone fn g(x: fixed[..]) -> fixed[..] {
    return x
}
input q:           secret fixed[2, 2] from a
input longer_name: secret int         from b
var s: secret fixed = 0.0
for i in 0..2 {
    if i == 0 {
        s = s + q[i, 0]
    } else if i == 1 {
        s = s + q[i, ..][0]
    } else {}
}
output o = not (s > 1.0) and true or false to a, b
output t = f(q, 1.0)[0..1, ..] to b   # last
"""


def test_layout_rules() -> None:
    assert format_source(MESSY) == TIDY
    assert format_source(TIDY) == TIDY


def test_comment_aligned_with_neighbours_and_statements_unwrapped() -> None:
    text = "party p\nconst A = 1 # one\nconst LONGER = 22  # two\n\nconst C = 3     # alone\n"
    assert format_source(text) == ("party p\nconst A = 1         # one\nconst LONGER = 22   # two\n"
                                   "\nconst C = 3   # alone\n")


def test_only_comments_and_empty() -> None:
    assert format_source("") == ""
    assert format_source("\n\n# just a note\n\n\n# another\n") == "# just a note\n\n# another\n"


def test_syntax_errors_are_reported_not_formatted() -> None:
    with pytest.raises(VeilError) as info:
        format_source("party a\nlet x = (1 + \n", "bad.mpc")
    assert info.value.diagnostics[0].code.startswith("V01")
    assert "bad.mpc:" in info.value.render()


# ---- scrambled whitespace: any layout of the same tokens formats to a fixed point

@cache
def _lexer() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic")


def _gaps(text: str) -> list[int]:
    """Offsets between two tokens where whitespace may be added (not inside a comment)."""
    tokens = [t for t in _lexer().lex(text, dont_ignore=True) if t.type != "WS"]
    return [t.end_pos for t, nxt in itertools.pairwise(tokens)
            if t.type != "COMMENT" and nxt.start_pos >= t.end_pos]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_scrambled_whitespace_formats_to_a_fixed_point(data) -> None:
    name, text = data.draw(st.sampled_from(PARSING))
    gaps = _gaps(text)
    if not gaps:
        return
    chosen = data.draw(st.lists(st.sampled_from(gaps), max_size=12, unique=True))
    pieces = {g: data.draw(st.sampled_from([" ", "  ", "\n", "\n    ", "\n\n"])) for g in chosen}
    scrambled = "".join(pieces.get(i, "") + ch for i, ch in enumerate(text)) + \
        pieces.get(len(text), "")
    once = format_source(scrambled, name)
    assert format_source(once, name) == once
    assert _signature(once) == _signature(text)
    if all("\n" not in p for p in pieces.values()):  # spaces alone change nothing
        assert once == format_source(text, name)


# ---- the command

def test_fmt_command_rewrites_checks_and_diffs(tmp_path: Path) -> None:
    messy = tmp_path / "messy.mpc"
    tidy = tmp_path / "sub" / "tidy.mpc"
    broken = tmp_path / "broken.mpc"
    messy.write_text(MESSY)
    tidy.parent.mkdir()
    tidy.write_text(TIDY)
    broken.write_text("party a\noutput x = ( to a\n")
    runner = CliRunner()
    check = runner.invoke(main, ["fmt", "--check", str(tmp_path)])
    assert check.exit_code == 1 and f"would reformat {messy}" in check.output
    assert "broken.mpc:2:" in check.output and messy.read_text() == MESSY
    diff = runner.invoke(main, ["fmt", "--diff", str(messy)])
    assert diff.exit_code == 0 and "-party a,b in EU" in diff.output
    assert "+party a, b in EU" in diff.output and messy.read_text() == MESSY
    done = runner.invoke(main, ["fmt", str(messy), str(tidy)])
    assert done.exit_code == 0, done.output
    assert messy.read_text() == TIDY and tidy.read_text() == TIDY
    assert "1 file reformatted, 1 unchanged" in done.output
    again = runner.invoke(main, ["fmt", "--check", str(messy), str(tidy)])
    assert again.exit_code == 0
    piped = runner.invoke(main, ["fmt", "-"], input=MESSY)
    assert piped.exit_code == 0 and piped.output == TIDY


def test_the_example_of_the_editors_guide() -> None:
    lines = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8").splitlines()

    def block_after(mark: str) -> str:
        start = lines.index(mark) + 2  # the mark, then the opening fence
        end = lines.index("```", start)
        return "\n".join(lines[start:end]) + "\n"

    assert format_source(block_after("<!-- fmt-input -->")) == \
        block_after("<!-- fmt-output -->")
