"""The plan of the verified (malicious) mode: which products rest on which checked
multiplication triples, how many triples, and what that costs on the wire.

Every product of a verified circuit (a secret `mul`, a `matmul`, an `and` of bits or of
words) rests on a multiplication triple checked against others, with the sacrifice of
Furukawa, Lindell, Nof and Weinstein (Eurocrypt 2017) and the "cut and bucket"
arrangement of Araki, Barak, Furukawa, Lichter, Lindell, Nof, Ohara, Watzman and
Weinstein (IEEE S&P 2017). A `mul` or `and` is computed from its triple with Beaver's
multiplication (CRYPTO 1991) and needs no check of its own (a Beaver pool); a `matmul`
is computed semi-honestly and checked against its triple after the computation (a
checked pool). A `b2a` uses a daBit made of two Beaver products. The products are
grouped into pools of interchangeable items:

- ring items: one output element of a `mul` or one of a daBit's products (k = 1, a
  Beaver pool), or of a `matmul` (its dot product of length k; a checked pool per k); a
  triple is (a, b ∈ Z^k, c = <a, b>);
- word items: one 64-bit word of an `and` of words, the `and` gates of single bits
  packed 64 to a word; a triple is (a, b, c = a ∧ b) bitwise. A word pool is cut into
  32-, 16- or 8-bit items instead when that needs fewer triples an item (B falls as N
  grows, and every AND gate costs the same bits at any item width): the widest unit
  with the least B is taken, into at most twice as many items unless the pool is small
  (word_unit).

A pool of N items draws M = N·B + C triples, in a preprocessing phase that needs no
input (it runs between the input phase and the computation; Araki et al. 2017: "cut and
bucket"): c is computed by the semi-honest product, then a coin nobody could predict
orders the triples at random: the last C are opened, the others fall into N buckets of
B, and the first triple of each bucket (its head) is checked against the B − 1 others.
In a Beaver pool, item i of the circuit is computed from head i: ρ = x − a and
σ = y − b are opened and z = c + σ·a + ρ·b + ρ·σ is local. In a checked pool, after the
computation a second coin picks a rotation s, uniform in [0, N), and item i is checked
against head (i + s) mod N (a rotation copies the heads in two sequential blocks,
where a random permutation would gather every row at random). Checking item (x, y, z)
with triple (a, b, c) opens ρ = x − a and σ = y − b and tests that
w = z − c − <σ, a> − <ρ, b> − <ρ, σ> is zero: w is the item's error minus the
triple's error, with no product by a random scalar, so the test is exact in Z_2^64 (no
zero-divisor problem) and over bits alike. A head is checked the same way, as the
item, against each other triple of its bucket. An opened triple is checked against the
item (0, 0, 0): ρ = −a and σ = −b open a and b, and w = <a, b> − c is tested for zero
(its c is never opened, which saves its element). The online phase so sends, per item,
the 2k elements of ρ and σ (and, in a checked pool, the product's reshare); the
B·(2k + 1) − 2k other elements an item costs are sent in the preprocessing.

A matrix product X·W (n×k times k×m) with n or m above R = FREIVALDS_REPS is not
checked result by result: after the coin, R random 0/1 combinations of its rows (and of
its columns when m > R) are checked instead, as the items (θ_r·X, W·φ_s, θ_r·Z·φ_s) of
its pool (Freivalds 1977: a nonzero error matrix E has θ·E ≠ 0 for a uniform 0/1 row θ
with probability at least 1/2, over any ring). Errors in the results enter the
combinations linearly, so a wrong product is missed only if all R combinations of a
reduced side cancel it (probability ≤ 2^-R each side), or by the pool's bound below.

Soundness: a cheating server fixes which triples carry errors before the first coin.
A head passes its bucket check only if every triple of its bucket has its error, and an
opened bad triple is caught, so bad triples survive only if they fill exactly g whole
buckets, none opened: probability binom(N, g)/binom(M, B·g). In a Beaver pool any
surviving bad head makes a wrong product, so the bound is the largest of these,
N/binom(M, B) at g = 1 (log-convex in g, by the argument below times N/g): N times the
checked pools' bound, about one more triple an item (Araki et al.'s bound). In a
checked pool the server also fixes which items carry errors before the second coin.
An item with error e passes only if its head
has error e, and a head passes only if every triple of its bucket has its error; a
wrong head assigned to a correct item fails that item's check. So the server passes
only if its bad triples fill exactly g whole buckets, none opened (probability
binom(N, g)/binom(M, B·g)), and the rotation maps its g bad items onto exactly those
buckets: at most g of the N rotations do (one for each bucket its first bad item can
land on). The bound T(g) = binom(N, g)·(g/N)/binom(M, B·g) is log-convex in g when
B ≥ 2 and C ≤ B: T(g+2)·T(g)/T(g+1)² ≥ (1 − x)(1 + x)^B·(1 − y)(1 + y)^B ≥ 1 with
x = 1/(g + 1) ≤ 1/2 and y = 1/(N − g) ≤ 1/2. Its largest value is so at an end:
T(1) = 1/binom(M, B) or T(N) = 1/binom(M, C), the same bound as checking each item
against B triples drawn at random after the computation (which is how the first
version of this mode worked). B is never below 2 (bucket_size): with B = 1 no triple
would be checked before it meets its item, and T(N/2) would be about 1/4.
With C = B that is 1/binom((N + 1)·B, B). The pools' bounds add up (a union bound):
each pool's B is the least that meets 2^-40 alone, raised where needed until the sum
is ≤ 2^-40 (allot_buckets), so the whole run is caught except with probability
≤ 2^-40; the Freivalds reductions' ≤ 2^-R each come out of the same budget (R = 48
keeps them below 2^-45 for up to 8 reduced sides, and grows beyond).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

from veil.ir.nodes import Circuit, Node
from veil.types import BOOL, WORD

SECURITY_BITS = 40
RING, WORDS = "ring", "word"
DIGEST_BYTES = 32
CHECK_DIGESTS = 3  # the last round's digests: openings, input shares, zero tests
COIN_ELEMENTS = 2  # a 128-bit coin, as two ring elements
VERIFY_ROUNDS = 3  # coin and output reshare; openings (when there are products); digests
PREPROCESS_ROUND_BASE = 1 << 30  # preprocessing rounds are numbered from here on the wire
FREIVALDS_REPS = 48  # random row (column) combinations checked for a reduced matrix product
DABIT_PRODUCTS = 2  # r0 ⊕ r1 ⊕ r2 in the ring: (r0 ⊕ r1) = r0 + r1 − 2·r0·r1, then with r2


def bucket_size(items: int, target_bits: float, beaver: bool = False) -> int:
    """The least B ≥ 2 with binom((items + 1)·B, B) ≥ 2^target_bits, or ≥
    items·2^target_bits for a pool whose triples are used by Beaver's multiplication
    (failure_log2). Buckets of two or more: the rotation that assigns checked triples
    to items needs them, and with B = 1 no triple would be checked at all."""
    b = 2
    while failure_log2(items, b, b, beaver) > -target_bits:
        b += 1
    return b


def allot_buckets(pools: list[tuple[int, int]], budget: float = 2.0**-SECURITY_BITS,
                  per_triple: list[float] | None = None,
                  beaver: list[bool] | None = None) -> list[int]:  # fmt: skip
    """B for each pool of (items, k) such that the pools' failure probabilities sum to at
    most `budget` (2^-SECURITY_BITS, less when other checks share it), sending as few
    elements as possible: each pool starts at the least B that meets 2^-40 alone; if the
    sum is above the budget, every way of adding up to 3 more triples an item to each of
    up to 6 pools is tried and the cheapest that fits is taken (an item's triple costs
    2k + 1 elements: its c and the opened ρ, σ); with more pools, the pool where one
    more triple buys the most probability per element gets it, until the sum fits. An
    equal split of the budget (2^-40 / pools each) would often need B + 1 for the
    largest pool for nothing. `per_triple`: elements a triple costs, where not 2k + 1
    (a word pool of narrower items); `beaver`: which pools' triples are used by Beaver's
    multiplication (their bound is N times larger, failure_log2)."""
    adaptive = beaver or [False] * len(pools)
    slots = [bucket_size(n, SECURITY_BITS, a) for (n, _), a in zip(pools, adaptive, strict=True)]
    weights = per_triple or [2 * k + 1 for _, k in pools]
    cost = [n * w for (n, _), w in zip(pools, weights, strict=True)]

    @functools.cache
    def failure(i: int, b: int) -> float:
        return 2.0 ** failure_log2(pools[i][0], b, b, adaptive[i])

    if sum(failure(i, b) for i, b in enumerate(slots)) <= budget:
        return slots
    if len(pools) <= 6:
        best: tuple[int, tuple[int, ...]] | None = None
        for extra in itertools.product(range(4), repeat=len(pools)):
            trial = [b + e for b, e in zip(slots, extra, strict=True)]
            if sum(failure(i, b) for i, b in enumerate(trial)) <= budget:
                spent = sum(c * e for c, e in zip(cost, extra, strict=True))
                if best is None or spent < best[0]:
                    best = (spent, tuple(trial))
        if best is not None:
            return list(best[1])
    while sum(failure(i, b) for i, b in enumerate(slots)) > budget:
        gain = [(failure(i, b) - failure(i, b + 1)) / cost[i] for i, b in enumerate(slots)]
        best_pool = max(range(len(slots)), key=gain.__getitem__)
        slots[best_pool] += 1
    return slots


def failure_log2(items: int, slots: int, opened: int, beaver: bool = False) -> float:
    """log2 of the bound on a cheating server's chance of passing a pool's checks:
    1/min(binom(M, B), binom(M, C)), or max(N/binom(M, B), 1/binom(M, C)) when the
    pool's triples are used by Beaver's multiplication (module docstring)."""
    total = items * slots + opened
    bucket = math.log2(math.comb(total, slots)) - (math.log2(items) if beaver else 0.0)
    return -min(bucket, math.log2(math.comb(total, opened)))


@dataclass(frozen=True)
class Pool:
    """One kind of checked product: N items, B triples per item, C triples opened."""

    kind: str  # RING or WORDS
    k: int  # the length of each item's dot product (1 for elementwise products)
    items: int
    slots: int
    opened: int
    unit: int = 64  # bits of a word pool's item (64, 32, 16 or 8)
    beaver: bool = False  # its triples compute the products (Beaver), no item checks

    @property
    def triples(self) -> int:
        return self.items * self.slots + self.opened

    def words_of(self, items: int) -> int:
        """64-bit words (ring elements) that hold this many of the pool's items."""
        return -(-items * self.unit // 64)

    @property
    def triple_words(self) -> int:
        """Ring elements (or 64-bit words) each server sends for the triples' c."""
        return self.words_of(self.triples)

    @property
    def preprocess_checks(self) -> int:
        """Triples checked in the preprocessing: every one but the N heads (each other
        bucket member against its head, and the C opened)."""
        return self.triples - self.items

    @property
    def preprocess_opened_units(self) -> int:
        """Ring elements (or 64-bit words) each server sends to open the preprocessing's
        values: ρ and σ of every bucket check (an opened triple's are −a and −b)."""
        return self.words_of(self.preprocess_checks * 2 * self.k)


    @property
    def online_opened_units(self) -> int:
        """Ring elements (or 64-bit words) each server sends after the computation to
        open ρ and σ of every item's check against its head (none for Beaver pools:
        their ρ and σ are opened by the products themselves)."""
        return 0 if self.beaver else self.words_of(self.items * 2 * self.k)

    @property
    def failure_log2(self) -> float:
        return failure_log2(self.items, self.slots, self.opened, self.beaver)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "k": self.k, "items": self.items, "unit_bits": self.unit,
                "beaver": self.beaver,
                "triples_per_item": self.slots, "opened": self.opened,
                "triples": self.triples, "failure_log2": round(self.failure_log2, 1)}


