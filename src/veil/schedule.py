"""Scheduling a protocol-level circuit into rounds, and the traffic each round carries.

An interactive primitive is ready one round after its last operand; local work costs
no round (longest-path levels of the DAG, computed with networkx). All interactive work
of one level is one round: each server sends at most ONE message per peer in it, with
every payload of the round batched. The executor (veil.backend.rep3) runs exactly this
schedule and the cost report predicts traffic from it, so measured rounds and bytes
equal the prediction (tests/test_rep3_traffic.py checks that for every program).

Wire format of a message: a fixed header (HEADER_BYTES) and a payload made of the ring
and word elements (8 bytes each, in node order) followed by all single-bit payloads of
the message packed 8 to a byte. Products and openings send to the predecessor only; a
truncation sends to both neighbours (see `trunc_roles`), and so do shuffle stages
(`shuffle_links`), so a server sends at most two messages a round, one per peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veil import verification
from veil.ir import ops
from veil.ir.nodes import Circuit, Node
from veil.types import BOOL
from veil.verification import Plan

HEADER_BYTES = 36
INPUT_SEED_BYTES = 16
SERVERS = 3
PREV, NEXT = 0, 1  # directions of a message: to server me-1, to server me+1


HIGH_LEVEL = {"lt", "eq", "b2a", "or", "select", "to_bits", *ops.TABLES}
"""Interactive ops that the rep3 lowering replaces; none may reach the schedule."""
ONE_WAY = {"shuffle_step", "reveal", ops.A2B_PAIR}
"""Interactive ops whose messages `shuffle_links` lists (not every server to its
predecessor, as products do)."""


def is_interactive(node: Node, circuit: Circuit) -> bool:
    """Does this protocol-level node need a round of communication?"""
    if node.op in ops.MATH:
        raise ValueError(f"math op {node.op} left unexpanded in a protocol circuit")
    interactive = ops.is_interactive(node.op, [circuit.node(a).type for a in node.args])
    if interactive and node.op in HIGH_LEVEL and not (
            node.op == "b2a" and circuit.security == "malicious"):  # a daBit's opening
        raise ValueError(f"high-level op {node.op} left in a protocol circuit")
    return interactive


def shuffle_links(node: Node) -> list[tuple[int, int]]:
    """(sender, direction) of every message of a shuffle stage, an opening or an
    `a2b_pair`, each carrying one element per element of the node (veil.backend.
    rep3_shuffle, rep3_a2b): an opening, every server to its predecessor; shuffle stages
    0 and 1, the pair's first server to the third one (its predecessor); stage 2, the
    pair's two servers to each other; `a2b_pair`, its server to that one's predecessor."""
    if node.op == "reveal":
        return [(s, PREV) for s in range(SERVERS)]
    if node.op == ops.A2B_PAIR:  # server g to g + 2 (veil.backend.rep3_a2b)
        return [(node.attr("server"), PREV)]
    j = shuffle_pair(node)
    if node.attr("stage") < 2:
        return [(j, PREV)]
    return [(j, NEXT), ((j + 1) % SERVERS, PREV)]


def shuffle_pair(node: Node) -> int:
    """The pair of servers (j, j+1) that knows the permutation of a shuffle stage; the
    first pair rotates with the shuffle's group, so the load spreads over the servers."""
    return (node.attr("group") + node.attr("stage")) % SERVERS


def payload_bytes(ring_elements: int, bits: int) -> int:
    return 8 * ring_elements + (bits + 7) // 8


def trunc_roles(size: int, position: int) -> list[slice]:
    """Which elements of a truncation each server leads, as slices of the flat array.

    In the truncation protocol (veil.backend.rep3) one server of three, the sender,
    does most of the sending for an element. The elements are cut into three contiguous
    blocks (contiguous, so that each server works on views, not copies), and block k of
    the node at `position` in the circuit is led by server (k + position) mod 3, so that
    the work is spread evenly, also over many small truncations."""
    bounds = [size * k // SERVERS for k in range(SERVERS + 1)]
    blocks = [slice(bounds[k], bounds[k + 1]) for k in range(SERVERS)]
    return [blocks[(s - position) % SERVERS] for s in range(SERVERS)]


def trunc_traffic(size: int, position: int) -> list[tuple[int, int]]:
    """Ring elements each server sends in one truncation: (to predecessor, to successor).

    For an element it leads, a server sends two masked values to each neighbour; for
    the others it sends one pad, to the neighbour that is not the sender."""
    n = [len(range(size)[r]) for r in trunc_roles(size, position)]
    return [(2 * n[i] + n[(i + 1) % SERVERS], 2 * n[i] + n[(i - 1) % SERVERS])
            for i in range(SERVERS)]


@dataclass
class Round:
    """One round: its interactive nodes, and what each server sends to each neighbour."""

    nodes: list[int] = field(default_factory=list)
    ring: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in range(SERVERS)])
    bits: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in range(SERVERS)])

    @property
    def ring_sent(self) -> list[int]:
        return [sum(r) for r in self.ring]

    @property
    def bits_sent(self) -> list[int]:
        return [sum(b) for b in self.bits]

    def bytes_to(self, server: int, direction: int) -> int:
        """Bytes of the message `server` sends in `direction` (PREV or NEXT), or 0."""
        if not self.ring[server][direction] and not self.bits[server][direction]:
            return 0
        return HEADER_BYTES + payload_bytes(self.ring[server][direction],
                                            self.bits[server][direction])

    def messages(self, server: int) -> int:
        return sum(1 for d in (PREV, NEXT) if self.ring[server][d] or self.bits[server][d])

    def bytes_sent(self, server: int) -> int:
        return sum(self.bytes_to(server, d) for d in (PREV, NEXT))


