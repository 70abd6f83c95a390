"""Parse Veil source text into the AST with lark (LALR), turning syntax errors into diagnostics."""

from __future__ import annotations

import difflib
import functools
import re
from importlib import resources

import lark
from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from veil.deep import MAX_NESTING, too_deep
from veil.diagnostics import Diagnostic, SourceMap, Span, VeilError
from veil.lang import ast
from veil.lang.fastparse import FastParser, TooDeep


@functools.cache
def grammar_text() -> str:
    """The shipped grammar, read from the installed package (never from the checkout)."""
    return resources.files("veil.grammar").joinpath("veil.lark").read_text(encoding="utf-8")


@functools.cache
def _parser() -> Lark:
    # cache=True keeps the built LALR tables in a file of the temp directory, keyed by the
    # grammar's hash and lark's version: each process would spend ~0.1 s building them
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True,
                cache=True)


_BINARY_OPS = {
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
    "add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@",
    "and_op": "and", "or_op": "or",
}  # fmt: skip


class _ToAst(Transformer_NonRecursive):
    """Builds AST nodes from the lark tree; every node gets a span."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def _ref(self, tok: Token) -> ast.NameRef:
        return ast.NameRef(self._tok_span(tok), str(tok))

    def __default__(self, data, children, meta):
        if data in _BINARY_OPS:
            left, right = children
            return ast.Binary(self._span(meta), _BINARY_OPS[data], left, right)
        raise NotImplementedError(f"grammar rule {data!r} has no AST builder")

    # ---- declarations
    @v_args(meta=True)
    def start(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def party_decl(self, meta, children):
        return ast.PartyDecl(self._span(meta), tuple(name for name, _ in children),
                             tuple(where for _, where in children))

    def party_item(self, children):
        name, where = children
        return self._ref(name), (self._ref(where) if where is not None else None)

    @v_args(meta=True)
    def const_decl(self, meta, children):
        name, value = children
        return ast.ConstDecl(self._span(meta), str(name), value)

    @v_args(meta=True)
    def input_decl(self, meta, children):
        name, typ, rng, owner = children
        return ast.InputDecl(self._span(meta), str(name), typ, self._ref(owner), rng)

    @v_args(meta=True)
    def input_range(self, meta, children):
        lo, hi = children
        return ast.InputRange(self._span(meta), lo, hi)

    @v_args(meta=True)
    def precision_decl(self, meta, children):
        tok = children[0]
        return ast.PrecisionDecl(self._span(meta), int(tok), self._tok_span(tok))

    @v_args(meta=True)
    def param_decl(self, meta, children):
        name, typ, default = children
        return ast.ParamDecl(self._span(meta), str(name), typ, default)

    @v_args(meta=True)
    def use_decl(self, meta, children):
        return ast.UseDecl(self._span(meta), str(children[0]))

    @v_args(meta=True)
    def fn_decl(self, meta, children):
        annotations = tuple(c for c in children if isinstance(c, ast.NameRef))
        name, *rest = [c for c in children if not isinstance(c, ast.NameRef)]
        body = rest[-1]
        ret = rest[-2]
        params = tuple(p for p in rest[:-2] if p is not None)
        return ast.FnDecl(self._span(meta), str(name), params, ret, body, annotations)

    def annotation(self, children):
        return self._ref(children[0])  # the modifier keyword as a NameRef

    @v_args(meta=True)
    def fn_param(self, meta, children):
        name, typ = children
        return ast.FnParam(self._span(meta), str(name), typ)

    @v_args(meta=True)
    def type(self, meta, children):
        label = None
        shape: tuple[ast.Expr, ...] | str | None = None
        base = ""
        for child in children:
            if isinstance(child, Token) and child.type == "LABEL":
                label = str(child)
            elif isinstance(child, Token) and child.type == "BASE":
                base = str(child)
            else:
                shape = child
        return ast.TypeExpr(self._span(meta), label, base, shape)

    def fixed_shape(self, children):
        return tuple(children)

    def any_shape(self, children):
        return ast.ANY_SHAPE

    # ---- statements
    @v_args(meta=True)
    def block(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def let_tuple_stmt(self, meta, children):
        *names, value = children
        return ast.LetTuple(self._span(meta), tuple(self._ref(n) for n in names), value)

    @v_args(meta=True)
    def circuit_decl(self, meta, children):
        name, fmt, path = children
        return ast.CircuitDecl(self._span(meta), str(name), self._ref(fmt), str(path)[1:-1],
                               self._tok_span(path))

    @v_args(meta=True)
    def let_stmt(self, meta, children):
        name, typ, value = children
        return ast.Let(self._span(meta), str(name), typ, value, mutable=False)

    @v_args(meta=True)
    def var_stmt(self, meta, children):
        name, typ, value = children
        return ast.Let(self._span(meta), str(name), typ, value, mutable=True)

    @v_args(meta=True)
    def assign_stmt(self, meta, children):
        name, value = children
        return ast.Assign(self._span(meta), str(name), value)

    @v_args(meta=True)
    def index_assign_stmt(self, meta, children):
        name, *indices, value = children
        return ast.IndexAssign(self._span(meta), str(name), tuple(indices), value)

    @v_args(meta=True)
    def for_stmt(self, meta, children):
        var, lo, hi, body = children
        return ast.For(self._span(meta), str(var), lo, hi, body)

    @v_args(meta=True)
    def if_stmt(self, meta, children):
        cond, then, orelse = children
        return ast.If(self._span(meta), cond, then, orelse or ())

    @v_args(meta=True)
    def else_if(self, meta, children):
        return (children[0],)

    @v_args(meta=True)
    def while_stmt(self, meta, children):
        cond, body = children
        return ast.While(self._span(meta), cond, body)

    @v_args(meta=True)
    def return_stmt(self, meta, children):
        return ast.Return(self._span(meta), children[0])

    @v_args(meta=True)
    def output_stmt(self, meta, children):
        name, value, *receivers = children
        return ast.Output(
            self._span(meta), str(name), value, tuple(self._ref(r) for r in receivers)
        )

    # ---- expressions
    @v_args(meta=True)
    def not_op(self, meta, children):
        return ast.Unary(self._span(meta), "not", children[0])

    @v_args(meta=True)
    def neg(self, meta, children):
        return ast.Unary(self._span(meta), "-", children[0])

    @v_args(meta=True)
    def call(self, meta, children):
        func, *args = children
        return ast.Call(self._span(meta), func, tuple(a for a in args if a is not None))

    @v_args(meta=True)
    def subscript(self, meta, children):
        value, *indices = children
        return ast.Subscript(self._span(meta), value, tuple(indices))

    @v_args(meta=True)
    def attribute(self, meta, children):
        value, attr = children
        return ast.Attribute(self._span(meta), value, str(attr))

    @v_args(meta=True)
    def single_index(self, meta, children):
        return ast.SingleIndex(self._span(meta), children[0])

    @v_args(meta=True)
    def range_index(self, meta, children):
        lo, hi = children
        return ast.RangeIndex(self._span(meta), lo, hi)

    @v_args(meta=True)
    def int_lit(self, meta, children):
        return ast.IntLit(self._span(meta), int(children[0]))

    @v_args(meta=True)
    def float_lit(self, meta, children):
        return ast.FloatLit(self._span(meta), str(children[0]))

    @v_args(meta=True)
    def true_lit(self, meta, children):
        return ast.BoolLit(self._span(meta), True)

    @v_args(meta=True)
    def false_lit(self, meta, children):
        return ast.BoolLit(self._span(meta), False)

    @v_args(meta=True)
    def name(self, meta, children):
        return ast.Name(self._span(meta), str(children[0]))

    @v_args(meta=True)
    def array_lit(self, meta, children):
        return ast.ArrayLit(self._span(meta), tuple(c for c in children if c is not None))


def _describe_terminal(name: str) -> str:
    """A readable form of a lark terminal name for 'expected ...' messages."""
    readable = {"NAME": "a name", "INT": "a number", "FLOAT": "a number",
                "LABEL": "`secret` or `public`", "BASE": "`int`, `fixed` or `bool`",
                "$END": "end of file"}  # fmt: skip
    if name in readable:
        return readable[name]
    try:
        term = _parser().get_terminal(name)
    except KeyError:
        return name
    if isinstance(term.pattern, lark.lexer.PatternStr):
        return f"`{term.pattern.value}`"
    return name.lower()


def _expected_list(expected: set[str]) -> str:
    """`a`, `b` or `c` — at most eight, then `...`."""
    names = sorted({_describe_terminal(e) for e in expected})
    if len(names) > 8:
        return ", ".join([*names[:8], "..."])
    if len(names) > 1:
        return f"{', '.join(names[:-1])} or {names[-1]}"
    return names[0] if names else "something else"


def _expected(exc: UnexpectedToken | UnexpectedEOF) -> set[str]:
    """What the parser could have taken here.

    `accepts` is tried on the real parser state; `expected` comes from the LALR table,
    whose merged states also list tokens of unrelated contexts (`)`, `{` after a type in
    an `input` declaration), so it is only the fallback.
    """
    accepts = getattr(exc, "accepts", None)
    return set(accepts or exc.expected)


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _unclosed(text: str, upto: int) -> tuple[str, int, int] | None:
    """The innermost bracket opened before offset `upto` and not closed: (char, line, col).

    Veil has no strings, so skipping `#` comments is all the lexing this needs.
    """
    stack: list[tuple[str, int, int]] = []
    line, col, i = 1, 1, 0
    while i < min(upto, len(text)):
        ch = text[i]
        if ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
                col += 1
            continue
        if ch in _CLOSERS:
            stack.append((ch, line, col))
        elif ch in _CLOSERS.values() and stack and _CLOSERS[stack[-1][0]] == ch:
            stack.pop()
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    return stack[-1] if stack else None


def _unclosed_note(text: str, upto: int, expected: set[str]) -> tuple[str, str] | None:
    """(`the ( at line 2, column 9 is never closed`, `)`) when that explains the error."""
    opener = _unclosed(text, upto)
    if opener is None:
        return None
    char, line, col = opener
    closer = _CLOSERS[char]
    if {")": "RPAR", "]": "RSQB", "}": "RBRACE"}[closer] not in expected:
        return None
    return f"the `{char}` at line {line}, column {col} is never closed", closer


# A character that is not Veil, and what to write instead.
_CHAR_HELP = {
    ";": "Veil needs no `;`: put each statement on its own line",
    "%": "Veil has no remainder operator `%`; the arithmetic operators are + - * / and @",
    "&": "write `and` for a logical and",
    "|": "write `or` for a logical or",
    "!": "write `not x` for a logical not (`!=` is not-equal)",
    "^": "Veil has no power operator; multiply (`x * x`)",
    '"': "Veil has no strings; parties, inputs and outputs are named with plain names",
    "'": "Veil has no strings; parties, inputs and outputs are named with plain names",
}


def _syntax_error(exc: Exception, file: str, text: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return _eof_error(file, text, _expected(exc))
        expected = _expected(exc)
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + 1)  # fmt: skip
        return Diagnostic("V0101", f"unexpected `{tok}`", span,
                          _token_help(str(tok), expected, text, tok.start_pos or 0))
    if isinstance(exc, UnexpectedCharacters):
        span = Span(file, exc.line, exc.column, exc.line, exc.column + 1)
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        help_text = _CHAR_HELP.get(char, "remove it: Veil source is names, numbers, operators "
                                         "and `#` comments")  # fmt: skip
        return Diagnostic("V0102", f"unexpected character `{char}`", span, help_text)
    assert isinstance(exc, UnexpectedEOF)
    return _eof_error(file, text, _expected(exc))


def _token_help(tok: str, expected: set[str], text: str, pos: int) -> str:
    """What to write instead of the unexpected token `tok`."""
    if tok in {"secret", "public"}:
        if "BASE" in expected:
            return "a type has one label, then the base type: `secret fixed[N]`"
        if re.search(r"\b(int|fixed|bool)\s*(\[[^\]]*\])?\s*$", text[:pos]):
            return "the label comes first in a type: `secret fixed[N]`"
    misspelt = _statement_typo(text, pos, expected)
    if misspelt is not None:
        return misspelt
    help_text = f"expected {_expected_list(expected)}"
    keywords = [_describe_terminal(e).strip("`") for e in expected]
    close = difflib.get_close_matches(tok, [k for k in keywords if k.isalpha()], n=1)
    if close:
        help_text += f"; did you mean `{close[0]}`?"
    note = _unclosed_note(text, pos, expected)
    if note is not None:
        help_text += f" ({note[0]})"
    return help_text


STATEMENT_KEYWORDS = ("party", "input", "output", "param", "const", "let", "var", "for",
                      "if", "while", "return", "use", "fn", "precision", "circuit",
                      "monotone")
"""Keywords that begin a declaration or statement (a misspelt one reads as a name)."""

_LAST_WORD = re.compile(r"(?:^|(?<=[\s{}]))([A-Za-z_]\w*)[ \t]*$")


def _statement_typo(text: str, pos: int, expected: set[str]) -> str | None:
    """The help for a name where the parser wanted `=` or `[` after another name.

    That happens when a statement's first word is not a keyword: `inptu x: ...` reads as
    an assignment to `inptu`, so the parser complains at `x`. If the first word is close
    to a keyword, say which; after `party a b` (or `to a b`), say that names are
    separated by commas."""
    if "EQUAL" not in expected or "LSQB" not in expected:
        return None
    line_start = text.rfind("\n", 0, pos) + 1
    before = text[line_start:pos]
    if not before.strip():  # the name that began the statement ended the line above
        line_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
        before = text[line_start:pos].rstrip()
    found = _LAST_WORD.search(before)
    if found is None:
        return None
    word = found.group(1)
    head = before[:found.start(1)]
    if not head.strip() or head.rstrip().endswith(("{", "}")):
        close = difflib.get_close_matches(word, STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        if close and word not in STATEMENT_KEYWORDS:
            return f"`{word}` is not a keyword: did you mean `{close[0]}`?"
    if re.match(r"\s*party\b", head):
        return "separate the parties with commas: `party a, b, c`"
    if re.search(r"\bto\s+\w", head):
        return "separate the receivers with commas: `output x = ... to a, b`"
    return None


def _eof_error(file: str, text: str, expected: set[str]) -> Diagnostic:
    lines = text.splitlines() or [""]
    line = len(lines)
    col = len(lines[-1]) + 1
    note = _unclosed_note(text, len(text), expected)
    if note is not None:
        help_text = f"{note[0]}: add `{note[1]}`"
    else:
        help_text = ("the file ends in the middle of a statement; "
                     f"expected {_expected_list(expected)}")
    return Diagnostic("V0103", "unexpected end of file", Span(file, line, col, line, col + 1),
                      help_text)


def nesting(tree: lark.Tree, file: str) -> tuple[int, Span | None]:
    """The depth of the parse tree and where its deepest node is (without recursion:
    the tree of a 5,000-level expression is itself 5,000 levels deep)."""
    deepest, where = 0, None
    stack: list[tuple[lark.Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            meta = node.meta
            if not getattr(meta, "empty", True):
                where = Span(file, meta.line, meta.column, meta.line, meta.column + 1)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))
    return deepest, where


@functools.cache
def _fast() -> FastParser:
    return FastParser(_parser())


def parse(text: str, file: str = "<input>", sources: SourceMap | None = None) -> ast.Module:
    """Parse one source file; raise VeilError (code V01xx) on a syntax error.

    The grammar's LALR table is driven by veil.lang.fastparse, which builds the AST
    during the parse in linear time; where it stops (a syntax error, anything it does
    not expect), lark parses the text and reports. Neither recurses, so a deep
    expression parses whatever its depth; deeper than veil.deep.MAX_NESTING is error
    V0104 here, before any recursive walk (the checker's) meets it."""
    if sources is not None:
        sources.add(file, text)
    try:
        items = _fast().parse(text, _ToAst(file))
    except TooDeep as exc:
        line, col = exc.start or (1, 1)
        _raise_too_deep(file, Span(file, line, col, line, col + 1), sources)
    if items is None:
        items = _parse_with_lark(text, file, sources)
    return ast.Module(file, items)


def _raise_too_deep(file: str, where: Span | None, sources: SourceMap | None) -> None:
    diag = too_deep(f"`{file}`").diagnostics[0]
    raise VeilError([Diagnostic(diag.code, diag.message, where, diag.help)], sources)


def _parse_with_lark(text: str, file: str, sources: SourceMap | None) -> tuple:
    try:
        tree = _parser().parse(text)
        depth, where = nesting(tree, file)
        if depth > MAX_NESTING:
            _raise_too_deep(file, where, sources)
        return _ToAst(file).transform(tree)
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedEOF) as exc:
        raise VeilError([_syntax_error(exc, file, text)], sources) from None
    except VisitError as exc:  # a bug in a transformer method, not a user error
        raise exc.orig_exc from exc
