"""The verified (malicious) mode: same outputs as the reference on every program it
accepts, a clear compile error for the ones it cannot check yet, rounds and bytes as
the report predicts, exact truncation over real shares, fingerprints, the soundness
bound's parameters, and the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rep3_harness import run_threaded
from test_rep3_traffic import assert_traffic_matches, decoded

from veil.backend import prg
from veil.backend.plain import PlainBackend
from veil.backend.rep3_verify import ORDER, ORDER_TIES, _order
from veil.compiler import compile_path, compile_source
from veil.cost.report import build
from veil.diagnostics import VeilError
from veil.io.inputs import load_inputs
from veil.ir.semantics import encode
from veil.ir.serialize import dumps, loads
from veil.runtime.local import LocalRun
from veil.schedule import schedule
from veil.verification import allot_buckets, bucket_size, failure_log2, word_unit

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SLOW = {"joint_training"}  # 3.4M products, 150,000 truncations: about 25 s verified
ALL = sorted(p.name for p in PROGRAMS.iterdir() if (p / "main.mpc").is_file())


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in ALL])
def test_program_runs_verified_with_the_reference_outputs(name: str) -> None:
    mal = compile_path(PROGRAMS / name, backend="rep3", security="malicious")
    plain = compile_path(PROGRAMS / name, backend="plain")
    inputs = load_inputs(mal.executable, PROGRAMS / name / "inputs")
    result = LocalRun(timeout=60).run(mal.executable, inputs)
    assert_traffic_matches(mal.executable, result.stats)
    want = decoded(plain.circuit, PlainBackend().run(plain.circuit, inputs).outputs)
    got = decoded(mal.executable, result.outputs)
    for out in plain.circuit.outputs:
        # the verified truncation is exact (the plain backend's floor), so even fixed
        # outputs agree to the last bit
        assert np.array_equal(got[out.name], want[out.name]), out.name


LARGE_SHUFFLE = """party a
party r
input x: secret int[5000000] from a
output y = shuffle(x) to r
"""


def test_a_shuffle_beyond_its_random_keys_is_refused_at_compile_time() -> None:
    with pytest.raises(VeilError) as info:
        compile_source(LARGE_SHUFFLE, backend="rep3", security="malicious")
    codes = {d.code for d in info.value.diagnostics}
    assert codes == {"V0803"}
    assert "`shuffle` cannot run with --security malicious" in info.value.diagnostics[0].message
    assert info.value.diagnostics[0].span is not None


def test_semi_honest_fingerprints_do_not_change() -> None:
    default = compile_path(PROGRAMS / "credit_scoring", backend="rep3")
    explicit = compile_path(PROGRAMS / "credit_scoring", backend="rep3", security="semi-honest")
    assert default.fingerprint == explicit.fingerprint
    assert '"security"' not in default.canonical
    mal = compile_path(PROGRAMS / "credit_scoring", backend="rep3", security="malicious")
    assert mal.fingerprint != default.fingerprint
    assert json.loads(mal.canonical)["security"] == "malicious"
    assert loads(mal.canonical).security == "malicious"
    assert dumps(loads(mal.canonical)) == mal.canonical


def test_a_verified_circuit_has_no_unchecked_interactive_step() -> None:
    mal = compile_path(PROGRAMS / "model_validation", backend="rep3", security="malicious")
    sched = schedule(mal.executable)
    ops = {mal.executable.node(n).op for r in sched.rounds for n in r.nodes}
    assert ops <= {"mul", "matmul", "and", "b2a"}
    assert sched.plan is not None and sched.plan.failure_log2 <= -40


def test_a_lone_dot_product_of_vectors_is_computed_from_products() -> None:
    """`sum(x * y)` of two secret vectors is fused into one dot product; verified, it is
    lowered back to products and a local sum (checked as one item it would take 22
    triples of its whole length: 211 MB a server at k = 300,000 instead of 29 MB)."""
    source = """party a
