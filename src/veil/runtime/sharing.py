"""What a data owner and a result receiver do with shares, on their own host.

An owner splits each of its inputs into three fresh random shares and sends server i
the pair (x_i, x_{i+1}); a receiver adds up (or XORs) the three re-randomized shares
the servers send it. Nothing here ever sees another party's plaintext.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from veil.backend.rep3 import unpack
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
    last = value.astype(U64)  # one new array, no temporaries
    last -= r0
    last -= r1
    return [r0, r1, last]


def _fill_random(buf: np.ndarray, step: int = 1 << 20) -> None:
    for i in range(0, buf.size, step):
        buf[i:i + step] = np.frombuffer(os.urandom(min(step, buf.size - i)), dtype=np.uint8)


def input_messages(specs: list[InputSpec], values: dict[str, np.ndarray]
                   ) -> Iterator[bytearray]:  # fmt: skip
    """One owner's three input messages, in server order: server i gets (x_i, x_{i+1}) of
    every input, laid out as `pack` does (ring values first, then all bits packed).

    Ring inputs, the large ones, are shared in two message buffers instead of three
    component arrays plus a message: server 0's message [x0 | x1] is random; server
    1's is [x1 | x − x0 − x1]; server 0's buffer is then rewritten in place into server
    2's [x2 | x0]. Send each message before asking for the next: the owner then holds
    its inputs and two messages at most (for a 1M×7 fixed input 56 + 2 × 112 MB
    instead of 56 + 3 × 56 + 3 × 112)."""
    ring = [values[s.name].reshape(-1) for s in specs if s.type.base != BOOL]
    bool_parts = [split(values[s.name], True) for s in specs if s.type.base == BOOL]
    sizes = [int(x.size) for x in ring]
    starts = np.cumsum([0, *(2 * n for n in sizes)])
    ring_total = int(starts[-1])
    bits_total = 2 * sum(int(p[0].size) for p in bool_parts)
    length = 8 * ring_total + (bits_total + 7) // 8

    def halves(buf: bytearray) -> list[tuple[np.ndarray, np.ndarray]]:
        words = np.frombuffer(buf, dtype=U64, count=ring_total)
        return [(words[a:a + n], words[a + n:a + 2 * n])
                for a, n in zip(starts[:-1], sizes, strict=True)]

    def with_bits(buf: bytearray, me: int) -> bytearray:
        if bool_parts:
            bits = np.concatenate([part.reshape(-1) for comps in bool_parts
                                   for part in (comps[me], comps[(me + 1) % SERVERS])])
            np.frombuffer(buf, dtype=np.uint8, offset=8 * ring_total)[...] = np.packbits(bits)
        return buf

    def fill_second(first: bytearray, second: bytearray) -> None:
        for x, (x0, x1), (y1, y2) in zip(ring, halves(first), halves(second), strict=True):
            y1[...] = x1
            np.subtract(x.astype(U64, copy=False), x0, out=y2)
            y2 -= x1

    def rewrite_first(first: bytearray, second: bytearray) -> None:
        for (x0, x1), (_, x2) in zip(halves(first), halves(second), strict=True):
            x1[...] = x0
            x0[...] = x2

    first = bytearray(length)
    _fill_random(np.frombuffer(first, dtype=np.uint8, count=8 * ring_total))
    yield with_bits(first, 0)  # [x0 | x1], both random
    second = bytearray(length)
    fill_second(first, second)
    yield with_bits(second, 1)  # [x1 | x2]
    rewrite_first(first, second)
    del second  # no view of it is left: its memory goes back before the last send
    yield with_bits(first, 2)  # [x2 | x0]


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
