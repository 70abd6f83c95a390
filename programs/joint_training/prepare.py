"""Prepare the joint_training example: split the German Credit data between two banks
and compute what numpy float64 gets for the same training.

Reads ``../credit_scoring/data/germancredit.csv`` (see its ATTRIBUTION.md), takes the
seven numeric columns, standardizes them with public constants (the mean and population
standard deviation of the published data set: scaling the banks agree on before the
computation, not a secret of either), and gives rows 0-599 to the EU bank and rows
600-999 to the CN bank, with the default flag (1 for a "bad" credit) as the label.
Then runs the same full-batch gradient descent as ``ml.train_logistic`` (same step
size, same number of steps, from zero) in float64 with the exact sigmoid, on the
inputs as written (rounded to 6 decimals), and writes ``expected.json``.

    python programs/joint_training/prepare.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "credit_scoring" / "data" / "germancredit.csv"
COLUMNS = ("duration_in_month", "credit_amount",
           "installment_rate_in_percentage_of_disposable_income", "present_residence_since",
           "age_in_years", "number_of_existing_credits_at_this_bank",
           "number_of_people_being_liable_to_provide_maintenance_for")
EU_ROWS = 600
RATE = 1.0
STEPS = 30
DECIMALS = 6


def load() -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    with DATA.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows.append([float(rec[c]) for c in COLUMNS])
            labels.append(1.0 if rec["creditability"].strip() == "bad" else 0.0)
    x = np.array(rows)
    return np.round((x - x.mean(axis=0)) / x.std(axis=0), DECIMALS), np.array(labels)


def train(x: np.ndarray, y: np.ndarray, rate: float, steps: int) -> np.ndarray:
    """What ml.train_logistic computes, in float64 with the exact sigmoid."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        residual = 1 / (1 + np.exp(-(x @ w + b))) - y
        w, b = w - rate * (residual @ x) / len(y), b - rate * residual.sum() / len(y)
    return np.append(w, b)


def main() -> None:
    x, y = load()
    inputs = HERE / "inputs"
    inputs.mkdir(exist_ok=True)
    for party, rows in (("eu_bank", slice(0, EU_ROWS)), ("cn_bank", slice(EU_ROWS, None))):
        tag = party[:2]
        np.savetxt(inputs / f"{party}_records.csv", x[rows], delimiter=",", fmt="%.6f")
        (inputs / f"{party}.json").write_text(json.dumps(
            {f"x_{tag}": f"{party}_records.csv", f"y_{tag}": y[rows].tolist()}) + "\n")
    model = train(x, y, RATE, STEPS)
    decisions = 1 / (1 + np.exp(-(x @ model[:-1] + model[-1]))) > 0.5
    (HERE / "expected.json").write_text(json.dumps({
        "rate": RATE, "steps": STEPS, "model": [round(float(v), 9) for v in model],
        "flagged": int(decisions.sum()),
        "accuracy": round(float(np.mean(decisions == (y == 1))), 6)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
