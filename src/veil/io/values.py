"""One input field's value → its encoded array, with every check, in two equal ways.

- `from_array` judges an array numpy has already parsed (``np.loadtxt`` of a CSV file,
  ``np.array`` of a JSON list): shape, kind, integrality, range and finiteness are
  checked on the whole array at once, so a million values cost a few numpy passes.
  It answers None when it cannot vouch for the value — an unexpected dtype, or any
  problem at all — and the caller then takes the exact path.
- `from_elements` walks the value element by element (JSON values or CSV text) and
  reports each problem with the field and its index. It accepts exactly what the fast
  path accepts, with the same results, and is the only one that writes diagnostics;
  so a bad file gets the same errors whichever path first looked at it.

Messages name the file, the field and the element's index, never the element's value:
the inputs are secret, and error output ends up in terminals, logs and tickets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic
from veil.ir.nodes import InputSpec
from veil.ir.semantics import encode
from veil.types import (
    BOOL,
    FIXED,
    FRAC_BITS,
    INT,
    INT_MAX,
    INT_MIN,
    fixed_limit,
    fixed_limit_bits,
    fmt_shape,
)

MAX_REPORTED = 5
"""Problems reported per field before stopping: enough to show the pattern."""

EXACT_FLOAT_INT = 2**53
"""Integers below this magnitude survive a trip through float64 unchanged."""


class Problems:
    """The diagnostics collected while reading a set of input files."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, code: str, message: str, help: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, None, help))


# ---------------------------------------------------------------- the fast path


def fit_shape(arr: np.ndarray, want: tuple[int, ...]) -> np.ndarray | None:
    """The array in the declared shape; a vector may also come as one row or one column."""
    if arr.shape == want:
        return arr
    if len(want) == 1 and arr.shape in ((1, want[0]), (want[0], 1)):
        return arr.reshape(want)
    return None


def from_array(arr: np.ndarray, spec: InputSpec, frac_bits: int = FRAC_BITS
               ) -> np.ndarray | None:  # fmt: skip
    """Encoded value of an array numpy parsed, or None to let `from_elements` decide."""
    base = spec.type.base
    shaped = fit_shape(arr, spec.type.shape)
    if shaped is None:
        return None
    kind = shaped.dtype.kind
    with np.errstate(invalid="ignore", over="ignore"):
        if base == BOOL:
            if kind == "b":
                return encode(shaped, BOOL)
            if kind in "iuf" and bool(np.all((shaped == 0) | (shaped == 1))):
                return encode(shaped != 0, BOOL)
            return None
        if base == INT:
            if kind == "i":
                return encode(shaped.astype(np.int64, copy=False), INT)
            if kind == "u" and (shaped.size == 0 or int(shaped.max()) <= INT_MAX):
                return encode(shaped.astype(np.int64), INT)
            if kind == "f" and bool(np.all(np.abs(shaped) < EXACT_FLOAT_INT)) and \
                    bool(np.all(shaped == np.trunc(shaped))):
                return encode(shaped.astype(np.int64), INT)
            return None
        if kind not in "iuf":
            return None
        values = shaped.astype(np.float64, copy=False)
        # |x| < limit is False for NaN, and for ±inf: one pass checks finiteness too
        if not bool(np.all(np.abs(values) < fixed_limit(frac_bits))):
            return None
        return encode(values, FIXED, frac_bits)


# ---------------------------------------------------------------- the exact path


def shape_of(value: Any) -> tuple[int, ...] | None:
    """Shape of a nested list (of lists, tuples or numpy arrays), or None if ragged; one
    level at a time (no recursion, so a deeply nested value is only a wrong shape)."""
    if isinstance(value, np.ndarray):
        return value.shape
    shape: list[int] = []
    level = [value]
    while True:
        if any(isinstance(v, np.ndarray) for v in level):
            inner = {v.shape if isinstance(v, np.ndarray) else shape_of(v) for v in level}
            if len(inner) != 1 or None in inner:
                return None
            return (*shape, *inner.pop())  # type: ignore[misc]
        lists = sum(isinstance(v, list | tuple) for v in level)
        if lists == 0:
            return tuple(shape)
        if lists != len(level):
            return None
        lengths = {len(v) for v in level}
        if len(lengths) != 1:
            return None
        shape.append(lengths.pop())
        level = [x for v in level for x in v]
        if not level:
            return tuple(shape)


def _base_words(base: str) -> str:
    return {INT: "an integer", FIXED: "a number", BOOL: "true/false"}[base]


