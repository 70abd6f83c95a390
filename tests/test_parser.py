"""Parser tests: every statement and expression form, operator precedence, comments, spans."""

from __future__ import annotations

from typing import Any

import pytest

from veil.diagnostics import SourceMap, Span, VeilError
from veil.lang import ast
from veil.lang.parser import parse


def sx(node: Any) -> Any:
    """An AST node as nested tuples without spans, to compare shapes compactly."""
    match node:
        case None:
            return None
        case ast.IntLit(value=v) | ast.BoolLit(value=v):
            return v
        case ast.FloatLit():
            return node.value
        case ast.Name(id=name):
            return name
        case ast.Attribute(value=v, attr=a):
            return (".", sx(v), a)
        case ast.Call(func=f, args=args):
            return ("call", sx(f), *map(sx, args))
        case ast.Subscript(value=v, indices=ix):
            return ("[]", sx(v), *map(sx, ix))
        case ast.SingleIndex(expr=e):
            return sx(e)
        case ast.RangeIndex(lo=lo, hi=hi):
            return ("..", sx(lo), sx(hi))
        case ast.Unary(op=op, operand=e):
            return (op, sx(e))
        case ast.Binary(op=op, left=a, right=b):
            return (op, sx(a), sx(b))
        case ast.ArrayLit(elements=els):
            return ("array", *map(sx, els))
        case ast.TypeExpr(label=label, base=base, shape=shape):
            dims = shape if isinstance(shape, str) else tuple(map(sx, shape or ()))
            return ("type", label, base, dims)
        case tuple():
            return tuple(map(sx, node))
    raise AssertionError(f"no sx for {node!r}")


def items(text: str) -> tuple[ast.Stmt, ...]:
    return parse(text, "t.mpc").items


def one(text: str) -> ast.Stmt:
    (item,) = items(text)
    return item


def expr(text: str) -> Any:
    let = one(f"let r = {text}")
    assert isinstance(let, ast.Let)
    return sx(let.value)


# ---------------------------------------------------------------- declarations


def test_party_decl_lists_every_name() -> None:
    decl = one("party eu_bank, cn_bank ,regulator")
    assert isinstance(decl, ast.PartyDecl)
    assert [p.name for p in decl.parties] == ["eu_bank", "cn_bank", "regulator"]
    assert decl.parties[1].span == Span("t.mpc", 1, 16, 1, 23)


def test_const_input_param_use() -> None:
    const, inp, param, use = items("""
        const N = 2 * 500
        input w: secret fixed[N, 20] from eu_bank
        param cutoff: public fixed = 0.5
        use ml
    """)
    assert isinstance(const, ast.ConstDecl) and const.name == "N"
    assert sx(const.value) == ("*", 2, 500)
    assert isinstance(inp, ast.InputDecl) and inp.name == "w" and inp.owner.name == "eu_bank"
    assert sx(inp.type) == ("type", "secret", "fixed", ("N", 20))
    assert isinstance(param, ast.ParamDecl) and param.name == "cutoff"
    assert sx(param.type) == ("type", "public", "fixed", ())
    assert sx(param.default) == 0.5
    assert isinstance(use, ast.UseDecl) and use.module == "ml"


def test_types_scalar_any_shape_and_no_label() -> None:
    fn = one("fn f(a: int, b: bool[..], c: secret fixed[3]) -> public int[2, 2] { return a }")
    assert isinstance(fn, ast.FnDecl)
    assert [(p.name, sx(p.type)) for p in fn.params] == [
        ("a", ("type", None, "int", ())),
        ("b", ("type", None, "bool", ast.ANY_SHAPE)),
        ("c", ("type", "secret", "fixed", (3,))),
    ]
    assert sx(fn.ret) == ("type", "public", "int", (2, 2))


def test_fn_decl_without_params_or_result_type() -> None:
    fn = one("fn zero() { return 0 }")
    assert isinstance(fn, ast.FnDecl)
    assert fn.name == "zero" and fn.params == () and fn.ret is None
    (ret,) = fn.body
    assert isinstance(ret, ast.Return) and sx(ret.value) == 0


# ---------------------------------------------------------------- statements


def test_let_and_var_with_and_without_type() -> None:
    a, b, c = items("let a = 1\nvar b: secret fixed[3] = 0\nlet c: public bool = true")
    assert isinstance(a, ast.Let) and not a.mutable and a.type is None and sx(a.value) == 1
    assert isinstance(b, ast.Let) and b.mutable
    assert sx(b.type) == ("type", "secret", "fixed", (3,))
    assert isinstance(c, ast.Let) and not c.mutable and sx(c.value) is True


