"""Input connectors: a field of a party's input file that names where its data lives.

    {"applicants": {"parquet": "applicants.parquet", "columns": ["age", "amount"]}}
    {"applicants": {"sql": "SELECT age, amount FROM applicants", "url": "sqlite:///bank.db"}}

A Parquet file is read with pyarrow (`pip install 'veil[pandas]'`); `columns` chooses
columns by name and order (all of them by default). A query's result columns, in their
`SELECT` order, are the array's columns. `sqlite:///PATH` URLs are read with Python's
own sqlite3, read-only; any other URL goes through SQLAlchemy (`pip install
'veil[sql]'`). Relative paths (the Parquet file, a sqlite database) are relative to the
input file, like CSV paths. The values are then checked exactly like inline values
(veil.io.arrays): shape, type, range, missing values, with the field, row and column
named and the value never echoed.

Codes: V0707 for a file or database that cannot be read or a malformed connector,
V0701 for a missing column, V0709 for a connector whose optional extra is not installed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from veil.diagnostics import Diagnostic
from veil.extras import require
from veil.io.arrays import convert_columns, homogeneous
from veil.ir.nodes import InputSpec
from veil.types import FRAC_BITS

KINDS = {"parquet": ("parquet", "columns"), "sql": ("sql", "url")}
"""Each connector's keys (the first one names the kind)."""

def is_connector(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in KINDS)


def load(value: dict[str, Any], spec: InputSpec, base_dir: Path, where: str,
         problems: list[Diagnostic], frac_bits: int = FRAC_BITS) -> np.ndarray | None:  # fmt: skip
    """The encoded array a connector names, or None after adding its problems."""
    kinds = [k for k in KINDS if k in value]
    if len(kinds) != 1:
        problems.append(Diagnostic("V0707", f"{where}: give one of "
                                            f"{', '.join(map(repr, KINDS))}, not both"))
        return None
    kind = kinds[0]
    unknown = sorted(set(value) - set(KINDS[kind]))
    if unknown:
        problems.append(Diagnostic("V0707", f"{where}: unknown key {unknown[0]!r} in a {kind} "
                                            f"connector",
                                   help=f"its keys: {', '.join(KINDS[kind])}"))
        return None
    try:
        if kind == "parquet":
            names, arrays, masks, source = _parquet(value, base_dir, where)
            choose = '"columns": [...] in the input file'
        else:
            names, arrays, masks, source = _sql(value, base_dir, where, spec.type.base)
            choose = "the query's SELECT"
    except _Problem as exc:
        problems.append(exc.diagnostic)
        return None
    return convert_columns(names, arrays, masks, spec, where, problems, source, choose,
                           frac_bits)


class _Problem(Exception):
    def __init__(self, code: str, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(code, message, None, help)


def _string(value: dict[str, Any], key: str, where: str) -> str:
    text = value.get(key)
    if not isinstance(text, str) or not text.strip():
        raise _Problem("V0707", f"{where}: `{key}` must be a non-empty string")
    return text


Columns = tuple[list[str], list[np.ndarray], list[np.ndarray | None], str]


def _parquet(value: dict[str, Any], base_dir: Path, where: str) -> Columns:
    path = base_dir / _string(value, "parquet", where)
    chosen = value.get("columns")
    if chosen is not None and (not isinstance(chosen, list) or not chosen or
                               not all(isinstance(c, str) for c in chosen)):
        raise _Problem("V0707", f"{where}: `columns` must be a list of column names")
    parquet = require("pyarrow.parquet", "reading a Parquet file")
    try:
        schema = parquet.read_schema(path)
        if chosen is not None:
            absent = [c for c in chosen if c not in schema.names]
            if absent:
                raise _Problem("V0701", f"{where} ({path}): no column "
                                        f"{', '.join(f'`{c}`' for c in absent)}",
                               f"its columns: {', '.join(schema.names)}")
        table = parquet.read_table(path, columns=chosen)
    except _Problem:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise _Problem("V0707", f"{where}: cannot read Parquet file {path}: "
                                f"{_first_line(exc)}") from None
    arrays, masks = [], []
    for name in table.column_names:
        column = table.column(name)
        mask = None
        if column.null_count:  # reported as missing; the other values are not used then
            mask = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        arrays.append(np.asarray(column.to_numpy()))
        masks.append(mask)
    return list(table.column_names), arrays, masks, str(path)


def _sql(value: dict[str, Any], base_dir: Path, where: str, base: str) -> Columns:
    query = _string(value, "sql", where)
    url = _string(value, "url", where)
    if url.startswith("sqlite:///"):
        path = Path(unquote(url[len("sqlite:///"):]))
        path = path if path.is_absolute() else base_dir / path
        names, rows = _sqlite(path, query, where)
        source = str(path)
    elif "://" in url:
        names, rows = _sqlalchemy(url, query, where)
        source = _redact(url)
    else:
        raise _Problem("V0707", f"{where}: `url` {url!r} is not a database URL",
                       "e.g. sqlite:///bank.db (relative to this file) or "
                       "postgresql://host/db")
    if not names:
        raise _Problem("V0707", f"{where}: the query returns no columns ({source})")
    if rows:  # all numbers of one kind: one conversion, no per-column pass
        table = homogeneous(np.array(rows, dtype=object), base)
        if table.dtype != object:
            return names, [table[:, j] for j in range(len(names))], [None] * len(names), \
                source
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays, masks = [], []
    for col in columns:
        missing = np.fromiter((v is None for v in col), dtype=bool, count=len(col))
        arrays.append(_column(col))
        masks.append(missing if missing.any() else None)
    return names, arrays, masks, source


def _column(values: tuple) -> np.ndarray:
    """One result column: a numeric array when it is all numbers of one kind (checked
    vectorized), else an object array checked element by element."""
    kinds = {type(v) for v in values}
    if kinds == {bool} or (kinds and kinds <= {int, float}):
        array = np.array(values)
        if array.dtype.kind in "biuf":  # else: ints beyond 64 bits, checked one by one
            return array
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _sqlite(path: Path, query: str, where: str) -> tuple[list[str], list[tuple]]:
    if not path.is_file():
        raise _Problem("V0707", f"{where}: no sqlite database {path}")
    try:
        # read-only: an input query can never change the bank's database
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _Problem("V0707", f"{where}: cannot open {path}: {exc}") from None
    try:
        cursor = conn.execute(query)
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    except sqlite3.Error as exc:
        raise _Problem("V0707", f"{where}: the query failed on {path}: {exc}") from None
    finally:
        conn.close()
    return names, rows


def _sqlalchemy(url: str, query: str, where: str) -> tuple[list[str], list[tuple]]:
    sqlalchemy = require("sqlalchemy", f"the database URL {_redact(url)!r}")
    try:
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:  # an unknown dialect or a missing driver
        raise _Problem("V0707", f"{where}: cannot use database {_redact(url)}: "
                                f"{_first_line(exc)}") from None
    try:
        with engine.connect() as conn:
            result = conn.execute(sqlalchemy.text(query))
            names = list(result.keys())
            rows = [tuple(r) for r in result.fetchall()]
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise _Problem("V0707", f"{where}: the query failed on {_redact(url)}: "
                                f"{_first_line(exc)}") from None
    finally:
        engine.dispose()
    return names, rows


def _redact(url: str) -> str:
    """A URL without its password (it ends up in messages)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        creds, _, host = rest.partition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
