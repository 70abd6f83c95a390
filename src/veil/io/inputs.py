"""Read and validate the parties' input files before anything runs.

One JSON object per party (`inputs/<party>.json`): each field is a number, a bool, a
nested list, or a string naming a CSV file (relative to the JSON file) for an array.
Every problem is reported (file, field, what was expected) and nothing runs if there
is any: a half-validated input set never reaches a backend.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.io import parallel
from veil.io.files import InputFileError, check_input_size, inside, read_input
from veil.io.ranges import check_declared_ranges
from veil.io.values import (
    Problems,
    from_array,
    from_elements,
    is_number_text,
    json_field,
    json_kind,
)
from veil.ir.nodes import Circuit, InputSpec
from veil.limits import DEFAULT as DEFAULT_LIMITS
from veil.types import BOOL, FIXED, INT, fmt_shape


def _rows_with_lines(text: str) -> list[tuple[int, list[str]]]:
    """The data rows of a CSV text with the file line each ends on: blank lines and a
    header (a first non-blank row with no number in it) skipped, cells stripped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = [(reader.line_num, [c.strip() for c in row]) for row in reader
            if row and any(c.strip() for c in row)]
    if rows and not any(is_number_text(c) for c in rows[0][1]):
        rows = rows[1:]
    return rows


def read_csv(path: Path) -> list:
    """Rows of a CSV file as lists of strings; a first row with no number is a header."""
    text = read_input(path)
    assert isinstance(text, str)
    return [cells for _, cells in _rows_with_lines(text)]


def _header_lines(text: str) -> int | None:
    """Physical lines before the data: blank lines and a header (a first non-blank row
    with no number in it), as `_rows_with_lines` decides; None for blank lines only."""
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        row = next(csv.reader([line]), [])
        if not any(c.strip() for c in row):
            continue
        if any(is_number_text(c.strip()) for c in row):
            return number - 1
        return number
    return None


HEAD_BYTES = 1 << 16
"""How much of a CSV file is read to find its header before numpy parses the file."""


def _csv_array(path: Path, base: str, halves: bool = False) -> np.ndarray | None:
    """numpy's parse of a CSV file of plain numbers (or true/false), read by numpy from
    the file itself (no copy of its text: half the time of parsing a copy), or None when
    numpy cannot read it that simply (then the csv module and the exact path take over).
    With `halves`, a large file is parsed in two halves side by side where that gives
    the same array (veil.io.parallel.parse_halves). The caller has checked that it is a
    regular file within the input-bytes budget."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        complete = head[:head.rfind(b"\n") + 1]  # whole lines only
        skip = _header_lines(complete.decode("utf-8"))
        if skip is None:
            return None
        dtype: Any = np.int64 if base == INT else np.float64
        options = dict(delimiter=",", comments=None, ndmin=2, quotechar='"', encoding="utf-8")
        read = functools.partial(np.loadtxt, path, skiprows=skip, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the exact path says
            try:
                if halves and base != BOOL:
                    joined = parallel.parse_halves(path, lambda stream, first: np.loadtxt(
                        stream, skiprows=skip if first else 0, dtype=dtype, **options))
                    if joined is not None:
                        return joined
                return read(dtype=dtype)
            except ValueError:
                if base != BOOL:
                    raise
            words = np.char.lower(np.char.strip(read(dtype="U5")))
            if not bool(np.all(np.isin(words, ("true", "false", "0", "1")))):
                return None
            return (words == "true") | (words == "1")
    except (ValueError, csv.Error, OverflowError, OSError, UnicodeDecodeError):
        return None


def _names_csv(spec: InputSpec, value: Any) -> bool:
    """Is this field's value the name of a CSV file (not a hex bit string)?"""
    return isinstance(value, str) and bool(spec.type.shape) and \
        not (spec.type.base == BOOL and value.lower().startswith("0x"))


def _parse_csv_files(specs: list[InputSpec], data: dict, path: Path, max_bytes: int
                     ) -> dict[tuple[Path, str], np.ndarray | None]:  # fmt: skip
    """numpy's parse of every CSV file the fields name (within the budget), several
    large ones side by side (veil.io.parallel); problems are found again, and reported,
    field by field afterwards."""
    jobs: list[tuple[Path, str]] = []
    for spec in specs:
        value = data.get(spec.name)
        if not _names_csv(spec, value):
            continue
        try:
            csv_path = inside(path.parent, value)
            check_input_size(csv_path, max_bytes, kind="CSV")
        except InputFileError:
            continue
        if (csv_path, spec.type.base) not in jobs:
            jobs.append((csv_path, spec.type.base))
    # one large file alone is parsed in two halves side by side; several, one a core
    alone = sum(parallel.worth_forking(path) for path, _ in jobs) == 1
    return parallel.parse_all(jobs, lambda job: _csv_array(*job, halves=alone))


