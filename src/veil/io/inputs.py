"""Read and validate the parties' input files before anything runs.

One JSON object per party (`inputs/<party>.json`): each field is a number, a bool, a
nested list, or a string naming a CSV file (relative to the JSON file) for an array.
Every problem is reported (file, field, what was expected) and nothing runs if there
is any: a half-validated input set never reaches a backend.
"""

from __future__ import annotations

import csv
import functools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.io.ranges import check_declared_ranges
from veil.io.values import Problems, from_array, from_elements, json_field
from veil.ir.nodes import Circuit, InputSpec
from veil.types import BOOL, FIXED, INT, fmt_shape


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(path: Path) -> list:
    """Rows of a CSV file as lists of strings; a first row with no number is a header."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row and any(c.strip() for c in row)]
    if rows and not any(_is_number_text(c.strip()) for c in rows[0]):
        rows = rows[1:]
    return [[c.strip() for c in row] for row in rows]


def _header_lines(path: Path) -> int | None:
    """Physical lines before the data: blank lines and a header (a first non-blank row
    with no number in it), as `read_csv` decides; None for a file of blank lines."""
    with path.open(newline="", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            row = next(csv.reader([line]), [])
            if not any(c.strip() for c in row):
                continue
            if any(_is_number_text(c.strip()) for c in row):
                return number - 1
            return number
    return None


def _csv_array(path: Path, base: str) -> np.ndarray | None:
    """numpy's parse of a CSV file of plain numbers (or true/false), or None when numpy
    cannot read it that simply (then the csv module and the exact path take over)."""
    try:
        skip = _header_lines(path)
        if skip is None:
            return None
        dtype: Any = np.int64 if base == INT else np.float64
        read = functools.partial(np.loadtxt, path, delimiter=",", comments=None, ndmin=2,
                                 skiprows=skip, quotechar='"', encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the exact path says
            try:
                return read(dtype=dtype)
            except ValueError:
                if base != BOOL:
                    raise
            words = np.char.lower(np.char.strip(read(dtype="U5")))
            if not bool(np.all(np.isin(words, ("true", "false", "0", "1")))):
                return None
            return (words == "true") | (words == "1")
    except (ValueError, OSError, UnicodeDecodeError, csv.Error):
        return None


def _csv_field(csv_path: Path, spec: InputSpec, where: str, problems: Problems,
               frac_bits: int) -> np.ndarray | None:  # fmt: skip
    arr = _csv_array(csv_path, spec.type.base)
    if arr is not None:
        encoded = from_array(arr, spec, frac_bits)
        if encoded is not None:
            return encoded
    try:
        value: Any = read_csv(csv_path)
    except OSError as exc:
        problems.add("V0707", f"{where}: cannot read CSV: {exc.strerror or exc}")
        return None
    except (csv.Error, UnicodeDecodeError) as exc:
        problems.add("V0707", f"{where}: invalid CSV: {exc}")
        return None
    if len(spec.type.shape) == 1 and len(value) == 1:
        value = value[0]
    return from_elements(value, spec, where, problems, frac_bits)


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


def load_inputs(circuit: Circuit, inputs_dir: Path) -> dict[str, np.ndarray]:
    """Every input of the circuit, encoded; VeilError listing every problem otherwise."""
    problems = Problems()
    owners = _owners(circuit)
    values: dict[str, np.ndarray] = {}
    if not _check_dir(circuit, inputs_dir, owners, problems):
        return values
    for party, specs in owners.items():
        path = inputs_dir / f"{party}.json"
        if path.is_file():
            _load_owner_file(party, specs, path, problems, values, circuit.frac_bits)
    if problems.items:
        raise VeilError(problems.items)
    return values


def load_party_inputs(circuit: Circuit, party: str, path: Path) -> dict[str, np.ndarray]:
    """One party's own inputs from its own file (what `veil party` reads, and nothing
    else); VeilError listing every problem otherwise."""
    specs = [s for s in circuit.inputs if s.owner == party]
    problems = Problems()
    values: dict[str, np.ndarray] = {}
    if not specs:
        return values
    if not path.is_file():
        names = ", ".join(s.name for s in specs)
        raise VeilError([Diagnostic("V0701", f"{path}: missing input file of party `{party}`",
                                    None, f"it must hold {names}")])
    _load_owner_file(party, specs, path, problems, values, circuit.frac_bits)
    if problems.items:
        raise VeilError(problems.items)
    return values


def _load_owner_file(party: str, specs: list[InputSpec], path: Path, problems: Problems,
                     values: dict[str, np.ndarray], frac_bits: int) -> None:  # fmt: skip
    """Validate and encode one owner's input file into `values`; problems are collected."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add("V0707", f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}")
        return
    except (OSError, UnicodeDecodeError) as exc:
        problems.add("V0707", f"{path}: cannot read: {exc}")
        return
    if not isinstance(data, dict):
        problems.add("V0707", f"{path}: expected a JSON object of fields, got "
                     f"{type(data).__name__}", 'e.g. {"weights": [0.1, 0.2]}')
        return
    bool_literals = "true" in text or "false" in text  # else no element can be a bool
    declared = {s.name for s in specs}
    for field in sorted(set(data) - declared):
        problems.add("V0702", f"{path}: unknown field `{field}`",
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
                                      frac_bits)
            if encoded is not None:
                values[spec.name] = encoded
            continue
        if isinstance(value, str) and spec.type.shape and \
                not (spec.type.base == BOOL and value.lower().startswith("0x")):
            csv_path = path.parent / value
            encoded = _csv_field(csv_path, spec, f"{where} ({csv_path})", problems, frac_bits)
        else:
            encoded = json_field(value, spec, where, problems, bool_literals, frac_bits)
        if encoded is not None:
            values[spec.name] = encoded
    problems.items += check_declared_ranges(specs, values, path, frac_bits)
