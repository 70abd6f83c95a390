"""The Veil abstract syntax tree: immutable nodes, each with the span it came from."""

from __future__ import annotations

from dataclasses import dataclass

from veil.diagnostics import Span


@dataclass(frozen=True)
class Node:
    span: Span


# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class TypeExpr(Node):
    """`secret fixed[N, F]`: label None = any label; shape None = scalar, ANY = any shape."""

    label: str | None
    base: str
    shape: tuple[Expr, ...] | str | None


ANY_SHAPE = ".."


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr(Node):
    pass


@dataclass(frozen=True)
class IntLit(Expr):
    value: int


@dataclass(frozen=True)
class FloatLit(Expr):
    text: str

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class BoolLit(Expr):
    value: bool


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class Attribute(Expr):
    value: Expr
    attr: str


@dataclass(frozen=True)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class SingleIndex(Node):
    expr: Expr


@dataclass(frozen=True)
class RangeIndex(Node):
    lo: Expr | None
    hi: Expr | None


Index = SingleIndex | RangeIndex


@dataclass(frozen=True)
class Subscript(Expr):
    value: Expr
    indices: tuple[Index, ...]


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "-" | "not"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / @ < <= > >= == != and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class ArrayLit(Expr):
    elements: tuple[Expr, ...]


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Stmt(Node):
    pass


@dataclass(frozen=True)
class Let(Stmt):
    name: str
    type: TypeExpr | None
    value: Expr
    mutable: bool  # `var` when True


@dataclass(frozen=True)
class LetTuple(Stmt):
    """`let (a, b) = f(x)`: bind each result of a call with several results."""

    names: tuple[NameRef, ...]
    value: Expr


@dataclass(frozen=True)
class Assign(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True)
class IndexAssign(Stmt):
    name: str
    indices: tuple[Index, ...]
    value: Expr


@dataclass(frozen=True)
class For(Stmt):
    var: str
    lo: Expr
    hi: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True)
class While(Stmt):
    cond: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Return(Stmt):
    value: Expr


@dataclass(frozen=True)
class NameRef(Node):
    """A bare name in a declaration position (a party, an output receiver)."""

    name: str


@dataclass(frozen=True)
class Output(Stmt):
    name: str
    value: Expr | None
    receivers: tuple[NameRef, ...]


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class PartyDecl(Stmt):
    """`party a in CN, b`: names, and for each the jurisdiction it is in (None if unsaid)."""

    parties: tuple[NameRef, ...]
    jurisdictions: tuple[NameRef | None, ...] = ()


@dataclass(frozen=True)
class ConstDecl(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True)
class InputRange(Node):
    """`in [lo, hi]` after an input's type: the closed range of every element."""

    lo: Expr
    hi: Expr


@dataclass(frozen=True)
class InputDecl(Stmt):
    name: str
    type: TypeExpr
    owner: NameRef
    range: InputRange | None = None


@dataclass(frozen=True)
class PrecisionDecl(Stmt):
    """`precision N`: `fixed` values have N fractional bits in this program."""

    bits: int
    bits_span: Span


@dataclass(frozen=True)
class ParamDecl(Stmt):
    name: str
    type: TypeExpr
    default: Expr


@dataclass(frozen=True)
class UseDecl(Stmt):
    module: str


@dataclass(frozen=True)
class CircuitDecl(Stmt):
    """`circuit NAME = bristol("file")`: a Bristol Fashion circuit callable as a function."""

    name: str
    format: NameRef
    path: str
    path_span: Span


@dataclass(frozen=True)
class FnParam(Node):
    name: str
    type: TypeExpr


@dataclass(frozen=True)
class FnDecl(Stmt):
    name: str
    params: tuple[FnParam, ...]
    ret: TypeExpr | None
    body: tuple[Stmt, ...]
    annotations: tuple[NameRef, ...] = ()


@dataclass(frozen=True)
class Module:
    """One parsed source file."""

    file: str
    items: tuple[Stmt, ...]
