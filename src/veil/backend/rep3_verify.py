"""The verified (malicious) mode of rep3: one server's side of the checks.

A server that deviates from the protocol can only (a) add errors to the products it
sends, since every other component it influences is also held by an honest server, and
(b) send values that disagree with what an honest server holds (openings, outputs).
So the verified mode checks, after the computation and before any output leaves a
server (the plan and its soundness: veil.verification):

1. every product (`mul`, `matmul`, `and`) against B random multiplication triples each,
   after C triples were opened and checked in the clear. The triples' c are computed by
   the semi-honest product in the first round (their a and b are drawn from the
   pairwise keys, so they cost nothing); after the last round the servers open a coin
   nobody could predict (a replicated sharing drawn from the three keys), which orders
   the triples at random;
2. every opened value (coin, ρ, σ, the opened triples) is the same at every server;
3. every input share is the same at both servers that hold it (an owner who sends
   inconsistent shares is caught, as is a server that changes its copy);
4. the outputs are reshared (a fresh random sharing, each component sent by the server
   that computes it) and the resharing checked like a product; a receiver gets each
   component from one server and its SHA-256 from the other server that holds it.

Checks 1, 2 and 4 are zero tests. A shared w is zero exactly when w_i + w_(i+1) =
−w_(i+2): server i hashes its side, server i+1 its side, and they compare. Every pair of
servers compares (one 3×32-byte digest each way in the last round: openings, inputs,
zero tests), and the two honest servers decide exactly from their own state, so both
of them see any deviation and both refuse to send outputs.

Rounds after the circuit: (1) coin and output resharing, (2) openings, (3) digests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from veil.backend import prg
from veil.net.transport import PeerError
from veil.schedule import NEXT, PREV, SERVERS
from veil.types import BOOL
from veil.verification import CHECK_DIGESTS, DIGEST_BYTES, RING, WORDS, Gate, Plan

if TYPE_CHECKING:
    from veil.backend.rep3 import Rep3Server

U64 = np.uint64
TRIPLE_A, TRIPLE_B, TRIPLE_ZERO, COIN, RESHARE, ORDER = 16, 17, 18, 19, 20, 21


class VerificationFailed(PeerError):
    """A check of the verified mode failed: some server deviated (or an owner sent
    inconsistent shares). Nothing about the data follows from which check failed."""


def _hash(*parts: bytes | np.ndarray) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else p)
    return h.digest()


def output_digest(receiver: str, component: int, packed: bytes | bytearray) -> bytes:
    """What a server sends a receiver about the output component it does not send."""
    return _hash(b"veil output component", receiver.encode(), bytes([component]), bytes(packed))


@dataclass
class PoolState:
    """One pool's items (gate operands and results, both components) and triples."""

    xs: list = field(default_factory=list)  # per gate: (first, second) of x, as items
    ys: list = field(default_factory=list)
    zs: list = field(default_factory=list)
    bools: list = field(default_factory=list)  # word pool: bool gates' (x, y, z) bits
    a: tuple | None = None
    b: tuple | None = None
    c: tuple | None = None


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
        self.zero_parts: list[tuple[np.ndarray, np.ndarray, bool]] = []  # must be 0 (xor?)
        self.opened: list[np.ndarray] = []  # every value opened to the servers

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

    def record(self, node, x, y, z) -> None:
        """Keep a checked product's operands and result (this server's components)."""
        gate = self.gates[node.id]
        pool = self.plan.pools[gate.pool]
        state = self.pools[gate.pool]
        if node.op == "matmul":
            k = pool.k
            items = [_matmul_items(xj, yj, k) for xj, yj in zip(x, y, strict=True)]
            state.xs.append(tuple(i[0] for i in items))
            state.ys.append(tuple(i[1] for i in items))
            state.zs.append(tuple(np.asarray(zj, dtype=U64).reshape(-1) for zj in z))
            return
        shape = node.type.shape

        def flat(v, j):
            arr = np.broadcast_to(np.asarray(v[j]), shape).reshape(-1)
            return arr if arr.dtype == np.bool_ else arr.astype(U64, copy=False)

        triple = tuple(tuple(flat(v, j) for j in range(2)) for v in (x, y, z))
        if node.type.base == BOOL:
            state.bools.append(triple)
        else:
            state.xs.append(triple[0])
            state.ys.append(triple[1])
            state.zs.append(triple[2])

    def triple_parts(self) -> list[np.ndarray]:
        """Round 1: this server's product parts of every pool's triples (to the
        predecessor), with a and b drawn from the pairwise keys."""
        parts = []
        for index, pool in enumerate(self.plan.pools):
            vector = pool.kind == RING and pool.k > 1
            shape = (pool.triples, pool.k) if vector else (pool.triples,)
            a, b = self._pair(TRIPLE_A, index, shape), self._pair(TRIPLE_B, index, shape)
            state = self.pools[index]
            state.a, state.b = a, b
            zp, zn = self._pair(TRIPLE_ZERO, index, (pool.triples,))
            with np.errstate(over="ignore"):
                if vector:
                    z = (a[0] * b[0] + a[0] * b[1] + a[1] * b[0]).sum(axis=1, dtype=U64) + zp - zn
                elif pool.kind == RING:
                    z = a[0] * b[0] + a[0] * b[1] + a[1] * b[0] + zp - zn
                else:
                    z = (a[0] & b[0]) ^ (a[0] & b[1]) ^ (a[1] & b[0]) ^ zp ^ zn
            state.c = (np.asarray(z, dtype=U64), None)
            parts.append(self.tamper.sent("reshares", ("triples", index), state.c[0]))
        return parts

    def triple_layout(self) -> list[tuple[tuple[int, ...], bool]]:
        return [((p.triples,), False) for p in self.plan.pools]

    def triples_received(self, arrays: list[np.ndarray]) -> None:
        for state, arr in zip(self.pools, arrays, strict=True):
            assert state.c is not None
            state.c = (state.c[0], arr)

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
        self.opened.append(seed)
        for (x, y_me), y_next, out in zip(fresh, got[1:], s.circuit.outputs, strict=True):
            y = (y_me, y_next)
            self.outputs.append(y)
            if out.type.base == BOOL:
                self.zero_parts.append((x[0] ^ y[0], x[1] ^ y[1], True))
            else:
                with np.errstate(over="ignore"):
                    self.zero_parts.append((np.asarray(y[0] - x[0], dtype=U64),
                                            np.asarray(y[1] - x[1], dtype=U64), False))
        # round 2: open ρ, σ for every (item, triple) and the cut-and-choose triples
        key = seed.tobytes()
        checks = []
        sent = []
        for index, pool in enumerate(self.plan.pools):
            order = _order(key, index, pool.triples)
            check = _PoolCheck(pool, self._items(index), self.pools[index], order)
            checks.append(check)
            sent.append(self.tamper.sent("openings", ("pool", index), check.second_openings()))
        layout = [((c.opened_size,), False) for c in checks]
        got = s.exchange(first_round + 1, sent, layout) if checks else []
        for check, theirs in zip(checks, got, strict=True):
            opened = check.open(theirs)
            self.opened.append(opened)
            if not check.triples_ok():
                raise VerificationFailed(f"server {s.me}: verification failed: an opened "
                                         f"multiplication triple is wrong")
            self.zero_parts.append((*check.zero_test(s.me), not check.ring))
        # round 3: digests of the openings, the inputs and the zero tests, both ways
        opened = _hash(b"opened", *self.opened)
        left = (opened, self.input_hashes[1], self._zero_digest(left=True))
        right = (opened, self.input_hashes[0], self._zero_digest(left=False))
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

    def _items(self, index: int) -> tuple:
        """The pool's gate items: x, y (N × k, or N words) and z (N), both components."""
        pool = self.plan.pools[index]
        state = self.pools[index]
        out = []
        for parts, bool_part in ((state.xs, 0), (state.ys, 1), (state.zs, 2)):
            comps = []
            for j in range(2):
                arrays = [p[j] for p in parts]
                if pool.kind == WORDS:
                    bits = [t[bool_part][j] for t in state.bools]
                    arrays.append(_pack_bits(bits, pool.items - self.plan.word_items_of_words))
                    comps.append(np.concatenate(arrays) if arrays else np.zeros(0, U64))
                else:
                    if bool_part < 2 and pool.k > 1:
                        arrays = [arr.reshape(-1, pool.k) for arr in arrays]
                    else:
                        arrays = [arr.reshape(-1) for arr in arrays]
                    comps.append(np.concatenate(arrays))
            out.append(tuple(comps))
        return tuple(out)

    def _zero_digest(self, left: bool) -> bytes:
        """Pair (i, i+1) tests w = 0: the left server i hashes w_i + w_(i+1), the right
        server i+1 hashes −w_(i+2) (for XOR sharings w_i ⊕ w_(i+1) and w_(i+2)); the two
        hashes are equal exactly when w = 0."""
        return _hash(b"zero", *(_side(first, second, xor, left)
                                for first, second, xor in self.zero_parts))


