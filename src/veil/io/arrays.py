"""Validate input values that come from Python: numbers, nested lists, numpy arrays and
pandas DataFrames or Series (whole, or columns chosen by name).

The rules are those of input files (veil.io.inputs): the declared shape (a vector may
also come as one row or one column), `int` elements are whole numbers within 64 bits,
`fixed` elements are finite and strictly inside ±2^(62 − 2f) (±2^30 at the default 16
fractional bits; then rounded to f fractional bits, as in files), `bool` elements are
true/false or 0/1; the codes are the same (V0703 shape, V0704 type, V0705 range).
Messages name the field, the element's index and, for a DataFrame, its column, but
never the value: it may be secret, and error messages end up in shared notebooks and
logs. At most five problems are listed per field.

numpy arrays of numbers are checked with vectorized operations (a million-row frame
takes milliseconds); Python lists and object arrays element by element.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic
from veil.io.values import shape_of
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

MAX_PROBLEMS = 5
"""Problems listed per field: enough to show the pattern."""

_DTYPES = {INT: np.int64, FIXED: np.float64, BOOL: np.bool_}
_WORDS = {INT: "an integer", FIXED: "a number", BOOL: "true/false (or 0/1)"}


@dataclass(frozen=True)
class Columns:
    """Chosen columns of a DataFrame, in the order given (`veil.columns(df, [...])`)."""

    frame: Any
    names: tuple[str, ...]


def columns(frame: Any, names: Sequence[str]) -> Columns:
    """Take these columns of `frame` (a pandas DataFrame), in this order, as one input."""
    if isinstance(names, str):
        names = (names,)
    return Columns(frame, tuple(str(n) for n in names))


def is_frame(value: Any) -> bool:
    """A pandas DataFrame (recognised by its interface: pandas need not be imported)."""
    return hasattr(value, "columns") and hasattr(value, "to_numpy") and hasattr(value, "dtypes")


def is_series(value: Any) -> bool:
    return hasattr(value, "to_numpy") and hasattr(value, "dtype") and hasattr(value, "isna") \
        and not is_frame(value)


class _Field:
    """One field's validation: where it is, and the problems found so far."""

    def __init__(self, spec: InputSpec, where: str, problems: list[Diagnostic],
                 column_names: Sequence[str] | None = None, source: str | None = None,
                 choose: str = "veil.columns(df, [...]) or df[[...]]",
                 frac_bits: int = FRAC_BITS) -> None:  # fmt: skip
        self.spec = spec
        self.frac_bits = frac_bits  # the program's precision: fixed range and rounding
        self.where = where
        self.problems = problems
        self.start = len(problems)
        self.column_names = column_names
        self.source = source  # the file or database the values come from
        self.choose = choose  # how to choose columns, for a hint

    @property
    def count(self) -> int:
        return len(self.problems) - self.start

    @property
    def full(self) -> bool:
        return self.count >= MAX_PROBLEMS

    def add(self, code: str, message: str, help: str | None = None,
            index: tuple[int, ...] | None = None) -> None:  # fmt: skip
        if self.full:
            return
        self.problems.append(Diagnostic(code, f"{self.at(index)}: {message}", None, help))

    def at(self, index: tuple[int, ...] | None) -> str:
        of = f" of {self.source}" if self.source else ""
        if not index:
            return self.where + (f" ({self.source})" if self.source else "")
        text = self.where + "".join(f"[{i}]" for i in index)
        if self.column_names is not None and len(index) == 2:
            return text + f" (row {index[0]}, column `{self.column_names[index[1]]}`{of})"
        return text + (f" ({self.source})" if self.source else "")


def convert(value: Any, spec: InputSpec, where: str, problems: list[Diagnostic],
            frac_bits: int = FRAC_BITS) -> np.ndarray | None:  # fmt: skip
    """The encoded array for `spec`, or None after adding the problems to `problems`.

    `where` names the field in messages, e.g. "cn_bank: field `applicants`"."""
    names: Sequence[str] | None = None
    missing: np.ndarray | None = None
    field = _Field(spec, where, problems, frac_bits=frac_bits)
    if isinstance(value, Columns):
        value = _select(value, field)
        if value is None:
            return None
    if is_frame(value):
        names = [str(c) for c in value.columns]
        field.column_names = names
        array, missing = _frame_array(value, spec.type.base)
    elif is_series(value):
        array, missing = _column_array(value)
    elif isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
    else:
        array = _from_python(value, field)
        if array is None:
            return None
    shape = _fit_shape(array.shape, spec, field)
    if shape is None:
        return None
    checked = _check(array, missing, spec.type.base, field)
    if checked is None:
        return None
    return encode(checked.reshape(spec.type.shape), spec.type.base, frac_bits)


