"""AES-128 from a Bristol Fashion file: import, compile and rep3 throughput.

Run from the repository root:

    python bench/bench_aes.py                      # all three parts, 3 runs of each size
    python bench/bench_aes.py --blocks 1,1000 --repeat 1
    python bench/bench_aes.py --profile run        # cProfile one 1-block rep3 run (threads)
    python bench/bench_aes.py --profile compile    # cProfile compile_source of AES
    python bench/bench_aes.py --parts sha256       # 4. SHA-256: import and compile times

Parts (``--parts``; 4 runs only when named: ``--parts sha256``):

1. **Import.** ``bristol.load`` of ``tests/data/bristol/aes_128.txt`` and of synthetic
   valid circuits of 25k, 50k, 100k and 200k gates (``--gates``). The synthetic circuits
   are layers of 500 gates (XOR, with every sixth gate an AND and one in sixteen an INV);
   gate k of a layer reads wire k and wire k + s (mod 500) of the previous layer, so
   every gate is live and none is a duplicate. The time per gate must not grow with the
   size: the script prints it and the exponent b of t ∝ gates^b between the smallest and
   the largest file. Each file is also compiled for ``rep3`` inside a one-call program,
   which shows whether the compiler scales the same way (``--no-compile-scaling`` skips
   that).
2. **Compile.** ``compile_source`` of an AES program for 1 and for 10,000 blocks, for
   ``plain`` and ``rep3``: the time of each stage (parse, check with the Bristol import,
   lowering, each optimizer pass, the metrics recorded around each pass, the lowering to
   rep3 primitives) and the node counts. The stages are timed by wrapping the functions
   that ``compile_source`` calls while it runs; the source is not edited.
3. **Run.** AES-128 under ``rep3`` (``LocalRun``: three server processes and one per
   party, over TLS on this machine), one key for all blocks::

       party owner
       party reader
       circuit aes128 = bristol("tests/data/bristol/aes_128.txt")
       input key: secret bool[128] from owner
       input blocks: secret bool[B, 128] from owner
       output ct = aes128(key, blocks) to reader

   for B = 1 and B = 10,000 (``--blocks``), on random keys and blocks. Every ciphertext
   is checked against ``cryptography``'s AES-ECB. ``total`` and ``online`` are measured
   as in ``bench/bench_rep3.py``, whose wrapper of ``Rep3Server.compute`` this script
   imports (and so installs, also in the spawned servers, which import this module
   again). ``online`` is the compute phase, from the moment all three servers hold their
   input shares. Rounds and bytes are what the run measured, compared with the cost
   report (``veil.cost.report.build``). The script also wraps ``dumps``, ``loads``,
   ``fingerprint`` and ``schedule`` of ``veil.runtime`` and the servers'
   entry point, to split the rest of ``total`` into interpreter start-up, circuit
   (de)serialization, fingerprints and scheduling.

``--profile run`` runs the 1-block program once with the servers as threads of this
process (``tests/rep3_harness.run_threaded``), each server's session under cProfile,
and prints the functions with the most own time summed over the servers.
``--profile compute`` profiles only ``Rep3Server.compute``, inside the three real server
processes (no GIL shared between servers), as ``bench_rep3.py --profile`` does.
``--profile compile`` profiles ``compile_source`` of the 1-block program (after a
warm-up compile). ``--profile-blocks`` changes the block count.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bench_rep3  # the online-time wrapper of Rep3Server.compute, installed on import
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import veil.compiler
import veil.lang.parser
import veil.opt.pipeline
from veil import bristol
from veil.compiler import Compiled, compile_source
from veil.cost.report import build
from veil.ir import lower_rep3
from veil.ir.semantics import encode
from veil.runtime import handshake, local, server, session

ROOT = Path(__file__).resolve().parent.parent
AES_FILE = ROOT / "tests" / "data" / "bristol" / "aes_128.txt"
LAYER = 500  # gates per layer of the synthetic circuits
OK, FAIL = "OK", "FAIL"


# ---------------------------------------------------------------- server-side phase stamps

PHASES_SUFFIX = ".phases"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: since its exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


def _stamped(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `original` to append (name, pid, start, end, peak MB) to a file named after
    the benchmark's timings variable (one file per process); without it, call through."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        path = os.environ.get(bench_rep3.TIMINGS_ENV)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if path:
                end = time.perf_counter()
                line = json.dumps([name, os.getpid(), start, end, peak_rss_mb()])
                with open(f"{path}{PHASES_SUFFIX}.{os.getpid()}", "a", encoding="ascii") as f:
                    f.write(line + "\n")

    wrapper.__veil_bench_aes__ = True  # type: ignore[attr-defined]
    return wrapper


# Installed in this process; the forked server and party processes inherit it.
for _name, _owner, _attr in (("_serve", local, "_server_main"),
                             ("server_session", server, "serve_session"),
                             ("loads", server, "loads"), ("dumps", local, "dumps"),
                             ("fingerprint", handshake.PartyHello, "circuit_text"),
                             ("schedule", session, "schedule")):
    _fn = getattr(_owner, _attr)
    if not getattr(_fn, "__veil_bench_aes__", False):
        setattr(_owner, _attr, _stamped(_name, _fn))


@dataclass
class Phases:
    """Where one run's wall time went, from the stamps of the runner and the servers.

    The intervals follow each other and add up to the run's total; the per-server and
    runner figures are parts of them (the processes overlap on the machine's cores)."""

    before_spawn: float  # run start → the runner has hashed and serialized the circuit
    startup: float  # → the last server enters its entry point (interpreter, imports)
    server_setup: float  # → the last server has its schedule (loads, connect, hash, schedule)
    to_compute: float  # → the last server enters compute (HELLO, keys, input shares)
    online: float  # → the last server leaves compute
    outputs: float  # → the last server has sent its output shares and returns
    exit: float  # → the run returns (reconstruction; the servers exit and are joined)
    loads: float  # slowest server: parse the circuit text
    fingerprint: float  # slowest server: hash the circuit
    schedule: float  # slowest server: round schedule of the circuit
    runner: float  # the runner's dumps + fingerprints + schedule, in all
    server_mb: float  # the largest peak resident memory of the three servers


def read_phases(
    stamp: str, start: float, end: float, timings: list[bench_rep3.ServerTiming]
) -> Phases | None:
    """Combine the per-process stamp files of one run."""
    events: dict[int, list[tuple[str, float, float]]] = {}
    peak: dict[int, float] = {}
    folder = Path(stamp).parent
    for path in folder.glob(Path(stamp).name + PHASES_SUFFIX + ".*"):
        for line in path.read_text(encoding="ascii").splitlines():
            name, pid, t0, t1, mb = json.loads(line)
            events.setdefault(pid, []).append((name, t0, t1))
            peak[pid] = max(peak.get(pid, 0.0), mb)
    me = os.getpid()
    servers = [ev for ev in events.values() if any(n == "_serve" for n, _, _ in ev)]
    runner = events.get(me, [])
    if len(servers) != 3 or not any(n == "dumps" for n, _, _ in runner):
        return None

    def total(ev: list[tuple[str, float, float]], name: str) -> float:
        return sum(t1 - t0 for n, t0, t1 in ev if n == name)

    def last(name: str, which: int) -> float:
        return max(next(e[which] for e in ev if e[0] == name) for ev in servers)

    spawned = next(t1 for n, _, t1 in runner if n == "dumps")
    serving, scheduled, served = last("_serve", 1), last("schedule", 2), last("_serve", 2)
    computing, computed = max(t.start for t in timings), max(t.end for t in timings)
    return Phases(
        before_spawn=spawned - start,
        startup=serving - spawned,
        server_setup=scheduled - serving,
        to_compute=computing - scheduled,
        online=computed - computing,
        outputs=served - computed,
        exit=end - served,
        loads=max(total(ev, "loads") for ev in servers),
        fingerprint=max(total(ev, "fingerprint") for ev in servers),
        schedule=max(total(ev, "schedule") for ev in servers),
        runner=sum(t1 - t0 for n, t0, t1 in runner),
        server_mb=max(mb for pid, mb in peak.items()
                      if any(n == "_serve" for n, _, _ in events[pid])),
    )


# ---------------------------------------------------------------- programs and data


def aes_source(blocks: int) -> str:
    """The benchmark program: one key, `blocks` blocks, ciphertexts to the reader."""
    return f"""party owner
party reader
circuit aes128 = bristol("{AES_FILE}")
input key: secret bool[128] from owner
input blocks: secret bool[{blocks}, 128] from owner
output ct = aes128(key, blocks) to reader
"""


def aes_ecb(key: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def synthetic_text(gates: int) -> str:
    """A valid Bristol Fashion circuit of `gates` gates in layers of LAYER gates."""
    assert gates % LAYER == 0
    half = LAYER // 2
    lines = [f"{gates} {LAYER + gates}", f"2 {half} {half}", f"1 {LAYER}", ""]
    prev = 0  # first wire of the previous layer (the inputs are layer 0)
    for layer in range(gates // LAYER):
        first = LAYER + layer * LAYER
        shift = 1 + (layer * 37) % (half - 1)  # never LAYER/2: no two gates alike
        for k in range(LAYER):
            a, b, out = prev + k, prev + (k + shift) % LAYER, first + k
            if (k + layer) % 6 == 0:
                lines.append(f"2 1 {a} {b} {out} AND")
            elif (k + layer) % 16 == 1:
                lines.append(f"1 1 {a} {out} INV")
            else:
                lines.append(f"2 1 {a} {b} {out} XOR")
        prev = first
    return "\n".join(lines) + "\n"


def synthetic_source(path: Path) -> str:
    half = LAYER // 2
    return f"""party p
circuit f = bristol("{path}")
input a: secret bool[{half}] from p
input b: secret bool[{half}] from p
output y = f(a, b) to p
"""


# ---------------------------------------------------------------- 1. import


@dataclass
class ImportRow:
    name: str
    gates: int
    wires: int
    load_s: float
    compile_s: float | None = None
    nodes: int | None = None


def time_call(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_import(sizes: list[int], repeat: int, compile_too: bool) -> list[ImportRow]:
    rows = []
    seconds, circuit = time_call(lambda: bristol.load(AES_FILE), repeat)
    rows.append(ImportRow("aes_128.txt", len(circuit.gates), circuit.wires, seconds))
    with tempfile.TemporaryDirectory(prefix="veil-bench-aes-") as tmp:
        for gates in sizes:
            path = Path(tmp) / f"synthetic_{gates}.txt"
            path.write_text(synthetic_text(gates), encoding="ascii")
            seconds, circuit = time_call(lambda p=path: bristol.load(p), repeat)
            row = ImportRow(
                f"synthetic {gates // 1000}k", len(circuit.gates), circuit.wires, seconds
            )
            if compile_too:
                start = time.perf_counter()
                compiled = compile_source(synthetic_source(path), backend="rep3")
                row.compile_s = time.perf_counter() - start
                row.nodes = len(compiled.executable)
            rows.append(row)
            print(f"  imported {row.name}", file=sys.stderr)
    return rows


def import_table(rows: list[ImportRow]) -> str:
    head = (
        f"{'file':<16} {'gates':>8} {'wires':>8} {'load s':>7} {'µs/gate':>8} "
        f"{'compile s':>10} {'µs/gate':>8} {'nodes':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        comp = (
            f"{r.compile_s:>10.2f} {1e6 * r.compile_s / r.gates:>8.1f} {r.nodes:>8,}"
            if r.compile_s is not None
            else f"{'':>10} {'':>8} {'':>8}"
        )
        lines.append(
            f"{r.name:<16} {r.gates:>8,} {r.wires:>8,} {r.load_s:>7.3f} "
            f"{1e6 * r.load_s / r.gates:>8.2f} {comp}"
        )
    synth = [r for r in rows if r.name.startswith("synthetic")]
    if len(synth) >= 2:
        lo, hi = synth[0], synth[-1]
        ratio = math.log(hi.gates / lo.gates)
        note = f"load time ∝ gates^{math.log(hi.load_s / lo.load_s) / ratio:.2f}"
        if lo.compile_s and hi.compile_s:
            note += f", compile time ∝ gates^{math.log(hi.compile_s / lo.compile_s) / ratio:.2f}"
        lines.append(f"{lo.name} → {hi.name}: {note} (1.00 = linear, 2.00 = quadratic)")
    return "\n".join(lines)


# ---------------------------------------------------------------- 2. compile


@dataclass
class StageClock:
    """Wall time of the functions `compile_source` calls, in call order."""

    events: list[tuple[str, float]] = field(default_factory=list)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.events.append((label, time.perf_counter() - start))

        return timed

    def total(self, label: str) -> float:
        return sum(s for name, s in self.events if name == label)

    def passes(self) -> list[tuple[str, float]]:
        return [(name[5:], s) for name, s in self.events if name.startswith("pass ")]


@contextmanager
def stage_clock() -> Iterator[StageClock]:
    """Patch the stages of `compile_source` with timers while the block runs."""
    clock = StageClock()
    targets: list[tuple[Any, str, str]] = [
        (veil.lang.parser, "parse", "parse"),
        (veil.compiler, "check", "check"),
        (bristol, "load", "bristol.load"),
        (veil.compiler, "lower_program", "lower"),
        (veil.compiler, "unused_input_warnings", "warnings"),
        (veil.opt.pipeline, "measure", "measure"),
        (lower_rep3, "run", "rep3-lower"),
    ]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
    passes = dict(veil.opt.pipeline.PASSES)
    try:
        for obj, attr, label in targets:
            setattr(obj, attr, clock.wrap(label, getattr(obj, attr)))
        for name, module in passes.items():
            veil.opt.pipeline.PASSES[name] = SimpleNamespace(  # type: ignore[assignment]
                NAME=name, run=clock.wrap(f"pass {name}", module.run)
            )
        yield clock
    finally:
        for obj, attr, original in saved:
            setattr(obj, attr, original)
        veil.opt.pipeline.PASSES.update(passes)


@dataclass
class CompileRow:
    backend: str
    blocks: int
    seconds: float
    clock: StageClock
    compiled: Compiled

    def nodes(self) -> str:
        c = self.compiled
        peak = max((r.after.nodes for r in c.passes), default=len(c.circuit))
        return (
            f"lowered {len(c.unoptimized):,}, optimized {len(c.circuit):,}, "
            f"executable {len(c.executable):,}, at most {peak:,} during the passes"
        )


def bench_compile(blocks: list[int]) -> list[CompileRow]:
    rows = []
    for backend in ("plain", "rep3"):
        for b in blocks:
            with stage_clock() as clock:
                start = time.perf_counter()
                compiled = compile_source(aes_source(b), backend=backend)
                seconds = time.perf_counter() - start
            rows.append(CompileRow(backend, b, seconds, clock, compiled))
            print(f"  compiled {backend}, {b:,} block(s)", file=sys.stderr)
    return rows


def compile_table(rows: list[CompileRow]) -> str:
    cols = ("parse", "check", "bristol.load", "lower", "passes", "measure", "rep3-lower")
    head = (
        f"{'backend':<7} {'blocks':>6} {'total s':>7} "
        + " ".join(f"{c:>12}" for c in cols)
        + f" {'other':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        c = r.clock
        values = {name: c.total(name) for name in cols}
        values["passes"] = sum(s for _, s in c.passes())
        accounted = sum(v for k, v in values.items() if k != "bristol.load")  # inside check
        lines.append(
            f"{r.backend:<7} {r.blocks:>6,} {r.seconds:>7.2f} "
            + " ".join(f"{values[k]:>12.3f}" for k in cols)
            + f" {r.seconds - accounted:>6.3f}"
        )
    lines.append("")
    for r in rows:
        per_pass = ", ".join(f"{name} {s:.3f}" for name, s in r.clock.passes())
        calls = sum(1 for name, _ in r.clock.events if name == "measure")
        lines.append(f"{r.backend} {r.blocks:,}: nodes {r.nodes()}")
        lines.append(f"    passes in order (s): {per_pass}; measure: {calls} calls")
    return "\n".join(lines)


# ---------------------------------------------------------------- 3. run


@dataclass
class RunRow:
    blocks: int
    compile_s: float
    total: list[float]
    online: list[float]
    phases: list[Phases]
    servers: list[bench_rep3.ServerTiming]
    stats: dict
    predicted: dict
    status: str
    detail: str


def aes_inputs(
    blocks: int, rng: np.random.Generator
) -> tuple[bytes, list[bytes], dict[str, np.ndarray]]:
    key = rng.bytes(16)
    data = [rng.bytes(16) for _ in range(blocks)]
    values = {
        "key": bristol.bytes_to_bits(key),
        "blocks": np.array([bristol.bytes_to_bits(d) for d in data]),
    }
    return key, data, values


def check_aes(out: np.ndarray, key: bytes, data: list[bytes]) -> tuple[str, str]:
    want = aes_ecb(key, b"".join(data))
    got = [bristol.bits_to_bytes(out[k]) for k in range(len(data))]
    bad = sum(1 for k, g in enumerate(got) if g != want[16 * k : 16 * k + 16])
    return (OK if bad == 0 else FAIL), f"{bad} of {len(data):,} blocks differ from AES-ECB"


def run_blocks(blocks: int, repeat: int, timeout: float, rng: np.random.Generator) -> RunRow:
    start = time.perf_counter()
    compiled = compile_source(aes_source(blocks), backend="rep3")
    compile_s = time.perf_counter() - start
    circuit = compiled.executable
    predicted = build(circuit, backend="rep3")
    key, data, values = aes_inputs(blocks, rng)
    inputs = {s.name: encode(values[s.name], s.type.base) for s in circuit.inputs}
    totals, onlines, phases, servers = [], [], [], []
    status, detail, stats = OK, "", {}
    with tempfile.TemporaryDirectory(prefix="veil-bench-aes-") as tmp:
        for k in range(repeat):
            t0 = time.perf_counter()
            result, elapsed, timings = bench_rep3.run_once(circuit, inputs, timeout, tmp, f"run{k}")
            t1 = t0 + elapsed
            totals.append(elapsed)
            if timings is not None:
                onlines.append(bench_rep3.online_time(timings))
                servers += timings
                ph = read_phases(os.path.join(tmp, f"run{k}"), t0, t1, timings)
                if ph is not None:
                    phases.append(ph)
            s, detail = check_aes(result.outputs["ct"], key, data)
            status = FAIL if FAIL in (status, s) else OK
            stats = result.stats
    return RunRow(
        blocks, compile_s, totals, onlines, phases, servers, stats, predicted, status, detail
    )


def fmt_rate(x: float) -> str:
    return bench_rep3.fmt_rate(x) if x >= 100 else f"{x:.3g}"


def run_table(rows: list[RunRow]) -> str:
    head = (
        f"{'blocks':>6} {'total s':>8} {'blocks/s':>9} {'online s':>9} {'blocks/s':>9} "
        f"{'rounds':>6} {'bytes/server':>13} {'cost report':>11} {'check':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        total = statistics.median(r.total)
        online = statistics.median(r.online) if r.online else float("nan")
        s, p = r.stats, r.predicted
        same = s["rounds"] == p["rounds"] and s["bytes_sent"] == p["bytes_per_server"]
        lines.append(
            f"{r.blocks:>6,} {total:>8.3f} {fmt_rate(r.blocks / total):>9} {online:>9.3f} "
            f"{fmt_rate(r.blocks / online) if r.online else 'n/a':>9} {s['rounds']:>6} "
            f"{max(s['bytes_sent']):>13,} {'agrees' if same else 'DIFFERS':>11} {r.status:>5}"
        )
    return "\n".join(lines)


def run_details(rows: list[RunRow]) -> str:
    lines = []
    for r in rows:
        s, p = r.stats, r.predicted
        lines.append(
            f"{r.blocks:,} block(s): compile {r.compile_s:.2f} s (not in total); runs total "
            f"{', '.join(f'{t:.3f}' for t in r.total)} s, online "
            f"{', '.join(f'{t:.3f}' for t in r.online) or 'n/a'} s"
        )
        lines.append(
            f"    {p['ops'].get('boolean_gates', 0):,} AND gates, "
            f"{p['nodes']:,} nodes; rounds {s['rounds']} (compute "
            f"{s['compute_rounds']}), bytes per server {s['bytes_sent']} (cost report "
            f"{p['bytes_per_server']}, rounds {p['rounds']}), input bytes "
            f"{sum(s['input_bytes'].values()):,}, output bytes "
            f"{sum(s['output_bytes'].values()):,}"
        )
        if r.servers:
            k = len(r.servers)
            lines.append(
                f"    one server's compute phase, mean: wall "
                f"{sum(t.end - t.start for t in r.servers) / k:.3f} s, CPU user "
                f"{sum(t.user for t in r.servers) / k:.3f} s + system "
                f"{sum(t.system for t in r.servers) / k:.3f} s, "
                f"{sum(t.page_faults for t in r.servers) // k:,} page faults"
            )
        if r.phases:

            def med(attr: str, r: RunRow = r) -> float:
                return statistics.median(getattr(ph, attr) for ph in r.phases)

            lines.append(
                f"    where total goes (medians, s): runner hashes and serializes "
                f"{med('before_spawn'):.3f}; start-up of the 3 servers {med('startup'):.3f}; "
                f"their setup {med('server_setup'):.3f} (slowest server: loads "
                f"{med('loads'):.3f}, fingerprint {med('fingerprint'):.3f}, schedule "
                f"{med('schedule'):.3f}); HELLO, keys, input shares {med('to_compute'):.3f}; "
                f"online {med('online'):.3f}; output shares {med('outputs'):.3f}; servers "
                f"exit, joined {med('exit'):.3f}. The runner's dumps + fingerprints + "
                f"schedule {med('runner'):.3f} in all; peak memory of a server "
                f"{max(ph.server_mb for ph in r.phases):.0f} MB"
            )
        lines.append(f"    check: {r.status}, {r.detail}")
    return "\n".join(lines)


# ---------------------------------------------------------------- profiling


def print_stats(stats: pstats.Stats, title: str, top: int) -> None:
    print(title + ", by own time:")
    stats.sort_stats("tottime").print_stats(top)
    print(title + ", by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def profile_run(blocks: int, top: int) -> None:
    """cProfile the three servers' sessions run as threads (tests/rep3_harness.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import rep3_harness  # the in-process harness of the test suite

    compiled = compile_source(aes_source(blocks), backend="rep3")
    circuit = compiled.executable
    key, data, values = aes_inputs(blocks, np.random.default_rng(1))
    inputs = {s.name: encode(values[s.name], s.type.base) for s in circuit.inputs}
    start = time.perf_counter()
    rep3_harness.run_threaded(circuit, inputs, timeout=600.0)
    plain_s = time.perf_counter() - start

    profiles: list[cProfile.Profile] = []
    original = rep3_harness.serve_session

    def profiled(*args: Any, **kwargs: Any) -> Any:
        prof = cProfile.Profile()
        profiles.append(prof)
        return prof.runcall(original, *args, **kwargs)

    rep3_harness.serve_session = profiled
    runner = cProfile.Profile()
    try:
        start = time.perf_counter()
        run = runner.runcall(rep3_harness.run_threaded, circuit, inputs, timeout=600.0)
        elapsed = time.perf_counter() - start
    finally:
        rep3_harness.serve_session = original
    status, detail = check_aes(run.result.outputs["ct"], key, data)
    print(
        f"{blocks:,} block(s), {len(circuit):,} nodes: {plain_s:.3f} s in one process without "
        f"the profiler, {elapsed:.3f} s with it (threads share the GIL; blocking socket "
        f"calls count their waiting); check {status}: {detail}"
    )
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    print_stats(stats, "server_session, summed over the 3 server threads", top)
    print_stats(pstats.Stats(runner), "the runner (main thread: run_threaded)", top // 2)


def profile_compute(blocks: int, top: int, timeout: float) -> None:
    """cProfile `Rep3Server.compute` inside the three real server processes."""
    circuit = compile_source(aes_source(blocks), backend="rep3").executable
    key, data, values = aes_inputs(blocks, np.random.default_rng(1))
    inputs = {s.name: encode(values[s.name], s.type.base) for s in circuit.inputs}
    with tempfile.TemporaryDirectory(prefix="veil-bench-aes-") as tmp:
        result, elapsed, timings = bench_rep3.run_once(
            circuit, inputs, timeout, tmp, "prof", profile=True
        )
        status, detail = check_aes(result.outputs["ct"], key, data)
        online = f"{bench_rep3.online_time(timings):.3f} s" if timings else "n/a"
        print(
            f"{blocks:,} block(s): total {elapsed:.3f} s, online {online} (under cProfile), "
            f"check {status}: {detail}"
        )
        stats = pstats.Stats(os.path.join(tmp, "prof.0.prof"))
        for me in (1, 2):
            stats.add(os.path.join(tmp, f"prof.{me}.prof"))
    print_stats(stats, "Rep3Server.compute, summed over the 3 server processes", top)


def profile_compile(blocks: int, backend: str, top: int) -> None:
    compile_source(aes_source(1), backend=backend)  # warm: grammar, imports, file cache
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.runcall(compile_source, aes_source(blocks), backend=backend)
    print(
        f"compile_source, {blocks:,} block(s), backend {backend}: "
        f"{time.perf_counter() - start:.2f} s under cProfile"
    )
    print_stats(pstats.Stats(prof), "compile_source", top)


# ---------------------------------------------------------------- SHA-256


def bench_sha256(repeat: int) -> None:
    """Generate the SHA-256 compression circuit (tests/sha256_bristol.py), then time its
    import and the compilation of a one-call program for plain and rep3 (medians)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import sha256_bristol

    with tempfile.TemporaryDirectory(prefix="veil-bench-sha-") as tmp:
        path = Path(tmp) / "sha256.txt"
        path.write_text(sha256_bristol.circuit_text())
        load_s, circuit = time_call(lambda: bristol.load(path), repeat)
        src = (f'party p\ncircuit sha = bristol("{path}")\ninput m: secret bool[512] from p\n'
               f"input h: secret bool[256] from p\noutput d = sha(m, h) to p\n")
        print(f"4. SHA-256 compression ({len(circuit.gates):,} gates, {circuit.and_count:,} AND, "
              f"AND depth {circuit.and_depth}), median of {repeat}: bristol.load {load_s:.2f} s")
        for backend in ("plain", "rep3"):
            seconds, compiled = time_call(lambda b=backend: compile_source(src, backend=b),
                                          repeat)
            print(f"   compile_source, {backend}: {seconds:.2f} s, "
                  f"{len(compiled.executable):,} nodes")


# ---------------------------------------------------------------- main


def int_list(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--blocks",
        type=int_list,
        default=[1, 10_000],
        help="comma-separated block counts to compile and run (default 1,10000)",
    )
    parser.add_argument(
        "--gates",
        type=int_list,
        default=[25_000, 50_000, 100_000, 200_000],
        help=f"synthetic circuit sizes, multiples of {LAYER}",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rep3 runs per size (median)")
    parser.add_argument("--import-repeat", type=int, default=3, help="loads per file (median)")
    parser.add_argument(
        "--no-compile-scaling", action="store_true", help="do not compile the synthetic circuits"
    )
    parser.add_argument(
        "--parts",
        default="import,compile,run",
        help="comma-separated subset of import, compile, run, sha256",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds a silent peer is tolerated"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile",
        choices=("run", "compute", "compile"),
        help="instead of benchmarking, cProfile one rep3 run with the servers as threads "
        "(run), Rep3Server.compute in the three server processes (compute), or "
        "compile_source (compile), and print the costliest functions",
    )
    parser.add_argument("--profile-blocks", type=int, default=1)
    parser.add_argument("--profile-backend", choices=("plain", "rep3"), default="rep3")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile")
    args = parser.parse_args(argv)
    if any(g % LAYER for g in args.gates):
        parser.error(f"--gates must be multiples of {LAYER}")

    if args.profile == "run":
        profile_run(args.profile_blocks, args.top)
        return 0
    if args.profile == "compute":
        profile_compute(args.profile_blocks, args.top, args.timeout)
        return 0
    if args.profile == "compile":
        profile_compile(args.profile_blocks, args.profile_backend, args.top)
        return 0

    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    print(f"machine: {bench_rep3.machine()}")
    print(f"source: {bench_rep3.source_version()}")
    start = time.perf_counter()
    compile_source("party p\ninput a: secret int from p\noutput b = a + 1 to p\n")
    print(
        f"warm-up compile of a 3-line program (grammar, imports): "
        f"{time.perf_counter() - start:.2f} s, not counted below\n"
    )

    failed = False
    if "import" in parts:
        rows = bench_import(args.gates, args.import_repeat, not args.no_compile_scaling)
        print(
            f"1. Import (bristol.load, median of {args.import_repeat}); compile = "
            f"compile_source(backend='rep3') of a one-call program, once"
        )
        print(import_table(rows) + "\n")
    if "compile" in parts:
        rows_c = bench_compile(args.blocks)
        print(
            "2. compile_source of the AES program, seconds by stage (check includes "
            "bristol.load; passes = the optimizer passes; measure = the metrics recorded "
            "around each pass)"
        )
        print(compile_table(rows_c) + "\n")
    if "sha256" in parts:
        bench_sha256(args.import_repeat)
    if "run" in parts:
        rng = np.random.default_rng(args.seed)
        rows_r = []
        for b in args.blocks:
            rows_r.append(run_blocks(b, args.repeat, args.timeout, rng))
            print(
                f"  ran {b:,} block(s) ({statistics.median(rows_r[-1].total):.2f} s a run)",
                file=sys.stderr,
            )
        print(
            f"3. AES-128 under rep3: 3 server processes + the runner, TCP on 127.0.0.1, "
            f"median of {args.repeat} run(s)"
        )
        print(run_table(rows_r) + "\n")
        print(run_details(rows_r))
        failed = any(r.status == FAIL for r in rows_r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
