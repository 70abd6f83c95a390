"""Analysis `leakage`: warnings about what outputs reveal together or by repetition.

Each output on its own may pass every policy and still leak:

- W1201 *differencing*: two values sent to one receiver combine sets of records that
  differ in fewer than `min_aggregate` records (`sum(x)` and `sum(x[1..N])`): their
  difference is about those few records alone.
- W1202 *model extraction*: a party receives at least as many values derived from
  another owner's input as that input has elements, and every other input those values
  depend on is its own (or the same owner's): it asks as many questions as the secret
  has numbers, with answers it can fit (credit scoring's 1000 decisions on applicants
  the bank knows, against the other bank's 7 weights).
- W1203 *echo*: an output that depends only on its receiver's own inputs (or on no
  input) tells the receiver nothing new; probably a mistake.

All three are read off veil.analysis.provenance; they are warnings, not proofs. The
search for differencing pairs compares every pair of distinct record sets (of two or
more records) sent to one receiver while there are at most about 450 of them
(MAX_COMPARISONS pairs); with more, each set is compared with its nearest neighbours in
order of size and first record (where sliding windows and prefixes sit), so a pair far
apart in that order can be missed.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from veil.analysis.provenance import Provenance
from veil.analysis.rowsets import SetTable
from veil.diagnostics import Diagnostic, Span
from veil.ir.nodes import Circuit, OutputSpec

NAME = "leakage"
SUMMARY = "warnings: differencing, model extraction, outputs that echo their receiver's data"

DEFAULT_MIN_AGGREGATE = 10
MAX_COMPARISONS = 100_000


def _element(out: OutputSpec, flat: int) -> str:
    if not out.type.shape:
        return f"`{out.name}`"
    index = np.unravel_index(flat, out.type.shape)
    return f"`{out.name}[{', '.join(str(int(i)) for i in index)}]`"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


class _Distances:
    """|A △ B| for interned sets, each read in its cheapest form once."""

    def __init__(self, table: SetTable):
        self.table = table
        self.small: dict[int, frozenset[int] | None] = {}
        self.bits: dict[int, int] = {}

    def _small(self, s: int) -> frozenset[int] | None:
        if s not in self.small:
            self.small[s] = self.table.small(s)
        return self.small[s]

    def _bits(self, s: int) -> int:
        if s not in self.bits:
            self.bits[s] = self.table.bits(s)
        return self.bits[s]

    def __call__(self, x: int, y: int) -> int:
        a, b = self._small(x), self._small(y)
        if a is not None and b is not None:
            return len(a ^ b)
        if a is not None or b is not None:  # count the small one's units inside the other
            few, many = (a, y) if a is not None else (b, x)
            assert few is not None
            inside = int(self.table.contains(many, np.fromiter(few, np.int64)).sum())
            return self.table.size(x) + self.table.size(y) - 2 * inside
        return (self._bits(x) ^ self._bits(y)).bit_count()


def _closest_pair(table: SetTable, sets: list[int], k: int
                  ) -> tuple[int, int, int, int] | None:  # fmt: skip
    """(difference, set, set, pairs found) for the two sets that differ least, when
    that is fewer than k units; None otherwise.

    Sets within k units of each other have sizes within k; sorting by size and first
    unit puts sliding windows and prefixes next to each other. Within the budget every
    pair is compared; beyond it, each set with its nearest neighbours in that order.
    """
    order = sorted(sets, key=lambda s: (table.size(s), table.lowest(s)))
    sizes = [table.size(s) for s in order]
    reach = max(1, MAX_COMPARISONS // max(1, len(order)))
    distance = _Distances(table)
    best: tuple[int, int, int] | None = None
    pairs = 0
    for i in range(len(order)):
        for j in range(i + 1, min(len(order), i + 1 + reach)):
            if sizes[j] - sizes[i] >= k:
                break
            diff = distance(order[i], order[j])
            if diff < k:
                pairs += 1
                if best is None or diff < best[0]:
                    best = (diff, order[i], order[j])
    return None if best is None else (*best, pairs)


def _by_receiver(circuit: Circuit) -> list[tuple[str, list[OutputSpec]]]:
    """Each receiver with the outputs it gets, receivers in the order they first appear."""
    receivers = dict.fromkeys(r for o in circuit.outputs for r in o.receivers)
    return [(r, [o for o in circuit.outputs if r in o.receivers]) for r in receivers]


def differencing(circuit: Circuit, prov: Provenance, records: dict[str, bool],
                 min_aggregate: dict[str, int], spans: dict[str, Span]
                 ) -> list[Diagnostic]:  # fmt: skip
    """W1201 for each receiver and record-level input with two record sets too alike."""
    owners = {i.name: i.owner for i in circuit.inputs}
    found: list[Diagnostic] = []
    for receiver, outs in _by_receiver(circuit):
        for name in (i.name for i in circuit.inputs if records.get(i.name)):
            table = prov.tables[name]
            k = min_aggregate.get(name, DEFAULT_MIN_AGGREGATE)
            first: dict[int, tuple[OutputSpec, int]] = {}  # set id → where it is first seen
            for out in outs:
                if name not in prov.deps[out.node]:
                    continue
                ids = prov.ids(out.node, name).reshape(-1)
                distinct, where = np.unique(ids, return_index=True)
                for set_id, flat in zip(distinct.tolist(), where.tolist(), strict=True):
                    if table.size(set_id) >= 2 and set_id not in first:
                        first[set_id] = (out, flat)
            if len(first) < 2:
                continue
            best = _closest_pair(table, list(first), k)
            if best is None:
                continue
            diff, set_a, set_b, pairs = best
            (out_a, el_a), (out_b, el_b) = first[set_a], first[set_b]
            size_a, size_b = table.size(set_a), table.size(set_b)
            if (circuit.outputs.index(out_a), el_a) > (circuit.outputs.index(out_b), el_b):
                (out_a, el_a, size_a), (out_b, el_b, size_b) = (out_b, el_b, size_b), \
                    (out_a, el_a, size_a)
            more = f" ({pairs:,} such pairs found)" if pairs > 1 else ""
            whose = f"the policy's for {name}" if name in min_aggregate else "the default"
            found.append(Diagnostic(
                "W1201",
                f"{receiver} receives {_element(out_a, el_a)} and {_element(out_b, el_b)}, "
                f"which combine {_plural(size_a, 'record')} and "
                f"{_plural(size_b, 'record')} of {owners[name]}.{name} but differ in only "
                f"{_plural(diff, 'record')}{more}: their difference is about those alone",
                spans.get(out_b.name),
                f"differencing: make record sets sent to one party differ by at least {k} "
                f"records ({whose} min_aggregate), or send only one of them",
                severity="warning"))
    return found


def model_extraction(circuit: Circuit, prov: Provenance, spans: dict[str, Span]
                     ) -> list[Diagnostic]:  # fmt: skip
    """W1202 for each receiver and other owner whose inputs it could fit."""
    owners = {i.name: i.owner for i in circuit.inputs}
    found: list[Diagnostic] = []
    for receiver, outs in _by_receiver(circuit):
        victims: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
        where: dict[str, OutputSpec] = {}
        for spec in circuit.inputs:
            owner = spec.owner
            if owner == receiver:
                continue
            using = [o for o in outs if spec.name in prov.deps[o.node]]
            values = sum(prov.dependent(o.node, spec.name) for o in using)
            if not using or values < spec.type.size:
                continue
            others = {n for o in using for n in prov.inputs_of(o.node)} - {spec.name}
            controlled = {owners[n] for n in others}
            if receiver in controlled and controlled <= {receiver, owner}:
                victims[owner].append((spec.name, spec.type.size, values))
                where.setdefault(owner, using[0])
        for owner, items in victims.items():
            values = max(v for _, _, v in items)
            mine = sorted({n for o in outs for n in prov.inputs_of(o.node)
                           if owners[n] == receiver})
            what = ", ".join(f"{n} ({_plural(size, 'element')})" for n, size, _ in items)
            found.append(Diagnostic(
                "W1202",
                f"{receiver} receives {_plural(values, 'value')} derived from {owner}'s "
                f"{what}, computed on its own {', '.join(mine)}: it may be able to estimate "
                f"{'them' if len(items) > 1 else 'it'} (model extraction)",
                spans.get(where[owner].name),
                f"send {receiver} fewer values (an aggregate), or have {owner} confirm that "
                "this is acceptable",
                severity="warning"))
    return found


def echo(circuit: Circuit, prov: Provenance, spans: dict[str, Span]) -> list[Diagnostic]:
    """W1203 for each output and receiver that owns every input the output depends on."""
    owners = {i.name: i.owner for i in circuit.inputs}
    found: list[Diagnostic] = []
    for out in circuit.outputs:
        used = prov.inputs_of(out.node)
        for receiver in out.receivers:
            if any(owners[n] != receiver for n in used):
                continue
            what = (f"only {receiver}'s own {', '.join(used)}" if used
                    else "no secret input (it is a public value)")
            found.append(Diagnostic(
                "W1203", f"`{out.name}` to {receiver} depends on {what}: it tells "
                f"{receiver} nothing it does not already know",
                spans.get(out.name),
                "check that the output uses the inputs you meant, or remove "
                f"{receiver} from its `to` list", severity="warning"))
    return found


def run(circuit: Circuit, prov: Provenance, records: dict[str, bool],
        min_aggregate: dict[str, int] | None = None, spans: dict[str, Span] | None = None
        ) -> list[Diagnostic]:  # fmt: skip
    """Every leakage warning of a circuit (spans: output name → its `output` statement)."""
    spans = spans or {}
    return [*differencing(circuit, prov, records, min_aggregate or {}, spans),
            *model_extraction(circuit, prov, spans),
            *echo(circuit, prov, spans)]
