"""Fit the offline logistic-regression model for the credit_scoring example.

Reads the German Credit data (``data/germancredit.csv``), standardizes its seven
numeric columns (z-score, population std), and fits an L2-regularized logistic
regression with Newton's method (IRLS) in plain numpy. It then writes:

* ``inputs/applicants.csv`` - the CN bank's 1000x7 standardized matrix (no header);
* ``inputs/cn_bank.json``   - ``{"applicants": "applicants.csv"}``;
* ``inputs/eu_bank.json``   - the EU bank's model ``{"weights": [...], "bias": ...}``;
* ``expected.json``         - approved count at threshold 0.5, accuracy and the
  minimum absolute logit margin, all computed from the rounded values exactly as
  written to the input files.

All paths are relative to this file, so the script runs from any directory. The
fit is deterministic and the outputs are byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_CSV = HERE / "data" / "germancredit.csv"
INPUTS_DIR = HERE / "inputs"
APPLICANTS_CSV = INPUTS_DIR / "applicants.csv"
CN_BANK_JSON = INPUTS_DIR / "cn_bank.json"
EU_BANK_JSON = INPUTS_DIR / "eu_bank.json"
EXPECTED_JSON = HERE / "expected.json"

NUMERIC_COLUMNS: tuple[str, ...] = (
    "duration_in_month",
    "credit_amount",
    "installment_rate_in_percentage_of_disposable_income",
    "present_residence_since",
    "age_in_years",
    "number_of_existing_credits_at_this_bank",
    "number_of_people_being_liable_to_provide_maintenance_for",
)
LABEL_COLUMN = "creditability"
L2 = 1e-3
THRESHOLD = 0.5
DECIMALS = 6
MAX_ITER = 100
TOL = 1e-12


def load_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw numeric feature matrix and the 0/1 label vector (1 = good)."""
    rows: list[list[float]] = []
    labels: list[int] = []
    with path.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows.append([float(rec[c]) for c in NUMERIC_COLUMNS])
            label = rec[LABEL_COLUMN].strip()
            if label not in ("good", "bad"):
                raise ValueError(f"unexpected label {label!r}")
            labels.append(1 if label == "good" else 0)
    return np.array(rows, dtype=np.float64), np.array(labels, dtype=np.float64)


def standardize(x: np.ndarray) -> np.ndarray:
    """Z-score each column using the mean and population std over all rows."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Fit logistic regression by Newton's method.

    Minimizes mean log-loss + (l2 / 2) * ||w||^2 (the bias is not penalized).
    """
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(MAX_ITER):
        p = sigmoid(xb @ theta)
        grad = xb.T @ (p - y) / n + reg * theta
        hess = (xb.T * (p * (1.0 - p))) @ xb / n + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.max(np.abs(step))) < TOL:
            break
    return theta[:d], float(theta[d])


def fmt(v: float) -> str:
    """Format a float rounded to DECIMALS places, never as negative zero."""
    s = f"{v:.{DECIMALS}f}"
    return s[1:] if float(s) == 0.0 and s.startswith("-") else s


def rounded(v: float) -> float:
    """Round to DECIMALS places (as a float, via the same text as ``fmt``)."""
    return float(fmt(v))


def write_json(path: Path, obj: Any) -> None:
    """Write obj as indented JSON with a trailing newline."""
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    raw, y = load_data(DATA_CSV)
    x = standardize(raw)
    w, b = fit_logistic(x, y, L2)

    acc_exact = float(np.mean((x @ w + b > 0.0) == (y == 1.0)))
    print(f"training accuracy (unrounded model): {acc_exact:.4f}")

    # Values exactly as written to the input files.
    x_text = [[fmt(v) for v in row] for row in x.tolist()]
    x_r = np.array([[float(s) for s in row] for row in x_text], dtype=np.float64)
    w_r = [rounded(v) for v in w.tolist()]
    b_r = rounded(b)

    INPUTS_DIR.mkdir(parents=True, exist_ok=True)
    with APPLICANTS_CSV.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerows(x_text)
    write_json(CN_BANK_JSON, {"applicants": APPLICANTS_CSV.name})
    write_json(EU_BANK_JSON, {"weights": w_r, "bias": b_r})

    logits = x_r @ np.array(w_r, dtype=np.float64) + b_r
    approved = sigmoid(logits) > THRESHOLD
    approved_count = int(np.count_nonzero(approved))
    accuracy = round(float(np.mean(approved == (y == 1.0))), DECIMALS)
    min_abs_margin = rounded(float(np.min(np.abs(logits))))

    write_json(
        EXPECTED_JSON,
        {
            "approved_count": approved_count,
            "threshold": THRESHOLD,
            "accuracy": accuracy,
            "min_abs_margin": min_abs_margin,
        },
    )

    print(f"training accuracy (rounded model):   {accuracy:.4f}")
    print(f"weights: {w_r}")
    print(f"bias:    {b_r}")
    print(f"approved_count: {approved_count} / {len(y)}")
    print(f"min |x@w+b|: {float(np.min(np.abs(logits))):.6g}")


if __name__ == "__main__":
    main()
