"""What a data owner and a result receiver do with shares, on their own host.

An owner splits each of its inputs into three fresh random shares and sends server i
what it needs of the pair (x_i, x_{i+1}) (two of the components as seeds); a receiver
adds up (or XORs) the three re-randomized shares the servers send it. Nothing here
ever sees another party's plaintext.
"""

from __future__ import annotations

import os

import numpy as np

from veil.backend import prg
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


def output_layout(outs: list[OutputSpec]) -> list[tuple[tuple[int, ...], bool]]:
    return [(o.type.shape, o.type.base == BOOL) for o in outs]


SEED_BYTES = 16


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


def stream_bytes(specs: list[InputSpec]) -> int:
    """Bytes of a seed's stream for these inputs (`expand`)."""
    return sum(s.type.size if s.type.base == BOOL else 8 * s.type.size for s in specs)


def expand(seed: bytes | bytearray, specs: list[InputSpec],
           scratch: np.ndarray | None = None) -> list[np.ndarray]:  # fmt: skip
    """The component of every input drawn from a seed (AES-128-CTR): ring values take 8
    bytes of the stream each, bits one byte each (its low bit), in the specs' order.
    With `scratch` (uint8, `stream_bytes` + 16) the stream is written there and the
    ring components are views of it."""
    sizes = [(s.type.size, s.type.base == BOOL) for s in specs]
    if scratch is None:
        stream = prg.stream(bytes(seed), 0, prg.INPUT_SHARE, stream_bytes(specs))
    else:
        stream = prg.stream_into(bytes(seed), 0, prg.INPUT_SHARE, scratch)
    out, at = [], 0
    for spec, (n, is_bool) in zip(specs, sizes, strict=True):
        if is_bool:
            bits = np.frombuffer(stream, dtype=np.uint8, count=n, offset=at) & 1
            out.append(bits.astype(np.bool_).reshape(spec.type.shape))
            at += n
        else:
            out.append(np.frombuffer(stream, dtype=U64, count=n, offset=at)
                       .reshape(spec.type.shape))
            at += 8 * n
    return out


def input_messages(specs: list[InputSpec], values: dict[str, np.ndarray]
                   ) -> list[tuple[bytes, bytearray | None]]:  # fmt: skip
    """One owner's three input messages, in server order, each as (seed part, body or
    None); server i learns (x_i, x_{i+1}).

    x0 and x1 are drawn from two fresh 128-bit seeds s0 and s1 (AES-CTR), and only
    x2 = x − x0 − x1 is sent in full (ABY3, Mohassel & Rindal 2018, §2.2): server 0 gets
    [s0 | s1], server 1 [s1 | x2] and server 2 [s0 | x2], so an input costs one element
    on the wire per server that needs x2 instead of two per server: 2 elements per
    element instead of 6. Each server's pair is as uniform as with three explicit
    components (x_i and x_{i+1} are two of three additive shares). Servers 1 and 2 get
    the same body object (it is only read)."""
    s0, s1 = os.urandom(SEED_BYTES), os.urandom(SEED_BYTES)
    # x2 is built in the message itself: x copied in once, then each seed's component
    # taken off and dropped before the next is drawn (for a 1M×7 input the owner's
    # process holds x, the message and one component: 168 MB, not 280)
    body = pack([np.asarray(values[s.name], dtype=np.bool_) if s.type.base == BOOL
                 else np.asarray(values[s.name]) for s in specs])
    # both seeds' streams in one buffer, in turn: its pages are touched once, not twice
    scratch = np.empty(stream_bytes(specs) + 16, dtype=np.uint8)
    for seed in (s0, s1):
        _take_off(memoryview(body), expand(seed, specs, scratch))
    return [(s0 + s1, None), (s1, body), (s0, body)]


def _take_off(body: memoryview, component: list[np.ndarray]) -> None:
    """Subtract (XOR, for bits) one component from packed values in place (veil.backend.
    rep3.pack's layout: ring values first, then the bits of every bool array)."""
    ring = [c.reshape(-1) for c in component if c.dtype != np.bool_]
    bits = [c.reshape(-1) for c in component if c.dtype == np.bool_]
    total = sum(int(c.size) for c in ring)
    words = np.frombuffer(body, dtype=U64, count=total)
    at = 0
    for c in ring:
        words[at:at + c.size] -= c
        at += c.size
    if bits:
        packed = np.frombuffer(body, dtype=np.uint8, offset=8 * total)
        packed ^= np.packbits(np.concatenate(bits) if len(bits) > 1 else bits[0])


def read_input_message(me: int, specs: list[InputSpec], payload: bytes | bytearray
                       ) -> list[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Server `me`'s pair (x_me, x_me+1) of every input from its owner's message;
    ValueError when the message does not have the expected size."""
    if me == 0:
        if len(payload) != 2 * SEED_BYTES:
            raise ValueError(f"payload of {len(payload)} bytes, expected {2 * SEED_BYTES}")
        first = expand(payload[:SEED_BYTES], specs)
        second = expand(payload[SEED_BYTES:], specs)
        return list(zip(first, second, strict=True))
    if len(payload) < SEED_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes, too short")
    seeded = expand(payload[:SEED_BYTES], specs)
    explicit = unpack(memoryview(payload)[SEED_BYTES:],
                      [(s.type.shape, s.type.base == BOOL) for s in specs])
    if me == 1:  # (x1 from s1, x2)
        return list(zip(seeded, explicit, strict=True))
    return list(zip(explicit, seeded, strict=True))  # server 2: (x2, x0 from s0)


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