def convert_columns(names: Sequence[str], arrays: Sequence[np.ndarray],
                    masks: Sequence[np.ndarray | None], spec: InputSpec, where: str,
                    problems: list[Diagnostic], source: str, choose: str,
                    frac_bits: int = FRAC_BITS) -> np.ndarray | None:  # fmt: skip
    """Like `convert`, for a table read column by column from `source` (a Parquet file,
    a query's database): the columns side by side, one row per record. A scalar input
    takes a table of one row and one column. `choose` says how to choose columns."""
    field = _Field(spec, where, problems, list(names), source, choose, frac_bits)
    if not arrays:
        field.add("V0703", "no columns", f"expected shape {fmt_shape(spec.type.shape)}")
        return None
    array = _stack(arrays, spec.type.base)
    missing = None
    if any(m is not None for m in masks):
        missing = np.column_stack([m if m is not None else np.zeros(len(arrays[0]), dtype=bool)
                                   for m in masks])
    if spec.type.shape == () and array.shape == (1, 1):
        array = array.reshape(())
        missing = None if missing is None else missing.reshape(())
    if _fit_shape(array.shape, spec, field) is None:
        return None
    checked = _check(array, missing, spec.type.base, field)
    if checked is None:
        return None
    return encode(checked.reshape(spec.type.shape), spec.type.base, frac_bits)


def _select(chosen: Columns, field: _Field) -> Any:
    frame = chosen.frame
    if not is_frame(frame):
        field.add("V0703", f"columns(...) needs a DataFrame, got {type(frame).__name__}")
        return None
    have = [str(c) for c in frame.columns]
    absent = [n for n in chosen.names if n not in have]
    if absent:
        field.add("V0701", f"the DataFrame has no column "
                           f"{', '.join(f'`{n}`' for n in absent)}",
                  f"its columns: {', '.join(have)}")
        return None
    by_name = {str(c): c for c in frame.columns}
    return frame[[by_name[n] for n in chosen.names]]


