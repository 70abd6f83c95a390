"""Backend `rep3`: one server's side of three-server replicated secret sharing over Z_2^64.

x = x0 + x1 + x2 (mod 2^64) for ring values, x = x0 ⊕ x1 ⊕ x2 for bits and words;
server i holds the pair (x_i, x_{i+1}) (Araki, Furukawa, Lindell, Nof, Ohara, CCS 2016).
Semi-honest security with an honest majority: any single server sees only uniformly
random shares and masked messages.

- Linear operations and data movement act on each share (a public operand enters as
  the trivial sharing (p, 0, 0)); products with a public value scale each share.
- mul / matmul / and: z_i = x_i·y_i + x_i·y_{i+1} + x_{i+1}·y_i + α_i, where α is a
  fresh zero-sharing from the pairwise PRG keys; server i sends z_i to server i-1: one
  ring element (or bit) per output element per server, one round. A dot product of any
  length costs what one multiplication costs.
- trunc (fixed point): the sharing is viewed as A = x_S + x_{S+1}, known to one server
  S (the sender), and B = x_{S+2}, known to the other two. With c = A + 2^62 and
  r = -B, c = x + 2^62 + r (mod 2^64); for |x| < 2^62 the sum x + 2^62 + r wraps around
  exactly when the top bit of r is 1 and the top bit of c is 0 (the MSB trick of
  Dalskov, Escudero and Keller, "Secure Evaluation of Quantized Neural Networks",
  PETS 2020, §4), so ⌊x/2^d⌋ = (c >> d) - (r >> d) + wrap·2^(64-d) - 2^(62-d), up to
  the carry from the low bits. The wrap bit is u·v with u known to S and v known to
  the other two: S sends each of them both candidates, masked, and the other one of
  them sends the pad of the candidate it needs (three-party OT, ABY3 §5.4.1, Mohassel
  & Rindal CCS 2018). One round; the result is ⌊x/2^d⌋ or ⌊x/2^d⌋ + 1 and it never
  fails for |x| < 2^62 (docs/security.md). Elements take turns as sender.
- a2b_comp / b2a_comp: the trivial sharing of one component, known to the two servers
  that hold it, as a word or ring sharing; the lowering builds conversions from them.
- shuffle_step / reveal (veil.backend.rep3_shuffle): the stages of a resharing shuffle
  and the opening of a value to the servers; scatter moves each share's rows to public
  positions, cumsum sums them (local).
- a2b_pair (veil.backend.rep3_a2b): a server inputs the bits of the sum of the two
  components it holds as a boolean sharing, the first step of a semi-honest comparison
  (one message, to its predecessor).
- The verified mode (veil.backend.rep3_verify) first makes checked multiplication
  triples and daBits (`preprocess`, on no input); it then computes mul and and
  with Beaver's multiplication from them (two elements opened, no reshare), b2a by
  opening the bit XOR a daBit (one bit), matmul as above, and runs its checks after
  the last round.

The schedule (veil.schedule) decides what happens in each round; this module only
computes and exchanges what the schedule says, one message per peer per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from veil.backend import prg, rep3_a2b, rep3_shuffle
from veil.backend.duplex import round_trip
from veil.backend.rep3_verify import Verifier
from veil.backend.tamper import Tamper
from veil.ir.nodes import Circuit, Node
from veil.ir.ops import RANDOM_BITS, trunc_bits
from veil.ir.semantics import apply, const_array
from veil.net.transport import Channel, PeerError, fresh_buffer
from veil.schedule import NEXT, PREV, SERVERS, Schedule, trunc_roles
from veil.types import BOOL, WORD
from veil.verification import is_beaver

U64 = np.uint64
Share = tuple[np.ndarray, np.ndarray]
Value = np.ndarray | Share

SCALED = {"mul", "matmul", "and"}
PUBLIC_OPERAND = SCALED | {"scatter"}
"""Ops applied to each share with their public operand as it is (not as a sharing)."""
ONE_WAY_STEPS = {"shuffle_step": rep3_shuffle, "reveal": rep3_shuffle, "a2b_pair": rep3_a2b}
"""Round steps whose messages veil.schedule.shuffle_links lists, by their module."""
TRUNC_OFFSET = U64(1 << 62)  # makes every |x| < 2^62 non-negative and below 2^63


def pack(parts: Sequence[np.ndarray]) -> memoryview:
    """Ring/word arrays as 8 bytes an element, then every bool array packed 8 to a byte
    (every byte of the buffer written).

    Each array is copied once, straight into the message (a concatenation and then
    ``tobytes`` would copy every element twice: 2 × 112 MB for a 1M×7 input)."""
    ring = [p for p in parts if p.dtype != np.bool_]
    bits = [p.reshape(-1) for p in parts if p.dtype == np.bool_]
    ring_total = sum(int(p.size) for p in ring)
    bits_total = sum(int(p.size) for p in bits)
    out = fresh_buffer(8 * ring_total + (bits_total + 7) // 8)
    words = np.frombuffer(out, dtype=U64, count=ring_total)
    r = 0
    for p in ring:
        words[r:r + p.size].reshape(p.shape)[...] = p  # casts bit-for-bit to uint64
        r += p.size
    if bits:
        packed = np.frombuffer(out, dtype=np.uint8, offset=8 * ring_total)
        packed[...] = np.packbits(np.concatenate(bits) if len(bits) > 1 else bits[0])
    return out


def unpack(payload: bytes | bytearray | memoryview, shapes: Sequence[tuple[tuple[int, ...], bool]]
           ) -> list[np.ndarray]:  # fmt: skip
    """Inverse of pack for (shape, is_bool) in the same order. Ring arrays are views of
    a received (writable) bytearray, not copies: the message's memory becomes the
    values' memory."""
    ring_total = sum(int(np.prod(s)) for s, is_bool in shapes if not is_bool)
    bits_total = sum(int(np.prod(s)) for s, is_bool in shapes if is_bool)
    expected = 8 * ring_total + (bits_total + 7) // 8
    if len(payload) != expected:
        raise ValueError(f"payload of {len(payload)} bytes, expected {expected}")
    ring = np.frombuffer(payload, dtype=U64, count=ring_total)
    if not ring.flags.writeable:  # immutable bytes: copy, values are written in place
        ring = ring.copy()
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, offset=8 * ring_total),
                         count=bits_total).astype(np.bool_)
    out = []
    r = b = 0
    for shape, is_bool in shapes:
        n = int(np.prod(shape))
        if is_bool:
            out.append(bits[b:b + n].reshape(shape))
            b += n
        else:
            out.append(ring[r:r + n].reshape(shape))
            r += n
    return out


def zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An all-zero share part that takes no memory: a read-only broadcast of one zero.
    Two of a server's six parts of the three trivially shared components of a value
    are zero; with these, the linear steps that combine them cost nothing."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def is_zero(x: np.ndarray) -> bool:
    """Is x a part made by `zeros`? (Every stride 0 means every element is the first.)"""
    return (isinstance(x, np.ndarray) and not x.flags.writeable and x.size > 0
            and not any(x.strides)
            and not x.reshape(-1)[0])


ZERO_PRESERVING = {"xor", "add", "sub", "neg", "shl", "shr", "slice", "reshape", "concat",
                   "stack", "bitslice", "pack", "unpack", "transpose", "broadcast", "sum",
                   "a2b_comp"}
"""Linear local ops: all-zero operand parts give an all-zero part."""


def local_part(node: Node, parts: list[np.ndarray]) -> np.ndarray:
    """One part (x_me or x_me+1) of a local op's result, skipping the work where parts
    are `zeros`: a zero result stays a zero view, x ⊕ 0 and x + 0 are x itself (values
    are never written in place, so sharing an array is safe)."""
    op = node.op
    zero = [is_zero(p) for p in parts]
    if op in ZERO_PRESERVING and all(zero):
        return zeros(node.type.shape, np.bool_ if node.type.base == BOOL else U64)
    if op in ("xor", "add", "sub") and any(zero):
        a, b = parts
        if a.shape == b.shape and a.dtype == b.dtype:
            if zero[1]:
                return a
            if op != "sub":
                return b
    return apply(node, parts)


def trivial(value: np.ndarray, me: int) -> Share:
    """Server `me`'s pair of the sharing (value, 0, 0)."""
    zero = zeros(value.shape, value.dtype)
    return (value if me == 0 else zero, value if me == 2 else zero)


