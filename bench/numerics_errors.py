"""Error, rounds and bytes of every approximated function: the table in docs/numerics.md.

For each function, 10^6 points across its domain (uniform and log-uniform parts, both
ends included) are run through the compiled circuit on the plain backend (the reference
semantics) and compared with numpy float64 evaluated at the same fixed-point inputs.
A further 2·10^4 of them run over secret shares (rep3, three servers in threads) to
measure what randomized truncation adds. Rounds and bytes per element come from the
cost report, which the runs match exactly (tests/test_rep3_traffic.py).

    python bench/numerics_errors.py                # the markdown table (about 2 minutes)
    python bench/numerics_errors.py --points 100000 --rep3-points 5000   # quicker

Errors: `abs` is the largest |computed - exact| over points whose exact result is below
1 in magnitude (where a fixed-point result is judged by its absolute error), `rel` the
largest relative error over points whose exact result is at least 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from veil.backend.plain import PlainBackend
from veil.compiler import compile_source
from veil.cost import report
from veil.ir.semantics import decode, encode

F = 16
ULP = 2.0**-F
TOP = 2.0 ** (62 - 2 * F)


@dataclass
class Function:
    name: str
    call: str  # a Veil expression in x (and y)
    domain: str
    exact: object
    sample: object  # rng, n -> (x,) or (x, y)


def both_signs(rng, x):
    return x * np.where(rng.random(len(x)) < 0.5, -1.0, 1.0)


def log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def mix(*parts):
    return np.concatenate(parts)


FUNCTIONS = [
    Function("a / b", "x / y", "b ≠ 0, |a| < 2^30, |a/b| < 2^29", lambda a, b: a / b,
             lambda rng, n: (
                 mix(rng.uniform(-1000, 1000, n // 2), both_signs(rng, log_uniform(
                     rng, 2**-16, 2**29, n - n // 2))),
                 mix(both_signs(rng, log_uniform(rng, 2**-6, 2**29, n // 2)),
                     both_signs(rng, log_uniform(rng, 1.0, 2**16, n - n // 2))))),
    Function("math.reciprocal(x)", "math.reciprocal(x)", "x ≠ 0, |1/x| < 2^29",
             lambda x: 1 / x, lambda rng, n: (mix(
                 both_signs(rng, log_uniform(rng, 2**-13, TOP * 0.999, n - 2)),
                 [2**-13, TOP - ULP]),)),
    Function("math.exp(x)", "math.exp(x)", "x < 20.79 (then saturates); 0 below −11.78",
             np.exp, lambda rng, n: (mix(rng.uniform(-12, 20.79, n - 4),
                                        [-11.78, 0.0, 20.79, 1e-5]),)),
    Function("math.log(x)", "math.log(x)", "x > 0", np.log, lambda rng, n: (mix(
        log_uniform(rng, ULP, TOP * 0.999, n // 2), rng.uniform(ULP, 4, n - n // 2 - 2),
        [ULP, TOP - ULP]),)),
    Function("math.sqrt(x)", "math.sqrt(x)", "x ≥ 0", np.sqrt, lambda rng, n: (mix(
        log_uniform(rng, ULP, TOP * 0.999, n // 2), rng.uniform(0, 4, n - n // 2 - 2),
        [0.0, TOP - ULP]),)),
    Function("ml.sigmoid(x)", "ml.sigmoid(x)", "all x (0 or 1 beyond ±11.09)",
             lambda x: 0.5 * (1 + np.tanh(x / 2)), lambda rng, n: (mix(
                 rng.uniform(-16, 16, n - n // 10), both_signs(rng, log_uniform(
                     rng, 16, TOP * 0.999, n // 10))),)),
]


def program(fn: Function, n: int) -> str:
    inputs = f"input x: secret fixed[{n}] from p\n"
    if "y" in fn.call:
        inputs += f"input y: secret fixed[{n}] from p\n"
    return f"party p\nuse math\nuse ml\n{inputs}output r = {fn.call} to p\n"


def errors(got: np.ndarray, exact: np.ndarray) -> tuple[float, float]:
    diff = np.abs(got - exact)
    small = np.abs(exact) < 1
    abs_err = float(diff[small].max()) if small.any() else 0.0
    rel_err = float((diff[~small] / np.abs(exact[~small])).max()) if (~small).any() else 0.0
    return abs_err, rel_err


def measure(fn: Function, points: int, rep3_points: int, rng) -> dict:
    args = fn.sample(rng, points)
    names = ["x", "y"][: len(args)]
    stored = [decode(encode(a, "fixed"), "fixed") for a in args]  # the inputs as held
    plain = compile_source(program(fn, points)).circuit
    raw = PlainBackend().run(plain, {k: encode(a, "fixed") for k, a in zip(names, args,
                                                                           strict=True)})
    got = decode(raw.outputs["r"], "fixed")
    exact = fn.exact(*stored)
    in_range = np.abs(exact) < TOP  # beyond it (exp) the result saturates by design
    abs_err, rel_err = errors(got[in_range], exact[in_range])
    out = {"abs": abs_err, "rel": rel_err}
    n = 1000  # per element: headers and the output share left out
    cost = report.build(compile_source(program(fn, n), backend="rep3").executable,
                        backend="rep3")
    out["rounds"] = cost["rounds_by_phase"]["compute"]
    out["bytes"] = max(8 * (ring - n) + bits / 8 for ring, bits in zip(
        cost["ring_elements_per_server"], cost["bits_per_server"], strict=True)) / n
    if rep3_points:
        from rep3_harness import run_threaded

        sub = [a[:rep3_points] for a in args]
        circuit = compile_source(program(fn, rep3_points), backend="rep3").executable
        start = time.perf_counter()
        raw3 = run_threaded(circuit, {k: encode(a, "fixed") for k, a in zip(names, sub,
                                                                            strict=True)})
        out["rep3_seconds"] = time.perf_counter() - start
        got3 = decode(raw3.result.outputs["r"], "fixed")
        ok = in_range[:rep3_points]
        out["rep3_abs"], out["rep3_rel"] = errors(got3[ok], exact[:rep3_points][ok])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rep3-points", type=int, default=20_000)
    opts = parser.parse_args()
    rng = np.random.default_rng(2024)
    print("| function | domain | max abs error (plain, rep3) | max rel error (plain, rep3) "
          "| rounds | bytes per element per server |")
    print("| --- | --- | --- | --- | ---: | ---: |")
    for fn in FUNCTIONS:
        m = measure(fn, opts.points, opts.rep3_points, rng)
        rep3 = (f", {m['rep3_abs']:.2g} ({m['rep3_abs'] / ULP:.1f} ulp)"
                if "rep3_abs" in m else "")
        rel3 = f", {m['rep3_rel']:.2g}" if "rep3_rel" in m else ""
        domain = fn.domain.replace("|", "\\|")
        print(f"| `{fn.name}` | {domain} | {m['abs']:.2g} ({m['abs'] / ULP:.1f} ulp){rep3} "
              f"| {m['rel']:.2g}{rel3} | {m['rounds']} | {m['bytes']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