def _column_array(series: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A pandas column as a numpy array, and where it has missing values (None: nowhere).

    Nullable dtypes (Int64, Float64, boolean) convert to their numpy type with missing
    values filled (and reported from the mask), so large Int64 values stay exact."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        array = series.to_numpy()
        if array.dtype.kind == "f":
            return array, None  # NaN is reported as not finite
        if array.dtype.kind == "O":
            mask = np.asarray(series.isna().to_numpy(), dtype=bool)
            return array, mask if mask.any() else None
        return array, None
    mask = np.asarray(series.isna().to_numpy(), dtype=bool)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "biuf":
        fill = False if numpy_dtype.kind == "b" else 0
        return series.to_numpy(dtype=numpy_dtype, na_value=fill), mask if mask.any() else None
    return series.to_numpy(dtype=object), mask if mask.any() else None


def _frame_array(frame: Any, base: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A DataFrame as a 2-D array (one column per frame column) and its missing values."""
    cols = [_column_array(frame.iloc[:, j]) for j in range(frame.shape[1])]
    if not cols:
        return np.zeros((len(frame), 0)), None
    array = _stack([a for a, _ in cols], base)
    masks = [m for _, m in cols]
    missing = None
    if any(m is not None for m in masks):
        missing = np.column_stack([m if m is not None else np.zeros(len(frame), dtype=bool)
                                   for m in masks])
    return array, missing


def _stack(arrays: Sequence[np.ndarray], base: str) -> np.ndarray:
    """Columns side by side as one 2-D array, without losing what the checks must see."""
    kinds = {a.dtype.kind for a in arrays}
    if len(kinds) == 1 and "O" not in kinds:
        return np.column_stack(arrays)
    if base == FIXED and kinds <= set("iuf"):
        # exact: fixed values lie within ±2^30, far inside float64's 2^53
        return np.column_stack([a.astype(np.float64) for a in arrays])
    return _mixed(arrays)


def _mixed(arrays: list[np.ndarray]) -> np.ndarray:
    """Columns of different kinds side by side, each element keeping its own type (an
    int column next to a float column must not lose int precision, nor a bool column
    become a number)."""
    out = np.empty((len(arrays[0]), len(arrays)), dtype=object)
    for j, a in enumerate(arrays):
        out[:, j] = a.astype(object)
    return out


def _from_python(value: Any, field: _Field) -> np.ndarray | None:
    """A number, bool or nested list as an object array (each element as given)."""
    if isinstance(value, str) and field.spec.type.base == BOOL and field.spec.type.shape:
        value = _hex_bits(value, field.spec.type.shape[-1], field, ())
        if value is None:
            return None
    elif isinstance(value, list | tuple) and field.spec.type.base == BOOL and \
            any(isinstance(v, str) for v in value):
        rows = [_hex_bits(v, field.spec.type.shape[-1], field, (k,)) if isinstance(v, str)
                else v for k, v in enumerate(value)]
        if any(r is None for r in rows):
            return None
        value = rows
    shape = shape_of(value)
    if shape is None:
        field.add("V0703", "rows of different lengths",
                  f"expected shape {fmt_shape(field.spec.type.shape)}")
        return None
    out = np.empty(shape, dtype=object)
    if shape:
        out.reshape(-1)[:] = list(_flatten(value))
    else:
        out[()] = value
    return homogeneous(out, field.spec.type.base)


def homogeneous(objects: np.ndarray, base: str) -> np.ndarray:
    """An object array as a numeric or bool array when every element is of one kind the
    vectorized checks read exactly as the element-by-element ones would (floats; ints
    within 64 bits; ints and floats together for `fixed`, whose range is far inside
    float64's exact integers; bools); otherwise the object array, checked one by one."""
    kinds = set(map(type, objects.reshape(-1).tolist()))
    try:
        if kinds == {float} or (base == FIXED and kinds == {int, float}):
            return objects.astype(np.float64)
        if kinds == {int}:
            return objects.astype(np.int64)
        if kinds == {bool}:
            return objects.astype(np.bool_)
    except OverflowError:  # an int beyond 64 bits: reported element by element
        pass
    return objects


def _flatten(value: Any) -> list:
    """The leaves of a nested list, in order (one level at a time: fast for wide lists)."""
    level = [value]
    while level and isinstance(level[0], list | tuple | np.ndarray):
        level = [v for row in level for v in row]
    return level


def _hex_bits(text: str, width: int, field: _Field, index: tuple[int, ...]) -> list | None:
    """A bool row given as "0x…" (bit i of the number is element i), as in input files."""
    if not text.lower().startswith("0x"):
        field.add("V0704", "text is not a bool", 'give bools, 0/1, or "0x…" for a row of bits',
                  index)
        return None
    try:
        number = int(text, 16)
    except ValueError:
        field.add("V0704", "not a hexadecimal number", 'write "0x" followed by hex digits',
                  index)
        return None
    if number >> width:
        field.add("V0705", f"more than {width} bits",
                  f"the field holds {width} bits (bit i of the number is element i)", index)
        return None
    return [bool((number >> i) & 1) for i in range(width)]


def _fit_shape(shape: tuple[int, ...], spec: InputSpec, field: _Field) -> tuple[int, ...] | None:
    want = spec.type.shape
    if shape == want or (len(want) == 1 and shape in ((1, want[0]), (want[0], 1))):
        return shape
    got = "a single value" if shape == () else f"shape {fmt_shape(shape)}"
    hint = "give a single value" if not want else f"give an array of shape {fmt_shape(want)}"
    if field.column_names is not None and len(shape) == 2 and len(want) == 2 and \
            shape[0] == want[0] and shape[1] != want[1]:
        hint = (f"there are {shape[1]} columns ({', '.join(field.column_names)}); "
                f"choose {want[1]} with {field.choose}")
    field.add("V0703", f"expected shape {fmt_shape(want)} ({spec.type.base}), got {got}", hint)
    return None


def _report(field: _Field, checks: list[tuple[np.ndarray, str, str, str | None]]) -> bool:
    """Report each element that fails a check (the first check it fails), in element
    order and up to the limit, like the element-by-element checks of files; True if any
    element failed. `checks` are (mask, code, message, help)."""
    failed = np.zeros(checks[0][0].shape, dtype=bool) if checks else np.zeros(())
    which = np.full(failed.shape, -1)
    for k, (mask, *_) in enumerate(checks):
        new = np.asarray(mask, dtype=bool) & ~failed
        which[new] = k
        failed |= new
    if not failed.any():
        return False
    for flat in np.flatnonzero(failed.reshape(-1))[:MAX_PROBLEMS]:
        pos = tuple(int(i) for i in np.unravel_index(flat, failed.shape))
        _, code, message, help = checks[int(which.reshape(-1)[flat])]
        field.add(code, message, help, pos)
    return True


def _check(array: np.ndarray, missing: np.ndarray | None, base: str,
           field: _Field) -> np.ndarray | None:  # fmt: skip
    """Element checks by kind; the values as int64, float64 or bool, or None."""
    if missing is not None and _report(field, [(missing, "V0705", "a missing value",
                                                "fill or drop missing values before the run")]):
        return None
    kind = array.dtype.kind
    every = np.ones(array.shape, dtype=bool)
    if kind == "O":
        return _check_objects(array, base, field)
    if kind in "USa":
        _report(field, [(every, "V0704", "text, not a number",
                         f"expected {_WORDS[base]}; convert the data first (e.g. pd.to_numeric)")])
        return None
    if kind not in "biuf":
        field.add("V0704", f"values of numpy type {array.dtype} are not numbers",
                  f"expected {_WORDS[base]}")
        return None
    if base == BOOL:
        if kind != "b":
            with np.errstate(invalid="ignore"):
                bad = ~((array == 0) | (array == 1))
            if _report(field, [(bad, "V0704", "not a bool", "expected true/false (or 0/1)")]):
                return None
        return array.astype(np.bool_)
    if kind == "b":
        _report(field, [(every, "V0704", "a bool, not a number",
                         f"expected {_WORDS[base]}; convert with .astype(int) if 0/1 is meant")])
        return None
    checks = []
    if kind == "f":
        checks.append((~np.isfinite(array), "V0705",
                       "not a finite number (a missing value, NaN or infinity)", None))
    with np.errstate(invalid="ignore"):
        if base == INT:
            checks += _int_checks(array, kind)
        else:
            limit = fixed_limit(field.frac_bits)
            too_big = array >= np.uint64(limit) if kind == "u" else \
                np.abs(array.astype(np.float64)) >= limit
            checks.append((too_big, "V0705", "outside the fixed-point range "
                           f"±2^{fixed_limit_bits(field.frac_bits)}",
                           "scale the data down (e.g. thousands instead of units)"))
    if checks and _report(field, checks):
        return None
    return array.astype(np.int64 if base == INT else np.float64)


def _int_checks(array: np.ndarray, kind: str) -> list[tuple[np.ndarray, str, str, str | None]]:
    if kind == "u":
        return [(array > np.uint64(INT_MAX), "V0705", "does not fit in a signed 64-bit int",
                 None)]
    if kind == "i":
        return []
    # float64 holds 2^63 exactly; -2^63 fits, +2^63 does not
    return [(array != np.floor(array), "V0704", "not an integer",
             "the field is declared int; declare it fixed for fractions"),
            ((array >= 2.0**63) | (array < -(2.0**63)), "V0705",
             "does not fit in a signed 64-bit int", None)]


def _check_objects(array: np.ndarray, base: str, field: _Field) -> np.ndarray | None:
    """Element by element, with the rules of input files (a bool is not a number, a
    whole float is an int, a Python int may be arbitrarily large)."""
    out = np.empty(array.shape, dtype=_DTYPES[base])
    flat_out = out.reshape(-1)
    for k, raw in enumerate(array.reshape(-1).tolist()):
        pos = tuple(int(i) for i in np.unravel_index(k, array.shape)) if array.shape else ()
        value = _element(raw, base, field, pos)
        if value is not None:
            flat_out[k] = value
        if field.full:
            break
    return None if field.count else out


def _element(raw: Any, base: str, field: _Field, pos: tuple[int, ...]) -> Any:
    if isinstance(raw, np.generic):
        raw = raw.item()
    if isinstance(raw, Decimal) and raw.is_finite():  # SQL NUMERIC, Parquet decimal
        raw = int(raw) if raw == raw.to_integral_value() else float(raw)
    if raw is None or (base != BOOL and _is_na(raw)):
        field.add("V0705", "a missing value", "fill or drop missing values before the run", pos)
        return None
    if isinstance(raw, str):
        field.add("V0704", "text, not a number" if base != BOOL else "text, not a bool",
                  f"expected {_WORDS[base]}", pos)
        return None
    if base == BOOL:
        if isinstance(raw, bool) or (isinstance(raw, int | float) and raw in (0, 1)):
            return bool(raw)
        field.add("V0704", "not a bool", "expected true/false (or 0/1)", pos)
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        field.add("V0704", "not a number" if not isinstance(raw, bool) else
                  "a bool, not a number", f"expected {_WORDS[base]}", pos)
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        field.add("V0705", "not a finite number", None, pos)
        return None
    if base == INT:
        if isinstance(raw, float):
            if not raw.is_integer():
                field.add("V0704", "not an integer",
                          "the field is declared int; declare it fixed for fractions", pos)
                return None
            raw = int(raw)
        if not INT_MIN <= raw <= INT_MAX:
            field.add("V0705", "does not fit in a signed 64-bit int", None, pos)
            return None
        return raw
    if abs(raw) >= fixed_limit(field.frac_bits):
        field.add("V0705", f"outside the fixed-point range ±2^{fixed_limit_bits(field.frac_bits)}",
                  "scale the data down (e.g. thousands instead of units)", pos)
        return None
    return float(raw)


def _is_na(raw: Any) -> bool:
    """pandas.NA / NaT without importing pandas."""
    return type(raw).__name__ in ("NAType", "NaTType")
