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
- trunc (fixed point, ABY3 Π_trunc1, Mohassel & Rindal CCS 2018 §5.1.1): the sharing is
  viewed as two additive shares A = x0 + x1 (server 0) and B = x2 (servers 1, 2), each
  truncated locally (SecureML, Mohassel & Zhang S&P 2017, Thm. 1); server 0 masks its
  part with r from the key it shares with server 1 and sends it to server 2. The result
  is ⌊x/2^d⌋ or ⌊x/2^d⌋ + 1; it fails (a wrong, large value) with probability |x|/2^64,
  where x is the value before truncation (docs/security.md has the bound).
- a2b_comp / b2a_comp: the trivial sharing of one component, known to the two servers
  that hold it, as a word or ring sharing; the lowering builds conversions from them.
- shuffle_step / reveal (veil.backend.rep3_shuffle): the stages of a resharing shuffle,
  the only messages also sent to the successor, and the opening of a value to the
  servers; scatter moves each share's rows to public positions, cumsum sums them.

The schedule (veil.schedule) decides what happens in each round; this module only
computes and exchanges what the schedule says, one message per peer per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from veil.backend import prg, rep3_shuffle
from veil.ir.nodes import Circuit, Node
from veil.ir.ops import trunc_bits
from veil.ir.semantics import apply, const_array
from veil.net.transport import ROUND, Channel, exchange
from veil.schedule import SERVERS, TRUNC_SENDER, Schedule, links
from veil.types import BOOL, WORD

U64 = np.uint64
Share = tuple[np.ndarray, np.ndarray]
Value = np.ndarray | Share

SCALED = {"mul", "matmul", "and"}
PUBLIC_OPERAND = SCALED | {"scatter"}
"""Ops applied to each share with their public operand as it is (not as a sharing)."""