@dataclass(frozen=True)
class Gate:
    """Where a checked product's items sit in their pool."""

    node: int
    pool: int
    offset: int  # first item of this gate in the pool (for bits: first bit of the packing)
    items: int
    # a matrix product checked by R combinations: (n, m, rows reduced, columns reduced)
    freivalds: tuple[int, int, bool, bool] | None = None


@dataclass(frozen=True)
class Plan:
    pools: tuple[Pool, ...]
    gates: tuple[Gate, ...]  # in the order the circuit computes them
    word_items_of_words: int  # word pool: the words of `and` on words come first,
    bool_bits: int  # then the bits of `and` on bools, packed 64 to a word
    freivalds_reps: int = FREIVALDS_REPS
    dabits: int = 0  # random bits shared both ways, made in the preprocessing
    dabit_nodes: tuple[tuple[int, int], ...] = ()  # (b2a node, its first daBit)
    dabit_base: int = 0  # where the daBits' products start in the ring Beaver pool

    @property
    def dabit_pool(self) -> int:
        """The index of the pool whose triples make the daBits' ring values."""
        return self.pool_index(RING, 1, True)

    @property
    def reduced_sides(self) -> int:
        """Row and column reductions of matrix products (each fails with ≤ 2^-R)."""
        return reduced_sides(g.freivalds for g in self.gates)

    @property
    def failure_log2(self) -> float:
        """log2 of the bound on the chance that a cheating server passes all checks."""
        if not self.pools:
            return -math.inf
        return math.log2(sum(2.0 ** p.failure_log2 for p in self.pools)
                         + self.reduced_sides * 2.0 ** -self.freivalds_reps)

    @property
    def checked_pools(self) -> bool:
        """Whether any pool's items are checked after the computation (matrix products:
        the others are Beaver pools, whose products need no check of their own)."""
        return any(not p.beaver for p in self.pools)

    def pool_index(self, kind: str, k: int, beaver: bool | None = None) -> int:
        for i, p in enumerate(self.pools):
            if p.kind == kind and p.k == k and (beaver is None or p.beaver == beaver):
                return i
        raise KeyError((kind, k))


