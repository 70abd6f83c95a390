"""Decode outputs and deliver them per receiving party (printed, JSON, or files).

Outputs stay numpy arrays until they are written. `dumps` writes the same text as
``json.dumps(value, indent=2)`` but lets json's C encoder format each array compactly
and lays out the lines with a few string replacements, so a million values cost a
fraction of a second instead of the pure-Python encoder that ``indent`` selects.
Large bool and int arrays skip json altogether (veil.io.json_text): the same layout,
one element a line, with numbers right-aligned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from veil.io.json_text import array_text
from veil.ir.nodes import Circuit
from veil.ir.semantics import decode
from veil.types import FRAC_BITS


def to_json_value(raw: np.ndarray, base: str, frac_bits: int = FRAC_BITS) -> Any:
    """Ring/bool array → nested lists of int, float (fixed) or bool."""
    return decode(raw, base, frac_bits).tolist()


def decoded_by_party(circuit: Circuit, raw_outputs: dict[str, np.ndarray],
                     only: str | None = None) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """{party: {output name: decoded array}} — each party sees only what it receives
    (`only`: the one party whose outputs these are). Scalars are 0-d arrays; ints int64,
    fixed float64, bools bool."""
    result: dict[str, dict[str, np.ndarray]] = {}
    for spec in circuit.outputs:
        if only is not None and only not in spec.receivers:
            continue
        value = decode(raw_outputs[spec.name], spec.type.base, circuit.frac_bits)
        for party in spec.receivers if only is None else (only,):
            result.setdefault(party, {})[spec.name] = value
    return result


def by_party(circuit: Circuit, raw_outputs: dict[str, np.ndarray],
             only: str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """{party: {output name: value}} as plain Python values (nested lists)."""
    return {party: {name: value.tolist() for name, value in values.items()}
            for party, values in decoded_by_party(circuit, raw_outputs, only).items()}


# ---------------------------------------------------------------- JSON

FIXED_WIDTH_FROM = 1024
"""Bool and int arrays of at least this many elements are written by veil.io.json_text
(right-aligned, valid JSON, several times faster); smaller ones exactly as json does."""


def _array_text(arr: np.ndarray, level: int, indent: int) -> str:
    """``json.dumps(arr.tolist(), indent=indent)`` at nesting `level`, from the compact
    text of json's C encoder: in a rectangular array a comma preceded by m closing
    brackets separates blocks m levels up, so a few ``str.replace`` passes lay it out."""
    if arr.ndim == 0:
        return json.dumps(arr.item())
    if arr.size >= FIXED_WIDTH_FROM:
        text = array_text(arr, level, indent)
        if text is not None:
            return text
    if arr.size == 0:  # empty lists print as [] at any depth: let json lay them out
        return _pad_lines(json.dumps(arr.tolist(), indent=indent), level * indent)
    ndim = arr.ndim
    pad = ["\n" + " " * (indent * (level + d)) for d in range(ndim + 1)]
    compact = json.dumps(arr.tolist(), separators=(",", ":"))
    body = compact[ndim:-ndim]
    marks = {m: chr(m) for m in range(1, ndim)}  # control characters: not in JSON numbers
    for m in range(ndim - 1, 0, -1):
        body = body.replace("]" * m + "," + "[" * m, marks[m])
    body = body.replace(",", "," + pad[ndim])
    for m in range(1, ndim):
        closing = "".join(pad[ndim - j] + "]" for j in range(1, m + 1))
        opening = "".join(pad[ndim - j] + "[" for j in range(m, 0, -1))
        body = body.replace(marks[m], closing + "," + opening + pad[ndim])
    head = "".join("[" + pad[d] for d in range(1, ndim + 1))
    tail = "".join(pad[ndim - j] + "]" for j in range(1, ndim + 1))
    return head + body + tail


def _pad_lines(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


def _encode(value: Any, level: int, indent: int, out: list[str]) -> None:
    if isinstance(value, np.generic):  # a numpy scalar, as the Python API returns them
        value = value.item()
    if isinstance(value, np.ndarray):
        out.append(_array_text(value, level, indent))
    elif isinstance(value, dict) and value:
        pad, inner = " " * (indent * level), " " * (indent * (level + 1))
        out.append("{")
        for k, (key, item) in enumerate(value.items()):
            out.append(f"{',' if k else ''}\n{inner}{json.dumps(str(key))}: ")
            _encode(item, level + 1, indent, out)
        out.append(f"\n{pad}}}")
    elif isinstance(value, list | tuple) and value:
        pad, inner = " " * (indent * level), " " * (indent * (level + 1))
        out.append("[")
        for k, item in enumerate(value):
            out.append(f"{',' if k else ''}\n{inner}")
            _encode(item, level + 1, indent, out)
        out.append(f"\n{pad}]")
    else:
        out.append(_pad_lines(json.dumps(value, indent=indent), indent * level))


def dumps(value: Any, indent: int = 2) -> str:
    """The text of ``json.dumps(value, indent=indent)``, where value may hold numpy
    arrays and scalars (written as ``tolist()`` and ``item()`` would)."""
    out: list[str] = []
    _encode(value, 0, indent, out)
    return "".join(out)


def write_dir(outputs: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """One `<party>.json` per receiving party in out_dir (created if needed); V0001 if a
    file or directory cannot be written."""
    from veil.io.files import make_dir, write_file

    make_dir(out_dir, "outputs")
    written = []
    for party, values in sorted(outputs.items()):
        path = out_dir / f"{party}.json"
        write_file(path, dumps(values) + "\n")
        written.append(path)
    return written


# ---------------------------------------------------------------- text

ROW_ELEMENTS = 12
"""Elements of a vector shown in the text output (the rest: `--json` or `--out`)."""
MATRIX_ROWS, MATRIX_ELEMENTS = 4, 6
"""Rows of a matrix shown, and elements of each row."""
ALL_VALUES_HINT = "--json or --out DIR shows all"


def _hex(bits: np.ndarray) -> str:
    """A bit vector as the hex number whose bit i is element i (the input convention)."""
    packed = np.packbits(np.asarray(bits, dtype=np.bool_), bitorder="little").tobytes()
    return f"0x{int.from_bytes(packed, 'little'):0{(bits.size + 3) // 4}x}"


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value)  # ints; bools as true/false, as in the input files


def _nested(arr: np.ndarray, limit: int) -> tuple[str, bool]:
    """`[a, b, …]` of the first `limit` elements (rows, for a matrix); and whether any
    element was left out."""
    if arr.ndim == 1:
        shown = ", ".join(_scalar(v) for v in arr[:limit].tolist())
        cut = arr.shape[0] > limit
        return f"[{shown}{', …' if cut else ''}]", cut
    rows = [_nested(row, MATRIX_ELEMENTS) for row in arr[:MATRIX_ROWS]]
    cut = arr.shape[0] > MATRIX_ROWS or any(c for _, c in rows)
    more = ", …" if arr.shape[0] > MATRIX_ROWS else ""
    return "[" + ", ".join(text for text, _ in rows) + more + "]", cut


def short(value: Any, hint: str = ALL_VALUES_HINT) -> str:
    """A value in one line: a scalar as it is, an array's first elements; a cut array
    says how many values it has and where to see them all (`hint`)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return _scalar(arr.item())
    if arr.size == 0:
        return "[]"
    text, cut = _nested(arr, ROW_ELEMENTS)
    if not cut:
        return text
    shape = f"{arr.size:,} values" if arr.ndim == 1 else \
        f"{' × '.join(f'{d:,}' for d in arr.shape)} = {arr.size:,} values"
    return f"{text}  ({shape}; {hint})"


def render_text(outputs: dict[str, dict[str, Any]], hint: str = ALL_VALUES_HINT) -> str:
    """Each party's outputs, one `name = value` line each (parties in order)."""
    lines = []
    for party in sorted(outputs):
        lines.append(f"{party}:")
        for name, value in outputs[party].items():
            lines.append(f"  {name} = {short(value, hint)}")
    return "\n".join(lines)


__all__ = ["by_party", "decoded_by_party", "dumps", "render_text", "short", "to_json_value",
           "write_dir"]
