"""Read and validate the parties' input files before anything runs.

One JSON object per party (`inputs/<party>.json`): each field is a number, a bool, a
nested list, or a string naming a CSV file (relative to the JSON file) for an array.
Every problem is reported (file, field, what was expected) and nothing runs if there
is any: a half-validated input set never reaches a backend.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from veil.diagnostics import Diagnostic, VeilError
from veil.ir.nodes import Circuit, InputSpec
from veil.ir.semantics import encode
from veil.types import BOOL, FIXED, FIXED_LIMIT, INT, INT_MAX, INT_MIN, fmt_shape


class _Problems:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, code: str, message: str, help: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, None, help))


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """Shape of a nested list, or None if ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    shapes = {_shape_of(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None
    inner = shapes.pop()
    assert inner is not None
    return (len(value), *inner)


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


def _element(raw: Any, base: str, where: str, problems: _Problems) -> Any:
    """One scalar, converted and range-checked; None after reporting a problem."""
    if isinstance(raw, str):
        text = raw
        if base == BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            raw = int(text) if text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            problems.add("V0704", f"{where}: `{text}` is not a number",
                         f"expected {_base_words(base)}")
            return None
    if base == BOOL:
        if isinstance(raw, bool) or raw in (0, 1):
            return bool(raw)
        problems.add("V0704", f"{where}: {raw!r} is not a bool", "expected true/false (or 0/1)")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.add("V0704", f"{where}: {json.dumps(raw)} is not a number",
                     f"expected {_base_words(base)}")
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        problems.add("V0705", f"{where}: {raw} is not a finite number")
        return None
    if base == INT:
        if isinstance(raw, float):
            if not raw.is_integer():
                problems.add("V0704", f"{where}: {raw} is not an integer",
                             "the field is declared int; declare it fixed for fractions")
                return None
            raw = int(raw)
        if not INT_MIN <= raw <= INT_MAX:
            problems.add("V0705", f"{where}: {raw} does not fit in a signed 64-bit int")
            return None
        return raw
    if abs(raw) >= FIXED_LIMIT:
        problems.add("V0705", f"{where}: {raw} is outside the fixed-point range ±2^31",
                     "scale the data down (e.g. thousands instead of units)")
        return None
    return float(raw)


def _base_words(base: str) -> str:
    return {INT: "an integer", FIXED: "a number", BOOL: "true/false"}[base]


def _hex_bits(value: Any, width: int, where: str, problems: _Problems) -> Any:
    """A bool array given as "0x…" (bit i of the number = element i), or a list of them."""
    if isinstance(value, list):
        return [_hex_bits(v, width, f"{where}[{k}]", problems) for k, v in enumerate(value)]
    if not (isinstance(value, str) and value.lower().startswith("0x")):
        return value
    try:
        number = int(value, 16)
    except ValueError:
        problems.add("V0704", f"{where}: `{value}` is not a hexadecimal number",
                     'write "0x" followed by hex digits')
        return None
    if number >> width:
        problems.add("V0705", f"{where}: {value} has more than {width} bits",
                     f"the field holds {width} bits (bit i of the number is element i)")
        return None
    return [bool((number >> i) & 1) for i in range(width)]


def _convert(value: Any, spec: InputSpec, where: str, problems: _Problems) -> np.ndarray | None:
    if spec.type.base == BOOL and spec.type.shape:
        before = len(problems.items)
        value = _hex_bits(value, spec.type.shape[-1], where, problems)
        if len(problems.items) > before:
            return None
    shape = _shape_of(value)
    want = spec.type.shape
    if shape is None:
        problems.add("V0703", f"{where}: rows of different lengths",
                     f"expected shape {fmt_shape(want)}")
        return None
    if shape != want and not ((len(want) == 1 and shape == (1, want[0])) or
                              (len(want) == 1 and shape == (want[0], 1))):
        got = "a single value" if shape == () else f"shape {fmt_shape(shape)}"
        problems.add("V0703", f"{where}: expected shape {fmt_shape(want)} "
                     f"({spec.type.base}), got {got}",
                     _shape_help(want))
        return None
    flat = np.array(value, dtype=object).reshape(-1).tolist() if shape else [value]
    before = len(problems.items)
    converted = []
    for k, raw in enumerate(flat):
        pos = np.unravel_index(k, shape) if shape else ()
        converted.append(_element(raw, spec.type.base, where + "".join(f"[{i}]" for i in pos),
                                  problems))
        if len(problems.items) - before >= 5:  # enough to show the pattern
            return None
    if len(problems.items) > before:
        return None
    dtype = {INT: np.int64, FIXED: np.float64, BOOL: np.bool_}[spec.type.base]
    return encode(np.array(converted, dtype=dtype).reshape(want), spec.type.base)


def _shape_help(want: tuple[int, ...]) -> str:
    if not want:
        return "give a single number"
    if len(want) == 1:
        return f"give a list of {want[0]} values"
    return f"give a nested list ({want[0]} rows of {want[1:]}) or a CSV file name"


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
    problems = _Problems()
    _check_dir(circuit, inputs_dir, _owners(circuit), problems)
    return problems.items


def _check_dir(circuit: Circuit, inputs_dir: Path, owners: dict[str, list[InputSpec]],
               problems: _Problems) -> bool:  # fmt: skip
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
    problems = _Problems()
    owners = _owners(circuit)
    values: dict[str, np.ndarray] = {}
    if not _check_dir(circuit, inputs_dir, owners, problems):
        return values
    for party, specs in owners.items():
        path = inputs_dir / f"{party}.json"
        if path.is_file():
            _load_owner_file(party, specs, path, problems, values)
    if problems.items:
        raise VeilError(problems.items)
    return values


def load_party_inputs(circuit: Circuit, party: str, path: Path) -> dict[str, np.ndarray]:
    """One party's own inputs from its own file (what `veil party` reads, and nothing
    else); VeilError listing every problem otherwise."""
    specs = [s for s in circuit.inputs if s.owner == party]
    problems = _Problems()
    values: dict[str, np.ndarray] = {}
    if not specs:
        return values
    if not path.is_file():
        names = ", ".join(s.name for s in specs)
        raise VeilError([Diagnostic("V0701", f"{path}: missing input file of party `{party}`",
                                    None, f"it must hold {names}")])
    _load_owner_file(party, specs, path, problems, values)
    if problems.items:
        raise VeilError(problems.items)
    return values


def _load_owner_file(party: str, specs: list[InputSpec], path: Path, problems: _Problems,
                     values: dict[str, np.ndarray]) -> None:  # fmt: skip
    """Validate and encode one owner's input file into `values`; problems are collected."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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

            encoded = connectors.load(value, spec, path.parent, where, problems.items)
            if encoded is not None:
                values[spec.name] = encoded
            continue
        if isinstance(value, str) and spec.type.shape and \
                not (spec.type.base == BOOL and value.lower().startswith("0x")):
            csv_path = path.parent / value
            where = f"{where} ({csv_path})"
            try:
                value = read_csv(csv_path)
            except OSError as exc:
                problems.add("V0707", f"{where}: cannot read CSV: {exc.strerror or exc}")
                continue
            except (csv.Error, UnicodeDecodeError) as exc:
                problems.add("V0707", f"{where}: invalid CSV: {exc}")
                continue
            if len(spec.type.shape) == 1 and len(value) == 1:
                value = value[0]
        encoded = _convert(value, spec, where, problems)
        if encoded is not None:
            values[spec.name] = encoded
