"""Veil next to its peers, MPyC and CrypTen, on the same workloads in one run.

Run from the repository root, with the project's virtualenv active and the peers in a
virtualenv of their own (they are an optional extra, never needed by the tests)::

    python -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0          # the CPU build on this disk
    SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True .venv-peers/bin/pip install \\
        -e '.[peers]'                                   # mpyc, crypten 0.4.1, torch 2.13.0
    python bench/bench_peers.py                         # the default cases, 3 repetitions
    python bench/bench_peers.py --cases mul_int:100000 --repeat 1 --peers mpyc

(CrypTen 0.4.1 depends on the retired ``sklearn`` package name, hence the variable.)

Cases, ``NAME:N`` (``--cases``): ``mul_int`` (N int64 products), ``lt_int`` (N int64
comparisons), ``logreg`` (scoring N rows of 20 features with a logistic-regression
model and counting the approvals, ``sigmoid(x·w + b) > 0.5``, which every system may
compute as ``x·w + b > 0``). One party holds every input, as CSV files named by its
JSON file (the same files for every system); the result is written as JSON.

Per system and case two times, medians of ``--repeat`` runs:

- **whole**: the wall time of the command a user runs — ``veil run DIR --out OUT``;
  ``python mpyc_case.py -M3`` (MPyC starts the three parties itself); a CrypTen
  script with ``run_multiprocess(world_size=3)`` — from start to exit: interpreter
  start, imports, reading the inputs, secret-sharing them, computing, revealing and
  writing the JSON;
- **online**: the secure computation alone, from all inputs shared to the result
  revealed (Veil: its compute rounds, measured inside the servers as in
  ``bench_rep3.py``; MPyC and CrypTen: timed around the operations by party 0).

Ratios are peer / Veil (above 1: Veil is faster), the median of the per-repetition
ratios. A peer is skipped for a case whose N is above ``--mpyc-max`` (MPyC, whose
comparisons are slow) or if it is not installed.

CrypTen 0.4.1's ONNX model importer does not import under torch 2.x; its arithmetic
does not use it. The CrypTen script therefore registers an empty stand-in for the one
module that import asks for (``torch.onnx._internal.registration``) before importing
CrypTen. CrypTen encodes values as fixed point; ints are given ``precision=0``.

The machine is shared (2 cores, other engineers' jobs): the figures vary by 2× between
runs. Take the medians and the ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_rep3  # noqa: E402  (installs the compute-phase timer in the servers too)

FEATURES = 20
DEFAULT_CASES = "mul_int:1000000,lt_int:10000,lt_int:1000000,logreg:10000"

# ---------------------------------------------------------------- the peers' scripts

MPYC = r'''
import json, sys, time
from pathlib import Path
import numpy as np
from mpyc.runtime import mpc

case, n, src, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])

def load(name, shape, scale=0):
    """Party 0's input as int64, fixed point scaled by 2^scale (others: zeros)."""
    if mpc.pid != 0:
        return np.zeros(shape, dtype=np.int64)
    spec = json.loads((src / "p.json").read_text())
    value = spec[name]
    if isinstance(value, str):
        value = np.loadtxt(src / value, delimiter=",", ndmin=len(shape),
                           dtype=float if scale else np.int64)
    value = np.asarray(value).reshape(shape)
    return np.rint(value * 2.0**scale).astype(np.int64) if scale else value

async def main():
    await mpc.start()
    sec = mpc.SecInt(64)
    if case == "logreg":
        # fixed point by hand, 16 fractional bits as Veil's: x·w is at scale 2^32 and
        # only its sign is needed, so no truncation (MPyC's SecFxp arrays did not finish
        # a matrix product of 3 parties here)
        x = mpc.input(sec.array(load("x", (n, 20), 16)), senders=0)
        w = mpc.input(sec.array(load("w", (20,), 16)), senders=0)
        b = mpc.input(sec.array(load("b", (1,), 32)), senders=0)
    else:
        a = mpc.input(sec.array(load("a", (n,))), senders=0)
        b = mpc.input(sec.array(load("b", (n,))), senders=0)
    await mpc.barrier()
    start = time.perf_counter()
    if case == "mul_int":
        result = await mpc.output(a * b, receivers=0)
    elif case == "lt_int":
        result = await mpc.output(a < b, receivers=0)
    else:
        z = x @ w + b
        result = await mpc.output(mpc.np_sum(z > 0))
    online = time.perf_counter() - start
    if mpc.pid == 0:
        out.mkdir(parents=True, exist_ok=True)
        value = np.asarray(result).astype(np.int64).tolist() if case != "logreg" \
            else int(result)
        (out / "p.json").write_text(json.dumps({"c": value}))
        print(json.dumps({"online": online}))
    await mpc.shutdown()

mpc.run(main())
'''

CRYPTEN = r'''
import json, sys, time, types
from pathlib import Path
import numpy as np
sys.modules["torch.onnx._internal.registration"] = types.SimpleNamespace(registry=None)
import torch
import crypten
import crypten.mpc as cmpc

