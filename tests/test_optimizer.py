"""The optimizer's named results (docs/optimizer.md): each pass's rewrite on small
programs, with counts, and exactness on random int programs."""

from __future__ import annotations

import numpy as np
from helpers import compile_text, run_circuit
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.cost import report
from veil.ir.verify import verify
from veil.opt.metrics import measure
from veil.opt.pipeline import PASSES, optimize

PRODUCT_64 = """
party p
party q
input x: secret int[64] from p
var acc: secret int = 1
for i in 0..64 { acc = acc * x[i] }
output acc to q
"""

DOT_1000 = """
party p
party q
input x: secret fixed[1000] from p
input y: secret fixed[1000] from q
output s = sum(x * y) to p
"""

LOOP_DOT = """
party p
party q
input x: secret int[50] from p
input y: secret int[50] from q
var acc: secret int = 0
for i in 0..50 { acc = acc + x[i] * y[i] }
output acc to p
"""


def rep3_rounds(src: str, level: int) -> int:
    from veil.compiler import compile_source

    c = compile_source(src, backend="rep3", optimize_level=level)
    return report.build(c.executable, backend="rep3")["rounds_by_phase"]["compute"]


def test_product_of_64_secret_ints_takes_6_rounds_instead_of_63() -> None:
    naive = compile_text(PRODUCT_64, level=0)
    best = compile_text(PRODUCT_64, level=2)
    assert measure(naive.circuit).depth == 63
    assert measure(best.circuit).depth == 6
    assert measure(best.circuit).multiplications == 63  # same work, shallower
    assert rep3_rounds(PRODUCT_64, 0) == 63 and rep3_rounds(PRODUCT_64, 2) == 6
    x = np.arange(1, 65) * 7 - 200
    assert np.array_equal(run_circuit(naive.circuit, {"x": x})["acc"],
                          run_circuit(best.circuit, {"x": x})["acc"])


def test_sum_of_products_is_one_reshare_instead_of_1000() -> None:
    naive = compile_text(DOT_1000, level=1)
    best = compile_text(DOT_1000, level=2)
    assert measure(naive.circuit).multiplications == 1000
    assert measure(best.circuit).multiplications == 1
    ops = [n.op for n in best.circuit.nodes]
    assert ops.count("matmul") == 1 and ops.count("trunc") == 1  # truncated once
    rng = np.random.default_rng(0)
    vals = {"x": rng.uniform(-1, 1, 1000), "y": rng.uniform(-1, 1, 1000)}
    exact = float(vals["x"] @ vals["y"])
    fused = float(run_circuit(best.circuit, vals)["s"])
    unfused = float(run_circuit(naive.circuit, vals)["s"])
    assert abs(fused - exact) <= abs(unfused - exact) + 2**-16  # one rounding, not 1000


def test_loop_accumulation_fuses_into_one_dot_product() -> None:
    naive = compile_text(LOOP_DOT, level=1)
    best = compile_text(LOOP_DOT, level=2)
    assert measure(naive.circuit).multiplications == 50
    assert measure(best.circuit).multiplications == 1
    x, y = np.arange(50) - 20, np.arange(50) * 3 - 7
    assert int(run_circuit(best.circuit, {"x": x, "y": y})["acc"]) == int(x @ y)


def test_multiplication_by_public_whole_number_is_free() -> None:
    src = """
party p
input x: secret fixed[10] from p
output y = x * 3.0 + x * 0.5 to p
"""
    naive = compile_text(src, level=1)
    best = compile_text(src, level=2)
    truncs = lambda c: sum(n.op == "trunc" and n.type.is_secret for n in c.circuit.nodes)  # noqa: E731
    assert truncs(naive) == 2 and truncs(best) == 1  # only the 0.5 needs one
    vals = {"x": np.linspace(-5, 5, 10)}
    assert np.array_equal(run_circuit(naive.circuit, vals)["y"],
                          run_circuit(best.circuit, vals)["y"])


def test_boolean_chains_rebalance() -> None:
    src = """
party p
input f: secret bool[32] from p
var all_: secret bool = true
var any_: secret bool = false
for i in 0..32 { all_ = all_ and f[i]
    any_ = any_ or f[i] }
output all_ to p
output any_ to p
"""
    # the first step combines the public start value: free
    assert measure(compile_text(src, level=1).circuit).depth == 31
    assert measure(compile_text(src, level=2).circuit).depth == 5  # 32 secret leaves


