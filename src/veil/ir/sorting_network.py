"""Batcher's odd–even merging network for small sorts, on `<` and `select`.

A sort of a few `fixed` values (veil.ir.sorting.NETWORK_MAX_ROWS) takes fewer rounds
and far fewer bytes as a comparator network than as 32 radix passes: each layer of
compare-exchanges is one `<` and one `select` of the difference on all its pairs at
once, lowered by veil.ir.lower_rep3 (so the comparison circuits do the work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from veil.types import INT

if TYPE_CHECKING:
    from veil.ir.sorting import _Expander


def network_layers(n: int) -> list[list[tuple[int, int]]]:
    """The comparators (i, j), i < j, of Batcher's odd–even merge sort on n rows, layer
    by layer (the pairs of one layer are disjoint); those reaching row n or past it are
    left out."""
    layers: list[list[tuple[int, int]]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            layer = []
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        layer.append((i + j, i + j + k))
            if layer:
                layers.append(layer)
            k //= 2
        p *= 2
    return layers


def merge_network(ex: _Expander, x: int) -> int:
    """x ascending by Batcher's odd–even merge sort (Batcher, "Sorting networks and
    their applications", AFIPS 1968), for a few rows: ⌈log2 n⌉(⌈log2 n⌉+1)/2 layers
    of compare-exchanges, each a `<` and a `select` of the difference (one product)
    on all the layer's pairs at once, so the comparison circuits of veil.ir.lower_rep3
    do the work. Comparators that reach past the last row (padding to a power of
    two with +∞) exchange nothing and are left out. Not stable, so only for sorting
    the values themselves (equal keys are equal rows)."""
    n = ex.n_rows(x)
    for pairs in network_layers(n):
        low = np.array([i for i, _ in pairs])
        high = np.array([j for _, j in pairs])
        m = len(pairs)
        rest = np.setdiff1d(np.arange(n), np.concatenate([low, high]))
        where = np.empty(n, dtype=np.int64)  # low ends first, then high ends, then the rest
        where[low], where[high], where[rest] = np.arange(m), m + np.arange(m), \
            2 * m + np.arange(len(rest))
        lined = ex.scatter(x, ex.const(where, INT), n)
        a, b = ex.rows(lined, 0, m), ex.rows(lined, m, 2 * m)
        swap = ex.add("lt", b, a)
        diff = ex.add("select", swap, ex.add("sub", b, a),
                      ex.const(np.zeros(m), ex.t(x).base))
        parts = [ex.add("add", a, diff), ex.add("sub", b, diff)]
        if len(rest):
            parts.append(ex.rows(lined, 2 * m, n))
        back = np.empty(n, dtype=np.int64)
        back[where] = np.arange(n)
        x = ex.scatter(ex.add("concat", *parts), ex.const(back, INT), n)
    return x