def _csv_field(csv_path: Path, spec: InputSpec, where: str, problems: Problems,
               frac_bits: int, max_bytes: int, parsed: np.ndarray | None = None
               ) -> np.ndarray | None:  # fmt: skip
    """One field's CSV file, validated and encoded; `parsed` is numpy's parse of it
    when that was done already."""
    try:
        check_input_size(csv_path, max_bytes, kind="CSV")
    except InputFileError as exc:
        problems.add(exc.code, f"{where}: {exc.message}", exc.help)
        return None
    arr = parsed if parsed is not None else _csv_array(csv_path, spec.type.base)
    if arr is not None:
        encoded = from_array(arr, spec, frac_bits)
        if encoded is not None:
            return encoded
    try:  # the exact path reads what it parses through the budget's checks again
        text = read_input(csv_path, max_bytes, kind="CSV")
    except InputFileError as exc:
        problems.add(exc.code, f"{where}: {exc.message}", exc.help)
        return None
    assert isinstance(text, str)
    return _csv_exact(text, spec, where, problems, frac_bits)


def _csv_exact(text: str, spec: InputSpec, where: str, problems: Problems,
               frac_bits: int) -> np.ndarray | None:  # fmt: skip
    """The element-by-element reading of a CSV text; problems name the file's lines."""
    try:
        rows = _rows_with_lines(text)
    except csv.Error as exc:
        problems.add("V0707", f"{where}: invalid CSV: {exc}")
        return None
    if rows:
        first_line, first = rows[0]
        for line, cells in rows[1:]:
            if len(cells) != len(first):
                problems.add("V0703", f"{where}: line {line} has {len(cells)} "
                             f"cell{'s' if len(cells) != 1 else ''}, line {first_line} has "
                             f"{len(first)}", f"every row has the same number of cells; "
                             f"expected shape {fmt_shape(spec.type.shape)}")
                return None
    value: Any = [cells for _, cells in rows]
    lines = [line for line, _ in rows]
    if len(spec.type.shape) == 1 and len(value) == 1:
        value = value[0]

        def locate(pos: tuple[int, ...]) -> str:
            return f"{where}: line {lines[0]}, column {pos[0] + 1}"
    else:
        def locate(pos: tuple[int, ...]) -> str:
            column = f", column {pos[1] + 1}" if len(pos) > 1 else ""
            return f"{where}: line {lines[pos[0]]}{column}"
    return from_elements(value, spec, where, problems, frac_bits, locate=locate,
                         text_numbers=True)


def template(spec: InputSpec) -> Any:
    """A zero value of the right shape, for `veil check --template`."""
    zero = {INT: 0, FIXED: 0.0, BOOL: False}[spec.type.base]
    return np.full(spec.type.shape, zero, dtype=object).tolist() if spec.type.shape else zero


def _owners(circuit: Circuit) -> dict[str, list[InputSpec]]:
    owners: dict[str, list[InputSpec]] = {}
    for spec in circuit.inputs:
        owners.setdefault(spec.owner, []).append(spec)
    return owners


def inputs_dir_problems(circuit: Circuit, inputs_dir: Path) -> list[Diagnostic]:
    """Does the directory hold one file per input owner and no stray ones? Names only: no
    file is read, so a launcher can check it without seeing any party's data. A missing
    directory raises at once (there is nothing to read)."""
    problems = Problems()
    _check_dir(circuit, inputs_dir, _owners(circuit), problems)
    return problems.items


def _check_dir(circuit: Circuit, inputs_dir: Path, owners: dict[str, list[InputSpec]],
               problems: Problems) -> bool:  # fmt: skip
    """Collect the directory's problems; False when there is no directory to read."""
    if not inputs_dir.is_dir():
        if owners:
            raise VeilError([Diagnostic(
                "V0701", f"{inputs_dir}: no inputs directory",
                None, f"create it with one JSON file per input owner "
                f"({', '.join(sorted(owners))}); `veil check --template {inputs_dir}` "
                "writes templates")])
        return False
    for path in sorted(inputs_dir.glob("*.json")):
        party = path.stem
        if party not in owners:
            if party in circuit.parties:
                problems.add("V0706", f"{path}: party `{party}` owns no input of this program",
                             "remove the file; only input owners provide data")
            else:
                problems.add("V0706", f"{path}: `{party}` is not a party of this program",
                             f"parties: {', '.join(circuit.parties)}")
    for party, specs in owners.items():
        path = inputs_dir / f"{party}.json"
        if not path.is_file():
            names = ", ".join(s.name for s in specs)
            problems.add("V0701", f"{path}: missing input file of party `{party}`",
                         f"it must hold {names}")
    return True


def load_inputs(circuit: Circuit, inputs_dir: Path,
                max_bytes: int = DEFAULT_LIMITS.input_bytes) -> dict[str, np.ndarray]:  # fmt: skip
    """Every input of the circuit, encoded; VeilError listing every problem otherwise.
    No file larger than `max_bytes` is read (the `input-bytes` budget, V0711)."""
    problems = Problems()
    owners = _owners(circuit)
    values: dict[str, np.ndarray] = {}
    if not _check_dir(circuit, inputs_dir, owners, problems):
        return values
    for party, specs in owners.items():
        path = inputs_dir / f"{party}.json"
        if path.is_file():
            _load_owner_file(party, specs, path, problems, values, circuit.frac_bits,
                             max_bytes)
    if problems.items:
        raise VeilError(problems.items)
    return values