@st.composite
def int_program(draw) -> str:
    n = draw(st.integers(3, 12))
    body = ["party p", "party q", f"input x: secret int[{n}] from p",
            f"input y: secret int[{n}] from q", "var s: secret int = 0",
            "var m: secret int = 1"]
    for i in range(n):
        term = draw(st.sampled_from([f"x[{i}] * y[{i}]", f"x[{i}]", f"y[{i}] * 3",
                                     f"x[{i}] * x[{i}]"]))
        body.append(f"s = s + {term}")
        if draw(st.booleans()):
            body.append(f"m = m * {draw(st.sampled_from([f'x[{i}]', f'y[{i}]', '2']))}")
    body += ["output s to p", "output m to q", "output t = sum(x * y) + s to q"]
    return "\n".join(body)


@settings(max_examples=40, deadline=None)
@given(int_program(), st.integers(0, 2**32))
def test_every_pass_is_exact_on_int_programs(src: str, seed: int) -> None:
    compiled = compile_text(src, level=0)
    n = compiled.circuit.inputs[0].type.shape[0]
    rng = np.random.default_rng(seed)
    vals = {"x": rng.integers(-2**40, 2**40, n), "y": rng.integers(-2**40, 2**40, n)}
    reference = run_circuit(compiled.circuit, vals)
    for name in PASSES:
        alone, _ = optimize(compiled.circuit, passes=(name,), verify=verify)
        got = run_circuit(alone, vals)
        for out in reference:
            assert np.array_equal(got[out], reference[out]), (name, out)
    full, _ = optimize(compiled.circuit, level=2, verify=verify)
    got = run_circuit(full, vals)
    for out in reference:
        assert np.array_equal(got[out], reference[out]), ("-O2", out)


def test_comparisons_of_the_same_difference_share_their_local_work() -> None:
    """x < y and x == y both need the bits of c0 + c1 of x - y (`a2b_pair`): after CSE
    at the protocol level the difference is taken and server 0's message sent once, and
    each comparison adds only its own slicing of c2 (or −c2) and its own AND gates."""
    from veil.compiler import compile_source

    both = """
party p
input x: secret int[8] from p
input y: secret int[8] from p
output lt = x < y to p
output eq = x == y to p
"""
    only_lt = both.replace("output eq = x == y to p\n", "")
    only_eq = both.replace("output lt = x < y to p\n", "")
    circuits = {k: compile_source(s, backend="rep3").executable
                for k, s in (("both", both), ("lt", only_lt), ("eq", only_eq))}
    ands = {k: measure(c).and_gates for k, c in circuits.items()}
    assert ands == {"both": 8 * (181 + 63), "lt": 8 * 181, "eq": 8 * 63}
    slices = {k: sum(n.op == "bitslice" for n in c.nodes) for k, c in circuits.items()}
    assert slices == {"both": 2, "lt": 1, "eq": 1}
    pairs = {k: sum(n.op == "a2b_pair" for n in c.nodes) for k, c in circuits.items()}
    assert pairs == {"both": 1, "lt": 1, "eq": 1}


def test_schedule_puts_every_interactive_op_in_its_earliest_round() -> None:
    """Round merging: independent work shares a round, nothing waits longer than its
    operands require, and each round is one message per server."""
    from veil.compiler import compile_source
    from veil.schedule import is_interactive, schedule

    src = """
party p
input a: secret int[4] from p
input b: secret int[4] from p
input c: secret int[4] from p
let ab = a * b
let bc = b * c
output o = ab * bc + a * c to p
output q = sum(a < c) to p
"""
    circuit = compile_source(src, backend="rep3").executable
    sched = schedule(circuit)
    for node in circuit.nodes:
        earliest = max((sched.level[a] for a in node.args), default=0)
        step = 1 if is_interactive(node, circuit) else 0
        assert sched.level[node.id] == earliest + step
    first = {circuit.node(n).op for n in sched.rounds[0].nodes}
    assert "mul" in first and "a2b_pair" in first  # products and the comparison's first step
    assert all(r.bytes_sent(0) > 0 for r in sched.rounds)  # server 0: one message a round
