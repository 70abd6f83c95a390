"""`veil cost --calibrate`: measure this machine's local computation for the estimate.

A run's time is the network's (rounds × latency, bytes / bandwidth: veil.cost.timing)
plus what the servers compute between messages, which depends on the machine. This
module runs five small circuits, each stressing one part of that work, through a real
local rep3 run (three server processes over TLS, as `veil run`), takes each one's
compute phase (the slowest server, best of two runs), and fits LocalModel — seconds per
compute round, per operation, per interactive element and per local element — by least
squares with non-negative coefficients. It takes a few seconds.

The fit is a model, not a promise: bench/bench_estimate.py compares it with measured
runs of the shipped programs (docs/performance.md has the figures).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from veil.cost.timing import LocalModel, features

CASES: dict[str, tuple[str, int]] = {
    # name: (program, optimization level)
    "products": ("party p, q\ninput x: secret int[300000] from p\n"
                 "input y: secret int[300000] from p\noutput z = x * y to q\n", 2),
    "local": ("party p, q\ninput x: secret int[300000] from p\n"
              "input y: secret int[300000] from p\n"
              "output z = x + y - x + y - x + y - x + y - x + y to q\n", 2),
    "rounds": ("party p, q\ninput x: secret int from p\nvar acc: secret int = x\n"
               "for i in 0..300 { acc = acc * x }\noutput z = acc to q\n", 1),
    "operations": ("party p, q\ninput x: secret int[3000] from p\n"
                   "input y: secret int[3000] from p\nvar z: secret int[3000] = 0\n"
                   "for i in 0..3000 { z[i] = x[i] * y[i] }\noutput r = z to q\n", 1),
    "comparisons": ("party p, q\ninput x: secret int[20000] from p\n"
                    "input y: secret int[20000] from p\noutput c = x < y to q\n", 2),
}


def _measure(source: str, level: int) -> tuple[tuple[int, int, int, int], float]:
    from veil.api import prepare_inputs
    from veil.compiler import compile_source
    from veil.runtime.local import LocalRun
    from veil.schedule import schedule

    circuit = compile_source(source, backend="rep3", optimize_level=level).executable
    rng = np.random.default_rng(1)
    values = {spec.name: rng.integers(-1000, 1000, spec.type.shape) if spec.type.shape
              else 3 for spec in circuit.inputs}
    encoded = prepare_inputs(circuit, {"p": values})
    best = float("inf")
    for _ in range(2):
        stats = LocalRun(timeout=120).run(circuit, inputs=encoded).stats
        best = min(best, max(s["compute"] for s in stats["server_seconds"]))
    return features(circuit, schedule(circuit)), best


def _non_negative_fit(rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Least squares with coefficients ≥ 0 (drop the most negative, refit)."""
    active = list(range(rows.shape[1]))
    while True:
        coef = np.zeros(rows.shape[1])
        if active:
            solution, *_ = np.linalg.lstsq(rows[:, active], times, rcond=None)
            coef[active] = solution
        if (coef >= 0).all():
            return coef
        active.remove(int(np.argmin(coef)))


def calibrate(report: Callable[[str], None] | None = None) -> LocalModel:
    """Measure this machine and return its LocalModel (`report` gets one line a case)."""
    rows, times = [], []
    for name, (source, level) in CASES.items():
        started = time.monotonic()
        x, seconds = _measure(source, level)
        rows.append(x)
        times.append(seconds)
        if report is not None:
            report(f"  {name:<12} {seconds:8.3f} s compute  (rounds {x[0]:,}, operations "
                   f"{x[1]:,}, interactive elements {x[2]:,}, local elements {x[3]:,}; "
                   f"{time.monotonic() - started:.1f} s)")
    matrix = np.array(rows, dtype=np.float64)
    # scale the columns so that the fit weighs them alike, then scale back
    scale = np.maximum(matrix.max(axis=0), 1.0)
    coef = _non_negative_fit(matrix / scale, np.array(times)) / scale
    where = f"{platform.node() or 'this machine'}, {date.today().isoformat()}"
    return LocalModel(*(float(c) for c in coef), calibrated=where)


__all__ = ["CASES", "calibrate"]