def pack(parts: Sequence[np.ndarray]) -> bytearray:
    """Ring/word arrays as 8 bytes an element, then every bool array packed 8 to a byte.

    Each array is copied once, straight into the message (a concatenation and then
    ``tobytes`` would copy every element twice: 2 × 112 MB for a 1M×7 input)."""
    ring = [p for p in parts if p.dtype != np.bool_]
    bits = [p.reshape(-1) for p in parts if p.dtype == np.bool_]
    ring_total = sum(int(p.size) for p in ring)
    bits_total = sum(int(p.size) for p in bits)
    out = bytearray(8 * ring_total + (bits_total + 7) // 8)
    words = np.frombuffer(out, dtype=U64, count=ring_total)
    r = 0
    for p in ring:
        words[r:r + p.size].reshape(p.shape)[...] = p  # casts bit-for-bit to uint64
        r += p.size
    if bits:
        packed = np.frombuffer(out, dtype=np.uint8, offset=8 * ring_total)
        packed[...] = np.packbits(np.concatenate(bits) if len(bits) > 1 else bits[0])
    return out


def unpack(payload: bytes | bytearray, shapes: Sequence[tuple[tuple[int, ...], bool]]
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


def trivial(value: np.ndarray, me: int) -> Share:
    """Server `me`'s pair of the sharing (value, 0, 0)."""
    zero = np.zeros_like(value)
    return (value if me == 0 else zero, value if me == 2 else zero)


@dataclass
class Rep3Server:
    """Evaluates a scheduled protocol circuit as server `me` (0, 1 or 2)."""

    me: int
    circuit: Circuit
    sched: Schedule
    key_prev: bytes  # k_me, shared with server me-1
    key_next: bytes  # k_{me+1}, shared with server me+1
    prev_channel: Channel  # to and from server me-1
    next_channel: Channel  # to and from server me+1
    values: dict[int, Value] = field(default_factory=dict)
    rounds_sent: list[int] = field(default_factory=list)
    trunc_masks: dict[int, np.ndarray] = field(default_factory=dict)
    shuffles: rep3_shuffle.ShuffleState = field(default_factory=rep3_shuffle.ShuffleState)

    # ------------------------------------------------------------ randomness

    def round_zero_shares(self, number: int, nodes: list[Node]) -> dict[int, np.ndarray]:
        """α_me of a fresh sharing of zero for every product of a round (additive for ring
        values, XOR for bits and words), cut from one keystream per key: one AES-CTR
        setup per key and round instead of two per gate (a circuit like AES has 6400
        AND gates in 60 rounds)."""
        products = [n for n in nodes if n.op in SCALED]
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
            return tuple(apply(node, [a[j] for a in lifted]) for j in range(2))  # type: ignore

    def component(self, node: Node, x: Share) -> Share:
        """Trivial sharing of component j of x: held by the two servers that know x_j."""
        j = node.attr("component")
        first, second = (np.asarray(s, dtype=U64) for s in x)
        return (first if self.me == j else np.zeros_like(first),
                second if (self.me + 1) % 3 == j else np.zeros_like(second))

    # ------------------------------------------------------------ rounds

    def message_part(self, node: Node, zero: np.ndarray | None) -> np.ndarray | None:
        """What this server sends its predecessor for an interactive node (or None)."""
        a = self.values[node.args[0]]
        if node.op == "trunc":
            return self.trunc_send(node, a) if self.me == TRUNC_SENDER else None
        b = self.values[node.args[1]]
        assert isinstance(a, tuple) and isinstance(b, tuple) and zero is not None
        if node.op == "and":
            return (a[0] & b[0]) ^ (a[0] & b[1]) ^ (a[1] & b[0]) ^ zero
        product = np.matmul if node.op == "matmul" else np.multiply
        with np.errstate(over="ignore"):
            z = product(a[0], b[0]) + product(a[0], b[1]) + product(a[1], b[0])
            return np.asarray(z + zero, dtype=U64)

    def trunc_send(self, node: Node, a: Value) -> np.ndarray:
        assert isinstance(a, tuple)
        bits = np.asarray(trunc_bits(node.attr("bits"), node.type.shape), dtype=U64)
        mask = prg.ring(self.key_next, node.id, prg.TRUNC_MASK, node.type.shape)
        self.trunc_masks[node.id] = mask
        with np.errstate(over="ignore"):
            high = (a[0] + a[1]) >> bits  # A = x0 + x1, truncated as unsigned
            return np.asarray(high - mask, dtype=U64)

    def trunc_other(self, node: Node, b_share: np.ndarray) -> np.ndarray:
        """B = x2 truncated as minus the truncation of -B (SecureML)."""
        bits = np.asarray(trunc_bits(node.attr("bits"), node.type.shape), dtype=U64)
        with np.errstate(over="ignore"):
            return np.asarray(U64(0) - ((U64(0) - b_share) >> bits), dtype=U64)

    def finish(self, node: Node, mine: np.ndarray | None, received: np.ndarray | None) -> Share:
        if node.op != "trunc":
            assert mine is not None and received is not None
            return (mine, received)
        a = self.values[node.args[0]]
        assert isinstance(a, tuple)
        if self.me == 0:
            assert mine is not None
            return (mine, self.trunc_masks.pop(node.id))
        if self.me == 1:
            r = prg.ring(self.key_prev, node.id, prg.TRUNC_MASK, node.type.shape)
            return (r, self.trunc_other(node, a[1]))
        assert received is not None
        return (self.trunc_other(node, a[0]), received)

    def run_round(self, number: int) -> None:
        rnd = self.sched.rounds[number - 1]
        nodes = [self.circuit.node(n) for n in rnd.nodes]
        zeros = self.round_zero_shares(number, nodes)
        prev, nxt = (self.me - 1) % SERVERS, (self.me + 1) % SERVERS
        outgoing: dict[int, list[np.ndarray]] = {prev: [], nxt: []}
        kept: dict[int, object] = {}
        for node in nodes:
            if node.op in rep3_shuffle.OPS:
                parts, kept[node.id] = rep3_shuffle.message_parts(self, node)
            else:
                part = self.message_part(node, zeros.get(node.id))
                parts = {} if part is None else {prev: part}
                kept[node.id] = part
            for receiver, array in parts.items():
                outgoing[receiver].append(array)
        # what each peer sends me, in node order (veil.schedule.links says who sends)
        incoming = {peer: [n for n in nodes if (peer, self.me) in links(n)]
                    for peer in (nxt, prev)}
        channels = {prev: self.prev_channel, nxt: self.next_channel}
        payloads = {r: pack(parts) for r, parts in outgoing.items() if parts}
        peers = [p for p in (nxt, prev) if p in payloads or incoming[p]]

        def talk(peer: int) -> bytearray | None:
            """This round's traffic with one peer: each socket is used by one thread."""
            channel, payload = channels[peer], payloads.get(peer)
            if payload is not None and incoming[peer]:
                return channel.exchange(ROUND, number, payload)
            if payload is not None:
                channel.send(ROUND, number, payload)
                return None
            return channel.recv(ROUND, number)

        got: dict[int, bytearray | None] = {}
        if len(peers) == 2:  # the two peers at once, so that no send waits for a read
            first, second = peers
            got[second] = exchange(lambda: got.__setitem__(first, talk(first)),  # type: ignore
                                   lambda: talk(second))
        elif peers:
            got[peers[0]] = talk(peers[0])
        if payloads:
            self.rounds_sent.append(number)
        expected = [p for p in (nxt, prev) if incoming[p]]
        received: dict[int, dict[int, np.ndarray]] = {}
        for peer in expected:
            payload = got[peer]
            assert payload is not None
            layout = [(n.type.shape, n.type.base == BOOL) for n in incoming[peer]]
            for n, array in zip(incoming[peer], unpack(payload, layout), strict=True):
                received.setdefault(n.id, {})[peer] = array
        for node in nodes:
            mine = received.get(node.id, {})
            if node.op in rep3_shuffle.OPS:
                self.values[node.id] = rep3_shuffle.finish(self, node, kept[node.id], mine)
            else:
                self.values[node.id] = self.finish(node, kept[node.id], mine.get(nxt))  # type: ignore

    def run_local(self, level: int) -> None:
        for node_id in self.sched.local_by_level[level]:
            node = self.circuit.node(node_id)
            if node.op == "input":
                continue  # set by the input phase
            self.values[node_id] = self.local(node)

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
        self._free(free_after.get(0, ()))
        for number in range(1, self.sched.compute_rounds + 1):
            self.run_round(number)
            self.run_local(number)
            self._free(free_after.get(number, ()))

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
