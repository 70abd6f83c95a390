"""The words of the language by kind, for highlighters (the Pygments lexer, and the
TextMate grammar in grammar/vscode, which tests/test_editor_grammars.py holds to this).

A keyword added to grammar/veil.lark must be added here too (a test compares the two),
and to the TextMate grammar's `keywords` patterns; a builtin added to
veil.lang.builtins goes into its `builtins` pattern.
"""

from __future__ import annotations

import re

from veil.lang.builtins import BUILTIN_HELP
from veil.lang.parser import grammar_text

CONTROL = ("for", "in", "if", "else", "while", "return")
DECLARATIONS = ("party", "const", "input", "param", "use", "circuit", "fn", "let", "var",
                "output", "precision")
OTHER = ("from", "to")
LOGICAL = ("and", "or", "not")
MODIFIERS = ("secret", "public", "monotone")
TYPES = ("int", "fixed", "bool")
CONSTANTS = ("true", "false")
KEYWORDS = (*CONTROL, *DECLARATIONS, *OTHER, *LOGICAL, *MODIFIERS, *TYPES, *CONSTANTS)

BUILTINS = (*BUILTIN_HELP, "bristol")
"""Builtin functions, and `bristol` (the format of `circuit f = bristol("file")`)."""


def grammar_keywords() -> set[str]:
    """The words the grammar reserves: every quoted word of grammar/veil.lark."""
    return set(re.findall(r'"([A-Za-z_]+)"', grammar_text()))
