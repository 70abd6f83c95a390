"""Positive checker tests: the types the checker infers, and programs it must accept.

The errors it must report are in tests/errors (golden tests, tests/test_checker_errors.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from veil.diagnostics import VeilError
from veil.lang.checker import CheckedProgram, check
from veil.lang.modules import ModuleLoader
from veil.lang.parser import parse
from veil.types import FIXED, INT, PUBLIC, SECRET, VType

PRELUDE = """
party p
party q
input sf: secret fixed from p
input si: secret int from p
input sb: secret bool from p
input v3: secret fixed[3] from p
input m23: secret fixed[2, 3] from p
input m34: secret fixed[3, 4] from p
input col: secret fixed[2, 1] from p
input bv: secret bool[3] from p
input iv: secret int[3] from q
param pf: public fixed = 1.5
param pi: public int = 2
const N = 3
"""


def check_src(text: str, params: dict[str, str] | None = None) -> CheckedProgram:
    loader = ModuleLoader(None)
    module = parse(text, "t.mpc", loader.sources)
    return check(module, loader, params)


def type_of(expression: str, extra: str = "") -> str:
    """The type of `expression` in a program with the inputs and params of PRELUDE."""
    program = check_src(f"{PRELUDE}{extra}\nlet r = {expression}\n")
    return str(program.globals.names["r"].type)


@pytest.mark.parametrize(("expression", "expected"), [
    # literals, params and constants are public
    ("1", "public int"),
    ("2.5", "public fixed"),
    ("true", "public bool"),
    ("pi", "public int"),
    ("pf", "public fixed"),
    ("N * 2", "public int"),
    ("[1, 2.5]", "public fixed[2]"),
    ("[[1, 2], [3, 4]]", "public int[2, 2]"),
    ("[sf, 1.0]", "secret fixed[2]"),
    # int and fixed mix to fixed; public flows into secret
    ("1 + 2", "public int"),
    ("1 + 2.0", "public fixed"),
    ("pi * pf", "public fixed"),
    ("si + 1", "secret int"),
    ("si + 1.5", "secret fixed"),
    ("sf + pf", "secret fixed"),
    ("si - iv", "secret int[3]"),
    ("-v3", "secret fixed[3]"),
    ("si / 2", "secret fixed"),
    ("pi / 2", "public fixed"),
    # broadcasting as in NumPy
    ("v3 + 1.0", "secret fixed[3]"),
    ("m23 + v3", "secret fixed[2, 3]"),
    ("m23 * col", "secret fixed[2, 3]"),
    ("col + v3", "secret fixed[2, 3]"),
    ("iv * v3", "secret fixed[3]"),
    # comparisons and logic give bool
    ("sf > 0.5", "secret bool"),
    ("v3 >= pf", "secret bool[3]"),
    ("pi == 2", "public bool"),
    ("sb != true", "secret bool"),
    ("bv and sb", "secret bool[3]"),
    ("not sb", "secret bool"),
    ("pi < 3 or pf > 1.0", "public bool"),
    # `@` shapes
    ("v3 @ v3", "secret fixed"),
    ("m23 @ v3", "secret fixed[2]"),
    ("v3 @ m34", "secret fixed[4]"),
    ("m23 @ m34", "secret fixed[2, 4]"),
    ("-m23 @ m34", "secret fixed[2, 4]"),
    ("iv @ iv", "secret int"),
    ("dot(v3, v3)", "secret fixed"),
    # reductions: a bool counts as 0/1 in `sum`
    ("sum(bv)", "secret int"),
    ("sum(v3)", "secret fixed"),
    ("sum(iv)", "secret int"),
    ("sum(m23, 0)", "secret fixed[3]"),
    ("sum(m23, 1)", "secret fixed[2]"),
    ("prod(iv)", "secret int"),
    ("max(v3)", "secret fixed"),
    ("min(sf, 1)", "secret fixed"),
    ("max(v3, pf)", "secret fixed[3]"),
    ("argmax(v3)", "secret int"),
    ("abs(si)", "secret int"),
    # select joins the labels of all three operands
    ("select(sb, 1, 2.5)", "secret fixed"),
    ("select(pi > 1, sf, 0.0)", "secret fixed"),
    ("select(true, 1, 2)", "public int"),
    ("select(bv, v3, 0.0)", "secret fixed[3]"),
    ("select(sb, true, false)", "secret bool"),
    # conversions and shapes
    ("to_int(sf)", "secret int"),
    ("to_fixed(sb)", "secret fixed"),
    ("to_fixed(bv)", "secret fixed[3]"),
    ("len(m23)", "public int"),
    ("size(m23)", "public int"),
    ("reshape(m23, 3, 2)", "secret fixed[3, 2]"),
    ("reshape(m23, size(m23))", "secret fixed[6]"),
    ("transpose(m23)", "secret fixed[3, 2]"),
    # indexing and slicing with public indices
    ("m23[1]", "secret fixed[3]"),
    ("m23[0, 1]", "secret fixed"),
    ("m23[.., 1..3]", "secret fixed[2, 2]"),
    ("v3[1..]", "secret fixed[2]"),
    ("v3[..N - 1]", "secret fixed[2]"),
    ("v3[-1]", "secret fixed"),
    ("v3[pi]", "secret fixed"),
])  # fmt: skip
def test_inferred_type(expression: str, expected: str) -> None:
    assert type_of(expression) == expected


def test_declared_types_accept_public_and_int_values() -> None:
    program = check_src(PRELUDE + """
        let a: secret fixed = 1
        var b: secret fixed[3] = 0
        var c: secret int[2, 3] = [1, 2, 3]
        b = v3 * 2
        b[0] = pi
    """)
    names = program.globals.names
    assert names["a"].type == VType(SECRET, FIXED)
    assert names["b"].type == VType(SECRET, FIXED, (3,))
    assert names["c"].type == VType(SECRET, INT, (2, 3))
    assert names["b"].kind == "var" and names["a"].kind == "let"


def test_public_argument_for_secret_parameter() -> None:
    program = check_src(PRELUDE + """
        fn twice(x: secret fixed) -> secret fixed { return x * 2.0 }
        let r = twice(1.0)
    """)
    assert program.globals.names["r"].type == VType(SECRET, FIXED)


def test_program_summary() -> None:
    program = check_src(PRELUDE + """
        output total = sum(v3) to p, q
        output sb to q
    """)
    assert program.parties == ["p", "q"]
    assert [(i.name, i.owner) for i in program.inputs][:2] == [("sf", "p"), ("si", "p")]
    assert program.outputs["total"] == (VType(SECRET, FIXED), ("p", "q"))
    assert program.outputs["sb"] == (VType(SECRET, "bool"), ("q",))
    assert program.params["pi"] == (VType(PUBLIC, INT), 2)
    assert program.warnings == []


# ---------------------------------------------------------------- params


SIZED = """
party p
param n: public int = 3
param rate: public fixed = 0.5
param weights: public fixed[2] = [0.25, 0.75]
input x: secret fixed[n] from p
output y = sum(x) * rate to p
"""


def test_param_defaults() -> None:
    program = check_src(SIZED)
    assert program.inputs[0].type.shape == (3,)
    assert program.params["rate"] == (VType(PUBLIC, FIXED), 0.5)


def test_param_overrides_change_values_and_shapes() -> None:
    program = check_src(SIZED, {"n": "7", "rate": "2", "weights": "[1, 2.5]"})
    assert program.inputs[0].type == VType(SECRET, FIXED, (7,))
    t, v = program.params["rate"]
    # An int is accepted for a fixed param and stored as fixed.
    assert t == VType(PUBLIC, FIXED) and v == 2.0 and isinstance(v, float)
    t, v = program.params["weights"]
    assert t.shape == (2,)
    np.testing.assert_array_equal(v, [1.0, 2.5])


@pytest.mark.parametrize("overrides", [{"n": "2.5"}, {"nope": "1"}, {"weights": "[1, 2, 3]"}])
def test_bad_param_overrides(overrides: dict[str, str]) -> None:
    with pytest.raises(VeilError) as info:
        check_src(SIZED, overrides)
    assert [d.code for d in info.value.diagnostics] == ["V0708"]


def test_const_expressions_give_shapes() -> None:
    program = check_src(PRELUDE + """
        const M = N * 2 + 1
        input z: secret fixed[M, N] from p
    """)
    assert program.inputs[-1].type == VType(SECRET, FIXED, (7, 3))


# ---------------------------------------------------------------- functions and modules


def test_generic_function_instantiated_at_several_shapes() -> None:
    program = check_src(PRELUDE + """
        fn scale(x: fixed[..], k: public fixed) -> fixed[..] {
            let y = x * k
            return y
        }
        let a = scale(v3, 2.0)
        let b = scale(m23, pf)
        let c = scale(pf, 2.0)
        let d = scale(iv, 2.0)
    """)
    names = program.globals.names
    assert names["a"].type == VType(SECRET, FIXED, (3,))
    assert names["b"].type == VType(SECRET, FIXED, (2, 3))
    # A parameter without a label takes the argument's.
    assert names["c"].type == VType(PUBLIC, FIXED)
    # An int argument is accepted for a fixed parameter.
    assert names["d"].type == VType(SECRET, FIXED, (3,))


def test_shapes_of_parameters_may_use_constants() -> None:
    program = check_src(PRELUDE + """
        fn row_sums(m: secret fixed[2, N]) -> secret fixed[2] { return sum(m, 1) }
        let r = row_sums(m23)
    """)
    assert program.globals.names["r"].type == VType(SECRET, FIXED, (2,))


def test_module_use() -> None:
    program = check_src(PRELUDE + """
        use ml
        use stats
        let s = ml.sigmoid(v3)
        let r = ml.relu(m23)
        let g = ml.logistic(m23, v3, sf)
        let m = stats.mean(v3)
        let p1 = ml.sigmoid(pf)
    """)
    names = program.globals.names
    assert names["s"].type == VType(SECRET, FIXED, (3,))
    assert names["r"].type == VType(SECRET, FIXED, (2, 3))
    assert names["g"].type == VType(SECRET, FIXED, (2,))
    assert names["m"].type == VType(SECRET, FIXED)
    assert names["p1"].type == VType(PUBLIC, FIXED)
    assert names["ml"].kind == "module"


def test_the_design_example_checks() -> None:
    program = check_src("""
        party eu_bank
        party cn_bank
        party regulator
        const N = 10
        const F = 4
        input weights:    secret fixed[F]    from eu_bank
        input bias:       secret fixed       from eu_bank
        input applicants: secret fixed[N, F] from cn_bank
        param cutoff:     public fixed = 0.5
        use ml
        fn score(x: secret fixed[N, F], w: secret fixed[F], b: secret fixed) -> secret fixed[N] {
            return ml.sigmoid(x @ w + b)
        }
        let approved = score(applicants, weights, bias) > cutoff
        output approved to cn_bank
        output approvals = sum(approved) to regulator, eu_bank
    """)
    assert program.outputs["approved"][0] == VType(SECRET, "bool", (10,))
    assert program.outputs["approvals"][0] == VType(SECRET, INT)


# ---------------------------------------------------------------- control flow


def test_secret_if_that_only_assigns_is_accepted() -> None:
    program = check_src(PRELUDE + """
        var y: secret fixed = 0.0
        var hits: secret int[3] = 0
        if sf > 0.0 {
            y = sf
        } else if sb {
            let t = sf * 2.0
            y = t
        } else {
            y = -sf
        }
        for i in 0..3 {
            if v3[i] > pf {
                hits[i] = hits[i] + 1
                for j in 0..2 {
                    y = y + 1.0
                }
            }
        }
        output y to p
        output hits to q
    """)
    assert program.outputs["y"][0] == VType(SECRET, FIXED)
    assert program.outputs["hits"][0] == VType(SECRET, INT, (3,))


def test_public_control_flow() -> None:
    program = check_src(PRELUDE + """
        fn count_to(n: public int) -> public int {
            var i = 0
            while i < n {
                i = i + 1
            }
            return i
        }
        var total = 0
        for i in 0..pi {
            if i != 1 {
                total = total + i
            }
        }
        let c = count_to(4)
    """)
    assert program.globals.names["total"].type == VType(PUBLIC, INT)
    assert program.globals.names["c"].type == VType(PUBLIC, INT)


def test_secret_index_replaced_by_a_scan() -> None:
    """What the V0403 help suggests instead of `table[choice]` is accepted."""
    program = check_src(PRELUDE + """
        var price: secret fixed = 0.0
        for j in 0..3 {
            if si == j {
                price = v3[j]
            }
        }
        output price to q
    """)
    assert program.outputs["price"][0] == VType(SECRET, FIXED)
