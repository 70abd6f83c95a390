"""The type checker: who owns what, what may be revealed, and static shapes.

It walks every statement once (both arms of every `if`, every function body), so an
error is found whatever the parameters are; it collects every independent error of a
file and reports them together. Public values that decide shapes (constants, params,
literals, `len`) are evaluated here; all other values are only typed.

Rules, in brief (docs/language.md has them in full):
- public flows into secret; secret becomes public only through `output ... to`;
- loop bounds, `while` conditions and array indices must be public;
- an `if` on a secret condition may only assign (it becomes a select);
- shapes broadcast as in NumPy; int and fixed mix to fixed; bool is not arithmetic.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from veil.diagnostics import Diagnostic, SourceMap, Span, VeilError
from veil.lang import ast
from veil.lang.builtins import INTRINSICS, BuiltinRules, callee_name
from veil.lang.builtins_tables import TABLE_BUILTINS, TableRules
from veil.lang.modules import ModuleLoader, stdlib_modules
from veil.limits import DEFAULT as DEFAULT_LIMITS
from veil.limits import Limits, raise_hint
from veil.types import (
    BOOL,
    FIXED,
    FRAC_BITS,
    INT,
    INT_MAX,
    INT_MIN,
    PUBLIC,
    SECRET,
    VType,
    broadcast,
    fixed_limit,
    fixed_limit_bits,
    fmt_shape,
    join_label,
    matmul_shape,
    numeric_join,
)

Value = int | float | bool | np.ndarray


class NotConstant(Exception):
    """Raised when an expression that must be known at compile time is not."""


@dataclass
class Symbol:
    kind: str  # const param input let var loop fn module output
    type: VType | None
    span: Span
    value: Value | None = None
    decl: ast.FnDecl | None = None
    scope: Scope | None = None  # a function's defining module scope / a module's members
    owner: str | None = None


@dataclass
class Scope:
    parent: Scope | None = None
    names: dict[str, Symbol] = field(default_factory=dict)

    def lookup(self, name: str) -> Symbol | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            if isinstance(scope, FunctionScope):
                return scope.from_module(name)
            scope = scope.parent
        return None

    def hidden(self, name: str) -> Symbol | None:
        """A top-level variable that a function body may not see (for error messages)."""
        scope: Scope | None = self
        while scope is not None and not isinstance(scope, FunctionScope):
            scope = scope.parent
        if scope is None or scope.parent is None:
            return None
        return scope.parent.names.get(name)


GLOBAL_KINDS = ("const", "param", "fn", "module")


@dataclass
class FunctionScope(Scope):
    """A function body's parameters. Of the defining module, a body sees only constants,
    params, functions and modules: functions are pure, and a body that read or assigned
    a top-level variable could leak it where the call site does not show it."""

    def from_module(self, name: str) -> Symbol | None:
        sym = self.parent.names.get(name) if self.parent is not None else None
        return sym if sym is not None and sym.kind in GLOBAL_KINDS else None


@dataclass(frozen=True)
class Ctx:
    """Where a statement stands: in a function, under a secret condition, in a loop."""

    in_fn: bool = False
    secret_if: bool = False
    nested: bool = False  # inside any block


@dataclass
class InputInfo:
    name: str
    owner: str
    type: VType
    span: Span
    range: tuple[float, float] | None = None  # `in [lo, hi]`: every element lies in it


@dataclass
class CheckedProgram:
    """What the checker learned: parties, inputs, params, outputs; the AST for lowering."""

    module: ast.Module
    parties: list[str]
    inputs: list[InputInfo]
    params: dict[str, tuple[VType, Value]]
    outputs: dict[str, tuple[VType, tuple[str, ...]]]
    globals: Scope
    loader: ModuleLoader
    warnings: list[Diagnostic]
    jurisdictions: dict[str, str] = field(default_factory=dict)  # party → `in` jurisdiction
    frac_bits: int = FRAC_BITS

    @property
    def sources(self) -> SourceMap:
        return self.loader.sources


BUILTINS = ("sum", "prod", "min", "max", "argmax", "abs", "dot", "select", "to_fixed",
            "to_int", "len", "size", "reshape", "transpose", "to_bits", "from_bits", "concat",
            *INTRINSICS, *TABLE_BUILTINS)  # fmt: skip


MIN_FRAC_BITS, MAX_FRAC_BITS = 8, 24
"""The choices `precision N` allows: from a resolution of 2^-8 with a range of ±2^46 to
2^-24 with ±2^14 (the range is ±2^(62 - 2N), see veil.types.fixed_limit_bits)."""


class Checker(BuiltinRules, TableRules):
    """Checks one program with given param values; collects diagnostics."""

    def __init__(self, loader: ModuleLoader, param_overrides: dict[str, str] | None = None,
                 limits: Limits = DEFAULT_LIMITS):  # fmt: skip
        self.loader = loader
        self.limits = limits
        self.frac_bits = FRAC_BITS
        self.param_overrides = dict(param_overrides or {})
        self.diags: list[Diagnostic] = []
        self.parties: list[str] = []
        self.jurisdictions: dict[str, str] = {}
        self.inputs: list[InputInfo] = []
        self.params: dict[str, tuple[VType, Value]] = {}
        self.outputs: dict[str, tuple[VType, tuple[str, ...]]] = {}
        self.instances: dict[tuple, VType | None] = {}
        self.call_stack: list[ast.FnDecl] = []
        self.modules: dict[str, Scope] = {}
        self.circuit_files: dict[str, object] = {}  # resolved path → Bristol circuit or error
        self.builtins: dict[str, Callable[[ast.Call, list[VType | None], Scope], VType | None]] = {
            name: getattr(self, f"_builtin_{name}") for name in BUILTINS
        }

    # ------------------------------------------------------------ reporting

    def err(self, code: str, message: str, span: Span | None, help: str | None = None) -> None:
        # One diagnostic per code and place: a generic function checked at several shapes
        # would otherwise report the same mistake once per instantiation.
        if span is not None and any(d.code == code and d.span == span for d in self.diags):
            return
        diag = Diagnostic(code, message, span, help)
        if diag not in self.diags:
            self.diags.append(diag)

    def _name_span(self, span: Span, name: str) -> Span:
        """The span of `name` in a declaration `KEYWORD name ...` that starts at `span`.

        The AST keeps only whole-statement spans; a caret under the whole `let` line does
        not show which name is the problem, so find the name after the keyword.
        """
        text = self.loader.sources.line(span.file, span.line)
        if text is None:
            return span
        keyword = _WORD.match(text, span.col - 1)
        start = keyword.end() if keyword else span.col - 1
        # the first whole-word occurrence of the name (str.find: a regular expression per
        # name would be compiled anew for each of a long program's many names)
        found = text.find(name, start)
        while found >= 0 and (_is_word_char(text, found - 1) or
                              _is_word_char(text, found + len(name))):
            found = text.find(name, found + 1)
        if found < 0:
            return span
        return Span(span.file, span.line, found + 1, span.line, found + len(name) + 1)

    # ------------------------------------------------------------ program

    def check(self, module: ast.Module) -> CheckedProgram:
        top = Scope()
        self._precision(module)
        self._declare_module_items(module, top, is_main=True)
        ctx = Ctx()
        for item in module.items:
            if isinstance(item, ast.FnDecl | ast.PartyDecl | ast.UseDecl):
                continue
            self.stmt(item, top, ctx)
        self._check_uncalled_functions(top)
        for name in self.param_overrides:
            self.err("V0708", f"--param {name}: the program has no param `{name}`", None,
                     f"params of this program: {', '.join(self.params) or 'none'}")
        if not self.parties:
            first = module.items[0].span if module.items else Span(module.file, 1, 1, 1, 2)
            self.err("V0206", "the program declares no party", first,
                     "start with `party NAME` for each data owner and receiver")
        errors = [d for d in self.diags if d.severity == "error"]
        if errors:
            # Hoisting checks functions and modules first; report in source order instead.
            def where(d: Diagnostic) -> tuple:
                if d.span is None:
                    return (0, "", 0, 0)
                return (1 if d.span.file == module.file else 2, d.span.file, d.span.line,
                        d.span.col)

            raise VeilError(sorted(self.diags, key=where), self.loader.sources)
        return CheckedProgram(module, self.parties, self.inputs, self.params, self.outputs, top,
                              self.loader, [d for d in self.diags if d.severity != "error"],
                              self.jurisdictions, self.frac_bits)

    def _precision(self, module: ast.Module) -> None:
        """`precision N` (at most once, in the program): read before anything else, because
        every fixed literal, constant and param is checked against its range."""
        decls = [item for item in module.items if isinstance(item, ast.PrecisionDecl)]
        for extra in decls[1:]:
            self.err("V0317", "`precision` is declared twice", extra.span,
                     f"keep one (the first is at line {decls[0].span.line})")
        if not decls:
            return
        bits = decls[0].bits
        if not MIN_FRAC_BITS <= bits <= MAX_FRAC_BITS:
            self.err("V0317", f"precision {bits} is not supported", decls[0].bits_span,
                     f"choose {MIN_FRAC_BITS} to {MAX_FRAC_BITS} fractional bits (16 is the "
                     "default: resolution 2^-16, range ±2^30)")
            return
        self.frac_bits = bits

    def _stmt_PrecisionDecl(self, s: ast.PrecisionDecl, scope: Scope, ctx: Ctx) -> None:
        if ctx.nested or ctx.in_fn:
            self.err("V0502", "`precision` is only allowed at the top level of the program",
                     s.span, "declare it once, at the start of the program")

    def _declare_module_items(self, module: ast.Module, scope: Scope, is_main: bool) -> None:
        """Hoist parties, modules and functions so they may be used before their line."""
        for item in module.items:
            if isinstance(item, ast.PartyDecl):
                if not is_main:
                    self.err("V0502", "a library module cannot declare parties", item.span,
                             "declare parties in the program that uses the module")
                    continue
                places = item.jurisdictions or (None,) * len(item.parties)
                for ref, place in zip(item.parties, places, strict=True):
                    if ref.name in self.parties:
                        self.err("V0202", f"party `{ref.name}` is declared twice", ref.span,
                                 "declare each party once")
                    else:
                        self.parties.append(ref.name)
                        if place is not None:
                            self.jurisdictions[ref.name] = place.name
            elif isinstance(item, ast.UseDecl):
                self._use(item, scope)
            elif isinstance(item, ast.FnDecl):
                if item.name in BUILTINS:
                    self.err("V0202", f"`{item.name}` is a builtin function and cannot be "
                             "redefined", self._name_span(item.span, item.name),
                             "choose another name")
                    continue
                self._check_annotations(item)
                self._define(scope, item.name, Symbol("fn", None, item.span, decl=item,
                                                      scope=scope), item.span)
            elif not is_main and not isinstance(item, ast.ConstDecl):
                self.err("V0502", "a library module may only hold `const`, `fn` and `use`",
                         item.span, "move this into the program that uses the module")
        if not is_main:
            for item in module.items:
                if isinstance(item, ast.ConstDecl):
                    self.stmt(item, scope, Ctx())

    def _check_annotations(self, fn: ast.FnDecl) -> None:
        for ann in fn.annotations:
            if len(fn.params) != 1 or fn.params[0].type.base != FIXED or \
                    fn.ret is None or fn.ret.base != FIXED:
                self.err("V0315", "`monotone` needs a function of one fixed argument that "
                         "returns fixed", ann.span,
                         "write `monotone fn f(x: fixed[..]) -> fixed[..]` for a function "
                         "that never decreases when x grows")

    def _use(self, item: ast.UseDecl, scope: Scope) -> None:
        if item.module not in self.modules:
            try:
                module = self.loader.load(item.module, item.span)
            except VeilError as exc:
                for d in exc.diagnostics:
                    self.diags.append(self._module_suggestion(d, item.module))
                # A module symbol without members: uses of `name.x` stay quiet instead of
                # each reporting `unknown name` for the one failed `use`.
                self._define(scope, item.module, Symbol("module", None, item.span), item.span)
                return
            members = Scope()
            self.modules[item.module] = members
            self._declare_module_items(module, members, is_main=False)
        self._define(scope, item.module, Symbol("module", None, item.span,
                                                scope=self.modules[item.module]), item.span)

    @staticmethod
    def _module_suggestion(d: Diagnostic, name: str) -> Diagnostic:
        """`did you mean `use ml`?` for a misspelt library module instead of the list."""
        if d.code != "V0204":
            return d
        close = difflib.get_close_matches(name, stdlib_modules(), n=1)
        if not close:
            return d
        return Diagnostic(d.code, d.message, d.span, f"did you mean `use {close[0]}`? "
                          f"(or put `{name}.mpc` beside the program)")

    def _define(self, scope: Scope, name: str, sym: Symbol, span: Span) -> None:
        span = self._name_span(span, name)
        if name in BUILTINS:
            self.err("V0202", f"`{name}` is a builtin function and cannot be redefined", span,
                     "choose another name")
            return
        if name in self.parties and scope.parent is None:
            self.err("V0202", f"`{name}` is already a party", span, "choose another name")
            return
        existing = scope.names.get(name)
        if existing is not None:
            self.err("V0202", f"`{name}` is already defined in this scope "
                     f"(at line {existing.span.line})", span,
                     "use `var` and assign to change a value, or choose another name")
            return
        scope.names[name] = sym

    def _check_uncalled_functions(self, top: Scope) -> None:
        """Check the body of every fully typed function, called or not."""
        scopes = [top, *self.modules.values()]
        for scope in scopes:
            for sym in list(scope.names.values()):
                if sym.kind != "fn" or sym.decl is None:
                    continue
                types: list[VType | None] = []
                for p in sym.decl.params:
                    t = p.type
                    if t.label is None or t.shape == ast.ANY_SHAPE:
                        break
                    types.append(self.resolve_type(t, scope))
                else:
                    if all(t is not None for t in types):
                        self.instantiate(sym, types, sym.decl.span)

    # ------------------------------------------------------------ types

    def resolve_type(self, t: ast.TypeExpr, scope: Scope, label: str | None = None) -> VType | None:
        shape: tuple[int, ...] = ()
        if isinstance(t.shape, tuple):
            dims = []
            for d in t.shape:
                n = self.const_int(d, scope, "an array dimension")
                if n is None:
                    return None
                if n <= 0:
                    self.err("V0306", f"array dimension must be positive, got {n}", d.span,
                             "every dimension is at least 1; a scalar has no `[...]`")
                    return None
                dims.append(n)
            shape = tuple(dims)
        resolved = VType(t.label or label or SECRET, t.base, shape)
        if not self._fits_budget(resolved, t.span):
            return None
        return resolved

    def _fits_budget(self, t: VType, span: Span) -> bool:
        """Is a public value of this type within the `elements` budget? (V0504 if not.)

        Public values are computed at compile time (constant folding, loop bounds,
        indices), so their size is memory spent now: it is checked on every declared and
        computed public type, before lowering builds anything. A secret value is only
        described at compile time (a cost report of an all-pairs matrix of 10^10
        elements is fine); its memory is spent when it runs."""
        if t.label != PUBLIC or not t.shape:
            return True
        size = math.prod(t.shape)
        if size <= self.limits.elements:
            return True
        self.err("V0504", f"a public value of shape {fmt_shape(t.shape)} has {size:,} "
                 f"elements, computed at compile time; the budget `elements` is "
                 f"{self.limits.elements:,}", span,
                 f"make it secret (computed when the program runs) or smaller, or "
                 f"{raise_hint('elements', size)}")
        return False

    # ------------------------------------------------------------ constants

    def const_value(self, e: ast.Expr, scope: Scope) -> Value:
        """The compile-time value of e, or NotConstant."""
        if isinstance(e, ast.IntLit):
            return e.value
        if isinstance(e, ast.FloatLit):
            return e.value
        if isinstance(e, ast.BoolLit):
            return e.value
        if isinstance(e, ast.Name):
            sym = scope.lookup(e.id)
            if sym is not None and sym.kind in ("const", "param") and sym.value is not None:
                return sym.value
            raise NotConstant
        if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name):
            sym = scope.lookup(e.value.id)
            if sym is not None and sym.kind == "module" and sym.scope is not None:
                member = sym.scope.names.get(e.attr)
                if member is not None and member.kind == "const" and member.value is not None:
                    return member.value
            raise NotConstant
        if isinstance(e, ast.Unary):
            v = self.const_value(e.operand, scope)
            if e.op == "-" and not isinstance(v, bool):
                return -v
            if e.op == "not" and isinstance(v, bool):
                return not v
            raise NotConstant
        if isinstance(e, ast.Binary):
            a = self.const_value(e.left, scope)
            b = self.const_value(e.right, scope)
            return _fold_binary(e.op, a, b)
        if isinstance(e, ast.ArrayLit):
            vals = [self.const_value(x, scope) for x in e.elements]
            try:
                return np.array(vals)
            except ValueError:
                raise NotConstant from None
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and \
                e.func.id in ("len", "size") and len(e.args) == 1:
            t = self.expr(e.args[0], scope)
            if t is not None and e.func.id == "size":
                return t.size
            if t is not None and t.shape:
                return t.shape[0]
        raise NotConstant

    def const_int(self, e: ast.Expr, scope: Scope, what: str) -> int | None:
        try:
            v = self.const_value(e, scope)
        except NotConstant:
            # A None type means the error is already reported (or the name's declaration
            # failed): do not add a second error about the same mistake.
            if self.expr(e, scope) is not None:
                self.err("V0306", f"{what} must be known at compile time", e.span,
                         "use a literal, a `const`, a `param` or `len(x)`; for data whose "
                         "size varies, declare a public maximum and pad")
            return None
        except (ZeroDivisionError, OverflowError):
            self.err("V0306", f"{what} cannot be computed", e.span,
                     "it divides by zero or overflows at compile time")
            return None
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            self.err("V0301", f"{what} must be an integer", e.span,
                     "write an int (no decimal point), or a `const` or `param` of type int")
            return None
        return int(v)

    # ------------------------------------------------------------ statements

    def block(self, stmts: tuple[ast.Stmt, ...], scope: Scope, ctx: Ctx) -> None:
        inner = Scope(scope)
        for s in stmts:
            self.stmt(s, inner, ctx)

    def stmt(self, s: ast.Stmt, scope: Scope, ctx: Ctx) -> None:
        method = getattr(self, f"_stmt_{type(s).__name__}")
        method(s, scope, ctx)

    def _stmt_ConstDecl(self, s: ast.ConstDecl, scope: Scope, ctx: Ctx) -> None:
        try:
            v = self.const_value(s.value, scope)
        except NotConstant:
            if self.expr(s.value, scope) is not None:
                self.err("V0306", f"const `{s.name}` must be known at compile time",
                         s.value.span, "a const is built from literals, other consts and "
                         f"params; for a computed value write `let {s.name} = ...`")
            self._poison(scope, s)
            return
        except (ZeroDivisionError, OverflowError):
            self.err("V0306", f"const `{s.name}` cannot be computed", s.value.span,
                     "it divides by zero or overflows at compile time")
            self._poison(scope, s)
            return
        t = _type_of_value(v)
        if t is None:
            self.err("V0312", f"const `{s.name}` has an unsupported value", s.value.span,
                     "a const is a number, true/false, or a list of them of one type")
            self._poison(scope, s)
            return
        problem = _out_of_range(v, t, self.frac_bits)
        if problem:
            self.err("V0312", f"const `{s.name}` = {problem}", s.value.span,
                     "int is a signed 64-bit value; fixed values lie within "
                     f"±2^{fixed_limit_bits(self.frac_bits)}")
            self._poison(scope, s)
            return
        self._define(scope, s.name, Symbol("const", t, s.span, value=v), s.span)

    def _type_text(self, t: ast.TypeExpr, label: str) -> str:
        """The type as the user wrote it, with `label` in front: for a help's rewrite."""
        text = self.loader.sources.line(t.span.file, t.span.line)
        if text is not None and t.span.end_line == t.span.line:
            written = text[t.span.col - 1:t.span.end_col - 1]
        else:
            written = t.base + ("[..]" if t.shape == ast.ANY_SHAPE else "")
        written = re.sub(r"^\s*(secret|public)\s+", "", written)
        return f"{label} {written}"

    def _poison(self, scope: Scope, s: ast.ConstDecl | ast.ParamDecl | ast.InputDecl) -> None:
        """Define a name whose declaration failed, with no type: its uses then stay quiet
        instead of each reporting `unknown name` for the one mistake already reported."""
        kind = {ast.ConstDecl: "const", ast.ParamDecl: "param"}.get(type(s), "input")
        if scope.names.get(s.name) is None:
            self._define(scope, s.name, Symbol(kind, None, s.span), s.span)

    def _stmt_ParamDecl(self, s: ast.ParamDecl, scope: Scope, ctx: Ctx) -> None:
        if s.type.label != PUBLIC:
            self.err("V0408", f"param `{s.name}` must be `public`", s.type.span,
                     f"write `param {s.name}: {self._type_text(s.type, PUBLIC)} = ...`; "
                     "a secret value is an `input`")
            # Go on as if it were public, to check the rest of the declaration.
        t = self.resolve_type(s.type, scope)
        if t is None:
            self._poison(scope, s)
            return
        t = t.with_(label=PUBLIC)
        overridden = s.name in self.param_overrides
        if overridden:
            text = self.param_overrides.pop(s.name)
            v = _parse_param_value(text, t)
            if v is None:
                self.err("V0708", f"--param {s.name}={text}: not a {t.base} value of shape "
                         f"{fmt_shape(t.shape)}", s.span,
                         "give a number (or true/false), or a JSON list for an array")
                self._poison(scope, s)
                return
        else:
            try:
                v = self.const_value(s.default, scope)
            except (ZeroDivisionError, OverflowError):
                self.err("V0306", f"the default of param `{s.name}` cannot be computed",
                         s.default.span, "it divides by zero or overflows at compile time")
                self._poison(scope, s)
                return
            except NotConstant:
                if self.expr(s.default, scope) is not None:
                    self.err("V0306", f"the default of param `{s.name}` must be known at "
                             "compile time", s.default.span,
                             "write a number, true/false or a list, or an expression of "
                             "those, consts and other params")
                self._poison(scope, s)
                return
            if not _value_fits(v, t):
                got = _type_of_value(v)
                what = f"{got.base}{_dims(got.shape)}" if got is not None else "another type"
                self.err("V0313", f"param `{s.name}` is declared {t} but its default is "
                         f"{what}", s.default.span,
                         f"give a default of type {t.base}{_dims(t.shape)}, or declare the "
                         f"param `public {what}`")
                self._poison(scope, s)
                return
        problem = _out_of_range(v, t, self.frac_bits)
        if problem:
            self.err("V0708" if overridden else "V0313",
                     f"param `{s.name}` = {problem}", s.span,
                     "int is a signed 64-bit value; fixed values lie within "
                     f"±2^{fixed_limit_bits(self.frac_bits)}")
            self._poison(scope, s)
            return
        v = _coerce_value(v, t)
        self.params[s.name] = (t, v)
        self._define(scope, s.name, Symbol("param", t, s.span, value=v), s.span)

    def _stmt_InputDecl(self, s: ast.InputDecl, scope: Scope, ctx: Ctx) -> None:
        if s.type.label != SECRET:
            self.err("V0407", f"input `{s.name}` must be declared `secret`", s.type.span,
                     f"every input stays secret: write `input {s.name}: "
                     f"{self._type_text(s.type, SECRET)} from {s.owner.name}`; a public value "
                     "is a `param`")
            # Go on as if it were secret, to check the rest of the declaration.
        if s.owner.name not in self.parties:
            self._unknown_party(s.owner)
            self._poison(scope, s)
            return
        t = self.resolve_type(s.type, scope)
        if t is None:
            self._poison(scope, s)
            return
        t = t.with_(label=SECRET)
        bounds = self._input_range(s, t, scope) if s.range is not None else None
        self.inputs.append(InputInfo(s.name, s.owner.name, t, s.span, bounds))
        self._define(scope, s.name, Symbol("input", t, s.span, owner=s.owner.name), s.span)

    def _input_range(self, s: ast.InputDecl, t: VType, scope: Scope
                     ) -> tuple[float, float] | None:  # fmt: skip
        """The declared range `in [lo, hi]` of an input: compile-time numbers of the
        input's kind, lo <= hi, both representable."""
        assert s.range is not None
        if t.base == BOOL:
            self.err("V0318", f"input `{s.name}` is bool: a range is for numbers",
                     s.range.span, "remove `in [...]`")
            return None
        bounds = []
        for e in (s.range.lo, s.range.hi):
            try:
                v = self.const_value(e, scope)
            except (NotConstant, ZeroDivisionError, OverflowError):
                if self.expr(e, scope) is not None:
                    self.err("V0318", "the bounds of an input range must be known at compile "
                             "time", e.span, "use literals, `const`s or `param`s")
                return None
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                self.err("V0318", "the bounds of an input range must be numbers", e.span,
                         "write `in [lo, hi]` with two numbers")
                return None
            if t.base == INT and not float(v).is_integer():
                self.err("V0318", f"input `{s.name}` is int but a bound is {v}", e.span,
                         "give integer bounds, or declare the input fixed")
                return None
            problem = _out_of_range(v, t, self.frac_bits)
            if problem:
                self.err("V0318", f"the range bound {problem}", e.span,
                         "a bound must be a value the input could hold")
                return None
            bounds.append(float(v))
        lo, hi = bounds
        if lo > hi:
            self.err("V0318", f"the range of input `{s.name}` is empty: {lo:g} > {hi:g}",
                     s.range.span, "write the smaller bound first: `in [lo, hi]`")
            return None
        return lo, hi

    def _unknown_party(self, ref: ast.NameRef) -> None:
        known = ", ".join(self.parties) or "none declared"
        close = difflib.get_close_matches(ref.name, self.parties, n=1)
        if close:
            help_text = f"did you mean `{close[0]}`? (parties: {known})"
        else:
            help_text = f"declare it with `party {ref.name}` (parties: {known})"
        self.err("V0203", f"unknown party `{ref.name}`", ref.span, help_text)

    def _stmt_Let(self, s: ast.Let, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.value, scope)
        if s.type is not None:
            declared = self.resolve_type(s.type, scope, label=t.label if t else PUBLIC)
            if declared is not None and t is not None:
                self._check_assignable(t, declared, s.value.span, s.name,
                                       "var" if s.mutable else "let")
            t = declared
        self._define(scope, s.name, Symbol("var" if s.mutable else "let", t, s.span), s.span)

    def _check_assignable(self, value: VType, target: VType, span: Span, name: str,
                          keyword: str = "var") -> bool:  # fmt: skip
        if value.is_secret and not target.is_secret:
            self.err("V0405", f"cannot store a secret value in public `{name}`", span,
                     f"declare it secret: `{keyword} {name}: secret {target.base}"
                     f"{_dims(target.shape)} = ...`; a secret becomes public only through "
                     "`output`")
            return False
        if value.base != target.base and not (value.base == INT and target.base == FIXED):
            self.err("V0301", f"`{name}` holds {target.base} but the value is {value.base}",
                     span, _conversion_hint(value.base, target.base))
            return False
        if broadcast(value.shape, target.shape) != target.shape:
            self.err("V0302", f"`{name}` has shape {fmt_shape(target.shape)} but the value has "
                     f"shape {fmt_shape(value.shape)}", span,
                     "the value must have that shape, or broadcast to it (a scalar fills "
                     "every element)")
            return False
        return True

    def _hidden(self, name: str, span: Span) -> None:
        self.err("V0201", f"a function cannot use the top-level variable `{name}`", span,
                 f"pass it as a parameter: `fn f(..., {name}: secret fixed[..])`; a function "
                 "sees only its parameters, constants, params and other functions")

    def _mutable(self, name: str, span: Span, scope: Scope,
                 value: VType | None) -> Symbol | None:  # fmt: skip
        """The `var` that an assignment starting at `span` changes, or None (reported)."""
        span = Span(span.file, span.line, span.col, span.line, span.col + len(name))
        sym = scope.lookup(name)
        if sym is None:
            if scope.hidden(name) is not None:
                self._hidden(name, span)
            else:
                self.err("V0201", f"unknown name `{name}`", span,
                         f"declare it first: `var {name} = ...`")
            return None
        if sym.kind != "var":
            if sym.kind == "let":
                # Suggest the type the variable needs: the declared value's type joined
                # with the assigned one, so that following the help does not lead
                # straight to a secret-into-public error.
                typed = ""
                if sym.type is not None:
                    label = join_label(sym.type.label, value.label if value else PUBLIC)
                    typed = f": {label} {sym.type.base}{_dims(sym.type.shape)}"
                help_text = (f"declare it at line {sym.span.line} with "
                             f"`var {name}{typed} = ...` to make it mutable")
            else:
                help_text = "assign to a `var` instead"
            self.err("V0207", f"cannot assign to `{name}`: it is {_a_kind(sym.kind)}",
                     span, help_text)
            return None
        return sym

    def _stmt_Assign(self, s: ast.Assign, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.value, scope)
        sym = self._mutable(s.name, s.span, scope, t)
        if sym is None or sym.type is None or t is None:
            return
        if ctx.secret_if and not sym.type.is_secret:
            self._implicit_flow(s.name, sym.type, s.span)
            return
        self._check_assignable(t, sym.type, s.value.span, s.name)

    def _implicit_flow(self, name: str, t: VType, span: Span) -> None:
        self.err("V0405", f"assignment to public `{name}` under a secret condition", span,
                 f"its new value would reveal the condition; declare it secret: "
                 f"`var {name}: secret {t.base}{_dims(t.shape)} = ...`")

    def _stmt_IndexAssign(self, s: ast.IndexAssign, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.value, scope)
        sym = self._mutable(s.name, s.span, scope, t)
        if sym is None or sym.type is None:
            for ix in s.indices:
                self._index_part(ix, scope)
            return
        target = self.subscript_type(sym.type, s.indices, scope, s.span, write=True)
        if target is None or t is None:
            return
        if ctx.secret_if and not sym.type.is_secret:
            self._implicit_flow(s.name, sym.type, s.span)
            return
        self._check_assignable(t, target.with_(label=sym.type.label), s.value.span, s.name)

    def _stmt_For(self, s: ast.For, scope: Scope, ctx: Ctx) -> None:
        for bound in (s.lo, s.hi):
            t = self.expr(bound, scope)
            if t is None:
                continue
            if t.is_secret:
                self.err("V0401", "a loop bound must be public", bound.span,
                         "the number of iterations would reveal the secret; loop to a public "
                         "maximum and skip the extra steps with an `if` that only assigns: "
                         "`for i in 0..MAX { if i < n { ... } }`")
            elif t.base != INT or t.shape:
                self.err("V0301", f"a loop bound must be an int scalar, not {t}", bound.span,
                         "loop bounds are ints, e.g. `for i in 0..N`")
        inner = Scope(scope)
        inner.names[s.var] = Symbol("loop", VType(PUBLIC, INT), s.span)
        self.block(s.body, inner, Ctx(ctx.in_fn, ctx.secret_if, True))

    def _stmt_While(self, s: ast.While, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.cond, scope)
        if t is not None and t.is_secret:
            self.err("V0402", "a `while` condition must be public", s.cond.span,
                     "when the loop stops would reveal the secret; loop a public number of "
                     "times and guard the body with an `if` that only assigns: "
                     "`for i in 0..MAX { if cond { ... } }`")
        elif ctx.secret_if:
            # One error per loop: a secret condition above already explains this one.
            self.err("V0402", "a `while` loop cannot run under a secret condition", s.span,
                     "how often it runs would reveal the condition; move the loop out of "
                     "the `if`, or use `for` with public bounds")
        elif t is not None and (t.base != BOOL or t.shape):
            self.err("V0311", f"a condition must be a bool scalar, not {t}", s.cond.span,
                     "compare values (`a > b`) to get a bool")
        self.block(s.body, scope, Ctx(ctx.in_fn, ctx.secret_if, True))

    def _stmt_If(self, s: ast.If, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.cond, scope)
        secret = ctx.secret_if
        if t is not None:
            if t.base != BOOL or t.shape:
                self.err("V0311", f"an `if` condition must be a bool scalar, not {t}",
                         s.cond.span, "compare values (`a > b`) to get a bool; for an "
                         "elementwise choice use `select(c, a, b)`")
            secret = secret or t.is_secret
        inner = Ctx(ctx.in_fn, secret, True)
        self.block(s.then, scope, inner)
        self.block(s.orelse, scope, inner)

    def _stmt_Return(self, s: ast.Return, scope: Scope, ctx: Ctx) -> None:
        self.expr(s.value, scope)
        if not ctx.in_fn:
            self.err("V0501", "`return` outside a function", s.span,
                     "use `output NAME = ... to PARTY` to deliver a result")
        elif ctx.secret_if:
            self.err("V0406", "`return` under a secret condition", s.span,
                     "compute both results and return `select(cond, a, b)`")
        elif ctx.nested:
            self.err("V0501", "`return` must be the last statement of the function", s.span,
                     "assign to a `var` inside the block and return it at the end")

    def _stmt_Output(self, s: ast.Output, scope: Scope, ctx: Ctx) -> None:
        t = self.expr(s.value, scope) if s.value is not None else None
        if s.value is None:
            sym = scope.lookup(s.name)
            if sym is None:
                self.err("V0201", f"unknown name `{s.name}`", s.span,
                         f"to output an expression write `output {s.name} = EXPR to PARTY`")
            elif sym.type is None and sym.kind in ("fn", "module"):
                self.err("V0301", f"`{s.name}` is {_a_kind(sym.kind)}, not a value",
                         s.span, "output a value: `output NAME = ... to PARTY`")
            else:
                t = sym.type
        for ref in s.receivers:
            if ref.name not in self.parties:
                self._unknown_party(ref)
        if ctx.secret_if:
            self.err("V0404", "`output` under a secret condition", s.span,
                     "whether the output happens would reveal the condition; output "
                     "`select(cond, value, default)` at the top level instead")
            return
        if ctx.in_fn or ctx.nested:
            self.err("V0502", "`output` is only allowed at the top level of the program",
                     s.span, "compute the value in the loop or function and output it after")
            return
        if s.name in self.outputs:
            self.err("V0202", f"output `{s.name}` is declared twice",
                     self._name_span(s.span, s.name),
                     "give each output its own name")
            return
        if t is not None:
            self.outputs[s.name] = (t, tuple(r.name for r in s.receivers))
        if s.value is not None:
            self._define(scope, s.name, Symbol("output", t, s.span), s.span)

    def _stmt_PartyDecl(self, s, scope, ctx) -> None:  # hoisted
        pass

    _stmt_UseDecl = _stmt_PartyDecl
    _stmt_FnDecl = _stmt_PartyDecl

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr, scope: Scope) -> VType | None:
        """The type of e, or None after reporting an error in it."""
        t = getattr(self, f"_expr_{type(e).__name__}")(e, scope)
        if t is not None and not self._fits_budget(t, e.span):
            return None
        return t

    def _expr_IntLit(self, e: ast.IntLit, scope: Scope) -> VType | None:
        if not INT_MIN <= e.value <= INT_MAX:
            self.err("V0312", f"integer literal {e.value} does not fit in 64 bits", e.span,
                     "an int lies between -2^63 and 2^63-1")
            return None
        return VType(PUBLIC, INT)

    def _expr_FloatLit(self, e: ast.FloatLit, scope: Scope) -> VType | None:
        if not abs(e.value) < fixed_limit(self.frac_bits):
            bits = fixed_limit_bits(self.frac_bits)
            self.err("V0312", f"fixed literal {e.text} is outside ±2^{bits}",
                     e.span, f"a fixed has {self.frac_bits} fractional bits and must stay "
                     f"below 2^{bits} in magnitude; scale the values down")
            return None
        return VType(PUBLIC, FIXED)

    def _expr_BoolLit(self, e: ast.BoolLit, scope: Scope) -> VType:
        return VType(PUBLIC, BOOL)

    def _expr_Name(self, e: ast.Name, scope: Scope) -> VType | None:
        sym = scope.lookup(e.id)
        if sym is None:
            if e.id in self.parties:
                self.err("V0301", f"`{e.id}` is a party, not a value", e.span,
                         "a party's values are its `input`s; use one of those")
            elif e.id in BUILTINS:
                self.err("V0301", f"`{e.id}` is a builtin function; call it: `{e.id}(...)`",
                         e.span)
            elif scope.hidden(e.id) is not None:
                self._hidden(e.id, e.span)
            else:
                self.err("V0201", f"unknown name `{e.id}`", e.span, _suggest(e.id, scope))
            return None
        if sym.kind in ("fn", "module", "circuit"):
            self.err("V0301", f"`{e.id}` is {_a_kind(sym.kind)}, not a value", e.span,
                     f"call it: `{e.id}(...)`" if sym.kind == "fn"
                     else f"use one of its members: `{e.id}.NAME`")
            return None
        return sym.type

    def _expr_Attribute(self, e: ast.Attribute, scope: Scope) -> VType | None:
        member = self._module_member(e, scope)
        if member is None:
            return None
        if member.kind == "fn":
            self.err("V0301", f"`{e.attr}` is a function; call it", e.span)
            return None
        return member.type

    def _module_member(self, e: ast.Attribute, scope: Scope) -> Symbol | None:
        if not isinstance(e.value, ast.Name):
            self.err("V0301", "only module members can be accessed with `.`", e.span)
            return None
        sym = scope.lookup(e.value.id)
        if sym is not None and sym.kind == "module" and sym.scope is None:
            return None  # the module failed to load; that error is reported
        if sym is None or sym.kind != "module" or sym.scope is None:
            if sym is None and e.value.id not in self.parties:
                self.err("V0201", f"unknown name `{e.value.id}`", e.value.span,
                         f"to use a library module write `use {e.value.id}` at the top")
            else:
                self.err("V0301", f"`{e.value.id}` is not a module", e.value.span)
            return None
        member = sym.scope.names.get(e.attr)
        if member is None:
            close = difflib.get_close_matches(e.attr, sorted(sym.scope.names), n=1)
            if close:
                help_text = f"did you mean `{e.value.id}.{close[0]}`?"
            else:
                # Functions first: they are what a program usually wants from a module.
                members = sorted(sym.scope.names.items(), key=lambda kv: (kv[1].kind != "fn",
                                                                           kv[0]))
                help_text = "it defines: " + (", ".join(n for n, _ in members) or "nothing")
            self.err("V0205", f"module `{e.value.id}` has no `{e.attr}`", e.span, help_text)
            return None
        return member

    def _expr_ArrayLit(self, e: ast.ArrayLit, scope: Scope) -> VType | None:
        if not e.elements:
            self.err("V0312", "an empty array literal has no type", e.span,
                     "declare a zero array with `var a: secret fixed[N] = 0`")
            return None
        types = [self.expr(x, scope) for x in e.elements]
        if any(t is None for t in types):
            return None
        first = types[0]
        base = first.base
        for x, t in zip(e.elements[1:], types[1:], strict=True):
            if t.shape != first.shape:
                self.err("V0302", f"array elements must have one shape: "
                         f"{fmt_shape(first.shape)} and {fmt_shape(t.shape)}", x.span,
                         "every row of an array literal has the same length")
                return None
            if t.base != base:
                joined = numeric_join(base, t.base)
                if joined is None:
                    self.err("V0301", f"array mixes {base} and {t.base}", x.span,
                             "an array holds one type; convert with `to_int(b)` or "
                             "`to_fixed(b)`")
                    return None
                base = joined
        return VType(join_label(*(t.label for t in types)), base,
                     (len(types), *first.shape))

    def _expr_Subscript(self, e: ast.Subscript, scope: Scope) -> VType | None:
        t = self.expr(e.value, scope)
        if t is None:
            for ix in e.indices:
                self._index_part(ix, scope)
            return None
        return self.subscript_type(t, e.indices, scope, e.span)

    def _sliding_width(self, ix: ast.RangeIndex, scope: Scope) -> int | None:
        """The width of a slice `e + a .. e + b` whose start e is a public int not known
        at check time (a loop variable): b - a, or None if the bounds are not of that form.
        The bounds are checked against the dimension when the loop is unrolled."""
        if ix.lo is None or ix.hi is None:
            return None
        lo, hi = _split_offset(ix.lo, self, scope), _split_offset(ix.hi, self, scope)
        if lo is None or hi is None or lo[0] is None or _shape_key(lo[0]) != _shape_key(hi[0]):
            return None
        t = self.expr(lo[0], scope)
        if t is None or t.is_secret or t.base != INT or t.shape:
            return None
        return hi[1] - lo[1]

    def _index_part(self, ix: ast.Index, scope: Scope) -> None:
        if isinstance(ix, ast.SingleIndex):
            self.expr(ix.expr, scope)
        else:
            for b in (ix.lo, ix.hi):
                if b is not None:
                    self.expr(b, scope)

    def subscript_type(self, t: VType, indices: tuple[ast.Index, ...], scope: Scope,
                       span: Span, write: bool = False) -> VType | None:  # fmt: skip
        """The type of `value[indices]` for a value of type t (`write`: assigned to)."""
        if len(indices) > len(t.shape):
            n = len(t.shape)
            if n == 0:
                help_text = "a scalar has no elements to index"
            else:
                example = ", ".join("ijkl"[:n]) if n <= 4 else "..."
                help_text = (f"a value of shape {fmt_shape(t.shape)} takes at most {n} "
                             f"{'index' if n == 1 else 'indices'}: `x[{example}]`")
            self.err("V0308", f"{len(indices)} indices for a value of shape "
                     f"{fmt_shape(t.shape)}", span, help_text)
            for ix in indices:
                self._index_part(ix, scope)
            return None
        out: list[int] = []
        ok = True
        for dim, ix in zip(t.shape, indices, strict=False):
            if isinstance(ix, ast.SingleIndex):
                it = self.expr(ix.expr, scope)
                if it is None:
                    ok = False
                    continue
                if it.is_secret:
                    if write:
                        help_text = ("which element is written would reveal the index; write "
                                     "each element under an `if` that only assigns: "
                                     "`for j in 0..N { if i == j { x[j] = v } }`")
                    else:
                        help_text = ("which element is read would reveal the index; visit "
                                     "every element and keep the one you want with an `if` "
                                     "that only assigns: "
                                     "`for j in 0..N { if i == j { v = x[j] } }`")
                    self.err("V0403", "an array index must be public", ix.span, help_text)
                    ok = False
                elif it.base != INT or it.shape:
                    self.err("V0301", f"an index must be an int scalar, not {it}", ix.span,
                             "convert a fixed index with `to_int(i)`" if it.base == FIXED and
                             not it.shape else "index with one int per dimension: `x[i, j]`")
                    ok = False
                else:
                    try:
                        v = self.const_value(ix.expr, scope)
                    except (NotConstant, ZeroDivisionError, OverflowError):
                        continue
                    if not -dim <= int(v) < dim:
                        self.err("V0307", f"index {v} is out of range for a dimension of "
                                 f"size {dim}", ix.span,
                                 f"valid indices are 0 to {dim - 1}, or -{dim} to -1 counting "
                                 "from the end")
                        ok = False
            else:
                width = self._sliding_width(ix, scope)
                if width is not None:  # `x[i..i + 2]`: bounds known when unrolled
                    if not 0 <= width <= dim:
                        self.err("V0307", f"a slice of width {width} does not fit a dimension "
                                 f"of size {dim}", ix.span, f"use a width between 0 and {dim}")
                        ok = False
                        continue
                    out.append(width)
                    continue
                lo = 0 if ix.lo is None else self.const_int(ix.lo, scope, "a slice bound")
                hi = dim if ix.hi is None else self.const_int(ix.hi, scope, "a slice bound")
                if lo is None or hi is None:
                    ok = False
                    continue
                if not 0 <= lo <= hi <= dim:
                    self.err("V0307", f"slice {lo}..{hi} is out of range for a dimension of "
                             f"size {dim}", ix.span, f"bounds must satisfy 0 <= lo <= hi <= {dim}")
                    ok = False
                    continue
                out.append(hi - lo)
        if not ok:
            return None
        return t.with_(shape=(*out, *t.shape[len(indices):]))

    def _expr_Unary(self, e: ast.Unary, scope: Scope) -> VType | None:
        t = self.expr(e.operand, scope)
        if t is None:
            return None
        if e.op == "not":
            if t.base != BOOL:
                self.err("V0301", f"`not` needs a bool, got {t.base}", e.span,
                         "compare first: `not (x > 0)`")
                return None
            return t
        if t.base == BOOL:
            self.err("V0301", "cannot negate a bool", e.span, "use `not` for a bool")
            return None
        return t

    def _expr_Binary(self, e: ast.Binary, scope: Scope) -> VType | None:
        a = self.expr(e.left, scope)
        b = self.expr(e.right, scope)
        if a is None or b is None:
            return None
        label = join_label(a.label, b.label)
        if e.op in ("and", "or"):
            if a.base != BOOL or b.base != BOOL:
                self.err("V0301", f"`{e.op}` needs bools, got {a.base} and {b.base}", e.span,
                         "compare numbers first, e.g. `x > 0 and y > 0`")
                return None
            base = BOOL
        elif e.op in ("==", "!="):
            if (a.base == BOOL) != (b.base == BOOL):
                self.err("V0301", f"cannot compare {a.base} with {b.base}", e.span,
                         _conversion_hint(b.base, a.base))
                return None
            base = BOOL
        else:
            base = numeric_join(a.base, b.base)
            if base is None:
                # Point at the bool operand when only one is: that is the one to change.
                span = e.span
                if (a.base == BOOL) != (b.base == BOOL):
                    span = e.left.span if a.base == BOOL else e.right.span
                self.err("V0301", f"`{e.op}` needs numbers, got {a.base} and {b.base}", span,
                         "a bool counts as 0/1 only inside `sum`; convert it with `to_int(b)` "
                         "or pick values with `select(b, x, y)`")
                return None
            if e.op in ("<", "<=", ">", ">="):
                base = BOOL
        if e.op == "@":
            shape = matmul_shape(a.shape, b.shape)
            if shape is None:
                self.err("V0303", f"cannot multiply shapes {fmt_shape(a.shape)} @ "
                         f"{fmt_shape(b.shape)}", e.span,
                         "`@` takes vectors and matrices whose inner dimensions agree; "
                         "use `*` for elementwise products")
                return None
            return VType(label, base, shape)
        if e.op == "/":
            base = FIXED  # by a secret: an approximation, see docs/numerics.md
        shape = broadcast(a.shape, b.shape)
        if shape is None:
            self.err("V0302", f"shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not "
                     f"broadcast in `{e.op}`", e.span,
                     "trailing dimensions must be equal or 1 (as in NumPy); use `@` for a "
                     "matrix product")
            return None
        return VType(label, base, shape)

    # ------------------------------------------------------------ calls

    def _expr_Call(self, e: ast.Call, scope: Scope) -> VType | None:
        if isinstance(e.func, ast.Name) and e.func.id in BUILTINS and \
                scope.lookup(e.func.id) is None:
            if e.func.id in ("len", "size", "reshape"):  # the argument's shape, not its value
                args = [self.expr(a, scope) for a in e.args[:1]]
                return self.builtins[e.func.id](e, args, scope)
            args = [self.expr(a, scope) for a in e.args]
            return self.builtins[e.func.id](e, args, scope)
        args = [self.expr(a, scope) for a in e.args]
        if isinstance(e.func, ast.Name):
            sym = scope.lookup(e.func.id)
            if sym is None:
                home = _library_home(e.func.id)
                help_text = (f"`{e.func.id}` is in the library module `{home}`: write "
                             f"`use {home}` and call `{home}.{e.func.id}(...)`" if home
                             else _suggest(e.func.id, scope, functions=True))
                self.err("V0201", f"unknown function `{e.func.id}`", e.func.span, help_text)
                return None
        elif isinstance(e.func, ast.Attribute):
            sym = self._module_member(e.func, scope)
            if sym is None:
                return None
        else:
            self.err("V0301", "this expression cannot be called", e.func.span)
            return None
        if sym.kind == "circuit":
            results = self.circuit_call(sym, args, e)
            if results is None:
                return None
            if len(results) != 1:
                names = ", ".join(f"r{k}" for k in range(len(results)))
                self.err("V0316", f"`{callee_name(e.func)}` returns {len(results)} values",
                         e.span, f"bind them all: `let ({names}) = {callee_name(e.func)}(...)`")
                return None
            return results[0]
        if sym.kind != "fn" or sym.decl is None:
            self.err("V0301", f"`{callee_name(e.func)}` is not a function", e.func.span)
            return None
        return self.call_user(sym, args, e)

    def circuit_call(self, sym: Symbol, args: list[VType | None], e: ast.Call
                     ) -> list[VType] | None:  # fmt: skip
        """Result types of calling a Bristol circuit: each argument is bool[..., width];
        leading (batch) dimensions broadcast and run that many instances at once."""
        circuit = sym.value
        widths = circuit.input_widths  # type: ignore[union-attr]
        name = callee_name(e.func)
        if len(args) != len(widths):
            self.err("V0304", f"`{name}` takes {len(widths)} argument(s), got {len(args)}",
                     e.span, f"its inputs are bool[{'], bool['.join(map(str, widths))}]")
            return None
        batch: tuple[int, ...] | None = ()
        for t, w, arg in zip(args, widths, e.args, strict=True):
            if t is None:
                return None
            if t.base != BOOL or not t.shape or t.shape[-1] != w or len(t.shape) > 2:
                self.err("V0305", f"argument of `{name}` must be bool[{w}] (or bool[B, {w}] "
                         f"for B instances), got {t}", arg.span,
                         "convert an int with `to_bits(x)`; a bool array's element i is "
                         "wire i")
                return None
            batch = broadcast(batch, t.shape[:-1]) if batch is not None else None
        if batch is None:
            self.err("V0302", f"the instance dimensions of the arguments of `{name}` do not "
                     "broadcast", e.span, "give every argument the same leading dimensions")
            return None
        label = join_label(*(t.label for t in args if t is not None))
        return [VType(label, BOOL, (*batch, w)) for w in circuit.output_widths]  # type: ignore

    def _stmt_CircuitDecl(self, s: ast.CircuitDecl, scope: Scope, ctx: Ctx) -> None:
        from veil import bristol

        if s.format.name != "bristol":
            self.err("V0901", f"unknown circuit format `{s.format.name}`", s.format.span,
                     'the supported format is Bristol Fashion: `bristol("file.txt")`')
            return
        base = self.loader.program_dir if self.loader.program_dir is not None else Path(".")
        path = base / s.path
        if s.name in scope.names:  # reported by _define, before any file is read
            self._define(scope, s.name, Symbol("circuit", None, s.span), s.span)
            return
        if "\x00" in s.path or not path.is_file():
            self.err("V0901", f"no circuit file `{s.path}`", s.path_span,
                     f"the path is relative to the program's directory ({base})")
            return
        key = str(path.resolve())
        if key not in self.circuit_files:  # a file named twice is read once
            try:
                self.circuit_files[key] = bristol.load(path)
            except VeilError as exc:
                self.circuit_files[key] = exc
        circuit = self.circuit_files[key]
        if isinstance(circuit, VeilError):
            for d in circuit.diagnostics:
                self.err(d.code, d.message, s.path_span, d.help)
            return
        self._define(scope, s.name, Symbol("circuit", None, s.span, value=circuit), s.span)

    def _stmt_LetTuple(self, s: ast.LetTuple, scope: Scope, ctx: Ctx) -> None:
        results: list[VType] | None = None
        call = s.value
        sym = scope.lookup(call.func.id) if isinstance(call, ast.Call) and \
            isinstance(call.func, ast.Name) else None
        if sym is None or sym.kind != "circuit":
            self.expr(s.value, scope)
            self.err("V0316", "only a circuit with several outputs can be destructured",
                     s.value.span, "functions return one value; use `let x = f(...)`")
        else:
            assert isinstance(call, ast.Call)
            args = [self.expr(a, scope) for a in call.args]
            results = self.circuit_call(sym, args, call)
            if results is not None and len(results) != len(s.names):
                self.err("V0316", f"`{call.func.id}` returns {len(results)} values, "  # type: ignore[union-attr]
                         f"{len(s.names)} names are bound", s.span,
                         "bind exactly one name per output")
                results = None
        for k, ref in enumerate(s.names):
            t = results[k] if results is not None else None
            self._define(scope, ref.name, Symbol("let", t, ref.span), ref.span)

    def call_user(self, sym: Symbol, args: list[VType | None], e: ast.Call) -> VType | None:
        decl = sym.decl
        assert decl is not None and sym.scope is not None
        if len(args) != len(decl.params):
            self.err("V0304", f"`{decl.name}` takes {len(decl.params)} argument(s), "
                     f"got {len(args)}", e.span,
                     f"signature: {decl.name}({', '.join(_fmt_param(p) for p in decl.params)})")
            return None
        if any(a is None for a in args):
            return None
        param_types: list[VType] = []
        ok = True
        for p, a, arg_expr in zip(decl.params, args, e.args, strict=True):
            pt = self._param_type(p, a, sym.scope, arg_expr.span)
            if pt is None:
                ok = False
            else:
                param_types.append(pt)
        if not ok:
            return None
        return self.instantiate(sym, param_types, e.span)

    def _param_type(self, p: ast.FnParam, a: VType, scope: Scope, span: Span) -> VType | None:
        """The parameter's type inside the body for this argument, or None if it does not fit."""
        declared = self.resolve_type(p.type, scope, label=a.label)
        if declared is None:
            return None
        shape = a.shape if p.type.shape == ast.ANY_SHAPE else declared.shape
        if p.type.label == PUBLIC and a.is_secret:
            self.err("V0405", f"parameter `{p.name}` is public but the argument is secret",
                     span, "a secret never flows into a public place: pass a public value, "
                     "or declare the parameter `secret` if the function can work on one")
            return None
        if a.base != declared.base and not (a.base == INT and declared.base == FIXED):
            self.err("V0305", f"parameter `{p.name}` is {declared.base}, the argument is "
                     f"{a.base}", span, _conversion_hint(a.base, declared.base))
            return None
        if p.type.shape != ast.ANY_SHAPE and a.shape != declared.shape:
            self.err("V0305", f"parameter `{p.name}` has shape {fmt_shape(declared.shape)}, "
                     f"the argument has {fmt_shape(a.shape)}", span,
                     "reshape the argument, or declare the parameter with `[..]` (any shape)")
            return None
        return VType(declared.label, declared.base, shape)

    def instantiate(self, sym: Symbol, params: list[VType], span: Span) -> VType | None:
        """Check the function body for these parameter types; the result type."""
        decl = sym.decl
        assert decl is not None and sym.scope is not None
        key = (id(decl), tuple(params))
        # Look for recursion before the cache: a call in progress is cached as None, so a
        # recursive call with the same argument types would otherwise pass unnoticed.
        ids = [id(d) for d in self.call_stack]
        if id(decl) in ids:
            cycle = self.call_stack[ids.index(id(decl)):]
            via = " → ".join(f"`{d.name}`" for d in [*cycle, decl])
            what = f"`{decl.name}` calls itself" if len(cycle) == 1 else \
                f"`{decl.name}` calls itself through {via}"
            self.err("V0503", what, span,
                     "circuits are unrolled at compile time, so recursion is not supported; "
                     "write a `for` loop")
            return None
        if key in self.instances:
            return self.instances[key]
        self.call_stack.append(decl)
        self.instances[key] = None
        body_scope = FunctionScope(sym.scope)
        for p, t in zip(decl.params, params, strict=True):
            body_scope.names[p.name] = Symbol("let", t, p.span)
        result: VType | None = None
        inner = Ctx(in_fn=True)
        stmts = decl.body
        if not stmts or not isinstance(stmts[-1], ast.Return):
            self.err("V0501", f"function `{decl.name}` must end with `return`",
                     self._name_span(decl.span, decl.name),
                     "add `return EXPR` as the last statement")
        for s in stmts:
            if s is stmts[-1] and isinstance(s, ast.Return):
                result = self.expr(s.value, body_scope)
            elif isinstance(s, ast.Return):  # code after it would never run
                self.expr(s.value, body_scope)
                self.err("V0501", "`return` must be the last statement of the function",
                         s.span, "remove the statements after it, or return at the end")
            else:
                self.stmt(s, body_scope, inner)
        if result is not None and decl.ret is not None:
            result = self._check_return(decl, result, sym.scope)
        ret = decl.ret
        if result is None and ret is not None and ret.label is not None and \
                ret.shape != ast.ANY_SHAPE:
            # The body has an error (reported): callers go on with the promised type, so
            # that independent mistakes at the call sites are still found.
            result = self.resolve_type(ret, sym.scope)
        self.call_stack.pop()
        self.instances[key] = result
        return result

    def _check_return(self, decl: ast.FnDecl, result: VType, scope: Scope) -> VType | None:
        ret = decl.ret
        assert ret is not None
        declared = self.resolve_type(ret, scope, label=result.label)
        if declared is None:
            return None
        last = decl.body[-1]
        span = last.value.span if isinstance(last, ast.Return) else last.span
        if result.is_secret and ret.label == PUBLIC:
            self.err("V0405", f"`{decl.name}` is declared to return a public value but returns "
                     "a secret one", span, f"declare the result secret: `-> secret "
                     f"{declared.base}{_dims(declared.shape)}`; a secret becomes public only "
                     "through `output`")
            return None
        if result.base != declared.base and not (result.base == INT and declared.base == FIXED):
            self.err("V0309", f"`{decl.name}` is declared to return {declared.base} but returns "
                     f"{result.base}", span, _conversion_hint(result.base, declared.base))
            return None
        shape = result.shape if ret.shape == ast.ANY_SHAPE else declared.shape
        if broadcast(result.shape, shape) != shape:
            self.err("V0309", f"`{decl.name}` is declared to return shape {fmt_shape(shape)} "
                     f"but returns {fmt_shape(result.shape)}", span,
                     "return a value of the declared shape, or declare the shape it has")
            return None
        return VType(declared.label, declared.base, shape)

