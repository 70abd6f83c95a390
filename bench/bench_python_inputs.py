"""Validating and encoding inputs from Python and connectors: time per source.

Run from the repository root (needs the extras: pip install '.[pandas]'):

    python bench/bench_python_inputs.py               # 1,000,000 rows x 7 columns
    python bench/bench_python_inputs.py --rows 100000 --repeat 5

One `fixed[ROWS, 7]` input (credit_scoring's applicants, scaled up), the same random
values from each source, checked with the rules of input files and encoded:

- a numpy array and a pandas DataFrame (veil.io.arrays: vectorized checks);
- `veil.columns(df, [...])` on a frame with an extra column;
- a Parquet file (pyarrow) and a sqlite query (Python's sqlite3), through the
  connectors of an input file (reading included);
- a nested Python list (element by element, like JSON), and the CSV file of the same
  values through the existing file loader (veil.io.inputs), for comparison.

The best and the median of the runs are printed. The machine is shared: run with
`taskset -c 1` and several repetitions where a number matters.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from veil.compiler import compile_source
from veil.diagnostics import Diagnostic
from veil.io import arrays
from veil.io.inputs import load_party_inputs

COLUMNS = ["duration", "amount", "installment_rate", "residence", "age", "credits",
           "dependents"]


def timed(label: str, repeat: int, run) -> None:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    print(f"  {label:<34} best {min(seconds):8.3f} s   median {statistics.median(seconds):8.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--list-rows", type=int, default=100_000,
                        help="rows for the element-by-element cases (list, CSV)")
    args = parser.parse_args()
    rows = args.rows
    text = (f"party bank\ninput applicants: secret fixed[{rows}, 7] from bank\n"
            f"output n = sum(applicants) to bank\n")
    circuit = compile_source(text, backend="plain").circuit
    spec = circuit.inputs[0]
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=(rows, 7)), 6)
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame.insert(0, "id", np.arange(rows))

    def convert(value) -> None:
        problems: list[Diagnostic] = []
        assert arrays.convert(value, spec, "bank: field `applicants`", problems) is not None
        assert not problems

    print(f"fixed[{rows:,}, 7]: validate and encode")
    timed("numpy array", args.repeat, lambda: convert(values))
    timed("DataFrame (7 columns)", args.repeat, lambda: convert(frame[COLUMNS]))
    timed("veil.columns(df, 7 of 8)", args.repeat,
          lambda: convert(arrays.columns(frame, COLUMNS)))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame.to_parquet(root / "applicants.parquet")
        with sqlite3.connect(root / "bank.db") as db:
            frame.to_sql("applicants", db, index=False)
        (root / "parquet.json").write_text(json.dumps(
            {"applicants": {"parquet": "applicants.parquet", "columns": COLUMNS}}))
        (root / "sql.json").write_text(json.dumps(
            {"applicants": {"sql": f"SELECT {', '.join(COLUMNS)} FROM applicants ORDER BY id",
                            "url": "sqlite:///bank.db"}}))
        timed("Parquet file (read + check)", args.repeat,
              lambda: load_party_inputs(circuit, "bank", root / "parquet.json"))
        timed("sqlite query (read + check)", args.repeat,
              lambda: load_party_inputs(circuit, "bank", root / "sql.json"))

    small = args.list_rows
    text = (f"party bank\ninput applicants: secret fixed[{small}, 7] from bank\n"
            f"output n = sum(applicants) to bank\n")
    small_circuit = compile_source(text, backend="plain").circuit
    small_spec = small_circuit.inputs[0]
    as_list = values[:small].tolist()
    print(f"fixed[{small:,}, 7]: element by element")

    def convert_list() -> None:
        problems: list[Diagnostic] = []
        assert arrays.convert(as_list, small_spec, "bank", problems) is not None

    timed("nested Python list", args.repeat, convert_list)
    timed("numpy array (same rows)", args.repeat, lambda: arrays.convert(
        values[:small], small_spec, "bank", []))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        np.savetxt(root / "applicants.csv", values[:small], delimiter=",", fmt="%.6f")
        (root / "bank.json").write_text(json.dumps({"applicants": "applicants.csv"}))
        timed("CSV file (veil.io.inputs)", args.repeat,
              lambda: load_party_inputs(small_circuit, "bank", root / "bank.json"))


if __name__ == "__main__":
    main()
