"""The disclosure analysis (provenance, flows, leakage warnings): time per program.

Run from the repository root:

    python bench/bench_flows.py               # every case, 5 runs each
    python bench/bench_flows.py --repeat 10

For each case the program is compiled once (not timed) and `veil.analysis.policy.review`
(provenance of every node, the flows, the leakage warnings; what `veil cost` adds) is
timed; the best and the median of the runs are printed, with the number of circuit
nodes. Cases:

- credit scoring (programs/credit_scoring) with N = 1,000 and N = 100,000 applicants;
- the AES program (programs/joint_encryption: 36,925 nodes of bit operations);
- centring 100,000 rows (`x - mean(x)`: every element joins its row with all rows);
- differences of neighbours over 100,000 rows (`x[1..] - x[..N-1]`: 99,999 distinct
  two-record sets) with two sums one row apart (the differencing search at its budget).

The machine is shared: run with `taskset -c 1` and several repetitions where a number
matters.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from veil.analysis.policy import review
from veil.compiler import Compiled, compile_path, compile_source

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "programs" / "credit_scoring"


def credit(n: int) -> Compiled:
    text = (CREDIT / "main.mpc").read_text().replace("const N = 1000", f"const N = {n}")
    return compile_source(text, "main.mpc", CREDIT)


def synthetic(body: str) -> Compiled:
    return compile_source("party p in CN\nparty q in EU\n" + body, "bench.mpc")


CASES = {
    "credit scoring, N = 1,000": lambda: credit(1000),
    "credit scoring, N = 100,000": lambda: credit(100_000),
    "AES (joint_encryption)": lambda: compile_path(ROOT / "programs" / "joint_encryption"),
    "centre 100,000 rows": lambda: synthetic(
        "input x: secret fixed[100000, 3] from p\n"
        "output y = sum(x - sum(x, 0) / 100000, 1) to q\n"),
    "neighbour differences, 100,000 rows": lambda: synthetic(
        "input x: secret int[100000, 2] from p\n"
        "output y = x[1..100000, 0] - x[0..99999, 0] to q\n"
        "output t = sum(x) to q\noutput u = sum(x[1..100000]) to q\n"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':<40} {'nodes':>8} {'best s':>9} {'median s':>9}  warnings")
    for name, make in CASES.items():
        compiled = make()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = review(compiled)
            times.append(time.perf_counter() - start)
        codes = ",".join(sorted({w.code for w in result.warnings})) or "-"
        print(f"{name:<40} {len(compiled.circuit):>8,} {min(times):>9.3f} "
              f"{statistics.median(times):>9.3f}  {codes}")


if __name__ == "__main__":
    main()
