"""Pass `sort-lower` for the verified (malicious) mode: table operations made of checked
operations only.

The semi-honest expansion (veil.ir.sorting) shuffles rows and opens their shuffled
destinations to the servers; the verified mode has no check of a shuffle's messages, so
here every table operation becomes comparisons (`eq`, `<`), `select`, products, AND gates
and local moves to public positions — the operations the verified mode checks
(docs/security.md §11). Nothing is opened to the servers.

- `isin(a, b)` with at most ALL_PAIRS_MAX pairs: all-pairs equality, then an OR along
  the rows (one AND a pair and level: ⌈log2 m⌉ rounds). `isin(b, a)` reads the same
  equality matrix along the other axis, so the two calls cost one matrix: 7 + ⌈log2 m⌉
  rounds, against about 1,700 for the network at a thousand rows a side.
- Larger `isin`: Batcher's odd–even merge sort (veil.ir.sorting_network's layers) of
  b ++ a by (key, p), p the row's place in b ++ a, so b's rows come first in every run
  of equal keys; the same run marking and prefix carry as the semi-honest expansion
  (AND gates); a second network sort on p brings the flags back to a's order.
- `sum_by(keys, values, domain)`: the domain is public, so up to ALL_PAIRS_MAX pairs
  equality of every key with every domain key (n·d comparisons, exact for all 64-bit
  keys) and one dot product per domain key with the values: 7 + 2 + 1 rounds. Beyond,
  a network sort of keys ++ domain, a segmented prefix sum and a sort back
  (sum_by_network).
- `sort(x)` and `sort(x, by=k)`: the merging network on k, stable through the place p
  as the last part of the compare key; the other rows move with the same selects. `<`
  is the sign of a 64-bit difference, exact for values less than 2^63 apart, so the
  compare key is (k − lo)·n + p when the keys' declared range is narrow enough, and
  otherwise the key's two 32-bit halves compared lexicographically (compare_key):
  every 64-bit `int` or `fixed` key sorts exactly.
- `shuffle(x)`: the network sort of the rows by secret random keys r·n + p, where r
  has SHUFFLE_KEY_BITS random bits (`random_bits`: each server expands the PRG keys it
  shares with its neighbours, so the one component a corrupted server lacks makes r
  uniform to it) and p the row's place breaks ties. Every permutation is equally
  likely unless two keys collide (probability below n²/2^(SHUFFLE_KEY_BITS+1)), and
  the result is a permutation whatever a server does, or the checks abort.

Every step's round count depends on the sizes only, so the report predicts the run.
"""

from __future__ import annotations

import numpy as np

from veil.ir.nodes import Circuit, Node
from veil.ir.sorting import KEY_BITS, Bounds, _Expander, has_tables
from veil.ir.sorting_network import network_layers
from veil.types import BOOL, INT

ALL_PAIRS_MAX = 1 << 20
"""`isin` of at most this many pairs (n·m) is all-pairs equality: 126 AND gates a pair
in 7 + ⌈log2 m⌉ rounds. The network's two sorts take about 1,700 rounds at 1,000 rows a
side and send fewer bytes from about that size on (bench/bench_tables_verified.py,
double_financing: 26 rounds, 113 MB a server and 15.1 s all-pairs at 1,000 × 1,000;
1,723 rounds, 91 MB and 14.5 s by network at 1,100 × 1,100, locally), so up to a
million pairs the rounds decide; beyond, all-pairs grows as n·m and the network as
N log² N."""
SHUFFLE_KEY_BITS = 40
"""Random bits of a verified shuffle's keys: two of n rows draw the same key with
probability below n²/2^41 (4.5·10^-6 for 2,000 rows), and r·n + p stays below 2^62 up
to 2^22 rows. Each bit is one `b2a` (two products)."""
COMPARE_MAX = 1 << 62
"""Compare keys stay below 2^62, so the sign of their difference (`<`) is exact."""


class Unverifiable(Exception):
    """A table operation the verified expansion cannot build soundly (the compiler turns
    it into V0803 on the operation's line)."""

    def __init__(self, node: Node, reason: str):
        super().__init__(reason)
        self.node = node
        self.reason = reason


