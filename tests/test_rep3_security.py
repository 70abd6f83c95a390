"""Security properties of rep3, tested statistically on real runs (threads, same code):
shares look uniform, a server's view does not depend on the inputs, no input value is
on the wire in clear, and one server's shares say nothing about the value."""

from __future__ import annotations

import numpy as np
from rep3_harness import run_threaded

from veil.compiler import compile_source
from veil.ir.semantics import encode
from veil.net.transport import INPUT, ROUND
from veil.runtime.sharing import owners_of, read_input_message

N = 4000
CHI2_LIMIT = 400.0  # 256 bins: mean 255, sd 22.6; 400 is beyond 6 sd

PROGRAM = f"""
party owner
party model
party receiver
input x: secret fixed[{N}] from owner
input k: secret int[{N}] from owner
input w: secret fixed from model
let score = x * w + 0.25
output flagged = sum(score > 1.0 and k != 3) to receiver
output top = max(k * k) to receiver
"""


def circuit():
    return compile_source(PROGRAM, backend="rep3").executable


def encoded(c, x, k, w) -> dict:
    vals = {"x": x, "k": k, "w": w}
    return {s.name: encode(vals[s.name], s.type.base) for s in c.inputs}


def byte_histogram(data: bytes) -> np.ndarray:
    return np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256).astype(float)


def chi2_uniform(data: bytes) -> float:
    h = byte_histogram(data)
    expected = h.sum() / 256
    return float(((h - expected) ** 2 / expected).sum())


def chi2_same(a: bytes, b: bytes) -> float:
    """Two-sample chi-square statistic on byte histograms (equal-size samples)."""
    n = min(len(a), len(b))
    ha, hb = byte_histogram(a[:n]), byte_histogram(b[:n])
    total = ha + hb
    mask = total > 0
    return float((((ha - hb) ** 2)[mask] / total[mask]).sum())


def view_bytes(view, kinds: tuple[int, ...]) -> bytes:
    return b"".join(p for kind, _, p in view if kind in kinds)


def input_pairs(c, view, server: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pair (x_i, x_{i+1}) of every input a server holds, from the input messages it
    received (seeds expanded as the server expands them), in owner order."""
    messages = [p for kind, _, p in view if kind == INPUT]
    pairs = []
    for specs, payload in zip(owners_of(c).values(), messages, strict=True):
        pairs += read_input_message(server, specs, payload)
    return pairs


def test_input_shares_are_uniform_even_for_constant_inputs() -> None:
    c = circuit()
    run = run_threaded(c, encoded(c, np.zeros(N), np.zeros(N, dtype=int), 0.0))
    for server, view in run.views.items():
        wire = view_bytes(view, (INPUT,))  # seeds, and x2 for servers 1 and 2
        assert len(wire) >= 16 * 2
        assert chi2_uniform(wire) < CHI2_LIMIT, server
        shares = b"".join(a.tobytes() + b.tobytes() for a, b in input_pairs(c, view, server)
                          if a.dtype != np.bool_)
        assert len(shares) > 16 * N
        assert chi2_uniform(shares) < CHI2_LIMIT, server
        bits = np.unpackbits(np.frombuffer(shares, dtype=np.uint8))
        assert abs(bits.mean() - 0.5) < 0.01


def test_a_servers_view_does_not_depend_on_the_inputs() -> None:
    c = circuit()
    rng = np.random.default_rng(1)
    zeros = run_threaded(c, encoded(c, np.zeros(N), np.zeros(N, dtype=int), 0.0))
    other = run_threaded(c, encoded(c, rng.uniform(-100, 100, N),
                                    rng.integers(-10**9, 10**9, N), 3.5))
    for server in range(3):
        a = view_bytes(zeros.views[server], (INPUT, ROUND))
        b = view_bytes(other.views[server], (INPUT, ROUND))
        assert len(a) == len(b)  # the same messages, the same sizes
        assert chi2_same(a, b) < CHI2_LIMIT, server
        assert chi2_uniform(b) < CHI2_LIMIT, server
        # (in a round with truncations a server hears from both neighbours, in either order)
        sizes = sorted((kind, rnd, len(p)) for kind, rnd, p in zeros.views[server])
        assert sizes == sorted((kind, rnd, len(p)) for kind, rnd, p in other.views[server])


def test_no_input_value_appears_in_clear_in_any_message() -> None:
    c = circuit()
    rng = np.random.default_rng(2)
    k = rng.integers(2**40, 2**62, N)  # distinctive 8-byte patterns
    x = rng.uniform(1000, 2000, N)
    run = run_threaded(c, encoded(c, x, k, 1.5))
    wire = b"".join(view_bytes(v, tuple(range(1, 8))) for v in run.views.values())
    raw_k = encode(k, "int").tobytes()
    raw_x = encode(x, "fixed").tobytes()
    words = {raw_k[i:i + 8] for i in range(0, len(raw_k), 8)} | \
        {raw_x[i:i + 8] for i in range(0, len(raw_x), 8)}
    found = {wire[i:i + 8] for i in range(0, len(wire) - 7)} & words
    assert not found


def test_one_server_cannot_reconstruct_an_input() -> None:
    """Server i holds x_i and x_{i+1}; x - (x_i + x_{i+1}) = x_{i+2} is uniform, so its
    best guess x_i + x_{i+1} is uniform whatever x is (here: 0 versus 10^12)."""
    c = compile_source(f"""
party owner
party r
input k: secret int[{N}] from owner
output s = sum(k) to r
""", backend="rep3").executable
    guesses = {}
    for value in (0, 10**12):
        run = run_threaded(c, {"k": encode(np.full(N, value), "int")})
        for server in range(3):
            shares = input_pairs(c, run.views[server], server)[0]
            with np.errstate(over="ignore"):
                guess = (shares[0] + shares[1]).tobytes()
            guesses[(value, server)] = guess
            assert chi2_uniform(guess) < CHI2_LIMIT
            assert not np.any(shares[0] + shares[1] == np.uint64(value))
    for server in range(3):
        assert chi2_same(guesses[(0, server)], guesses[(10**12, server)]) < CHI2_LIMIT


def test_bool_input_shares_are_uniform() -> None:
    """Every bit an owner sends is a uniformly random share, whatever the bool input is
    (a regression test: shares once came from random *bytes* cast to bool, so nearly all
    were true and one server's pair revealed the input)."""
    c = compile_source(f"""
party owner
party r
input b: secret bool[{N}] from owner
output n = sum(b) to r
""", backend="rep3").executable
    for value in (False, True):
        run = run_threaded(c, {"b": encode(np.full(N, value), "bool")})
        assert int(run.result.outputs["n"].view(np.int64)) == (N if value else 0)
        for server in range(3):
            first, second = input_pairs(c, run.views[server], server)[0]
            bits = np.concatenate([first, second])
            assert abs(bits.mean() - 0.5) < 0.03, (value, server)
            pair = first ^ second  # x_i ⊕ x_{i+1}: uniform, independent of b
            assert abs(pair.mean() - 0.5) < 0.03, (value, server)
