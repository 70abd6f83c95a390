"""Lowering of the table builtins (`sort`, `shuffle`, `isin`, `sum_by`) to high-level IR
nodes; a mixin of veil.ir.lower.Lowerer.

Each becomes one node (`sort_by`, `shuffle`, `isin`, `sum_by`) that the
plain backend evaluates with numpy and veil.ir.sorting expands into protocol steps for
rep3, so the optimizer and the disclosure analysis see one operation per call.
"""

from __future__ import annotations

import numpy as np

from veil.diagnostics import error
from veil.ir.semantics import decode
from veil.lang import ast


class TableLowering:
    """The table builtins; mixed into veil.ir.lower.Lowerer (which provides b, expr,
    convert and promote)."""

    shuffles: int = 0

    def _builtin_sort(self, e: ast.Call, env) -> int:
        x = self.expr(e.args[0], env)
        by = x if len(e.args) == 1 else self.expr(e.args[1], env)
        return self.b.add("sort_by", (by, x))

    def _builtin_shuffle(self, e: ast.Call, env) -> int:
        self.shuffles += 1  # each call its own permutation (and never merged with another)
        x = self.expr(e.args[0], env)
        return self.b.add("shuffle", (x,), {"group": self.shuffles})

    def _builtin_isin(self, e: ast.Call, env) -> int:
        a, b = (self.expr(x, env) for x in e.args)
        return self.b.add("isin", (a, b))

    def _builtin_sum_by(self, e: ast.Call, env) -> int:
        keys, values, domain = (self.expr(x, env) for x in e.args)
        raw = np.asarray(self.b.value(domain)).view(np.int64)
        unique, counts = np.unique(raw, return_counts=True)
        if np.any(counts > 1):
            twice = unique[counts > 1][:1].view(np.uint64)
            shown = decode(twice, self.b.type(domain).base, self.b.frac_bits)[0]
            raise error("V0330", f"the domain of `sum_by` lists the key {shown:g} "
                        f"{int(counts[counts > 1][0])} times", e.args[2].span,
                        "list each key once: its total is the sum over every row with it")
        return self.b.add("sum_by", (keys, values, domain))
