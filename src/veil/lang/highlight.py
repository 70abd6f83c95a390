"""A Pygments lexer for Veil, for highlighting docs and slides (`pip install 'veil[docs]'`).

Registered with Pygments under the name `veil` (the `pygments.lexers` entry point in
pyproject.toml), so Sphinx, MkDocs (pymdownx.highlight), `pygmentize -l veil` and
anything else built on Pygments highlight ```veil blocks and .mpc files. The words come
from veil.lang.vocabulary; every .mpc file of the repository and every example in docs/
lexes without an error token (tests/test_editor_grammars.py).
"""

from __future__ import annotations

from typing import ClassVar

from veil.extras import require
from veil.lang import vocabulary as v

require("pygments", "the Veil lexer for Pygments")

from pygments.lexer import RegexLexer, bygroups, words  # noqa: E402
from pygments.token import (  # noqa: E402
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

_IDENT = r"[A-Za-z_][A-Za-z_0-9]*"


class VeilLexer(RegexLexer):
    """Veil, the language of secure multi-party computation programs (.mpc)."""

    name = "Veil"
    aliases: ClassVar[list[str]] = ["veil"]
    filenames: ClassVar[list[str]] = ["*.mpc"]
    mimetypes: ClassVar[list[str]] = ["text/x-veil"]

    tokens: ClassVar[dict[str, list]] = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            (r"(fn)(\s+)(" + _IDENT + ")", bygroups(Keyword.Declaration, Whitespace,
                                                      Name.Function)),
            (words(v.CONTROL, suffix=r"\b"), Keyword),
            (words(v.DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(v.OTHER, suffix=r"\b"), Keyword),
            (words(v.LOGICAL, suffix=r"\b"), Operator.Word),
            (words(v.MODIFIERS, suffix=r"\b"), Keyword.Reserved),
            (words(v.TYPES, suffix=r"\b"), Keyword.Type),
            (words(v.CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (words(v.BUILTINS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (r"(" + _IDENT + r")(\.)(?=[A-Za-z_])", bygroups(Name.Namespace, Punctuation)),
            (_IDENT + r"(?=\s*\()", Name.Function),
            (_IDENT, Name),
            (r"->|\.\.|==|!=|<=|>=|[-+*/@<>=]", Operator),
            (r"[,:.()\[\]{}]", Punctuation),
            (r".", Error),
        ],
    }