case, n, src, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])

@cmpc.run_multiprocess(world_size=3)
def party():
    rank = crypten.communicator.get().get_rank()
    spec = json.loads((src / "p.json").read_text()) if rank == 0 else {}

    def load(name, shape, dtype):
        if rank != 0:
            return torch.zeros(shape, dtype=dtype)
        value = spec[name]
        if isinstance(value, str):
            value = np.loadtxt(src / value, delimiter=",", ndmin=len(shape))
        return torch.tensor(np.asarray(value), dtype=dtype).reshape(shape)

    if case == "logreg":
        x = crypten.cryptensor(load("x", (n, 20), torch.float64), src=0)
        w = crypten.cryptensor(load("w", (20,), torch.float64), src=0)
        b = crypten.cryptensor(load("b", (1,), torch.float64), src=0)
    else:
        a = crypten.cryptensor(load("a", (n,), torch.int64), src=0, precision=0)
        b = crypten.cryptensor(load("b", (n,), torch.int64), src=0, precision=0)
    crypten.communicator.get().barrier()
    start = time.perf_counter()
    if case == "mul_int":
        result = (a * b).get_plain_text(dst=0)
    elif case == "lt_int":
        result = (a < b).get_plain_text(dst=0)
    else:
        result = ((x.matmul(w) + b) > 0).sum().get_plain_text(dst=0)
    online = time.perf_counter() - start
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        value = result.to(torch.int64).tolist() if case != "logreg" else int(result.item())
        (out / "p.json").write_text(json.dumps({"c": value}))
        print(json.dumps({"online": online}), flush=True)

