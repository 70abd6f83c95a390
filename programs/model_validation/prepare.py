"""Prepare the model_validation example from the German Credit data.

The EU bank's scorecard is the logistic-regression model of ``../credit_scoring``
(``inputs/eu_bank.json`` there, fitted by its ``fit_model.py``), turned into a
probability of default, 1 - sigmoid(x·w + b). The EU bank scores 300 current
applicants (rows 0-299) and keeps the scores of its development sample (rows
500-799); the CN bank knows which of the 300 applicants later defaulted (the data
set's "bad" credits). Rows are matched by an applicant key both banks hold (here: the
row number). Writes the two input files and ``expected.json``: AUC, KS and PSI computed
by numpy float64 from the inputs as written.

    python programs/model_validation/prepare.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCORING = HERE.parent / "credit_scoring"
COLUMNS = ("duration_in_month", "credit_amount",
           "installment_rate_in_percentage_of_disposable_income", "present_residence_since",
           "age_in_years", "number_of_existing_credits_at_this_bank",
           "number_of_people_being_liable_to_provide_maintenance_for")
CURRENT, DEVELOPMENT = slice(0, 300), slice(500, 800)
EDGES = [0.1, 0.2, 0.3, 0.4, 0.5]
SMOOTHING = 2.0**-12  # credit.SMOOTHING
DECIMALS = 6


def load() -> tuple[np.ndarray, np.ndarray]:
    rows, bad = [], []
    with (SCORING / "data" / "germancredit.csv").open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows.append([float(rec[c]) for c in COLUMNS])
            bad.append(rec["creditability"].strip() == "bad")
    x = np.array(rows)
    return (x - x.mean(axis=0)) / x.std(axis=0), np.array(bad)


def auc(score: np.ndarray, bad: np.ndarray) -> float:
    hi, lo = score[bad], score[~bad]
    wins = (hi[:, None] > lo[None, :]).sum() + 0.5 * (hi[:, None] == lo[None, :]).sum()
    return float(wins / (len(hi) * len(lo)))


def ks(score: np.ndarray, bad: np.ndarray) -> float:
    hi, lo = score[bad], score[~bad]
    return float(max(abs((hi <= v).mean() - (lo <= v).mean()) for v in score))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    def shares(v: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(EDGES, v, side="right"), minlength=len(EDGES) + 1) \
            / len(v)

    e, a = shares(expected), shares(actual)
    return float(np.sum((a - e) * np.log((a + SMOOTHING) / (e + SMOOTHING))))


def main() -> None:
    model = json.loads((SCORING / "inputs" / "eu_bank.json").read_text())
    x, bad = load()
    pd = np.round(1 - 1 / (1 + np.exp(-(x @ np.array(model["weights"]) + model["bias"]))),
                  DECIMALS)
    inputs = HERE / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "eu_bank.json").write_text(json.dumps(
        {"scores": pd[CURRENT].tolist(), "development_scores": pd[DEVELOPMENT].tolist()}) + "\n")
    (inputs / "cn_bank.json").write_text(json.dumps(
        {"defaulted": bad[CURRENT].tolist()}) + "\n")
    current, outcome = pd[CURRENT], bad[CURRENT]
    (HERE / "expected.json").write_text(json.dumps({
        "auc": round(auc(current, outcome), 6), "ks": round(ks(current, outcome), 6),
        "psi": round(psi(pd[DEVELOPMENT], current), 6), "edges": EDGES,
        "defaults": int(outcome.sum())}, indent=2) + "\n")


if __name__ == "__main__":
    main()
