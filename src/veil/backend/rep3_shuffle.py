"""rep3 protocol steps for tables: the resharing shuffle and the opening to the servers.

Shuffle (Laur, Willemson, Zhang, "Round-efficient oblivious database manipulation",
ISC 2011: each permutation known to a pair of parties, applied to a two-party sharing
and reshared; for replicated sharing among three servers as in Araki, Furukawa, Ohara,
Pinkas, Rosemarin, Tsuchida, "Secure graph analysis at scale", CCS 2021). Pair j is
servers {j, j+1}; it shares the key k_{j+1}, from which both derive a permutation π_j
(AES-CTR keystream, argsort) and masks the third server does not know. A shuffle is
three stages (`shuffle_step` nodes, one round each) with pairs j, j+1, j+2:

- stage 0 turns the replicated sharing into a two-party one inside the pair: server j
  holds A = x_j + x_{j+1}, server j+1 holds B = x_{j+2}, so A + B = x;
- stages 0 and 1: both apply π_j; server j sends π_j(A) − z to server j+2 (z from
  k_{j+1}) and server j+1 keeps π_j(B) + z: now pair j+1 holds a two-party sharing of
  π_j(x), server j+1 in the role of A;
- stage 2: both apply π_j; the third server t = j+2 takes y_j (from k_j, shared with
  j) and y_t (from k_t, shared with j+1) as its new components, and the pair exchanges
  π_j(A) − y_j and π_j(B) − y_t, so both learn y_{j+1} = π_j(x) − y_j − y_t: a fresh
  replicated sharing of the shuffled x.

Every server misses the permutation of the pair it is not in, so the composition is
uniformly random to each one; every message it receives is masked by a keystream of a
key it does not hold. For bits and words the same with XOR. One message per stage
(two in the last), 4 elements sent per element shuffled.

Reveal (open to the servers): server i holds (x_i, x_{i+1}) and gets x_{i+2} from
server i+1, its successor, which sends it to its predecessor: one round. It is used
only on values that are safe to open (veil.ir.sorting says which and why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from veil.backend import prg
from veil.ir.nodes import Node
from veil.ir.tables import take_rows
from veil.schedule import NEXT, PREV, SERVERS, shuffle_links, shuffle_pair
from veil.types import BOOL, FIXED, INT

if TYPE_CHECKING:
    from veil.backend.rep3 import Rep3Server, Value

U64 = np.uint64
OPS = {"shuffle_step", "reveal"}

SHUFFLE_PERM = 4  # prg purpose: at (4·group + stage, 4, 0) of the pair's key
SHUFFLE_MASK = 5  # at (node id, 5, 0)


@dataclass
class PairShare:
    """A value between two shuffle stages: this server's part of a two-party sharing
    held by a pair of servers (None on the third server)."""

    part: np.ndarray | None


def _is_xor(node: Node) -> bool:
    """Bits and words are shared with XOR, ring values (int, fixed) additively."""
    return node.type.base not in (INT, FIXED)


def _combine(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _is_xor(node):
        return np.asarray(a ^ b)
    with np.errstate(over="ignore"):
        return np.asarray(a + b, dtype=U64)


def _remove(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _is_xor(node):
        return np.asarray(a ^ b)
    with np.errstate(over="ignore"):
        return np.asarray(a - b, dtype=U64)


def _mask(node: Node, key: bytes) -> np.ndarray:
    shape = node.type.shape
    if node.type.base == BOOL:  # 8 bits a keystream byte
        n = node.type.size
        raw = np.frombuffer(prg.stream(key, node.id, SHUFFLE_MASK, (n + 7) // 8), np.uint8)
        return np.unpackbits(raw, count=n).view(np.bool_).reshape(shape)
    return prg.ring(key, node.id, SHUFFLE_MASK, shape)


class ShuffleState:
    """Per server: the permutations drawn for the current shuffle stages (every column
    of a shuffle uses the same one, so each is drawn once)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[int, int, int], np.ndarray] = {}

    def permutation(self, key: bytes, group: int, stage: int, n: int) -> np.ndarray:
        cached = self.cache.get((group, stage, n))
        if cached is None:
            # the order of n random 64-bit draws: uniformly random unless two draws
            # are equal (probability below n²/2^65: 10^-9 for n = 200,000), and a
            # stable sort breaks such a tie the same way on both servers of the pair
            draws = prg.ring(key, 4 * group + stage, SHUFFLE_PERM, (n,))
            cached = np.argsort(draws, kind="stable")
            if len(self.cache) >= 8:
                self.cache.pop(next(iter(self.cache)))
            self.cache[(group, stage, n)] = cached
        return cached


