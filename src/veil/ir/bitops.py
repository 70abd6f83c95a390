"""Bit layouts and XOR networks: the numpy kernels behind `bitslice`, `pack`, `unpack` and
`xor_net` (their types are in veil.ir.ops, their place in the IR in veil.ir.semantics).

Boolean circuits over many instances run fastest with the instances side by side in the
bits of machine words ("bit slicing"): one AND of two uint64 words is 64 gates.

- ``pack``: bool [r, n] → word [r, ⌈n/64⌉]; bit k of word w of row i is element
  [i, 64w + k], padding bits are 0. ``unpack`` with ``n`` is its inverse.
- ``bitslice``: word [...] (n values) → word [64, ⌈n/64⌉], row i holding bit i of every
  value in the packed layout (a 64×64 bit-matrix transpose per block of 64 values), or,
  with ``packed`` false, bool [64, n].
- ``xor_net``: rows loaded from its operands, then batches of XOR/NOT/constant gates,
  each batch appending its results as new rows; the output is a list of rows. It is
  affine over GF(2), so on replicated boolean shares every server applies it to each
  of its two shares (NOT and the constant 1 flip all three components, whose XOR then
  flips once).

All of these are linear (or affine) bit permutations and XORs: local on shares.
"""

from __future__ import annotations

import numpy as np

U64 = np.uint64
WORD_BITS = 64

XOR, NOT, ZERO, ONE = 0, 1, 2, 3
"""Opcodes of an xor_net program: a batch ``(op, count, a_1..a_count[, b_1..b_count])``."""

ARITY = {XOR: 2, NOT: 1, ZERO: 0, ONE: 0}

_MASKS = {32: 0x00000000FFFFFFFF, 16: 0x0000FFFF0000FFFF, 8: 0x00FF00FF00FF00FF,
          4: 0x0F0F0F0F0F0F0F0F, 2: 0x3333333333333333, 1: 0x5555555555555555}