def _side(first: np.ndarray, second: np.ndarray, xor: bool, left: bool) -> np.ndarray:
    if first.dtype == np.bool_:
        return np.packbits(first ^ second if left else second)
    if xor:
        return np.asarray(first ^ second if left else second, dtype=U64)
    with np.errstate(over="ignore"):
        return np.asarray(first + second if left else U64(0) - second, dtype=U64)


def _pack_bits(bits: list[np.ndarray], words: int) -> np.ndarray:
    """Bool gates' bits, concatenated and packed 64 to a word (zero padded)."""
    out = np.zeros(words * 8, dtype=np.uint8)
    if bits:
        packed = np.packbits(np.concatenate(bits))
        out[:packed.size] = packed
    return out.view(U64)


def _matmul_items(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per output element of x @ y: the row of x and the column of y it uses."""
    x2 = np.asarray(x, dtype=U64).reshape(-1, k)
    y2 = np.asarray(y, dtype=U64).reshape(k, -1)
    n, m = x2.shape[0], y2.shape[1]
    return np.repeat(x2, m, axis=0), np.tile(np.ascontiguousarray(y2.T), (n, 1))


def _order(seed: bytes, index: int, count: int) -> np.ndarray:
    """A uniformly random order of `count` triples from the coin: the order of 128-bit
    draws (a tie, and so any bias, has probability below count²/2^129). The first 64
    bits decide alone unless two of them are equal, which is rare and checked."""
    draws = np.frombuffer(prg.stream(seed, index, ORDER, 16 * count), dtype=U64)
    high, low = draws[0::2], draws[1::2]
    order = np.argsort(high)
    ranked = high[order]
    if count > 1 and bool(np.any(ranked[1:] == ranked[:-1])):
        order = np.lexsort((low, high))
    return order


class _PoolCheck:
    """The openings and zero tests of one pool, once the coin ordered its triples.

    Arrays of a pool of elementwise products (and of words) are flat; of dot products
    of length k they have a last axis of k. Item g is checked with the triples
    slots[g, 0..B-1]."""

    def __init__(self, pool, items, state: PoolState, order: np.ndarray) -> None:
        self.pool = pool
        self.ring = pool.kind == RING
        self.vector = self.ring and pool.k > 1
        (self.x, self.y, self.z) = items
        self.opened_idx = order[:pool.opened]
        self.slots = order[pool.opened:].reshape(pool.items, pool.slots)
        assert state.a is not None and state.b is not None and state.c is not None
        self.a, self.b, self.c = state.a, state.b, state.c
        spread = (slice(None), None, slice(None)) if self.vector else (slice(None), None)
        with np.errstate(over="ignore"):
            self.a_s = tuple(self.a[j][self.slots] for j in range(2))
            self.b_s = tuple(self.b[j][self.slots] for j in range(2))
            self.rho = tuple(self._sub(self.x[j][spread], self.a_s[j]) for j in range(2))
            self.sigma = tuple(self._sub(self.y[j][spread], self.b_s[j]) for j in range(2))
        self.parts_opened = [tuple(v[j][self.opened_idx] for j in range(2))
                             for v in (self.a, self.b, self.c)]
        self.opened_size = pool.opened_units

    def _sub(self, u, v):
        return np.asarray(u - v, dtype=U64) if self.ring else u ^ v

    def _add(self, u, v):
        return np.asarray(u + v, dtype=U64) if self.ring else u ^ v

    def _dot(self, u, v):
        if not self.ring:
            return u & v
        if self.vector:
            return (u * v).sum(axis=-1, dtype=U64)
        return u * v

    def second_openings(self) -> np.ndarray:
        parts = [p[1].reshape(-1) for p in self.parts_opened]
        parts += [self.rho[1].reshape(-1), self.sigma[1].reshape(-1)]
        return np.concatenate(parts)

    def open(self, theirs: np.ndarray) -> np.ndarray:
        """The full values from our two components and the third one received."""
        mine = [*self.parts_opened, self.rho, self.sigma]
        with np.errstate(over="ignore"):
            flat_first = np.concatenate([m[0].reshape(-1) for m in mine])
            flat_second = np.concatenate([m[1].reshape(-1) for m in mine])
            values = self._add(self._add(flat_first, flat_second), theirs)
        k = self.pool.k if self.ring else 1
        c_count, slots = self.pool.opened, self.pool.items * self.pool.slots
        cuts = np.cumsum([c_count * k, c_count * k, c_count, slots * k])
        a, b, c, rho, sigma = np.split(values, cuts)
        if self.vector:
            self.open_a, self.open_b = a.reshape(-1, k), b.reshape(-1, k)
            self.open_rho = rho.reshape(self.rho[0].shape)
            self.open_sigma = sigma.reshape(self.sigma[0].shape)
        else:
            self.open_a, self.open_b = a, b
            self.open_rho, self.open_sigma = rho.reshape(self.slots.shape), \
                sigma.reshape(self.slots.shape)
        self.open_c = c
        return values

    def triples_ok(self) -> bool:
        with np.errstate(over="ignore"):
            want = self._dot(self.open_a, self.open_b)
        return bool(np.array_equal(want, self.open_c))

    def zero_test(self, me: int) -> tuple[np.ndarray, np.ndarray]:
        """This server's components of w = z − c − <σ, a> − <ρ, b> − <ρ, σ> for every
        (item, triple): zero for all exactly when the products and triples agree. The
        public term enters as the sharing (p, 0, 0)."""
        from veil.backend.rep3 import trivial

        rho, sigma = self.open_rho, self.open_sigma
        out = []
        with np.errstate(over="ignore"):
            lifted = trivial(np.asarray(self._dot(rho, sigma)), me)
            for j in range(2):
                z = self.z[j][:, None]
                c = self.c[j][self.slots]
                if self.ring:
                    w = z - c - self._dot(sigma, self.a_s[j]) - self._dot(rho, self.b_s[j]) \
                        - lifted[j]
                else:
                    w = z ^ c ^ (sigma & self.a_s[j]) ^ (rho & self.b_s[j]) ^ lifted[j]
                out.append(np.asarray(w, dtype=U64).reshape(-1))
        return out[0], out[1]
