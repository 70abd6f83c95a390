"""Lowering: the checked AST → a circuit of tensor operations.

Functions are inlined at each call. Loops are unrolled: every public value is known at
compile time (params, constants and what is computed from them), so `for` bounds,
`while` conditions and public `if` conditions are evaluated here, and each iteration's
operations become nodes. Unrolling, rather than keeping a loop node, is what lets the
optimizer and the cost model see every multiplication; vector operations (`@`, `sum`,
elementwise ops on arrays) stay one node however large, so programs should prefer them
to element loops. An `if` on a secret condition evaluates both branches and selects
each assigned variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from veil.diagnostics import Diagnostic, Span, VeilError, error
from veil.ir.lower_tables import TableLowering
from veil.ir.nodes import Circuit, InputSpec, Node, OutputSpec
from veil.ir.ops import infer
from veil.ir.semantics import apply, decode, encode
from veil.lang import ast
from veil.lang.checker import CheckedProgram, Scope, Symbol
from veil.limits import DEFAULT as DEFAULT_LIMITS
from veil.limits import Limits, raise_hint
from veil.types import BOOL, FIXED, FRAC_BITS, INT, VType, broadcast

MAX_WHILE_ITERATIONS = 10_000
PRECISION_LOSS = 0.01
"""A public fixed value that fixed-point rounding moves by more than this (relative to
its exact value) gets warning W0604, with the value actually used."""


class Builder:
    """Appends nodes in creation order (which is topological) and checks each one's type."""

    def __init__(self, frac_bits: int = FRAC_BITS, max_nodes: int = DEFAULT_LIMITS.operations
                 ) -> None:  # fmt: skip
        self.max_nodes = max_nodes
        self.nodes: list[Node] = []
        self.span: Span | None = None
        self.fn: str = ""
        self.values: dict[int, np.ndarray] = {}
        self.frac_bits = frac_bits

    def add(self, op: str, args: tuple[int, ...] | list[int], attrs: dict | None = None) -> int:
        items = tuple(sorted(attrs.items())) if attrs else ()
        nodes = self.nodes
        t = infer(op, [nodes[a].type for a in args], items)
        if len(self.nodes) >= self.max_nodes:
            raise operations_exceeded(self.max_nodes, self.span)
        node = Node(len(self.nodes), op, tuple(args), t, items, self.span, self.fn)
        self.nodes.append(node)
        return node.id

    def type(self, node_id: int) -> VType:
        return self.nodes[node_id].type

    def const(self, value, base: str) -> int:
        if type(value) in (int, bool) and base != FIXED and -(1 << 63) <= value < (1 << 63):
            # a scalar literal or loop index: what encode would give, without numpy
            return self.add("const", (), {"base": base, "shape": (), "data": (int(value),)})
        raw = encode(value, base, self.frac_bits)
        data = tuple(int(x) for x in (raw.astype(np.int64) if base != BOOL else raw.astype(int))
                     .reshape(-1).tolist())
        return self.add("const", (), {"base": base, "shape": tuple(raw.shape), "data": data})

    def value(self, node_id: int) -> np.ndarray:
        """The cleartext value of a public node (computed from constants)."""
        if node_id in self.values:
            return self.values[node_id]
        order: list[int] = []
        stack = [node_id]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if n in seen or n in self.values:
                continue
            seen.add(n)
            order.append(n)
            stack.extend(self.nodes[n].args)
        for n in sorted(order):
            node = self.nodes[n]
            if node.type.is_secret:
                raise AssertionError(f"compile-time value of a secret node {node}")
            self.values[n] = apply(node, [self.values[a] for a in node.args])
        return self.values[node_id]

    def scalar(self, node_id: int) -> int | float | bool:
        t = self.type(node_id)
        v = decode(self.value(node_id), t.base, self.frac_bits)
        return v.item()


@dataclass
class Binding:
    node: int
    type: VType | None  # declared type of a `var` (assignments are converted to it)
    mutable: bool


@dataclass
class Env:
    """Variables in scope. An overlay records assignments to outer variables instead of
    making them, so that the two arms of a secret `if` can be merged with select."""

    parent: Env | None
    scope: Scope  # the checker's scope for consts, params, functions and modules
    vars: dict[str, Binding] = field(default_factory=dict)
    overlay: bool = False
    writes: dict[str, int] = field(default_factory=dict)

    def lookup(self, name: str) -> int | None:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name].node
            if env.overlay and name in env.writes:
                return env.writes[name]
            env = env.parent
        return None

    def binding(self, name: str) -> Binding | None:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return None

    def assign(self, name: str, node: int) -> None:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                env.vars[name].node = node
                return
            if env.overlay:
                env.writes[name] = node
                return
            env = env.parent
        raise AssertionError(f"assignment to undeclared {name}")


