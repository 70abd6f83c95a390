"""The cost report's time estimate against measured runs, phase by phase.

For each shipped program: `veil cost`'s `lan` estimate (network phases from the model of
veil.cost.timing, plus this machine's calibrated local computation) beside the phases
`veil run --json` measures (setup, input, compute, output). The run is on one machine
(localhost links: latency ~0), so the network part of the estimate is small and the
comparison is mostly of the local-computation model; over emulated wide-area links the
network part is compared in bench/bench_wan.py.

    python bench/bench_estimate.py                 # calibrates first if needed
    python bench/bench_estimate.py --calibrate     # calibrate again
    python bench/bench_estimate.py --repeat 3 --programs joint_average,credit_scoring

Timings on a shared machine are noisy: take the median of a few runs (--repeat).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ["joint_average", "sealed_bid_auction", "matrix_product", "credit_scoring",
            "joint_encryption", "model_validation", "joint_training", "double_financing",
            "supplier_exposure"]


def veil(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "veil.cli", *args], capture_output=True,
                          text=True, check=True)
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    from veil.cost.timing import load_local_model

    if args.calibrate or load_local_model() is None:
        veil("cost", str(ROOT / "programs" / "joint_average"), "--calibrate", "--json")
    model = load_local_model()
    print(f"local model: {model}\n")
    print(f"{'program':<20} {'phase':<8} {'estimated s':>12} {'measured s':>12}")
    for name in args.programs.split(","):
        program = ROOT / "programs" / name
        if not program.is_dir():
            continue
        report = json.loads(veil("cost", str(program), "--json"))
        lan = report["estimates"]["lan"]["phases"]
        estimated = {"setup": lan["connect"] + lan["agree"] + lan["start"],
                     "input": lan["input"],
                     "compute": lan["compute"] + lan.get("local", 0.0),
                     "output": lan["output"]}
        runs = [json.loads(veil("run", str(program), "--json", "-q"))["stats"]["phases"]
                for _ in range(args.repeat)]
        for phase in ("setup", "input", "compute", "output"):
            measured = statistics.median(r[phase] for r in runs)
            print(f"{name:<20} {phase:<8} {estimated[phase]:>12.4f} {measured:>12.4f}")
        measured_total = statistics.median(r["total"] for r in runs)
        compile_s = statistics.median(r["compile"] for r in runs)
        print(f"{name:<20} {'total':<8} {report['estimates']['lan']['seconds']:>12.4f} "
              f"{measured_total:>12.4f}  (of which compile {compile_s:.3f} s, not estimated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
