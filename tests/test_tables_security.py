"""What a server sees of a shuffle and of a sort, tested statistically on real runs
(threads, the servers' own code): the shuffle's output order is uniformly random, and a
server's view — the messages it receives and the values the protocol opens to it —
does not depend on the order (or the values) of the input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rep3_harness import run_threaded

from veil.backend import rep3_shuffle
from veil.compiler import compile_source
from veil.ir.semantics import decode, encode
from veil.net.transport import ROUND

CHI2_BYTES = 400.0  # 256 bins: mean 255, sd 22.6; 400 is beyond 6 sd


def chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def chi2_limit(bins: int) -> float:
    """Mean + 6 standard deviations of a chi-square with bins − 1 degrees of freedom."""
    return bins - 1 + 6 * math.sqrt(2 * (bins - 1))


def byte_histogram(data: bytes) -> np.ndarray:
    return np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256).astype(float)


def chi2_same(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample chi-square on histograms with equal totals."""
    total = a + b
    mask = total > 0
    return float((((a - b) ** 2)[mask] / total[mask]).sum())


@pytest.fixture
def opened(monkeypatch):
    """Every value the protocol opens, per server: {server: [array, ...]}."""
    seen: dict[int, list[np.ndarray]] = {0: [], 1: [], 2: []}
    original = rep3_shuffle.finish

    def finish(server, node, kept, received):
        value = original(server, node, kept, received)
        if node.op == "reveal":
            seen[server.me].append(np.asarray(value).view(np.int64).copy())
        return value

    monkeypatch.setattr(rep3_shuffle, "finish", finish)
    return seen


def test_shuffle_output_order_is_uniform() -> None:
    """Where the first of 5 rows lands, and the whole order of 3 rows, over many runs:
    both uniform (a chi-square test at 6 standard deviations)."""
    five = compile_source("""
party a
party r
input x: secret int[5] from a
output s = shuffle(x) to r
""", backend="rep3").executable
    three = compile_source(five_to_three := """
party a
party r
input x: secret int[3] from a
output s = shuffle(x) to r
""", backend="rep3").executable
    assert five_to_three
    runs = 300
    landed = np.zeros(5)
    orders: dict[tuple, int] = {}
    for _ in range(runs):
        s5 = decode(run_threaded(five, {"x": encode(np.arange(5), "int")})
                    .result.outputs["s"], "int")
        assert sorted(s5.tolist()) == list(range(5))
        landed[int(np.flatnonzero(s5 == 0)[0])] += 1
        s3 = decode(run_threaded(three, {"x": encode(np.arange(3), "int")})
                    .result.outputs["s"], "int")
        orders[tuple(s3.tolist())] = orders.get(tuple(s3.tolist()), 0) + 1
    assert chi2(landed, np.full(5, runs / 5)) < chi2_limit(5)
    assert len(orders) == 6
    counts = np.array(list(orders.values()), dtype=float)
    assert chi2(counts, np.full(6, runs / 6)) < chi2_limit(6)


def _displacements(perms: list[np.ndarray]) -> np.ndarray:
    """Histogram of (p[i] − i) mod n over every opened permutation and row."""
    n = len(perms[0])
    hist = np.zeros(n)
    for p in perms:
        assert sorted(p.tolist()) == list(range(n))  # always a permutation of 0..n−1
        hist += np.bincount((p - np.arange(n)) % n, minlength=n)
    return hist


def test_a_servers_view_of_a_sort_does_not_depend_on_the_input_order(opened) -> None:
    """The same 64 keys ascending, descending and in a random order: each server's
    opened permutations are uniform and alike for the three orders (if a sort opened
    its destinations without shuffling them first, ascending input would open the
    identity), and the bytes it receives are uniform and alike too."""
    n = 64
    c = compile_source(f"""
party a
party r
input x: secret int[{n}] from a
output s = sort(x) to r
""", backend="rep3").executable
    keys = np.random.default_rng(5).integers(-10**12, 10**12, n)
    orders = {"ascending": np.sort(keys), "descending": np.sort(keys)[::-1],
              "random": np.random.default_rng(6).permutation(keys)}
    runs = 4
    hist: dict[tuple[str, int], np.ndarray] = {}
    wire: dict[tuple[str, int], bytes] = {}
    sizes: dict[str, list] = {}
    for name, x in orders.items():
        for server in range(3):
            opened[server].clear()
        views = []
        for _ in range(runs):
            run = run_threaded(c, {"x": encode(x, "int")}, timeout=60)
            assert np.array_equal(decode(run.result.outputs["s"], "int"), np.sort(keys))
            views.append(run.views)
        # (a server takes its two peers' messages of a round in either order)
        sizes[name] = [sorted((k, r, len(p)) for k, r, p in v[s]) for v in views
                       for s in range(3)]
        for server in range(3):
            hist[(name, server)] = _displacements(opened[server])
            wire[(name, server)] = b"".join(p for v in views for k, _, p in v[server]
                                            if k == ROUND)
    assert sizes["ascending"] == sizes["descending"] == sizes["random"]
    for server in range(3):
        for name in orders:
            h = hist[(name, server)]
            assert chi2(h, np.full(n, h.sum() / n)) < chi2_limit(n), (name, server)
            b = byte_histogram(wire[(name, server)])
            assert chi2(b, np.full(256, b.sum() / 256)) < CHI2_BYTES, (name, server)
        for other in ("descending", "random"):
            assert chi2_same(hist[("ascending", server)], hist[(other, server)]) < \
                chi2_limit(n), (other, server)
            assert chi2_same(byte_histogram(wire[("ascending", server)]),
                             byte_histogram(wire[(other, server)])) < CHI2_BYTES


def test_matching_opens_nothing_that_depends_on_duplicates(opened) -> None:
    """isin on two lists with no common key and on two equal lists: the servers'
    opened values have the same uniform distribution (the number of matches, and which
    keys repeat, stay hidden)."""
    n = 32
    c = compile_source(f"""
party a
party b
input x: secret int[{n}] from a
input y: secret int[{n}] from b
output m = isin(x, y) to a
""", backend="rep3").executable
    rng = np.random.default_rng(8)
    x = rng.integers(0, 10**9, n)
    cases = {"disjoint": x + 10**10, "equal": rng.permutation(x)}
    hist = {}
    for name, y in cases.items():
        for server in range(3):
            opened[server].clear()
        for _ in range(3):
            run = run_threaded(c, {"x": encode(x, "int"), "y": encode(y, "int")}, timeout=60)
            assert decode(run.result.outputs["m"], "bool").all() == (name == "equal")
        hist[name] = [_displacements(opened[s]) for s in range(3)]
    for server in range(3):
        a, b = hist["disjoint"][server], hist["equal"][server]
        assert chi2(a, np.full(2 * n, a.sum() / (2 * n))) < chi2_limit(2 * n)
        assert chi2_same(a, b) < chi2_limit(2 * n), server
