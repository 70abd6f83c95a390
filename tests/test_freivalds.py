"""Matrix products in the verified mode checked by random row/column combinations
(Freivalds): a product with more than R rows (or columns) is checked as R combinations
of them, the outputs are those of the plain backend, the cost report's traffic is what
the servers send, and an error in any one result element of the product is caught."""

from __future__ import annotations

import numpy as np
import pytest
from rep3_harness import run_threaded, run_with_fault

from veil.backend import rep3_verify
from veil.backend.plain import PlainBackend
from veil.backend.tamper import Tamper
from veil.compiler import compile_source
from veil.cost.report import build
from veil.ir.semantics import encode
from veil.runtime.session import Fault, PartyResult
from veil.schedule import schedule
from veil.verification import FREIVALDS_REPS

SHAPES = {"rows": (200, 5, 2), "columns": (3, 4, 120), "both": (90, 3, 60)}


def program(n: int, k: int, m: int) -> str:
    return (f"party a\nparty b\ninput x: secret int[{n}, {k}] from a\n"
            f"input w: secret int[{k}, {m}] from b\noutput z = x @ w to a\n")


def compiled(shape: str):
    return compile_source(program(*SHAPES[shape]), backend="rep3",
                          security="malicious").executable


def inputs(shape: str, seed: int) -> dict[str, np.ndarray]:
    n, k, m = SHAPES[shape]
    rng = np.random.default_rng(seed)
    return {"x": encode(rng.integers(-2**40, 2**40, (n, k)), "int"),
            "w": encode(rng.integers(-2**20, 2**20, (k, m)), "int")}


@pytest.mark.parametrize("shape", SHAPES)
def test_reduced_products_are_planned_costed_and_computed_right(shape: str) -> None:
    n, _, m = SHAPES[shape]
    circuit = compiled(shape)
    plan = schedule(circuit).plan
    assert plan is not None
    (gate,) = [g for g in plan.gates if g.freivalds is not None]
    assert gate.items == min(n, FREIVALDS_REPS) * min(m, FREIVALDS_REPS)
    assert gate.freivalds == (n, m, n > FREIVALDS_REPS, m > FREIVALDS_REPS)
    assert plan.failure_log2 <= -40
    data = inputs(shape, 1)
    run = run_threaded(circuit, data, timeout=60)
    expected = PlainBackend().run(compile_source(program(*SHAPES[shape])).circuit, data)
    assert np.array_equal(np.asarray(run.result.outputs["z"]), expected.outputs["z"])
    predicted = build(circuit, backend="rep3")
    assert run.result.stats["bytes_sent"] == predicted["bytes_per_server"]
    assert run.result.stats["rounds"] == predicted["rounds"]


