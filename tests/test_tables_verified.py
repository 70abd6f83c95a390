"""Table operations in the verified (malicious) mode (veil.ir.sorting_verified): the
same outputs as the plain backend for random small tables (all-pairs and network
matching, network sorts, grouped sums), rounds and bytes as predicted on real shares,
nothing opened to the servers, tampering aborts, and V0803 for what stays unverified."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rep3_harness import run_threaded, run_with_fault
from test_rep3_traffic import assert_traffic_matches
from test_tables_security import CHI2_BYTES, byte_histogram, chi2_same

from veil.backend.plain import PlainBackend
from veil.backend.tamper import KINDS, Tamper, choose
from veil.compiler import compile_source
from veil.cost import report
from veil.diagnostics import VeilError
from veil.ir import ops, sorting_verified
from veil.ir.semantics import decode, encode
from veil.net.transport import ROUND
from veil.runtime.session import Fault, PartyResult
from veil.schedule import schedule

PROGRAM = """
party a
party b
party r
input x: secret int[{n}] in [-40, 40] from a
input v: secret fixed[{n}] in [-100.0, 100.0] from a
input y: secret int[{m}] in [-40, 40] from b
input w: secret fixed[{m}] in [-100.0, 100.0] from b
input u: secret int[{m}] from b
output s = sort(x) to r
output sv = sort(v) to r
output by = sort(v, x) to r
output rows = sort(transpose([x, x * 3]), x) to r
output in_y = isin(x, y) to a
output in_x = isin(y, x) to b
output totals = sum_by(concat(x, u), concat(v, w), [-3, 0, 2, 5, 7, 1099511627776]) to r
output su = sort(u) to r
output wide_totals = sum_by(u, w, [-4611686018427387904, 5, 4611686018427387904]) to r
output in_wide = isin(u, concat(x, [4611686018427387904, -4611686018427387904])) to b
output bu = sort(w, u) to r
output svw = sort(concat(v, w)) to r
"""


def program(n: int, m: int) -> str:
    return PROGRAM.format(n=n, m=m)


def sample(rng: np.random.Generator, n: int, m: int) -> dict[str, np.ndarray]:
    pool = np.array([-40, -3, 0, 2, 5, 7, 9, 40])  # many ties
    wide = np.array([-3, 0, 2, 5, 1 << 40, (1 << 32) + 2, -(1 << 32) + 5, -(1 << 62), 1 << 62,
                     (1 << 62) + 1, -(1 << 63), (1 << 63) - 1])
    return {"x": rng.choice(pool, n), "v": np.round(rng.uniform(-100, 100, n), 3),
            "y": rng.choice(pool, m), "w": np.round(rng.uniform(-100, 100, m), 3),
            "u": rng.choice(wide, m)}


def encoded(circuit, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {s.name: encode(values[s.name], s.type.base) for s in circuit.inputs}


def reference(n: int, m: int, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    plain = compile_source(program(n, m)).circuit
    return dict(PlainBackend().run(plain, raw).outputs)


def same_outputs(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for name, value in want.items():  # ring elements: exactly, to the last bit
        assert np.array_equal(np.asarray(got[name]), np.asarray(value)), name


@pytest.fixture
def network_matching(monkeypatch):
    """isin by the two network sorts even for tiny tables."""
    monkeypatch.setattr(sorting_verified, "ALL_PAIRS_MAX", 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 11), st.integers(1, 9), st.integers(0, 2**32), st.booleans())
def test_verified_expansion_matches_plain_for_random_tables(n: int, m: int, seed: int,
                                                            network: bool) -> None:
    """The verified circuit evaluated in the clear (component 0 is the value) equals the
    plain backend exactly: sorts with ties, matching both ways, grouped sums with keys
    anywhere in 64 bits."""
    old = sorting_verified.ALL_PAIRS_MAX
    sorting_verified.ALL_PAIRS_MAX = 0 if network else old
    try:
        mal = compile_source(program(n, m), backend="rep3", security="malicious").executable
    finally:
        sorting_verified.ALL_PAIRS_MAX = old
    raw = encoded(mal, sample(np.random.default_rng(seed), n, m))
    same_outputs(PlainBackend().run(mal, raw).outputs, reference(n, m, raw))


@pytest.mark.parametrize("n, m, seed, network", [(7, 4, 1, False), (5, 6, 2, True)])
def test_verified_tables_on_rep3_match_plain_with_the_predicted_traffic(
        n: int, m: int, seed: int, network: bool, monkeypatch) -> None:  # fmt: skip
    if network:
        monkeypatch.setattr(sorting_verified, "ALL_PAIRS_MAX", 0)
    mal = compile_source(program(n, m), backend="rep3", security="malicious").executable
    raw = encoded(mal, sample(np.random.default_rng(seed), n, m))
    run = run_threaded(mal, raw, timeout=120)
    assert_traffic_matches(mal, run.result.stats)
    same_outputs(run.result.outputs, reference(n, m, raw))


def test_nothing_is_opened_to_the_servers(network_matching) -> None:
    mal = compile_source(program(6, 5), backend="rep3", security="malicious")
    used = {node.op for node in mal.executable.nodes}
    assert not used & (ops.TABLES | {"reveal", "shuffle_step"})
    data = report.build(mal.executable, mal.passes, backend="rep3")
    assert data["server_reveals"] == []
    assert "opened to the servers by the protocol: nothing" in report.render(data)
    semi = compile_source(program(6, 5), backend="rep3")  # which does open
    semi_data = report.build(semi.executable, semi.passes, backend="rep3")
    assert semi_data["server_reveals"]
    assert "opened to the servers by the protocol: nothing" not in report.render(semi_data)


@pytest.mark.parametrize("kind", KINDS)
def test_tampering_with_a_table_program_aborts(kind: str) -> None:
    """Each kind of tampering of veil.backend.tamper, twice, in random places of a
    program that sorts, matches and sums by key: everyone aborts, nothing delivered."""
    mal = compile_source(program(6, 5), backend="rep3", security="malicious").executable
    sched = schedule(mal)
    for seed in range(100 * KINDS.index(kind), 100 * KINDS.index(kind) + 2):
        rng = np.random.default_rng(seed)
        tamper = choose(kind, mal, sched, seed)
        bad = int(rng.integers(3))
        raw = encoded(mal, sample(rng, 6, 5))
        outcome = run_with_fault(mal, raw, Fault(bad, 0, "tamper", tamper))
        assert tamper.done, tamper.where
        assert not [p for p, r in outcome.parties.items() if isinstance(r, PartyResult)]
        assert all(e is not None for s, e in outcome.servers.items() if s != bad)


def test_a_shuffle_too_large_for_its_random_keys_is_refused() -> None:
    source = "party a\ninput x: secret int[5000000] from a\noutput y = shuffle(x) to a\n"
    message = "`shuffle` cannot run with --security malicious: 5000000 rows are too many"
    with pytest.raises(VeilError) as info:
        compile_source(source, backend="rep3", security="malicious")
    (diag,) = info.value.diagnostics
    assert diag.code == "V0803" and message in diag.message and diag.span is not None


def test_sorts_of_any_64_bit_keys_are_exact() -> None:
    """Keys without a declared range, as far apart as 64 bits allow (where the sign of
    a difference is wrong), sort by their two 32-bit halves."""
    src = ("party a\ninput x: secret int[9] from a\ninput v: secret fixed[9] from a\n"
           "output y = sort(x) to a\noutput w = sort(v, x) to a\noutput z = sort(v) to a\n")
    mal = compile_source(src, backend="rep3", security="malicious").executable
    x = np.array([1 << 62, -(1 << 63), 5, (1 << 63) - 1, -1, 5, (1 << 32) - 1, 1 << 32, 0])
    v = np.array([3.5, -1e9, 0.25, 1e9, -2.0, 3.5, 0.0, -1e9, 7.0])
    raw = {"x": encode(x, "int"), "v": encode(v, "fixed")}
    out = run_threaded(mal, raw, timeout=60).result.outputs
    assert np.array_equal(decode(out["y"], "int"), np.sort(x))
    assert np.array_equal(decode(out["w"], "fixed"), v[np.argsort(x, kind="stable")])
    assert np.array_equal(decode(out["z"], "fixed"), np.sort(v))


SHUFFLE = """
party a
party r
input x: secret int[{n}] from a
input v: secret fixed[{n}, 2] from a
output y = shuffle(x) to r
output w = shuffle(v) to r
"""


def shuffled(n: int):
    mal = compile_source(SHUFFLE.format(n=n), backend="rep3", security="malicious").executable
    x = np.arange(n) * 7 - 3
    v = np.stack([np.arange(n) + 0.5, -np.arange(n) * 1.25], axis=1)
    return mal, {"x": encode(x, "int"), "v": encode(v, "fixed")}, x, v


def test_the_verified_shuffle_permutes_rows_on_rep3_with_the_predicted_traffic() -> None:
    mal, raw, x, v = shuffled(9)
    assert not {node.op for node in mal.nodes} & {"reveal", "shuffle_step"}
    orders = set()
    for _ in range(2):
        run = run_threaded(mal, raw, timeout=60)
        assert_traffic_matches(mal, run.result.stats)
        y = decode(run.result.outputs["y"], "int")
        w = decode(run.result.outputs["w"], "fixed")
        assert sorted(y) == sorted(x)
        assert sorted(map(tuple, w)) == sorted(map(tuple, v))  # whole rows move
        orders.add(tuple(y))
    assert len(orders) == 2  # fresh keys each run: the same order has probability 1/9!


def test_the_verified_shuffle_draws_every_permutation_equally_often() -> None:
    """n = 3 evaluated in the clear with fresh random bits: the six orders are uniform
    (chi-square with 5 degrees of freedom, p < 10^-4 to fail)."""
    mal, raw, x, _ = shuffled(3)
    runs = 1200
    counts: dict[tuple, int] = {}
    backend = PlainBackend()
    for _ in range(runs):
        y = tuple(decode(backend.run(mal, raw).outputs["y"], "int"))
        counts[y] = counts.get(y, 0) + 1
    assert len(counts) == 6 and all(sorted(k) == sorted(x) for k in counts)
    expected = runs / 6
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 25.7, counts  # the 1 − 10^-4 quantile of chi-square(5)


@pytest.mark.parametrize("seed", range(4))
def test_a_server_that_changes_its_copy_of_the_shuffle_keys_is_caught(seed: int) -> None:
    """The random bits are the one input of a verified shuffle that no message carries:
    a server that uses other bits than its neighbour holds makes everyone abort. (The
    hook changes the bits once they are drawn; their conversion to the ring opens them
    XOR a daBit, and the openings are compared.)"""
    mal, raw, _, _ = shuffled(6)
    bits = next(node.id for node in mal.nodes if node.op == "random_bits")  # of y
    users = [node.op for node in mal.nodes if bits in node.args]
    assert users == ["b2a"]
    tamper = Tamper("inconsistent", ("value", bits), seed)
    outcome = run_with_fault(mal, raw, Fault(seed % 3, 0, "tamper", tamper))
    assert tamper.done
    assert not [p for p, r in outcome.parties.items() if isinstance(r, PartyResult)]
    assert all(e is not None for s, e in outcome.servers.items() if s != seed % 3)


def test_a_servers_view_of_a_verified_sort_does_not_depend_on_the_input_order() -> None:
    """The same 16 keys ascending, descending and in a random order: each server gets
    messages of the same sizes, and their bytes are alike for the three orders (the
    verified sort opens nothing; every message is masked)."""
    n = 16
    c = compile_source(f"party a\nparty r\ninput x: secret int[{n}] from a\n"
                       f"output s = sort(x) to r\n", backend="rep3",
                       security="malicious").executable
    keys = np.random.default_rng(5).integers(-10**12, 10**12, n)
    orders = {"ascending": np.sort(keys), "descending": np.sort(keys)[::-1],
              "random": np.random.default_rng(6).permutation(keys)}
    sizes, wire = {}, {}
    for name, x in orders.items():
        views = []
        for _ in range(2):
            run = run_threaded(c, {"x": encode(x, "int")}, timeout=60)
            assert np.array_equal(decode(run.result.outputs["s"], "int"), np.sort(keys))
            views.append(run.views)
        sizes[name] = [sorted((k, r, len(p)) for k, r, p in v[s]) for v in views
                       for s in range(3)]
        for server in range(3):
            wire[(name, server)] = b"".join(p for v in views for k, _, p in v[server]
                                            if k == ROUND)
    assert sizes["ascending"] == sizes["descending"] == sizes["random"]
    for server in range(3):
        for other in ("descending", "random"):
            assert chi2_same(byte_histogram(wire[("ascending", server)]),
                             byte_histogram(wire[(other, server)])) < CHI2_BYTES, \
                (other, server)