@dataclass
class Rep3Server:
    """Evaluates a scheduled protocol circuit as server `me` (0, 1 or 2)."""

    me: int
    circuit: Circuit
    sched: Schedule
    key_prev: bytes  # k_me, shared with server me-1
    key_next: bytes  # k_{me+1}, shared with server me+1
    to_prev: Channel  # the two-way channel to server me-1
    from_next: Channel  # the two-way channel to server me+1
    values: dict[int, Value] = field(default_factory=dict)
    rounds_sent: list[int] = field(default_factory=list)
    pending: dict[int, tuple] = field(default_factory=dict)  # truncation pads, start → finish
    shuffles: rep3_shuffle.ShuffleState = field(default_factory=rep3_shuffle.ShuffleState)
    tamper: Tamper = field(default_factory=Tamper)  # tests only: a corrupted server
    verifier: Verifier | None = None  # the verified mode's checks (circuit.security)
    preprocessing: bool = False  # in the verified mode's preprocessing (for progress)

    def __post_init__(self) -> None:
        if self.sched.plan is not None:
            self.verifier = Verifier(self)
    # ------------------------------------------------------------ randomness

    def round_zero_shares(self, number: int, nodes: list[Node]) -> dict[int, np.ndarray]:
        """α_me of a fresh sharing of zero for every product of a round (additive for ring
        values, XOR for bits and words), cut from one keystream per key: one AES-CTR
        setup per key and round instead of two per gate (a circuit like AES has 6400
        AND gates in 60 rounds)."""
        beaver = self.verifier is not None
        products = [n for n in nodes if n.op in SCALED and not (beaver and is_beaver(n))]
        ring_n = sum(n.type.size for n in products if n.type.base != BOOL)
        bits_n = sum(n.type.size for n in products if n.type.base == BOOL)
        streams = []
        for key in (self.key_prev, self.key_next):
            raw = prg.stream(key, number, prg.ROUND_ZERO_SHARES, 8 * ring_n + bits_n)
            streams.append((np.frombuffer(raw, dtype=U64, count=ring_n),
                            (np.frombuffer(raw, dtype=np.uint8, offset=8 * ring_n) & 1)
                            .astype(np.bool_)))
        (ring_a, bits_a), (ring_b, bits_b) = streams
        out: dict[int, np.ndarray] = {}
        r = b = 0
        for node in products:
            shape, size = node.type.shape, node.type.size
            if node.type.base == BOOL:
                out[node.id] = (bits_a[b:b + size] ^ bits_b[b:b + size]).reshape(shape)
                b += size
            elif node.type.base == WORD:
                out[node.id] = (ring_a[r:r + size] ^ ring_b[r:r + size]).reshape(shape)
                r += size
            else:
                with np.errstate(over="ignore"):
                    out[node.id] = (ring_a[r:r + size] - ring_b[r:r + size]).reshape(shape)
                r += size
        return out

    def output_mask(self, node_id: int, shape: tuple[int, ...], is_bool: bool) -> np.ndarray:
        if is_bool:
            return prg.bits(self.key_prev, node_id, prg.OUTPUT_MASK, shape) ^ \
                prg.bits(self.key_next, node_id, prg.OUTPUT_MASK, shape)
        with np.errstate(over="ignore"):
            return prg.ring(self.key_prev, node_id, prg.OUTPUT_MASK, shape) - \
                prg.ring(self.key_next, node_id, prg.OUTPUT_MASK, shape)

    # ------------------------------------------------------------ local evaluation

    def is_secret(self, node_id: int) -> bool:
        return isinstance(self.values[node_id], tuple)

    def local(self, node: Node) -> Value:
        if node.op == "const":
            return const_array(node)
        if node.op == RANDOM_BITS:
            return self.random_bits(node)
        args = [self.values[a] for a in node.args]
        secret = [isinstance(a, tuple) for a in args]
        if not any(secret):
            return apply(node, args)
        op = node.op
        if op in ("a2b_comp", "b2a_comp"):
            return self.component(node, args[0])
        if op in PUBLIC_OPERAND:  # one operand is public: scale (or move) each share by it
            return tuple(apply(node, [a[j] if isinstance(a, tuple) else a for a in args])
                         for j in range(2))  # type: ignore[return-value]
        lifted = [a if isinstance(a, tuple) else trivial(a, self.me) for a in args]
        if op == "select" and not secret[0]:  # public condition: pick shares
            cond = args[0]
            return tuple(np.asarray(np.where(cond, lifted[1][j], lifted[2][j]))
                         for j in range(2))  # type: ignore[return-value]
        with np.errstate(over="ignore"):
            return tuple(local_part(node, [a[j] for a in lifted])  # type: ignore[return-value]
                         for j in range(2))

    def random_bits(self, node: Node) -> Share:
        """Secret random bits with no communication: component j from the key of the two
        servers that hold it (server i's x_i from k_i, shared with server i−1, and
        x_{i+1} from k_{i+1}). The one component a single server lacks is uniform to
        it, so the bits are too."""
        shape = tuple(node.attr("shape"))
        return (prg.bits(self.key_prev, node.id, prg.RANDOM_BITS, shape),
                prg.bits(self.key_next, node.id, prg.RANDOM_BITS, shape))

    def component(self, node: Node, x: Share) -> Share:
        """Trivial sharing of component j of x: held by the two servers that know x_j."""
        j = node.attr("component")
        first, second = (np.asarray(s, dtype=U64) for s in x)
        return (first if self.me == j else zeros(first.shape, U64),
                second if (self.me + 1) % 3 == j else zeros(second.shape, U64))

    # ------------------------------------------------------------ rounds

    def product_part(self, node: Node, zero: np.ndarray) -> np.ndarray:
        """z_me = x_me·y_me + x_me·y_{me+1} + x_{me+1}·y_me + α_me, sent to the predecessor."""
        a, b = self.values[node.args[0]], self.values[node.args[1]]
        assert isinstance(a, tuple) and isinstance(b, tuple)
        # a term with a zero part (see `zeros`) is zero: most of them in A2B's first AND
        terms = [(x, y) for x, y in ((a[0], b[0]), (a[0], b[1]), (a[1], b[0]))
                 if not (is_zero(x) or is_zero(y))]
        if len(terms) == 3:
            # x0·y0 + x0·y1 = x0·(y0 + y1): two products instead of three (matrix
            # products distribute likewise)
            if node.op == "and":
                z = np.bitwise_and(a[0], np.bitwise_xor(b[0], b[1]))
                z ^= np.bitwise_and(a[1], b[0])
                z ^= zero
                return np.asarray(z)
            times = np.matmul if node.op == "matmul" else np.multiply
            with np.errstate(over="ignore"):
                z = np.asarray(times(a[0], np.add(b[0], b[1], dtype=U64), dtype=U64))
                z += times(a[1], b[0], dtype=U64)
                z += zero
            return z
        if node.op == "and":
            z = zero
            for x, y in terms:
                z = z ^ (x & y)
            return np.asarray(z)
        product = np.matmul if node.op == "matmul" else np.multiply
        with np.errstate(over="ignore"):
            z = zero
            for x, y in terms:
                z = z + product(x, y)
            return np.asarray(z, dtype=U64)

    # ------------------------------------------------------------ truncation

    def _trunc_setup(self, node: Node) -> tuple[list[slice], np.ndarray, np.ndarray, np.ndarray]:
        """Element roles, the shift per element, and the pads from both keys: three rows
        per key (a share component, then the pads of the two candidates) for the elements
        whose sender holds that key, the other block left unused (zero)."""
        n = node.type.size
        roles = trunc_roles(n, self.sched.position[node.id])
        bits = np.broadcast_to(np.asarray(trunc_bits(node.attr("bits"), node.type.shape),
                                          dtype=U64), node.type.shape).reshape(-1)
        me = self.me
        pads_prev = np.zeros((3, n), dtype=U64)
        pads_next = np.zeros((3, n), dtype=U64)
        # key k_j is held by servers j-1 and j and serves the blocks led by either of them;
        # one stream per key and block, so that both holders cut it the same way
        for pads, key, senders in ((pads_prev, self.key_prev, (me, (me - 1) % SERVERS)),
                                   (pads_next, self.key_next, (me, (me + 1) % SERVERS))):
            for s in senders:
                block = roles[s]
                if block.stop > block.start:
                    pads[:, block] = prg.ring(key, node.id, prg.TRUNC_MASK + 256 * (s + 1),
                                              (3, block.stop - block.start))
        return roles, bits, pads_prev, pads_next

    def _mask_bit(self, b_part: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, ...]:
        """From B = x_{S+2}: r = -B, its top bit v and r >> d."""
        r = U64(0) - b_part
        return (r >> U64(63)).astype(np.bool_), r >> bits

    def trunc_start(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """This server's two messages for a truncation: (to predecessor, to successor)."""
        a = self.values[node.args[0]]
        assert isinstance(a, tuple)
        first, second = (np.asarray(x, dtype=U64).reshape(-1) for x in a)
        roles, bits, pads_prev, pads_next = self.pending[node.id] = self._trunc_setup(node)
        me = self.me
        lead, after, before = roles[me], roles[(me - 1) % SERVERS], roles[(me + 1) % SERVERS]
        with np.errstate(over="ignore"):
            # as the sender S = me: the two candidates of share component S+2, masked
            d = bits[lead]
            c = first[lead] + second[lead] + TRUNC_OFFSET
            u = U64(1) - (c >> U64(63))
            rho, w0, w1 = pads_next[:, lead]
            sigma, w0_next, w1_next = pads_prev[:, lead]
            m0 = (c >> d) - sigma - rho
            m1 = m0 + u * (U64(1) << (U64(64) - d))
            # as S+1 for the sender me-1 (B = x_{me+1}): the pad S+2 needs, from k_me
            v_after, _ = self._mask_bit(second[after], bits[after])
            pad_after = np.where(v_after, pads_prev[2, after], pads_prev[1, after])
            # as S+2 for the sender me+1 (B = x_me): the pad S+1 needs, from k_{me+1}
            v_before, _ = self._mask_bit(first[before], bits[before])
            pad_before = np.where(v_before, pads_next[2, before], pads_next[1, before])
            to_prev = np.concatenate([m0 + w0, m1 + w1, pad_before])
            to_next = np.concatenate([m0 + w0_next, m1 + w1_next, pad_after])
        return to_prev, to_next

    def trunc_finish(self, node: Node, from_prev: np.ndarray, from_next: np.ndarray) -> Share:
        a = self.values[node.args[0]]
        assert isinstance(a, tuple)
        first, second = (np.asarray(x, dtype=U64).reshape(-1) for x in a)
        roles, bits, pads_prev, pads_next = self.pending.pop(node.id)
        me = self.me
        lead, after, before = roles[me], roles[(me - 1) % SERVERS], roles[(me + 1) % SERVERS]
        n_after, n_before = len(first[after]), len(first[before])
        out0 = np.empty(node.type.size, dtype=U64)
        out1 = np.empty(node.type.size, dtype=U64)
        with np.errstate(over="ignore"):
            # sender: (y_S, y_{S+1}) = (σ, ρ)
            out0[lead], out1[lead] = pads_prev[0, lead], pads_next[0, lead]
            # S+1 (sender me-1): (ρ, y_{S+2}); candidates from the sender, pad from S+2
            d = bits[after]
            v, r_high = self._mask_bit(second[after], d)
            chosen = np.where(v, from_prev[n_after:2 * n_after], from_prev[:n_after])
            pad = from_next[2 * n_before:]
            out0[after] = pads_prev[0, after]
            out1[after] = chosen - pad - r_high - (U64(1) << (U64(62) - d))
            # S+2 (sender me+1): (y_{S+2}, σ); candidates from the sender, pad from S+1
            d = bits[before]
            v, r_high = self._mask_bit(first[before], d)
            chosen = np.where(v, from_next[n_before:2 * n_before], from_next[:n_before])
            pad = from_prev[2 * n_after:]
            out0[before] = chosen - pad - r_high - (U64(1) << (U64(62) - d))
            out1[before] = pads_next[0, before]
        shape = node.type.shape
        return (out0.reshape(shape), out1.reshape(shape))

    def _incoming_sizes(self, node: Node) -> tuple[int, int]:
        """Ring elements of a truncation received (from predecessor, from successor)."""
        roles = trunc_roles(node.type.size, self.sched.position[node.id])
        n = [len(range(node.type.size)[r]) for r in roles]
        me = self.me
        prev, nxt = (me - 1) % SERVERS, (me + 1) % SERVERS
        return 2 * n[prev] + n[nxt], 2 * n[nxt] + n[prev]

    def run_round(self, number: int) -> None:
        rnd = self.sched.rounds[number - 1]
        nodes = [self.circuit.node(n) for n in rnd.nodes]
        zeros = self.round_zero_shares(number, nodes)
        out: dict[int, list[np.ndarray]] = {PREV: [], NEXT: []}
        layout: dict[int, list[tuple[tuple[int, ...], bool]]] = {PREV: [], NEXT: []}
        mine: dict[int, np.ndarray] = {}
        kept: dict[int, object] = {}
        for node in nodes:
            if node.op == "trunc":
                to_prev, to_next = self.trunc_start(node)
                out[PREV].append(to_prev)
                out[NEXT].append(to_next)
                from_prev, from_next = self._incoming_sizes(node)
                layout[PREV].append(((from_prev,), False))
                layout[NEXT].append(((from_next,), False))
            elif node.op in ONE_WAY_STEPS:
                parts, kept[node.id] = ONE_WAY_STEPS[node.op].message_parts(self, node)
                for direction, part in parts.items():
                    out[direction].append(part)
                for direction in rep3_shuffle.incoming(self.me, node):
                    layout[direction].append((node.type.shape, node.type.base == BOOL))
            elif self.verifier is not None and node.op == "b2a":  # b ⊕ r, r a daBit
                part, kept[node.id] = self.verifier.dabit_start(node, self.values[node.args[0]])
                mine[node.id] = self.tamper.sent("a2b", ("round", number, node.id), part)
                out[PREV].append(mine[node.id])
                layout[NEXT].append((node.type.shape, True))
            elif self.verifier is not None and is_beaver(node):  # ρ and σ, opened
                part, kept[node.id] = self.verifier.beaver_start(
                    node, self.values[node.args[0]], self.values[node.args[1]])
                kind = "a2b" if node.op == "and" else "products"
                mine[node.id] = self.tamper.sent(kind, ("round", number, node.id), part)
                out[PREV].append(mine[node.id])
                layout[NEXT].append(((2, *node.type.shape), node.type.base == BOOL))
            else:
                mine[node.id] = self.product_part(node, zeros[node.id])
                kind = "a2b" if node.op == "and" else "products"
                out[PREV].append(self.tamper.sent(kind, ("round", number, node.id),
                                                  mine[node.id]))
                layout[NEXT].append((node.type.shape, node.type.base == BOOL))
        channel_to = {PREV: self.to_prev, NEXT: self.from_next}  # both are two-way
        # a direction with nothing to say sends no message (the schedule counts none)
        sends = {d: pack(out[d]) if sum(p.size for p in out[d]) else None for d in (PREV, NEXT)}
        expects = {d: sum(int(np.prod(s)) for s, _ in layout[d]) > 0 for d in (PREV, NEXT)}
        plan = [(channel_to[d], sends[d], expects[d]) for d in (NEXT, PREV)]
        got = dict(zip((NEXT, PREV), round_trip(number, plan), strict=True))
        if any(v is not None for v in sends.values()):
            self.rounds_sent.append(number)
        received: dict[int, list[np.ndarray]] = {
            d: [np.zeros(s, dtype=np.bool_ if b else U64) for s, b in layout[d]]
            for d in (PREV, NEXT)}
        for d in (PREV, NEXT):
            payload = got[d]
            if payload is not None:
                received[d] = unpack(payload, layout[d])
        for node in nodes:
            if node.op == "trunc":
                self.values[node.id] = self.trunc_finish(node, received[PREV].pop(0),
                                                         received[NEXT].pop(0))
            elif node.op in ONE_WAY_STEPS:
                got = {d: received[d].pop(0) for d in rep3_shuffle.incoming(self.me, node)}
                self.values[node.id] = ONE_WAY_STEPS[node.op].finish(self, node,
                                                                     kept[node.id], got)
            elif node.id in kept:  # Beaver: the product from the opened ρ and σ
                assert self.verifier is not None
                finish = self.verifier.dabit_finish if node.op == "b2a" else \
                    self.verifier.beaver_finish
                self.values[node.id] = finish(node, kept[node.id], received[NEXT].pop(0))
            else:
                self.values[node.id] = (mine[node.id], received[NEXT].pop(0))
                if self.verifier is not None:
                    self.verifier.record(node, self.values[node.args[0]],
                                         self.values[node.args[1]], self.values[node.id])

    def exchange(self, number: int, to_prev: list[np.ndarray],
                 layout: list[tuple[tuple[int, ...], bool]]) -> list[np.ndarray]:
        """One round in which every server sends to its predecessor only: these arrays
        out, and the successor's arrays (of this layout) in."""
        payload = pack(to_prev) if sum(p.size for p in to_prev) else None
        expects = sum(int(np.prod(shape)) for shape, _ in layout) > 0
        got = round_trip(number, [(self.from_next, None, expects),
                                  (self.to_prev, payload, False)])[0]
        if payload is not None:
            self.rounds_sent.append(number)
        if got is None:
            return [np.zeros(shape, dtype=np.bool_ if b else U64) for shape, b in layout]
        return unpack(got, layout)

    def exchange_both(self, number: int, messages: dict[int, bytes], size: int
                      ) -> dict[int, bytearray]:  # fmt: skip
        """One round in which every server sends to both neighbours and hears from both
        (`size`-byte messages)."""
        got = round_trip(number, [(self.from_next, messages[NEXT], True),
                                  (self.to_prev, messages[PREV], True)])
        self.rounds_sent.append(number)
        out = {NEXT: got[0], PREV: got[1]}
        for direction, payload in out.items():
            if payload is None or len(payload) != size:
                raise PeerError(f"a {size}-byte digest message was expected from server "
                                f"{(self.me + (1 if direction == NEXT else -1)) % SERVERS}")
        return out  # type: ignore[return-value]

    def run_local(self, level: int) -> None:
        for node_id in self.sched.local_by_level[level]:
            node = self.circuit.node(node_id)
            if node.op == "input":
                continue  # set by the input phase
            self.values[node_id] = self.local(node)

    def preprocess(self) -> None:
        """The verified mode's preprocessing (nothing in semi-honest runs): checked
        multiplication triples and daBits, which depend on no input."""
        if self.verifier is not None:
            self.preprocessing = True
            try:
                self.verifier.preprocess()
            finally:
                self.preprocessing = False

    def preprocess_rounds_sent(self) -> list[int]:
        return self.verifier.preprocess_rounds_sent if self.verifier is not None else []

    def compute(self) -> None:
        # Free each value after the level of its last user: keeping every intermediate
        # array alive made most operations write to fresh memory (page faults were the
        # largest cost in bench/bench_rep3.py).
        keep = {o.node for o in self.circuit.outputs}
        last_level: dict[int, int] = {}
        for node in self.circuit.nodes:
            for a in node.args:
                last_level[a] = max(last_level.get(a, 0), self.sched.level[node.id])
        free_after: dict[int, list[int]] = {}
        for node_id, level in last_level.items():
            if node_id not in keep:
                free_after.setdefault(level, []).append(node_id)
        self.run_local(0)
        self.tamper.corrupt(self.values)
        self._free(free_after.get(0, ()))
        for number in range(1, self.sched.circuit_rounds + 1):
            self.run_round(number)
            self.run_local(number)
            self.tamper.corrupt(self.values)
            self._free(free_after.get(number, ()))
        if self.verifier is not None:
            self.verifier.run(self.sched.circuit_rounds + 1)

    def _free(self, node_ids) -> None:
        for node_id in node_ids:
            self.values.pop(node_id, None)

    def output_share(self, node_id: int, base: str) -> np.ndarray:
        """This server's component x_me of an output, re-randomized by a zero-sharing."""
        value = self.values[node_id]
        share = value[0] if isinstance(value, tuple) else trivial(value, self.me)[0]
        is_bool = base == BOOL
        mask = self.output_mask(node_id, share.shape, is_bool)
        if is_bool:
            return np.asarray(share, dtype=np.bool_) ^ mask
        with np.errstate(over="ignore"):
            return np.asarray(share.astype(U64) + mask, dtype=U64)

