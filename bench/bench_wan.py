"""Measured against estimated: credit_scoring over emulated wide-area links.

Run from the repository root:

    python bench/bench_wan.py                  # RTT 0, 50, 100 and 200 ms, 3 runs each
    python bench/bench_wan.py --rtt 100 --repeat 5

Each run is a real deployment on this machine: keys, a deployment file, approvals,
three `veil server --once` processes and three `veil party` processes, with a delay
relay (tests/netsim.py) in front of every server that holds each direction's bytes for
RTT/2 (this kernel has no `netem`). The estimate is `veil cost --deployment` with every
link given that RTT in `[links]`.

- compute: the slowest server's compute phase (its own clock, from its input shares to
  its last round), against the estimate's compute phase;
- whole: the party that dialed last, from its first dial to its outputs (the others'
  clocks also count their peers' start-up), against the estimate's total.

The relay accepts the TCP connection itself, so the TCP handshake costs no delay here
(one RTT less than on a real link, which the estimate includes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_deployment_wan import measure  # the test's own deployment harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", default="0,50,100,200", help="comma-separated RTTs in ms")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'RTT ms':>6}  {'compute est':>11} {'measured':>9} {'ratio':>6}   "
          f"{'whole est':>9} {'measured':>9} {'ratio':>6}")
    for rtt in (float(x) for x in args.rtt.split(",")):
        computes, wholes, estimate = [], [], {}
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                estimate, stats = measure(Path(tmp), rtt / 2000)
            computes.append(max(s["compute"] for s in stats["cn_bank"]["server_seconds"]))
            wholes.append(min(s["seconds"]["total"] for s in stats.values()))
        c, w = statistics.median(computes), statistics.median(wholes)
        ce, we = estimate["compute"], estimate["total"]
        print(f"{rtt:>6g}  {ce:>11.3f} {c:>9.3f} {c / ce if ce > 0.01 else float('nan'):>6.2f}"
              f"   {we:>9.3f} {w:>9.3f} {w / we if we > 0.01 else float('nan'):>6.2f}")


if __name__ == "__main__":
    main()
