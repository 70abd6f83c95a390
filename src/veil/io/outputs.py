"""Decode outputs and deliver them per receiving party (printed, JSON, or files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from veil.ir.nodes import Circuit
from veil.ir.semantics import decode
from veil.types import FRAC_BITS


def to_json_value(raw: np.ndarray, base: str, frac_bits: int = FRAC_BITS) -> Any:
    """Ring/bool array → nested lists of int, float (fixed) or bool."""
    return decode(raw, base, frac_bits).tolist()


def by_party(circuit: Circuit, raw_outputs: dict[str, np.ndarray],
             only: str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """{party: {output name: value}} — each party sees only what it receives (`only`: the
    one party whose outputs these are)."""
    result: dict[str, dict[str, Any]] = {}
    for spec in circuit.outputs:
        if only is not None and only not in spec.receivers:
            continue
        value = to_json_value(raw_outputs[spec.name], spec.type.base, circuit.frac_bits)
        for party in spec.receivers if only is None else (only,):
            result.setdefault(party, {})[spec.name] = value
    return result


def _hex(bits: list) -> str:
    """A bit vector as the hex number whose bit i is element i (the input convention)."""
    number = sum(1 << i for i, b in enumerate(bits) if b)
    return f"0x{number:0{(len(bits) + 3) // 4}x}"


def _short(value: Any, limit: int = 12) -> str:
    if isinstance(value, list) and len(value) >= 64 and all(isinstance(b, bool) for b in value):
        return _hex(value)
    if isinstance(value, list) and value and isinstance(value[0], list) and \
            len(value[0]) >= 64 and isinstance(value[0][0], bool):
        return "[" + ", ".join(_hex(row) for row in value[:limit]) + \
            (f", … ({len(value)} rows)" if len(value) > limit else "") + "]"
    if isinstance(value, list):
        flat = np.array(value, dtype=object).reshape(-1).tolist()
        shown = ", ".join(_short(v) for v in flat[:limit])
        more = f", … ({len(flat)} values)" if len(flat) > limit else ""
        return f"[{shown}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value)


def render_text(outputs: dict[str, dict[str, Any]]) -> str:
    lines = []
    for party in sorted(outputs):
        lines.append(f"{party}:")
        for name, value in outputs[party].items():
            lines.append(f"  {name} = {_short(value)}")
    return "\n".join(lines)


def write_dir(outputs: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for party, values in sorted(outputs.items()):
        path = out_dir / f"{party}.json"
        path.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
