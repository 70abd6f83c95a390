"""Protocol-level lowering for three-server replicated sharing (rep3).

Every high-level operation on secrets becomes the primitives the protocol runs, so the
optimizer and the cost model see each multiplication and each AND:

- ring (int/fixed): add, sub, neg, products with a public operand and data movement are
  local; `mul`/`matmul` of two secrets and `trunc` of a secret take one round each;
- booleans: `xor`, `not` and shifts are local; `and` of two secrets takes one round,
  on single bits (`bool`) or on 64-bit words (`word`, one per ring element);
- a2b (ring → word) splits x = x0 + x1 + x2 into three trivially shared words
  (`a2b_comp`), adds them with a carry-save step and a Kogge–Stone parallel prefix
  adder (Kogge & Stone 1973; as used for A2B in ABY3, Mohassel & Rindal, CCS 2018,
  §5.3): 8 AND rounds;
- b2a of a bit b = b0 ⊕ b1 ⊕ b2 uses the arithmetic identity x ⊕ y = x + y − 2xy on
  the trivially shared components (`b2a_comp`): 2 multiplication rounds;
- x < y is the sign bit of x − y and x == y tests x − y = 0, without decomposing
  x − y: semi-honest, one server inputs the bits of the sum of two of its components
  (`a2b_pair`) and a two-operand carry tree (`lt`) or an AND tree (`eq`) finishes; in
  the verified mode from all three components, every step an AND (`lt_checked`,
  `eq_checked`); select(c, a, b) = b + b2a(c)·(a − b), and on bools b ⊕ (c ∧ (a ⊕ b)).

In the clear, component 0 of a value is the value and the others are zero (see
veil.ir.semantics), so the lowered circuit computes the same results as the original on
the plain backend: the lowering is tested differentially that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from veil.ir import bitops
from veil.ir.lower import Builder
from veil.ir.nodes import Circuit, Node
from veil.types import BOOL, INT, WORD, VType

NAME = "rep3-lower"
SUMMARY = "lower comparisons, selects and conversions to rep3 protocol primitives"

KOGGE_STONE_SHIFTS = (1, 2, 4, 8, 16, 32)


MAX_VERIFIED_SHIFT = 61
"""The verified truncation reads bits 0..d-1 and 62, 63 of the share components."""


def _signed(value: int) -> int:
    """A ring element (mod 2^64) as the int64 a constant stores."""
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


class _Rep3Lowerer:
    def __init__(self, circuit: Circuit, security: str = "semi-honest"):
        self.src = circuit
        self.security = security
        self.b = Builder(circuit.frac_bits)
        self.map: dict[int, int] = {}
        self.comparing: str | None = None

    def t(self, node_id: int) -> VType:
        return self.b.type(node_id)

    def add(self, op: str, *args: int, **attrs) -> int:
        if op == "and" and self.comparing is not None:
            attrs["of"] = self.comparing  # the report counts a comparison's gates and bytes
        return self.b.add(op, args, attrs)

    # ------------------------------------------------------------ building blocks

    def a2b(self, x: int) -> int:
        """The bits of a secret ring value as a boolean-shared word (ripple-free adder)."""
        c0, c1, c2 = (self.add("a2b_comp", x, component=j) for j in range(3))
        # carry-save: c0 + c1 + c2 = s + 2·maj(c0, c1, c2)
        t = self.add("xor", c0, c1)
        s = self.add("xor", t, c2)
        maj = self.add("xor", self.add("and", t, self.add("xor", c0, c2)), c0)
        return self.add_words(s, self.add("shl", maj, bits=1))

    def add_words(self, a: int, b: int) -> int:
        """a + b mod 2^64 on boolean-shared words: Kogge–Stone, 1 + 6 AND rounds."""
        g = self.add("and", a, b)
        p = self.add("xor", a, b)
        big_g, big_p = g, p
        for k in KOGGE_STONE_SHIFTS:
            # group generate and propagate are never both 1, so OR is XOR here
            big_g = self.add("xor", big_g, self.add("and", big_p, self.add("shl", big_g, bits=k)))
            if k != KOGGE_STONE_SHIFTS[-1]:
                big_p = self.add("and", big_p, self.add("shl", big_p, bits=k))
        return self.add("xor", p, self.add("shl", big_g, bits=1))

    def b2a(self, bit: int) -> int:
        """A secret bit as a ring value 0/1: fold x ⊕ y = x + y − 2xy over the components
        (two rounds of products). The verified mode keeps `b2a`: it opens the bit XOR a
        daBit made in the preprocessing (one round, one bit; veil.backend.rep3_verify)."""
        if self.security == "malicious":
            return self.add("b2a", bit)
        c0, c1, c2 = (self.add("b2a_comp", bit, component=j) for j in range(3))
        two = self.b.const(2, INT)
        t = self.add("sub", self.add("add", c0, c1), self.add("mul", two, self.add("mul", c0, c1)))
        return self.add("sub", self.add("add", t, c2), self.add("mul", two, self.add("mul", t, c2)))

    # ------------------------------------------------------------ comparisons

    def sliced_components(self, d: int, negate_last: bool = False) -> tuple[list[int], int]:
        """The three components of a secret ring value as bit-sliced boolean sharings:
        rows 0..63 = bits 0..63 of every element, packed 64 elements to a word when there
        are enough of them (veil.ir.bitops.packed_layout). Returns them and n."""
        n = self.t(d).size
        packed = bitops.packed_layout(n)
        parts = []
        for j in range(3):
            source = self.add("neg", d) if (negate_last and j == 2) else d
            word = self.add("a2b_comp", source, component=j)
            parts.append(self.add("bitslice", word, packed=packed))
        return parts, n

    def rows(self, x: int, lo: int, hi: int) -> int:
        return self.add("slice", x, spec=(("r", lo, hi),))

    def unpacked(self, row: int, n: int) -> int:
        """A [1, n] result row (packed or not) as bool [1, n]."""
        return self.add("unpack", row, n=n) if self.t(row).base == WORD else row

    def from_rows(self, row: int, n: int, shape: tuple[int, ...], kind: str) -> int:
        """A [1, n] result row (packed or not) back to a bool array of `shape`."""
        return self.add("reshape", self.unpacked(row, n), shape=shape, of=kind)

    def carry_tree(self, g: int, p: int) -> int:
        """The carry out of a run of positions: g holds each position's generate bit and p
        the propagate bits of all positions but the lowest (the lowest one's is never
        needed). Adjacent groups combine as (G, P) = (G_hi ⊕ P_hi·G_lo, P_hi·P_lo), the
        ANDs of a level in one round: ⌈log2 m⌉ rounds, 2m − 2 − ⌈log2 m⌉ AND gates for m
        positions (Brent & Kung 1982, the reduction half of their adder, which computes
        only the last carry)."""
        m = self.t(g).shape[0]
        while m > 1:
            h = m // 2
            # groups 2j and 2j+1 combine; tensor row k of p is group k + 1
            grid_g = self.add("reshape", self.rows(g, 0, 2 * h), shape=(h, 2, *self.t(g).shape[1:]))
            g_lo = self.add("slice", grid_g, spec=(("r", 0, h), ("i", 0)))
            g_hi = self.add("slice", grid_g, spec=(("r", 0, h), ("i", 1)))
            if h > 1:
                grid_p = self.add("reshape", self.rows(p, 0, 2 * h - 2),
                                  shape=(h - 1, 2, *self.t(p).shape[1:]))
                p_hi = self.add("slice", grid_p, spec=(("r", 0, h - 1), ("i", 0)))
                p_lo = self.add("slice", grid_p, spec=(("r", 0, h - 1), ("i", 1)))
                p_top = self.rows(p, 2 * h - 2, 2 * h - 1)  # P_hi of the last pair
                # the ANDs take rows in place (strided views), the results are joined:
                # joining the ANDs' operands instead copied 2.5 times as many rows
                gen = [self.add("and", p_hi, self.rows(g_lo, 0, h - 1)),
                       self.add("and", p_top, self.rows(g_lo, h - 1, h))]
                prop = [self.add("and", self.rows(p_hi, 1, h - 1), self.rows(p_lo, 0, h - 2)),
                        self.add("and", p_top, self.rows(p_lo, h - 2, h - 1))] if h > 2 \
                    else [self.add("and", p_top, p_lo)]
                g_parts = [self.add("xor", self.rows(g_hi, 0, h - 1), gen[0]),
                           self.add("xor", self.rows(g_hi, h - 1, h), gen[1])]
                p_parts = prop
            else:
                g_parts = [self.add("xor", g_hi, self.add("and", self.rows(p, 0, 1), g_lo))]
                p_parts = []
            if m % 2:  # the top group has no partner at this level: carry it up
                g_parts.append(self.rows(g, m - 1, m))
                p_parts.append(self.rows(p, m - 2, m - 1))
            new_g = g_parts[0] if len(g_parts) == 1 else self.add("concat", *g_parts)
            new_p = None if not p_parts else \
                p_parts[0] if len(p_parts) == 1 else self.add("concat", *p_parts)
            g, m = new_g, h + m % 2
            if new_p is not None:
                p = new_p
        return g

    def lt(self, x: int, y: int) -> int:
        """x < y as the sign bit of d = x − y, computed without decomposing d.

        Semi-honest: server g inputs the bits of v = c_g + c_{g+1} as a boolean sharing
        (`a2b_pair`, one message; each server a third of the elements, `thirds`) and
        c_{g+2} is a trivially shared word c, so d = v + c and its sign bit is
        v63 ⊕ c63 ⊕ (the carry into bit 63): the reduction tree of the
        generate/propagate bits of positions 0..62 (MSB extraction as in ABY3, Mohassel
        & Rindal, CCS 2018, §5.3, with only the carry-out of a Brent–Kung reduction).
        AND gates: 63 (generate) + 118 (tree) = 181 a comparison, in 1 + 1 + 6 = 8
        rounds. The verified mode cannot trust server g's input, so there every step is
        an AND: `lt_checked`."""
        if self.security != "semi-honest":
            return self.lt_checked(x, y)

        def sign(v: int, c: int) -> int:
            g = self.add("and", self.rows(v, 0, 63), self.rows(c, 0, 63))
            p = self.add("xor", self.rows(v, 1, 63), self.rows(c, 1, 63))
            carry = self.carry_tree(g, p)
            return self.add("xor", self.add("xor", self.rows(v, 63, 64), self.rows(c, 63, 64)),
                            carry)

        return self.by_thirds(x, y, "lt", sign)

    def by_thirds(self, x: int, y: int, kind: str, finish: Callable[[int, int], int],
                  negate_last: bool = False) -> int:  # fmt: skip
        """A semi-honest comparison of x and y: for each third of d = x − y (`thirds`),
        `finish(v, c)` of its `pair_and_last` gives the [1, n] result row."""
        d = self.add("sub", x, y)
        rows = []
        for server, part in self.thirds(d):
            v, c, n = self.pair_and_last(part, server, negate_last)
            rows.append((finish(v, c), n))
        return self.joined(rows, self.t(d).shape, kind)

    PAIR_SPLIT_FROM = 3 * bitops.WORD_BITS
    """Elements from which `a2b_pair` is split in thirds, one per server (fewer than a
    word each: all on server 0, whose extra 64 bits an element are at most 1.5 KB)."""

    def thirds(self, d: int) -> list[tuple[int, int]]:
        """(server, flat part of d): a third of the elements for each server to input
        with `a2b_pair`, so each sends as much (thirds end on whole 64-element words: the
        parts differ by one word at most)."""
        n = self.t(d).size
        flat = self.add("reshape", d, shape=(n,)) if len(self.t(d).shape) != 1 else d
        if n < self.PAIR_SPLIT_FROM:
            return [(0, flat)]
        words = bitops.words_for(n)
        bounds = [0, *(k * words // 3 * bitops.WORD_BITS for k in (1, 2)), n]
        return [(g, self.add("slice", flat, spec=(("r", bounds[g], bounds[g + 1]),)))
                for g in range(3)]

    def joined(self, rows: list[tuple[int, int]], shape: tuple[int, ...], kind: str) -> int:
        """[1, n] result rows (packed or not) of consecutive parts → one bool array of
        `shape`, tagged as the result of a comparison of this kind."""
        if len(rows) == 1:
            return self.from_rows(*rows[0], shape, kind)
        parts = [self.add("reshape", self.unpacked(row, n), shape=(n,)) for row, n in rows]
        return self.add("reshape", self.add("concat", *parts), shape=shape, of=kind)

    def pair_and_last(self, d: int, server: int = 0, negate_last: bool = False
                      ) -> tuple[int, int, int]:  # fmt: skip
        """The bits of c_g + c_{g+1} (boolean shared by `a2b_pair` on server g) and of
        c_{g+2} (or −c_{g+2}, a trivially shared word) of a secret d, bit-sliced as
        `sliced_components`."""
        n = self.t(d).size
        packed = bitops.packed_layout(n)
        # untagged (the report finds its comparisons): `x < y` and `x == y` share it
        pair = self.b.add("a2b_pair", (d,), {"packed": packed, "server": server})
        last = self.add("neg", d) if negate_last else d
        word = self.add("a2b_comp", last, component=(server + 2) % 3)
        return pair, self.add("bitslice", word, packed=packed), n

    def lt_checked(self, x: int, y: int) -> int:
        """x < y from all three components as boolean words, every step an AND (the
        verified mode's comparison).

        With d = c0 + c1 + c2 (the components, each known to two servers as a trivially
        shared word), a carry-save step gives d = s + 2·maj(c0, c1, c2) bitwise; the sign
        bit of d is s63 ⊕ maj62 ⊕ (the carry into bit 63 of s + (maj << 1)), and that
        carry is the reduction tree of the generate/propagate bits of positions 1..62
        (MSB extraction as in ABY3, Mohassel & Rindal, CCS 2018, §5.3, with only the
        carry-out of a Brent–Kung reduction instead of a whole parallel prefix adder).
        AND gates: 63 (majority) + 62 (generate) + 116 (tree) = 241 a comparison, in
        1 + 1 + 6 = 8 rounds; the bits are sliced so 64 comparisons share each word."""
        d = self.add("sub", x, y)
        (c0, c1, c2), n = self.sliced_components(d)
        a, b = self.add("xor", c0, c2), self.add("xor", c1, c2)
        s = self.add("xor", self.add("xor", a, b), c2)
        maj = self.add("xor", self.add("and", self.rows(a, 0, 63), self.rows(b, 0, 63)),
                       self.rows(c2, 0, 63))
        g = self.add("and", self.rows(s, 1, 63), self.rows(maj, 0, 62))
        p = self.add("xor", self.rows(s, 2, 63), self.rows(maj, 1, 62))
        carry = self.carry_tree(g, p)
        sign = self.add("xor", self.add("xor", self.rows(s, 63, 64), self.rows(maj, 62, 63)),
                        carry)
        return self.from_rows(sign, n, self.t(d).shape, "lt")

    def eq(self, x: int, y: int) -> int:
        """x == y as d = x − y = 0: semi-honest, d = 0 exactly when the bits of
        c_g + c_{g+1} (boolean shared by `a2b_pair`) equal those of −c_{g+2} (a trivially
        shared word), an AND tree over the 64 bits of their XNOR: 63 AND gates in 1 + 6 = 7
        rounds. The verified mode: `eq_checked`."""
        if self.security != "semi-honest":
            return self.eq_checked(x, y)
        return self.by_thirds(x, y, "eq", lambda v, t: self.all_rows(
            self.add("not", self.add("xor", v, t))), negate_last=True)

    def all_rows(self, rows: int) -> int:
        """The AND of the 64 rows of a [64, …] boolean sharing: 63 gates, 6 rounds."""
        m = 64
        while m > 1:
            rows = self.add("and", self.rows(rows, 0, m // 2), self.rows(rows, m // 2, m))
            m //= 2
        return rows

    def eq_checked(self, x: int, y: int) -> int:
        """x == y as d = x − y = 0, without decomposing d: with a = c0, b = c1 and
        t = −c2, d = 0 exactly when a + b = t (mod 2^64). If it is, the carry into each
        bit i is c_i = a_i ⊕ b_i ⊕ t_i, so the test is c_0 = 0 and
        c_(i+1) = maj(a_i, b_i, c_i) = ((b_i ⊕ t_i)·(a_i ⊕ t_i)) ⊕ c_i for every i: one
        AND a bit, then an AND-reduction of the 64 equalities. AND gates: 63 + 63 = 126
        a comparison, in 1 + 6 = 7 rounds."""
        d = self.add("sub", x, y)
        (a, b, t), n = self.sliced_components(d, negate_last=True)
        c = self.add("xor", self.add("xor", a, b), t)
        maj = self.add("xor", self.add("and", self.rows(self.add("xor", b, t), 0, 63),
                                       self.rows(self.add("xor", a, t), 0, 63)),
                       self.rows(c, 0, 63))
        wrong = self.add("concat", self.rows(c, 0, 1),
                         self.add("xor", self.rows(c, 1, 64), maj))
        same = self.add("not", wrong)  # 64 rows, all ones exactly when x == y
        return self.from_rows(self.all_rows(same), n, self.t(d).shape, "eq")

    # ------------------------------------------------------------ verified truncation

    def trunc_verified(self, x: int, n: Node) -> int:
        """⌊x / 2^d⌋ exactly, for |x| < 2^62, from products and AND gates only, so that
        the verified mode checks every message of it (the one-round truncation of the
        semi-honest mode is an oblivious transfer, which the product checks do not cover).

        With x' = x + 2^62 (in [0, 2^63)) and its share components x'_j = H_j·2^d + L_j:
        x' + w·2^64 = Σ_j x'_j for a wrap count w in {0, 1, 2}, and
        ⌊x'/2^d⌋ = Σ_j H_j + κ − w·2^(64−d), where κ = ⌊(L_0 + L_1 + L_2)/2^d⌋ is the
        carry out of the low bits. Σ_j H_j is local (each server shifts its own
        components). With the carry-save split of the components, s = x'_0 ⊕ x'_1 ⊕ x'_2
        and m = maj(x'_0, x'_1, x'_2): κ = m_(d−1) + carry-out of s + (m << 1) on d bits
        (a Brent–Kung reduction, as in `lt`), and since bit 63 of x' is 0,
        w = m_63 + (s_63 ∨ m_62) (the carry out of bit 63 is the majority of s_63, m_62
        and the carry into bit 63, whose XOR is 0). The four bits go to the ring with
        `b2a`. Rounds for d = 16: 1 (majority) + 1 (generate) + 4 (tree) + 2 (b2a) = 8;
        AND gates a value: d + 2 + (d − 1) + 1 + the tree's; 8 ring products."""
        bits = n.attr("bits")
        base = n.type.base
        self.comparing = "trunc"
        try:
            if isinstance(bits, int):
                out = self.trunc_exact(x, bits)
            else:  # one shift per element: each distinct shift on all, then pick
                shifts = np.asarray(bits, dtype=np.int64).reshape(self.t(x).shape)
                out = None
                for d in sorted({int(v) for v in shifts.reshape(-1)}):
                    mask = self.b.const((shifts == d).astype(np.int64), INT)
                    part = self.add("mul", self.trunc_exact(x, d), mask)
                    out = part if out is None else self.add("add", out, part)
                assert out is not None
        finally:
            self.comparing = None
        return out if base == INT else self.add("cast", out, base=base)

    def trunc_exact(self, x: int, d: int) -> int:
        if not 1 <= d <= MAX_VERIFIED_SHIFT:
            raise ValueError(f"verified truncation by {d} bits (1..{MAX_VERIFIED_SHIFT})")
        shape = self.t(x).shape
        if self.t(x).base != INT:
            x = self.add("cast", x, base=INT)
        xp = self.add("add", x, self.b.const(np.int64(1 << 62), INT))
        high = self.add("comp_shr", xp, bits=d)
        (c0, c1, c2), count = self.sliced_components(xp)
        a, b = self.add("xor", c0, c2), self.add("xor", c1, c2)
        s = self.add("xor", self.add("xor", a, b), c2)

        def low_and_top(v: int) -> int:
            return self.add("concat", self.rows(v, 0, d), self.rows(v, 62, 64))

        maj = self.add("xor", self.add("and", low_and_top(a), low_and_top(b)),
                       low_and_top(c2))  # rows 0..d-1, then 62 and 63
        s63, maj62, maj63 = self.rows(s, 63, 64), self.rows(maj, d, d + 1), \
            self.rows(maj, d + 1, d + 2)
        if d >= 2:
            both = self.add("and", self.add("concat", self.rows(s, 1, d), s63),
                            self.add("concat", self.rows(maj, 0, d - 1), maj62))
            g, s_and_m62 = self.rows(both, 0, d - 1), self.rows(both, d - 1, d)
            if d >= 3:
                p = self.add("xor", self.rows(s, 2, d), self.rows(maj, 1, d - 1))
                carry = self.carry_tree(g, p)
            else:
                carry = g
        else:
            s_and_m62 = self.add("and", s63, maj62)
            carry = None
        or62 = self.add("xor", self.add("xor", s63, maj62), s_and_m62)  # s63 ∨ maj62
        early = [self.from_rows(r, count, shape, "trunc")
                 for r in (self.rows(maj, d - 1, d), maj63, or62)]
        converted = self.b2a(self.b.add("stack", early))
        m_low, m_top, o_top = (self.add("slice", converted, spec=(("i", k),)) for k in range(3))
        kappa = m_low
        if carry is not None:
            kappa = self.add("add", kappa, self.b2a(self.from_rows(carry, count, shape, "trunc")))
        wraps = self.add("add", m_top, o_top)
        out = self.add("add", high, kappa)
        out = self.add("sub", out, self.add("mul", wraps,
                                            self.b.const(np.int64(_signed(1 << (64 - d))), INT)))
        return self.add("sub", out, self.b.const(np.int64(1 << (62 - d)), INT))

    def dot_by_products(self, x: int, y: int, base: str) -> int:
        """x · y of two secret vectors of length k, verified, as k products and a local
        sum: a lone dot product checked as one item would need B ≥ 22 triples of its
        whole length (22·(2k + 1) elements and 2k for each check), k Beaver products
        about 12k elements in all. The ring sum is the same (raw values, cast back)."""
        if self.t(x).base != INT:
            x = self.add("cast", x, base=INT)
        if self.t(y).base != INT:
            y = self.add("cast", y, base=INT)
        out = self.add("sum", self.add("mul", x, y))
        return out if base == INT else self.add("cast", out, base=base)

    def select(self, c: int, a: int, b: int) -> int:
        if self.t(a).base == BOOL:
            return self.add("xor", b, self.add("and", c, self.add("xor", a, b)))
        picked = self.add("mul", self.b2a(c), self.add("sub", a, b))
        return self.add("add", b, picked)

    # ------------------------------------------------------------ the walk

    def node(self, n: Node) -> int:
        args = [self.map[a] for a in n.args]
        secret = [self.t(a).is_secret for a in args]
        self.b.span, self.b.fn = n.span, n.fn
        op = n.op
        if op in ("lt", "eq") and any(secret) and self.t(args[0]).base != BOOL:
            self.comparing = op
            try:
                return self.lt(*args) if op == "lt" else self.eq(*args)
            finally:
                self.comparing = None
        if op == "eq" and any(secret):
            return self.add("not", self.add("xor", *args))
        if op == "select" and secret[0]:
            return self.select(*args)
        if op == "trunc" and any(secret) and self.security == "malicious":
            return self.trunc_verified(args[0], n)
        if op == "b2a" and any(secret):
            return self.b2a(args[0])
        if op == "matmul" and all(secret) and self.security == "malicious" and \
                len(self.t(args[0]).shape) == 1 and len(self.t(args[1]).shape) == 1:
            return self.dot_by_products(args[0], args[1], n.type.base)
        if op == "to_bits" and any(secret):
            word = self.a2b(args[0])
            bits = [self.add("bit", word, index=i) for i in range(64)]
            stacked = self.b.add("stack", bits)  # [64, ...]
            if self.t(stacked).shape[1:]:
                stacked = self.add("transpose", stacked)
            return stacked
        if op == "or" and any(secret):  # with a public operand the AND is local
            x, y = args
            return self.add("xor", self.add("xor", x, y), self.add("and", x, y))
        return self.b.add(op, args, dict(n.attrs))

    def lower(self) -> Circuit:
        for n in self.src.nodes:
            self.map[n.id] = self.node(n)
            note = n.attr("note")
            if note is not None:  # keep the optimizer's note on what now computes n
                out = self.b.nodes[self.map[n.id]]
                if out.attr("note") is None:
                    attrs = tuple(sorted((*out.attrs, ("note", note))))
                    self.b.nodes[out.id] = replace(out, attrs=attrs)
        rename = dict(self.map)
        return self.src.with_nodes(self.b.nodes, rename)


def run(circuit: Circuit, security: str = "semi-honest") -> Circuit:
    """Lower a (high-level) circuit to rep3 protocol primitives; for the verified
    (malicious) mode truncations become products and AND gates too, and the circuit
    carries the mode (it is part of the fingerprint)."""
    lowered = _Rep3Lowerer(circuit, security).lower()
    return lowered if security == "semi-honest" else replace(lowered, security=security)