def _pair_key(server: Rep3Server, j: int) -> bytes:
    """k_{j+1}, the key of pair {j, j+1}, on a server of that pair."""
    return server.key_next if server.me == j else server.key_prev


def _start(server: Rep3Server, node: Node, value: Value) -> np.ndarray | None:
    """This server's part of the two-party sharing a stage starts from."""
    j = shuffle_pair(node)
    if node.attr("stage") > 0:
        assert isinstance(value, PairShare)
        return value.part
    if not isinstance(value, tuple):  # a public operand: the trivial sharing
        from veil.backend.rep3 import trivial

        value = trivial(np.asarray(value), server.me)
    first, second = (np.asarray(v) for v in value)
    if first.dtype != np.bool_:
        first, second = first.astype(U64, copy=False), second.astype(U64, copy=False)
    if server.me == j:
        return _combine(node, first, second)
    if server.me == (j + 1) % SERVERS:
        return second
    return None


def incoming(me: int, node: Node) -> list[int]:
    """The directions (PREV: from server me-1, NEXT: from me+1) this server receives a
    part of the node from, as veil.schedule.shuffle_links says."""
    found = []
    for sender, direction in shuffle_links(node):
        receiver = (sender - 1 if direction == PREV else sender + 1) % SERVERS
        if receiver == me:
            found.append(PREV if sender == (me - 1) % SERVERS else NEXT)
    return found


def message_parts(server: Rep3Server, node: Node) -> tuple[dict[int, np.ndarray], object]:
    """What this server sends for a shuffle stage or a reveal (direction → array), and
    what it keeps for `finish`."""
    value = server.values[node.args[0]]
    me = server.me
    if node.op == "reveal":  # x_{me+1}: what my predecessor lacks
        assert isinstance(value, tuple)
        return {PREV: np.asarray(value[1])}, None
    j = shuffle_pair(node)
    part = _start(server, node, value)
    if part is None:  # the third server: no part, nothing to send
        return {}, None
    n = node.type.shape[0]
    perm = server.shuffles.permutation(_pair_key(server, j), node.attr("group"),
                                       node.attr("stage"), n)
    moved = take_rows(part, perm)
    if node.attr("stage") < 2:
        z = _mask(node, _pair_key(server, j))
        if me == j:  # to the third server, my predecessor
            return {PREV: _remove(node, moved, z)}, None
        return {}, _combine(node, moved, z)
    # the pair reshares: each sends its part minus the component it shares with the
    # third server (server j: y_j from k_j; server j+1: y_{j+2} from k_{j+2})
    y = _mask(node, server.key_prev if me == j else server.key_next)
    sent = _remove(node, moved, y)
    return {NEXT if me == j else PREV: sent}, (y, sent)


def finish(server: Rep3Server, node: Node, kept: object,
           received: dict[int, np.ndarray]) -> Value:  # fmt: skip
    """This server's value of the node once the round's messages arrived (`received`:
    direction → array)."""
    me = server.me
    if node.op == "reveal":  # x_{me+2} from my successor
        first, second = server.values[node.args[0]]  # type: ignore[misc]
        return _combine(node, _combine(node, np.asarray(first), np.asarray(second)),
                        received[NEXT])
    j = shuffle_pair(node)
    stage = node.attr("stage")
    if stage < 2:
        if me == (j + 1) % SERVERS:  # kept π(B) + z: the first part of the next pair
            assert isinstance(kept, np.ndarray)
            return PairShare(kept)
        if me == (j + 2) % SERVERS:  # received π(A) − z from j, my successor
            return PairShare(received[NEXT])
        return PairShare(None)
    if me == (j + 2) % SERVERS:  # the third server: (y_t, y_j) drawn from its two keys
        return (_mask(node, server.key_prev), _mask(node, server.key_next))
    assert isinstance(kept, tuple)
    y, sent = kept
    other = received[NEXT] if me == j else received[PREV]  # from the pair's other server
    middle = _combine(node, sent, other)  # y_{j+1} = π(x) − y_j − y_{j+2}
    if me == j:
        return (y, middle)  # (y_j, y_{j+1})
    return (middle, y)  # (y_{j+1}, y_{j+2})
