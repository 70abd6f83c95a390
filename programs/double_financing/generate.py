"""Sample data for double_financing: two banks' financed invoices, some held by both.

    python generate.py                       # 200 + 200 invoices (the shipped inputs/)
    python generate.py --n-eu 100000 --n-cn 100000 --out /tmp/df100k

Invoice ids are 12-digit numbers; a fraction `--shared` of the EU bank's invoices were
also financed by the CN bank (the double financing the program finds), and each bank's
list is in its own random order. Amounts are in thousands of euros, with 3 decimals.
Writes OUT/eu_bank.json and OUT/cn_bank.json (the program's input files).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def generate(n_eu: int, n_cn: int, shared: float, seed: int) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    pool = rng.choice(10**12 - 10**11, size=n_eu + n_cn, replace=False) + 10**11
    eu_ids = pool[:n_eu].copy()
    cn_ids = pool[n_eu:].copy()
    k = min(int(round(shared * n_eu)), n_cn)
    picked = rng.choice(n_eu, size=k, replace=False)
    cn_ids[rng.choice(n_cn, size=k, replace=False)] = eu_ids[picked]
    eu_amounts = np.round(rng.lognormal(4.0, 1.0, n_eu).clip(1, 5000), 3)
    cn_amounts = np.round(rng.lognormal(4.0, 1.0, n_cn).clip(1, 5000), 3)
    return ({"eu_ids": eu_ids.tolist(), "eu_amounts": eu_amounts.tolist()},
            {"cn_ids": cn_ids.tolist(), "cn_amounts": cn_amounts.tolist()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-eu", type=int, default=200)
    parser.add_argument("--n-cn", type=int, default=200)
    parser.add_argument("--shared", type=float, default=0.05,
                        help="fraction of the EU invoices also financed in CN")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "inputs")
    args = parser.parse_args()
    eu, cn = generate(args.n_eu, args.n_cn, args.shared, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eu_bank.json").write_text(json.dumps(eu) + "\n")
    (args.out / "cn_bank.json").write_text(json.dumps(cn) + "\n")
    print(f"wrote {args.out}/eu_bank.json ({args.n_eu} invoices) and cn_bank.json "
          f"({args.n_cn}); sizes: --param n_eu={args.n_eu} --param n_cn={args.n_cn}")


if __name__ == "__main__":
    main()