# ---------------------------------------------------------------- helpers


_WORD = re.compile(r"\w+")


def _is_word_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _fold_binary(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        raise NotConstant
    ops: dict[str, Callable[[Value, Value], Value]] = {
        "+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y,
        "/": lambda x, y: x / y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y, ">=": lambda x, y: x >= y, "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
    }  # fmt: skip
    if op in ("and", "or"):
        if isinstance(a, bool) and isinstance(b, bool):
            return (a and b) if op == "and" else (a or b)
        raise NotConstant
    if op not in ops or isinstance(a, bool) or isinstance(b, bool):
        if op in ("==", "!=") and isinstance(a, bool) and isinstance(b, bool):
            return ops[op](a, b)
        raise NotConstant
    return ops[op](a, b)


def _split_offset(e: ast.Expr, checker: Checker, scope: Scope
                  ) -> tuple[ast.Expr | None, int] | None:  # fmt: skip
    """e as (base, constant offset): `i + 2` → (i, 2), `i - 1` → (i, -1), `i` → (i, 0)."""
    if isinstance(e, ast.Binary) and e.op in ("+", "-"):
        try:
            c = checker.const_value(e.right, scope)
        except (NotConstant, ZeroDivisionError, OverflowError):
            c = None
        if isinstance(c, int) and not isinstance(c, bool):
            inner = _split_offset(e.left, checker, scope)
            if inner is None:
                return None
            return inner[0], inner[1] + (c if e.op == "+" else -c)
    try:
        c = checker.const_value(e, scope)
    except (NotConstant, ZeroDivisionError, OverflowError):
        return e, 0
    return (None, c) if isinstance(c, int) and not isinstance(c, bool) else None


def _shape_key(e: ast.Expr | None) -> object:
    """An expression's structure without its source positions (to compare two bounds)."""
    if isinstance(e, ast.Node):
        return (type(e).__name__, *(_shape_key(getattr(e, f)) for f in e.__dataclass_fields__
                                    if f != "span"))
    if isinstance(e, tuple):
        return tuple(_shape_key(x) for x in e)
    return e


def _out_of_range(v: Value, t: VType, frac_bits: int = FRAC_BITS) -> str | None:
    """Why a compile-time value cannot be represented, or None."""
    values = np.asarray(v, dtype=object).reshape(-1).tolist()
    for x in values:
        if t.base == INT and not isinstance(x, bool) and not INT_MIN <= int(x) <= INT_MAX:
            return f"{x} does not fit in a signed 64-bit int"
        if t.base == FIXED and not abs(float(x)) < fixed_limit(frac_bits):
            return f"{x} is outside the fixed-point range ±2^{fixed_limit_bits(frac_bits)}"
    return None


def _type_of_value(v: Value) -> VType | None:
    if isinstance(v, bool | np.bool_):
        return VType(PUBLIC, BOOL)
    if isinstance(v, int | np.integer):
        return VType(PUBLIC, INT)
    if isinstance(v, float | np.floating):
        return VType(PUBLIC, FIXED)
    if isinstance(v, np.ndarray):
        if v.dtype == np.bool_:
            return VType(PUBLIC, BOOL, v.shape)
        if np.issubdtype(v.dtype, np.integer):
            return VType(PUBLIC, INT, v.shape)
        if np.issubdtype(v.dtype, np.floating):
            return VType(PUBLIC, FIXED, v.shape)
    return None


def _value_fits(v: Value, t: VType) -> bool:
    vt = _type_of_value(v)
    if vt is None or vt.shape != t.shape:
        return False
    return vt.base == t.base or (vt.base == INT and t.base == FIXED)


def _coerce_value(v: Value, t: VType) -> Value:
    if t.base == FIXED:
        return np.asarray(v, dtype=np.float64) if t.shape else float(v)
    return v


def _parse_param_value(text: str, t: VType) -> Value | None:
    import json

    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return None
    v: Value
    if isinstance(raw, list):
        try:
            v = np.array(raw)
        except ValueError:
            return None
    elif isinstance(raw, bool | int | float):
        v = raw
    else:
        return None
    return v if _value_fits(v, t) else None


def _dims(shape: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, shape))}]" if shape else ""


