"""Test-only fault injection for the verified mode: a corrupted server that adds an
error to one element of one message of a chosen kind, or changes its copy of one
replicated share component and goes on from there.

Nothing here is reachable from the command line: the tests build a `Tamper` and hand
it to a server through `veil.runtime.session.Fault` (tests/test_malicious_tamper.py).
Kinds: products (a ring product's message: its reshare, or the ρ and σ a verified
`mul` opens), a2b (an AND gate's: A2B, the comparisons and the verified truncation are
made of them), reshares (the triples' products and the outputs' resharing), openings
(both coins, ρ and σ of the checks and of the daBits' products, the opened triples),
inputs (a received input share), outputs (a share or a digest sent to a receiver) and
inconsistent (the server's copy of the component it shares with its successor, for a
value that is later multiplied or output). A consistent tamper (`consistent=True`)
keeps the changed part as the server's own copy too, as a careful cheater would: then
only the product checks can see a changed product reshare (a changed Beaver opening or
triple product is still seen by the openings' digest or the bucket checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from veil.ir.nodes import Circuit
from veil.schedule import Schedule
from veil.types import BOOL

KINDS = ("products", "a2b", "reshares", "openings", "inputs", "outputs", "inconsistent")


@dataclass
class Tamper:
    """Where to tamper (None: nowhere) and how; `done` once the error was added."""

    kind: str = ""
    where: tuple | None = None
    seed: int = 0
    done: bool = False
    what: str = field(default="", repr=False)  # what was changed, for test messages
    consistent: bool = False  # the server keeps the changed part it sends as its copy

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def sent(self, kind: str, where: tuple, array: np.ndarray) -> np.ndarray:
        """The array to send for the message part `where` of this kind: the original,
        or a copy with one element changed."""
        if self.done or kind != self.kind or where != self.where or array.size == 0:
            return array
        self.done = True
        changed = self.changed(array)
        if self.consistent and array.flags.writeable:
            np.copyto(array, changed)
            return array
        return changed

    def changed(self, array: np.ndarray) -> np.ndarray:
        rng = self._rng()
        out = np.array(array, copy=True)
        flat = out.reshape(-1)
        i = int(rng.integers(flat.size))
        if flat.dtype == np.bool_:
            flat[i] = ~flat[i]
        elif flat.dtype == np.uint8:
            flat[i] ^= np.uint8(1 + rng.integers(255))
        else:
            if rng.random() < 0.25:  # errors of high 2-adic valuation too (2^63: a sign)
                error = 1 << int(rng.integers(64))
            else:
                error = int(rng.integers(1, 2**63)) * int(1 + 2 * rng.integers(2))
            flat[i] = np.uint64((int(flat[i]) + error) % (1 << 64))
        self.what = f"element {i} of {self.where}"
        return out

    def corrupt(self, values: dict) -> None:
        """`inconsistent`: once the target value exists, change this server's copy of
        the component it shares with its successor."""
        if self.done or self.kind != "inconsistent" or self.where is None:
            return
        value = values.get(self.where[1])
        if not isinstance(value, tuple):
            return
        self.done = True
        values[self.where[1]] = (value[0], self.changed(np.asarray(value[1])))


def choose(kind: str, circuit: Circuit, sched: Schedule, seed: int,
           consistent: bool = False) -> Tamper:
    """A uniformly random place of this kind in a run of `circuit`, and an error;
    `consistent`: the server keeps what it sends (products, a2b and reshares)."""
    rng = np.random.default_rng(seed)
    places: list[tuple] = []
    if kind in ("products", "a2b"):
        ops = ("and", "b2a") if kind == "a2b" else ("mul", "matmul")
        for number, rnd in enumerate(sched.rounds[:sched.circuit_rounds], 1):
            places += [("round", number, n) for n in rnd.nodes if circuit.node(n).op in ops]
    elif kind == "reshares":
        pools = sched.plan.pools if sched.plan else ()
        places = [("triples", i) for i in range(len(pools))]
        places += [("output", k) for k in range(len(circuit.outputs))]
    elif kind == "openings":
        pools = sched.plan.pools if sched.plan else ()
        places = [("coin",)] + [("pool", i) for i, p in enumerate(pools) if not p.beaver]
        if pools:  # the preprocessing's coin, bucket checks and daBit products
            places += [("pre-coin",)] + [("buckets", i) for i in range(len(pools))]
            if sched.plan and sched.plan.dabits:
                places += [("dabits", 1), ("dabits", 2)]
    elif kind == "inputs":
        places = [("input", k, j) for k in range(len(circuit.inputs)) for j in range(2)]
    elif kind == "outputs":
        receivers = sorted({r for o in circuit.outputs for r in o.receivers})
        places = [("output", r, part) for r in receivers for part in ("share", "digest")]
    elif kind == "inconsistent":
        used = set()
        for node in circuit.nodes:
            if node.op in ("mul", "matmul", "and") and sched.level.get(node.id) and \
                    all(circuit.node(a).type.is_secret for a in node.args):
                used.update(node.args)
        used.update(o.node for o in circuit.outputs if circuit.node(o.node).type.is_secret)
        places = [("value", n) for n in sorted(used)
                  if circuit.node(n).op != "input"]  # inputs: the `inputs` kind
        places = places or [("value", n) for n in sorted(used)]
    else:
        raise ValueError(f"unknown tamper kind {kind!r}")
    if not places:
        raise ValueError(f"no {kind} message in this circuit")
    where = places[int(rng.integers(len(places)))]
    return Tamper(kind, where, int(rng.integers(2**62)), consistent=consistent)


__all__ = ["BOOL", "KINDS", "Tamper", "choose"]
