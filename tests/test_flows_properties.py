"""Property tests of provenance against the plain backend, on random programs.

- Sound: an output element never changes when only rows outside its record set change
  (and only elements of other inputs outside its set), whatever the ops (subtraction,
  comparisons, secret selects, masks, slices, products, sums).
- Tight where it claims aggregation: an element whose record set has k rows, the least
  of its output (its min_records), changes when those k rows change. Checked on
  programs without cancellation (positive coefficients, positive inputs), where every
  row an element structurally combines really moves it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from helpers import compile_text, run_circuit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.analysis import flows, provenance


class Gen:
    """Random well-typed Veil expressions over `x: int[R, F]` (records) and `w: int[F]`."""

    def __init__(self, draw: Any, rows: int, cols: int, general: bool):
        self.draw, self.rows, self.cols, self.general = draw, rows, cols, general

    def pick(self, options: list[str]) -> str:
        return self.draw(st.sampled_from(options))

    def int_(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def mask(self) -> str:
        values = self.draw(st.lists(st.integers(0, 2), min_size=self.rows, max_size=self.rows))
        return "[" + ", ".join(map(str, values)) + "]"

    def vec(self, depth: int) -> str:
        r, j = self.rows, self.int_(0, self.cols - 1)
        leaves = [f"x[.., {j}]", "(x @ w)", "sum(x, 1)"]
        if depth == 0:
            return self.pick(leaves)
        kinds = ["leaf", "add", "mul", "mask", "select_pub", "scale", "reverse"]
        if self.general:
            kinds += ["sub", "neg", "select_secret"]
        kind = self.pick(kinds)
        a = self.vec(depth - 1)
        if kind == "leaf":
            return self.pick(leaves)
        if kind == "add":
            return f"({a} + {self.vec(depth - 1)})"
        if kind == "mul":
            return f"({a} * {self.vec(depth - 1)})"
        if kind == "mask":
            return f"({a} * {self.mask()})"
        if kind == "select_pub":
            return f"select({self.mask()} > 0, {a}, {self.vec(depth - 1)})"
        if kind == "scale":
            return f"({a} * {self.sca(depth - 1)})"
        if kind == "reverse":  # an array literal of constant indices
            return "[" + ", ".join(f"{a}[{i}]" for i in reversed(range(r))) + "]"
        if kind == "sub":
            return f"({a} - {self.vec(depth - 1)})"
        if kind == "neg":
            return f"(-{a})"
        b = self.vec(depth - 1)
        return f"select({a} > {b}, {a}, {b})"

    def sca(self, depth: int) -> str:
        i, j = self.int_(0, self.rows - 1), self.int_(0, self.cols - 1)
        leaves = [f"x[{i}, {j}]", f"w[{j}]"]
        if depth == 0:
            return self.pick(leaves)
        kinds = ["leaf", "sum", "slice_sum", "index", "add", "mul", "masked_sum", "sum_all"]
        if self.general:
            kinds += ["sub", "select_secret"]
        kind = self.pick(kinds)
        if kind == "leaf":
            return self.pick(leaves)
        if kind == "sum":
            return f"sum({self.vec(depth - 1)})"
        if kind == "slice_sum":
            lo = self.int_(0, self.rows - 1)
            hi = self.int_(lo + 1, self.rows)
            return f"sum({self.vec(depth - 1)}[{lo}..{hi}])"
        if kind == "index":
            return f"{self.vec(depth - 1)}[{i}]"
        if kind == "masked_sum":
            return f"sum({self.vec(depth - 1)} * {self.mask()})"
        if kind == "sum_all":
            return "sum(x)"
        a, b = self.sca(depth - 1), self.sca(depth - 1)
        if kind == "add":
            return f"({a} + {b})"
        if kind == "mul":
            return f"({a} * {b})"
        if kind == "sub":
            return f"({a} - {b})"
        return f"select({a} > {b}, {a}, {b})"


@st.composite
def programs(draw: Any, general: bool) -> tuple[str, int, int, int]:
    rows, cols = draw(st.integers(3, 6)), draw(st.integers(1, 3))
    gen = Gen(draw, rows, cols, general)
    vec, sca = gen.vec(draw(st.integers(0, 3))), gen.sca(draw(st.integers(0, 3)))
    src = (f"party p\nparty q\ninput x: secret int[{rows}, {cols}] from p\n"
           f"input w: secret int[{cols}] from q\n"
           f"output v = {vec} to q\noutput s = {sca} to q\n")
    return src, rows, cols, draw(st.integers(0, 2**32 - 1))


def evaluate(circuit, x: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    out = run_circuit(circuit, {"x": x, "w": w})
    return {k: np.asarray(v).reshape(-1) for k, v in out.items()}


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs(general=True), st.sampled_from([0, 2]))
def test_elements_never_depend_on_rows_outside_their_set(case, level: int) -> None:
    src, rows, cols, seed = case
    rng = np.random.default_rng(seed)
    circuit = compile_text(src, level=level).circuit
    prov = provenance.run(circuit)
    x = rng.integers(-50, 50, size=(rows, cols))
    w = rng.integers(-50, 50, size=cols)
    base = evaluate(circuit, x, w)
    for out in circuit.outputs:
        x_sets = prov.record_sets(out.name, "x")
        w_sets = prov.record_sets(out.name, "w")
        for e, (xs, ws) in enumerate(zip(x_sets, w_sets, strict=True)):
            x2, w2 = rng.integers(-50, 50, size=(rows, cols)), rng.integers(-50, 50, size=cols)
            x2[xs], w2[ws] = x[xs], w[ws]  # keep what the element may depend on
            assert evaluate(circuit, x2, w2)[out.name][e] == base[out.name][e], \
                f"{out.name}[{e}] changed with rows outside {xs.tolist()}:\n{src}"


@SETTINGS
@given(programs(general=False), st.sampled_from([0, 2]))
def test_an_element_with_min_records_k_changes_with_its_k_rows(case, level: int) -> None:
    src, rows, cols, seed = case
    rng = np.random.default_rng(seed)
    circuit = compile_text(src, level=level).circuit
    prov = provenance.run(circuit)
    reported = {f.output: f.min_records for f in flows.run(circuit, {"x": True}, prov)}
    x = rng.integers(1, 4, size=(rows, cols))
    w = rng.integers(1, 4, size=cols)
    base = evaluate(circuit, x, w)
    for out in circuit.outputs:
        sets = prov.record_sets(out.name, "x")
        sizes = [len(s) for s in sets]
        if not any(sizes):
            assert reported[out.name] is None
            continue
        k = min(n for n in sizes if n)
        assert reported[out.name] == k
        e = sizes.index(k)
        x2 = x.copy()
        x2[sets[e]] += rng.integers(1, 4, size=(k, cols))
        assert evaluate(circuit, x2, w)[out.name][e] != base[out.name][e], \
            f"{out.name}[{e}] did not change with its {k} rows {sets[e].tolist()}:\n{src}"
