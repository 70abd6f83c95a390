"""The reference meaning of every IR op, on cleartext numpy arrays.

Ring values (int and fixed) are uint64 arrays: arithmetic wraps modulo 2^64 exactly as
it does on secret shares. `fixed` holds round(x * 2^f); a product of two fixed values
is followed by an explicit `trunc` node (arithmetic shift right by f, rounding toward
minus infinity). Comparisons are defined as the sign bit of the difference, which is
what the secret-sharing protocols compute: `a < b` is exact whenever |a - b| < 2^63.
Booleans are numpy bool arrays. Constant folding and the plain backend both use this
module, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from veil.ir import bitops, tables
from veil.ir.nodes import Node
from veil.ir.ops import MATH, RANDOM_BITS, TABLE_PROTOCOL, TABLES, IRError, trunc_bits
from veil.types import BOOL, FIXED, FRAC_BITS

U64 = np.uint64


def encode(value: Any, base: str, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Cleartext Python/numpy value → ring (uint64) or bool array."""
    if base == BOOL:
        return np.asarray(value, dtype=np.bool_)
    arr = np.asarray(value)
    if base == FIXED:
        scaled = np.rint(np.asarray(arr, dtype=np.float64) * float(1 << frac_bits))
        return np.asarray(scaled).astype(np.int64).view(U64)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    return np.asarray(arr, dtype=np.int64).view(U64) if arr.dtype != U64 else arr


def decode(raw: np.ndarray, base: str, frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Ring or bool array → int64, float64 or bool array."""
    raw = np.asarray(raw)
    if base == BOOL:
        return raw.astype(np.bool_)
    signed = raw.astype(U64).view(np.int64)
    if base == FIXED:
        return signed.astype(np.float64) / float(1 << frac_bits)
    return signed


def const_array(node: Node) -> np.ndarray:
    """The value of a `const` node (stored flat as ints; bools as 0/1)."""
    shape = tuple(node.attr("shape"))
    data = node.attr("data")
    if node.type.base == BOOL:
        return np.array(data, dtype=np.bool_).reshape(shape)
    return np.array(data, dtype=np.int64).reshape(shape).view(U64)


def _index(spec: tuple) -> tuple:
    return tuple(p[1] if p[0] == "i" else slice(p[1], p[2]) for p in spec)


def sign_bit(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=U64) >> U64(63)).astype(np.bool_)


def apply(node: Node, args: Sequence[np.ndarray], seed: bytes = b"") -> np.ndarray:
    """Evaluate one (non-input) node on cleartext operand values; `seed` draws the
    permutations of shuffles (the plain backend gives each run a fresh one)."""
    op = node.op
    if op in TABLES or op in TABLE_PROTOCOL or op == RANDOM_BITS:
        return tables.apply(node, args, seed)
    with np.errstate(over="ignore"):
        if op == "const":
            return const_array(node)
        if op in ("monotone", "cast"):
            return args[0]
        if op in MATH:  # the expansion itself, evaluated in the clear
            from veil.ir.numerics import evaluate

            return evaluate(node, args)
        if op == "add":
            return np.asarray(args[0] + args[1], dtype=U64)
        if op == "sub":
            return np.asarray(args[0] - args[1], dtype=U64)
        if op == "mul":
            return np.asarray(args[0] * args[1], dtype=U64)
        if op == "neg":
            return np.asarray(U64(0) - args[0], dtype=U64)
        if op == "matmul":
            return np.asarray(np.matmul(args[0], args[1]), dtype=U64)
        if op == "trunc":
            bits = trunc_bits(node.attr("bits"), node.type.shape)
            signed = np.asarray(args[0], dtype=U64).view(np.int64)
            return np.asarray(signed >> np.asarray(bits, dtype=np.int64)).view(U64)
        if op == "sum":
            return np.asarray(np.sum(args[0], axis=node.attr("axis"), dtype=U64), dtype=U64)
        if op == "lt":
            return sign_bit(np.asarray(args[0] - args[1], dtype=U64))
        if op == "eq":
            return np.asarray(args[0] == args[1])
        if op == "and":
            return np.asarray(args[0] & args[1])
        if op == "or":
            return np.asarray(args[0] | args[1])
        if op == "xor":
            return np.asarray(args[0] ^ args[1])
        if op == "not":
            return np.asarray(~args[0])
        if op == "select":
            return np.asarray(np.where(args[0], args[1], args[2]))
        if op == "b2a":
            return np.asarray(args[0], dtype=U64)
        if op == "to_bits":
            x = np.asarray(args[0], dtype=U64)[..., None]
            return ((x >> np.arange(64, dtype=U64)) & U64(1)).astype(np.bool_)
        # Protocol-level ops. In the clear a value is its own share 0 and shares 1 and 2
        # are zero, so the conversions built from components compute the identity.
        if op in ("a2b_comp", "b2a_comp"):
            value = np.asarray(args[0], dtype=U64)
            return value if node.attr("component") == 0 else np.zeros_like(value)
        if op == "comp_shr":  # per share component; in the clear, of the value itself
            bits = trunc_bits(node.attr("bits"), node.type.shape)
            return np.asarray(np.asarray(args[0], dtype=U64) >> np.asarray(bits, dtype=U64),
                              dtype=U64)
        if op == "shl":
            return np.asarray(args[0] << U64(node.attr("bits")), dtype=U64)
        if op == "shr":
            return np.asarray(args[0] >> U64(node.attr("bits")), dtype=U64)
        if op == "bit":
            return ((np.asarray(args[0], dtype=U64) >> U64(node.attr("index"))) & U64(1)
                    ).astype(np.bool_)
        if op == "bitslice":
            return bitops.bitslice(args[0], node.attr("packed"))
        if op == "a2b_pair":  # in the clear the value is x0 and x1 = x2 = 0: x_g + x_{g+1}
            value = np.asarray(args[0], dtype=U64)  # is the value unless g is 1
            if node.attr("server") == 1:
                value = np.zeros_like(value)
            return bitops.bitslice(value, node.attr("packed"))
        if op == "pack":
            return bitops.pack(args[0])
        if op == "unpack":
            return bitops.unpack(args[0], node.attr("n"))
        if op == "xor_net":
            return bitops.xor_net(list(args), node.attr("load"), node.attr("code"),
                                  node.attr("out"))
        if op == "reshape":
            return np.reshape(args[0], tuple(node.attr("shape")))
        if op == "broadcast":
            return np.array(np.broadcast_to(args[0], tuple(node.attr("shape"))))
        if op == "transpose":
            return np.ascontiguousarray(np.transpose(args[0]))
        if op == "slice":
            return np.asarray(args[0][_index(node.attr("spec"))])
        if op == "update":
            out = np.array(args[0], copy=True)
            out[_index(node.attr("spec"))] = args[1]
            return out
        if op == "concat":
            return np.concatenate(list(args), axis=0)
        if op == "stack":
            return np.stack(list(args), axis=0)
    raise IRError(f"no cleartext semantics for op {op!r}")
