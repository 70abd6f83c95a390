"""Interned sets of units (records) of one input: what the provenance analysis computes with.

Every input is read as a sequence of *units* along its first axis (the rows of a
matrix, the elements of a vector, the one value of a scalar). The provenance of an
element is, per input, the set of units it may depend on, named by an int id:

- ``-1`` (EMPTY): no dependence on this input;
- ``r >= 0``: the single unit r (the common case: one value per record);
- ``k <= -2``: the interned set number ``-2 - k``, of two or more units.

Equal sets get equal ids, so a node's provenance is an int64 array of ids in the node's
shape (or one int when all its elements share a set), and unions of whole arrays are
vectorized: only distinct pairs of different sets reach Python. Sets of up to SMALL
units are sorted tuples; larger ones are Python int bitmasks (union is ``|``, size is
``bit_count``), so 100,000 two-record sets cost kilobytes and a union over 100,000
rows costs microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMPTY = -1
SMALL = 16
_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min

StoredSet = tuple[int, ...] | int  # sorted units (≤ SMALL of them), or a bitmask


class SetTable:
    """The distinct sets of units of one input seen so far, with memoized unions."""

    def __init__(self, units: int):
        self.units = units
        self._sets: list[StoredSet] = []
        self._sizes: list[int] = []
        self._index: dict[StoredSet, int] = {}
        self._unions: dict[tuple[int, int], int] = {}
        self._masks: dict[int, np.ndarray] = {}
        self._size_array = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------ making sets

    def _intern(self, stored: StoredSet, size: int) -> int:
        k = self._index.get(stored)
        if k is None:
            k = len(self._sets)
            self._sets.append(stored)
            self._sizes.append(size)
            self._index[stored] = k
        return -2 - k

    def of_units(self, units: Sequence[int] | np.ndarray) -> int:
        """The id of a set given by its units, sorted and distinct."""
        n = len(units)
        if n == 0:
            return EMPTY
        if n == 1:
            return int(units[0])
        if n <= SMALL:
            return self._intern(tuple(int(u) for u in units), n)
        mask = np.zeros(self.units, dtype=np.bool_)
        mask[np.asarray(units)] = True
        return self._intern(_bits_of_mask(mask), n)

    def _of_bits(self, bits: int) -> int:
        size = bits.bit_count()
        if size <= SMALL:
            return self.of_units(_units_of_bits(bits))
        return self._intern(bits, size)

    # ------------------------------------------------------------ reading sets

    def _stored(self, set_id: int) -> StoredSet:
        return (set_id,) if set_id >= 0 else self._sets[-2 - set_id]

    def size(self, set_id: int) -> int:
        if set_id == EMPTY:
            return 0
        return 1 if set_id >= 0 else self._sizes[-2 - set_id]

    def sizes(self, ids: np.ndarray) -> np.ndarray:
        """Number of units of each id (0 for EMPTY), same shape."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(self._size_array) != len(self._sizes):
            self._size_array = np.asarray(self._sizes, dtype=np.int64)
        out = (ids >= 0).astype(np.int64)
        multi = ids <= -2
        if multi.any():
            out[multi] = self._size_array[-2 - ids[multi]]
        return out

    def members(self, set_id: int) -> np.ndarray:
        """The units of a set, sorted."""
        if set_id == EMPTY:
            return np.zeros(0, dtype=np.int64)
        stored = self._stored(set_id)
        if isinstance(stored, tuple):
            return np.asarray(stored, dtype=np.int64)
        return np.nonzero(self._mask(set_id))[0].astype(np.int64)

    def lowest(self, set_id: int) -> int:
        """The smallest unit of a non-empty set."""
        stored = self._stored(set_id)
        if isinstance(stored, tuple):
            return stored[0]
        return (stored & -stored).bit_length() - 1

    def small(self, set_id: int) -> frozenset[int] | None:
        """The set as a frozenset if it has at most SMALL units, else None."""
        if set_id == EMPTY:
            return frozenset()
        stored = self._stored(set_id)
        return frozenset(stored) if isinstance(stored, tuple) else None

    def bits(self, set_id: int) -> int:
        """The set as an int bitmask (bit u set for unit u)."""
        if set_id == EMPTY:
            return 0
        stored = self._stored(set_id)
        if isinstance(stored, int):
            return stored
        return sum(1 << u for u in stored)

    def _mask(self, set_id: int) -> np.ndarray:
        mask = self._masks.get(set_id)
        if mask is None:
            stored = self._stored(set_id)
            if isinstance(stored, tuple):
                mask = np.zeros(self.units, dtype=np.bool_)
                mask[list(stored)] = True
            else:
                raw = stored.to_bytes((self.units + 7) // 8, "little")
                mask = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=self.units,
                                     bitorder="little").astype(np.bool_)
            if len(self._masks) > 64:  # a cache, not a second copy of every set
                self._masks.clear()
            self._masks[set_id] = mask
        return mask

    def contains(self, set_id: int, units: np.ndarray) -> np.ndarray:
        """Which of `units` are in the set (vectorized)."""
        stored = self._stored(set_id)
        if isinstance(stored, tuple):
            return np.isin(units, stored)
        return self._mask(set_id)[units]

    # ------------------------------------------------------------ unions

    def union(self, a: int, b: int) -> int:
        """The id of the union of two sets (memoized)."""
        if a == b or b == EMPTY:
            return a
        if a == EMPTY:
            return b
        key = (a, b) if a < b else (b, a)
        hit = self._unions.get(key)
        if hit is not None:
            return hit
        sa, sb = self._stored(a), self._stored(b)
        if isinstance(sa, tuple) and isinstance(sb, tuple):
            out = self.of_units(sorted(set(sa) | set(sb)))
        else:
            out = self._of_bits(self.bits(a) | self.bits(b))
        self._unions[key] = out
        return out

    def union_all(self, ids: np.ndarray | int) -> int:
        """The union of every set in an array of ids."""
        if isinstance(ids, int | np.integer):
            return int(ids)
        distinct = np.unique(ids)
        singles = distinct[distinct >= 0]
        multis = distinct[distinct <= -2]
        if len(multis) == 0:
            return self.of_units(singles)
        out = int(multis[0])
        if len(singles) and not self.contains(out, singles).all():
            out = self.union(out, self.of_units(singles))
        for m in multis[1:]:
            out = self.union(out, int(m))
        return out

    def union_arrays(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Elementwise union of two id arrays of one shape."""
        if a is b:
            return a
        out = np.where(a == EMPTY, b, a)
        need = (a != b) & (a != EMPTY) & (b != EMPTY)
        if not need.any():
            return out
        pa, pb = a[need], b[need]
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        result = np.empty(len(lo), dtype=np.int64)
        todo = np.ones(len(lo), dtype=np.bool_)
        # A unit joined with a set that already holds it (x - mean(x)): no new set.
        unit_in_set = (lo <= -2) & (hi >= 0)
        if unit_in_set.any():
            for s in np.unique(lo[unit_in_set]):
                where = np.nonzero(unit_in_set & (lo == s))[0]
                inside = where[self.contains(int(s), hi[where])]
                result[inside] = s
                todo[inside] = False
        if todo.any():
            pairs, inverse = np.unique(np.stack([lo[todo], hi[todo]], axis=1), axis=0,
                                       return_inverse=True)
            intern, union = self._intern, self.union
            # Two single units (x[i + 1] - x[i]) are the common case: intern directly.
            unions = np.array([intern((x, y), 2) if x >= 0 else union(x, y)
                               for x, y in pairs.tolist()], dtype=np.int64)
            result[todo] = unions[inverse.reshape(-1)]
        out[need] = result
        return out

    def union_last_axis(self, ids: np.ndarray) -> np.ndarray:
        """Union along the last axis of a 2-D id array: one id per row."""
        rows, width = ids.shape
        if width == 0:
            return np.full(rows, EMPTY, dtype=np.int64)
        low = np.where(ids == EMPTY, _I64_MAX, ids).min(axis=1)
        high = np.where(ids == EMPTY, _I64_MIN, ids).max(axis=1)
        out = np.where(low == _I64_MAX, EMPTY, low)
        mixed = np.nonzero((low != high) & (low != _I64_MAX))[0]
        if len(mixed) == 0:
            return out
        if width <= len(mixed):  # many short rows: fold the columns, vectorized
            sub = ids[mixed]
            acc = sub[:, 0]
            for k in range(1, width):
                acc = self.union_arrays(acc, sub[:, k])
            out[mixed] = acc
            return out
        seen: dict[bytes, int] = {}
        for r in mixed:
            row = np.ascontiguousarray(ids[r])
            key = row.tobytes()
            if key not in seen:
                seen[key] = self.union_all(row)
            out[r] = seen[key]
        return out


def _bits_of_mask(mask: np.ndarray) -> int:
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def _units_of_bits(bits: int) -> list[int]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out
