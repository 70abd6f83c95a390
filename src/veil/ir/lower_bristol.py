"""Inlining a Bristol Fashion circuit call as a few tensor nodes per AND layer.

A gate-per-node inlining (one IR node per gate) makes compiling and running cost
Python work per gate: 37k nodes for AES-128. Here the circuit is evaluated layer by
layer instead:

- every wire gets an AND level (ANDs on its longest input path) and a *group*: the
  batch shape it varies over (the broadcast of the batch shapes of the arguments it
  depends on) and whether it is secret. AES-128 called on one key and many blocks has
  two groups: the key schedule (one instance) and the rounds (one per block);
- per group, rows of wires are stored in tensors [rows, instances]: one bool per
  instance, or, for many instances, 64 instances to a uint64 word (bit-sliced,
  veil.ir.bitops.pack), so one word AND is 64 gates;
- for each AND level and group, one `xor_net` node computes the XOR/INV gates of that
  level (batched by their depth within the level) and gathers the operands of the
  next level's ANDs, and ONE `and` node evaluates all of those ANDs: a round of the
  protocol is one vectorized AND, and the rounds of a call are its AND depth;
- a wire needed by a group with another batch shape is converted (gathered, unpacked,
  broadcast, packed) once per level.

Constant wires (EQ gates and what follows from them alone) are folded while lowering,
so an AND with a constant costs nothing. ANDs between a public and a secret wire are
evaluated as secret ANDs (correct, one more message than necessary); ANDs of two
public wires are folded at compile time with everything else public.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from veil.ir import bitops
from veil.types import BOOL, broadcast

if TYPE_CHECKING:
    from veil.bristol import BristolCircuit
    from veil.ir.lower import Builder

AND, XOR, INV = "AND", "XOR", "INV"


@dataclass(frozen=True)
class Group:
    """Wires varying over one batch shape (padded to the call's rank), one label."""

    batch: tuple[int, ...]
    secret: bool

    @cached_property
    def size(self) -> int:
        n = 1
        for d in self.batch:
            n *= d
        return n

    @cached_property
    def packed(self) -> bool:
        return bitops.packed_layout(self.size)

    @cached_property
    def layout(self) -> tuple:
        return (self.batch, self.packed)

    def order(self) -> tuple:
        """Groups a wire may read from come first (smaller batch, or public)."""
        return (self.size, self.secret, self.batch)


@dataclass
class _Gate:
    op: str  # AND, XOR or INV (EQ and EQW are folded or aliased)
    ins: tuple[int, ...]
    out: int


@dataclass
class _Wires:
    """What the lowering knows of every wire after reading the gates once."""

    canon: list[int]  # EQW aliases (and folded identities) point at their source
    const: list[int | None]  # 0 or 1 for a constant wire
    mask: list[int]  # bit j: depends on argument j
    level: list[int]  # AND depth
    gates: list[_Gate] = field(default_factory=list)


def _read(circuit: BristolCircuit, n_args: int) -> _Wires:
    n = circuit.wires
    w = _Wires(list(range(n)), [None] * n, [0] * n, [0] * n)
    canon, const, mask, level, gates = w.canon, w.const, w.mask, w.level, w.gates
    for j in range(n_args):
        for wire in circuit.input_wires(j):
            mask[wire] = 1 << j

    def alias(out: int, source: int) -> None:
        canon[out] = source
        const[out], mask[out], level[out] = const[source], mask[source], level[source]

    def binary(kind: str, a: int, b: int, out: int) -> None:
        ca, cb = const[a], const[b]
        if ca is None and cb is None:  # the common case, kept short
            gates.append(_Gate(kind, (a, b), out))
            mask[out] = mask[a] | mask[b]
            la, lb = level[a], level[b]
            level[out] = (la if la > lb else lb) + (kind == AND)
        elif ca is not None and cb is not None:
            const[out] = ca & cb if kind == AND else ca ^ cb
        else:
            other, value = (b, ca) if ca is not None else (a, cb)
            if kind == AND and value == 0:
                const[out] = 0
            elif kind == AND or value == 0:  # x & 1 = x, x ^ 0 = x
                alias(out, other)
            else:  # x ^ 1
                unary(other, out)

    def unary(a: int, out: int) -> None:
        if const[a] is not None:
            const[out] = 1 - const[a]
        else:
            gates.append(_Gate(INV, (a,), out))
            mask[out], level[out] = mask[a], level[a]

    for gate in circuit.gates:
        op, ins, outs = gate.op, gate.ins, gate.outs
        if op in (XOR, AND):
            binary(op, canon[ins[0]], canon[ins[1]], outs[0])
        elif op == INV:
            unary(canon[ins[0]], outs[0])
        elif op == "EQW":
            alias(outs[0], canon[ins[0]])
        elif op == "EQ":
            const[outs[0]] = ins[0]
        else:  # MAND
            half = len(ins) // 2
            for k, out in enumerate(outs):
                binary(AND, canon[ins[k]], canon[ins[half + k]], out)
    return w


class _Lowering:
    """Builds the nodes of one call (see the module docstring)."""

    def __init__(self, b: Builder, circuit: BristolCircuit, args: list[int]):
        self.b, self.circuit, self.args = b, circuit, args
        shapes = [b.type(a).shape[:-1] for a in args]
        rank = max((len(s) for s in shapes), default=0)
        self.padded = [(1,) * (rank - len(s)) + s for s in shapes]
        full: tuple[int, ...] = ()
        for s in shapes:
            full = broadcast(full, s) or full
        self.full = full
        self.secret = [b.type(a).is_secret for a in args]
        self.wires = _read(circuit, len(args))
        self.loc: dict[int, tuple[Group, int, int]] = {}  # wire → (group, node, row)
        self._groups: dict[int, Group] = {}

    # ------------------------------------------------------------ groups and layouts

    def group(self, mask: int) -> Group:
        if mask not in self._groups:
            batch: tuple[int, ...] = (1,) * len(self.padded[0]) if self.padded else ()
            secret = False
            for j, shape in enumerate(self.padded):
                if mask >> j & 1:
                    batch = tuple(max(x, y) for x, y in zip(batch, shape, strict=True))
                    secret = secret or self.secret[j]
            self._groups[mask] = Group(batch, secret)
        return self._groups[mask]

    def add(self, op: str, *args: int, **attrs) -> int:
        return self.b.add(op, args, attrs)

    def to_layout(self, rows: int, source: Group, target: Group) -> int:
        """Rows stored in the source group's layout, in the target group's layout."""
        if source.packed:
            rows = self.add("unpack", rows, n=source.size)
        k = self.b.type(rows).shape[0]
        if source.batch != target.batch:
            grid = self.add("reshape", rows, shape=(k, *source.batch))
            spread = self.add("broadcast", grid, shape=(k, *target.batch))
            rows = self.add("reshape", spread, shape=(k, target.size))
        if target.packed:
            rows = self.add("pack", rows)
        return rows

    def store_arguments(self) -> None:
        for j, arg in enumerate(self.args):
            width = self.circuit.input_widths[j]
            group = self.group(1 << j)
            n = 1
            for d in self.padded[j]:
                n *= d
            flat = self.add("reshape", arg, shape=(n, width))
            rows = self.add("transpose", flat)  # [width, n]: row i = wire i of every instance
            if group.packed:
                rows = self.add("pack", rows)
            for i, wire in enumerate(self.circuit.input_wires(j)):
                self.loc[wire] = (group, rows, i)

    # ------------------------------------------------------------ xor_net nodes

    def gather(self, group: Group, wanted: list[int], gates: list[_Gate]) -> int:
        """One xor_net in `group`'s layout: loads what it needs, computes `gates` (the
        group's linear gates of one level, in order), outputs the rows of `wanted`."""
        wires = self.wires
        local = {g.out for g in gates}
        row: dict[int, int] = {}
        load: list[int] = []
        operands: dict[int, int] = {}
        remote: dict[Group, list[int]] = defaultdict(list)
        constants: list[int] = []

        def need(w: int) -> None:
            if w in local or w in row or w in constants:
                return
            if wires.const[w] is not None:
                constants.append(w)
                return
            source, node, r = self.loc[w]
            if source.layout == group.layout:
                k = operands.setdefault(node, len(operands))
                row[w] = len(load) // 2
                load.extend((k, r))
            else:
                remote[source].append(w)
                row[w] = -1  # placed below

        for g in gates:
            for i in g.ins:
                need(i)
        for w in wanted:
            need(w)
        for source, ws in sorted(remote.items(), key=lambda kv: kv[0].order()):
            picked = self.gather(source, ws, [])
            converted = self.to_layout(picked, source, group)
            k = operands.setdefault(converted, len(operands))
            for i, w in enumerate(ws):
                row[w] = len(load) // 2
                load.extend((k, i))
        # constants are folded away from gates and AND operands, and kept apart in outputs
        assert operands, "an xor_net reads at least one stored row"
        code: list[int] = []
        top = len(load) // 2
        for value in (0, 1):
            batch = [w for w in constants if wires.const[w] == value]
            if batch:
                code += [bitops.ONE if value else bitops.ZERO, len(batch)]
                for w in batch:
                    row[w] = top
                    top += 1
        depth: dict[int, int] = {}
        for g in gates:
            depth[g.out] = 1 + max((depth.get(i, 0) for i in g.ins), default=0)
        by_batch: dict[tuple[int, str], list[_Gate]] = defaultdict(list)
        for g in gates:
            by_batch[(depth[g.out], g.op)].append(g)
        for (_, op), batch in sorted(by_batch.items()):
            if op == XOR:
                code += [bitops.XOR, len(batch), *(row[g.ins[0]] for g in batch),
                         *(row[g.ins[1]] for g in batch)]
            else:
                code += [bitops.NOT, len(batch), *(row[g.ins[0]] for g in batch)]
            for g in batch:
                row[g.out] = top
                top += 1
        return self.add("xor_net", *operands, load=tuple(load), code=tuple(code),
                        out=tuple(row[w] for w in wanted))

    # ------------------------------------------------------------ the call

    def lower(self) -> list[int]:
        wires = self.wires
        self.store_arguments()
        needed_later: set[int] = set()
        outputs = [wires.canon[w] for k in range(len(self.circuit.output_widths))
                   for w in self.circuit.output_wires(k)]
        needed_later.update(outputs)
        segments: dict[tuple[Group, int], list[_Gate]] = defaultdict(list)
        ands: dict[tuple[Group, int], list[_Gate]] = defaultdict(list)
        for g in wires.gates:
            key = (self.group(wires.mask[g.out]), wires.level[g.out])
            (ands if g.op == AND else segments)[key].append(g)
            for i in g.ins:  # a wire read by another segment, or by an AND, is stored
                if g.op == AND or (self.group(wires.mask[i]), wires.level[i]) != key:
                    needed_later.add(i)
        groups = sorted({k[0] for k in (*segments, *ands)}, key=Group.order)
        depth = max((lv for _, lv in (*segments, *ands)), default=0)
        for level in range(depth + 1):
            for group in groups:
                linear = segments.get((group, level), [])
                nxt = ands.get((group, level + 1), [])
                stored = [g.out for g in linear if g.out in needed_later]
                if not nxt and not stored:
                    continue
                wanted = [g.ins[0] for g in nxt] + [g.ins[1] for g in nxt] + stored
                net = self.gather(group, wanted, linear)
                for i, w in enumerate(stored):
                    self.loc[w] = (group, net, 2 * len(nxt) + i)
                if nxt:
                    k = len(nxt)
                    left = self.add("slice", net, spec=(("r", 0, k),))
                    right = self.add("slice", net, spec=(("r", k, 2 * k),))
                    product = self.add("and", left, right)
                    for i, g in enumerate(nxt):
                        self.loc[g.out] = (group, product, i)
        return [self.output(k) for k in range(len(self.circuit.output_widths))]

    def output(self, k: int) -> int:
        """Output k as bool [*batch, width], instances broadcast over the whole call."""
        wires = self.wires
        ws = [wires.canon[w] for w in self.circuit.output_wires(k)]
        full = Group(tuple(max(x) for x in zip(*self.padded, strict=True))
                     if self.padded else (), any(self.secret))
        n = full.size
        parts: list[tuple[int, list[int]]] = []
        by_group: dict[Group, list[int]] = defaultdict(list)
        constants: list[int] = []
        for w in dict.fromkeys(ws):
            if wires.const[w] is not None:
                constants.append(w)
            else:
                by_group[self.loc[w][0]].append(w)
        for group, gws in sorted(by_group.items(), key=lambda kv: kv[0].order()):
            rows = self.gather(group, gws, [])
            if group.packed:
                rows = self.add("unpack", rows, n=group.size)
            if group.batch != full.batch:
                grid = self.add("reshape", rows, shape=(len(gws), *group.batch))
                rows = self.add("reshape", self.add("broadcast", grid,
                                                    shape=(len(gws), *full.batch)),
                                shape=(len(gws), n))
            parts.append((rows, gws))
        if constants:
            column = self.b.const([[bool(wires.const[w])] for w in constants], BOOL)
            parts.append((self.add("broadcast", column, shape=(len(constants), n)), constants))
        stacked = parts[0][0] if len(parts) == 1 else self.add("concat", *(p for p, _ in parts))
        position = {w: i for i, w in enumerate(w for _, gws in parts for w in gws)}
        load = tuple(x for w in ws for x in (0, position[w]))
        ordered = self.add("xor_net", stacked, load=load, code=(), out=tuple(range(len(ws))))
        per_instance = self.add("transpose", ordered)  # [n, width]
        return self.add("reshape", per_instance, shape=(*self.full, len(ws)))


def inline(b: Builder, circuit: BristolCircuit, args: list[int]) -> list[int]:
    """The outputs of `circuit` called on `args` (bool [..., width] each), as nodes."""
    return _Lowering(b, circuit, args).lower()


__all__ = ["inline"]
