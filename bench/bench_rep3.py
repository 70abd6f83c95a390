"""Throughput of the rep3 backend: three server processes over TCP on this machine.

Run from the repository root:

    python bench/bench_rep3.py                 # 1M elements, 3 runs of each case
    python bench/bench_rep3.py --n 100000 --repeat 1

Cases (each a small Veil program compiled for `rep3`, run on random inputs with
`LocalRun`, checked against numpy):

- ``mul_int``   ``a * b`` on ``secret int[N]`` (64-bit ring multiplications);
- ``mul_fixed`` ``a * b`` on ``secret fixed[N]`` (a multiplication and a truncation);
- ``lt_int``    ``a < b`` on ``secret int[N]`` (comparisons, A2B + Kogge–Stone);
- ``logreg``    ``sum(ml.sigmoid(x @ w + b) > 0.5)`` for ``x: secret fixed[N/10, 20]``
  (logistic-regression scoring with a threshold; only the count is revealed);
- ``scores``    ``ml.sigmoid(x @ w + b)`` revealed for the same ``x``: the sigmoid itself
  (16 comparisons and selects a row), which the threshold case no longer evaluates
  once the optimizer rewrites ``sigmoid(z) > 0.5`` into ``z > 0``.

Two times are reported for each case, the median over ``--repeat`` runs:

- ``total``: wall time of ``LocalRun.run`` as a user sees it: starting three
  interpreter processes, connecting, key agreement, secret-sharing and sending the
  inputs, the compute rounds, the output shares and the reconstruction.
- ``online``: the compute rounds only (local operations and the round messages), from
  the moment the last server enters ``Rep3Server.compute`` (all three hold their input
  shares) to the moment the last one leaves it. The source is not edited for this:
  this module wraps ``Rep3Server.compute`` when it is imported, and multiprocessing's
  spawn start method imports the main module again in every server process, so the
  servers run the wrapper too. It writes ``time.perf_counter()`` stamps
  (CLOCK_MONOTONIC, one clock for all processes) and the process's CPU time and page
  faults during the phase to files named after the environment variable
  ``VEIL_BENCH_TIMINGS``; without that variable the wrapper only calls through.

Rounds and bytes are what the run measured (``RunResult.stats``); the script checks
them against the cost report's prediction (``veil.cost.report.build``). ``bytes/server``
is the largest of the three servers' totals: compute rounds plus output shares (the
input shares are sent by the runner, and listed separately).

``--profile CASE`` instead runs one case once with cProfile around
``Rep3Server.compute`` in each of the three server processes and prints the functions
with the most own time summed over the servers. With ``--threads`` the servers run as
threads of this process (``tests/rep3_harness.run_threaded``) and their whole sessions
are profiled. Own time of ``recv_into`` and of lock ``acquire`` (joining the send
thread) is mostly waiting for a peer.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from veil.backend.base import RunResult
from veil.backend.rep3 import Rep3Server
from veil.compiler import Compiled, compile_source
from veil.cost.report import build
from veil.ir.nodes import Circuit
from veil.ir.semantics import encode
from veil.runtime.local import LocalRun
from veil.types import FRAC_BITS

TIMINGS_ENV = "VEIL_BENCH_TIMINGS"
PROFILE_ENV = "VEIL_BENCH_PROFILE"
OK, WARN, FAIL = "OK", "WARN", "FAIL"
FEATURES = 20
QUIET_OPS = {"local_ops", "public_ops"}  # not listed in the circuit line
U64 = np.uint64


# ---------------------------------------------------------------- online timing


@dataclass
class ServerTiming:
    """One server's compute phase: wall-clock stamps and the CPU it used meanwhile."""

    start: float  # time.perf_counter(), one clock for all processes
    end: float
    user: float  # CPU seconds in user mode
    system: float  # CPU seconds in the kernel (page faults, socket copies)
    page_faults: int  # minor faults: first touches of freshly mapped memory