crypten.init()
party()
'''

# ---------------------------------------------------------------- inputs and Veil


def veil_program(case: str, n: int) -> str:
    if case == "logreg":
        return (f"party p\ninput x: secret fixed[{n}, {FEATURES}] from p\n"
                f"input w: secret fixed[{FEATURES}] from p\ninput b: secret fixed from p\n"
                f"use ml\noutput c = sum(ml.sigmoid(x @ w + b) > 0.5) to p\n")
    op = "*" if case == "mul_int" else "<"
    return (f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
            f"output c = a {op} b to p\n")


def write_case(case: str, n: int, where: Path, rng: np.random.Generator) -> Path:
    where.mkdir(parents=True)
    (where / "main.mpc").write_text(veil_program(case, n))
    inputs = where / "inputs"
    inputs.mkdir()
    if case == "logreg":
        x = rng.normal(0.0, 1.0, (n, FEATURES))
        np.savetxt(inputs / "x.csv", x, fmt="%.6f", delimiter=",")
        w = np.round(rng.normal(0.0, 0.5, FEATURES), 6)
        spec = {"x": "x.csv", "w": w.tolist(), "b": 0.1}
    else:
        # CrypTen's comparison of integers holds for |a − b| < 2^62 or so; MPyC's SecInt(64)
        # wants |a|, |b| < 2^63: keep the products' factors and differences well inside
        limit = 1 << 31 if case == "mul_int" else 1 << 60
        for name in ("a", "b"):
            np.savetxt(inputs / f"{name}.csv", rng.integers(-limit, limit, n), fmt="%d")
        spec = {"a": "a.csv", "b": "b.csv"}
    (inputs / "p.json").write_text(json.dumps(spec))
    return where


def expected(case: str, inputs: Path):
    spec = json.loads((inputs / "p.json").read_text())
    if case == "logreg":
        x = np.loadtxt(inputs / spec["x"], delimiter=",", ndmin=2)
        z = x @ np.array(spec["w"]) + spec["b"]
        return int(np.sum(z > 0)), np.abs(z)
    a = np.loadtxt(inputs / spec["a"], dtype=np.int64)
    b = np.loadtxt(inputs / spec["b"], dtype=np.int64)
    return (a * b if case == "mul_int" else a < b), None


def check(case: str, inputs: Path, out: Path) -> str:
    got = json.loads((out / "p.json").read_text())["c"]
    want, margin = expected(case, inputs)
    if case == "logreg":
        near = int(np.sum(margin < 1e-2))  # fixed-point rounding may flip scores near 0
        return "OK" if abs(int(got) - want) <= near else f"FAIL {got} vs {want} (±{near})"
    same = np.array_equal(np.asarray(got, dtype=np.int64), want.astype(np.int64))
    return "OK" if same else "FAIL"


def veil_online(prog: Path, timeout: float) -> float:
    from veil.compiler import compile_path
    from veil.io.inputs import load_inputs

    compiled = compile_path(prog / "main.mpc", {}, 2, "rep3")
    circuit = compiled.executable
    inputs = load_inputs(circuit, prog / "inputs")
    with tempfile.TemporaryDirectory(prefix="veil-bench-peers-") as tmp:
        _, _, timings = bench_rep3.run_once(circuit, inputs, timeout, tmp, "online")
    return bench_rep3.online_time(timings) if timings else float("nan")


# ---------------------------------------------------------------- running


@dataclass
class Runs:
    whole: list[float] = field(default_factory=list)
    online: list[float] = field(default_factory=list)
    status: str = "OK"


def run_command(cmd: list[str], timeout: float, env: dict | None = None
                ) -> tuple[float, str]:  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def peer_online(stdout: str) -> float:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return float(json.loads(line)["online"])
    raise RuntimeError(f"no timing in the peer's output: {stdout[-500:]}")


def measure_case(case: str, n: int, args, tmp: Path, rng) -> dict[str, Runs]:
    prog = write_case(case, n, tmp / f"{case}-{n}", rng)
    scripts = {"mpyc": tmp / "mpyc_case.py", "crypten": tmp / "crypten_case.py"}
    scripts["mpyc"].write_text(MPYC)
    scripts["crypten"].write_text(CRYPTEN)
    results: dict[str, Runs] = {"veil": Runs()}
    peers = [p for p in args.peers if not (p == "mpyc" and n > args.mpyc_max)]
    for p in peers:
        results[p] = Runs()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for k in range(args.repeat):
        out = tmp / f"out-{case}-{n}-{k}"
        seconds, _ = run_command([sys.executable, "-m", "veil.cli", "run", str(prog), "--out",
                                  str(out / "veil"), "--timeout", "600"], args.timeout)
        results["veil"].whole.append(seconds)
        results["veil"].online.append(veil_online(prog, 600.0))
        results["veil"].status = check(case, prog / "inputs", out / "veil")
        for p in peers:
            cmd = [args.peers_python, str(scripts[p]), case, str(n), str(prog / "inputs"),
                   str(out / p)]
            if p == "mpyc":
                cmd += ["-M3", "--no-log"]
            seconds, stdout = run_command(cmd, args.timeout, env)
            results[p].whole.append(seconds)
            results[p].online.append(peer_online(stdout))
            results[p].status = check(case, prog / "inputs", out / p)
        print(f"  {case}:{n} run {k + 1}: " + ", ".join(
            f"{name} {r.whole[-1]:.2f} s whole / {r.online[-1]:.3f} s online ({r.status})"
            for name, r in results.items()), file=sys.stderr)
    return results


def ratio(peer: list[float], veil: list[float]) -> str:
    return f"{statistics.median(p / v for p, v in zip(peer, veil, strict=True)):,.1f}×"


def table(rows: list[tuple[str, int, dict[str, Runs]]], peers: list[str]) -> str:
    head = "| case | n | veil whole s | veil online s |"
    rule = "| --- | ---: | ---: | ---: |"
    for p in peers:
        head += f" {p} whole s | {p} online s | {p}/veil whole | {p}/veil online |"
        rule += " ---: | ---: | ---: | ---: |"
    lines = [head, rule]
    for case, n, res in rows:
        v = res["veil"]
        line = (f"| `{case}` | {n:,} | {statistics.median(v.whole):.2f} | "
                f"{statistics.median(v.online):.3f} |")
        for p in peers:
            if p not in res:
                line += " skipped | | | |"
                continue
            r = res[p]
            line += (f" {statistics.median(r.whole):.2f} | {statistics.median(r.online):.3f} | "
                     f"{ratio(r.whole, v.whole)} | {ratio(r.online, v.online)} |")
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help="NAME:N,... (see the top)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers", default="mpyc,crypten")
    default_python = ROOT / ".venv-peers" / "bin" / "python"
    parser.add_argument("--peers-python", default=str(default_python) if
                        default_python.exists() else sys.executable,
                        help="the interpreter that has mpyc and crypten installed")
    parser.add_argument("--mpyc-max", type=int, default=100_000,
                        help="skip MPyC for cases larger than this")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in list(args.peers):
        shim = CRYPTEN.split("import torch\n")[0] if p == "crypten" else ""
        probe = subprocess.run([args.peers_python, "-c", f"{shim}\nimport {p}"],
                               capture_output=True)
        if probe.returncode != 0:
            print(f"{p} is not installed for {args.peers_python}: skipped", file=sys.stderr)
            args.peers.remove(p)
    cases = []
    for item in args.cases.split(","):
        name, _, n = item.strip().partition(":")
        cases.append((name, int(n.replace("_", ""))))
    print(f"machine: {bench_rep3.machine()}")
    print(f"source: {bench_rep3.source_version()}")
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="veil-bench-peers-") as tmp:
        for case, n in cases:
            rows.append((case, n, measure_case(case, n, args, Path(tmp), rng)))
    print(f"median of {args.repeat} run(s); ratios peer/veil (above 1: veil is faster)")
    print(table(rows, args.peers))
    failed = [(c, n, s) for c, n, res in rows for s, r in res.items() if r.status != "OK"]
    for c, n, s in failed:
        print(f"check failed: {s} on {c}:{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
