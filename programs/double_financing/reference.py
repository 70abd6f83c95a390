"""The plain-numpy answer of double_financing for a directory of input files.

    python reference.py                 # the shipped inputs/
    python reference.py /tmp/df100k     # generated ones

Prints each party's outputs as JSON, in the shape `veil run --json` gives them
(tests/test_programs.py compares the two).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def reference(inputs: Path) -> dict:
    eu = json.loads((inputs / "eu_bank.json").read_text())
    cn = json.loads((inputs / "cn_bank.json").read_text())
    eu_ids, cn_ids = np.array(eu["eu_ids"]), np.array(cn["cn_ids"])
    eu_twice = np.isin(eu_ids, cn_ids)
    cn_twice = np.isin(cn_ids, eu_ids)
    return {
        "eu_bank": {"eu_duplicates": eu_twice.tolist()},
        "cn_bank": {"cn_duplicates": cn_twice.tolist()},
        "regulator": {
            "invoices_financed_twice": int(eu_twice.sum()),
            "amount_eu": float(np.array(eu["eu_amounts"])[eu_twice].sum()),
            "amount_cn": float(np.array(cn["cn_amounts"])[cn_twice].sum()),
        },
    }


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "inputs"
    print(json.dumps(reference(where)))
