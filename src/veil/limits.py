"""Budgets on compile-time work and on input files, checked before the work is spent.

A program decides at compile time how large its values are and how often its loops
unroll, so a typo (`const N = 1000000000`) could otherwise ask the compiler for
gigabytes or hours before anything says so. Each budget has a name, a default that
every shipped program and benchmark fits in with room to spare, and a way to raise it
(`--limit NAME=N` on the command line, `limits={"NAME": N}` in the Python API). An
exceeded budget is error V0504 (compile time) or V0711 (an input file) that names it.

Nesting depth is not a budget but a fixed property of the compiler: it is bounded by
the stack of the thread that compiles (veil.deep).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Limits:
    """The budgets of one compilation or input load (defaults in the field values)."""

    elements: int = 10_000_000
    """Elements of any one value (an array type `fixed[N, F]` has N·F): checked on
    every declared and computed type before anything of that size is built."""
    unroll: int = 1_000_000
    """Loop iterations unrolled in the whole program (`for` and `while`), counted
    before a loop starts from its bounds and the loops around it."""
    operations: int = 2_000_000
    """Operations of the circuit as lowered, also projected from a loop's first
    iterations before the rest are unrolled."""
    input_bytes: int = 1 << 30
    """Bytes of one input file (JSON, CSV or Parquet), checked before it is read."""

    def with_overrides(self, overrides: Mapping[str, int | str]) -> Limits:
        """These limits with some replaced; ValueError naming the problem otherwise."""
        known = {f.name for f in fields(self)}
        changes: dict[str, int] = {}
        for raw_name, raw_value in overrides.items():
            name = raw_name.strip().replace("-", "_")
            if name not in known:
                raise ValueError(f"unknown limit {raw_name!r}; the limits are "
                                 f"{', '.join(n.replace('_', '-') for n in sorted(known))}")
            changes[name] = parse_amount(raw_value, raw_name)
        return replace(self, **changes)


def limit_name(field_name: str) -> str:
    """The spelling of a limit on the command line (`input-bytes`)."""
    return field_name.replace("_", "-")


def raise_hint(field_name: str, needed: int | None = None) -> str:
    """How to raise a budget, with a value that would do when it is known."""
    value = str(max(needed, 1)) if needed else "N"
    return f"raise it with `--limit {limit_name(field_name)}={value}` if you mean it"


_AMOUNT = re.compile(r"^\s*(\d[\d_,]*)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$")
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}  # fmt: skip


def parse_amount(value: int | str, name: str = "limit") -> int:
    """A positive whole number: `5000000`, `5_000_000`, `5M`, `2GB`, `1GiB`."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a positive whole number")
    if isinstance(value, int):
        amount = value
    else:
        found = _AMOUNT.match(str(value))
        if found is None:
            raise ValueError(f"{name}={value}: expected a positive whole number "
                             "(e.g. 5000000, 5M, 2GB)")
        unit = (found.group(2) or "").lower().rstrip("b")
        amount = int(found.group(1).replace("_", "").replace(",", "")) * _UNITS[unit]
    if amount <= 0 or amount > 1 << 62:
        raise ValueError(f"{name}={value}: expected a positive whole number below 2^62")
    return amount


DEFAULT = Limits()

__all__ = ["DEFAULT", "Limits", "limit_name", "parse_amount", "raise_hint"]
