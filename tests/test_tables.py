"""Table operations (`sort`, `shuffle`, `isin`, `sum_by`, `concat`) against numpy, on the
plain backend, on the expanded circuit (veil.ir.sorting) in the clear, and on rep3."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rep3_harness import run_threaded

from veil.backend.plain import PlainBackend
from veil.compiler import compile_source
from veil.cost import report
from veil.diagnostics import VeilError
from veil.ir import sorting, sorting_network
from veil.ir.semantics import decode, encode
from veil.ir.verify import verify
from veil.schedule import schedule

PROGRAM = """
party a
party b
party r
input x: secret int[{n}] from a
input v: secret fixed[{n}] from a
input y: secret int[{m}] from b
input w: secret fixed[{m}] from b
output s = sort(x) to r
output by = sort(v, x) to r
output rows = sort(transpose([x, y[0..1] + x]), x) to r
output in_y = isin(x, y) to a
output in_x = isin(y, x) to b
output totals = sum_by(concat(x, y), concat(v, w), [{domain}]) to r
"""
DOMAIN = (-3, 0, 2, 5, 7, 1 << 40)


def program(n: int, m: int) -> str:
    return PROGRAM.format(n=n, m=m, domain=", ".join(map(str, DOMAIN)))


def expected(x: np.ndarray, v: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    order = np.argsort(x, kind="stable")
    keys = np.concatenate([x, y])
    values = np.concatenate([v, weights(y)])
    return {
        "s": np.sort(x),
        "by": v[order],
        "rows": np.stack([x, y[0] + x], axis=1)[order],
        "in_y": np.isin(x, y),
        "in_x": np.isin(y, x),
        "totals": np.array([values[keys == d].sum() for d in DOMAIN]),
    }


def decoded(circuit, raw) -> dict[str, np.ndarray]:
    return {o.name: decode(raw[o.name], o.type.base) for o in circuit.outputs}


def weights(y: np.ndarray) -> np.ndarray:
    """b's fixed values: one per key of y."""
    return np.arange(1, len(y) + 1) * 0.5


def inputs(circuit, x, v, y) -> dict[str, np.ndarray]:
    values = {"x": x, "v": v, "y": y, "w": weights(y)}
    return {s.name: encode(values[s.name], s.type.base) for s in circuit.inputs}


def check(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for name, value in want.items():
        if name in ("by", "totals"):  # fixed point: 2^-16 per input value summed
            assert np.allclose(got[name], value, atol=1e-3 * max(1, len(value))), name
        else:
            assert np.array_equal(got[name], value), name


def sample(rng: np.random.Generator, n: int, m: int):
    pool = np.array([-3, 0, 2, 5, 7, 9, 1 << 40, -(1 << 62), (1 << 62) + 1])
    x = rng.choice(pool, n)  # many ties
    y = rng.choice(pool, m)
    v = np.round(rng.uniform(-100, 100, n), 3)
    return x, v, y


def test_plain_and_expanded_agree_with_numpy() -> None:
    rng = np.random.default_rng(3)
    x, v, y = sample(rng, 9, 5)
    c = compile_source(program(9, 5))
    raw = inputs(c.circuit, x, v, y)
    check(decoded(c.circuit, PlainBackend().run(c.circuit, raw).outputs), expected(x, v, y))
    expanded = sorting.run(c.circuit)
    verify(expanded)
    check(decoded(expanded, PlainBackend().run(expanded, raw).outputs), expected(x, v, y))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32))
def test_expansion_matches_numpy_for_random_tables(n: int, m: int, seed: int) -> None:
    """Ties, negative keys, keys near ±2^62 and single rows: the radix passes, the
    matching scans and the grouped sums computed in the clear equal numpy."""
    rng = np.random.default_rng(seed)
    x, v, y = sample(rng, n, m)
    c = compile_source(program(n, m))
    expanded = sorting.run(c.circuit)
    raw = inputs(expanded, x, v, y)
    check(decoded(expanded, PlainBackend().run(expanded, raw).outputs), expected(x, v, y))


