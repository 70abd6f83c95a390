"""Pass `sort-lower`: table operations on secrets → comparisons, products and shuffles.

`sort_by`, `isin`, `sum_by` and `shuffle` become high-level IR (to_bits, b2a, mul, eq,
and/xor) plus four protocol steps (veil.ir.ops.TABLE_PROTOCOL): `shuffle_step` (one of
the three permutations of a resharing shuffle), `reveal` (open to the servers),
`scatter` (move rows to public positions) and `cumsum`. Every round count is fixed by
the sizes alone, so the schedule, the report and the run agree.

- Moving rows to secret positions (`order`): shuffle the rows together with their
  destinations, open the shuffled destinations — a uniformly random permutation,
  whatever the data — and move the rows locally (Hamada, Kikuchi, Ikarashi, Chida,
  Takahashi, "Practically efficient multi-party sorting protocols from comparison sort
  algorithms", ICISC 2012: shuffle, then reveal what the shuffle makes independent of
  the input).
- Sorting: LSD radix sort, two key bits a pass (Hamada, Ikarashi, Chida, Takahashi,
  "Oblivious radix sort", IACR ePrint 2014/121; in the three-party setting of Asharov,
  Hamada, Ikarashi, Kikuchi, Nof, Pinkas, Takahashi, Furukawa, "Efficient secure
  three-party sorting with applications to data analysis and heavy hitters", CCS 2022).
  A pass computes each row's destination in a stable sort by its digit from running
  counts of the digit's values (local) and one round of products, then moves the rows.
  The next digit's bits are converted while this one's destinations are computed, so a
  pass costs 2 + 3 (shuffle) + 1 (reveal) rounds: 32 passes for 64-bit keys. Keys are
  decomposed once (`to_bits`); bit 63 is flipped so the unsigned order of the bits is
  the signed order of the keys. Keys with known bounds [lo, hi] (declared input
  ranges, which the loader enforces) are sorted as k − lo on bit_length(hi − lo) bits.
- A sort of at most NETWORK_MAX_ROWS `fixed` values is a merging network instead
  (Batcher 1968), built on `<` and `select`.
- `isin(a, b)`: sort b ++ a (stable: in each run of equal keys b's rows come first),
  mark where a row's key equals its predecessor's (`eq`), and let "this run has a row
  of b so far" flow down the rows: h[p] = isb[p] ∨ (same[p] ∧ h[p−1]), a composition of
  maps x ↦ (k ∧ x) ⊕ c computed as a parallel prefix (Hillis & Steele 1986; the
  generate/propagate carry of a Kogge–Stone adder): one AND round per doubling. Then
  the flags go back to a's order (shuffle, open the original positions, move).
- `sum_by(keys, values, domain)`: keys outside the public domain's range are merged
  into one key past its end (two `<` and a select), so only the range's bits are
  sorted; sort keys ++ domain (a domain row last in its run), running sums of the
  values, flag the last row of every run (`eq` with the next),
  move those rows to the front in order (a stable partition: one more pass), where a
  run's total is the difference of neighbouring running sums, and deliver each domain
  row's total to the domain's order (shuffle, open the domain positions, move).

What the servers see opened: after each shuffle, a permutation of 0..n−1 (rows'
destinations, or their original positions), uniformly random given the public size
whatever the data (docs/security.md states this; the cost report lists every opening).
Keys are never compared in the open, so equal keys (duplicates) stay hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from veil.ir.lower import Builder
from veil.ir.nodes import Circuit, Node
from veil.ir.sorting_network import merge_network
from veil.ir.tables import stable_order
from veil.types import BOOL, FIXED, INT, VType

NAME = "sort-lower"
SUMMARY = "expand sort, shuffle, isin and sum_by into shuffles, openings and comparisons"

DIGIT_BITS = 2
"""Key bits per radix pass. Two halve the passes (and the shuffled bytes) of one at the
cost of one more round of products per pass; three gain little (more indicators)."""

KEY_BITS = 64
NETWORK_MAX_ROWS = 32
"""`sort(x)` of at most this many `fixed` values uses a merging network of `<` and
`select`: up to 32 rows it takes fewer rounds than 32 radix passes (167 against 204 at
32 rows, 68 at 8) and a tenth of the bytes (veil cost). `<` is exact for values less
than 2^63 apart, which every `fixed` value within its range (|x| < 2^46) is; an `int`
may be anywhere in 64 bits, so int keys, larger tables and every sort that moves other
columns use the radix sort, which is exact for all 64-bit keys and stable."""
NARROW_MIN_PASSES = 3
"""`sum_by` narrows its keys to the domain's range when that saves at least this many
radix passes (the narrowing costs about two passes' rounds)."""


Bounds = dict[int, tuple[int, int]]
"""Source node id → (lo, hi): every element of the node lies in [lo, hi], as a signed
ring value (a `fixed` one in ring units): from the inputs' declared ranges, which the
loader enforces (veil.analysis.ranges finds them; the compiler passes them in)."""


class _Expander:
    def __init__(self, circuit: Circuit, bounds: Bounds | None = None):
        self.src = circuit
        self.bounds = bounds or {}
        self.b = Builder()
        self.map: dict[int, int] = {}
        self.groups = max((n.attr("group", 0) for n in circuit.nodes if n.op == "shuffle"),
                          default=0)

    def add(self, op: str, *args: int, **attrs) -> int:
        return self.b.add(op, args, attrs)

    def t(self, node_id: int) -> VType:
        return self.b.type(node_id)

    def n_rows(self, x: int) -> int:
        return self.t(x).shape[0]

    def rows(self, x: int, lo: int, hi: int) -> int:
        return self.add("slice", x, spec=(("r", lo, hi),))

    def column(self, x: int, j: int) -> int:
        return self.add("slice", x, spec=(("r", 0, self.n_rows(x)), ("i", j)))

    def columns(self, x: int, lo: int, hi: int) -> int:
        return self.add("slice", x, spec=(("r", 0, self.n_rows(x)), ("r", lo, hi)))

    def const(self, value, base: str) -> int:
        return self.b.const(value, base)

    # ------------------------------------------------------------ moving rows

    def shuffle(self, columns: Sequence[int], group: int | None = None) -> list[int]:
        """The rows of every column in one uniformly random order nobody knows."""
        if group is None:
            self.groups += 1
            group = self.groups
        out = []
        for c in columns:
            for stage in range(3):
                c = self.add("shuffle_step", c, group=group, stage=stage)
            out.append(c)
        return out

    def open_order(self, dest: int, columns: Sequence[int]) -> tuple[int, list[int]]:
        """Shuffle the rows of dest (a secret permutation of 0..n−1) and of the columns
        together and open the shuffled dest: a uniformly random permutation whatever
        dest was. Returns it (public) and the shuffled columns."""
        shuffled = self.shuffle([dest, *columns])
        return self.add("reveal", shuffled[0]), shuffled[1:]

    def scatter(self, x: int, places: int, size: int, offset: int = 0) -> int:
        attrs = {"size": size, **({"offset": offset} if offset else {})}
        return self.add("scatter", x, places, **attrs)

    def order(self, dest: int, columns: Sequence[int]) -> list[int]:
        """Row p of every column moved to row dest[p], for a secret permutation dest."""
        places, shuffled = self.open_order(dest, columns)
        return [self.scatter(c, places, self.n_rows(c)) for c in shuffled]

    # ------------------------------------------------------------ radix sort

    def key_bits(self, keys: int, bounds: tuple[int, int] | None = None) -> int:
        """bool[n, width] to sort the keys by: with known bounds [lo, hi] the bits of
        k − lo, width = bit_length(hi − lo) (ids declared `in [10^11, 10^12 − 1]`: 40
        bits, 20 passes instead of 32); otherwise all 64 bits with bit 63 flipped, so
        the unsigned order of the bits is the signed order of the keys."""
        if bounds is not None:
            lo, hi = bounds
            width = max(1, (hi - lo).bit_length())
            if width < KEY_BITS - 2 * DIGIT_BITS:  # worth it: two passes or more saved
                shifted = self.add("sub", keys, self.raw_const([lo], self.t(keys).base))
                return self.columns(self.add("to_bits", shifted), 0, width)
        bits = self.add("to_bits", keys)
        flip = self.const(np.arange(KEY_BITS) == KEY_BITS - 1, BOOL)
        return self.add("xor", bits, flip)

    def bounds_of(self, *sources: int) -> tuple[int, int] | None:
        """The hull of the sources' bounds, or None if one has none."""
        found = [self.bounds.get(s) for s in sources]
        if any(b is None for b in found):
            return None
        return min(b[0] for b in found), max(b[1] for b in found)  # type: ignore[index]

    def digit_values(self, bits: int, count: int) -> list[int]:
        """The first `count` bit columns of `bits` as ring values 0/1."""
        return [self.add("b2a", self.column(bits, j)) for j in range(count)]

    def destinations(self, digit: list[int]) -> int:
        """Row p's place in a stable sort by its digit (bits x_j, ring 0/1): the number
        of rows with a smaller digit, plus the earlier rows with the same digit.

        With indicators e_v (row p's digit is v) and inclusive running counts C_v,
        dest = Σ_v e_v·(C_v + off_v) − 1; as Σ_v e_v = 1 this is
        V_0 − 1 + Σ_{v≥1} e_v·(V_v − V_0) for V_v = C_v + off_v: one round of products
        once the indicators are known (products of the bits: one round for two bits)."""
        n = self.n_rows(digit[0])
        indicators = self.indicators(digit)
        counts = [self.add("cumsum", e) for e in indicators]
        offsets: list[int] = [self.const(0, INT)]
        for c in counts[:-1]:
            offsets.append(self.add("add", offsets[-1], self.rows(c, n - 1, n)))
        v = [self.add("add", c, off) for c, off in zip(counts, offsets, strict=True)]
        diffs = self.add("stack", *(self.add("sub", vk, v[0]) for vk in v[1:]))
        picked = self.add("mul", self.add("stack", *indicators[1:]), diffs)
        dest = self.add("add", v[0], self.add("sum", picked, axis=0))
        return self.add("sub", dest, self.const(1, INT))

    def indicators(self, digit: list[int]) -> list[int]:
        """e_v = Π_j (x_j if bit j of v else 1 − x_j) for every digit value v, by
        inclusion–exclusion over the monomials Π_{j∈S} x_j."""
        k = len(digit)
        monomials: dict[int, int] = {}
        for subset in range(1, 1 << k):
            members = [j for j in range(k) if subset >> j & 1]
            if len(members) == 1:
                monomials[subset] = digit[members[0]]
            else:
                low = subset & ~(1 << members[-1])
                monomials[subset] = self.add("mul", monomials[low], digit[members[-1]])
        one = self.const(1, INT)
        out = []
        for v in range(1 << k):
            total: int | None = None
            for subset in range(1 << k):
                if subset & v != v:
                    continue
                term = one if subset == 0 else monomials[subset]
                negative = bin(subset & ~v).count("1") % 2 == 1
                if total is None:
                    total = self.add("neg", term) if negative else term
                else:
                    total = self.add("sub" if negative else "add", total, term)
            assert total is not None
            if self.t(total).shape != self.t(digit[0]).shape:
                total = self.add("broadcast", total, shape=self.t(digit[0]).shape)
            out.append(total)
        return out

    def radix_sort(self, bits: int, columns: list[int]) -> list[int]:
        """The columns' rows in the stable order of the keys whose bits are `bits`.

        The key bits not used yet travel packed in one word a row (`pack`, local), so a
        shuffle moves 8 bytes a row for them rather than one bool a bit."""
        width = self.t(bits).shape[1]
        spans = [(lo, min(lo + DIGIT_BITS, width)) for lo in range(0, width, DIGIT_BITS)]
        lo, hi = spans[0]
        digit = self.digit_values(bits, hi - lo)
        rest_width = width - hi
        rest = self.add("pack", self.columns(bits, hi, width)) if rest_width else None
        for i in range(len(spans)):
            dest = self.destinations(digit)
            carried = list(columns)
            following: list[int] = []
            if rest is not None:
                lo, hi = spans[i + 1]
                unpacked = self.add("unpack", rest, n=rest_width)
                following = self.digit_values(unpacked, hi - lo)  # converted meanwhile
                rest_width -= hi - lo
                rest = self.add("pack", self.columns(unpacked, hi - lo, hi - lo + rest_width)) \
                    if rest_width else None
            moved = self.order(dest, [*carried, *following, *([rest] if rest else [])])
            columns = moved[:len(carried)]
            digit = moved[len(carried):len(carried) + len(following)]
            if rest is not None:
                rest = moved[-1]
        return columns

    # ------------------------------------------------------------ the operations

    def sort_by(self, keys: int, values: int, bounds: tuple[int, int] | None = None) -> int:
        if not self.t(keys).is_secret:  # a public order: move the rows at compile time
            order = stable_order(self.b.value(keys))
            dest = np.empty_like(order)
            dest[order] = np.arange(len(order))
            return self.scatter(values, self.const(dest, INT), len(order))
        if keys == values:
            if self.n_rows(keys) <= NETWORK_MAX_ROWS and self.t(keys).base == FIXED:
                return merge_network(self, keys)
            return self.radix_sort(self.key_bits(keys, bounds), [keys])[0]
        return self.radix_sort(self.key_bits(keys, bounds), [values])[0]

    def match(self, a: int, b: int, want_a: bool, want_b: bool,
              bounds: tuple[int, int] | None = None) -> tuple[int | None, int | None]:
        """isin(a, b) (if want_a) and isin(b, a) (if want_b) from one sort of b ++ a."""
        n, m = self.n_rows(a), self.n_rows(b)
        total = n + m
        keys = self.add("concat", b, a)
        is_b = self.const(np.arange(total) < m, BOOL)
        origin = self.const(np.arange(total), INT)
        keys, is_b, origin = self.radix_sort(self.key_bits(keys, bounds), [keys, is_b, origin])
        same = self.add("eq", self.rows(keys, 1, total), self.rows(keys, 0, total - 1))
        flags = []
        if want_a:  # a's rows: a row of b earlier in the run (b's rows come first in it)
            same_prev = self.add("concat", self.const([False], BOOL), same)
            keep = self.add("and", same_prev, self.add("not", is_b))
            flags.append(self.prefix_carry(keep, is_b))
        if want_b:  # b's rows: a row of a later in the run
            same_next = self.add("concat", same, self.const([False], BOOL))
            keep = self.add("and", same_next, is_b)
            flags.append(self.prefix_carry(keep, self.add("not", is_b), backward=True))
        places, shuffled = self.open_order(origin, flags)
        in_b = self.scatter(shuffled[0], places, n, offset=m) if want_a else None
        in_a = self.scatter(shuffled[-1], places, m) if want_b else None
        return in_b, in_a

    def prefix_carry(self, k: int, c: int, backward: bool = False) -> int:
        """h[p] = (k[p] ∧ h[p−1]) ⊕ c[p] with h[−1] = 0 (from the last row up with p+1 for
        p−1 when `backward`), for k[p] ∧ c[p] never both true: prefix compositions of
        the maps x ↦ (k ∧ x) ⊕ c, doubling the span each round ((k, c) after (k', c') is
        (k ∧ k', (k ∧ c') ⊕ c): both ANDs in one round)."""
        n = self.n_rows(k)
        span = 1
        while span < n:
            # `near` are the rows that combine with the row `span` before them (after
            # them when backward); the first `span` rows (last when backward) stay
            near, far, kept = ((0, n - span), (span, n), (n - span, n)) if backward else \
                ((span, n), (0, n - span), (0, span))
            near_k, near_c = self.rows(k, *near), self.rows(c, *near)
            far_k, far_c = self.rows(k, *far), self.rows(c, *far)
            if span * 2 >= n:  # the last round: k is not needed any more
                from_far = self.add("and", near_k, far_c)
            else:
                both = self.add("and", self.add("concat", near_k, near_k),
                                self.add("concat", far_k, far_c))
                new_k = self.rows(both, 0, n - span)
                parts = (new_k, self.rows(k, *kept)) if backward else (self.rows(k, *kept), new_k)
                k = self.add("concat", *parts)
                from_far = self.rows(both, n - span, 2 * (n - span))
            new_c = self.add("xor", near_c, from_far)
            parts = (new_c, self.rows(c, *kept)) if backward else (self.rows(c, *kept), new_c)
            c = self.add("concat", *parts)
            span *= 2
        return c

    def narrowed(self, keys: int, domain: int) -> tuple[int, int, int] | None:
        """Keys mapped into 0..span+1 by the public domain's range [lo, lo + span]: a key
        k inside it becomes k − lo, every other key span + 1 (they total for nobody).
        Then only bit_length(span + 1) bits need sorting: 9-digit ids take 15 passes
        instead of 32. Inside ⟺ (k − lo) and (lo + span − k), wrapped to 64 bits, are
        both non-negative, which is exact for every 64-bit key as long as span < 2^63:
        two comparisons and a select, about 12 rounds, against 6 rounds a pass saved.
        None when it would save fewer than NARROW_MIN_PASSES passes."""
        base = self.t(keys).base
        known = np.asarray(self.b.value(domain)).view(np.int64)
        lo, hi = int(known.min()), int(known.max())
        span = hi - lo
        width = max(1, (span + 1).bit_length())
        passes = -(-KEY_BITS // DIGIT_BITS) - -(-width // DIGIT_BITS)
        if span + 1 >= 1 << 62 or passes < NARROW_MIN_PASSES:
            return None
        lowest, highest = self.raw_const([lo], base), self.raw_const([hi], base)
        outside = self.add("or", self.add("lt", keys, lowest), self.add("lt", highest, keys))
        # k − lo wraps for keys far below lo, on purpose (the comparisons say outside)
        mapped = self.add("select", outside, self.raw_const([span + 1], base),
                          self.add("sub", keys, lowest, wraps=True))
        return mapped, self.raw_const(known - lo, base), width

    def raw_const(self, raw, base: str) -> int:
        """A constant given by its ring elements (a `fixed` one already scaled)."""
        data = np.asarray(raw, dtype=np.int64).reshape(-1)
        shape = () if np.ndim(raw) == 0 else (len(data),)
        return self.b.add("const", (), {"base": base, "shape": shape,
                                        "data": tuple(int(v) for v in data)})

    def sum_by(self, keys: int, values: int, domain: int) -> int:
        n, d = self.n_rows(keys), self.n_rows(domain)
        total = n + d
        base = self.t(values).base
        narrowed = self.narrowed(keys, domain)
        if narrowed is not None:
            mapped, shifted_domain, width = narrowed
            all_keys = self.add("concat", mapped, shifted_domain)  # 0..span+1: no sign
            bits = self.columns(self.add("to_bits", all_keys), 0, width)
        else:
            all_keys = self.add("concat", keys, domain)
            bits = self.key_bits(all_keys)
        padded = self.add("concat", values, self.const(np.zeros(d), base))
        origin = self.const(np.arange(total), INT)
        all_keys, padded, origin = self.radix_sort(bits, [all_keys, padded, origin])
        running = self.add("cumsum", padded)
        if total > 1:
            differs = self.add("not", self.add("eq", self.rows(all_keys, 0, total - 1),
                                               self.rows(all_keys, 1, total)))
            last = self.add("concat", differs, self.const([True], BOOL))
        else:
            last = self.const([True], BOOL)
        # the last row of every run to the front, in order: a stable partition by ¬last
        dest = self.destinations([self.add("b2a", self.add("not", last))])
        running, origin = self.order(dest, [running, origin])
        before = self.add("concat", self.const(np.zeros(1), base),
                          self.rows(running, 0, total - 1))
        totals = self.add("sub", running, before)
        # each domain row's total (a domain row ends its run) to the domain's order
        places, (totals,) = self.open_order(origin, [totals])
        return self.scatter(totals, places, d, offset=n)

    # ------------------------------------------------------------ the walk

    def node(self, n: Node) -> int:
        args = [self.map[a] for a in n.args]
        self.b.span, self.b.fn = n.span, n.fn
        secret = any(self.t(a).is_secret for a in args)
        if n.op == "shuffle":
            return self.expand_shuffle(args[0], n)
        if n.op == "sort_by" and secret:
            return self.expand_sort(args, n)
        if n.op == "isin" and secret:
            src_a, src_b = n.args
            if (src_a, src_b) in self.matched:
                return self.matched.pop((src_a, src_b))
            swapped = (src_b, src_a) in self.wanted  # isin(b, a) too: both from one match
            in_b, in_a = self.expand_match(args[0], args[1], swapped, n)
            if swapped:
                assert in_a is not None
                self.matched[(src_b, src_a)] = in_a
            assert in_b is not None
            return in_b
        if n.op == "sum_by" and secret:
            return self.expand_sum_by(args, n)
        return self.b.add(n.op, args, dict(n.attrs))

    # How each table operation is built: the semi-honest constructions here; the
    # verified mode (veil.ir.sorting_verified) overrides these four and nothing else.

    def expand_shuffle(self, x: int, n: Node) -> int:
        return self.shuffle([x], n.attr("group"))[0]

    def expand_sort(self, args: list[int], n: Node) -> int:
        return self.sort_by(*args, bounds=self.bounds_of(n.args[0]))

    def expand_match(self, a: int, b: int, want_b: bool, n: Node
                     ) -> tuple[int | None, int | None]:  # fmt: skip
        """isin(a, b) and, if `want_b`, isin(b, a), from one construction."""
        return self.match(a, b, True, want_b, self.bounds_of(*n.args))

    def expand_sum_by(self, args: list[int], n: Node) -> int:
        return self.sum_by(*args)

    def expand(self) -> Circuit:
        self.matched: dict[tuple[int, int], int] = {}
        self.wanted = {n.args for n in self.src.nodes if n.op == "isin"}
        for n in self.src.nodes:
            self.map[n.id] = self.node(n)
            note = n.attr("note")
            if note is not None:
                out = self.b.nodes[self.map[n.id]]
                if out.attr("note") is None:
                    attrs = tuple(sorted((*out.attrs, ("note", note))))
                    self.b.nodes[out.id] = replace(out, attrs=attrs)
        return self.src.with_nodes(self.b.nodes, dict(self.map))


def has_tables(circuit: Circuit) -> bool:
    return any(n.op in ("sort_by", "isin", "sum_by", "shuffle") for n in circuit.nodes)


def run(circuit: Circuit, bounds: Bounds | None = None) -> Circuit:
    """Expand the table operations on secrets of a high-level circuit (keys with known
    `bounds` are sorted on the bits of their range only)."""
    if not has_tables(circuit):
        return circuit
    return _Expander(circuit, bounds).expand()


def key_bounds(circuit: Circuit, intervals: dict) -> Bounds:
    """The bounds of the keys of the table operations, from an interval analysis
    (veil.analysis.ranges: `intervals[node] = Interval(lo, hi, ...)`). Only intervals
    that come from declared ranges count (an input without one may be any 64-bit
    value), and only within the signed 64-bit ring (no wrap-around in between)."""
    out: Bounds = {}
    for n in circuit.nodes:
        if n.op not in ("sort_by", "isin"):
            continue
        for key in (n.args[:1] if n.op == "sort_by" else n.args):
            iv = intervals.get(key)
            if iv is None or iv.unrestricted or not -2.0**63 <= iv.lo <= iv.hi < 2.0**63:
                continue
            out[key] = (int(iv.lo), int(iv.hi))
    return out