def test_assign_and_index_assign() -> None:
    a, b = items("x = x + 1\nm[i, 1..3] = 0.0")
    assert isinstance(a, ast.Assign) and a.name == "x" and sx(a.value) == ("+", "x", 1)
    assert isinstance(b, ast.IndexAssign) and b.name == "m"
    assert sx(b.indices) == ("i", ("..", 1, 3))
    assert sx(b.value) == 0.0


def test_for_loop() -> None:
    loop = one("for i in 0..N - 1 { total = total + x[i] }")
    assert isinstance(loop, ast.For)
    assert loop.var == "i" and sx(loop.lo) == 0 and sx(loop.hi) == ("-", "N", 1)
    (body,) = loop.body
    assert isinstance(body, ast.Assign)


def test_if_else_and_else_if() -> None:
    s = one("if a { x = 1 } else if b { x = 2 } else { x = 3 }")
    assert isinstance(s, ast.If) and sx(s.cond) == "a"
    assert len(s.then) == 1
    (inner,) = s.orelse
    assert isinstance(inner, ast.If) and sx(inner.cond) == "b"
    assert isinstance(inner.orelse[0], ast.Assign) and sx(inner.orelse[0].value) == 3
    bare = one("if a { }")
    assert isinstance(bare, ast.If) and bare.then == () and bare.orelse == ()


def test_while_and_return() -> None:
    fn = one("fn f(n: public int) -> public int { var i = 0 while i < n { i = i + 1 } return i }")
    assert isinstance(fn, ast.FnDecl)
    let, loop, ret = fn.body
    assert isinstance(let, ast.Let)
    assert isinstance(loop, ast.While) and sx(loop.cond) == ("<", "i", "n")
    assert isinstance(ret, ast.Return) and sx(ret.value) == "i"


def test_output_forms() -> None:
    a, b = items("output total to bank\noutput n = sum(x) to bank, regulator")
    assert isinstance(a, ast.Output) and a.name == "total" and a.value is None
    assert [r.name for r in a.receivers] == ["bank"]
    assert isinstance(b, ast.Output) and sx(b.value) == ("call", "sum", "x")
    assert [r.name for r in b.receivers] == ["bank", "regulator"]


def test_statements_need_no_separator() -> None:
    kinds = [type(s).__name__ for s in items("party a let x = 1 var y = x y = 2 output y to a")]
    assert kinds == ["PartyDecl", "Let", "Let", "Assign", "Output"]


# ---------------------------------------------------------------- expressions


@pytest.mark.parametrize(("text", "shape"), [
    ("42", 42),
    ("3.25", 3.25),
    ("1e3", 1000.0),
    ("2.5e-1", 0.25),
    ("true", True),
    ("false", False),
    ("weights", "weights"),
    ("ml.sigmoid", (".", "ml", "sigmoid")),
    ("f()", ("call", "f")),
    ("max(a, b)", ("call", "max", "a", "b")),
    ("ml.sigmoid(z)", ("call", (".", "ml", "sigmoid"), "z")),
    ("x[3]", ("[]", "x", 3)),
    ("m[i, j]", ("[]", "m", "i", "j")),
    ("x[1..4]", ("[]", "x", ("..", 1, 4))),
    ("x[2..]", ("[]", "x", ("..", 2, None))),
    ("x[..2]", ("[]", "x", ("..", None, 2))),
    ("m[.., 0]", ("[]", "m", ("..", None, None), 0)),
    ("f(x)[0]", ("[]", ("call", "f", "x"), 0)),
    ("-x", ("-", "x")),
    ("--x", ("-", ("-", "x"))),
    ("not b", ("not", "b")),
    ("[1, 2, 3]", ("array", 1, 2, 3)),
    ("[]", ("array",)),
    ("[[1, 2], [3, 4]]", ("array", ("array", 1, 2), ("array", 3, 4))),
    ("(a)", "a"),
    ("a / b", ("/", "a", "b")),
    ("a <= b", ("<=", "a", "b")),
    ("a >= b", (">=", "a", "b")),
    ("a == b", ("==", "a", "b")),
    ("a != b", ("!=", "a", "b")),
    ("a or b", ("or", "a", "b")),
])  # fmt: skip
def test_expression_forms(text: str, shape: Any) -> None:
    assert expr(text) == shape