@pytest.mark.parametrize("n, m, seed", [(7, 4, 1), (16, 16, 2), (1, 3, 3)])
def test_rep3_agrees_with_numpy_and_with_the_report(n: int, m: int, seed: int) -> None:
    x, v, y = sample(np.random.default_rng(seed), n, m)
    c = compile_source(program(n, m), backend="rep3")
    run = run_threaded(c.executable, inputs(c.executable, x, v, y), timeout=60)
    check(decoded(c.executable, run.result.outputs), expected(x, v, y))
    predicted = report.build(c.executable, backend="rep3")
    assert run.result.stats["rounds"] == predicted["rounds"]
    assert run.result.stats["bytes_sent"] == predicted["bytes_per_server"]
    assert run.result.stats["messages"] == predicted["messages_per_server"]


def test_sort_of_fixed_values_and_extremes_on_rep3() -> None:
    c = compile_source("""
party a
party r
input f: secret fixed[6] from a
input k: secret int[5] from a
output sf = sort(f) to r
output sk = sort(k) to r
""", backend="rep3")
    f = np.array([3.5, -0.25, 0.0, -1000.125, 3.5, 2.0])
    k = np.array([2**63 - 1, -2**63, 0, -1, 1])
    raw = {"f": encode(f, "fixed"), "k": encode(k, "int")}
    got = decoded(c.executable, run_threaded(c.executable, raw).result.outputs)
    assert np.array_equal(got["sf"], np.sort(f))
    assert np.array_equal(got["sk"], np.sort(k))


def test_shuffle_is_a_permutation_of_its_rows() -> None:
    text = """
party a
party r
input m: secret int[50, 3] from a
output s = shuffle(m) to r
"""
    m = np.arange(150).reshape(50, 3)
    for backend in ("plain", "rep3"):
        c = compile_source(text, backend=backend)
        raw = {"m": encode(m, "int")}
        out = run_threaded(c.executable, raw).result.outputs if backend == "rep3" else \
            PlainBackend().run(c.executable, raw).outputs
        s = decode(out["s"], "int")
        assert sorted(map(tuple, s.tolist())) == sorted(map(tuple, m.tolist())), backend
        assert not np.array_equal(s, m)  # 1/50! to be the identity


def test_shuffles_are_not_merged_and_not_folded() -> None:
    """Two shuffles of one value are two permutations (no common subexpression), and a
    shuffle of public values is drawn at run time, not at compile time."""
    c = compile_source("""
party a
party r
input x: secret int[40] from a
output p = shuffle(x) to r
output q = shuffle(x) to r
output c = shuffle([1, 2, 3, 4, 5, 6, 7, 8]) to r
""", backend="rep3")
    ops = [n.op for n in c.circuit.nodes]
    assert ops.count("shuffle") == 3
    raw = {"x": encode(np.arange(40), "int")}
    out = run_threaded(c.executable, raw).result.outputs
    assert not np.array_equal(out["p"], out["q"])
    assert sorted(decode(out["c"], "int").tolist()) == list(range(1, 9))


def test_sort_by_public_keys_moves_rows_without_a_protocol() -> None:
    c = compile_source("""
party a
party r
input v: secret int[4] from a
output s = sort(v, [3, 1, 2, 1]) to r
""", backend="rep3")
    assert not any(n.op in ("shuffle_step", "reveal") for n in c.executable.nodes)
    out = run_threaded(c.executable, {"v": encode([10, 20, 30, 40], "int")}).result.outputs
    assert decode(out["s"], "int").tolist() == [20, 40, 30, 10]


def test_isin_and_its_swap_share_one_sort() -> None:
    one = compile_source(program(20, 20).replace("output in_x = isin(y, x) to b\n", ""),
                         backend="rep3")
    both = compile_source(program(20, 20), backend="rep3")

    def reveals(c) -> int:
        return sum(1 for n in c.executable.nodes if n.op == "reveal")

    assert reveals(both) == reveals(one)  # the second direction is one more scan only