party b
input x: secret {t}[5000] from a
input y: secret {t}[5000] from b
output s = sum(x * y) to b
"""
    rng = np.random.default_rng(3)
    for t in ("int", "fixed"):
        mal = compile_source(source.format(t=t), backend="rep3", security="malicious")
        plain = compile_source(source.format(t=t), backend="plain")
        assert any(n.op == "matmul" for n in plain.circuit.nodes)  # fused by the optimizer
        plan = schedule(mal.executable).plan
        assert plan is not None and all(p.k == 1 for p in plan.pools)
        values = {"x": rng.integers(-100, 100, 5000), "y": rng.integers(-100, 100, 5000)} \
            if t == "int" else {"x": rng.uniform(-2, 2, 5000), "y": rng.uniform(-2, 2, 5000)}
        raw = {s.name: encode(values[s.name], s.type.base) for s in mal.executable.inputs}
        got = run_threaded(mal.executable, raw).result.outputs["s"]
        want = PlainBackend().run(plain.circuit, raw).outputs["s"]
        assert np.array_equal(np.asarray(got), np.asarray(want)), t
        cost = build(mal.executable, backend="rep3")
        assert max(cost["bytes_per_server"]) < 5000 * 8 * 16  # about 12 elements a product


def test_malicious_needs_rep3() -> None:
    with pytest.raises(VeilError, match="needs the rep3 backend"):
        compile_source("party a\ninput x: secret int from a\noutput y = x to a\n",
                       backend="plain", security="malicious")


def test_truncation_is_exact_over_shares() -> None:
    """10^5 products at the edges of the accepted range (|x| < 2^62) and random ones,
    and to_int of values with and without fractional bits: always the exact floor."""
    n = 50_000
    src = (f"party p\ninput a: secret fixed[{n}] from p\ninput b: secret fixed[{n}] from p\n"
           f"output c = a * b to p\noutput d = to_int(a) to p\n")
    c = compile_source(src, backend="rep3", security="malicious").executable
    rng = np.random.default_rng(5)
    for big in (True, False):
        if big:  # |a·b·2^32| just below 2^62
            a = rng.choice([-1, 1], n) * rng.uniform(2**28.9, 2**29, n)
            b = rng.choice([-1, 1], n) * rng.uniform(1.9, 1.99, n)
        else:
            a, b = rng.uniform(-1000, 1000, n), rng.uniform(-1000, 1000, n)
            a[: n // 10] = np.round(a[: n // 10])  # whole numbers: to_int exactly
        ea, eb = encode(a, "fixed"), encode(b, "fixed")
        out = run_threaded(c, {"a": ea, "b": eb}).result.outputs
        exact = (ea.view(np.int64) * eb.view(np.int64)) >> 16
        assert np.array_equal(np.asarray(out["c"]).view(np.int64), exact)
        assert np.array_equal(np.asarray(out["d"]).view(np.int64), ea.view(np.int64) >> 16)


def test_bucket_sizes_meet_the_bound() -> None:
    for items, want in ((1, 22), (1000, 4), (10_000, 3), (2_000_000, 2)):
        b = bucket_size(items, 40)
        assert b == want, (items, b)
        assert failure_log2(items, b, b) <= -40
        assert failure_log2(items, b - 1, b - 1) > -40 if b > 1 else True


def _log2_binom(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


@pytest.mark.parametrize("items", [*range(1, 80), 150, 1_000, 4_000])
def test_a_rotation_of_the_heads_keeps_the_pool_bound(items: int) -> None:
    """veil.verification: a server whose bad triples fill g whole buckets passes with
    probability binom(N, g)·(g/N)/binom(M, B·g); the largest of these over g is the
    pool's bound (at g = 1 or g = N) for every B ≥ 2 with C = B. With B = 1 it is not."""
    for b in range(2, 9):
        total = items * b + b
        worst = max(_log2_binom(items, g) + math.log2(g / items) - _log2_binom(total, b * g)
                    for g in range(1, items + 1))
        assert worst <= failure_log2(items, b, b) + 1e-6, (items, b)
    if items >= 8:
        lone = max(_log2_binom(items, g) + math.log2(g / items) - _log2_binom(items + 1, g)
                   for g in range(1, items + 1))
        assert lone > failure_log2(items, 1, 1) + 1
    assert bucket_size(items, 40) >= 2


