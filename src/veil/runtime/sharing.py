"""What a data owner and a result receiver do with shares, on their own host.

An owner splits each of its inputs into three fresh random shares and sends server i
the pair (x_i, x_{i+1}); a receiver adds up (or XORs) the three re-randomized shares
the servers send it. Nothing here ever sees another party's plaintext.
"""

from __future__ import annotations

import os

import numpy as np

from veil.backend.rep3 import pack, unpack
from veil.ir.nodes import Circuit, InputSpec, OutputSpec
from veil.schedule import SERVERS
from veil.types import BOOL

U64 = np.uint64


def owners_of(circuit: Circuit) -> dict[str, list[InputSpec]]:
    """Each input owner's inputs, owners sorted by name (the order of the input phase)."""
    owners: dict[str, list[InputSpec]] = {}
    for spec in circuit.inputs:
        owners.setdefault(spec.owner, []).append(spec)
    return dict(sorted(owners.items()))


def receivers_of(circuit: Circuit) -> dict[str, list[OutputSpec]]:
    """Each receiver's outputs, receivers sorted by name."""
    receivers: dict[str, list[OutputSpec]] = {}
    for out in circuit.outputs:
        for r in out.receivers:
            receivers.setdefault(r, []).append(out)
    return dict(sorted(receivers.items()))


def site_ids(circuit: Circuit) -> dict[str, int]:
    """Every party's site id in message headers: 3, 4, … in the program's order."""
    return {p: SERVERS + k for k, p in enumerate(circuit.parties)}


def input_layout(specs: list[InputSpec]) -> list[tuple[tuple[int, ...], bool]]:
    """(shape, is_bool) of every array in one owner's input message: two shares each."""
    return [(s.type.shape, s.type.base == BOOL) for s in specs for _ in range(2)]


def output_layout(outs: list[OutputSpec]) -> list[tuple[tuple[int, ...], bool]]:
    return [(o.type.shape, o.type.base == BOOL) for o in outs]


def split(value: np.ndarray, is_bool: bool) -> list[np.ndarray]:
    """Three fresh random shares of a value (x = x0 + x1 + x2, or x0 ⊕ x1 ⊕ x2)."""
    value = np.asarray(value)
    n = int(value.size)
    if is_bool:
        r = np.frombuffer(os.urandom(2 * n), dtype=np.uint8) & 1
        r0, r1 = (r[:n].astype(np.bool_).reshape(value.shape),
                  r[n:].astype(np.bool_).reshape(value.shape))
        return [r0, r1, value.astype(np.bool_) ^ r0 ^ r1]
    r = np.frombuffer(os.urandom(16 * n), dtype=U64)
    r0, r1 = r[:n].reshape(value.shape), r[n:].reshape(value.shape)
    with np.errstate(over="ignore"):
        return [r0, r1, np.asarray(value.astype(U64) - r0 - r1, dtype=U64)]


def input_messages(specs: list[InputSpec], values: dict[str, np.ndarray]) -> list[bytes]:
    """One owner's three input messages: server i gets (x_i, x_{i+1}) of every input."""
    components = [split(values[s.name], s.type.base == BOOL) for s in specs]
    messages = []
    for me in range(SERVERS):
        parts = []
        for comps in components:
            parts += [comps[me], comps[(me + 1) % SERVERS]]
        messages.append(pack(parts))
    return messages


def reconstruct(outs: list[OutputSpec], payloads: list[bytes | bytearray]
                ) -> dict[str, np.ndarray]:  # fmt: skip
    """A receiver's outputs from the three servers' share messages (in server order)."""
    layout = output_layout(outs)
    per_server = [unpack(p, layout) for p in payloads]
    values: dict[str, np.ndarray] = {}
    for k, out in enumerate(outs):
        a, b, c = (shares[k] for shares in per_server)
        if out.type.base == BOOL:
            values[out.name] = a ^ b ^ c
        else:
            with np.errstate(over="ignore"):
                values[out.name] = np.asarray(a + b + c, dtype=U64)
    return values
