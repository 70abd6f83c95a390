"""The verified (malicious) mode of rep3: one server's side of the checks.

A server that deviates from the protocol can only (a) add errors to the products it
sends, since every other component it influences is also held by an honest server, and
(b) send values that disagree with what an honest server holds (openings, outputs).
So the verified mode checks, before any output leaves a server (the plan and its
soundness: veil.verification):

1. every product rests on a multiplication triple checked against B − 1 others. The
   triples are made and checked in a preprocessing phase that uses no input
   (`preprocess`): their a and b are drawn from the pairwise keys, c is computed by the
   semi-honest product; a coin nobody could predict (a replicated sharing drawn from
   the three keys) orders them into buckets, and each bucket's head is checked against
   the rest. A `mul` or `and` is computed from heads with Beaver's multiplication
   (`beaver_start`, `beaver_finish`: ρ and σ opened in its round), a `b2a` from a daBit
   made of two such products (`dabit_start`, `dabit_finish`: one bit opened); a
   `matmul` is computed semi-honestly and checked after the circuit against heads that
   a second coin assigns by a rotation;
2. every opened value (both coins, every ρ and σ, the daBits' bits, the opened
   triples) is the same at every server;
3. every input share is the same at both servers that hold it (an owner who sends
   inconsistent shares is caught, as is a server that changes its copy);
4. the outputs are reshared (a fresh random sharing, each component sent by the server
   that computes it) and the resharing checked like a product; a receiver gets each
   component from one server and its SHA-256 from the other server that holds it.

Checks 1, 2 and 4 are zero tests. A shared w is zero exactly when w_i + w_(i+1) =
−w_(i+2): server i hashes its side, server i+1 its side, and they compare. Every pair of
servers compares (one 3×32-byte digest each way in the last round: openings, inputs,
zero tests, the preprocessing's included), and the two honest servers decide exactly
from their own state, so both of them see any deviation and both refuse to send
outputs.

Rounds of the preprocessing: (1) the triples' products, (2) the coin, (3) the bucket
checks' openings and the daBits' first products, (4) their second products. After the
circuit: (1) coin and output resharing, (2) the matrix products' openings, (3) digests.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from veil.backend import prg
from veil.net.transport import PeerError
from veil.schedule import NEXT, PREV, SERVERS
from veil.types import BOOL, WORD
from veil.verification import (
    CHECK_DIGESTS,
    DIGEST_BYTES,
    PREPROCESS_ROUND_BASE,
    RING,
    Gate,
    Plan,
)

if TYPE_CHECKING:
    from veil.backend.rep3 import Rep3Server

U64 = np.uint64
_BIG_ENDIAN = sys.byteorder == "big"
TRIPLES, COIN, RESHARE, ORDER, ORDER_TIES, ROWS, COLUMNS, PRE_COIN, ROTATION, DABITS = \
    16, 19, 20, 21, 22, 23, 24, 25, 26, 27


class VerificationFailed(PeerError):
    """A check of the verified mode failed: some server deviated (or an owner sent
    inconsistent shares). Nothing about the data follows from which check failed."""


def _feed(h, *parts: bytes | np.ndarray) -> None:
    """Add bytes and arrays to a running hash: arrays in place (their bytes, C order),
    not copied by tobytes."""
    for p in parts:
        h.update(np.ascontiguousarray(p).reshape(-1).view(np.uint8)
                 if isinstance(p, np.ndarray) else p)


def _hash(*parts: bytes | np.ndarray) -> bytes:
    h = hashlib.sha256()
    _feed(h, *parts)
    return h.digest()


def _holds_public(me: int, component: int) -> bool:
    """Whether this server's component (0: first, 1: second) is x_0, where a public value
    p enters as the sharing (p, 0, 0) (veil.backend.rep3.trivial)."""
    return (me, component) in ((0, 0), (2, 1))


def output_digest(receiver: str, component: int, packed: bytes | bytearray) -> bytes:
    """What a server sends a receiver about the output component it does not send."""
    return _hash(b"veil output component", receiver.encode(), bytes([component]), bytes(packed))


@dataclass
class PoolState:
    """One pool's triples, then its checked heads, and (matrix products only) its items:
    gate operands and results, both components."""

    xs: list = field(default_factory=list)  # per gate: (first, second) of x, as items
    ys: list = field(default_factory=list)
    zs: list = field(default_factory=list)
    # per component, (2k + 1) × M: a (k rows), b (k rows), c; until the buckets are checked
    triples: tuple[np.ndarray, np.ndarray] | None = None
    # per component, (2k + 1) × N: the checked buckets' heads (items of the pool's unit)
    heads: tuple[np.ndarray, np.ndarray] | None = None


class Verifier:
    """Records every product while the server computes, then runs the checks."""

    def __init__(self, server: Rep3Server) -> None:
        self.server = server
        plan = server.sched.plan
        assert plan is not None
        self.plan: Plan = plan
        self.gates: dict[int, Gate] = {g.node: g for g in plan.gates}
        self.pools = [PoolState() for _ in plan.pools]
        self.input_hashes: tuple[bytes, bytes] = (b"", b"")
        self.outputs: list[tuple[np.ndarray, np.ndarray]] = []  # reshared (first, second)
        # every value opened to the servers, and this server's two sides of every zero
        # test (left, right; _note_zero), hashed as they come
        self.opened = hashlib.sha256(b"opened")
        self.zero = (hashlib.sha256(b"zero"), hashlib.sha256(b"zero"))
        self.preprocess_rounds_sent: list[int] = []
        self.dabit_offsets = dict(plan.dabit_nodes)  # b2a node → its first daBit
        self.dabit_bits: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.bool_),) * 2
        self.dabit_ring: tuple[np.ndarray, np.ndarray] = (np.zeros(0, U64),) * 2

    @property
    def tamper(self):
        return self.server.tamper

    # ------------------------------------------------------------ helpers

    def _pair(self, key_purpose: int, index: int, shape: tuple[int, ...]) -> tuple:
        s = self.server
        return (prg.ring(s.key_prev, index, key_purpose, shape),
                prg.ring(s.key_next, index, key_purpose, shape))

    def _public(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from veil.backend.rep3 import trivial

        return trivial(value, self.server.me)

    # ------------------------------------------------------------ inputs

    def note_inputs(self, specs, values) -> None:
        """Hash both components of every input as received (compared in the last round)."""
        firsts = [np.ascontiguousarray(values[s.node][0]) for s in specs]
        seconds = [np.ascontiguousarray(values[s.node][1]) for s in specs]
        self.input_hashes = (_hash(b"inputs", *firsts), _hash(b"inputs", *seconds))

    # ------------------------------------------------------------ products

    def beaver_start(self, node, x, y) -> tuple[np.ndarray, tuple]:
        """Beaver's multiplication of a `mul` or `and` with its checked triples (the
        heads of its items): this server's second components of ρ = x − a and
        σ = y − b (XOR for bits and words), to send to its predecessor, and what
        beaver_finish needs."""
        a, b, c = self._gate_triples(node)
        shape = node.type.shape
        x, y = (tuple(np.broadcast_to(np.asarray(v[j]), shape) for j in range(2))
                for v in (x, y))
        return _beaver_parts(x, y, (a, b, c), node.type.base not in (BOOL, WORD))

    def beaver_finish(self, node, kept: tuple, theirs: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The product's two components from the opened ρ, σ: z = c + σ·a + ρ·b + ρ·σ
        (XOR and AND for bits and words), the public ρ·σ as the sharing (p, 0, 0)."""
        return _beaver_product(kept, theirs, self.server.me, self.opened)

    # ------------------------------------------------------------ daBits

    def _make_dabits(self, round_three: tuple[list, list]) -> tuple:
        """Start the daBits (Escudero et al., Crypto 2020: a random bit shared both in
        Z_2 and in Z_2^64): r = r0 ⊕ r1 ⊕ r2, component j drawn from the key of the two
        servers that hold it, so no server knows r; in the ring, r0 ⊕ r1 = r0 + r1 −
        2·r0·r1 and then with r2, two Beaver products with checked triples. The first
        product's openings go out with the bucket checks (`round_three`: the messages
        and layouts of that round); returns what _finish_dabits needs of it."""
        s = self.server
        count = self.plan.dabits
        self.dabit_bits = (prg.bits(s.key_prev, 0, DABITS, (count,)),
                           prg.bits(s.key_next, 0, DABITS, (count,)))
        part, kept = _beaver_parts(self._dabit_component(0), self._dabit_component(1),
                                   self._dabit_triples(0), True)
        round_three[0].append(self.tamper.sent("openings", ("dabits", 1), part))
        round_three[1].append(((2, count), False))
        return kept

    def _finish_dabits(self, kept: tuple, first: np.ndarray) -> None:
        """The daBits' second product (its own preprocessing round) and their ring values."""
        s, count = self.server, self.plan.dabits
        with np.errstate(over="ignore"):
            p = _beaver_product(kept, first, s.me, self.opened)
            r0, r1, r2 = (self._dabit_component(j) for j in range(3))
            t = tuple(r0[j] + r1[j] - U64(2) * p[j] for j in range(2))
            part, kept = _beaver_parts(t, r2, self._dabit_triples(1), True)
            sent = [self.tamper.sent("openings", ("dabits", 2), part)]
            (theirs,) = s.exchange(PREPROCESS_ROUND_BASE + 4, sent, [((2, count), False)])
            q = _beaver_product(kept, theirs, s.me, self.opened)
            self.dabit_ring = tuple(t[j] + r2[j] - U64(2) * q[j] for j in range(2))

    def _dabit_component(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Component j of the daBits' bits, r_j, as a ring sharing (r_j in place j, 0
        elsewhere): this server's pair of it."""
        me = self.server.me
        zero = np.zeros(self.plan.dabits, dtype=U64)
        return (self.dabit_bits[0].astype(U64) if j == me else zero,
                self.dabit_bits[1].astype(U64) if j == (me + 1) % SERVERS else zero)

    def _dabit_triples(self, which: int) -> tuple[tuple, tuple, tuple]:
        """The checked triples of the daBits' first (0) or second (1) product."""
        plan = self.plan
        heads = self.pools[plan.dabit_pool].heads
        assert heads is not None
        lo = plan.dabit_base + which * plan.dabits
        rows = [tuple(h[r, lo:lo + plan.dabits] for h in heads) for r in range(3)]
        return rows[0], rows[1], rows[2]

    def dabit_start(self, node, bit) -> tuple[np.ndarray, tuple]:
        """A `b2a` with its daBits: this server's second component of c = b ⊕ r (to
        send to its predecessor), and what dabit_finish needs."""
        first = self.dabit_offsets[node.id]
        shape = node.type.shape
        size = node.type.size
        r = [self.dabit_bits[j][first:first + size].reshape(shape) for j in range(2)]
        c = [np.broadcast_to(np.asarray(bit[j], dtype=np.bool_), shape) ^ r[j] for j in range(2)]
        part = np.array(c[1], copy=True)  # (ascontiguousarray would make a scalar 1-d)
        return part, (c[0], part, first)

    def dabit_finish(self, node, kept: tuple, theirs: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """b = c ⊕ r = c + r − 2·c·r in the ring, with c opened: each component of r
        negated where c is 1, and c added as the sharing (c, 0, 0)."""
        c0, part, first = kept
        shape = node.type.shape
        size = node.type.size
        c = c0 ^ part ^ np.asarray(theirs, dtype=np.bool_).reshape(shape)
        _feed(self.opened, c)
        out = []
        with np.errstate(over="ignore"):
            for j in range(2):
                r = self.dabit_ring[j][first:first + size].reshape(shape)
                z = np.where(c, U64(0) - r, r)
                if _holds_public(self.server.me, j):
                    z = z + c.astype(U64)
                out.append(np.asarray(z, dtype=U64))
        return out[0], out[1]

    def _gate_triples(self, node) -> tuple[tuple, tuple, tuple]:
        """The checked triples of a Beaver gate, shaped like its result: (a, b, c), each
        as this server's two components. The gate's items in its pool are heads
        offset … offset + items; bool gates' bits are packed after the words."""
        gate = self.gates[node.id]
        pool = self.plan.pools[gate.pool]
        heads = self.pools[gate.pool].heads
        assert heads is not None, "the preprocessing did not run"
        shape = node.type.shape
        if pool.kind == RING:
            lo, hi = gate.offset, gate.offset + gate.items
            rows = [tuple(h[r, lo:hi].reshape(shape) for h in heads) for r in range(3)]
        elif node.type.base == BOOL:
            start, size = gate.offset, gate.items
            first, last = start // 8, (start + size - 1) // 8 + 1
            rows = [tuple(np.unpackbits(h[r].view(np.uint8)[first:last])
                          [start % 8:start % 8 + size].astype(np.bool_).reshape(shape)
                          for h in heads) for r in range(3)]
        else:  # words: the items of this gate's words, viewed as words again
            per_word = 64 // pool.unit
            lo, hi = gate.offset * per_word, (gate.offset + gate.items) * per_word
            rows = [tuple(h[r, lo:hi].view(U64).reshape(shape) for h in heads)
                    for r in range(3)]
        return rows[0], rows[1], rows[2]

    def record(self, node, x, y, z) -> None:
        """Keep a matrix product's operands and result (this server's components), to
        check after the circuit (every other product is computed from checked triples)."""
        gate = self.gates[node.id]
        pool = self.plan.pools[gate.pool]
        state = self.pools[gate.pool]
        assert node.op == "matmul" and not pool.beaver, node.op
        if gate.freivalds is not None:
            state.xs.append(_Freivalds(node.id, pool.k, gate.freivalds, x, y, z,
                                       self.plan.freivalds_reps))
            state.ys.append(None)
            state.zs.append(None)
            return
        k = pool.k
        items = [_matmul_items(xj, yj, k) for xj, yj in zip(x, y, strict=True)]
        state.xs.append(tuple(i[0] for i in items))
        state.ys.append(tuple(i[1] for i in items))
        state.zs.append(tuple(np.asarray(zj, dtype=U64).reshape(-1) for zj in z))

    def triple_parts(self) -> list[np.ndarray]:
        """Preprocessing round 1: this server's product parts of every pool's triples (to
        the predecessor), with a and b drawn from the pairwise keys."""
        parts = []
        s = self.server
        for index, pool in enumerate(self.plan.pools):
            k = pool.k if pool.kind == RING else 1
            # one stream a key: a, b and the zero-share draws of all triples, one after
            # the other; c is computed into the place of this key's zero-share draws
            shape = (2 * k + 1, pool.triple_words)
            mine = prg.ring_writable(s.key_prev, index, TRIPLES, shape)
            other = prg.ring_writable(s.key_next, index, TRIPLES, shape)
            if pool.kind == RING:  # a0·b0 + a0·b1 + a1·b0 = a0·(b0 + b1) + a1·b0
                a0, b0, a1, b1 = mine[:k], mine[k:2 * k], other[:k], other[k:2 * k]
                c = mine[2 * k]
                prod = b0 + b1
                prod *= a0
                prod += a1 * b0
                c += prod.sum(axis=0, dtype=U64) if k > 1 else prod[0]
                c -= other[2 * k]
            else:  # items of pool.unit bits, packed in the rows' words
                (a0, b0, c), (a1, b1, c1) = _item_rows(pool, mine), _item_rows(pool, other)
                prod = b0 ^ b1
                prod &= a0
                c ^= prod
                c ^= a1 & b0
                c ^= c1
                mine[2].view(c.dtype)[pool.triples:] = 0  # the last word's padding
            self.pools[index].triples = (mine, other)
            parts.append(self.tamper.sent("reshares", ("triples", index), mine[2 * k]))
        return parts

    def triple_layout(self) -> list[tuple[tuple[int, ...], bool]]:
        return [((p.triple_words,), False) for p in self.plan.pools]

    def triples_received(self, arrays: list[np.ndarray]) -> None:
        for state, arr, pool in zip(self.pools, arrays, self.plan.pools, strict=True):
            assert state.triples is not None
            k = pool.k if pool.kind == RING else 1
            state.triples[1][2 * k] = arr

    # ------------------------------------------------------------ preprocessing

    def preprocess(self) -> None:
        """The preprocessing rounds: every pool's triples, a coin, the bucket checks and
        the daBits (the checks' zero tests are compared with the others in the last
        round)."""
        if not self.plan.pools:
            return
        s = self.server
        start = len(s.rounds_sent)
        got = s.exchange(PREPROCESS_ROUND_BASE + 1, self.triple_parts(), self.triple_layout())
        self.triples_received(got)
        coin = self._pair(PRE_COIN, 0, (2,))
        got = s.exchange(PREPROCESS_ROUND_BASE + 2,
                         [self.tamper.sent("openings", ("pre-coin",), coin[1])], [((2,), False)])
        seed = coin[0] ^ coin[1] ^ got[0]
        _feed(self.opened, seed)
        checks, sent = [], []
        for index, pool in enumerate(self.plan.pools):
            check = self._bucket_check(index, pool, seed.tobytes())
            checks.append(check)
            sent.append(self.tamper.sent("openings", ("buckets", index),
                                         check.second_openings()))
        layout = [((p.preprocess_opened_units,), False) for p in self.plan.pools]
        dabits = self._make_dabits((sent, layout)) if self.plan.dabits else None
        got = s.exchange(PREPROCESS_ROUND_BASE + 3, sent, layout)
        if dabits is not None:
            self._finish_dabits(dabits, got.pop())
        for check, theirs in zip(checks, got, strict=True):
            _feed(self.opened, check.open(theirs))
            self._note_zero(*check.zero_test(s.me), not check.ring)
        self.preprocess_rounds_sent = s.rounds_sent[start:]
        del s.rounds_sent[start:]

    def _bucket_check(self, index: int, pool, key: bytes) -> _PoolCheck:
        """Order the pool's triples by the coin `key`: place p holds triple order[p].
        Places 0..N−1 are the heads, places N·j + i (1 ≤ j < B) the other members of
        bucket i, the last C places the opened triples; each member is checked against
        its head, each opened triple against the item (0, 0, 0). Keeps the heads."""
        state = self.pools[index]
        assert state.triples is not None
        order = _order(key, index, pool.triples)
        n, others = pool.items, pool.slots - 1
        placed = tuple(_take_columns(_item_rows(pool, rows), order) for rows in state.triples)
        state.triples = None
        state.heads = tuple(np.ascontiguousarray(rows[:, :n]) for rows in placed)
        items = []
        for heads in state.heads:
            rows = np.zeros((heads.shape[0], pool.triples - n), dtype=heads.dtype)
            for j in range(others):  # the opened triples' columns stay zero
                rows[:, j * n:(j + 1) * n] = heads
            items.append(rows)
        members = tuple(rows[:, n:] for rows in placed)
        return _PoolCheck(pool, (items[0], items[1]), members, pool.preprocess_opened_units)

    # ------------------------------------------------------------ after the circuit

    def run(self, first_round: int) -> None:
        """The three verification rounds; VerificationFailed if a check fails."""
        s = self.server
        # round 1: the coin, and the outputs reshared
        coin = self._pair(COIN, 0, (2,))
        sent = [self.tamper.sent("openings", ("coin",), coin[1])]
        fresh = []
        for k, out in enumerate(s.circuit.outputs):
            x = self._value(out.node, out.type.base == BOOL)
            mask = self._zero_share(k, x[0].shape, out.type.base == BOOL)
            y_me = (x[0] ^ mask) if out.type.base == BOOL else \
                np.asarray(x[0] + mask, dtype=U64)
            fresh.append((x, y_me))
            sent.append(self.tamper.sent("reshares", ("output", k), y_me))
        layout = [((2,), False)] + [(o.type.shape, o.type.base == BOOL) for o in s.circuit.outputs]
        got = s.exchange(first_round, sent, layout)
        seed = coin[0] ^ coin[1] ^ got[0]
        _feed(self.opened, seed)
        for (x, y_me), y_next, out in zip(fresh, got[1:], s.circuit.outputs, strict=True):
            y = (y_me, y_next)
            self.outputs.append(y)
            if out.type.base == BOOL:
                self._note_zero(x[0] ^ y[0], x[1] ^ y[1], True)
            else:
                with np.errstate(over="ignore"):
                    self._note_zero(np.asarray(y[0] - x[0], dtype=U64),
                                    np.asarray(y[1] - x[1], dtype=U64), False)
        # round 2: open ρ, σ of every item i against head (i + s) mod N, s from the coin
        key = seed.tobytes()
        checks = []
        sent = []
        for index, pool in enumerate(self.plan.pools):
            if pool.beaver:
                continue  # its products were computed from its triples: nothing to check
            state = self.pools[index]
            assert state.heads is not None, "the preprocessing did not run"
            shift = _rotation(key, index, pool.items)
            heads = tuple(np.concatenate((rows[:, shift:], rows[:, :shift]), axis=1)
                          for rows in state.heads)
            check = _PoolCheck(pool, self._items(index, key), heads, pool.online_opened_units)
            checks.append(check)
            sent.append(self.tamper.sent("openings", ("pool", index), check.second_openings()))
        layout = [((p.online_opened_units,), False) for p in self.plan.pools if not p.beaver]
        got = s.exchange(first_round + 1, sent, layout) if checks else []
        for check, theirs in zip(checks, got, strict=True):
            _feed(self.opened, check.open(theirs))
            self._note_zero(*check.zero_test(s.me), not check.ring)
        # round 3: digests of the openings, the inputs and the zero tests, both ways
        opened = self.opened.digest()
        left = (opened, self.input_hashes[1], self.zero[0].digest())
        right = (opened, self.input_hashes[0], self.zero[1].digest())
        msgs = {NEXT: b"".join(left), PREV: b"".join(right)}
        last = first_round + (2 if checks else 1)
        got = s.exchange_both(last, msgs, CHECK_DIGESTS * DIGEST_BYTES)
        names = ("the opened values", "the input shares", "the products")
        for direction, mine in ((NEXT, left), (PREV, right)):
            theirs = bytes(got[direction])
            peer = (s.me + (1 if direction == NEXT else -1)) % SERVERS
            for k, name in enumerate(names):
                if theirs[32 * k:32 * (k + 1)] != mine[k]:
                    raise VerificationFailed(
                        f"server {s.me}: verification failed: server {peer} and this server "
                        f"disagree on {name}")

    def _value(self, node_id: int, is_bool: bool) -> tuple[np.ndarray, np.ndarray]:
        value = self.server.values[node_id]
        if not isinstance(value, tuple):
            value = self._public(np.asarray(value))
        first, second = (np.asarray(v) for v in value)
        if is_bool:
            return first.astype(np.bool_), second.astype(np.bool_)
        return first.astype(U64, copy=False), second.astype(U64, copy=False)

    def _zero_share(self, k: int, shape, is_bool: bool) -> np.ndarray:
        s = self.server
        if is_bool:
            return prg.bits(s.key_prev, k, RESHARE, shape) ^ prg.bits(s.key_next, k, RESHARE, shape)
        with np.errstate(over="ignore"):
            return prg.ring(s.key_prev, k, RESHARE, shape) - prg.ring(s.key_next, k, RESHARE, shape)

    def _items(self, index: int, key: bytes) -> tuple[np.ndarray, np.ndarray]:
        """A matrix-product pool's items as each component's rows (x: k rows, y: k rows,
        z) × N; a reduced matrix product's items are its combinations under the coin
        `key`."""
        pool = self.plan.pools[index]
        state = self.pools[index]
        for j, entry in enumerate(state.xs):
            if isinstance(entry, _Freivalds):
                state.xs[j], state.ys[j], state.zs[j] = entry.items(key)
        k = pool.k
        out = []
        for j in range(2):
            rows = np.empty((2 * k + 1, pool.items), dtype=U64)
            for parts, first, width in ((state.xs, 0, k), (state.ys, k, k), (state.zs, 2 * k, 1)):
                at = 0
                for part in parts:  # (items, k) each, written transposed
                    block = np.asarray(part[j]).reshape(-1, width)
                    rows[first:first + width, at:at + block.shape[0]] = block.T
                    at += block.shape[0]
            out.append(rows)
        return out[0], out[1]

    def _note_zero(self, first: np.ndarray, second: np.ndarray, xor: bool) -> None:
        """A shared w that must be zero, this server's components of it. Pair (i, i+1)
        tests it: the left server i hashes w_i + w_(i+1), the right server i+1 hashes
        −w_(i+2) (for XOR sharings w_i ⊕ w_(i+1) and w_(i+2)); the two hashes of all the
        run's tests are equal exactly when every w is zero."""
        for h, left in zip(self.zero, (True, False), strict=True):
            _feed(h, _side(first, second, xor, left))


def _take_columns(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """rows[:, index], one 1-D gather a row (np.take along axis 1 copies elementwise),
    or all at once when there are more rows than columns (the triples of a few long dot
    products: 2k + 1 rows each; a Python loop over 600,001 rows took seconds)."""
    if rows.shape[0] > index.size:
        return np.ascontiguousarray(rows[:, index])
    out = np.empty((rows.shape[0], index.size), dtype=rows.dtype)
    for r in range(rows.shape[0]):
        np.take(rows[r], index, out=out[r])
    return out


def _beaver_parts(x: tuple, y: tuple, triples: tuple, ring: bool) -> tuple[np.ndarray, tuple]:
    """Beaver's multiplication of x and y (this server's two components each) with
    checked triples (a, b, c): the second components of ρ = x − a and σ = y − b (XOR for
    bits and words) to send, and what _beaver_product needs."""
    a, b, c = triples
    rho, sigma = [], []
    with np.errstate(over="ignore"):
        for j in range(2):
            if ring:
                rho.append(np.subtract(x[j], a[j], dtype=U64))
                sigma.append(np.subtract(y[j], b[j], dtype=U64))
            else:
                rho.append(np.bitwise_xor(x[j], a[j]))
                sigma.append(np.bitwise_xor(y[j], b[j]))
    part = np.stack([rho[1], sigma[1]])
    return part, (rho[0], part, a, b, c, sigma[0], ring)


def _beaver_product(kept: tuple, theirs: np.ndarray, me: int, opened
                    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The product's two components from the opened ρ, σ: z = c + σ·a + ρ·b + ρ·σ
    (XOR and AND for bits and words), the public ρ·σ as the sharing (p, 0, 0); ρ and σ
    go into `opened` (a hash), which the servers compare before any output."""
    rho0, part, a, b, c, sigma0, ring = kept
    with np.errstate(over="ignore"):
        if ring:
            rho = rho0 + part[0] + theirs[0]
            sigma = sigma0 + part[1] + theirs[1]
        else:
            rho = rho0 ^ part[0] ^ theirs[0]
            sigma = sigma0 ^ part[1] ^ theirs[1]
        _feed(opened, rho, sigma)
        out = []
        for j in range(2):
            if ring:
                z = c[j] + sigma * a[j] + rho * b[j]
                if _holds_public(me, j):
                    z += rho * sigma
            else:
                z = c[j] ^ (sigma & a[j]) ^ (rho & b[j])
                if _holds_public(me, j):
                    z ^= rho & sigma
            out.append(np.asarray(z))
    return out[0], out[1]


def _side(first: np.ndarray, second: np.ndarray, xor: bool, left: bool) -> np.ndarray:
    if first.dtype == np.bool_:
        return np.packbits(first ^ second if left else second)
    if xor:  # words, or narrower items of a word pool
        return np.asarray(first ^ second if left else second)
    with np.errstate(over="ignore"):
        return np.asarray(first + second if left else U64(0) - second, dtype=U64)


def _unit_dtype(unit: int) -> np.dtype:
    return np.dtype(f"uint{unit}")


def _item_rows(pool, rows: np.ndarray) -> np.ndarray:
    """A component's triple rows (a, b, c) as arrays of the pool's items: views into
    the rows of 64-bit words (a word pool's narrower items packed in them)."""
    return rows.view(_unit_dtype(pool.unit))[:, :pool.triples]


class _Freivalds:
    """A matrix product Z = X·W checked by random 0/1 combinations (veil.verification):
    R rows θ·X with θ·Z when its n rows are more than R, R columns W·φ with Z·φ when its
    m columns are; the combinations, drawn from the coin once it is open, are the items."""

    def __init__(self, node: int, k: int, shape: tuple[int, int, bool, bool], x, y, z,
                 reps: int) -> None:  # fmt: skip
        self.node, self.k, self.reps = node, k, reps
        self.n, self.m, self.rows, self.columns = shape
        self.x = [np.asarray(v, dtype=U64).reshape(self.n, k) for v in x]
        self.y = [np.asarray(v, dtype=U64).reshape(k, self.m) for v in y]
        self.z = [np.asarray(v, dtype=U64).reshape(self.n, self.m) for v in z]

    def items(self, key: bytes) -> tuple[tuple, tuple, tuple]:
        theta = prg.bits(key, self.node, ROWS, (self.reps, self.n)) if self.rows else None
        phi = prg.bits(key, self.node, COLUMNS, (self.m, self.reps)) if self.columns else None
        xs, ys, zs = [], [], []
        for x, y, z in zip(self.x, self.y, self.z, strict=True):
            if theta is not None:  # sums of rows, mod 2^64
                x, z = _combine(theta, x), _combine(theta, z)
            if phi is not None:  # sums of columns
                y, z = _combine(phi.T, y.T).T, _combine(phi.T, z.T).T
            rows, cols = _matmul_items(x, y, self.k)
            xs.append(rows)
            ys.append(cols)
            zs.append(np.ascontiguousarray(z, dtype=U64).reshape(-1))
        return tuple(xs), tuple(ys), tuple(zs)


COMBINE_CHUNK = 1 << 15  # rows of a 0/1 combination widened to 64 bits at a time


def _combine(bits: np.ndarray, values: np.ndarray) -> np.ndarray:
    """bits (R × n, 0/1) @ values (n × c) mod 2^64, widening the bits a block of rows
    at a time (R × n as 64-bit integers would be 48 bytes a row of a million-row
    product)."""
    out = np.zeros((bits.shape[0], values.shape[1]), dtype=U64)
    with np.errstate(over="ignore"):
        for start in range(0, bits.shape[1], COMBINE_CHUNK):
            stop = start + COMBINE_CHUNK
            out += bits[:, start:stop].astype(U64) @ values[start:stop]
    return out


def _matmul_items(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per output element of x @ y: the row of x and the column of y it uses."""
    x2 = np.asarray(x, dtype=U64).reshape(-1, k)
    y2 = np.asarray(y, dtype=U64).reshape(k, -1)
    n, m = x2.shape[0], y2.shape[1]
    return np.repeat(x2, m, axis=0), np.tile(np.ascontiguousarray(y2.T), (n, 1))


def _rotation(seed: bytes, index: int, count: int) -> int:
    """A rotation s in [0, count) from the coin: a 128-bit draw mod count (bias below
    count/2^128)."""
    return int.from_bytes(prg.stream(seed, index, ROTATION, 16), "little") % count


def _order(seed: bytes, index: int, count: int) -> np.ndarray:
    """A uniformly random permutation of `count` triples from the coin: the indices
    sorted by 128-bit draws (high, low) (a tie, and so any bias, has probability below
    count²/2^129). The checks read it as "triple q goes to place order[q]": the inverse
    of a uniform permutation is uniform too.

    Computed in O(count): two stable radix passes (numpy's stable argsort of 16-bit
    keys) order the triples by the top 32 bits of `high`; runs that share those bits (a
    few hundred pairs for millions of triples) are then ordered by the full 128 bits,
    so the result is exactly the ranking of the 128-bit draws."""
    high = np.frombuffer(prg.stream(seed, index, ORDER, 8 * count), dtype=U64)
    if count < 2:
        return np.zeros(count, dtype=np.intp)
    top = (high >> U64(32)).astype(np.uint32)
    digits = top.view(np.uint16).reshape(-1, 2)[:, ::-1] if _BIG_ENDIAN \
        else top.view(np.uint16).reshape(-1, 2)  # [:, 0] the low 16 bits, [:, 1] the high
    order = np.argsort(digits[:, 0], kind="stable")
    order = order[np.argsort(digits[order, 1], kind="stable")]
    keys = top[order]
    tied = keys[1:] == keys[:-1]
    if tied.any():
        follows = np.zeros(count, dtype=np.bool_)  # the same top bits as the one before
        follows[1:] = tied
        in_run = follows.copy()
        in_run[:-1] |= tied
        places = np.flatnonzero(in_run)
        run = np.cumsum(~follows[places])  # which run each of those places is in
        ranked = order[places]
        low = prg.ring_at(seed, index, ORDER_TIES, ranked)  # drawn only where needed
        order[places] = ranked[np.lexsort((low, high[ranked], run))]
    return order


class _PoolCheck:
    """The openings and zero tests of checking L items against L triples, item i
    against triple i. Both come as each component's rows × L: x (or a) k rows, y (or b)
    k rows, z (or c) one, of the pool's unit.

    The zero test uses w = z − c − σ·x − ρ·y + ρ·σ, equal to Furukawa et al.'s
    z − c − σ·a − ρ·b − ρ·σ for a = x − ρ, b = y − σ."""

    def __init__(self, pool, items: tuple[np.ndarray, np.ndarray],
                 triples: tuple[np.ndarray, np.ndarray], units: int) -> None:  # fmt: skip
        self.ring = pool.kind == RING
        k = self.k = pool.k if self.ring else 1
        self.items, self.triples = items, triples
        count = items[0].shape[1]
        self.dtype = items[0].dtype
        self.span = count * k
        self.shape = (count, k) if k > 1 else (count,)
        # what this server sends: its second components of ρ and σ (a word pool's
        # narrower items packed in 64-bit words, the last one zero padded)
        self.message = (np.empty if self.ring else np.zeros)(units, dtype=U64)
        self.rho1, self.sigma1 = self._halves(self.message)
        self._combine(self._item(1, 0), self._triple(1, 0), self.rho1, minus=True)
        self._combine(self._item(1, 1), self._triple(1, 1), self.sigma1, minus=True)

    def _row(self, rows: np.ndarray, which: int) -> np.ndarray:
        k = self.k
        if which == 2:
            return rows[2 * k]
        return rows[which * k:(which + 1) * k].T if k > 1 else rows[which]

    def _item(self, component: int, which: int) -> np.ndarray:
        """x (which 0), y (1) or z (2) of the items, this component (0 or 1)."""
        return self._row(self.items[component], which)

    def _triple(self, component: int, which: int) -> np.ndarray:
        """a (0), b (1) or c (2) of the triples, this component (0 or 1)."""
        return self._row(self.triples[component], which)

    def _combine(self, u, v, out, minus: bool = False) -> None:
        if not self.ring:
            np.bitwise_xor(u, v, out=out)
        elif minus:
            np.subtract(u, v, out=out)
        else:
            np.add(u, v, out=out)

    def _dot(self, u, v, out=None):
        """Σ over the k axis of u·v (u ∧ v for words), one value a check."""
        if not self.ring:
            return np.bitwise_and(u, v, out=out)
        if self.k > 1:
            return np.sum(u * v, axis=-1, dtype=U64, out=out)
        return np.multiply(u, v, out=out)

    def second_openings(self) -> np.ndarray:
        return self.message

    def _halves(self, message: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ρ and σ in a message of 64-bit words."""
        values = message.view(self.dtype)
        return (values[:self.span].reshape(self.shape),
                values[self.span:2 * self.span].reshape(self.shape))

    def open(self, theirs: np.ndarray) -> np.ndarray:
        """The full ρ and σ, computed in place in the received third components."""
        self.open_rho, self.open_sigma = self._halves(theirs)
        for full, second, which in ((self.open_rho, self.rho1, 0),
                                    (self.open_sigma, self.sigma1, 1)):
            self._combine(full, second, full)
            self._combine(full, self._item(0, which), full)
            self._combine(full, self._triple(0, which), full, minus=True)
        return theirs

    def zero_test(self, me: int) -> tuple[np.ndarray, np.ndarray]:
        """This server's components of w = z − c − σ·x − ρ·y + ρ·σ for every check:
        zero for all exactly when the items and triples agree. The public term
        enters as the sharing (p, 0, 0)."""
        rho, sigma = self.open_rho, self.open_sigma
        public = self._dot(rho, sigma)
        scratch = np.empty_like(public)
        out = []
        for j in range(2):
            w = self._dot(sigma, self._item(j, 0))
            term = self._dot(rho, self._item(j, 1), out=scratch)
            if self.ring:
                w += term
                w += self._triple(j, 2)
                np.subtract(self._item(j, 2), w, out=w)
                if _holds_public(me, j):
                    w += public
            else:
                w ^= term
                w ^= self._triple(j, 2)
                w ^= self._item(j, 2)
                if _holds_public(me, j):
                    w ^= public
            out.append(w)
        return out[0], out[1]