@pytest.mark.parametrize("source, code", [
    ("let s = sort([true, false])", "V0301"),
    ("input k: secret int[3] from p\nlet s = sum_by(k, k, k)", "V0306"),
    ("input k: secret int[3] from p\nlet s = sum_by(k, k, [1, 2, 1])", "V0330"),
    ("input k: secret int[3] from p\nlet s = sort(k, [1, 2])", "V0302"),
    ("input k: secret int[3] from p\nlet s = isin(k, [1.5])", "V0301"),
    ("let s = concat([1, 2], [true])", "V0301"),
    ("let s = concat([1, 2])", "V0304"),
    ("let s = shuffle(3)", "V0302"),
])
def test_bad_table_calls_are_clear_errors(source: str, code: str) -> None:
    with pytest.raises(VeilError) as info:
        compile_source(f"party p\n{source}\noutput o = 1 to p\n")
    assert code in {d.code for d in info.value.diagnostics}


def test_sum_by_sorts_only_the_bits_of_the_domain_range() -> None:
    """Keys just outside [lo, hi], the extremes of int64 and keys whose difference with
    lo wraps around are merged past the range's end and total for nobody; the sort then
    needs bit_length(hi − lo + 1) bits: 2 passes here instead of 32."""
    text = """
party a
party r
input k: secret int[10] from a
input v: secret int[10] from a
output t = sum_by(k, v, [1000, 1003, 1010]) to r
"""
    keys = np.array([999, 1000, 1003, 1010, 1011, -2**63, 2**63 - 1, 1004, 1000,
                     1000 - 2**63])
    values = np.arange(1, 11)
    want = [2 + 9, 3, 4]
    c = compile_source(text, backend="rep3")
    assert sum(1 for n in c.executable.nodes if n.op == "reveal") == 2 + 1 + 1
    raw = {"k": encode(keys, "int"), "v": encode(values, "int")}
    got = decode(run_threaded(c.executable, raw).result.outputs["t"], "int")
    assert got.tolist() == want
    plain = compile_source(text)
    assert decode(PlainBackend().run(plain.circuit, raw).outputs["t"], "int").tolist() == want
    wide = compile_source(text.replace("1010]", "1010, 4611686018427387904]"), backend="rep3")
    assert sum(1 for n in wide.executable.nodes if n.op == "reveal") == 32 + 1 + 1


def test_the_merging_network_sorts_every_zero_one_input() -> None:
    """The 0-1 principle (Knuth, TAOCP 3, 5.3.4): a comparator network that sorts every
    sequence of 0s and 1s sorts everything. Checked exhaustively up to 12 rows."""
    import itertools

    for n in range(1, 13):
        layers = sorting_network.network_layers(n)
        for layer in layers:  # each layer's comparators touch distinct rows
            assert len({r for pair in layer for r in pair}) == 2 * len(layer)
        for bits in itertools.product((0, 1), repeat=n):
            x = list(bits)
            for layer in layers:
                for i, j in layer:
                    if x[j] < x[i]:
                        x[i], x[j] = x[j], x[i]
            assert x == sorted(x)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-2**20, 2**20), min_size=1, max_size=sorting.NETWORK_MAX_ROWS))
def test_small_fixed_sorts_use_the_network_and_agree_with_numpy(raw: list[int]) -> None:
    x = np.array(raw) / 64.0  # fixed values with ties and signs
    text = f"party a\nparty r\ninput x: secret fixed[{len(x)}] from a\noutput s = sort(x) to r\n"
    c = compile_source(text)
    expanded = sorting.run(c.circuit)
    assert not any(n.op == "shuffle_step" for n in expanded.nodes)  # no radix pass
    got = decoded(expanded, PlainBackend().run(expanded, {"x": encode(x, "fixed")}).outputs)
    assert np.array_equal(got["s"], np.sort(x))


def test_network_sort_on_rep3_takes_fewer_rounds_than_radix() -> None:
    x = np.array([3.5, -2.25, 0.0, 3.5, 7.0, -100.0, 0.5, 2.0, 1e5])
    text = f"party a\nparty r\ninput x: secret fixed[{len(x)}] from a\noutput s = sort(x) to r\n"
    c = compile_source(text, backend="rep3")
    run = run_threaded(c.executable, {"x": encode(x, "fixed")})
    assert np.array_equal(decode(run.result.outputs["s"], "fixed"), np.sort(x))
    ints = compile_source(text.replace("fixed", "int"), backend="rep3")
    assert run.result.stats["rounds"] < report.build(ints.executable, backend="rep3")["rounds"]


