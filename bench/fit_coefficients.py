"""Fit the polynomial coefficients of veil.ir.fx_tables (run once; prints the tables).

Every approximation in veil.ir.numerics uses coefficients stored as float literals, so
that every party compiles bit-identical constants (a fit recomputed at compile time could
differ in its last bits between machines, and so change the fingerprint). This script
is how they were made: polynomials through the Chebyshev nodes of the interval (within
a few per cent of the minimax error), in the power basis of the variable the circuit
computes. tests/test_numerics.py checks that the stored tables match this script.

    python bench/fit_coefficients.py > src/veil/ir/fx_tables.py
"""

from __future__ import annotations

import numpy as np


def chebyshev_fit(fn, lo: float, hi: float, degree: int) -> list[float]:
    """Power-basis coefficients (c0 first) of the interpolant at degree+1 Chebyshev nodes."""
    k = np.arange(degree + 1)
    x = (lo + hi) / 2 + (hi - lo) / 2 * np.cos((2 * k + 1) * np.pi / (2 * (degree + 1)))
    vander = np.vander(x, degree + 1, increasing=True)
    return [float(c) for c in np.linalg.solve(vander, fn(x))]


def exp2_tables() -> dict[int, list[float]]:
    return {d: chebyshev_fit(lambda t: 2.0**t, 0.0, 1.0, d) for d in range(3, 9)}


def ln_tables() -> dict[int, list[float]]:
    """ln(0.75 + u) for u in [-0.25, 0.25]: ln of a normalized mantissa in [0.5, 1]."""
    return {d: chebyshev_fit(lambda u: np.log(0.75 + u), -0.25, 0.25, d) for d in range(5, 12)}


def sigmoid_tables() -> dict[int, list[list[float]]]:
    """1/(1 + 2^-(n + t)) for t in [0, 1), one polynomial per n = 0..31."""
    return {d: [chebyshev_fit(lambda t, n=n: 1 / (1 + 2.0 ** -(n + t)), 0.0, 1.0, d)
                for n in range(32)] for d in range(3, 6)}


def rsqrt_linear(lo: float, hi: float) -> tuple[float, float]:
    """(a, b) minimizing max |(a - b·m)·sqrt(m) - 1| on [lo, hi]: the start of the
    Goldschmidt square root. Equioscillation at lo, hi and the interior extremum."""
    m = np.linspace(lo, hi, 20001)
    best = (np.inf, 0.0, 0.0)
    a0, b0 = 2.0, 1.0
    for step in (0.5, 0.1, 0.02, 0.004, 0.0008, 0.00016, 0.000032, 0.0000064, 1.28e-6):
        grid_a = np.linspace(a0 - 20 * step, a0 + 20 * step, 41)
        grid_b = np.linspace(b0 - 20 * step, b0 + 20 * step, 41)
        for a in grid_a:
            for b in grid_b:
                err = np.abs((a - b * m) * np.sqrt(m) - 1).max()
                if err < best[0]:
                    best = (err, a, b)
        a0, b0 = best[1], best[2]
    return float(best[1]), float(best[2])


HEADER = '''"""Coefficient tables of the fixed-point approximations (veil.ir.numerics).

Stored as float literals so that every party compiles bit-identical constants; made by
bench/fit_coefficients.py (polynomials through Chebyshev nodes, power basis), which
tests/test_numerics.py re-runs to check these tables.
"""

# ruff: noqa: E501
'''


def module_text() -> str:
    out = [HEADER, "# 2^t for t in [0, 1): coefficients c0, c1, ... by degree.", "EXP2 = {"]
    out += [f"    {d}: {c!r}," for d, c in exp2_tables().items()]
    out += ["}", "", "# ln(0.75 + u) for u in [-0.25, 0.25], by degree.", "LN = {"]
    out += [f"    {d}: {c!r}," for d, c in ln_tables().items()]
    out += ["}", "", "# 1/(1 + 2^-(n + t)) for t in [0, 1), one polynomial per n = 0..31, "
            "by degree.", "SIGMOID = {"]
    for d, rows in sigmoid_tables().items():
        out.append(f"    {d}: [")
        out += [f"        {r!r}," for r in rows]
        out.append("    ],")
    out += ["}", "", "# (a, b): 1/sqrt(m) ≈ a - b·m on [0.5, 1] and on [0.25, 0.5] (minimax "
            "relative error).", f"RSQRT_HIGH = {rsqrt_linear(0.5, 1.0)!r}",
            f"RSQRT_LOW = {rsqrt_linear(0.25, 0.5)!r}", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(module_text(), end="")
