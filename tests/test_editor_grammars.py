"""Editor support: the TextMate grammar (grammar/vscode) and the Pygments lexer classify
every token of every .mpc file in the repository and of every example in docs/, the way
the language's own lexer (grammar/veil.lark) reads it.

For each file, the reference is lark's lexer: every token it finds (keywords, names,
numbers, strings, operators, comments) must get a scope of its kind in the TextMate
grammar and a token of its kind from Pygments, no character may be left unscoped, and
the error scopes (`invalid.illegal`, Pygments' Error) appear only where lark itself
rejects a character (tests/errors/ has such files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import UnexpectedCharacters
from test_docs import all_blocks
from textmate import Grammar, char_scopes

from veil.lang import vocabulary
from veil.lang.parser import grammar_text

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "grammar" / "vscode"
TEXTMATE = EXTENSION / "syntaxes" / "veil.tmLanguage.json"
FILES = sorted(p for d in ("programs", "stdlib", "tests") for p in (ROOT / d).rglob("*.mpc"))
DOC_PROGRAMS = [b for b in all_blocks() if b.kind in ("veil", "veil-error")]
SOURCES = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in FILES] + \
    [(b.id, b.text) for b in DOC_PROGRAMS]


@cache
def _lexer() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic")


def lark_tokens(text: str) -> tuple[list, int | None]:
    """lark's tokens (with comments), and the offset of a character it rejects.

    Out of context lark's lexer reads the words of LABEL, BASE and MONOTONE (`secret`,
    `fixed`, `monotone`: terminals defined by a pattern) as names; they are keywords."""
    tokens = []
    try:
        for tok in _lexer().lex(text, dont_ignore=True):
            if tok.type == "NAME" and tok.value in vocabulary.KEYWORDS:
                tok = tok.update(type="KEYWORD")
            if tok.type != "WS":
                tokens.append(tok)
    except UnexpectedCharacters as exc:
        return tokens, exc.pos_in_stream
    return tokens, None


def family(tok) -> tuple[str, ...]:
    """The TextMate scope prefixes a lark token of this kind may get."""
    if tok.type == "COMMENT":
        return ("comment.line",)
    if tok.type == "STRING":
        return ("string.quoted",)
    if tok.type in ("INT", "FLOAT"):
        return ("constant.numeric",)
    if tok.type == "NAME":
        return ("variable.", "entity.name.", "support.function.")
    if tok.value.isidentifier():
        return ("keyword.", "storage.", "constant.language.")
    return ("keyword.operator.", "punctuation.")


@cache
def textmate() -> Grammar:
    return Grammar(TEXTMATE)


def test_files_are_found() -> None:
    assert len(FILES) >= 40 and len(DOC_PROGRAMS) >= 40


@pytest.mark.parametrize(("name", "text"), SOURCES, ids=[s[0] for s in SOURCES])
def test_textmate_classifies_every_token(name: str, text: str) -> None:
    scopes = char_scopes(textmate(), text)
    tokens, rejected = lark_tokens(text)
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert scopes[i] is not None and len(scopes[i]) > 1, \
                f"{name}: {ch!r} at offset {i} has no scope"
    for tok in tokens:
        for i in range(tok.start_pos, tok.end_pos):
            got = scopes[i]
            assert got is not None and any(s.startswith(family(tok)) for s in got[1:]), \
                f"{name}:{tok.line}:{tok.column}: {tok.type} {tok.value!r} has scopes {got}"
    invalid = [i for i, s in enumerate(scopes) if s and any("invalid" in x for x in s)]
    if rejected is None:
        assert not invalid, f"{name}: error scopes at offsets {invalid[:5]}"
    else:  # the character lark rejects is marked, and nothing before it
        assert invalid and invalid[0] == rejected, (name, invalid[:3], rejected)


def test_textmate_knows_every_keyword_and_builtin() -> None:
    grammar = textmate()
    for word in vocabulary.KEYWORDS:
        scopes = char_scopes(grammar, word)[0]
        assert scopes is not None and scopes[-1].startswith(
            ("keyword.", "storage.", "constant.language.")), (word, scopes)
    for name in vocabulary.BUILTINS:
        scopes = char_scopes(grammar, f"{name}(x)")[0]
        assert scopes is not None and scopes[-1] == "support.function.builtin.veil", \
            (f"add `{name}` to the builtins pattern of {TEXTMATE.relative_to(ROOT)}", scopes)


def test_vocabulary_holds_every_word_of_the_grammar() -> None:
    words = vocabulary.grammar_keywords()
    missing = words - set(vocabulary.KEYWORDS)
    assert not missing, f"add {sorted(missing)} to src/veil/lang/vocabulary.py and to the " \
                        f"keywords of {TEXTMATE.relative_to(ROOT)}"
    assert set(vocabulary.KEYWORDS) <= words, "vocabulary.py lists a word the grammar lacks"


def test_vscode_extension_points_at_the_grammar() -> None:
    package = json.loads((EXTENSION / "package.json").read_text())
    (grammar,) = package["contributes"]["grammars"]
    (language,) = package["contributes"]["languages"]
    assert (EXTENSION / grammar["path"]).resolve() == TEXTMATE.resolve()
    assert grammar["scopeName"] == json.loads(TEXTMATE.read_text())["scopeName"]
    assert language["extensions"] == [".mpc"]
    assert (EXTENSION / language["configuration"]).is_file()


# ---- Pygments

@pytest.fixture(scope="module")
def lexer():
    pytest.importorskip("pygments")
    from pygments.lexers import get_lexer_by_name

    return get_lexer_by_name("veil")  # found through the entry point in pyproject.toml


def pygments_kind(tok) -> tuple[str, ...]:
    """Pygments token types a lark token of this kind may get."""
    if tok.type == "COMMENT":
        return ("Token.Comment",)
    if tok.type == "STRING":
        return ("Token.Literal.String",)
    if tok.type in ("INT", "FLOAT"):
        return ("Token.Literal.Number",)
    if tok.type == "NAME":
        return ("Token.Name",)
    if tok.value.isidentifier():
        return ("Token.Keyword", "Token.Operator.Word")
    return ("Token.Operator", "Token.Punctuation")


@pytest.mark.parametrize(("name", "text"), SOURCES, ids=[s[0] for s in SOURCES])
def test_pygments_lexes_like_the_language(lexer, name: str, text: str) -> None:
    kinds: list[str | None] = [None] * len(text)
    for start, ttype, value in lexer.get_tokens_unprocessed(text):
        for i in range(start, start + len(value)):
            kinds[i] = str(ttype)
    tokens, rejected = lark_tokens(text)
    for tok in tokens:
        got = {kinds[i] for i in range(tok.start_pos, tok.end_pos)}
        assert all(k is not None and k.startswith(pygments_kind(tok)) for k in got), \
            f"{name}:{tok.line}:{tok.column}: {tok.type} {tok.value!r} lexed as {got}"
    errors = [i for i, k in enumerate(kinds) if k == "Token.Error"]
    assert errors == ([] if rejected is None else errors[:1]) and \
        (rejected is None or errors[0] == rejected), (name, errors[:3], rejected)


def test_pygments_finds_the_lexer_by_name_and_file_name(lexer) -> None:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_for_filename

    assert type(get_lexer_for_filename("main.mpc")) is type(lexer)
    html = highlight("party a\ninput x: secret int from a  # mine\n", lexer, HtmlFormatter())
    assert '<span class="kd">input</span>' in html and '<span class="c1"># mine' in html


# ---- the real VS Code tokenizer, where it is installed

def test_textmate_agrees_with_vscode_textmate() -> None:
    """Set VEIL_VSCODE_TEXTMATE to a directory holding node_modules/vscode-textmate and
    node_modules/vscode-oniguruma (`npm install vscode-textmate vscode-oniguruma`) to
    compare this file's tokenizer with the one VS Code uses, character by character."""
    modules = os.environ.get("VEIL_VSCODE_TEXTMATE")
    if not modules or shutil.which("node") is None:
        pytest.skip("VEIL_VSCODE_TEXTMATE is not set (or node is missing)")
    script = Path(__file__).parent / "data" / "vscode_textmate.js"
    files = [str(p) for p in FILES]
    out = subprocess.run(["node", str(script), modules, str(TEXTMATE), *files],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    reference = json.loads(out)
    for file in files:
        text = Path(file).read_text(encoding="utf-8")
        theirs: list = []
        for line, tokens in zip(text.split("\n"), reference[file], strict=True):
            row: list = [None] * len(line)
            for start, end, scopes in tokens:
                row[start:end] = [tuple(scopes)] * (end - start)
            theirs += [*row, None]
        mine = char_scopes(textmate(), text)
        for i, ch in enumerate(text):
            if not ch.isspace():
                assert mine[i] == theirs[i], (file, i, ch, mine[i], theirs[i])
