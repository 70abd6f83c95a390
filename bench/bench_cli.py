"""The whole `veil run` from the command line, next to a plaintext numpy script doing the
same I/O: read the same CSV/JSON inputs, compute, write the same outputs as JSON.

Run from the repository root (with the project's virtualenv active):

    python bench/bench_cli.py                        # 1M elements, 3 repetitions a case
    python bench/bench_cli.py --cases credit --n 1000000 --repeat 3
    python bench/bench_cli.py --phases               # where the time of one run goes
    python bench/bench_cli.py --cold                 # every run compiles (no compile cache)

Cases (inputs as CSV files named by the party's JSON file, as a user would give them):

- ``mul_int``  ``a * b`` on ``secret int[N]``, one party;
- ``lt_int``   ``a < b`` on ``secret int[N]``;
- ``credit``   ``programs/credit_scoring`` with N applicants of 7 features (``fixed``).

For each case and repetition the script runs ``python -m veil.cli run DIR --out OUT``
(stdout discarded) and ``python plaintext.py DIR OUT``, a numpy script that reads the
same files with ``np.loadtxt``/``json``, computes the same result in the clear and
writes each receiver's ``<party>.json`` with ``json.dump``. It prints the medians, the
ratio veil/plaintext (median of the per-repetition ratios), and the peak memory of one
more veil run: the largest sum of the resident set sizes of the run's process tree
(sampled every 10 ms from /proc) and the largest peak of one process of the tree (its
VmHWM, which is what ``/usr/bin/time`` reports as maximum resident set size). The timed
runs go without the sampler: on a 2-core machine its reads of /proc took CPU from the
measured processes, veil's five more than the plaintext script's one.

Every run after the first of a program takes its compiled circuit from veil's compile
cache (veil.compile_cache; here a folder of the benchmark's own), as a user's second and
later runs do; ``--cold`` turns the cache off, so every measured run compiles.

``--phases`` runs the steps of ``veil run`` in this process instead and times each:
interpreter start + ``import veil.cli`` (in a fresh process), compiling, loading the
inputs, ``LocalRun.run`` (of which the compute rounds, "online", are measured inside
the servers as in ``bench_rep3.py``), decoding the outputs and writing them.

The machine is shared: timings vary by 2x between runs; take the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_rep3  # noqa: E402  (installs the compute-phase timer in the servers too)

CREDIT = ROOT / "programs" / "credit_scoring"

PLAINTEXT = '''
import json, sys
from pathlib import Path
import numpy as np

case, src, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)

def csv(party, field):
    spec = json.loads((src / f"{party}.json").read_text())
    return spec, np.loadtxt(src / spec[field], delimiter=",", ndmin=1)

if case in ("mul_int", "lt_int"):
    spec = json.loads((src / "p.json").read_text())
    a = np.loadtxt(src / spec["a"], delimiter=",", dtype=np.int64)
    b = np.loadtxt(src / spec["b"], delimiter=",", dtype=np.int64)
    c = a * b if case == "mul_int" else a < b
    (out / "p.json").write_text(json.dumps({"c": c.tolist()}))
else:
    eu = json.loads((src / "eu_bank.json").read_text())
    cn = json.loads((src / "cn_bank.json").read_text())
    x = np.loadtxt(src / cn["applicants"], delimiter=",", ndmin=2)
    z = x @ np.array(eu["weights"]) + eu["bias"]
    approved = 1 / (1 + np.exp(-z)) > 0.5
    n = int(approved.sum())
    (out / "cn_bank.json").write_text(json.dumps({"approved": approved.tolist()}))
    for party in ("eu_bank", "regulator"):
        (out / f"{party}.json").write_text(json.dumps({"approvals": n}))
'''


# ---------------------------------------------------------------- inputs


def program_text(case: str, n: int) -> str:
    if case == "credit":
        text = (CREDIT / "main.mpc").read_text()
        return text.replace("const N = 1000 ", f"const N = {n} ")
    op = "*" if case == "mul_int" else "<"
    return (f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
            f"output c = a {op} b to p\n")


def write_case(case: str, n: int, where: Path, rng: np.random.Generator) -> Path:
    """A program directory with main.mpc and inputs/ (JSON naming CSV files)."""
    where.mkdir(parents=True)
    (where / "main.mpc").write_text(program_text(case, n))
    inputs = where / "inputs"
    inputs.mkdir()
    if case == "credit":
        (inputs / "eu_bank.json").write_text((CREDIT / "inputs" / "eu_bank.json").read_text())
        (inputs / "cn_bank.json").write_text(json.dumps({"applicants": "applicants.csv"}))
        x = rng.normal(0.0, 1.0, (n, 7))
        np.savetxt(inputs / "applicants.csv", x, fmt="%.6f", delimiter=",")
    else:
        limit = 1 << 31 if case == "mul_int" else 1 << 61
        for name in ("a", "b"):
            np.savetxt(inputs / f"{name}.csv", rng.integers(-limit, limit, n), fmt="%d")
        (inputs / "p.json").write_text(json.dumps({"a": "a.csv", "b": "b.csv"}))
    return where


# ---------------------------------------------------------------- measuring a command


def _tree_rss(pid: int, high_water: dict[int, int]) -> int:
    """Sum of VmRSS (bytes) of a process and all its descendants; records each one's
    VmHWM (its own peak, kept by the kernel) in high_water."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        high_water[p] = max(high_water.get(p, 0), int(line.split()[1]) * 1024)
                    elif line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


