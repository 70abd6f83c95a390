"""Large bool and int arrays as JSON text without a Python object per element.

`json.dumps` of a million ints spends most of its time turning each into a Python int
and then into text (about 0.2 s here). These arrays are instead written as a block of
fixed-width bytes built with numpy: every element right-aligned to the width of the
widest one, one to a line, at the indentation ``json.dumps(indent=…)`` would use. JSON
allows whitespace before a token, so the text is valid JSON with the same values; only
the padding before short numbers differs from json's layout. Floats keep json's
shortest round-trip repr (veil.io.outputs).
"""

from __future__ import annotations

import functools

import numpy as np

_GROUP = 10_000
_DIGITS_PER_GROUP = 4
_GROUPS = 5  # 20 digits: more than the 19 of 2^63
_WIDEST = _GROUPS * _DIGITS_PER_GROUP


@functools.cache
def _group_table() -> np.ndarray:
    """uint32 per index: the 4 characters of a group of digits. Index v (0..9999): v
    zero-padded (digits above it); 10000 + v: space-padded (the highest group of the
    lowest 4 digits); 20000 + v: space-padded, blank for 0 (a higher group with
    nothing in or above it)."""
    text = "".join([*(f"{i:04d}" for i in range(_GROUP)), *(f"{i:4d}" for i in range(_GROUP)),
                    "    ", *(f"{i:4d}" for i in range(1, _GROUP))])
    return np.frombuffer(text.encode("ascii"), dtype=np.uint32).copy()


_POWERS = np.array([10**k for k in range(1, 20)], dtype=np.uint64)


def int_tokens(values: np.ndarray) -> np.ndarray:
    """int64 values (flattened) → uint8 [n, w]: each right-aligned in w = the length of
    the longest, so every row is a valid JSON number with leading spaces."""
    v = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    n = v.size
    negative = v < 0
    magnitude = v.view(np.uint64).copy()
    np.negative(magnitude, out=magnitude, where=negative)  # also right for −2^63
    groups = np.empty((n, _GROUPS), dtype=np.uint32)
    table = _group_table()  # built on first use: 7 ms, not paid by every import
    group = np.uint64(_GROUP)
    above = magnitude // group  # < 2^50 from here on: int64 division is faster
    low = (magnitude - above * group).view(np.int64)
    rest = above.view(np.int64)
    for g in range(_GROUPS - 1, -1, -1):  # the least significant group last in a row
        if g < _GROUPS - 1:
            above = rest // _GROUP
            low = rest - above * _GROUP
            rest = above
        empty_above = rest == 0
        offset = 2 * _GROUP if g < _GROUPS - 1 else _GROUP
        groups[:, g] = table[low + empty_above * offset]
    text = groups.view(np.uint8).reshape(n, _WIDEST)
    digits = np.searchsorted(_POWERS, magnitude, side="right") + 1
    if negative.any():
        rows = np.flatnonzero(negative)
        text[rows, _WIDEST - 1 - digits[rows]] = ord("-")
    width = int((digits + negative).max(initial=1))
    return text[:, _WIDEST - width:]


def bool_tokens(values: np.ndarray) -> np.ndarray:
    """bool values (flattened) → uint8 [n, 4 or 5]: ``true``/``false`` right-aligned."""
    flat = np.asarray(values, dtype=np.bool_).reshape(-1)
    if flat.all():
        return np.broadcast_to(np.frombuffer(b"true", dtype=np.uint8), (flat.size, 4))
    table = np.frombuffer(b" truefalse", dtype=np.uint8).reshape(2, 5)
    return table[(~flat).view(np.uint8)]


def _bracketed(cells: np.ndarray, pad: bytes, close: bytes) -> np.ndarray:
    """uint8 [r, k] from tokens cells [r, m, w]: per r, "[", the m tokens each on a new
    line after `pad` and separated by commas, then `close`."""
    r, m, w = cells.shape
    lead = len(pad) + 2  # ",\n" + pad
    block = np.empty((r, m * (lead + w) + len(close)), dtype=np.uint8)
    grid = block[:, :m * (lead + w)].reshape(r, m, lead + w)
    grid[:, :, :lead] = np.frombuffer(b",\n" + pad, dtype=np.uint8)
    grid[:, :, lead:] = cells
    block[:, 0] = ord("[")  # in place of the first line's comma
    block[:, m * (lead + w):] = np.frombuffer(close, dtype=np.uint8)
    return block


def array_text(arr: np.ndarray, level: int, indent: int) -> str | None:
    """The JSON text of a 1-D or 2-D bool or int array at nesting `level` (lines at
    ``indent`` spaces a level), or None when this layout does not apply (other dtypes,
    more dimensions, empty arrays)."""
    if arr.ndim not in (1, 2) or arr.size == 0:
        return None
    if arr.dtype == np.bool_:
        tokens = bool_tokens(arr)
    elif arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8 and arr.dtype != np.uint64:
        tokens = int_tokens(arr)
    else:
        return None
    rows, m = (1, arr.shape[0]) if arr.ndim == 1 else arr.shape
    spaces = [b" " * (indent * (level + d)) for d in range(arr.ndim + 1)]
    block = _bracketed(tokens.reshape(rows, m, -1), spaces[arr.ndim],
                       b"\n" + spaces[arr.ndim - 1] + b"]")
    if arr.ndim == 2:
        block = _bracketed(block[None], spaces[1], b"\n" + spaces[0] + b"]")
    return str(memoryview(block.reshape(-1)), "ascii")