def _timed_compute(original: Callable[[Rep3Server], None]) -> Callable[[Rep3Server], None]:
    @functools.wraps(original)
    def compute(self: Rep3Server) -> None:
        path = os.environ.get(TIMINGS_ENV)
        prof = cProfile.Profile() if path and os.environ.get(PROFILE_ENV) else None
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        if prof is not None:
            prof.runcall(original, self)
        else:
            original(self)
        end = time.perf_counter()
        after = resource.getrusage(resource.RUSAGE_SELF)
        if path:
            timing = ServerTiming(start, end, after.ru_utime - before.ru_utime,
                                  after.ru_stime - before.ru_stime,
                                  after.ru_minflt - before.ru_minflt)  # fmt: skip
            Path(f"{path}.{self.me}").write_text(json.dumps(asdict(timing)), encoding="ascii")
            if prof is not None:
                prof.dump_stats(f"{path}.{self.me}.prof")

    compute.__veil_bench__ = True  # type: ignore[attr-defined]
    return compute


# Runs in this process and, through spawn's re-import of the main module, in each server.
if not getattr(Rep3Server.compute, "__veil_bench__", False):
    Rep3Server.compute = _timed_compute(Rep3Server.compute)  # type: ignore[method-assign]


def read_timings(path: str) -> list[ServerTiming] | None:
    """The three servers' compute timings, or None if one is missing."""
    try:
        return [ServerTiming(**json.loads(Path(f"{path}.{me}").read_text(encoding="ascii")))
                for me in range(3)]  # fmt: skip
    except (OSError, ValueError, TypeError):
        return None


def online_time(timings: list[ServerTiming]) -> float:
    """From the moment all three servers hold their inputs to the last one finishing."""
    return max(t.end for t in timings) - max(t.start for t in timings)


# ---------------------------------------------------------------- cases


@dataclass
class Case:
    """One benchmark: a program, its cleartext inputs and a numpy check of its outputs.

    `check` returns OK, WARN (only the documented probabilistic truncation failures, at
    the rate the protocol predicts) or FAIL, and a line of detail."""

    name: str
    what: str
    elements: int
    source: str
    values: dict[str, np.ndarray | float]
    check: Callable[[dict[str, np.ndarray]], tuple[str, str]]


def signed(raw: np.ndarray) -> np.ndarray:
    return np.asarray(raw, dtype=U64).view(np.int64)


def case_mul_int(n: int, rng: np.random.Generator) -> Case:
    a = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
    b = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
    src = (
        f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
        f"output c = a * b to p\n"
    )

    def check(out: dict[str, np.ndarray]) -> tuple[str, str]:
        expected = a.view(U64) * b.view(U64)  # wraps modulo 2^64
        bad = int(np.count_nonzero(np.asarray(out["c"], dtype=U64) != expected))
        return (OK if bad == 0 else FAIL), f"{bad} of {n:,} wrong"

    return Case("mul_int", "a * b, secret int[N]", n, src, {"a": a, "b": b}, check)


def case_mul_fixed(n: int, rng: np.random.Generator) -> Case:
    a = rng.uniform(-1000.0, 1000.0, n)
    b = rng.uniform(-1000.0, 1000.0, n)
    src = (
        f"party p\ninput a: secret fixed[{n}] from p\ninput b: secret fixed[{n}] from p\n"
        f"output c = a * b to p\n"
    )

    def check(out: dict[str, np.ndarray]) -> tuple[str, str]:
        # Exact reference: round both to fixed point, multiply, shift right by f bits.
        # The rep3 truncation may add one unit (2^-16): accept 0 or +1. It never fails
        # for products below 2^62 raw (docs/security.md), so any other value is a FAIL.
        ea, eb = signed(encode(a, "fixed")), signed(encode(b, "fixed"))
        product = ea * eb
        diff = signed(out["c"]) - (product >> FRAC_BITS)
        bad = int(np.count_nonzero((diff != 0) & (diff != 1)))
        detail = f"{bad} of {n:,} wrong, the rest exact to -0/+1 unit"
        return (OK if bad == 0 else FAIL), detail

    return Case("mul_fixed", "a * b, secret fixed[N]", n, src, {"a": a, "b": b}, check)


