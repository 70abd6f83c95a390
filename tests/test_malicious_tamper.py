"""Tamper tests of the verified (malicious) mode: a corrupted server adds an error to one
element of one message of each kind, in a random round, or changes its copy of a
replicated share component; every honest party must abort and no output may be
delivered, in every trial (veil.backend.tamper says where each kind strikes).

The default run does 12 trials per kind, and 12 of a consistent cheater (who keeps the
wrong part it sends as its own copy, so that only the product checks can catch it) for
products, AND gates and the triples' and outputs' resharing; the sweep, marked slow,
does 60 of each, or as many as VEIL_TAMPER_TRIALS says (1,000 of each take about 11
minutes on 2 cores):

    VEIL_TAMPER_TRIALS=1000 pytest -m slow tests/test_malicious_tamper.py -s
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from rep3_harness import run_with_fault

from veil.backend.tamper import KINDS, Tamper, choose
from veil.compiler import compile_source
from veil.ir.semantics import decode, encode
from veil.runtime.session import Fault, PartyResult
from veil.schedule import schedule

PROGRAM = """
party a
party b
party c
input x: secret fixed[6] from a
input m: secret fixed[6, 3] from a
input w: secret fixed[3] from b
input k: secret int[6] from b
let s = m @ w + x * x
let big = s > 1.5
output big to a, c
output total = sum(select(big, k, 0)) to b, c
output squares = k * k to c
"""


def compiled():
    return compile_source(PROGRAM, backend="rep3", security="malicious").executable


CIRCUIT = compiled()


def inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    values = {"x": rng.uniform(-2, 2, 6), "m": rng.uniform(-2, 2, (6, 3)),
              "w": rng.uniform(-2, 2, 3), "k": rng.integers(-50, 50, 6)}
    return {s.name: encode(values[s.name], s.type.base) for s in CIRCUIT.inputs}


def test_honest_run_delivers_the_outputs() -> None:
    rng = np.random.default_rng(7)
    enc = inputs(rng)
    outcome = run_with_fault(CIRCUIT, enc, None)
    assert all(e is None for e in outcome.servers.values()), outcome.servers
    got = {}
    for result in outcome.parties.values():
        assert isinstance(result, PartyResult)
        got.update(result.outputs)
    x, m, w, k = (decode(enc[n], s.type.base)
                  for n, s in zip("xmwk", [s for s in CIRCUIT.inputs], strict=True))
    big = m @ w + x * x > 1.5
    assert np.array_equal(got["big"], big)
    assert decode(got["total"], "int") == int(np.sum(np.where(big, k, 0)))


def trial(kind: str, seed: int, consistent: bool = False) -> str | None:
    """One tampered run; a description of what went wrong, or None. `consistent`: the
    server keeps the wrong part it sends as its own copy (only the product checks can
    catch that)."""
    rng = np.random.default_rng(seed)
    tamper = choose(kind, CIRCUIT, schedule(CIRCUIT), seed, consistent)
    bad = int(rng.integers(3))
    outcome = run_with_fault(CIRCUIT, inputs(rng), Fault(bad, 0, "tamper", tamper))
    if not tamper.done:
        return f"seed {seed}: the tamper at {tamper.where} never happened"
    delivered = [p for p, r in outcome.parties.items() if isinstance(r, PartyResult)]
    if delivered:
        return f"seed {seed}: server {bad} changed {tamper.what}; {delivered} got outputs"
    honest = [s for s, e in outcome.servers.items() if s != bad and e is None]
    if honest:
        return f"seed {seed}: server {bad} changed {tamper.what}; servers {honest} finished"
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_tampering_aborts_everyone(kind: str) -> None:
    failures = [f for f in (trial(kind, 1000 * KINDS.index(kind) + t) for t in range(12)) if f]
    assert not failures, failures[:3]


@pytest.mark.parametrize("kind", ["products", "a2b", "reshares"])
def test_consistent_tampering_of_products_is_caught_by_the_product_checks(kind: str) -> None:
    failures = [f for f in (trial(kind, 5000 + 100 * KINDS.index(kind) + t, True)
                            for t in range(12)) if f]
    assert not failures, failures[:3]


PREPROCESSING = [("openings", ("pre-coin",), False)] + [
    (kind, (place, i), consistent) for i in range(len(schedule(CIRCUIT).plan.pools))
    for kind, place, consistent in (("openings", "buckets", False), ("reshares", "triples", True),
                                    ("reshares", "triples", False))]


@pytest.mark.parametrize("kind, where, consistent", PREPROCESSING)
def test_tampering_with_the_preprocessing_aborts_everyone(kind: str, where: tuple,
                                                          consistent: bool) -> None:
    """Every message of the preprocessing, in every pool: the coin, the bucket checks'
    openings, and the triples' products (a consistent cheater makes a bad triple, which
    only its bucket check can catch)."""
    for seed in range(4):
        rng = np.random.default_rng(seed)
        tamper = Tamper(kind, where, seed, consistent=consistent)
        bad = int(rng.integers(3))
        outcome = run_with_fault(CIRCUIT, inputs(rng), Fault(bad, 0, "tamper", tamper))
        assert tamper.done, where
        assert not any(isinstance(r, PartyResult) for r in outcome.parties.values()), \
            f"server {bad} changed {tamper.what} and outputs were delivered"
        assert all(e is not None for s, e in outcome.servers.items() if s != bad), \
            f"server {bad} changed {tamper.what} and an honest server finished"


@pytest.mark.slow
@pytest.mark.parametrize("kind, consistent", [(k, False) for k in KINDS]
                         + [("products", True), ("a2b", True), ("reshares", True)])
def test_many_tamperings_of_each_kind_all_abort(kind: str, consistent: bool) -> None:
    trials = int(os.environ.get("VEIL_TAMPER_TRIALS", "60"))
    base = 10**6 * (1 + KINDS.index(kind)) + (5 * 10**5 if consistent else 0)
    failures = [f for f in (trial(kind, base + t, consistent) for t in range(trials)) if f]
    print(f"{kind}{' (consistent)' if consistent else ''}: {trials} trials, "
          f"{trials - len(failures)} detected")
    assert not failures, failures[:3]