def words_for(n: int) -> int:
    """Words needed for n bits."""
    return -(-n // WORD_BITS)


def packed_layout(n: int) -> bool:
    """Is packing n instances into words worth it? Yes when padding the last word wastes
    at most 1/32 of the gates (so a 241-gate comparison stays under 250 a value);
    otherwise one bool per instance is both exact and small."""
    waste = WORD_BITS * words_for(n) - n
    return n >= WORD_BITS and waste * 32 <= n


def _transpose_planes(rows: np.ndarray) -> np.ndarray:
    """In place on a [64, B] uint64 array whose column b is a 64×64 bit matrix (word r =
    rows[r, b]): afterwards bit c of rows[r, b] is what bit r of rows[c, b] was (Warren,
    Hacker's Delight, §7-3: swap the off-diagonal blocks of halves, quarters, ... in six
    masked shift-XOR steps). With the words of a matrix in a column, every step works on
    whole contiguous rows, four times faster than on matrices stored row by row."""
    count = rows.shape[1]
    scratch = np.empty(32 * count, dtype=U64)
    for j in (32, 16, 8, 4, 2, 1):
        grid = rows.reshape(WORD_BITS // (2 * j), 2, j, count)
        low, high = grid[:, 0], grid[:, 1]
        t = scratch.reshape(low.shape)
        shift = U64(j)
        np.right_shift(low, shift, out=t)
        t ^= high
        t &= U64(_MASKS[j])
        high ^= t
        t <<= shift
        low ^= t
    return rows


def bitslice(x: np.ndarray, packed: bool) -> np.ndarray:
    """Row i = bit i of every value of x (flattened): word [64, ⌈n/64⌉] or bool [64, n]."""
    flat = np.asarray(x, dtype=U64).reshape(-1)
    n = flat.size
    if not packed:
        bits = np.unpackbits(flat.view(np.uint8).reshape(n, 8), axis=1, bitorder="little")
        return np.ascontiguousarray(bits.T).view(np.bool_)
    count = words_for(n)
    if not flat.any():  # two of a server's three components are zero: skip the work
        return np.zeros((WORD_BITS, count), dtype=U64)
    whole = n // WORD_BITS
    if whole == count:
        rows = flat.reshape(count, WORD_BITS).T.copy()  # a copy even when count is 1
    else:  # the last matrix is padded with zero values
        rows = np.zeros((WORD_BITS, count), dtype=U64)
        rows[:, :whole] = flat[:whole * WORD_BITS].reshape(whole, WORD_BITS).T
        rows[:n - whole * WORD_BITS, whole] = flat[whole * WORD_BITS:]
    return _transpose_planes(rows)


def pack(bits: np.ndarray) -> np.ndarray:
    """bool [r, n] → word [r, ⌈n/64⌉], instance 64w + k in bit k of word w."""
    rows, n = bits.shape
    out = np.zeros((rows, 8 * words_for(n)), dtype=np.uint8)
    out[:, :-(-n // 8)] = np.packbits(np.asarray(bits, dtype=np.bool_), axis=1,
                                      bitorder="little")
    return out.view(U64)


def unpack(words: np.ndarray, n: int) -> np.ndarray:
    """word [r, ⌈n/64⌉] → bool [r, n] (the padding bits are dropped)."""
    raw = np.ascontiguousarray(words, dtype=U64).view(np.uint8)
    return np.unpackbits(raw, axis=1, count=n, bitorder="little").view(np.bool_)


_PROGRAMS: dict[tuple[int, int], tuple] = {}
_PROGRAMS_MAX = 4096


def _program(load: tuple[int, ...], code: tuple[int, ...]) -> tuple:
    """Index arrays of an xor_net program: per operand (its block of the workspace, its
    rows), per batch (op, first new row, count, a indices, b indices), the number of
    rows, the load pairs, and where each row is kept in the workspace; parsed once per
    program. Cached by the identity of the attribute tuples, which the cache keeps
    alive (so an id cannot be reused for another tuple while its entry exists): hashing
    a tuple of 10^5 ints at every evaluation would cost more than the XORs."""
    entry = _PROGRAMS.get((id(load), id(code)))
    if entry is not None and entry[0] is code and entry[1] is load:
        return entry[2]
    pairs = np.array(load, dtype=np.intp).reshape(-1, 2)
    order = np.argsort(pairs[:, 0], kind="stable")
    sorted_args = pairs[order, 0]
    # (np.unique would do, but it imports numpy.ma, 0.15 s, into every server)
    starts = np.flatnonzero(np.concatenate(([True], sorted_args[1:] != sorted_args[:-1]))) \
        if sorted_args.size else np.zeros(0, dtype=np.intp)
    operands = sorted_args[starts]
    ends = [*starts[1:].tolist(), len(order)]
    # The workspace keeps each operand's loaded rows together (in operand order), so a
    # load is one gather into a contiguous block instead of a gather and a scatter (the
    # loads were two thirds of AES's XOR layers); gates and outputs read through `place`.
    loads = tuple((int(k), a, b, pairs[order[a:b], 1])
                  for k, a, b in zip(operands.tolist(), starts.tolist(), ends, strict=True))
    rows = pairs[:, 1]
    words = np.array(code, dtype=np.intp)
    batches = []
    reads, limits = [], []
    top = len(rows)
    pc = 0
    while pc < len(words):
        op, count = int(words[pc]), int(words[pc + 1])
        width = ARITY[op] * count
        operands = words[pc + 2:pc + 2 + width]
        if count < 0 or operands.size != width:
            raise ValueError(f"a batch of {count} gates at position {pc} is cut short")
        batches.append((op, top, count, operands[:count], operands[count:]))
        reads.append(operands)
        limits.append(np.full(width, top, dtype=np.intp))
        top += count
        pc += 2 + width
    if reads:
        read, limit = np.concatenate(reads), np.concatenate(limits)
        if read.size and (read.min() < 0 or bool(np.any(read >= limit))):
            raise ValueError("a gate reads a row that is not computed before it")
    place = np.arange(top, dtype=np.intp)  # where each row of the program is kept
    place[order] = np.arange(len(order), dtype=np.intp)
    batches = [(op, first, count, place[a], place[b]) for op, first, count, a, b in batches]
    parsed = (loads, tuple(batches), top, pairs, place)
    if len(_PROGRAMS) >= _PROGRAMS_MAX:
        _PROGRAMS.clear()
    _PROGRAMS[(id(load), id(code))] = (code, load, parsed)
    return parsed


def program_rows(load: tuple[int, ...], code: tuple[int, ...]) -> int:
    """Rows of an xor_net's workspace: its loads plus every row its batches append."""
    return _program(load, code)[2]


def check_loads(load: tuple[int, ...], code: tuple[int, ...], rows_of: list[int]) -> str | None:
    """Why an xor_net's loads do not fit operands with these row counts (None if they do)."""
    pairs = _program(load, code)[3]
    if not pairs.size:
        return None
    k, r = pairs[:, 0], pairs[:, 1]
    if k.min() < 0 or k.max() >= len(rows_of):
        return "a load names an operand the node does not have"
    if r.min() < 0 or bool(np.any(r >= np.asarray(rows_of, dtype=np.intp)[k])):
        return "a load reads a row its operand does not have"
    return None


def xor_net(args: list[np.ndarray], load: tuple[int, ...], code: tuple[int, ...],
            out: tuple[int, ...]) -> np.ndarray:  # fmt: skip
    """Evaluate an xor_net program on operand arrays of shape [rows, ...] (one dtype)."""
    loads, batches, total, _, place = _program(load, code)
    first = np.asarray(args[0])
    work = np.empty((total, *first.shape[1:]), dtype=first.dtype)
    for k, start, end, rows in loads:
        np.take(np.asarray(args[k]), rows, axis=0, out=work[start:end])
    ones = np.array(True) if first.dtype == np.bool_ else U64(0xFFFFFFFFFFFFFFFF)
    for op, top, count, a, b in batches:
        target = work[top:top + count]
        if op == XOR:
            np.bitwise_xor(work[a], work[b], out=target)
        elif op == NOT:
            np.bitwise_xor(work[a], ones, out=target)
        else:
            target[...] = ones if op == ONE else 0
    return work[place[np.asarray(out, dtype=np.intp)]]
