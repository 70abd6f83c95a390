"""The credit-risk toolkit of the standard library (stats, ml, credit), written in Veil,
against numpy float64 doing the same computation, on plain and over secret shares."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import compile_text, run_circuit
from rep3_harness import run_threaded

from veil.compiler import compile_source
from veil.ir.semantics import decode, encode

ULP = 2.0**-16
EDGES = [0.2, 0.4, 0.6, 0.8]
EPS = 2.0**-12


def stored(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x) / ULP) * ULP


def rep3_outputs(text: str, inputs: dict) -> dict:
    circuit = compile_source(text, backend="rep3").executable
    enc = {s.name: encode(inputs[s.name], s.type.base) for s in circuit.inputs}
    raw = run_threaded(circuit, enc).result.outputs
    return {o.name: decode(raw[o.name], o.type.base) for o in circuit.outputs}


# ---------------------------------------------------------------- stats

STATS = """
party p
use stats
input x: secret fixed[500] in [-100.0, 100.0] from p
input w: secret fixed[500] in [0.0, 1.0] from p
output mean = stats.mean(x) to p
output variance = stats.variance(x) to p
output std = stats.std(x) to p
output weighted = stats.weighted_mean(x, w) to p
output covariance = stats.covariance(x, w) to p
output correlation = stats.correlation(x, w) to p
"""


def stats_data():
    rng = np.random.default_rng(4)
    x = rng.normal(10, 30, 500).clip(-100, 100)
    w = (rng.random(500) * (x > 0) * 0.7 + rng.random(500) * 0.3).clip(0, 1)
    return x, w


def stats_expected(x, w) -> dict:
    x, w = stored(x), stored(w)
    return {"mean": x.mean(), "variance": x.var(), "std": x.std(),
            "weighted": (x * w).sum() / w.sum(), "covariance": np.cov(x, w, bias=True)[0, 1],
            "correlation": np.corrcoef(x, w)[0, 1]}


@pytest.mark.parametrize("backend", ["plain", "rep3"])
def test_stats(backend: str) -> None:
    x, w = stats_data()
    inputs = {"x": x, "w": w}
    got = (run_circuit(compile_text(STATS).circuit, inputs) if backend == "plain"
           else rep3_outputs(STATS, inputs))
    for name, want in stats_expected(x, w).items():
        assert got[name] == pytest.approx(want, rel=2e-4, abs=2e-3), name


def test_weighted_mean_of_zero_weights_is_zero() -> None:
    got = run_circuit(compile_text(STATS).circuit, {"x": np.ones(500), "w": np.zeros(500)})
    assert got["weighted"] == 0.0


# ---------------------------------------------------------------- ml


ML = """
party a, b
use ml
input xa: secret fixed[120, 3] in [-4.0, 4.0] from a
input ya: secret fixed[120] in [0.0, 1.0] from a
input xb: secret fixed[80, 3] in [-4.0, 4.0] from b
input yb: secret fixed[80] in [0.0, 1.0] from b
let x = concat(xa, xb)
let y = concat(ya, yb)
output logistic = ml.train_logistic(x, y, 2.0, 15) to a, b
output linear = ml.train_linear(x, y, 0.05, 15) to a, b
"""


def ml_data():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (200, 3)).clip(-4, 4)
    y = (x @ [1.5, -1.0, 0.5] + 0.3 + rng.logistic(0, 1, 200) > 0).astype(float)
    return x, y


def descend(x, y, rate, steps, link):
    x, y = stored(x), stored(y)
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        r = link(x @ w + b) - y
        w, b = w - rate * (r @ x) / len(y), b - rate * r.sum() / len(y)
    return np.append(w, b)


@pytest.mark.parametrize("backend", ["plain", "rep3"])
def test_training(backend: str) -> None:
    x, y = ml_data()
    inputs = {"xa": x[:120], "ya": y[:120], "xb": x[120:], "yb": y[120:]}
    got = (run_circuit(compile_text(ML).circuit, inputs) if backend == "plain"
           else rep3_outputs(ML, inputs))
    logistic = descend(x, y, 2.0, 15, lambda z: 1 / (1 + np.exp(-z)))
    linear = descend(x, y, 0.05, 15, lambda z: z)
    assert np.abs(got["logistic"] - logistic).max() < 1e-3
    assert np.abs(got["linear"] - linear).max() < 1e-3


# ---------------------------------------------------------------- credit


CREDIT = """
party bank, bureau
use credit
input score: secret fixed[{n}] in [0.0, 1.0] from bank
input recent: secret fixed[{n}] in [0.0, 1.0] from bank
input bad: secret bool[{n}] from bureau
output confusion = credit.confusion(score, bad, 0.5) to bank
output rates = credit.rates(score, bad, 0.5) to bank
output auc = credit.auc(score, bad) to bank
output ks = credit.ks(score, bad) to bank
output psi = credit.psi(score, recent, [0.2, 0.4, 0.6, 0.8]) to bank
output woe = credit.woe(score, bad, [0.2, 0.4, 0.6, 0.8]) to bank
output iv = credit.iv(score, bad, [0.2, 0.4, 0.6, 0.8]) to bank
output points = credit.points(score * 4.0 - 2.0, 20.0, 600.0, 50.0) to bank
"""


def credit_data(n: int, seed: int = 6):
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.3
    score = np.where(bad, rng.normal(0.6, 0.15, n), rng.normal(0.4, 0.15, n)).clip(0, 1)
    score[:4] = [0.5, 0.5, 0.2, 0.2]  # ties, one at the cutoff and one on an edge
    bad[:4] = [True, False, True, False]
    return score, rng.normal(0.45, 0.2, n).clip(0, 1), bad


def credit_expected(score, recent, bad) -> dict:
    s, t = stored(score), stored(recent)
    pred = s > 0.5
    tp, fp = np.sum(pred & bad), np.sum(pred & ~bad)
    fn, tn = np.sum(~pred & bad), np.sum(~pred & ~bad)
    hi, lo = s[bad], s[~bad]
    auc = ((hi[:, None] > lo[None, :]).sum() + 0.5 * (hi[:, None] == lo[None, :]).sum()) \
        / (len(hi) * len(lo))
    ks = max(abs((hi <= v).mean() - (lo <= v).mean()) for v in s)

    def shares(v):
        return np.bincount(np.searchsorted(stored(EDGES), v, side="right"), minlength=5) / len(v)

    e, a = shares(s), shares(t)
    good_share, bad_share = shares(lo), shares(hi)
    woe = np.log((good_share + EPS) / (bad_share + EPS))
    factor = 20 / np.log(2)
    return {"confusion": [tp, fp, fn, tn], "rates": [tp / (tp + fn), fp / (fp + tn)],
            "auc": auc, "ks": ks, "psi": np.sum((a - e) * np.log((a + EPS) / (e + EPS))),
            "woe": woe, "iv": np.sum((good_share - bad_share) * woe),
            "points": 600 + factor * np.log(50) - factor * (s * 4 - 2)}


def check_credit(got: dict, want: dict) -> None:
    assert got["confusion"].tolist() == [int(v) for v in want["confusion"]]
    for name in ("rates", "auc", "ks", "psi", "iv"):
        assert np.allclose(got[name], want[name], atol=2e-4), name
    assert np.allclose(got["woe"], want["woe"], atol=2e-3)  # ln of small shares
    assert np.allclose(got["points"], want["points"], atol=2e-3)


def test_credit_plain() -> None:
    n = 400
    score, recent, bad = credit_data(n)
    got = run_circuit(compile_text(CREDIT.format(n=n)).circuit,
                      {"score": score, "recent": recent, "bad": bad})
    check_credit(got, credit_expected(score, recent, bad))


def test_credit_rep3() -> None:
    n = 60
    score, recent, bad = credit_data(n, seed=7)
    got = rep3_outputs(CREDIT.format(n=n), {"score": score, "recent": recent, "bad": bad})
    check_credit(got, credit_expected(score, recent, bad))


def test_credit_without_defaults_gives_zero_rates() -> None:
    n = 50
    score, recent, _ = credit_data(n)
    got = run_circuit(compile_text(CREDIT.format(n=n)).circuit,
                      {"score": score, "recent": recent, "bad": np.zeros(n, dtype=bool)})
    assert got["auc"] == 0.0 and got["ks"] == 0.0 and got["rates"][0] == 0.0