def test_deployment_estimate_counts_the_shuffles_messages_to_successors(tmp_path) -> None:
    """A shuffle's last stage sends to the successor too: `veil cost --deployment` lists
    those links, and the per-link bytes add up to what each server sends."""
    from deploy_harness import PARTIES, SERVERS, write_deployment

    from veil.cost import deployment as cost_deployment
    from veil.deploy import deployment, keys

    (tmp_path / "keys").mkdir()
    for name in [*SERVERS, *PARTIES]:
        keys.keygen(name, tmp_path / "keys")
    path = write_deployment(tmp_path, {s: ("127.0.0.1", 7000 + i)
                                       for i, s in enumerate(SERVERS)},
                            links={"s_cn-s_eu": (70.0, 100.0)})
    c = compile_source(program(8, 8).replace("party a\nparty b\nparty r",
                                             "party eu_bank, cn_bank, regulator")
                       .replace("from a", "from eu_bank").replace("from b", "from cn_bank")
                       .replace("to r", "to regulator").replace("to a", "to eu_bank")
                       .replace("to b", "to cn_bank"), backend="rep3")
    data = cost_deployment.section(c.executable, deployment.load(path))
    assert len(data["compute_links"]) == 6  # both directions of every link
    rounds = schedule(c.executable).rounds
    for i, name in enumerate(SERVERS):  # the links carry every compute round's bytes
        sent = sum(ln["bytes"] for ln in data["compute_links"] if ln["from"] == name)
        assert sent == sum(r.bytes_sent(i) for r in rounds) > 0
    assert "in truncations and shuffles to its successor too" in \
        "\n".join(cost_deployment.render(data))


def test_the_circuit_picture_costs_a_table_operation_as_the_report_does() -> None:
    """`veil compile --format dot` lowers each node alone for its rep3 cost; for table
    operations that includes their expansion (and a sum_by domain stays a constant)."""
    import re

    from veil.cost.graph import to_dot
    from veil.cost.report import INTERACTIVE

    for expr in ("isin(x, y)", "sort(x)", "sum_by(x, y, [3, 9, 12])"):
        text = ("party a\ninput x: secret int[6] from a\ninput y: secret int[6] from a\n"
                f"output z = {expr} to a\n")
        compiled = compile_source(text, backend="rep3", optimize_level=0)
        predicted = report.build(compiled.executable, backend="rep3")
        labels = to_dot(compiled.circuit, "rep3")
        costs = [int(v.replace(",", "")) for v in re.findall(r"rep3: ([\d,]+) interactive",
                                                              labels)]
        assert sum(costs) == sum(predicted["ops"].get(c, 0) for c in INTERACTIVE), expr


def test_declared_key_ranges_narrow_sorting_and_matching() -> None:
    """Keys whose inputs declare a range (`in [lo, hi]`, enforced on loading) are sorted
    on the bits of k − lo only: 7 bits (4 passes) for the matching, 6 (3 passes) for
    the sort; a key from an input without a range keeps all 64 bits."""
    text = """
party a
party b
party r
input x: secret int[6] in [100, 160] from a
input y: secret int[5] in [90, 170] from b
input z: secret int[4] from b
output m = isin(x, y) to a
output s = sort(x) to r
output t = sort(concat(x[0..4], z)) to r
"""
    c = compile_source(text, backend="rep3")
    reveals = sum(1 for n in c.executable.nodes if n.op == "reveal")
    assert reveals == (4 + 1) + 3 + 32
    x, y, z = [100, 150, 160, 120, 100, 101], [90, 150, 170, 100, 99], [-5, 2**62, 7, 100]
    raw = {"x": encode(x, "int"), "y": encode(y, "int"), "z": encode(z, "int")}
    out = decoded(c.executable, run_threaded(c.executable, raw).result.outputs)
    assert out["m"].tolist() == np.isin(x, y).tolist()
    assert out["s"].tolist() == sorted(x)
    assert out["t"].tolist() == sorted(x[:4] + z)
