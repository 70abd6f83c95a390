"""The table programs in both security modes, side by side.

Run from the repository root:

    python bench/bench_tables_verified.py                 # sample inputs, 3 runs each
    python bench/bench_tables_verified.py --n 1000 --repeat 1   # double_financing only

Cases: the shipped ``double_financing`` (isin both ways, sums over the matches) and
``supplier_exposure`` (sum_by over a public registry) on their sample inputs, or
double_financing on ``--n`` generated invoices a bank. Each is compiled for semi-honest
rep3 (shuffles, radix sorts, openings to the servers) and for the verified mode
(veil.ir.sorting_verified: all-pairs matching and grouped sums by equality, nothing
opened) and run with `LocalRun` (three server processes over TLS on this machine). The
outputs are checked against the plain backend exactly, the rounds and bytes against the
cost report. Reported per mode: rounds, bytes the busiest server sends, the whole run's
median wall time and the online (compute) time. The machine is shared (2 cores, other
jobs): times move by ±30% from run to run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rep3 import online_time, run_once

from veil.backend.plain import PlainBackend
from veil.compiler import compile_path
from veil.cost.report import build
from veil.io.inputs import load_inputs

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"


def measure(name: str, inputs_dir: Path, params: dict[str, str], repeat: int,
            tmp: str) -> list[str]:  # fmt: skip
    plain = compile_path(PROGRAMS / name, params, backend="plain")
    plain_inputs = load_inputs(plain.circuit, inputs_dir)
    want = PlainBackend().run(plain.circuit, plain_inputs).outputs
    lines = []
    for security in ("semi-honest", "malicious"):
        c = compile_path(PROGRAMS / name, params, backend="rep3", security=security)
        predicted = build(c.executable, backend="rep3")
        inputs = load_inputs(c.executable, inputs_dir)
        walls, onlines = [], []
        for k in range(repeat):
            result, wall, timings = run_once(c.executable, inputs, 600, tmp,
                                             f"{name}-{security}-{k}")
            stats = result.stats
            if stats["rounds"] != predicted["rounds"] or \
                    stats["bytes_sent"] != predicted["bytes_per_server"]:
                raise SystemExit(f"{name} {security}: traffic differs from the report")
            for out, value in want.items():
                if not np.array_equal(np.asarray(result.outputs[out]), np.asarray(value)):
                    raise SystemExit(f"{name} {security}: output {out} differs from plain")
            walls.append(wall)
            if timings:
                onlines.append(online_time(timings))
        online = f"{statistics.median(onlines):8.2f}" if onlines else "       –"
        lines.append(f"{name:<18} {security:<12} {stats['rounds']:>7} "
                     f"{max(stats['bytes_sent']) / 1e6:>10.2f} {statistics.median(walls):>8.2f} "
                     f"{online}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=0,
                        help="generated invoices a bank for double_financing (0: sample)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'program':<18} {'mode':<12} {'rounds':>7} {'MB/server':>10} {'run s':>8} "
          f"{'online s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.n:
            data = Path(tmp) / "df"
            subprocess.run([sys.executable, str(PROGRAMS / "double_financing" / "generate.py"),
                            "--n-eu", str(args.n), "--n-cn", str(args.n), "--out", str(data)],
                           check=True)
            params = {"n_eu": str(args.n), "n_cn": str(args.n)}
            cases = [("double_financing", data, params)]
        else:
            cases = [(name, PROGRAMS / name / "inputs", {})
                     for name in ("double_financing", "supplier_exposure")]
        for name, inputs_dir, params in cases:
            for line in measure(name, inputs_dir, params, args.repeat, tmp):
                print(line, flush=True)


if __name__ == "__main__":
    main()
