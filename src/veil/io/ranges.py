"""The declared ranges of inputs (`in [lo, hi]`), checked on the loaded values.

The range analysis (veil.analysis.ranges) starts from these ranges and proves what it
can about every intermediate value; a value outside its declared range would make that
proof wrong, so loading refuses it, naming the file (or party), the field and the
element's index but never its value: inputs are secret, and error messages end up in
logs and shared notebooks (the rule of every input check, veil.io.values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veil.diagnostics import Diagnostic
from veil.ir.nodes import InputSpec
from veil.ir.semantics import encode

MAX_REPORTED = 5  # per field: enough to show the pattern


def raw_bounds(lo: float, hi: float, base: str, frac_bits: int) -> tuple[int, int]:
    """The declared bounds as ring values (fixed bounds rounded like any fixed value)."""
    both = encode(np.array([lo, hi]), base, frac_bits).view(np.int64)
    return int(both[0]), int(both[1])


def check_declared_ranges(specs: list[InputSpec], values: dict[str, np.ndarray],
                          path: Path | str, frac_bits: int) -> list[Diagnostic]:  # fmt: skip
    """V0710 for every loaded element of one owner's values outside its declared range;
    `path` (the owner's file, or its name) starts each message."""
    problems: list[Diagnostic] = []
    for spec in specs:
        if spec.range is None or spec.name not in values:
            continue
        lo, hi = raw_bounds(*spec.range, spec.type.base, frac_bits)
        raw = np.asarray(values[spec.name]).view(np.int64)
        outside = np.argwhere((raw < lo) | (raw > hi))
        for index in outside[:MAX_REPORTED]:
            at = "".join(f"[{i}]" for i in index)
            below = "below" if raw[tuple(index)] < lo else "above"
            problems.append(Diagnostic(
                "V0710", f"{path}: field `{spec.name}`{at}: {below} its declared range "
                f"[{spec.range[0]:g}, {spec.range[1]:g}]",
                help=f"the program declares `input {spec.name}: ... in [{spec.range[0]:g}, "
                f"{spec.range[1]:g}]`; fix the value, or agree on a wider range"))
        if len(outside) > MAX_REPORTED:
            problems.append(Diagnostic(
                "V0710", f"{path}: field `{spec.name}`: {len(outside) - MAX_REPORTED} more "
                "values outside the declared range"))
    return problems