@pytest.mark.parametrize("consistent", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_an_error_in_any_result_of_a_reduced_product_aborts_everyone(shape: str,
                                                                     consistent: bool) -> None:
    circuit = compiled(shape)
    sched = schedule(circuit)
    (node,) = [n.id for n in circuit.nodes if n.op == "matmul"]
    number = next(i for i, r in enumerate(sched.rounds[:sched.circuit_rounds], 1)
                  if node in r.nodes)
    for trial in range(8):
        tamper = Tamper("products", ("round", number, node), 7919 * trial + 1,
                        consistent=consistent)
        bad = trial % 3
        outcome = run_with_fault(circuit, inputs(shape, trial), Fault(bad, 0, "tamper", tamper),
                                 timeout=60)
        assert tamper.done
        delivered = [p for p, r in outcome.parties.items() if isinstance(r, PartyResult)]
        assert not delivered, (trial, tamper.what)
        assert all(e is not None for s, e in outcome.servers.items() if s != bad), tamper.what


def test_the_combinations_expose_a_single_wrong_element() -> None:
    """One wrong element of Z (any 2-adic valuation, 2^63 included) shows in at least
    one combination for every coin tried; with all-zero combinations it would not."""
    rng = np.random.default_rng(5)
    n, k, m = 120, 3, 70
    shape = (n, m, True, True)
    for trial in range(60):
        x = rng.integers(0, 2**63, (n, k), dtype=np.uint64)
        w = rng.integers(0, 2**63, (k, m), dtype=np.uint64)
        z = x @ w
        i, j = int(rng.integers(n)), int(rng.integers(m))
        with np.errstate(over="ignore"):
            z[i, j] += np.uint64(1) << np.uint64(rng.integers(64))
        zero = np.zeros_like
        check = rep3_verify._Freivalds(1, k, shape, (x, zero(x)), (w, zero(w)),
                                       (z, zero(z)), FREIVALDS_REPS)
        xs, ys, zs = check.items(rng.bytes(16))
        rows, cols, values = xs[0], ys[0], zs[0]
        with np.errstate(over="ignore"):
            products = np.sum(rows * cols, axis=1, dtype=np.uint64)
        assert rows.shape == (FREIVALDS_REPS**2, k)
        assert np.any(products != values), trial


@pytest.mark.parametrize("shapes", [("[100, 4]", "[4]"), ("[4]", "[4, 100]"),
                                    ("[60, 4]", "[4, 70]")])
def test_fixed_point_and_vector_products_keep_their_outputs(shapes: tuple[str, str]) -> None:
    """Fixed point (a truncation follows) and the vector forms x @ W, X @ w."""
    left, right = shapes
    src = (f"party a\nparty b\ninput x: secret fixed{left} in [-10.0, 10.0] from a\n"
           f"input w: secret fixed{right} in [-10.0, 10.0] from b\n"
           f"output z = x @ w to a\noutput s = sum(x @ w) to b\n")
    circuit = compile_source(src, backend="rep3", security="malicious").executable
    plan = schedule(circuit).plan
    assert plan is not None and any(g.freivalds for g in plan.gates)
    rng = np.random.default_rng(4)
    data = {s.name: encode(rng.uniform(-10, 10, s.type.shape), "fixed") for s in circuit.inputs}
    out = run_threaded(circuit, data, timeout=60).result.outputs
    expected = PlainBackend().run(compile_source(src).circuit, data).outputs
    for name in ("z", "s"):
        assert np.array_equal(np.asarray(out[name]), expected[name]), name


def test_combinations_are_summed_in_blocks_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 0/1 combinations are widened a block of rows at a time (memory): the same
    sums mod 2^64 as one product, blocks or not."""
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2, (48, 1000)).astype(np.bool_)
    values = rng.integers(0, 2**64, (1000, 5), dtype=np.uint64)
    with np.errstate(over="ignore"):
        whole = bits.astype(np.uint64) @ values
    for chunk in (7, 64, 1000, 1 << 15):
        monkeypatch.setattr(rep3_verify, "COMBINE_CHUNK", chunk)
        assert np.array_equal(rep3_verify._combine(bits, values), whole), chunk


def test_many_reduced_products_take_more_combinations_each() -> None:
    """Past 8 reduced sides, R grows so that all reductions together stay below 2^-45
    (a union bound), and the whole run's bound stays below 2^-40."""
    lines = ["party a", "party b", "input x: secret int[60, 2] from a",
             "input w: secret int[2, 3] from b"]
    lines += [f"output z{i} = (x + {i}) @ w to a" for i in range(20)]
    circuit = compile_source("\n".join(lines) + "\n", backend="rep3",
                             security="malicious").executable
    plan = schedule(circuit).plan
    assert plan is not None
    assert plan.reduced_sides == 20 and plan.freivalds_reps == 45 + 5
    assert all(g.items == 50 * 3 for g in plan.gates if g.freivalds is not None)
    assert plan.reduced_sides * 2.0 ** -plan.freivalds_reps <= 2.0 ** -45
    assert plan.failure_log2 <= -40