@dataclass
class Measured:
    seconds: float
    tree_peak_mb: float  # largest sampled sum over the process tree
    max_process_mb: float  # largest peak (VmHWM) of one process of the tree


def measure(cmd: list[str], env: dict | None = None, memory: bool = False) -> Measured:
    """The wall time of `cmd`; with `memory`, also its peak memory, sampled from /proc
    every 10 ms by a thread of this process. The sampler reads a status file per
    process of the tree each time, which takes CPU from the measured processes on a
    2-core machine (more from veil's five than from one), so timed runs go without it."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    high_water: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid, high_water))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True) if memory else None
    if sampler is not None:
        sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    if sampler is not None:
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return Measured(elapsed, peak / 2**20, max(high_water.values(), default=0) / 2**20)


@dataclass
class Row:
    case: str
    n: int
    veil: list[Measured] = field(default_factory=list)
    plain: list[Measured] = field(default_factory=list)
    memory: Measured | None = None  # one more veil run, with the memory sampler


def check_same(case: str, veil_out: Path, plain_out: Path) -> str:
    for path in sorted(plain_out.glob("*.json")):
        mine = json.loads((veil_out / path.name).read_text())
        theirs = json.loads(path.read_text())
        for name, value in theirs.items():
            a, b = np.asarray(mine[name]), np.asarray(value)
            if a.shape != b.shape:
                return f"FAIL {path.name}:{name} shape {a.shape} vs {b.shape}"
            if case == "credit" and a.dtype == bool:
                # fixed point: scores within 1e-3 of the cutoff may differ
                differ = int(np.sum(a != b))
                if differ > max(10, a.size // 1000):
                    return f"FAIL {path.name}:{name}: {differ} differ"
            elif case == "credit":
                if abs(int(a) - int(b)) > max(10, int(b) // 1000):
                    return f"FAIL {path.name}:{name}: {a} vs {b}"
            elif not np.array_equal(a, b):
                return f"FAIL {path.name}:{name} differs"
    return "OK"


def run_env(compile_cache: str | None) -> dict[str, str]:
    """The environment of the measured commands: as on a user's machine, Python may cache
    compiled modules (pip writes them at install; PYTHONDONTWRITEBYTECODE, set in some
    development shells, would make every run recompile veil's sources: about 0.13 s).
    veil's compile cache (veil.compile_cache) is a folder of this benchmark's own, or
    off (`compile_cache` None: every run compiles, as the first run of a program does)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["VEIL_COMPILE_CACHE"] = compile_cache or "off"
    return env


def run_cases(cases: list[str], n: int, repeat: int, seed: int, cold: bool = False
              ) -> list[Row]:  # fmt: skip
    rng = np.random.default_rng(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="veil-bench-cli-") as tmp:
        env = run_env(None if cold else str(Path(tmp) / "compile-cache"))
        script = Path(tmp) / "plaintext.py"
        script.write_text(PLAINTEXT)
        for case in cases:
            prog = write_case(case, n, Path(tmp) / case, rng)
            row = Row(case, n)

            def veil(out: Path, prog: Path = prog) -> list[str]:
                return [sys.executable, "-m", "veil.cli", "run", str(prog), "--out", str(out),
                        "--timeout", "120"]

            # one unmeasured run first: compiled modules (and, unless --cold, the program)
            # cached, files in the page cache
            measure(veil(Path(tmp) / f"{case}.warm"), env)
            for k in range(repeat):
                out_v, out_p = Path(tmp) / f"{case}.v{k}", Path(tmp) / f"{case}.p{k}"
                row.veil.append(measure(veil(out_v), env))
                row.plain.append(measure([sys.executable, str(script), case,
                                          str(prog / "inputs"), str(out_p)], env))
                status = check_same(case, out_v, out_p)
                print(f"  {case} run {k + 1}: veil {row.veil[-1].seconds:.2f} s, plaintext "
                      f"{row.plain[-1].seconds:.2f} s, {status}", file=sys.stderr)
                if status != "OK":
                    raise SystemExit(status)
            row.memory = measure(veil(Path(tmp) / f"{case}.memory"), env, memory=True)
            rows.append(row)
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| case | n | veil run s (runs) | plaintext s (runs) | ratio (median) | "
             "peak memory, process tree | largest process |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        ratios = [v.seconds / p.seconds for v, p in zip(r.veil, r.plain, strict=True)]
        lines.append(
            f"| `{r.case}` | {r.n:,} | **{statistics.median(v.seconds for v in r.veil):.2f}** "
            f"({', '.join(f'{v.seconds:.2f}' for v in r.veil)}) | "
            f"**{statistics.median(p.seconds for p in r.plain):.2f}** "
            f"({', '.join(f'{p.seconds:.2f}' for p in r.plain)}) | "
            f"{statistics.median(ratios):.1f}× | "
            f"{r.memory.tree_peak_mb if r.memory else 0:,.0f} MB | "
            f"{r.memory.max_process_mb if r.memory else 0:,.0f} MB |")
    return "\n".join(lines)


# ---------------------------------------------------------------- phases


def phases(case: str, n: int, seed: int) -> None:
    """The steps of one `veil run`, timed in this process (plus a fresh import)."""
    from veil.compiler import compile_path
    from veil.io.inputs import load_inputs
    from veil.io.outputs import decoded_by_party, render_text, write_dir
    from veil.runtime.local import LocalRun

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import veil.cli"], check=True)
    startup = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="veil-bench-cli-") as tmp:
        prog = write_case(case, n, Path(tmp) / case, np.random.default_rng(seed))
        os.environ[bench_rep3.TIMINGS_ENV] = str(Path(tmp) / "timing")
        times: dict[str, float] = {"interpreter start + import veil.cli": startup}

        def step(name, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            times[name] = time.perf_counter() - t0
            return out

        compiled = step("compile", compile_path, prog / "main.mpc", {}, 2, "rep3")
        circuit = compiled.executable
        step("fingerprint", lambda: compiled.fingerprint)
        inputs = step("load inputs", load_inputs, circuit, prog / "inputs")
        result = step("LocalRun.run", LocalRun(timeout=120).run, circuit, inputs)
        timings = bench_rep3.read_timings(str(Path(tmp) / "timing"))
        outputs = step("decode outputs", decoded_by_party, circuit, result.outputs)
        step("write --out files", write_dir, outputs, Path(tmp) / "out")
        step("print the text summary", render_text, outputs)
        online = bench_rep3.online_time(timings) if timings else float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    total = sum(times.values())
    print(f"{case}, n = {n:,}: the steps of one `veil run` (in one process, s)")
    for name, t in times.items():
        print(f"  {name:<40} {t:8.3f}  {100 * t / total:5.1f}%")
        if name == "LocalRun.run":
            print(f"    {'of which compute rounds (online)':<38} {online:8.3f}")
    print(f"  {'sum':<40} {total:8.3f}")
    print(f"  peak RSS: this process {peak:,.0f} MB, largest server {children:,.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="mul_int,lt_int,credit")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phases", action="store_true",
                        help="time the steps of one run in this process instead")
    parser.add_argument("--cold", action="store_true",
                        help="veil's compile cache off: every run compiles the program, "
                             "as the first run of a program does")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    print(f"machine: {bench_rep3.machine()}")
    print(f"source: {bench_rep3.source_version()}")
    if args.phases:
        for case in cases:
            phases(case, args.n, args.seed)
        return 0
    rows = run_cases(cases, args.n, args.repeat, args.seed, args.cold)
    compiled = "compiled in every run (--cold)" if args.cold else \
        "the program compiled in the unmeasured first run, then from the compile cache"
    print(f"whole runs, median of {args.repeat}: `veil run DIR --out OUT` ({compiled}) vs "
          f"the plaintext numpy script")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
