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
- x < y is the sign bit of x − y after a2b; x == y is the AND of the inverted bits of
  x − y (6 more AND rounds); select(c, a, b) = b + b2a(c)·(a − b), and on bools
  b ⊕ (c ∧ (a ⊕ b)).

In the clear, component 0 of a value is the value and the others are zero (see
veil.ir.semantics), so the lowered circuit computes the same results as the original on
the plain backend: the lowering is tested differentially that way.
"""

from __future__ import annotations

from dataclasses import replace

from veil.ir.lower import Builder
from veil.ir.nodes import Circuit, Node
from veil.types import BOOL, INT, VType

NAME = "rep3-lower"
SUMMARY = "lower comparisons, selects and conversions to rep3 protocol primitives"

KOGGE_STONE_SHIFTS = (1, 2, 4, 8, 16, 32)


class _Rep3Lowerer:
    def __init__(self, circuit: Circuit):
        self.src = circuit
        self.b = Builder(circuit.frac_bits)
        self.map: dict[int, int] = {}

    def t(self, node_id: int) -> VType:
        return self.b.type(node_id)

    def add(self, op: str, *args: int, **attrs) -> int:
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
        """A secret bit as a ring value 0/1: fold x ⊕ y = x + y − 2xy over the components."""
        c0, c1, c2 = (self.add("b2a_comp", bit, component=j) for j in range(3))
        two = self.b.const(2, INT)
        t = self.add("sub", self.add("add", c0, c1), self.add("mul", two, self.add("mul", c0, c1)))
        return self.add("sub", self.add("add", t, c2), self.add("mul", two, self.add("mul", t, c2)))

    def lt(self, x: int, y: int) -> int:
        diff = self.add("sub", x, y)
        return self.add("bit", self.a2b(diff), index=63)

    def eq(self, x: int, y: int) -> int:
        zero_bits = self.add("not", self.a2b(self.add("sub", x, y)))
        for k in (32, 16, 8, 4, 2, 1):
            zero_bits = self.add("and", zero_bits, self.add("shr", zero_bits, bits=k))
        return self.add("bit", zero_bits, index=0)

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
        if op == "lt" and any(secret):
            return self.lt(*args)
        if op == "eq" and any(secret):
            if self.t(args[0]).base == BOOL:
                return self.add("not", self.add("xor", *args))
            return self.eq(*args)
        if op == "select" and secret[0]:
            return self.select(*args)
        if op == "b2a" and any(secret):
            return self.b2a(args[0])
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


def run(circuit: Circuit) -> Circuit:
    """Lower a (high-level) circuit to rep3 protocol primitives."""
    return _Rep3Lowerer(circuit).lower()

