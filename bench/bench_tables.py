"""Sorting, matching and grouped sums at scale: whole `veil run`s of the shipped programs.

Run from the repository root:

    python bench/bench_tables.py                       # 100,000 × 100,000, once each
    python bench/bench_tables.py --n 20000 --repeat 3 --cases double_financing

Cases (each generated with the program's own generate.py into a temporary directory,
run with `veil run ... --json` in a subprocess, checked against its reference.py):

- ``double_financing``: `isin` both ways between two banks' invoice ids (one sort of
  2n keys, two scans), the regulator's count and amounts;
- ``supplier_exposure``: `sum_by` of 2n loans over a registry of n/100 suppliers and a
  comparison with a limit;
- ``sort``: `sort(x)` of n secret keys (one owner), the sorted keys revealed.

For each: ``run`` is the wall time of the whole `veil run` command (interpreter start,
compile, loading the JSON inputs, three server processes and one per party over TLS,
the compute rounds, the outputs), the median over ``--repeat`` runs; ``compute`` the
servers' compute phase; rounds and bytes per server as measured (checked against the
cost report's prediction). Beside double_financing, the all-pairs circuit it replaces
(`reshape(a, n, 1) == reshape(b, 1, n)`, then a sum per row) is compiled at the same
size and its predicted rounds, bytes and network-only time are printed: it is far too
large to run.

The machine is shared: the load average before and after each case is printed, and
timings taken under load are slower than the same run on an idle machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from veil.compiler import compile_path
from veil.cost.report import build

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"

ALL_PAIRS = """
party eu_bank
party cn_bank
param n_eu: public int = 50
param n_cn: public int = 50
input eu_ids: secret int[n_eu] from eu_bank
input cn_ids: secret int[n_cn] from cn_bank
let pairs = reshape(eu_ids, n_eu, 1) == reshape(cn_ids, 1, n_cn)
output eu_duplicates = sum(pairs, 1) > 0 to eu_bank
"""

SORT = """
party owner
party analyst
param n: public int = 100
input x: secret int[n] from owner
output sorted = sort(x) to analyst
"""


def module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_bench", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def veil_run(program: Path, inputs: Path, params: dict[str, str], timeout: int
             ) -> tuple[float, dict]:  # fmt: skip
    args = [sys.executable, "-m", "veil", "run", str(program), "--inputs", str(inputs),
            "--json", "--timeout", str(timeout)]
    for k, v in params.items():
        args += ["--param", f"{k}={v}"]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"veil run failed:\n{done.stderr}")
    return elapsed, json.loads(done.stdout)


def predicted(program: Path, params: dict[str, str]) -> dict:
    compiled = compile_path(program, params=params, backend="rep3")
    return build(compiled.executable, backend="rep3")


def prepare(case: str, n: int, work: Path) -> tuple[Path, Path, dict[str, str], object]:
    """(program, inputs directory, params, a check of the outputs) for one case."""
    if case == "double_financing":
        gen = module(PROGRAMS / case / "generate.py")
        eu, cn = gen.generate(n, n, 0.05, 11)
        (work / "eu_bank.json").write_text(json.dumps(eu))
        (work / "cn_bank.json").write_text(json.dumps(cn))
        want = module(PROGRAMS / case / "reference.py").reference(work)

        def check(out: dict) -> bool:
            return out["eu_bank"] == want["eu_bank"] and out["cn_bank"] == want["cn_bank"] \
                and out["regulator"]["invoices_financed_twice"] == \
                want["regulator"]["invoices_financed_twice"]
        return PROGRAMS / case, work, {"n_eu": str(n), "n_cn": str(n)}, check
    if case == "supplier_exposure":
        gen = module(PROGRAMS / case / "generate.py")
        registry, eu, cn = gen.generate(n, n, max(1, n // 100), 13)
        (work / "eu_bank.json").write_text(json.dumps(eu))
        (work / "cn_bank.json").write_text(json.dumps(cn))
        (work / "registry.mpc").write_text(gen.registry_module(registry))
        shutil.copy(PROGRAMS / case / "main.mpc", work / "main.mpc")
        limit = 2000.0
        want = module(PROGRAMS / case / "reference.py").reference(work, work, limit)

        def check(out: dict) -> bool:
            return out["regulator"] == want["regulator"]
        return work, work, {"n_eu": str(n), "n_cn": str(n), "limit": str(limit)}, check
    assert case == "sort"
    (work / "main.mpc").write_text(SORT)
    x = np.random.default_rng(7).integers(-10**15, 10**15, n)
    (work / "owner.json").write_text(json.dumps({"x": x.tolist()}))

    def check(out: dict) -> bool:
        return out["analyst"]["sorted"] == np.sort(x).tolist()
    return work, work, {"n": str(n)}, check


def all_pairs(n: int, work: Path) -> dict:
    (work / "main.mpc").write_text(ALL_PAIRS)
    return predicted(work, {"n_eu": str(n), "n_cn": str(n)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows per bank (or keys)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cases", default="double_financing,supplier_exposure,sort")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, numpy {np.__version__}; "
          f"n = {args.n:,}")
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory(prefix="veil-tables-") as tmp:
            program, inputs, params, check = prepare(case, args.n, Path(tmp))
            report = predicted(program, params)
            before = load()
            times, computes, stats = [], [], {}
            for _ in range(args.repeat):
                elapsed, result = veil_run(program, inputs, params, args.timeout)
                times.append(elapsed)
                stats = result["stats"]
                computes.append(max(s["compute"] for s in stats["server_seconds"]))
                assert check(result["outputs"]), f"{case}: outputs differ from numpy"
                assert stats["rounds"] == report["rounds"]
                assert stats["bytes_sent"] == report["bytes_per_server"]
            print(f"\n{case}: run {statistics.median(times):.1f} s (runs: "
                  f"{', '.join(f'{t:.1f}' for t in times)}), compute "
                  f"{statistics.median(computes):.1f} s, "
                  f"{stats['rounds']} rounds, {max(stats['bytes_sent']) / 1e6:,.0f} MB a "
                  f"server (max), outputs = numpy; load average before {before}, "
                  f"after {load()}")
        if case == "double_financing":
            with tempfile.TemporaryDirectory(prefix="veil-allpairs-") as tmp:
                naive = all_pairs(args.n, Path(tmp))
            print(f"  all pairs instead (one direction): {naive['rounds']} rounds, "
                  f"{max(naive['bytes_per_server']) / 1e9:,.0f} GB a server, "
                  f"{naive['ops']['boolean_gates']:.3g} AND gates, network alone "
                  f"{naive['estimates']['lan']['seconds']:,.0f} s on the lan profile")


if __name__ == "__main__":
    main()