def _a_kind(kind: str) -> str:
    """`an input`, `a constant`: the kind with its article."""
    name = _kind_name(kind)
    word = name.lstrip("`")
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {name}"


def _kind_name(kind: str) -> str:
    return {"let": "`let` binding (immutable)", "const": "constant", "param": "param",
            "input": "input", "loop": "loop variable", "fn": "function", "module": "module",
            "output": "output", "var": "variable",
            "circuit": "circuit"}.get(kind, kind)  # fmt: skip


def _conversion_hint(src: str, dst: str) -> str:
    if dst == INT and src == FIXED:
        return "convert with `to_int(x)` (rounds down)"
    if dst == FIXED and src == BOOL:
        return "convert with `to_fixed(b)`"
    if dst == INT and src == BOOL:
        return "convert with `to_int(b)`"
    if dst == BOOL:
        return "compare to get a bool, e.g. `x != 0`"
    return f"convert the value to {dst}"


def _fmt_param(p: ast.FnParam) -> str:
    t = p.type
    shape = "[..]" if t.shape == ast.ANY_SHAPE else ("[...]" if t.shape else "")
    return f"{p.name}: {(t.label + ' ') if t.label else ''}{t.base}{shape}"


def _suggest(name: str, scope: Scope, functions: bool = False) -> str:
    names: set[str] = set()
    s: Scope | None = scope
    while s is not None:
        names.update(s.names)
        s = s.parent
    if functions:
        names.update(BUILTINS)
    # 0.5 rather than difflib's 0.6: for the short names of programs (`xs`, `xz`) one
    # wrong letter is already half the name.
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.5)
    if close:
        return f"did you mean `{close[0]}`?"
    if functions:
        return f"define it with `fn {name}(...)`, or `use` the module that has it"
    return "declare it before use (`let`, `var`, `input`, `const` or `param`)"


@functools.cache
def _library_functions() -> dict[str, str]:
    """Each function of the shipped library modules, with the module that defines it."""
    from veil.lang.parser import parse

    found: dict[str, str] = {}
    for name in stdlib_modules():
        text = resources.files("veil.stdlib").joinpath(f"{name}.mpc").read_text("utf-8")
        try:
            module = parse(text, f"stdlib/{name}.mpc")
        except VeilError:
            continue
        for item in module.items:
            if isinstance(item, ast.FnDecl):
                found.setdefault(item.name, name)
    return found


def _library_home(name: str) -> str | None:
    """The library module that defines function `name`, to suggest the `use` it needs."""
    return _library_functions().get(name)


def check(module: ast.Module, loader: ModuleLoader,
          param_overrides: dict[str, str] | None = None,
          limits: Limits = DEFAULT_LIMITS) -> CheckedProgram:  # fmt: skip
    """Type-check a parsed program; raise VeilError with every independent error."""
    return Checker(loader, param_overrides, limits).check(module)
