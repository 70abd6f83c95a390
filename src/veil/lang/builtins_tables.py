"""Type rules of the table builtins (`sort`, `shuffle`, `isin`, `sum_by`).

A mixin of the Checker, like veil.lang.builtins. A table is an array whose rows are its
elements along the first axis; keys are int (or fixed) vectors, one key per row. The
names and meanings are numpy's (`np.sort`, `np.isin`); tables of several parties are
joined with `concat` (veil.lang.builtins); `sort(x, by)`
is `x[np.argsort(by, kind="stable")]` and `sum_by(keys, values, domain)` is, for each
key d of the public `domain`, `values[keys == d].sum()`.
"""

from __future__ import annotations

from veil.lang import ast
from veil.types import BOOL, FIXED, INT, PUBLIC, SECRET, VType, fmt_shape, join_label

TABLE_BUILTINS = ("sort", "shuffle", "isin", "sum_by")

TABLE_HELP = {
    "sort": "sort(x) is x in ascending order; sort(x, by) is the rows of x in ascending "
            "order of the key vector `by` (equal keys keep their order)",
    "shuffle": "shuffle(x) is the rows of x in a uniformly random order nobody knows",
    "isin": "isin(a, b) is bool[len(a)]: true where a[i] occurs in b",
    "sum_by": "sum_by(keys, values, domain) is, for each key of the public vector "
              "`domain`, the sum of the values whose key equals it",
}


class TableRules:
    """The table builtins' checks; mixed into veil.lang.checker.Checker."""

    def _key_vector(self, e: ast.Expr, t: VType, what: str) -> bool:
        if t.base not in (INT, FIXED) or len(t.shape) != 1:
            self.err("V0301" if t.base == BOOL else "V0302",
                     f"{what} must be an int or fixed vector, got {t}", e.span,
                     "keys are one number per row: convert bools with `to_int`, flatten a "
                     "matrix with `reshape`")
            return False
        return True

    def _rows(self, e: ast.Expr, t: VType, name: str) -> bool:
        if not t.shape:
            self.err("V0302", f"`{name}` takes an array, got a scalar", e.span,
                     "its rows are the elements along the first axis")
            return False
        return True

    def _builtin_sort(self, e, args, scope):
        if not self._arity(e, args, 1, 2):
            return None
        x = args[0]
        if len(args) == 1:
            if not self._key_vector(e.args[0], x, "the argument of `sort`"):
                return None
            return x
        by = args[1]
        if not self._rows(e.args[0], x, "sort") or \
                not self._key_vector(e.args[1], by, "the key of `sort(x, by)`"):
            return None
        if x.shape[0] != by.shape[0]:
            self.err("V0302", f"`sort(x, by)`: x has {x.shape[0]} rows and by has "
                     f"{by.shape[0]} keys", e.span, "give one key per row of x")
            return None
        return VType(join_label(x.label, by.label), x.base, x.shape)

    def _builtin_shuffle(self, e, args, scope):
        if not self._arity(e, args, 1) or not self._rows(e.args[0], args[0], "shuffle"):
            return None
        return args[0].with_(label=SECRET)

    def _builtin_isin(self, e, args, scope):
        if not self._arity(e, args, 2):
            return None
        a, b = args
        if not (self._key_vector(e.args[0], a, "the first argument of `isin`") and
                self._key_vector(e.args[1], b, "the second argument of `isin`")):
            return None
        if a.base != b.base:
            self.err("V0301", f"`isin` compares {a.base} with {b.base}", e.span,
                     "convert one side so both are int (or both fixed)")
            return None
        return VType(join_label(a.label, b.label), BOOL, a.shape)

    def _builtin_sum_by(self, e, args, scope):
        if not self._arity(e, args, 3):
            return None
        keys, values, domain = args
        if not (self._key_vector(e.args[0], keys, "the keys of `sum_by`") and
                self._key_vector(e.args[2], domain, "the domain of `sum_by`")):
            return None
        if values.base not in (INT, FIXED) or values.shape != keys.shape:
            self.err("V0302" if values.base != BOOL else "V0301",
                     f"the values of `sum_by` must be numbers, one per key "
                     f"({fmt_shape(keys.shape)}), got {values}", e.args[1].span,
                     "convert bools with `to_int`; give one value per key")
            return None
        if domain.label != PUBLIC:
            self.err("V0306", "the domain of `sum_by` must be known at compile time",
                     e.args[2].span, "list the keys to total as a public vector (a `const`, "
                     "a `param`, or an array literal of them)")
            return None
        if domain.base != keys.base:
            self.err("V0301", f"`sum_by` keys are {keys.base} and its domain is "
                     f"{domain.base}", e.args[2].span, "use one kind of key for both")
            return None
        return VType(join_label(keys.label, values.label), values.base, domain.shape)