def gate_kind(node: Node, circuit: Circuit) -> tuple[str, int, bool] | None:
    """(pool kind, k, Beaver) of a checked product, None for any other node. `mul` and
    `and` are computed with Beaver's multiplication from checked triples; a `matmul`
    by the semi-honest product, checked after the computation (opening both operands
    of a matrix product would cost n·k + k·m elements instead of n·m)."""
    if node.op == "and":
        return (WORDS, 1, is_beaver(node)) if node.type.base in (WORD, BOOL) else None
    if node.op == "mul":
        return RING, 1, is_beaver(node)
    if node.op == "matmul":
        return RING, circuit.node(node.args[0]).type.shape[-1], is_beaver(node)
    return None


def is_beaver(node: Node) -> bool:
    """Whether a checked product of a verified circuit uses Beaver's multiplication."""
    return node.op in ("mul", "and")


WORD_UNITS = (64, 32, 16, 8)


SMALL_POOL_ITEMS = 1 << 16  # up to this many items, a pool's checking time is negligible


def word_unit(words: int) -> int:
    """The item width for a word pool of `words` 64-bit words: the widest whose bucket
    size is the least of the widths allowed (narrower items are more items, so B falls;
    an AND gate's triples cost the same bits at any width, and every item costs about
    the same time to check, so a large pool is cut into at most twice as many items)."""
    allowed = [u for u in WORD_UNITS
               if words * (64 // u) <= max(2 * words, SMALL_POOL_ITEMS)]
    sizes = {u: bucket_size(words * (64 // u), SECURITY_BITS, True) for u in allowed}
    least = min(sizes.values())
    return next(u for u in allowed if sizes[u] == least)


def matmul_dims(node: Node, circuit: Circuit) -> tuple[int, int, int]:
    """(n, k, m) of a matrix product: its operands as n×k and k×m matrices."""
    x, y = (circuit.node(a).type for a in node.args)
    k = x.shape[-1]
    return x.size // k, k, y.size // k


def reduction(node: Node, circuit: Circuit, reps: int) -> tuple[int, int, bool, bool] | None:
    """(n, m, rows reduced, columns reduced) of a matrix product checked by R = reps
    random combinations of its rows (n > R) or columns (m > R); None for any other."""
    if node.op != "matmul":
        return None
    n, _, m = matmul_dims(node, circuit)
    return (n, m, n > reps, m > reps) if n > reps or m > reps else None


def reduced_sides(reductions) -> int:
    """How many row and column reductions these (`reduction`s or None) make."""
    return sum(int(r[2]) + int(r[3]) for r in reductions if r is not None)


def freivalds_reps(circuit: Circuit, rounds: list[list[int]]) -> int:
    """R: 48, or more when over 8 sides of matrix products are reduced, so that all
    reductions together fail with probability ≤ 2^-45 (the pools keep nearly all of
    the 2^-40)."""
    reps = FREIVALDS_REPS
    nodes = [circuit.node(node_id) for ids in rounds for node_id in ids]
    while True:
        sides = reduced_sides(reduction(node, circuit, reps) for node in nodes)
        need = 45 + math.ceil(math.log2(sides)) if sides else reps
        if need <= reps:
            return reps
        reps = need


def plan(circuit: Circuit, rounds: list[list[int]]) -> Plan:
    """The pools and gates of a verified circuit whose interactive nodes are `rounds`
    (node ids per round, in the order the executor computes them)."""
    counts: dict[tuple[str, int, bool], int] = {}
    gates: list[tuple[int, tuple[str, int, bool], int]] = []
    bool_bits = 0
    words = 0
    reps = freivalds_reps(circuit, rounds)
    reduced: dict[int, tuple[int, int, bool, bool]] = {}
    sizes: dict[int, int] = {}
    dabit_nodes: list[tuple[int, int]] = []
    dabits = 0
    for ids in rounds:
        for node_id in ids:
            node = circuit.node(node_id)
            if node.op == "b2a":  # a secret bit to the ring with a daBit
                dabit_nodes.append((node_id, dabits))
                dabits += node.type.size
                continue
            kind = gate_kind(node, circuit)
            if kind is None:
                raise ValueError(f"{node.op} is not a checked product")
            if node.op == "and" and node.type.base == BOOL:
                gates.append((node_id, kind, -1 - bool_bits))  # placed after the words
                bool_bits += node.type.size
                continue
            if kind[0] == WORDS:
                gates.append((node_id, kind, words))
                words += node.type.size
                continue
            size = node.type.size
            combined = reduction(node, circuit, reps)
            if combined is not None:
                reduced[node_id] = combined
                size = min(combined[0], reps) * min(combined[1], reps)
            sizes[node_id] = size
            gates.append((node_id, kind, counts.get(kind, 0)))
            counts[kind] = counts.get(kind, 0) + size
    ring = (RING, 1, True)
    dabit_base = counts.get(ring, 0)
    if dabits:  # each daBit's ring value takes two Beaver products (DABIT_PRODUCTS)
        counts[ring] = dabit_base + DABIT_PRODUCTS * dabits
    unit = 64
    if words or bool_bits:
        total_words = words + (bool_bits + 63) // 64
        unit = word_unit(total_words)
        counts[(WORDS, 1, True)] = total_words * (64 // unit)
    keys = sorted(counts)
    slots = allot_buckets([(counts[key], key[1] if key[0] == RING else 1) for key in keys],
                          2.0**-SECURITY_BITS - reduced_sides(reduced.values()) * 2.0**-reps,
                          [2 * key[1] + 1 if key[0] == RING else 3 * unit / 64 for key in keys],
                          [key[2] for key in keys])
    pools = [Pool(kind, k, counts[key], b, b, unit if kind == WORDS else 64, beaver)
             for key, b in zip(keys, slots, strict=True) for kind, k, beaver in [key]]
    index = {key: i for i, key in enumerate(keys)}
    placed = []
    for node_id, kind, offset in gates:
        size = circuit.node(node_id).type.size
        if offset < 0:  # bits of a bool AND: offset in bits after the words
            placed.append(Gate(node_id, index[kind], words * 64 + (-1 - offset), size))
        else:
            placed.append(Gate(node_id, index[kind], offset, sizes.get(node_id, size),
                               reduced.get(node_id)))
    return Plan(tuple(pools), tuple(placed), words, bool_bits, reps, dabits,
                tuple(dabit_nodes), dabit_base)
