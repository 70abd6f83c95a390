"""Overhead of the verified (malicious) mode against semi-honest rep3, side by side.

Run from the repository root:

    python bench/bench_malicious.py                      # 100k elements, 3 runs each
    python bench/bench_malicious.py --n 1000000 --repeat 1

Cases: ``mul_int`` (a * b on secret int[N]), ``mul_fixed`` (a * b on secret fixed[N]:
a product and a truncation), ``lt_int`` (a < b on secret int[N]) and the shipped
``credit_scoring`` program (1,000 applicants). Each case is compiled for both modes and
run with `LocalRun` (three server processes over TLS on this machine); the outputs of
both modes are checked against numpy / the plain backend, and the measured rounds and
bytes against the cost report's prediction. Reported per mode: rounds, bytes the
busiest server sends (compute rounds, verification and output shares; the owners'
input shares are the same in both modes and not included; for the verified mode both
the online part and the total with the preprocessing, which makes and checks the
multiplication triples on no input, before the computation), the median online time (the compute
phase, which in the verified mode includes the three verification rounds and all the
checking of the products against their triples; measured by bench_rep3's wrapper of
Rep3Server.compute), the median CPU time (user + system, all threads) of the busiest
server in that phase, and the verified mode's preprocessing time (the slowest
server's). The machine is shared (2 cores, other jobs): the online times move by ±30% or
more from run to run and grow with the load (three servers share two cores); the CPU
times move less and say what the work costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rep3 import OK, case_lt, case_mul_fixed, case_mul_int, online_time, run_once

from veil.backend.plain import PlainBackend
from veil.compiler import compile_path, compile_source
from veil.cost.report import build
from veil.io.inputs import load_inputs
from veil.ir.semantics import encode

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"


def measure(circuit, inputs, repeat: int, check) -> dict:
    predicted = build(circuit, backend="rep3")
    pre_bytes = predicted.get("preprocess_bytes_per_server", [0, 0, 0])
    pre_rounds = predicted.get("rounds_by_phase", {}).get("preprocess", 0)
    online, cpu, pre_s, status = [], [], [], OK
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeat):
            result, _, timings = run_once(circuit, inputs, 600.0, tmp, f"run{k}")
            if timings:
                online.append(online_time(timings))
                cpu.append(max(t.user + t.system for t in timings))
            pre_s.append(max(s.get("preprocess", 0.0) for s in result.stats["server_seconds"]))
            if result.stats["bytes_sent"] != predicted["bytes_per_server"] or \
                    result.stats["rounds"] != predicted["rounds"] or \
                    result.stats.get("preprocess_bytes_sent", [0, 0, 0]) != pre_bytes:
                status = "FAIL (traffic differs from the report)"
            verdict = check(result.outputs)
            if verdict != OK:
                status = verdict
    total = max(predicted["bytes_per_server"])
    busiest = predicted["bytes_per_server"].index(total)
    return {"rounds": predicted["rounds"] - pre_rounds, "pre_rounds": pre_rounds,
            "bytes": total, "online_bytes": total - pre_bytes[busiest],
            "online": statistics.median(online) if online else float("nan"),
            "cpu": statistics.median(cpu) if cpu else float("nan"),
            "pre_s": statistics.median(pre_s), "status": status}


def synthetic(case, repeat: int) -> dict:
    out = {}
    for mode in ("semi-honest", "malicious"):
        compiled = compile_source(case.source, backend="rep3", security=mode)
        inputs = {s.name: encode(case.values[s.name], s.type.base)
                  for s in compiled.executable.inputs}  # fmt: skip
        out[mode] = measure(compiled.executable, inputs, repeat,
                            lambda outputs, case=case: case.check(outputs)[0])
    return out


def program(name: str, repeat: int) -> dict:
    plain = compile_path(PROGRAMS / name, backend="plain")
    out = {}
    for mode in ("semi-honest", "malicious"):
        compiled = compile_path(PROGRAMS / name, backend="rep3", security=mode)
        inputs = load_inputs(compiled.executable, PROGRAMS / name / "inputs")
        want = PlainBackend().run(plain.circuit, inputs).outputs

        def check(outputs, want=want, mode=mode) -> str:
            for key, value in want.items():
                got = np.asarray(outputs[key])
                if got.dtype == np.bool_ or mode == "malicious":
                    same = np.array_equal(got, value)
                else:  # the semi-honest truncation may round up by one unit
                    same = np.allclose(got.view(np.int64), np.asarray(value).view(np.int64),
                                       atol=1)
                if not same:
                    return f"FAIL ({key} differs from plain)"
            return OK

        out[mode] = measure(compiled.executable, inputs, repeat, check)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="elements of the synthetic cases")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    rows = {
        "mul_int": synthetic(case_mul_int(args.n, rng), args.repeat),
        "mul_fixed": synthetic(case_mul_fixed(args.n, rng), args.repeat),
        "lt_int": synthetic(case_lt(args.n, rng), args.repeat),
        "credit_scoring": program("credit_scoring", args.repeat),
    }
    print("| case | rounds (semi-honest → verified: preprocessing + online) | bytes a server "
          "(semi-honest → verified online, ×; with the preprocessing, ×) | online s "
          "(semi-honest → verified, ×) | CPU s of the busiest server online (semi-honest → "
          "verified, ×) | preprocessing s | status |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        s, m = r["semi-honest"], r["malicious"]
        print(f"| {name} | {s['rounds']} → {m['pre_rounds']} + {m['rounds']} | "
              f"{s['bytes']:,} → {m['online_bytes']:,} ({m['online_bytes'] / s['bytes']:.1f}×); "
              f"{m['bytes']:,} ({m['bytes'] / s['bytes']:.1f}×) | "
              f"{s['online']:.3f} → {m['online']:.3f} ({m['online'] / s['online']:.1f}×) | "
              f"{s['cpu']:.3f} → {m['cpu']:.3f} ({m['cpu'] / s['cpu']:.1f}×) | "
              f"{m['pre_s']:.3f} | {s['status']}, {m['status']} |")

if __name__ == "__main__":
    main()