@dataclass
class Schedule:
    level: dict[int, int]
    rounds: list[Round]  # every round between the servers (verification rounds last)
    local_by_level: list[list[int]]
    position: dict[int, int] = field(default_factory=dict)  # node id → index in the circuit
    circuit_rounds: int = -1  # the rounds of the circuit's own nodes (all, by default)
    plan: Plan | None = None  # the verified mode's checks (veil.verification)
    # the verified mode's preprocessing, on no input: triples, coin, bucket checks
    # (with the daBits' first products), the daBits' second products
    pre_rounds: list[Round] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.circuit_rounds < 0:
            self.circuit_rounds = len(self.rounds)

    @property
    def compute_rounds(self) -> int:
        """All rounds between the servers: the circuit's, then the verification's."""
        return len(self.rounds)

    @property
    def verify_rounds(self) -> int:
        return len(self.rounds) - self.circuit_rounds

    @property
    def preprocess_rounds(self) -> int:
        return len(self.pre_rounds)


def schedule(circuit: Circuit) -> Schedule:
    """Levels by longest path (interactive nodes weigh 1), grouped into rounds.

    Computed once per circuit object and kept on it (circuits are immutable): a server,
    the parties and the report all ask for it, and processes forked after it was
    computed share it."""
    cached = circuit.__dict__.get("_schedule")
    if cached is not None:
        return cached
    result = _schedule(circuit)
    object.__setattr__(circuit, "_schedule", result)
    return result


def _levels(circuit: Circuit, interactive: set[int]) -> dict[int, int]:
    """Each node's level: the most interactive nodes on a path to it, itself included.

    Circuits list their nodes in a topological order (every operand before its users),
    so one pass in that order does it; networkx's topological sort (and its import,
    a tenth of a second of every `veil run`) is needed only for a circuit that is not
    in order."""
    level: dict[int, int] = {}
    for n in circuit.nodes:
        try:
            base = max([level[a] for a in n.args], default=0)
        except KeyError:
            break  # an operand after its user
        level[n.id] = base + (1 if n.id in interactive else 0)
    else:
        return level
    import networkx as nx

    graph = circuit.digraph()
    level = {}
    for node_id in nx.topological_sort(graph):
        base = max((level[p] for p in graph.predecessors(node_id)), default=0)
        level[node_id] = base + (1 if node_id in interactive else 0)
    return level


def _schedule(circuit: Circuit) -> Schedule:
    interactive = {n.id for n in circuit.nodes if is_interactive(n, circuit)}
    level = _levels(circuit, interactive)
    depth = max(level.values(), default=0)
    rounds = [Round() for _ in range(depth)]
    verified = circuit.security == "malicious"
    local_by_level: list[list[int]] = [[] for _ in range(depth + 1)]
    for position, node in enumerate(circuit.nodes):  # topological: keep it within a level
        lv = level[node.id]
        if node.id not in interactive:
            local_by_level[lv].append(node.id)
            continue
        rnd = rounds[lv - 1]
        rnd.nodes.append(node.id)
        size = node.type.size
        if node.op == "trunc":
            for s, (to_prev, to_next) in enumerate(trunc_traffic(size, position)):
                rnd.ring[s][PREV] += to_prev
                rnd.ring[s][NEXT] += to_next
            continue
        if node.op in ONE_WAY:
            table = rnd.bits if node.type.base == BOOL else rnd.ring
            for s, direction in shuffle_links(node):
                table[s][direction] += size
            continue
        if node.op == "b2a":  # verified: the bit XOR its daBit, opened (one bit)
            for s in range(SERVERS):
                rnd.bits[s][PREV] += size
            continue
        # a verified `mul` or `and` opens ρ and σ (Beaver): two elements, not one
        opened = 2 if verified and verification.is_beaver(node) else 1
        for s in range(SERVERS):
            if node.type.base == BOOL:
                rnd.bits[s][PREV] += opened * size
            else:
                rnd.ring[s][PREV] += opened * size
    position = {n.id: i for i, n in enumerate(circuit.nodes)}
    if circuit.security != "malicious":
        return Schedule(level, rounds, local_by_level, position)
    checks = verification.plan(circuit, [r.nodes for r in rounds])
    circuit_rounds = len(rounds)
    pre_rounds = []
    if checks.pools:  # no input needed: the triples' products; the coin; the buckets
        triples, coin, buckets = Round(), Round(), Round()
        for s in range(SERVERS):
            triples.ring[s][PREV] += sum(p.triple_words for p in checks.pools)
            coin.ring[s][PREV] += verification.COIN_ELEMENTS
            buckets.ring[s][PREV] += sum(p.preprocess_opened_units for p in checks.pools)
        pre_rounds = [triples, coin, buckets]
        if checks.dabits:  # each of a daBit's two products opens ρ and σ
            second = Round()
            for s in range(SERVERS):
                buckets.ring[s][PREV] += 2 * checks.dabits
                second.ring[s][PREV] += 2 * checks.dabits
            pre_rounds.append(second)
    # after the circuit: the coin with the outputs' resharing; the openings; the digests
    coin, openings, digests = Round(), Round(), Round()
    ring_out, bits_out = _elements([o.type for o in circuit.outputs])
    for s in range(SERVERS):
        coin.ring[s][PREV] += verification.COIN_ELEMENTS + ring_out
        coin.bits[s][PREV] += bits_out
        openings.ring[s][PREV] += sum(p.online_opened_units for p in checks.pools)
        for d in (PREV, NEXT):
            digests.ring[s][d] += verification.CHECK_DIGESTS * verification.DIGEST_BYTES // 8
    # no products checked after the computation, nothing to open: no openings' round
    rounds += [coin, openings, digests] if checks.checked_pools else [coin, digests]
    return Schedule(level, rounds, local_by_level, position, circuit_rounds, checks,
                    pre_rounds)