VECTOR_HINT = ("use vector operations (`@`, `sum`, elementwise operations on whole arrays) "
               "instead of loops over elements")


def operations_exceeded(budget: int, span: Span | None, projected: int | None = None
                        ) -> VeilError:  # fmt: skip
    """V0504: the circuit would have more operations than the `operations` budget."""
    what = f"would have about {projected:,} operations" if projected else \
        f"has more than {budget:,} operations"
    return error("V0504", f"the circuit {what}; the budget `operations` is {budget:,}", span,
                 f"{VECTOR_HINT}, or {raise_hint('operations', projected)}")


class Unrolling:
    """The `unroll` budget: loop iterations, counted before a loop starts.

    A loop about to run n times, inside loops that still have m more iterations to run
    (counting the current one), will add about n·m iterations; that is checked against
    what is left of the budget before the first iteration, so `for i in 0..100000000`
    fails at once instead of after minutes and gigabytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.done = 0
        # per enclosing loop: the iterations it has left, the current one included
        self.remaining_outer: list[int] = []

    def check(self, n: int, span: Span) -> None:
        projected = self.done + n * math.prod(self.remaining_outer)
        if projected > self.budget:
            raise error("V0504", f"this loop would unroll to about {projected:,} iterations "
                        f"in all; the budget `unroll` is {self.budget:,}", span,
                        f"loops are unrolled at compile time: {VECTOR_HINT}, or "
                        f"{raise_hint('unroll', projected)}")


class Lowerer(TableLowering):
    """Walks the checked program and emits circuit nodes."""

    def __init__(self, program: CheckedProgram, limits: Limits = DEFAULT_LIMITS):
        self.program = program
        self.f = program.frac_bits
        self.limits = limits
        self.unrolling = Unrolling(limits.unroll)
        self.b = Builder(self.f, limits.operations)
        self.fn_stack: list[str] = []
        self.outputs: list[OutputSpec] = []
        self.inputs: list[InputSpec] = []
        self.warnings: list[Diagnostic] = []

    # ------------------------------------------------------------ program

    def lower(self) -> Circuit:
        env = Env(None, self.program.globals)
        for item in self.program.module.items:
            self.stmt(item, env)
        params = tuple((name, v.tolist() if isinstance(v, np.ndarray) else v)
                       for name, (_, v) in self.program.params.items())
        places = self.program.jurisdictions
        jurisdictions = tuple((p, places[p]) for p in self.program.parties if p in places)
        return Circuit(tuple(self.b.nodes), tuple(self.program.parties), tuple(self.inputs),
                       tuple(self.outputs), params, self.f, jurisdictions)

    # ------------------------------------------------------------ conversions

    def convert(self, node: int, base: str) -> int:
        """Convert a value to another base type (int/bool → fixed, bool → int, fixed → int)."""
        t = self.b.type(node)
        if t.base == base:
            return node
        if t.base == BOOL:
            node = self.b.add("b2a", (node,))
            t = self.b.type(node)
            if base == INT:
                return node
        if t.base == INT and base == FIXED:
            return self.b.add("mul", (node, self.b.const(1.0, FIXED)))
        if t.base == FIXED and base == INT:
            return self.b.add("trunc", (node,), {"bits": self.f, "base": INT})
        raise AssertionError(f"no conversion {t.base} → {base}")

    def promote(self, a: int, b: int) -> tuple[int, int]:
        ta, tb = self.b.type(a), self.b.type(b)
        if ta.base == tb.base:
            return a, b
        return self.convert(a, FIXED), self.convert(b, FIXED)

    def fit(self, node: int, target: VType) -> int:
        """Convert and broadcast a value to a variable's declared base and shape."""
        node = self.convert(node, target.base)
        if self.b.type(node).shape != target.shape:
            node = self.b.add("broadcast", (node,), {"shape": target.shape})
        return node

    def product(self, op: str, a: int, b: int) -> int:
        """mul or matmul with the fixed-point truncation when both operands are fixed."""
        both_fixed = self.b.type(a).base == FIXED and self.b.type(b).base == FIXED
        out = self.b.add(op, (a, b))
        if both_fixed:
            out = self.b.add("trunc", (out,), {"bits": self.f})
            if not self.b.type(out).is_secret:
                x, y = (decode(self.b.value(v), FIXED, self.f) for v in (a, b))
                exact = np.matmul(x, y) if op == "matmul" else x * y
                self.check_precision(out, exact, "the product")
        return out

    # ------------------------------------------------------------ statements

    def block(self, stmts: tuple[ast.Stmt, ...], env: Env) -> None:
        for s in stmts:
            self.stmt(s, env)

    def stmt(self, s: ast.Stmt, env: Env) -> None:
        if not self.fn_stack:
            self.b.span = s.span
        getattr(self, f"_stmt_{type(s).__name__}")(s, env)

    def _stmt_PartyDecl(self, s, env) -> None:
        pass

    _stmt_UseDecl = _stmt_PartyDecl
    _stmt_FnDecl = _stmt_PartyDecl
    _stmt_ConstDecl = _stmt_PartyDecl
    _stmt_ParamDecl = _stmt_PartyDecl
    _stmt_CircuitDecl = _stmt_PartyDecl
    _stmt_PrecisionDecl = _stmt_PartyDecl

    def _stmt_LetTuple(self, s: ast.LetTuple, env: Env) -> None:
        assert isinstance(s.value, ast.Call) and isinstance(s.value.func, ast.Name)
        sym = env.scope.lookup(s.value.func.id)
        assert sym is not None
        results = self.circuit_call(sym, s.value.func.id,
                                    [self.expr(a, env) for a in s.value.args])
        for ref, node in zip(s.names, results, strict=True):
            env.vars[ref.name] = Binding(node, None, False)

    def _stmt_InputDecl(self, s: ast.InputDecl, env: Env) -> None:
        sym = env.scope.lookup(s.name)
        assert sym is not None and sym.type is not None
        node = self.b.add("input", (), {"name": s.name, "party": s.owner.name,
                                        "base": sym.type.base, "shape": sym.type.shape})
        declared = next((i.range for i in self.program.inputs if i.name == s.name), None)
        self.inputs.append(InputSpec(s.name, s.owner.name, self.b.type(node), node, declared))
        env.vars[s.name] = Binding(node, None, False)

    def _declared_type(self, t: ast.TypeExpr, value: VType, env: Env) -> VType:
        shape = value.shape
        if isinstance(t.shape, tuple):
            shape = tuple(int(self.b.scalar(self.expr(d, env))) for d in t.shape)
        return VType(t.label or value.label, t.base, shape)

    def _stmt_Let(self, s: ast.Let, env: Env) -> None:
        node = self.expr(s.value, env)
        declared = None
        if s.type is not None:
            declared = self._declared_type(s.type, self.b.type(node), env)
            node = self.fit(node, declared)
        elif s.mutable:
            declared = self.b.type(node)
        env.vars[s.name] = Binding(node, declared, s.mutable)

    def _stmt_Assign(self, s: ast.Assign, env: Env) -> None:
        node = self.expr(s.value, env)
        binding = env.binding(s.name)
        assert binding is not None and binding.type is not None
        env.assign(s.name, self.fit(node, binding.type))

    def _stmt_IndexAssign(self, s: ast.IndexAssign, env: Env) -> None:
        value = self.expr(s.value, env)
        binding = env.binding(s.name)
        current = env.lookup(s.name)
        assert binding is not None and binding.type is not None and current is not None
        spec = self.index_spec(s.indices, self.b.type(current).shape, env)
        value = self.convert(value, binding.type.base)
        self.b.span = s.span if not self.fn_stack else self.b.span
        env.assign(s.name, self.b.add("update", (current, value), {"spec": spec}))

    def _stmt_For(self, s: ast.For, env: Env) -> None:
        lo = int(self.b.scalar(self.expr(s.lo, env)))
        hi = int(self.b.scalar(self.expr(s.hi, env)))
        n = max(hi - lo, 0)
        unrolling = self.unrolling
        unrolling.check(n, s.span)
        cheapest: int | None = None  # fewest operations an iteration has added so far
        for k, i in enumerate(range(lo, hi)):
            before = len(self.b.nodes)
            unrolling.remaining_outer.append(n - k)
            try:
                inner = Env(env, env.scope)
                inner.vars[s.var] = Binding(self.b.const(i, INT), None, False)
                self.block(s.body, inner)
            finally:
                unrolling.remaining_outer.pop()
            unrolling.done += 1
            added = len(self.b.nodes) - before
            cheapest = added if cheapest is None else min(cheapest, added)
            # Project the operations from the cheapest iteration so far (from the second
            # on: a first iteration may do set-up work): a loop whose first iterations
            # already show it cannot fit stops now, not when the budget runs out.
            projected = len(self.b.nodes) + cheapest * (n - k - 1)
            if k >= 1 and projected > self.b.max_nodes:
                raise operations_exceeded(self.b.max_nodes, s.span, projected)

    def _stmt_While(self, s: ast.While, env: Env) -> None:
        for _ in range(MAX_WHILE_ITERATIONS):
            if not self.b.scalar(self.expr(s.cond, env)):
                return
            self.unrolling.check(1, s.span)
            self.unrolling.done += 1
            self.block(s.body, Env(env, env.scope))
        raise error("V0504", f"`while` loop ran more than {MAX_WHILE_ITERATIONS:,} times",
                    s.span, "loops are unrolled at compile time; check the condition changes")

    def _stmt_If(self, s: ast.If, env: Env) -> None:
        cond = self.expr(s.cond, env)
        if not self.b.type(cond).is_secret:
            chosen = s.then if self.b.scalar(cond) else s.orelse
            self.block(chosen, Env(env, env.scope))
            return
        arms = []
        for body in (s.then, s.orelse):
            arm = Env(env, env.scope, overlay=True)
            self.block(body, arm)
            arms.append(arm)
        span = self.b.span
        if not self.fn_stack:
            self.b.span = s.span
        for name in sorted(set(arms[0].writes) | set(arms[1].writes)):
            current = env.lookup(name)
            assert current is not None
            then_v = arms[0].writes.get(name, current)
            else_v = arms[1].writes.get(name, current)
            env.assign(name, self.merge(cond, then_v, else_v, current))
        self.b.span = span

    def merge(self, cond: int, then_v: int, else_v: int, current: int) -> int:
        """The value after a secret `if`: select(cond, then, else).

        When one arm only changed part of an array (`x[i] = v`), only that part is
        selected, so a loop of such `if`s selects independent elements in parallel
        instead of chaining whole-array selects one after another."""
        for arm, other, picked_first in ((then_v, else_v, True), (else_v, then_v, False)):
            node = self.b.nodes[arm]
            if other == current and node.op == "update" and node.args[0] == current:
                spec = node.attr("spec")
                # read the region from before earlier updates of other regions, so that
                # this select does not wait for theirs
                source = current
                while self.b.nodes[source].op == "update" and \
                        _disjoint(self.b.nodes[source].attr("spec"), spec):
                    source = self.b.nodes[source].args[0]
                region = self.b.add("slice", (source,), {"spec": spec})
                value = node.args[1]
                choice = (cond, value, region) if picked_first else (cond, region, value)
                return self.b.add("update", (current, self.b.add("select", choice)),
                                  {"spec": spec})
        return self.b.add("select", (cond, then_v, else_v))

    def _stmt_Return(self, s: ast.Return, env: Env) -> None:
        raise AssertionError("return is handled by call lowering")

    def _stmt_Output(self, s: ast.Output, env: Env) -> None:
        if s.value is not None:
            node = self.expr(s.value, env)
            env.vars[s.name] = Binding(node, None, False)
        else:
            found = env.lookup(s.name)
            node = found if found is not None else self.name_value(s.name, env, s.span)
        # The disclosure shows the checker's label: a value declared secret stays secret
        # in the report even when the circuit could compute it from public values.
        label = self.program.outputs[s.name][0].label
        self.outputs.append(OutputSpec(s.name, tuple(r.name for r in s.receivers),
                                       self.b.type(node).with_(label=label), node))

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr, env: Env) -> int:
        saved = self.b.span
        if not self.fn_stack:
            self.b.span = e.span
        try:
            return getattr(self, f"_expr_{type(e).__name__}")(e, env)
        finally:
            self.b.span = saved

    def _expr_IntLit(self, e: ast.IntLit, env: Env) -> int:
        return self.b.const(e.value, INT)

    def _expr_FloatLit(self, e: ast.FloatLit, env: Env) -> int:
        node = self.b.const(e.value, FIXED)
        self.check_precision(node, e.value, "the literal")
        return node

    def _expr_BoolLit(self, e: ast.BoolLit, env: Env) -> int:
        return self.b.const(e.value, BOOL)

    def _expr_Name(self, e: ast.Name, env: Env) -> int:
        node = env.lookup(e.id)
        if node is not None:
            return node
        return self.name_value(e.id, env, e.span)

    def name_value(self, name: str, env: Env, span: Span) -> int:
        sym = env.scope.lookup(name)
        assert sym is not None, name
        return self.symbol_value(sym)

    def symbol_value(self, sym: Symbol) -> int:
        assert sym.kind in ("const", "param") and sym.type is not None
        node = self.b.const(sym.value, sym.type.base)
        if sym.type.base == FIXED:
            self.check_precision(node, sym.value, f"the {sym.kind}")
        return node

    def check_precision(self, node: int, exact, what: str) -> None:
        """W0604 when a public fixed value lost more than 1% to fixed-point rounding."""
        exact = np.asarray(exact, dtype=np.float64)
        used = np.broadcast_to(decode(self.b.value(node), FIXED, self.f), exact.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(exact != 0, np.abs(used - exact) / np.abs(exact), 0.0)
        if not np.any(loss > PRECISION_LOSS):
            return
        k = int(np.argmax(loss))
        span = self.b.span
        if any(w.span == span for w in self.warnings):
            return
        self.warnings.append(Diagnostic(
            "W0604", f"{what} {exact.reshape(-1)[k]:.6g} is stored as "
            f"{used.reshape(-1)[k]:.8g} with {self.f} fractional bits "
            f"({loss.reshape(-1)[k]:.1%} off)", span,
            "choose a finer `precision` (docs/language.md, section 3), or rescale: multiply "
            "by a power of ten and divide the result", severity="warning"))

    def _expr_Attribute(self, e: ast.Attribute, env: Env) -> int:
        return self.symbol_value(self._member(e, env))

    def _member(self, e: ast.Attribute, env: Env) -> Symbol:
        assert isinstance(e.value, ast.Name)
        module = env.scope.lookup(e.value.id)
        assert module is not None and module.scope is not None
        return module.scope.names[e.attr]

    def _expr_ArrayLit(self, e: ast.ArrayLit, env: Env) -> int:
        elements = [self.expr(x, env) for x in e.elements]
        base = FIXED if any(self.b.type(x).base == FIXED for x in elements) else \
            self.b.type(elements[0]).base
        return self.b.add("stack", [self.convert(x, base) for x in elements])

    def index_spec(self, indices: tuple[ast.Index, ...], shape: tuple[int, ...], env: Env
                   ) -> tuple:  # fmt: skip
        spec = []
        for dim, ix in zip(shape, indices, strict=False):
            if isinstance(ix, ast.SingleIndex):
                k = int(self.b.scalar(self.expr(ix.expr, env)))
                if not -dim <= k < dim:
                    raise error("V0307", f"index {k} is out of range for a dimension of size "
                                f"{dim}", ix.span, f"valid indices are 0..{dim - 1}")
                spec.append(("i", k % dim))
            else:
                lo = 0 if ix.lo is None else int(self.b.scalar(self.expr(ix.lo, env)))
                hi = dim if ix.hi is None else int(self.b.scalar(self.expr(ix.hi, env)))
                if not 0 <= lo <= hi <= dim:
                    raise error("V0307", f"slice {lo}..{hi} is out of range for a dimension "
                                f"of size {dim}", ix.span,
                                f"bounds must satisfy 0 <= lo <= hi <= {dim}")
                spec.append(("r", lo, hi))
        return tuple(spec)

    def _expr_Subscript(self, e: ast.Subscript, env: Env) -> int:
        value = self.expr(e.value, env)
        spec = self.index_spec(e.indices, self.b.type(value).shape, env)
        return self.b.add("slice", (value,), {"spec": spec})

    def _expr_Unary(self, e: ast.Unary, env: Env) -> int:
        x = self.expr(e.operand, env)
        return self.b.add("not" if e.op == "not" else "neg", (x,))

    def _expr_Binary(self, e: ast.Binary, env: Env) -> int:
        a = self.expr(e.left, env)
        b = self.expr(e.right, env)
        return self.binary(e.op, a, b, e)

    def binary(self, op: str, a: int, b: int, e: ast.Expr) -> int:
        if op == "and":
            return self.b.add("and", (a, b))
        if op == "or":
            return self.b.add("or", (a, b))
        if op == "/":
            return self.divide(a, b, e)
        if op == "@":
            return self.product("matmul", a, b)
        if op == "*":
            return self.product("mul", a, b)
        if self.b.type(a).base == BOOL and op in ("==", "!="):
            differ = self.b.add("xor", (a, b))
            return differ if op == "!=" else self.b.add("not", (differ,))
        a, b = self.promote(a, b)
        simple = {"+": ("add", a, b), "-": ("sub", a, b), "<": ("lt", a, b),
                  ">": ("lt", b, a), "==": ("eq", a, b)}  # fmt: skip
        if op in simple:
            name, x, y = simple[op]
            return self.b.add(name, (x, y))
        negated = {"<=": ("lt", b, a), ">=": ("lt", a, b), "!=": ("eq", a, b)}
        name, x, y = negated[op]
        return self.b.add("not", (self.b.add(name, (x, y)),))

    def divide(self, a: int, b: int, e: ast.Expr) -> int:
        """a / b: by a secret b, a `div` node (expanded by veil.ir.numerics); by a public
        c, see divide_public."""
        if self.b.type(b).is_secret:
            return self.math("div", self.convert(a, FIXED), self.convert(b, FIXED))
        return self.divide_public(a, b, e)

    def math(self, op: str, *args: int) -> int:
        """An approximated function: one node until veil.ir.numerics expands it."""
        return self.b.add(op, args, {"frac_bits": self.f})

    def _builtin___exp(self, e: ast.Call, env: Env) -> int:
        return self.math("exp", self.convert(self.expr(e.args[0], env), FIXED))

    def _builtin___log(self, e: ast.Call, env: Env) -> int:
        return self.math("log", self.convert(self.expr(e.args[0], env), FIXED))

    def _builtin___sqrt(self, e: ast.Call, env: Env) -> int:
        return self.math("sqrt", self.convert(self.expr(e.args[0], env), FIXED))

    def _builtin___reciprocal(self, e: ast.Call, env: Env) -> int:
        return self.math("recip", self.convert(self.expr(e.args[0], env), FIXED))

    def _builtin___sigmoid(self, e: ast.Call, env: Env) -> int:
        return self.math("sigmoid", self.convert(self.expr(e.args[0], env), FIXED))

    def divide_public(self, a: int, b: int, e: ast.Expr) -> int:
        """a / c for a public c: multiply by round(2^k / c) and shift right by k.

        k = f + ⌊log2 |c|⌋ (clamped to f..2f, f the fractional bits) keeps about f
        significant bits in the reciprocal, so the relative error of the quotient is at
        most about 2^-f plus one unit in the last place of the result. For an array
        divisor each element gets its own k (the truncation shifts each element by its
        own amount).
        """
        f = self.f
        divisor = decode(self.b.value(b), self.b.type(b).base, f).astype(np.float64)
        if np.any(divisor == 0):
            raise error("V0310", "division by zero", e.span,
                        "the divisor is a public zero (a constant, param or literal); a "
                        "secret divisor that is zero gives 0 (docs/numerics.md)")
        shape = broadcast(self.b.type(a).shape, self.b.type(b).shape) or ()
        divisor = np.broadcast_to(divisor, shape)
        k = f + np.clip(np.floor(np.log2(np.abs(divisor))), 0, f).astype(np.int64)
        numerator_frac = f if self.b.type(a).base == FIXED else 0
        scale = np.exp2((k + f - numerator_frac).astype(np.float64))
        factor = np.rint(scale / divisor).astype(np.int64)
        c = self.b.const(factor, INT)
        product = self.b.add("mul", (a, c))
        bits: int | tuple = int(k.flat[0]) if np.all(k == k.flat[0]) else \
            tuple(int(x) for x in k.reshape(-1))
        out = self.b.add("trunc", (product,), {"bits": bits, "base": FIXED})
        if not self.b.type(a).is_secret:
            numerator = decode(self.b.value(a), self.b.type(a).base, f)
            self.check_precision(out, numerator / divisor, "the quotient")
        return out

    # ------------------------------------------------------------ calls

    def _expr_Call(self, e: ast.Call, env: Env) -> int:
        if isinstance(e.func, ast.Name) and env.lookup(e.func.id) is None and \
                env.scope.lookup(e.func.id) is None:
            return getattr(self, f"_builtin_{e.func.id}")(e, env)
        if isinstance(e.func, ast.Name):
            sym = env.scope.lookup(e.func.id)
            name = e.func.id
        else:
            assert isinstance(e.func, ast.Attribute) and isinstance(e.func.value, ast.Name)
            sym = self._member(e.func, env)
            name = f"{e.func.value.id}.{e.func.attr}"
        assert sym is not None
        args = [self.expr(a, env) for a in e.args]
        if sym.kind == "circuit":
            return self.circuit_call(sym, name, args)[0]
        return self.call(sym, name, args, env)

    def circuit_call(self, sym: Symbol, name: str, args: list[int]) -> list[int]:
        """Inline a Bristol circuit, a few tensor nodes per AND level (veil.ir.lower_bristol).

        Wire i of an argument bool[..., n] is its element [..., i]; outputs are
        bool[..., width] over the broadcast instances. XOR and INV are local on shares,
        so the rounds of a call are its AND depth."""
        from veil.ir import lower_bristol

        saved_fn = self.b.fn
        self.b.fn = "/".join([*self.fn_stack, name])
        try:
            return lower_bristol.inline(self.b, sym.value, args)
        finally:
            self.b.fn = saved_fn

    def call(self, sym: Symbol, name: str, args: list[int], env: Env) -> int:
        decl = sym.decl
        assert decl is not None and sym.scope is not None
        # while fn_stack is non-empty, statements and expressions leave self.b.span alone:
        # the inlined nodes keep the call site's span, so costs land on the caller's line
        inner = Env(None, sym.scope)
        self.fn_stack.append(name)
        saved_fn = self.b.fn
        self.b.fn = "/".join(self.fn_stack)
        try:
            for p, a in zip(decl.params, args, strict=True):
                inner.vars[p.name] = Binding(self.convert(a, p.type.base), None, False)
            for s in decl.body[:-1]:
                self.stmt(s, inner)
            ret = decl.body[-1]
            assert isinstance(ret, ast.Return)
            result = self.expr(ret.value, inner)
            if decl.ret is not None:
                result = self.convert(result, decl.ret.base)
                if isinstance(decl.ret.shape, tuple):
                    shape = tuple(int(self.b.scalar(self.expr(d, inner))) for d in decl.ret.shape)
                    if self.b.type(result).shape != shape:
                        result = self.b.add("broadcast", (result,), {"shape": shape})
            if any(a.name == "monotone" for a in decl.annotations) and \
                    self.b.type(result).is_secret:
                # tell the optimizer result = f(argument) with f non-decreasing
                result = self.b.add("monotone", (result, inner.vars[decl.params[0].name].node),
                                    {"fn": name})
            return result
        finally:
            self.fn_stack.pop()
            self.b.fn = saved_fn

    def _flat(self, x: int) -> int:
        t = self.b.type(x)
        if len(t.shape) == 1:
            return x
        return self.b.add("reshape", (x,), {"shape": (t.size,)})

    def _pairs(self, x: int) -> tuple[int, int, int | None]:
        """Split a vector into its even and odd positions (adjacent pairs), plus a leftover."""
        n = self.b.type(x).shape[0]
        even_n = n - n % 2
        body = x if even_n == n else self.b.add("slice", (x,), {"spec": (("r", 0, even_n),)})
        grid = self.b.add("reshape", (body,), {"shape": (even_n // 2, 2)})
        left = self.b.add("slice", (grid,), {"spec": (("r", 0, even_n // 2), ("i", 0))})
        right = self.b.add("slice", (grid,), {"spec": (("r", 0, even_n // 2), ("i", 1))})
        rest = None if even_n == n else self.b.add("slice", (x,), {"spec": (("r", even_n, n),)})
        return left, right, rest

    def tree(self, x: int, combine) -> int:
        """Reduce a vector with a binary op as a balanced tree: depth ⌈log2 n⌉."""
        x = self._flat(x)
        while self.b.type(x).shape[0] > 1:
            left, right, rest = self._pairs(x)
            x = combine(left, right)
            if rest is not None:
                x = self.b.add("concat", (x, rest))
        return self.b.add("reshape", (x,), {"shape": ()})

    def _builtin_sum(self, e: ast.Call, env: Env) -> int:
        x = self.expr(e.args[0], env)
        if self.b.type(x).base == BOOL:
            x = self.b.add("b2a", (x,))
        axis = None if len(e.args) == 1 else int(self.b.scalar(self.expr(e.args[1], env)))
        return self.b.add("sum", (x,), {"axis": axis})

    def _builtin_prod(self, e: ast.Call, env: Env) -> int:
        x = self.expr(e.args[0], env)
        return self.tree(x, lambda a, b: self.product("mul", a, b))

    def _larger(self, a: int, b: int) -> int:
        return self.b.add("select", (self.b.add("lt", (a, b)), b, a))

    def _smaller(self, a: int, b: int) -> int:
        return self.b.add("select", (self.b.add("lt", (b, a)), b, a))

    def _minmax(self, e: ast.Call, env: Env, pick) -> int:
        args = [self.expr(a, env) for a in e.args]
        if len(args) == 1:
            return self.tree(args[0], pick)
        a, b = self.promote(*args)
        return pick(a, b)

    def _builtin_max(self, e: ast.Call, env: Env) -> int:
        return self._minmax(e, env, self._larger)

    def _builtin_min(self, e: ast.Call, env: Env) -> int:
        return self._minmax(e, env, self._smaller)

    def _builtin_argmax(self, e: ast.Call, env: Env) -> int:
        values = self.expr(e.args[0], env)
        n = self.b.type(values).shape[0]
        if n > self.limits.elements:  # its public index vector is built now
            raise error("V0504", f"`argmax` over {n:,} values needs a public index vector of "
                        f"{n:,} elements, built at compile time; the budget `elements` is "
                        f"{self.limits.elements:,}", e.span,
                        f"use fewer values, or {raise_hint('elements', n)}")
        index = self.b.const(np.arange(n, dtype=np.int64), INT)
        while n > 1:
            vl, vr, vrest = self._pairs(values)
            il, ir, irest = self._pairs(index)
            right_wins = self.b.add("lt", (vl, vr))  # ties keep the earlier index
            values = self.b.add("select", (right_wins, vr, vl))
            index = self.b.add("select", (right_wins, ir, il))
            if vrest is not None and irest is not None:
                values = self.b.add("concat", (values, vrest))
                index = self.b.add("concat", (index, irest))
            n = self.b.type(values).shape[0]
        return self.b.add("reshape", (index,), {"shape": ()})

    def _builtin_abs(self, e: ast.Call, env: Env) -> int:
        x = self.expr(e.args[0], env)
        negative = self.b.add("lt", (x, self.b.const(0, self.b.type(x).base)))
        return self.b.add("select", (negative, self.b.add("neg", (x,)), x))

    def _builtin_dot(self, e: ast.Call, env: Env) -> int:
        return self.product("matmul", self.expr(e.args[0], env), self.expr(e.args[1], env))

    def _builtin_select(self, e: ast.Call, env: Env) -> int:
        c, a, b = (self.expr(x, env) for x in e.args)
        if self.b.type(a).base != BOOL:
            a, b = self.promote(a, b)
        return self.b.add("select", (c, a, b))

    def _builtin_to_fixed(self, e: ast.Call, env: Env) -> int:
        return self.convert(self.expr(e.args[0], env), FIXED)

    def _builtin_to_int(self, e: ast.Call, env: Env) -> int:
        return self.convert(self.expr(e.args[0], env), INT)

    def _builtin_len(self, e: ast.Call, env: Env) -> int:
        return self.b.const(self.b.type(self.expr(e.args[0], env)).shape[0], INT)

    def _builtin_to_bits(self, e: ast.Call, env: Env) -> int:
        return self.b.add("to_bits", (self.expr(e.args[0], env),))

    def _builtin_from_bits(self, e: ast.Call, env: Env) -> int:
        """Σ b_i·2^i: the bits as 0/1 ints times public powers of two, one local product."""
        bits = self.b.add("b2a", (self.expr(e.args[0], env),))
        powers = self.b.const(np.array([1 << i for i in range(64)], dtype=np.uint64)
                              .view(np.int64), INT)
        return self.b.add("matmul", (bits, powers))

    def _builtin_size(self, e: ast.Call, env: Env) -> int:
        return self.b.const(self.b.type(self.expr(e.args[0], env)).size, INT)

    def _builtin_reshape(self, e: ast.Call, env: Env) -> int:
        x = self.expr(e.args[0], env)
        dims = tuple(int(self.b.scalar(self.expr(d, env))) for d in e.args[1:])
        return self.b.add("reshape", (x,), {"shape": dims})

    def _builtin_concat(self, e: ast.Call, env: Env) -> int:
        parts = [self.expr(a, env) for a in e.args]
        if len({self.b.type(p).base for p in parts}) > 1:
            parts = [self.convert(p, FIXED) for p in parts]
        return self.b.add("concat", tuple(parts))

    def _builtin_transpose(self, e: ast.Call, env: Env) -> int:
        return self.b.add("transpose", (self.expr(e.args[0], env),))


def _disjoint(a: tuple, b: tuple) -> bool:
    """Do two static subscripts (("i", k) / ("r", lo, hi) per leading dim) never overlap?"""
    for pa, pb in zip(a, b, strict=False):
        lo_a, hi_a = (pa[1], pa[1] + 1) if pa[0] == "i" else (pa[1], pa[2])
        lo_b, hi_b = (pb[1], pb[1] + 1) if pb[0] == "i" else (pb[1], pb[2])
        if hi_a <= lo_b or hi_b <= lo_a:
            return True
    return False


def unused_input_warnings(circuit: Circuit) -> list[Diagnostic]:
    """W0601 for every secret input that no output depends on."""
    needed: set[int] = set()
    stack = [o.node for o in circuit.outputs]
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack.extend(circuit.node(n).args)
    warnings = []
    for spec in circuit.inputs:
        if spec.node not in needed:
            node = circuit.node(spec.node)
            warnings.append(Diagnostic(
                "W0601", f"secret input `{spec.name}` of {spec.owner} never reaches an output",
                node.span, "remove it, or use it: its owner would share it for nothing",
                severity="warning"))
    return warnings


def lower_program(program: CheckedProgram, limits: Limits = DEFAULT_LIMITS
                  ) -> tuple[Circuit, list[Diagnostic]]:  # fmt: skip
    """Lower a checked program to a circuit (unoptimized), with the lowering's warnings
    (W0604: public values that fixed-point rounding changed by more than 1%), within the
    `unroll` and `operations` budgets (V0504)."""
    lowerer = Lowerer(program, limits)
    try:
        return lowerer.lower(), lowerer.warnings
    except VeilError as exc:
        exc.sources = program.sources
        raise VeilError(exc.diagnostics, program.sources) from None


def lower(program: CheckedProgram) -> Circuit:
    """Lower a checked program to a circuit (unoptimized)."""
    return lower_program(program)[0]


__all__ = ["Builder", "broadcast", "lower", "lower_program", "unused_input_warnings"]