class _VerifiedExpander(_Expander):
    """The table operations as checked operations only (see the module docstring)."""

    # ------------------------------------------------------------ the network

    def network_sort(self, key: list[int], columns: list[int]) -> list[int]:
        """The columns' rows in ascending order of `key`: one or two parts (high, low),
        ordered lexicographically, each part's values less than 2^62 apart so `<` on it
        is exact. Batcher's odd–even merge sort (Batcher, "Sorting networks and their
        applications", AFIPS 1968): each layer compares its pairs' keys at once and
        exchanges every column with a `select` of the difference (an XOR for bools).
        Returns the sorted key parts, then the columns."""
        n = self.n_rows(key[0])
        cols = [*key, *columns]
        for pairs in network_layers(n):
            low = np.array([i for i, _ in pairs])
            high = np.array([j for _, j in pairs])
            m = len(pairs)
            rest = np.setdiff1d(np.arange(n), np.concatenate([low, high]))
            where = np.empty(n, dtype=np.int64)  # low ends, then high ends, then the rest
            where[low], where[high], where[rest] = np.arange(m), m + np.arange(m), \
                2 * m + np.arange(len(rest))
            back = np.empty(n, dtype=np.int64)
            back[where] = np.arange(n)
            to_line, from_line = self.const(where, INT), self.const(back, INT)
            lined = [self.scatter(c, to_line, n) for c in cols]
            ends = [(self.rows(c, 0, m), self.rows(c, m, 2 * m)) for c in lined[:len(key)]]
            swap = self.add("lt", ends[0][1], ends[0][0])
            if len(key) == 2:  # high parts ordered, or equal and the low parts ordered
                # (never both: the OR is an XOR)
                tie = self.add("eq", ends[0][0], ends[0][1])
                swap = self.add("xor", swap,
                                self.add("and", tie, self.add("lt", ends[1][1], ends[1][0])))
            cols = [self.exchange(c, swap, m, n, from_line) for c in lined]
        return cols

    def exchange(self, lined: int, swap: int, m: int, n: int, back: int) -> int:
        """Rows 0..m−1 and m..2m−1 of `lined` exchanged where `swap`, then put back."""
        a, b = self.rows(lined, 0, m), self.rows(lined, m, 2 * m)
        t = self.t(lined)
        cond = swap
        if len(t.shape) > 1:  # one condition a row: a column for numpy's broadcasting
            cond = self.add("reshape", swap, shape=(m, *([1] * (len(t.shape) - 1))))
        if t.base == BOOL:  # (an AND with a public column is local)
            diff = self.add("and", cond, self.add("xor", a, b))
            parts = [self.add("xor", a, diff), self.add("xor", b, diff)]
        else:
            zero = self.const(np.zeros((m, *t.shape[1:])), t.base)
            diff = self.add("select", cond, self.add("sub", b, a), zero)
            parts = [self.add("add", a, diff), self.add("sub", b, diff)]
        if 2 * m < n:
            parts.append(self.rows(lined, 2 * m, n))
        return self.scatter(self.add("concat", *parts), back, n)

    def compare_key(self, keys: int, bounds: tuple[int, int] | None, unique: bool,
                    node: Node) -> list[int]:  # fmt: skip
        """Key parts the network sorts exactly (see network_sort), with p the row's place
        breaking ties when `unique` is asked for (a stable order):

        - keys with a declared range [lo, hi] narrow enough: one part, (k − lo)·n + p;
        - any other keys: their 64 bits (`to_bits`, bit 63 flipped so the unsigned
          order is the signed one) as two 32-bit halves (`b2a` of each bit and a local
          sum), h and l·n + p: exact for every 64-bit key, at the cost of one
          decomposition a row and three comparisons a comparator instead of one."""
        n = self.n_rows(keys)
        scale = n if unique else 1
        place = self.const(np.arange(n), INT)
        if bounds is not None and (bounds[1] - bounds[0] + 1) * scale < COMPARE_MAX:
            lo = bounds[0]
            as_int = keys if self.t(keys).base == INT else self.add("cast", keys, base=INT)
            shifted = self.add("sub", as_int, self.raw_const([lo], INT))
            if not unique:
                return [shifted]
            return [self.add("add", self.add("mul", shifted, self.const(n, INT)), place)]
        if unique and n << 32 >= COMPARE_MAX:
            raise Unverifiable(node, f"{n} rows are too many for an exact comparison of "
                                     f"64-bit keys with their places")
        weights = np.zeros((KEY_BITS, 2), dtype=np.int64)
        weights[32:, 0] = 1 << np.arange(32)  # high half
        weights[:32, 1] = 1 << np.arange(32)  # low half
        halves = self.add("matmul", self.add("b2a", self.key_bits(keys)),
                          self.const(weights, INT))  # local: public weights
        high, low = self.column(halves, 0), self.column(halves, 1)
        if unique:
            low = self.add("add", self.add("mul", low, self.const(n, INT)), place)
        return [high, low]

    # ------------------------------------------------------------ the operations

    def sort_verified(self, keys: int, values: int, bounds: tuple[int, int] | None,
                      node: Node) -> int:  # fmt: skip
        if not self.t(keys).is_secret:
            return self.sort_by(keys, values)  # a public order: moved at compile time
        base = self.t(keys).base
        if keys != values:  # other rows move with the keys: stable, so a unique key
            key = self.compare_key(keys, bounds, unique=True, node=node)
            return self.network_sort(key, [values])[-1]
        # the values themselves: equal keys are equal rows, so any order of ties will do,
        # and the sorted value comes back from the sorted key parts (local)
        key = self.compare_key(keys, bounds, unique=False, node=node)
        ordered = self.network_sort(key, [])
        if len(ordered) == 1:
            assert bounds is not None  # the key is k − lo
            value = self.add("add", ordered[0], self.raw_const([bounds[0]], INT))
        else:  # h·2^32 + l with bit 63 flipped back
            high = self.add("sub", ordered[0], self.const(1 << 31, INT))
            value = self.add("add", self.add("mul", high, self.const(1 << 32, INT)),
                             ordered[1])
        return value if base == INT else self.add("cast", value, base=base)

    def all_pairs(self, a: int, b: int, want_a: bool, want_b: bool
                  ) -> tuple[int | None, int | None]:  # fmt: skip
        """isin(a, b) and isin(b, a) from one matrix of equalities."""
        n, m = self.n_rows(a), self.n_rows(b)
        same = self.add("eq", self.add("reshape", a, shape=(n, 1)),
                        self.add("reshape", b, shape=(1, m)))
        in_b = self.any_along(self.add("transpose", same)) if want_a else None
        in_a = self.any_along(same) if want_b else None
        return in_b, in_a

    def any_along(self, matrix: int) -> int:
        """The OR down each column of a bool [rows, cols] matrix: ¬ the AND of the
        negations, halving the rows each round (⌈log2 rows⌉ rounds)."""
        height, width = self.t(matrix).shape
        if height == 0:
            return self.const(np.zeros(width, bool), BOOL)
        none = self.add("not", matrix)
        while height > 1:
            half = height // 2
            both = self.add("and", self.rows(none, 0, half), self.rows(none, half, 2 * half))
            none = both if height % 2 == 0 else \
                self.add("concat", both, self.rows(none, 2 * half, height))
            height = half + height % 2
        return self.add("not", self.add("reshape", none, shape=(width,)))

    def network_match(self, a: int, b: int, want_a: bool, want_b: bool,
                      bounds: tuple[int, int] | None, node: Node
                      ) -> tuple[int | None, int | None]:  # fmt: skip
        """isin by two network sorts (module docstring)."""
        n, m = self.n_rows(a), self.n_rows(b)
        total = n + m
        keys = self.add("concat", b, a)
        key = self.compare_key(keys, bounds, unique=True, node=node)
        is_b = self.const(np.arange(total) < m, BOOL)
        origin = self.const(np.arange(total), INT)
        # the compare key (k − lo)·N + p hides equal keys in its quotient: the keys
        # themselves ride along to be compared once sorted
        is_b, origin, sorted_keys = self.network_sort(key, [is_b, origin, keys])[len(key):]
        same = self.add("eq", self.rows(sorted_keys, 1, total),
                        self.rows(sorted_keys, 0, total - 1))
        flags = []
        if want_a:
            same_prev = self.add("concat", self.const([False], BOOL), same)
            keep = self.add("and", same_prev, self.add("not", is_b))
            flags.append(self.prefix_carry(keep, is_b))
        if want_b:
            same_next = self.add("concat", same, self.const([False], BOOL))
            keep = self.add("and", same_next, is_b)
            flags.append(self.prefix_carry(keep, self.add("not", is_b), backward=True))
        _, *back = self.network_sort([origin], flags)
        in_b = self.rows(back[0], m, total) if want_a else None
        in_a = self.rows(back[-1], 0, m) if want_b else None
        return in_b, in_a

    def sum_by_verified(self, keys: int, values: int, domain: int, node: Node) -> int:
        """Σ over the rows whose key equals each domain key: up to ALL_PAIRS_MAX pairs a
        dot product of the values with the 0/1 equality matrix, beyond a network sort
        and a segmented sum (both exact for every 64-bit key)."""
        n, d = self.n_rows(keys), self.n_rows(domain)
        if n == 0 or d == 0:
            return self.const(np.zeros(d), self.t(values).base)
        if n * d > ALL_PAIRS_MAX:
            return self.sum_by_network(keys, values, domain, node)
        same = self.add("eq", self.add("reshape", keys, shape=(n, 1)),
                        self.add("reshape", domain, shape=(1, d)))
        return self.add("matmul", values, self.add("b2a", same))

    def sum_by_network(self, keys: int, values: int, domain: int, node: Node) -> int:
        """Keys outside the domain's range [lo, hi] merged into hi + 1 (two `<` and a
        select, exact while hi − lo < 2^62: see sorting._Expander.narrowed), so the keys
        have known bounds; keys ++ domain sorted by (key, place) with the network (each
        domain row last in its run), sums within each run of equal keys by a segmented
        parallel prefix (Hillis & Steele 1986: ⌈log2 N⌉ levels, each a select), and a
        second network sort by place brings the domain rows' totals (their runs' sums)
        back to the last d rows."""
        n, d = self.n_rows(keys), self.n_rows(domain)
        total = n + d
        base, value_base = self.t(keys).base, self.t(values).base
        known = np.asarray(self.b.value(domain)).view(np.int64)
        lo, hi = int(known.min()), int(known.max())
        if hi - lo + 2 >= 1 << 62:
            all_keys, bounds = self.add("concat", keys, domain), None
        else:
            lowest, highest = self.raw_const([lo], base), self.raw_const([hi], base)
            outside = self.add("or", self.add("lt", keys, lowest),
                               self.add("lt", highest, keys))
            mapped = self.add("select", outside, self.raw_const([hi - lo + 1], base),
                              self.add("sub", keys, lowest, wraps=True))
            all_keys = self.add("concat", mapped, self.raw_const(known - lo, base))
            bounds = (0, hi - lo + 1)
        key = self.compare_key(all_keys, bounds, unique=True, node=node)
        padded = self.add("concat", values, self.const(np.zeros(d), value_base))
        place = self.const(np.arange(total), INT)
        sorted_keys, sums, place = self.network_sort(key, [all_keys, padded, place])[len(key):]
        starts = self.add("not", self.add("eq", self.rows(sorted_keys, 1, total),
                                          self.rows(sorted_keys, 0, total - 1)))
        starts = self.add("concat", self.const([True], BOOL), starts)
        span = 1
        while span < total:  # sums[p] += sums[p − span] unless a run starts in between
            zero = self.const(np.zeros(total - span), value_base)
            carried = self.add("select", self.rows(starts, span, total), zero,
                               self.rows(sums, 0, total - span))
            sums = self.add("concat", self.rows(sums, 0, span),
                            self.add("add", self.rows(sums, span, total), carried))
            if span * 2 < total:
                starts = self.add("concat", self.rows(starts, 0, span),
                                  self.add("or", self.rows(starts, span, total),
                                           self.rows(starts, 0, total - span)))
            span *= 2
        _, back = self.network_sort([place], [sums])
        return self.rows(back, n, total)

    def shuffle_verified(self, x: int, group: int, node: Node) -> int:
        """The rows of x in a uniformly random order (module docstring)."""
        n = self.n_rows(x)
        if n <= 1:
            return x
        if n << SHUFFLE_KEY_BITS >= COMPARE_MAX:
            raise Unverifiable(node, f"{n} rows are too many for the verified shuffle's "
                                     f"{SHUFFLE_KEY_BITS}-bit random keys")
        bits = self.add("random_bits", shape=(n, SHUFFLE_KEY_BITS), group=group)
        powers = self.const(1 << np.arange(SHUFFLE_KEY_BITS, dtype=np.int64), INT)
        random = self.add("matmul", self.add("b2a", bits), powers)  # local: public weights
        key = self.add("add", self.add("mul", random, self.const(n, INT)),
                       self.const(np.arange(n), INT))
        return self.network_sort([key], [x])[1]

    # ------------------------------------------------------------ the walk's hooks

    def expand_shuffle(self, x: int, n: Node) -> int:
        return self.shuffle_verified(x, n.attr("group"), n)

    def expand_sort(self, args: list[int], n: Node) -> int:
        return self.sort_verified(*args, bounds=self.bounds_of(n.args[0]), node=n)

    def expand_match(self, a: int, b: int, want_b: bool, n: Node
                     ) -> tuple[int | None, int | None]:  # fmt: skip
        if self.n_rows(a) * self.n_rows(b) <= ALL_PAIRS_MAX:
            return self.all_pairs(a, b, True, want_b)
        return self.network_match(a, b, True, want_b, self.bounds_of(*n.args), n)

    def expand_sum_by(self, args: list[int], n: Node) -> int:
        return self.sum_by_verified(*args, node=n)

def run(circuit: Circuit, bounds: Bounds | None = None) -> Circuit:
    """Expand the table operations on secrets into checked operations only; raises
    Unverifiable for one it cannot build soundly (an int sort without a declared range,
    a shuffle of more than 2^22 rows)."""
    if not has_tables(circuit):
        return circuit
    return _VerifiedExpander(circuit, bounds).expand()