@pytest.mark.parametrize(("text", "shape"), [
    ("a + b * c", ("+", "a", ("*", "b", "c"))),
    ("a * b + c", ("+", ("*", "a", "b"), "c")),
    ("(a + b) * c", ("*", ("+", "a", "b"), "c")),
    ("a - b - c", ("-", ("-", "a", "b"), "c")),
    ("a / b * c", ("*", ("/", "a", "b"), "c")),
    ("not a and b", ("and", ("not", "a"), "b")),
    ("not a < b", ("not", ("<", "a", "b"))),
    ("a < b and c", ("and", ("<", "a", "b"), "c")),
    ("a or b and c", ("or", "a", ("and", "b", "c"))),
    ("a and b or c", ("or", ("and", "a", "b"), "c")),
    ("-x @ w", ("@", ("-", "x"), "w")),
    ("x @ w + b", ("+", ("@", "x", "w"), "b")),
    ("-x[0]", ("-", ("[]", "x", 0))),
    ("-a.b", ("-", (".", "a", "b"))),
    ("a + b < c * d", ("<", ("+", "a", "b"), ("*", "c", "d"))),
    ("x > 0 == true", None),  # comparisons do not chain: a syntax error
])  # fmt: skip
def test_operator_precedence(text: str, shape: Any) -> None:
    if shape is None:
        with pytest.raises(VeilError):
            expr(text)
    else:
        assert expr(text) == shape


# ---------------------------------------------------------------- comments and spans


def test_comments_are_ignored() -> None:
    text = "# a comment line\nparty a  # after code\n#\nlet x = 1 # (unclosed in a comment\n"
    a, b = items(text)
    assert isinstance(a, ast.PartyDecl) and isinstance(b, ast.Let)
    assert b.span.line == 4


def test_spans_have_line_and_column() -> None:
    text = "party a\n\n  let total = x + 22\nfor i in 0..3 {\n    y[i] = -z\n}\n"
    _, let, loop = items(text)
    assert isinstance(let, ast.Let) and isinstance(loop, ast.For)
    assert let.span == Span("t.mpc", 3, 3, 3, 21)
    add = let.value
    assert isinstance(add, ast.Binary)
    assert add.span == Span("t.mpc", 3, 15, 3, 21)
    assert add.left.span == Span("t.mpc", 3, 15, 3, 16)
    assert add.right.span == Span("t.mpc", 3, 19, 3, 21)
    # A block statement spans from its keyword to its closing brace.
    assert (loop.span.line, loop.span.col, loop.span.end_line, loop.span.end_col) == (4, 1, 6, 2)
    (assign,) = loop.body
    assert isinstance(assign, ast.IndexAssign)
    assert assign.span == Span("t.mpc", 5, 5, 5, 14)
    (ix,) = assign.indices
    assert ix.span == Span("t.mpc", 5, 7, 5, 8)
    assert assign.value.span == Span("t.mpc", 5, 12, 5, 14)


def test_spans_carry_the_file_name() -> None:
    module = parse("party a", "prog.mpc")
    assert module.file == "prog.mpc"
    assert module.items[0].span.file == "prog.mpc"


def test_parse_records_the_source() -> None:
    sources = SourceMap()
    parse("party a\nlet x = 1\n", "m.mpc", sources)
    assert sources.line("m.mpc", 2) == "let x = 1"


# ---------------------------------------------------------------- syntax errors


def _syntax_error(text: str):
    with pytest.raises(VeilError) as info:
        parse(text, "t.mpc", SourceMap())
    (diag,) = info.value.diagnostics
    return diag


def test_unexpected_token_lists_what_fits_here() -> None:
    d = _syntax_error("party a\ninput x: secret fixed form a\n")
    assert d.code == "V0101"
    assert (d.span.line, d.span.col, d.span.end_col) == (2, 23, 27)
    # Only what an input declaration can take after its type, not the LALR table's
    # merged look-aheads (`)`, `,`, `=`, `{`).
    assert d.help == "expected `[`, `from` or `in`; did you mean `from`?"


def test_unexpected_character() -> None:
    d = _syntax_error("let x = a && b")
    assert d.code == "V0102" and d.span.col == 11
    assert "`and`" in (d.help or "")


def test_unexpected_end_names_the_unclosed_bracket() -> None:
    d = _syntax_error("# { not this one\nfn f() {\n  return (1\n")
    assert d.code == "V0103"
    assert d.help == "the `(` at line 3, column 10 is never closed: add `)`"
    d = _syntax_error("# { not this one\nfn f() {\n  return 1\n")
    assert d.code == "V0103"
    assert d.help == "the `{` at line 2, column 8 is never closed: add `}`"


def test_incomplete_statement_at_end() -> None:
    d = _syntax_error("let x = 1 +")
    assert d.code == "V0103"
    assert d.help is not None and d.help.startswith("the file ends in the middle of a statement")
