"""Scheduling a protocol-level circuit into rounds, and the traffic each round carries.

An interactive primitive is ready one round after its last operand; local work costs
no round (longest-path levels of the DAG, computed with networkx). All interactive work
of one level is one round: each server sends at most ONE message per peer in it, with
every payload of the round batched. Most primitives send to the predecessor (server i
to i−1); a shuffle stage also sends to the successor (`links` says who sends to whom).
The executor (veil.backend.rep3) runs exactly this schedule and the cost report
predicts traffic from it, so measured rounds and bytes equal the prediction
(tests/test_rep3_traffic.py checks that for every program).

Wire format of a message: a fixed header (HEADER_BYTES) and a payload made of the ring
and word elements (8 bytes each, in node order) followed by all single-bit payloads of
the message packed 8 to a byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from veil.ir import ops
from veil.ir.nodes import Circuit, Node
from veil.types import BOOL

HEADER_BYTES = 36
SERVERS = 3
TRUNC_SENDER = 0  # the server that sends in a truncation (to its predecessor, server 2)

Link = tuple[int, int]
"""(sender, receiver) of a message between two servers."""


HIGH_LEVEL = {"lt", "eq", "b2a", "or", "select", "to_bits", *ops.TABLES}
"""Interactive ops that the rep3 lowering replaces; none may reach the schedule."""


def is_interactive(node: Node, circuit: Circuit) -> bool:
    """Does this protocol-level node need a round of communication?"""
    interactive = ops.is_interactive(node.op, [circuit.node(a).type for a in node.args])
    if interactive and node.op in HIGH_LEVEL:
        raise ValueError(f"high-level op {node.op} left in a protocol circuit")
    return interactive


def links(node: Node) -> list[Link]:
    """Who sends to whom for an interactive node, each message carrying one element per
    element of the node. Products and openings: every server to its predecessor;
    truncation: server 0 to server 2; a shuffle stage: see veil.backend.rep3_shuffle."""
    if node.op == "trunc":
        return [(TRUNC_SENDER, (TRUNC_SENDER - 1) % SERVERS)]
    if node.op == "shuffle_step":
        j = shuffle_pair(node)
        if node.attr("stage") < 2:  # the pair's first server hands its part on
            return [(j, (j - 1) % SERVERS)]
        return [(j, (j + 1) % SERVERS), ((j + 1) % SERVERS, j)]  # the pair reshares
    return [(s, (s - 1) % SERVERS) for s in range(SERVERS)]


def shuffle_pair(node: Node) -> int:
    """The pair of servers (j, j+1) that knows the permutation of a shuffle stage; the
    first pair rotates with the shuffle's group, so the load spreads over the servers."""
    return (node.attr("group") + node.attr("stage")) % SERVERS


def payload_bytes(ring_elements: int, bits: int) -> int:
    return 8 * ring_elements + (bits + 7) // 8


@dataclass
class Round:
    """One round: its interactive nodes, and what each server sends to each other one
    (at most one message per (sender, receiver))."""

    nodes: list[int] = field(default_factory=list)
    ring: dict[Link, int] = field(default_factory=dict)  # ring elements and words
    bits: dict[Link, int] = field(default_factory=dict)  # single bits

    def message_bytes(self, sender: int, receiver: int) -> int:
        ring, bits = self.ring.get((sender, receiver), 0), self.bits.get((sender, receiver), 0)
        return HEADER_BYTES + payload_bytes(ring, bits) if ring or bits else 0

    def receivers(self, server: int) -> list[int]:
        return [r for r in range(SERVERS) if self.message_bytes(server, r)]

    def bytes_sent(self, server: int) -> int:
        return sum(self.message_bytes(server, r) for r in range(SERVERS))

    def messages_sent(self, server: int) -> int:
        return len(self.receivers(server))

    def elements_sent(self, server: int) -> tuple[int, int]:
        """(ring elements, bits) this server sends in the round."""
        return (sum(v for (s, _), v in self.ring.items() if s == server),
                sum(v for (s, _), v in self.bits.items() if s == server))


@dataclass
class Schedule:
    level: dict[int, int]
    rounds: list[Round]
    local_by_level: list[list[int]]

    @property
    def compute_rounds(self) -> int:
        return len(self.rounds)


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


def _schedule(circuit: Circuit) -> Schedule:
    graph = circuit.digraph()
    interactive = {n.id for n in circuit.nodes if is_interactive(n, circuit)}
    level: dict[int, int] = {}
    for node_id in nx.topological_sort(graph):
        preds = graph.predecessors(node_id)
        base = max((level[p] for p in preds), default=0)
        level[node_id] = base + (1 if node_id in interactive else 0)
    depth = max(level.values(), default=0)
    rounds = [Round() for _ in range(depth)]
    local_by_level: list[list[int]] = [[] for _ in range(depth + 1)]
    for node in circuit.nodes:  # stored order is topological: keep it within a level
        lv = level[node.id]
        if node.id not in interactive:
            local_by_level[lv].append(node.id)
            continue
        rnd = rounds[lv - 1]
        rnd.nodes.append(node.id)
        size = node.type.size
        table = rnd.bits if node.type.base == BOOL else rnd.ring
        for link in links(node):
            table[link] = table.get(link, 0) + size
    return Schedule(level, rounds, local_by_level)


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
    for rnd in sched.rounds:
        for s in range(SERVERS):
            sent[s] += rnd.bytes_sent(s)
            messages[s] += rnd.messages_sent(s)
            ring, bits = rnd.elements_sent(s)
            ring_sent[s] += ring
            bits_sent[s] += bits
    owners: dict[str, list] = {}
    for spec in circuit.inputs:
        owners.setdefault(spec.owner, []).append(spec.type)
    input_bytes = {}
    for owner, types in owners.items():
        ring, bits = _elements(types)
        # to each server: its two components of every input
        input_bytes[owner] = SERVERS * (HEADER_BYTES + payload_bytes(2 * ring, 2 * bits))
    receivers: dict[str, list] = {}
    for out in circuit.outputs:
        for r in out.receivers:
            receivers.setdefault(r, []).append(out.type)
    output_bytes = {}
    for receiver, types in receivers.items():
        ring, bits = _elements(types)
        per_server = HEADER_BYTES + payload_bytes(ring, bits)
        output_bytes[receiver] = SERVERS * per_server
        for s in range(SERVERS):
            sent[s] += per_server
            messages[s] += 1
            ring_sent[s] += ring
            bits_sent[s] += bits
    input_rounds = 1 if owners else 0
    output_rounds = 1 if receivers else 0
    return Traffic(input_rounds + sched.compute_rounds + output_rounds, input_rounds,
                   sched.compute_rounds, output_rounds, tuple(sent), tuple(messages),
                   input_bytes, output_bytes, tuple(ring_sent), tuple(bits_sent))