def json_kind(raw: Any) -> str:
    """What a JSON value is, in words (never the value itself)."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true/false"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    return "not a number"


def element(raw: Any, base: str, where: str, problems: Problems,
            frac_bits: int = FRAC_BITS, text_numbers: bool = False) -> Any:  # fmt: skip
    """One scalar, converted and range-checked; None after reporting a problem.

    `text_numbers`: raw is the text of a CSV cell. In a JSON file a string is never a
    number (`"3"` is V0704): a quoted number is more often a mistake in the export than
    a choice, and JSON has numbers of its own."""
    if isinstance(raw, str) and not text_numbers:
        text = raw.strip().lower()
        quoted = text in ("true", "false") if base == BOOL else is_number_text(text)
        problems.add("V0704", f"{where} is a string, not {_base_words(base)}",
                     "write it without quotes" if quoted
                     else f"expected {_base_words(base)}")
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if base == BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            raw = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            problems.add("V0704", f"{where} is not a number", f"expected {_base_words(base)}")
            return None
    if base == BOOL:
        if isinstance(raw, bool) or raw in (0, 1):
            return bool(raw)
        problems.add("V0704", f"{where} is not a bool", "expected true/false (or 0/1)")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add("V0704", f"{where} is {json_kind(raw)}, not a number",
                     f"expected {_base_words(base)}")
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        problems.add("V0705", f"{where} is not a finite number")
        return None
    if base == INT:
        if isinstance(raw, float):
            if not raw.is_integer():
                problems.add("V0704", f"{where} is not an integer",
                             "the field is declared int; declare it fixed for fractions")
                return None
            raw = int(raw)
        if not INT_MIN <= raw <= INT_MAX:
            problems.add("V0705", f"{where} does not fit in a signed 64-bit int")
            return None
        return raw
    if abs(raw) >= fixed_limit(frac_bits):
        problems.add("V0705", f"{where} is outside the fixed-point range "
                     f"±2^{fixed_limit_bits(frac_bits)}",
                     "scale the data down (e.g. thousands instead of units)")
        return None
    return float(raw)


def is_number_text(text: str) -> bool:
    """Does Python read this text as a number (CSV cells, quoted JSON numbers)?"""
    try:
        float(text)
    except ValueError:
        return False
    return True


def hex_bits(value: Any, width: int, where: str, problems: Problems, levels: int = 8) -> Any:
    """A bool array given as "0x…" (bit i of the number = element i), or a list of them
    (`levels`: how many list levels may hold such strings; deeper is a shape error)."""
    if isinstance(value, list):
        if levels <= 0:
            return value
        return [hex_bits(v, width, f"{where}[{k}]", problems, levels - 1)
                for k, v in enumerate(value)]
    if not (isinstance(value, str) and value.lower().startswith("0x")):
        return value
    try:
        number = int(value, 16)
    except ValueError:
        problems.add("V0704", f"{where} is not a hexadecimal number",
                     'write "0x" followed by hex digits')
        return None
    if number >> width:
        problems.add("V0705", f"{where} has more than {width} bits",
                     f"the field holds {width} bits (bit i of the number is element i)")
        return None
    return [bool((number >> i) & 1) for i in range(width)]


def shape_help(want: tuple[int, ...]) -> str:
    if not want:
        return "give a single number"
    if len(want) == 1:
        return f"give a list of {want[0]} values"
    return f"give a nested list ({want[0]} rows of {want[1:]}) or a CSV file name"


def from_elements(value: Any, spec: InputSpec, where: str, problems: Problems,
                  frac_bits: int = FRAC_BITS, *,
                  locate: Callable[[tuple[int, ...]], str] | None = None,
                  text_numbers: bool = False) -> np.ndarray | None:  # fmt: skip
    """Encoded value, checked element by element; None after reporting every problem.

    `locate(index)` names where an element is (a CSV file's line and column; default
    `where[i][j]`); `text_numbers`: the elements are CSV text, not JSON values."""
    if spec.type.base == BOOL and spec.type.shape:
        before = len(problems.items)
        value = hex_bits(value, spec.type.shape[-1], where, problems, len(spec.type.shape) - 1)
        if len(problems.items) > before:
            return None
    shape = shape_of(value)
    want = spec.type.shape
    if shape is None:
        problems.add("V0703", f"{where}: rows of different lengths",
                     f"expected shape {fmt_shape(want)}")
        return None
    if shape != want and not ((len(want) == 1 and shape == (1, want[0])) or
                              (len(want) == 1 and shape == (want[0], 1))):
        got = "a single value" if shape == () else f"shape {fmt_shape(shape)}"
        problems.add("V0703", f"{where}: expected shape {fmt_shape(want)} "
                     f"({spec.type.base}), got {got}", shape_help(want))
        return None
    flat = np.array(value, dtype=object).reshape(-1).tolist() if shape else [value]
    before = len(problems.items)
    converted = []
    for k, raw in enumerate(flat):
        pos = tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()
        at = locate(pos) if locate is not None else where + "".join(f"[{i}]" for i in pos)
        converted.append(element(raw, spec.type.base, at, problems, frac_bits, text_numbers))
        if len(problems.items) - before >= MAX_REPORTED:
            return None
    if len(problems.items) > before:
        return None
    dtype = {INT: np.int64, FIXED: np.float64, BOOL: np.bool_}[spec.type.base]
    return encode(np.array(converted, dtype=dtype).reshape(want), spec.type.base, frac_bits)


def has_bool(value: Any) -> bool:
    """Does a nested JSON list hold a true/false anywhere (numpy would read it as 0/1)?"""
    if isinstance(value, bool):
        return True
    return isinstance(value, list) and any(has_bool(v) for v in value)


def json_field(value: Any, spec: InputSpec, where: str, problems: Problems,
               bool_literals: bool, frac_bits: int = FRAC_BITS) -> np.ndarray | None:  # fmt: skip
    """A field given inline in the JSON file: numpy's array of it when that is plainly
    numbers, the exact path otherwise. `bool_literals` says whether the file's text
    holds `true`/`false` at all (if not, no element can be a bool)."""
    if isinstance(value, list | int | float) and not isinstance(value, bool):
        try:
            arr = np.array(value)
        except (ValueError, OverflowError, TypeError):
            arr = None
        if arr is not None and arr.dtype.kind in "biuf" and (
                spec.type.base == BOOL or not bool_literals or not has_bool(value)):
            encoded = from_array(arr, spec, frac_bits)
            if encoded is not None:
                return encoded
    return from_elements(value, spec, where, problems, frac_bits)


__all__ = ["Problems", "from_array", "from_elements", "json_field", "json_kind", "shape_help"]
