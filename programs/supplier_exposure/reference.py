"""The plain-numpy answer of supplier_exposure for a program directory's inputs.

    python reference.py                         # the shipped inputs/ and registry.mpc
    python reference.py /tmp/se100k [LIMIT]     # generated ones (default limit 700)

Prints the regulator's output as JSON, in the shape `veil run --json` gives it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

LIMIT = 700.0


def registry(path: Path) -> np.ndarray:
    text = path.read_text()
    body = text[text.index("[") + 1:text.index("]")]
    return np.array([int(t) for t in re.findall(r"-?\d+", body)])


def reference(inputs: Path, home: Path, limit: float = LIMIT) -> dict:
    eu = json.loads((inputs / "eu_bank.json").read_text())
    cn = json.loads((inputs / "cn_bank.json").read_text())
    suppliers = np.concatenate([eu["eu_suppliers"], cn["cn_suppliers"]])
    amounts = np.concatenate([eu["eu_amounts"], cn["cn_amounts"]])
    watched = registry(home / "registry.mpc")
    exposure = np.array([amounts[suppliers == s].sum() for s in watched])
    return {"regulator": {"over_limit": (exposure > limit).tolist()},
            "exposure": exposure.tolist()}


if __name__ == "__main__":
    here = Path(__file__).parent
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "inputs"
    home = where if (where / "registry.mpc").exists() else here
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else LIMIT
    print(json.dumps(reference(where, home, limit)))