def case_lt(n: int, rng: np.random.Generator) -> Case:
    # Comparisons are exact whenever |a - b| < 2^63.
    a = rng.integers(-(2**61), 2**61, n, dtype=np.int64)
    b = rng.integers(-(2**61), 2**61, n, dtype=np.int64)
    b[: n // 10] = a[: n // 10]  # some ties
    src = (
        f"party p\ninput a: secret int[{n}] from p\ninput b: secret int[{n}] from p\n"
        f"output c = a < b to p\n"
    )

    def check(out: dict[str, np.ndarray]) -> tuple[str, str]:
        bad = int(np.count_nonzero(np.asarray(out["c"], dtype=np.bool_) != (a < b)))
        return (OK if bad == 0 else FAIL), f"{bad} of {n:,} wrong"

    return Case("lt_int", "a < b, secret int[N]", n, src, {"a": a, "b": b}, check)


def _model(rows: int, rng: np.random.Generator, output: str
           ) -> tuple[np.ndarray, np.ndarray, float, str]:  # fmt: skip
    """Random applicants and weights, and a program scoring them with `output`."""
    x = rng.normal(0.0, 1.0, (rows, FEATURES))
    w = rng.normal(0.0, 0.5, FEATURES)
    src = f"""party bank, model
input x: secret fixed[{rows}, {FEATURES}] from bank
input w: secret fixed[{FEATURES}] from model
input b: secret fixed from model
use ml
output {output} to bank
"""
    return x, w, 0.1, src


def case_logreg(rows: int, rng: np.random.Generator) -> Case:
    x, w, bias, src = _model(rows, rng, "approved = sum(ml.sigmoid(x @ w + b) > 0.5)")

    def check(out: dict[str, np.ndarray]) -> tuple[str, str]:
        z = x @ w + bias
        expected = int(np.count_nonzero(1.0 / (1.0 + np.exp(-z)) > 0.5))
        got = int(signed(out["approved"]))
        # Fixed-point rounding (2^-16) and the piecewise sigmoid may flip rows whose
        # score is within 1e-3 of the threshold; no other row may differ.
        near = int(np.count_nonzero(np.abs(z) < 1e-3))
        good = abs(got - expected) <= near
        return (OK if good else FAIL), f"count {got}, numpy {expected} (±{near} near 0)"

    return Case(
        "logreg",
        f"count(sigmoid(x@w+b) > 0.5), x: [N/10, {FEATURES}]",
        rows,
        src,
        {"x": x, "w": w, "b": bias},
        check,
    )


def case_scores(rows: int, rng: np.random.Generator) -> Case:
    x, w, bias, src = _model(rows, rng, "score = ml.sigmoid(x @ w + b)")

    def check(out: dict[str, np.ndarray]) -> tuple[str, str]:
        expected = 1.0 / (1.0 + np.exp(-(x @ w + bias)))
        err = np.abs(signed(out["score"]) / 2.0**FRAC_BITS - expected)
        # ml.sigmoid is within 0.0035 of the real one; fixed point adds a few 2^-16.
        bad = int(np.count_nonzero(err > 0.004))
        detail = f"{bad} of {rows:,} off by more than 0.004, max error {float(err.max()):.4f}"
        return (OK if bad == 0 else FAIL), detail

    return Case(
        "scores",
        f"sigmoid(x@w+b) revealed, x: [N/10, {FEATURES}]",
        rows,
        src,
        {"x": x, "w": w, "b": bias},
        check,
    )


CASES: dict[str, Callable[[int, np.random.Generator], Case]] = {
    "mul_int": case_mul_int,
    "mul_fixed": case_mul_fixed,
    "lt_int": case_lt,
    "logreg": lambda n, rng: case_logreg(max(1, n // 10), rng),
    "scores": lambda n, rng: case_scores(max(1, n // 10), rng),
}


# ---------------------------------------------------------------- running


@dataclass
class Measured:
    case: Case
    total: list[float]
    online: list[float]
    servers: list[list[ServerTiming]]  # per run, the three servers' compute phases
    stats: dict
    predicted: dict  # the cost report of the rep3 circuit
    ops: dict[str, int]  # interactive operations of the program, before lowering
    status: str
    detail: str
    compile_s: float


def compile_case(case: Case, opt_level: int | None = None
                 ) -> tuple[Compiled, dict[str, np.ndarray], float]:  # fmt: skip
    """The compiled program (its `.executable` is the rep3 circuit), encoded inputs, time."""
    start = time.perf_counter()
    levels = {} if opt_level is None else {"optimize_level": opt_level}
    compiled = compile_source(case.source, backend="rep3", **levels)
    elapsed = time.perf_counter() - start
    inputs = {s.name: encode(case.values[s.name], s.type.base)
              for s in compiled.executable.inputs}  # fmt: skip
    return compiled, inputs, elapsed


def run_once(circuit: Circuit, inputs: dict[str, np.ndarray], timeout: float, tmp: str,
             tag: str, profile: bool = False) -> tuple[RunResult, float, list | None]:  # fmt: skip
    """One LocalRun run: its result, its wall time and the servers' compute timings."""
    stamp = os.path.join(tmp, tag)
    os.environ[TIMINGS_ENV] = stamp
    if profile:
        os.environ[PROFILE_ENV] = "1"
    try:
        start = time.perf_counter()
        result = LocalRun(timeout=timeout).run(circuit, inputs)
        elapsed = time.perf_counter() - start
    finally:
        os.environ.pop(TIMINGS_ENV, None)
        os.environ.pop(PROFILE_ENV, None)
    return result, elapsed, read_timings(stamp)


def run_case(case: Case, repeat: int, timeout: float, opt_level: int | None = None) -> Measured:
    compiled, inputs, compile_s = compile_case(case, opt_level)
    circuit = compiled.executable
    predicted = build(circuit, backend="rep3")
    ops = build(compiled.circuit)["ops"]  # operations before lowering to the protocol
    totals: list[float] = []
    onlines: list[float] = []
    servers: list[list[ServerTiming]] = []
    statuses, detail, stats = [], "", {}
    with tempfile.TemporaryDirectory(prefix="veil-bench-") as tmp:
        for k in range(repeat):
            result, elapsed, timings = run_once(circuit, inputs, timeout, tmp, f"run{k}")
            totals.append(elapsed)
            if timings is not None:
                onlines.append(online_time(timings))
                servers.append(timings)
            status, detail = case.check(result.outputs)
            statuses.append(status)
            stats = result.stats
    worst = max(statuses, key=[OK, WARN, FAIL].index)
    return Measured(case, totals, onlines, servers, stats, predicted, ops, worst, detail, compile_s)


def fmt_rate(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def table(results: list[Measured]) -> str:
    head = (
        f"{'case':<10} {'elements':>10} {'total s':>8} {'elem/s':>8} {'online s':>9} "
        f"{'elem/s':>8} {'rounds':>6} {'bytes/server':>13} {'check':>5}"
    )
    lines = [head, "-" * len(head)]
    for m in results:
        total = statistics.median(m.total)
        online = statistics.median(m.online) if m.online else float("nan")
        on_rate = fmt_rate(m.case.elements / online) if m.online else "n/a"
        lines.append(
            f"{m.case.name:<10} {m.case.elements:>10,} {total:>8.3f} "
            f"{fmt_rate(m.case.elements / total):>8} {online:>9.3f} {on_rate:>8} "
            f"{m.stats['rounds']:>6} {max(m.stats['bytes_sent']):>13,} "
            f"{m.status:>5}"
        )
    return "\n".join(lines)


def details(results: list[Measured]) -> str:
    lines = []
    for m in results:
        s, p = m.stats, m.predicted
        same = s["rounds"] == p["rounds"] and s["bytes_sent"] == p["bytes_per_server"]
        lines.append(
            f"{m.case.name:<10} {m.case.what}; compile {m.compile_s:.2f} s; "
            f"runs total {', '.join(f'{t:.3f}' for t in m.total)} s, online "
            f"{', '.join(f'{t:.3f}' for t in m.online) or 'n/a'} s"
        )
        ops = {k: v for k, v in m.ops.items() if v and k not in QUIET_OPS}
        lines.append(
            f"{'':<10} circuit: {', '.join(f'{k} {v:,}' for k, v in ops.items())}; "
            f"protocol: {p['ops'].get('boolean_gates', 0):,} AND gates, "
            f"{p['ops'].get('secret_multiplications', 0):,} multiplications"
        )
        lines.append(
            f"{'':<10} rounds {s['rounds']} (compute {s['compute_rounds']}), bytes per server "
            f"{s['bytes_sent']}, messages {s['messages']}, input bytes "
            f"{sum(s['input_bytes'].values()):,}, output bytes "
            f"{sum(s['output_bytes'].values()):,}; cost report "
            f"{'agrees' if same else 'DIFFERS: ' + str((p['rounds'], p['bytes_per_server']))}"
        )
        if m.servers:
            each = [t for run in m.servers for t in run]
            k = len(each)
            lines.append(
                f"{'':<10} one server's compute phase, mean over servers and runs: wall "
                f"{sum(t.end - t.start for t in each) / k:.3f} s, CPU user "
                f"{sum(t.user for t in each) / k:.3f} s + system "
                f"{sum(t.system for t in each) / k:.3f} s, "
                f"{sum(t.page_faults for t in each) // k:,} page faults"
            )
        lines.append(f"{'':<10} check: {m.detail}")
    return "\n".join(lines)


def source_version() -> str:
    """The checkout being measured: commit, and whether the work tree had changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "stdlib",
                                "grammar"], cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "veil (not a git checkout)"
    return f"veil {head}" + (" with uncommitted changes to the compiler" if dirty else "")


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.system()} {platform.release()}"
    )


# ---------------------------------------------------------------- profiling


def profile_processes(case: Case, top: int, timeout: float, opt_level: int | None = None
                      ) -> None:  # fmt: skip
    """cProfile `Rep3Server.compute` inside the three real server processes."""
    compiled, inputs, _ = compile_case(case, opt_level)
    circuit = compiled.executable
    with tempfile.TemporaryDirectory(prefix="veil-bench-") as tmp:
        result, elapsed, timings = run_once(circuit, inputs, timeout, tmp, "prof", profile=True)
        status, detail = case.check(result.outputs)
        online = f"{online_time(timings):.3f} s" if timings else "n/a"
        print(
            f"{case.name}: {case.elements:,} elements, total {elapsed:.3f} s, online "
            f"{online} (under cProfile), check {status}: {detail}"
        )
        stats = pstats.Stats(os.path.join(tmp, "prof.0.prof"))
        for me in (1, 2):
            stats.add(os.path.join(tmp, f"prof.{me}.prof"))
    print("Rep3Server.compute, own time summed over the 3 server processes:")
    stats.sort_stats("tottime").print_stats(top)


def profile_threads(case: Case, top: int, opt_level: int | None = None) -> None:
    """cProfile the three servers' sessions run in threads (tests/rep3_harness.py)."""
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "tests"))
    import rep3_harness  # the in-process harness of the test suite

    compiled, inputs, _ = compile_case(case, opt_level)
    circuit = compiled.executable
    profiles: list[cProfile.Profile] = []
    original = rep3_harness.serve_session

    def profiled(*args, **kwargs):  # type: ignore[no-untyped-def]
        prof = cProfile.Profile()
        profiles.append(prof)
        return prof.runcall(original, *args, **kwargs)

    rep3_harness.serve_session = profiled
    try:
        start = time.perf_counter()
        run = rep3_harness.run_threaded(circuit, inputs, timeout=600.0)
        elapsed = time.perf_counter() - start
    finally:
        rep3_harness.serve_session = original
    status, detail = case.check(run.result.outputs)
    print(
        f"{case.name}: {case.elements:,} elements in {elapsed:.3f} s in one process "
        f"(threads share the GIL; blocking socket calls count their waiting), "
        f"check {status}: {detail}"
    )
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    print("server_session, own time summed over the 3 server threads:")
    stats.sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        default=1_000_000,
        help="elements per case (logreg scores n/10 rows of 20 features)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds a silent peer is tolerated"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "-O",
        dest="opt_level",
        type=int,
        choices=(0, 1, 2),
        help="optimization level (default: the compiler's, as for `veil run`)",
    )
    parser.add_argument(
        "--profile",
        metavar="CASE",
        choices=list(CASES),
        help="instead of benchmarking, cProfile the compute phase of one run of CASE in "
        "each server process and print the costliest functions",
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="with --profile: run the servers as threads of this process "
        "(tests/rep3_harness.py) and profile their whole sessions",
    )
    parser.add_argument("--top", type=int, default=25, help="rows of the profile")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    if args.profile:
        case = CASES[args.profile](args.n, rng)
        if args.threads:
            profile_threads(case, args.top, args.opt_level)
        else:
            profile_processes(case, args.top, args.timeout, args.opt_level)
        return 0

    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}")
    print(f"machine: {machine()}")
    print(f"source: {source_version()}")
    print(
        f"rep3: 3 server processes + the runner, TCP on 127.0.0.1; n = {args.n:,}, "
        f"-O {'default' if args.opt_level is None else args.opt_level}, "
        f"median of {args.repeat} run(s)\n"
    )
    results = []
    for name in names:
        case = CASES[name](args.n, rng)
        results.append(run_case(case, args.repeat, args.timeout, args.opt_level))
        print(
            f"  {name} done ({statistics.median(results[-1].total):.2f} s a run)", file=sys.stderr
        )
    print(table(results))
    print()
    print(details(results))
    return 1 if any(m.status == FAIL for m in results) else 0


if __name__ == "__main__":
    sys.exit(main())