@dataclass(frozen=True)
class Traffic:
    """Predicted traffic of one run: rounds, messages and bytes sent by each server."""

    rounds: int
    input_rounds: int
    compute_rounds: int
    output_rounds: int
    bytes_per_server: tuple[int, ...]
    messages_per_server: tuple[int, ...]
    input_bytes_per_owner: dict[str, int]
    output_bytes_per_receiver: dict[str, int]
    ring_elements_per_server: tuple[int, ...]  # ring elements and words, 8 bytes each
    bits_per_server: tuple[int, ...]  # single bits, packed 8 to a byte per message
    # the verified mode's preprocessing (in rounds and bytes_per_server too)
    preprocess_rounds: int = 0
    preprocess_bytes_per_server: tuple[int, ...] = (0, 0, 0)


def _elements(types) -> tuple[int, int]:
    ring = sum(t.size for t in types if t.base != BOOL)
    bits = sum(t.size for t in types if t.base == BOOL)
    return ring, bits


def traffic(circuit: Circuit, sched: Schedule) -> Traffic:
    """What the rep3 executor will send, derived from the schedule alone."""
    sent = [0] * SERVERS
    messages = [0] * SERVERS
    ring_sent = [0] * SERVERS
    bits_sent = [0] * SERVERS
    pre_sent = [sum(rnd.bytes_sent(s) for rnd in sched.pre_rounds) for s in range(SERVERS)]
    for rnd in sched.pre_rounds + sched.rounds:
        for s in range(SERVERS):
            sent[s] += rnd.bytes_sent(s)
            messages[s] += rnd.messages(s)
            ring_sent[s] += rnd.ring_sent[s]
            bits_sent[s] += rnd.bits_sent[s]
    owners: dict[str, list] = {}
    for spec in circuit.inputs:
        owners.setdefault(spec.owner, []).append(spec.type)
    input_bytes = {}
    for owner, types in owners.items():
        ring, bits = _elements(types)
        # to each server: its two components of every input
        # server 0 gets two 16-byte seeds; servers 1 and 2 a seed and the component x2
        # (veil.runtime.sharing.input_messages)
        input_bytes[owner] = SERVERS * HEADER_BYTES + 2 * INPUT_SEED_BYTES + \
            2 * (INPUT_SEED_BYTES + payload_bytes(ring, bits))
    receivers: dict[str, list] = {}
    for out in circuit.outputs:
        for r in out.receivers:
            receivers.setdefault(r, []).append(out.type)
    output_bytes = {}
    verified = circuit.security == "malicious"
    for receiver, types in receivers.items():
        ring, bits = _elements(types)
        per_server = HEADER_BYTES + payload_bytes(ring, bits)
        if verified:  # and the digest of the component the receiver gets from another
            per_server += verification.DIGEST_BYTES
            ring += verification.DIGEST_BYTES // 8
        output_bytes[receiver] = SERVERS * per_server
        for s in range(SERVERS):
            sent[s] += per_server
            messages[s] += 1
            ring_sent[s] += ring
            bits_sent[s] += bits
    input_rounds = 1 if owners else 0
    # verified: the receivers' acceptance of their shares is a second one-way trip
    output_rounds = (2 if verified else 1) if receivers else 0
    return Traffic(sched.preprocess_rounds + input_rounds + sched.compute_rounds + output_rounds,
                   input_rounds, sched.compute_rounds, output_rounds, tuple(sent),
                   tuple(messages), input_bytes, output_bytes, tuple(ring_sent),
                   tuple(bits_sent), sched.preprocess_rounds, tuple(pre_sent))
