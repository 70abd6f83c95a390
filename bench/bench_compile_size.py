"""Compile time against program length: `veil check` of generated programs of simple
statements, 30,000 to 300,000 lines, in a fresh process each (what a user waits for).

Two shapes of program:
- ``chain``: ``let v{i} = v{i-1} + c`` — one long dependency chain (the rebalance pass
  turns it into a tree);
- ``independent``: ``let v{i} = x * c + i`` and every third line ``acc = acc + c`` —
  statements that do not depend on each other (most are dead code for the optimizer).

    python bench/bench_compile_size.py                     # 30k, 100k, 300k lines
    python bench/bench_compile_size.py --lines 300000 --shape chain --repeat 3
    taskset -c 1 python bench/bench_compile_size.py        # one core, less noise

Prints the wall time and peak memory (ru_maxrss of the child) of each, and the time per
line; linear growth shows as a constant time per line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def program(shape: str, lines: int) -> str:
    if shape == "chain":
        body = "".join(f"let v{i} = v{i - 1} + {i % 7}\n" for i in range(1, lines - 3))
        return "party a, b\ninput x: secret int from a\nlet v0 = x\n" + body + \
            f"output y = v{lines - 4} to b\n"
    body = "".join(f"let v{i} = x * {i % 13} + {i}\n" if i % 3 else f"acc = acc + {i % 11}\n"
                   for i in range(lines - 4))
    return "party a, b\ninput x: secret int from a\nvar acc: secret int = x\n" + body + \
        "output y = acc to b\n"


def check(path: Path) -> tuple[float, float]:
    """Seconds and peak megabytes of `veil check PATH` in a fresh process."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "veil.cli", "check", "-q", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"veil check {path} failed ({proc.returncode})")
    return elapsed, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", default="30000,100000,300000")
    parser.add_argument("--shape", default="chain,independent")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    print(f"{'shape':<12} {'lines':>9} {'seconds':>9} {'µs a line':>10} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shape.split(","):
            for lines in (int(n) for n in args.lines.split(",")):
                path = Path(tmp) / f"{shape}{lines}.mpc"
                path.write_text(program(shape, lines))
                runs = [check(path) for _ in range(args.repeat)]
                seconds = statistics.median(r[0] for r in runs)
                peak = max(r[1] for r in runs)
                print(f"{shape:<12} {lines:>9,} {seconds:>9.1f} {seconds / lines * 1e6:>10.1f} "
                      f"{peak:>8,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
