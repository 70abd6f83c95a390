"""Type rules of the builtin functions (`sum`, `select`, `reshape`, ...), for the checker.

A mixin of the Checker: each `_builtin_NAME(call, argument types, scope)` returns the
result type or reports an error and returns None.
"""

from __future__ import annotations

from veil.lang import ast
from veil.lang.builtins_tables import TABLE_HELP
from veil.types import (
    BOOL,
    FIXED,
    INT,
    PUBLIC,
    VType,
    broadcast,
    fmt_shape,
    join_label,
    numeric_join,
)

INTRINSICS = ("__exp", "__log", "__sqrt", "__reciprocal", "__sigmoid")
"""The approximated functions, callable only from the standard library (`use math`:
math.exp, ...; `use ml`: ml.sigmoid), which documents them."""


def callee_name(func: ast.Expr) -> str:
    """How a call names its function in messages: `f` or `module.f`."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return "?"


class BuiltinRules:
    """The builtin functions' checks; mixed into veil.lang.checker.Checker."""

    def _arity(self, e: ast.Call, args: list, *counts: int) -> bool:
        if len(e.args) not in counts:
            name = callee_name(e.func)
            want = " or ".join(map(str, counts))
            self.err("V0304", f"`{name}` takes {want} argument(s), got {len(e.args)}", e.span,
                     BUILTIN_HELP.get(name))
            return False
        return all(a is not None for a in args)

    def _numeric(self, e: ast.Call, t: VType, allow_bool: bool = False) -> bool:
        if t.base == BOOL and not allow_bool:
            name = callee_name(e.func)
            self.err("V0301", f"`{name}` needs numbers, got bool", e.span,
                     "convert with `to_int(b)` first")
            return False
        return True

    def _builtin_sum(self, e, args, scope):
        if not self._arity(e, args, 1, 2):
            return None
        t = args[0]
        base = INT if t.base == BOOL else t.base
        if len(e.args) == 1:
            return VType(t.label, base)
        axis = self.const_int(e.args[1], scope, "the axis of `sum`")
        if axis is None:
            return None
        if not 0 <= axis < len(t.shape):
            self.err("V0307", f"axis {axis} is out of range for shape {fmt_shape(t.shape)}",
                     e.args[1].span, f"the axes of this value are 0 to {len(t.shape) - 1}"
                     if t.shape else "a scalar has no axes: write `sum(x)`")
            return None
        return VType(t.label, base, t.shape[:axis] + t.shape[axis + 1:])

    def _builtin_prod(self, e, args, scope):
        if not self._arity(e, args, 1) or not self._numeric(e, args[0]):
            return None
        return VType(args[0].label, args[0].base)

    def _minmax(self, e, args, scope):
        if not self._arity(e, args, 1, 2):
            return None
        if not all(self._numeric(e, a) for a in args):
            return None
        if len(args) == 1:
            if not args[0].shape:
                self.err("V0302", f"`{callee_name(e.func)}` of one argument reduces an array; "
                         "this is a scalar", e.span, "for two values write `max(a, b)`")
                return None
            return VType(args[0].label, args[0].base)
        a, b = args
        shape = broadcast(a.shape, b.shape)
        if shape is None:
            self.err("V0302", f"shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not "
                     "broadcast", e.span,
                     "trailing dimensions must be equal or 1 (as in NumPy)")
            return None
        return VType(join_label(a.label, b.label), numeric_join(a.base, b.base), shape)

    _builtin_min = _minmax
    _builtin_max = _minmax

    def _builtin_argmax(self, e, args, scope):
        if not self._arity(e, args, 1) or not self._numeric(e, args[0]):
            return None
        if len(args[0].shape) != 1:
            self.err("V0302", f"`argmax` takes a vector, got shape "
                     f"{fmt_shape(args[0].shape)}", e.span, "flatten it with `reshape`")
            return None
        return VType(args[0].label, INT)

    def _builtin_abs(self, e, args, scope):
        if not self._arity(e, args, 1) or not self._numeric(e, args[0]):
            return None
        return args[0]

    def _builtin_dot(self, e, args, scope):
        if not self._arity(e, args, 2):
            return None
        return self._expr_Binary(ast.Binary(e.span, "@", e.args[0], e.args[1]), scope)

    def _builtin_select(self, e, args, scope):
        if not self._arity(e, args, 3):
            return None
        c, a, b = args
        if c.base != BOOL:
            self.err("V0301", f"the condition of `select` must be bool, got {c.base}",
                     e.args[0].span, "compare to get a bool: `select(x > 0, a, b)`")
            return None
        if (a.base == BOOL) != (b.base == BOOL):
            self.err("V0301", f"`select` branches must have one type, got {a.base} and {b.base}",
                     e.span, "convert the bool branch with `to_int(b)` or `to_fixed(b)`")
            return None
        base = BOOL if a.base == BOOL else numeric_join(a.base, b.base)
        shape = broadcast(c.shape, a.shape)
        shape = broadcast(shape, b.shape) if shape is not None else None
        if shape is None:
            self.err("V0302", f"`select` shapes {fmt_shape(c.shape)}, {fmt_shape(a.shape)}, "
                     f"{fmt_shape(b.shape)} do not broadcast", e.span,
                     "trailing dimensions must be equal or 1 (as in NumPy)")
            return None
        return VType(join_label(c.label, a.label, b.label), base, shape)

    def _builtin_to_fixed(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        return args[0].with_(base=FIXED)

    def _builtin_to_int(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        return args[0].with_(base=INT)

    def _builtin_len(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        if not args[0].shape:
            self.err("V0302", "`len` of a scalar", e.span, "`len` gives the first dimension")
            return None
        return VType(PUBLIC, INT)

    def _builtin_to_bits(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        t = args[0]
        if t.base != INT or len(t.shape) > 1:
            self.err("V0301", f"`to_bits` takes an int or an int vector, got {t}", e.span,
                     "convert fixed with `to_int` first")
            return None
        return VType(t.label, BOOL, (*t.shape, 64))

    def _builtin_from_bits(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        t = args[0]
        if t.base != BOOL or not t.shape or t.shape[-1] != 64 or len(t.shape) > 2:
            self.err("V0301", f"`from_bits` takes bool[64] (or bool[N, 64]), got {t}", e.span,
                     "element i is bit i of the int (two's complement)")
            return None
        return VType(t.label, INT, t.shape[:-1])

    def _builtin_size(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        return VType(PUBLIC, INT)

    def _builtin_reshape(self, e, args, scope):
        if len(e.args) < 2:
            self.err("V0304", "`reshape` takes a value and the new dimensions", e.span,
                     BUILTIN_HELP["reshape"])
            return None
        if args[0] is None:
            return None
        dims = [self.const_int(d, scope, "a dimension of `reshape`") for d in e.args[1:]]
        if any(d is None for d in dims):
            return None
        size = 1
        for d in dims:
            size *= d
        if size != args[0].size or any(d <= 0 for d in dims):
            self.err("V0314", f"cannot reshape {args[0].size} elements "
                     f"({fmt_shape(args[0].shape)}) into {fmt_shape(tuple(dims))}", e.span,
                     "the number of elements must stay the same")
            return None
        return args[0].with_(shape=tuple(dims))

    def _intrinsic(self, e, args, scope):
        name = callee_name(e.func)
        if not e.span.file.startswith("stdlib/"):
            self.err("V0201", f"unknown function `{name}`", e.func.span,
                     f"write `use math` and call `math.{name[2:]}(...)`" if name != "__sigmoid"
                     else "write `use ml` and call `ml.sigmoid(...)`")
            return None
        if not self._arity(e, args, 1) or not self._numeric(e, args[0]):
            return None
        return args[0].with_(base=FIXED)

    _builtin___exp = _intrinsic
    _builtin___log = _intrinsic
    _builtin___sqrt = _intrinsic
    _builtin___reciprocal = _intrinsic
    _builtin___sigmoid = _intrinsic

    def _builtin_concat(self, e, args, scope):
        if len(e.args) < 2:
            self.err("V0304", "`concat` takes two or more arrays", e.span, BUILTIN_HELP["concat"])
            return None
        if any(a is None for a in args):
            return None
        if any(not a.shape for a in args) or len({a.shape[1:] for a in args}) != 1:
            shapes = ", ".join(fmt_shape(a.shape) for a in args)
            self.err("V0302", f"`concat` needs arrays that agree beyond the first dimension, "
                     f"got {shapes}", e.span, "rows are stacked: every row must have one shape")
            return None
        bases = {a.base for a in args}
        if BOOL in bases and len(bases) > 1:
            self.err("V0301", "`concat` mixes bool with numbers", e.span,
                     "convert the bools with `to_fixed(b)` first")
            return None
        base = BOOL if bases == {BOOL} else (FIXED if FIXED in bases else INT)
        rows = sum(a.shape[0] for a in args)
        return VType(join_label(*(a.label for a in args)), base, (rows, *args[0].shape[1:]))

    def _builtin_transpose(self, e, args, scope):
        if not self._arity(e, args, 1):
            return None
        if len(args[0].shape) != 2:
            self.err("V0302", f"`transpose` takes a matrix, got shape "
                     f"{fmt_shape(args[0].shape)}", e.span,
                     "make it a matrix first, e.g. `reshape(v, 1, len(v))`")
            return None
        return args[0].with_(shape=args[0].shape[::-1])


BUILTIN_HELP = {
    "sum": "sum(x) adds every element; sum(x, axis) adds along one axis",
    "prod": "prod(x) multiplies every element",
    "min": "min(x) is the smallest element; min(a, b) the elementwise minimum",
    "max": "max(x) is the largest element; max(a, b) the elementwise maximum",
    "argmax": "argmax(v) is the index of the largest element of a vector",
    "abs": "abs(x) is the elementwise absolute value",
    "dot": "dot(a, b) is a @ b",
    "select": "select(c, a, b) is a where c is true, else b (both are computed)",
    "to_fixed": "to_fixed(x) converts int or bool to fixed",
    "to_int": "to_int(x) converts fixed (rounding down) or bool to int",
    "len": "len(x) is the first dimension of x, a public int",
    "size": "size(x) is the number of elements of x, a public int",
    "to_bits": "to_bits(x) is bool[64]: element i is bit i of the int x (two's complement)",
    "from_bits": "from_bits(b) is the int whose bit i is b[i], for b: bool[64]",
    "reshape": "reshape(x, d1, d2, ...) keeps the elements in order",
    "transpose": "transpose(m) swaps the two dimensions of a matrix",
    "concat": "concat(a, b, ...) stacks the rows of arrays that agree beyond the first "
              "dimension (e.g. two banks' records)",
    **TABLE_HELP,
}
