"""The reference meaning of the table operations, on cleartext numpy arrays.

A table is any array; its rows are the elements along the first axis. Ring values are
uint64 (as in veil.ir.semantics): keys are ordered as signed 64-bit integers, which is
the order of `int` and of `fixed` values alike.

- `sort_by(keys, values)`: the rows of `values` in ascending order of `keys`, rows with
  equal keys in their input order (a stable sort: numpy's `argsort(kind="stable")`);
- `isin(a, b)`: numpy's `isin`; `sum_by(keys, values, domain)`: for each domain key the
  sum of the values whose key equals it (0 when none does);
- `shuffle(x)`: the rows in a uniformly random order; `shuffle_step`: one of the three
  permutations a resharing shuffle composes (veil.backend.rep3_shuffle); both draw
  their permutation from the run's seed, so every column of one shuffle (`group`) moves
  the same way;
- `reveal(x)`: x itself (the protocol opens it to the servers); `scatter(x, index,
  size, offset)`: row p of x moves to row index[p] − offset of a `size`-row result, rows
  whose place falls outside it are dropped and rows nobody moves to are 0;
  `cumsum(x)`: running sums down the rows; `random_bits`: uniformly random bits (in
  the clear drawn from the run's seed; over shares no single server knows them).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np

from veil.ir.nodes import Node

U64 = np.uint64
WHOLE_SHUFFLE = 3
"""The stage number under which the high-level `shuffle` draws its one permutation."""
RANDOM_BITS_STAGE = 4
"""The stage number under which `random_bits` (the verified shuffle's keys) draws."""


def permutation(seed: bytes, group: int, stage: int, n: int) -> np.ndarray:
    """The permutation a plain (cleartext) run applies for one shuffle stage: row i of
    the result is row perm[i] of the operand."""
    digest = hashlib.sha256(seed + struct.pack(">QI", group, stage)).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    return rng.permutation(n)


def stable_order(keys: np.ndarray) -> np.ndarray:
    """Positions of the rows in ascending signed order of their keys, ties in input order."""
    return np.argsort(np.asarray(keys, dtype=U64).view(np.int64), kind="stable")


def sum_by(keys: np.ndarray, values: np.ndarray, domain: np.ndarray) -> np.ndarray:
    domain = np.asarray(domain, dtype=U64)
    order = np.argsort(domain, kind="stable")
    at = np.searchsorted(domain[order], keys)
    at = np.minimum(at, len(domain) - 1) if len(domain) else at
    hit = (domain[order][at] == keys) if len(domain) else np.zeros(len(keys), bool)
    out = np.zeros(len(domain), dtype=U64)
    with np.errstate(over="ignore"):
        np.add.at(out, order[at[hit]], np.asarray(values, dtype=U64)[hit])
    return out


def as_rows(x: np.ndarray) -> np.ndarray:
    """A 1-D view with one opaque element per row: numpy moves whole rows of a matrix
    (a key's bits) two to three times faster this way than along axis 0."""
    x = np.ascontiguousarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        return x
    return x.reshape(x.shape[0], -1).view(np.dtype((np.void, x[0].nbytes))).reshape(-1)


def take_rows(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Row i of the result is row order[i] of x."""
    x = np.asarray(x)
    return np.take(as_rows(x), order).view(x.dtype).reshape((len(order), *x.shape[1:]))


def scatter(x: np.ndarray, index: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    index = np.asarray(index, dtype=U64).view(np.int64)
    if offset:
        index = index - offset
    x = np.asarray(x)
    if size == len(index) and not offset:  # a permutation (the usual case): none dropped
        rows = as_rows(x)
        out = np.empty_like(rows)
        out[index] = rows
        return out.view(x.dtype).reshape(x.shape)
    keep = (index >= 0) & (index < size)
    out = np.zeros((size, *x.shape[1:]), dtype=x.dtype)
    out[index[keep]] = x[keep]
    return out


def apply(node: Node, args: Sequence[np.ndarray], seed: bytes) -> np.ndarray:
    """Evaluate one table op (`seed` draws the permutations of shuffles)."""
    op = node.op
    if op == "sort_by":
        return np.asarray(args[1])[stable_order(args[0])]
    if op == "isin":
        return np.isin(args[0], args[1])
    if op == "sum_by":
        return sum_by(args[0], args[1], args[2])
    if op in ("shuffle", "shuffle_step"):
        x = np.asarray(args[0])
        stage = node.attr("stage", WHOLE_SHUFFLE)
        return take_rows(x, permutation(seed, node.attr("group"), stage, x.shape[0]))
    if op == "random_bits":
        digest = hashlib.sha256(seed + struct.pack(">QI", node.attr("group"),
                                                   RANDOM_BITS_STAGE)).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
        return rng.integers(0, 2, tuple(node.attr("shape"))).astype(np.bool_)
    if op == "reveal":
        return np.array(args[0], copy=True)
    if op == "scatter":
        return scatter(np.asarray(args[0]), args[1], node.attr("size"), node.attr("offset", 0))
    if op == "cumsum":
        with np.errstate(over="ignore"):
            return np.cumsum(np.asarray(args[0], dtype=U64), axis=0, dtype=U64)
    raise ValueError(f"not a table op: {op}")