def load_party_inputs(circuit: Circuit, party: str, path: Path,
                      max_bytes: int = DEFAULT_LIMITS.input_bytes
                      ) -> dict[str, np.ndarray]:  # fmt: skip
    """One party's own inputs from its own file (what `veil party` reads, and nothing
    else); VeilError listing every problem otherwise."""
    specs = [s for s in circuit.inputs if s.owner == party]
    problems = Problems()
    values: dict[str, np.ndarray] = {}
    if not specs:
        return values
    if not path.is_file():
        names = ", ".join(s.name for s in specs)
        problem = "not a file" if path.exists() else "missing input file"
        raise VeilError([Diagnostic("V0701", f"{path}: {problem} of party `{party}`",
                                    None, f"it must hold {names}")])
    _load_owner_file(party, specs, path, problems, values, circuit.frac_bits, max_bytes)
    if problems.items:
        raise VeilError(problems.items)
    return values


class DuplicateKey(ValueError):
    """A JSON object names one key twice (json keeps the last one silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(key)
        found[key] = value
    return found


def read_json(path: Path, problems: Problems, max_bytes: int = DEFAULT_LIMITS.input_bytes
              ) -> tuple[Any, str] | None:  # fmt: skip
    """An input file's JSON value and text, or None after adding its problem: unreadable
    or too large, not JSON, a key given twice, or nested beyond what the parser walks."""
    try:
        text = read_input(path, max_bytes)
    except InputFileError as exc:
        problems.add(exc.code, f"{path}: {exc.message}", exc.help)
        return None
    assert isinstance(text, str)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys), text
    except json.JSONDecodeError as exc:
        problems.add("V0707", f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}")
    except DuplicateKey as exc:
        key = exc.key if exc.key.isprintable() and len(exc.key) <= 80 else "(a long key)"
        problems.add("V0707", f"{path}: the key `{key}` is given twice in one object",
                     "give each field once (JSON readers disagree on which copy wins)")
    except RecursionError:
        problems.add("V0707", f"{path}: invalid JSON: nested too deeply",
                     "an input is a number or a list of at most a few dimensions")
    except ValueError as exc:  # a number with more digits than Python converts
        problems.add("V0707", f"{path}: invalid JSON: {str(exc).split(':')[0]}")
    return None


def _load_owner_file(party: str, specs: list[InputSpec], path: Path, problems: Problems,
                     values: dict[str, np.ndarray], frac_bits: int,
                     max_bytes: int = DEFAULT_LIMITS.input_bytes) -> None:  # fmt: skip
    """Validate and encode one owner's input file into `values`; problems are collected."""
    read = read_json(path, problems, max_bytes)
    if read is None:
        return
    data, text = read
    if not isinstance(data, dict):
        problems.add("V0707", f"{path}: expected a JSON object of fields, got "
                     f"{json_kind(data)}", 'e.g. {"weights": [0.1, 0.2]}')
        return
    bool_literals = "true" in text or "false" in text  # else no element can be a bool
    parsed = _parse_csv_files(specs, data, path, max_bytes)
    declared = {s.name for s in specs}
    for field in sorted(set(data) - declared):
        shown = field if field.isprintable() and len(field) <= 80 else \
            "(a long or unprintable name)"
        problems.add("V0702", f"{path}: unknown field `{shown}`",
                     f"party `{party}` provides: {', '.join(sorted(declared))}")
    for spec in specs:
        where = f"{path}: field `{spec.name}`"
        if spec.name not in data:
            problems.add("V0701", f"{where} is missing",
                         f"expected {spec.type.base} of shape {fmt_shape(spec.type.shape)}")
            continue
        value = data[spec.name]
        if isinstance(value, dict):  # a connector: {"parquet": ...} or {"sql": ..., "url": ...}
            from veil.io import connectors

            encoded = connectors.load(value, spec, path.parent, where, problems.items,
                                      frac_bits, confine=True, max_bytes=max_bytes)
            if encoded is not None:
                values[spec.name] = encoded
            continue
        if _names_csv(spec, value):
            try:
                csv_path = inside(path.parent, value)
            except InputFileError as exc:
                problems.add(exc.code, f"{where}: CSV path: {exc.message}", exc.help)
                continue
            encoded = _csv_field(csv_path, spec, f"{where} ({csv_path})", problems, frac_bits,
                                 max_bytes, parsed.get((csv_path, spec.type.base)))
        else:
            encoded = json_field(value, spec, where, problems, bool_literals, frac_bits)
        if encoded is not None:
            values[spec.name] = encoded
    problems.items += check_declared_ranges(specs, values, path, frac_bits)