def test_bucket_allotment_meets_the_bound_over_all_pools() -> None:
    """The pools' bounds sum to ≤ 2^-40; a pool is never below its own least B; the
    big ring pool of 10^5 fixed-point products (900,000 items) needs only B = 2 when
    the small word pool takes B = 3 (an equal split of the budget would give it 3)."""
    cases = [[(900_000, 1), (90_654, 1)], [(1, 1)], [(10_000, 1), (1_000, 7), (4_784, 1)],
             [(2, 1), (6, 4), (4, 1)], [(2_000_000, 1)] * 4]
    for pools in cases:
        slots = allot_buckets(pools)
        total = sum(2.0 ** failure_log2(n, b, b) for (n, _), b in zip(pools, slots, strict=True))
        assert total <= 2.0 ** -40, (pools, slots)
        assert all(b >= bucket_size(n, 40) for (n, _), b in zip(pools, slots, strict=True))
    assert allot_buckets([(900_000, 1), (90_654, 1)]) == [2, 3]
    assert bucket_size(900_000, 41) == 3


def test_small_word_pools_are_cut_into_narrower_items_when_that_needs_fewer_triples() -> None:
    """Every AND gate costs 1 + 3B bits at any item width, and B falls as the items
    grow in number (a word pool's triples compute the AND gates, Beaver's way, so its
    bound is N times 1/binom(M, B)): 3,856 words (credit_scoring's comparisons) need
    B = 5 as words and B = 4 as 7,712 32-bit items; 10^5 comparisons' 376,563 words
    B = 4, as 32-bit items B = 3; a pool big enough for its least B stays in words, and
    a large pool is never cut into more than twice as many items (each costs time)."""
    assert word_unit(3_856) == 32 and bucket_size(3_856, 40, True) == 5
    assert bucket_size(7_712, 40, True) == 4
    assert word_unit(376_563) == 32 and bucket_size(376_563, 40, True) == 4
    assert bucket_size(2 * 376_563, 40, True) == 3
    assert word_unit(1) == 8 and word_unit(750_000) == 64
    assert word_unit(100_000) == 64  # B = 3 only as 8-bit items: 8 times the items
    plan = schedule(compile_path(PROGRAMS / "credit_scoring", backend="rep3",
                                 security="malicious").executable).plan
    assert plan is not None
    (words,) = [p for p in plan.pools if p.kind == "word"]
    assert (words.unit, words.items, words.slots, words.beaver) == (32, 7_712, 4, True)
    assert words.triple_words == -(-words.triples // 2)
    assert plan.failure_log2 <= -40


def test_the_coin_order_is_the_order_of_128_bit_draws() -> None:
    """The radix passes and the repair of runs tied on the top 32 bits give exactly the
    indices sorted by the 128-bit draws (300,000 triples: about ten tied pairs)."""
    for count in (1, 2, 3, 1000, 300_000):
        for seed in (b"a" * 16, b"b" * 16):
            high = np.frombuffer(prg.stream(seed, 7, ORDER, 8 * count), dtype=np.uint64)
            low = np.frombuffer(prg.stream(seed, 7, ORDER_TIES, 8 * count), dtype=np.uint64)
            assert np.array_equal(_order(seed, 7, count), np.lexsort((low, high)))
    # the ties' low draws are computed alone, from their CTR blocks
    picks = np.array([0, 1, 2, 999, 998, 5, 5])
    assert np.array_equal(prg.ring_at(b"c" * 16, 2**40 + 7, ORDER_TIES, picks),
                          prg.ring(b"c" * 16, 2**40 + 7, ORDER_TIES, (1000,))[picks])


def test_the_coin_orders_triples_uniformly() -> None:
    """A cheater with B bad triples passes only if they land exactly on its one bad
    item's slots: with the real ordering and tiny parameters (N = 3 items, B = 1,
    C = 1, so M = 4) that happens with probability 1/binom(4, 1) = 1/4."""
    trials = 4000
    hits = 0
    for t in range(trials):
        places = _order(t.to_bytes(16, "little"), 0, 4)
        # triple q goes to place places[q]: place g < 3 checks item g, place 3 is opened
        hits += int(places[0] == 0)  # triple 0 is the bad one, item 0 the bad item
    assert abs(hits / trials - 0.25) < 4 * math.sqrt(0.25 * 0.75 / trials)


def test_cli_runs_and_costs_the_verified_mode(tmp_path: Path) -> None:
    program = PROGRAMS / "credit_scoring"
    cost = subprocess.run([sys.executable, "-m", "veil", "cost", str(program), "--security",
                           "malicious", "--json", "-q"], capture_output=True, text=True)
    assert cost.returncode == 0, cost.stderr
    data = json.loads(cost.stdout)
    assert data["security"] == "malicious"
    assert data["rounds_by_phase"]["verify"] == 3
    assert data["verification"]["failure_log2"] <= -40
    run = subprocess.run([sys.executable, "-m", "veil", "run", str(program), "--security",
                          "malicious", "--json", "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["security"] == "malicious"
    assert out["stats"]["rounds"] == data["rounds"]
    semi = subprocess.run([sys.executable, "-m", "veil", "run", str(program), "--json", "-q"],
                          capture_output=True, text=True)
    assert json.loads(semi.stdout)["outputs"] == out["outputs"]
    shuffling = tmp_path / "shuffle.mpc"
    shuffling.write_text(LARGE_SHUFFLE)
    refused = subprocess.run([sys.executable, "-m", "veil", "check", str(shuffling),
                              "--security", "malicious"], capture_output=True, text=True)
    assert refused.returncode == 1 and "V0803" in refused.stderr


@pytest.mark.parametrize("name", ["double_financing", "supplier_exposure"])
def test_table_programs_give_the_same_outputs_in_both_modes(name: str) -> None:
    """The shipped table programs: the semi-honest run (shuffles and radix sorts), the
    verified run (all-pairs matching, grouped sums by equality) and the plain reference
    agree exactly on the sample inputs, and `veil cost` predicts each run's traffic."""
    runs = {}
    for security in ("semi-honest", "malicious"):
        c = compile_path(PROGRAMS / name, backend="rep3", security=security)
        inputs = load_inputs(c.executable, PROGRAMS / name / "inputs")
        result = LocalRun(timeout=60).run(c.executable, inputs)
        assert_traffic_matches(c.executable, result.stats)
        runs[security] = decoded(c.executable, result.outputs)
    plain = compile_path(PROGRAMS / name, backend="plain")
    inputs = load_inputs(plain.circuit, PROGRAMS / name / "inputs")
    want = decoded(plain.circuit, PlainBackend().run(plain.circuit, inputs).outputs)
    for out in plain.circuit.outputs:
        for security, got in runs.items():
            assert np.array_equal(got[out.name], want[out.name]), (security, out.name)


def test_cli_cost_predicts_a_verified_table_run() -> None:
    program = str(PROGRAMS / "double_financing")
    args = ["--security", "malicious", "--json", "-q"]
    cost = subprocess.run([sys.executable, "-m", "veil", "cost", program, *args],
                          capture_output=True, text=True)
    run = subprocess.run([sys.executable, "-m", "veil", "run", program, *args],
                         capture_output=True, text=True)
    assert cost.returncode == 0 and run.returncode == 0, cost.stderr + run.stderr
    predicted, measured = json.loads(cost.stdout), json.loads(run.stdout)["stats"]
    assert predicted["server_reveals"] == []
    assert measured["rounds"] == predicted["rounds"]
    assert measured["bytes_sent"] == predicted["bytes_per_server"]
