"""Input files are validated completely before anything runs; each problem names the
file, the field and what was expected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from veil.compiler import compile_source
from veil.diagnostics import VeilError
from veil.io.inputs import load_inputs

SRC = """
party owner
party other
party reader
input m: secret fixed[3, 2] from owner
input v: secret int[3] from owner
input flag: secret bool from other
output o = sum(m) + to_fixed(sum(v)) + to_fixed(flag) to reader
"""


@pytest.fixture
def circuit():
    return compile_source(SRC).circuit


def write(d: Path, name: str, data) -> None:
    (d / name).write_text(data if isinstance(data, str) else json.dumps(data))


def codes(exc: VeilError) -> list[str]:
    return [d.code for d in exc.diagnostics]


def good(d: Path) -> None:
    write(d, "owner.json", {"m": [[1, 2], [3, 4.5], [-1, 0]], "v": [1, 2, 3]})
    write(d, "other.json", {"flag": True})


def test_valid_inputs_are_encoded(tmp_path: Path, circuit) -> None:
    good(tmp_path)
    values = load_inputs(circuit, tmp_path)
    assert values["m"].dtype == np.uint64 and values["m"].shape == (3, 2)
    assert values["m"][1, 1] == 4.5 * 2**16
    assert values["v"].tolist() == [1, 2, 3]
    assert bool(values["flag"]) is True


def test_csv_path_relative_to_json_with_header(tmp_path: Path, circuit) -> None:
    good(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (tmp_path / "data" / "v.csv").write_text("7\n8\n9\n")
    write(tmp_path, "owner.json", {"m": "data/m.csv", "v": "data/v.csv"})
    values = load_inputs(circuit, tmp_path)
    assert (values["m"].view(np.int64) >> 16).tolist() == [[1, 2], [3, 4], [5, 6]]
    assert values["v"].tolist() == [7, 8, 9]


@pytest.mark.parametrize(("owner", "other", "code", "needle"), [
    ({"m": [[1, 2], [3, 4], [5, 6]]}, {"flag": True}, "V0701", "field `v` is missing"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2, 3], "w": 1}, {"flag": True}, "V0702",
     "unknown field `w`"),
    ({"m": [[1, 2], [3, 4]], "v": [1, 2, 3]}, {"flag": True}, "V0703",
     "expected shape [3, 2] (fixed), got shape [2, 2]"),
    ({"m": [[1, 2], [3], [5, 6]], "v": [1, 2, 3]}, {"flag": True}, "V0703",
     "rows of different lengths"),
    ({"m": [[1, 2], [3, "x"], [5, 6]], "v": [1, 2, 3]}, {"flag": True}, "V0704",
     "field `m`[1][1] is not a number"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2.5, 3]}, {"flag": True}, "V0704",
     "field `v`[1] is not an integer"),
    ({"m": [[1, 2], [3, 4], [5, 3e10]], "v": [1, 2, 3]}, {"flag": True}, "V0705",
     "outside the fixed-point range"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2, 2**64]}, {"flag": True}, "V0705",
     "does not fit in a signed 64-bit int"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2, 3]}, {"flag": 7}, "V0704", "is not a bool"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2, 3]}, [1], "V0707", "expected a JSON object"),
])
def test_each_problem_names_file_field_and_expectation(tmp_path, circuit, owner, other, code,
                                                        needle) -> None:
    write(tmp_path, "owner.json", owner)
    write(tmp_path, "other.json", other)
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path)
    assert code in codes(info.value)
    text = info.value.render()
    assert needle in text, text
    assert ".json" in text


def test_missing_file_and_file_of_party_without_inputs(tmp_path: Path, circuit) -> None:
    write(tmp_path, "owner.json", {"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2, 3]})
    write(tmp_path, "reader.json", {})
    write(tmp_path, "stranger.json", {})
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path)
    text = info.value.render()
    assert codes(info.value).count("V0706") == 2 and "V0701" in codes(info.value)
    assert "missing input file of party `other`" in text
    assert "party `reader` owns no input" in text
    assert "`stranger` is not a party" in text


def test_all_problems_reported_together(tmp_path: Path, circuit) -> None:
    write(tmp_path, "owner.json", {"m": [[1, 2]], "v": ["a", 2, 3]})
    write(tmp_path, "other.json", "{not json")
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path)
    assert sorted(codes(info.value)) == ["V0703", "V0704", "V0707"]
    assert "other.json:1:2: invalid JSON" in info.value.render()


def test_missing_csv_and_missing_directory(tmp_path: Path, circuit) -> None:
    good(tmp_path)
    write(tmp_path, "owner.json", {"m": "nope.csv", "v": [1, 2, 3]})
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path)
    assert "nope.csv" in info.value.render() and codes(info.value) == ["V0707"]
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path / "absent")
    assert codes(info.value) == ["V0701"]


# ---------------------------------------------------------------- vectorized loading


def test_errors_name_field_and_index_never_the_secret_value(tmp_path: Path, circuit) -> None:
    write(tmp_path, "owner.json", {"m": [[1, 2], [3, "secret-73519"], [5, 4.4e10]],
                                   "v": [1, 2.125, 91234567890123456789012]})
    write(tmp_path, "other.json", {"flag": 7})
    (tmp_path / "v.csv").write_text("1\n8.5\n")
    with pytest.raises(VeilError) as info:
        load_inputs(circuit, tmp_path)
    text = info.value.render()
    for secret in ("73519", "4.4e", "44000000000", "2.125", "9123456789", "7 "):
        assert secret not in text, text
    assert "field `m`[1][1]" in text and "field `m`[2][1]" in text
    assert "field `v`[1]" in text and "field `v`[2]" in text and "field `flag`" in text


def test_csv_keeps_full_int64_and_float64_precision(tmp_path: Path) -> None:
    src = ("party p\ninput a: secret int[4] from p\ninput x: secret fixed[3, 2] from p\n"
           "output o = sum(a) to p\noutput y = sum(x) to p\n")
    c = compile_source(src).circuit
    (tmp_path / "a.csv").write_text(
        "9223372036854775807\n-9223372036854775808\n 9007199254740993 \n+1\n")
    (tmp_path / "x.csv").write_text("x,y\n\n0.1,-1073741823.99\n1e-5,3\n2,  -0.0\n")
    write(tmp_path, "p.json", {"a": "a.csv", "x": "x.csv"})
    values = load_inputs(c, tmp_path)
    assert values["a"].view(np.int64).tolist() == [2**63 - 1, -2**63, 9007199254740993, 1]
    expected = np.rint(np.array([[0.1, -1073741823.99], [1e-5, 3], [2, -0.0]]) * 2**16)
    assert values["x"].view(np.int64).tolist() == expected.astype(np.int64).tolist()


def _exact_only(monkeypatch) -> None:
    """Make every field take the element-by-element path."""
    from veil.io import inputs, values
    monkeypatch.setattr(inputs, "from_array", lambda arr, spec, frac_bits=16: None)
    monkeypatch.setattr(values, "from_array", lambda arr, spec, frac_bits=16: None)


def _outcome(directory: Path, circuit) -> tuple:
    try:
        got = load_inputs(circuit, directory)
    except VeilError as exc:
        return ("error", tuple((d.code, d.message) for d in exc.diagnostics))
    return ("ok", tuple((k, v.dtype.str, v.tolist()) for k, v in sorted(got.items())))


ELEMENTS = [0, 1, -1, 7, 2.5, -0.5, 1e300, 2**30, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -2**63,
            True, False, "3", " 4 ", "x", "true", "0x1", None, float("nan"), 1.0, 0.0]


def test_fast_path_agrees_with_exact_path(tmp_path: Path, monkeypatch) -> None:
    """Inline JSON and CSV files, valid and invalid: the vectorized loading gives the
    same values, or the same diagnostics, as the element-by-element path."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    src = ("party p\ninput i: secret int[2, 3] from p\ninput f: secret fixed[3] from p\n"
           "input b: secret bool[2, 3] from p\noutput o = sum(i) to p\noutput g = sum(f) to p\n"
           "output c = b to p\n")
    circuit = compile_source(src).circuit
    anything = st.sampled_from(ELEMENTS) | st.integers(-2**64, 2**64) | \
        st.floats(allow_nan=False, width=64)
    ints = st.integers(-2**63, 2**63 - 1) | st.integers(-3, 3).map(float)
    fixed = st.floats(-2.0**30 + 1, 2.0**30 - 1) | st.integers(-2**30 + 1, 2**30 - 1)
    bools = st.sampled_from([True, False, 0, 1, 0.0, 1.0])

    def grid(elem, rows: int, cols: int):
        return st.lists(st.lists(elem, min_size=cols, max_size=cols), min_size=rows,
                        max_size=rows)

    counter = iter(range(10**9))

    @settings(max_examples=80, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(i=grid(ints, 2, 3) | grid(anything, 2, 3) | grid(ints, 1, 3),
           f=st.lists(fixed, min_size=3, max_size=3) | st.lists(anything, min_size=3,
                                                                  max_size=3),
           b=grid(bools, 2, 3) | grid(anything, 2, 3), as_csv=st.booleans())
    def check(i, f, b, as_csv):
        d = tmp_path / f"case{next(counter)}"
        d.mkdir()
        data = {"i": i, "f": f, "b": b}
        if as_csv:
            for name in ("i", "b"):
                (d / f"{name}.csv").write_text(
                    "\n".join(",".join(_csv_text(v) for v in row) for row in data[name]) + "\n")
                data[name] = f"{name}.csv"
        (d / "p.json").write_text(json.dumps(data))
        fast = _outcome(d, circuit)
        with monkeypatch.context() as m:
            _exact_only(m)
            exact = _outcome(d, circuit)
        assert fast == exact

    check()


def _csv_text(v) -> str:
    if isinstance(v, float):
        return repr(v)
    return "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def test_large_csv_and_json_load_vectorized(tmp_path: Path, monkeypatch) -> None:
    """200k values load without the element-by-element path (it is made to fail)."""
    n = 200_000
    src = (f"party p\ninput a: secret int[{n}] from p\ninput x: secret fixed[{n // 4}, 4] "
           f"from p\noutput o = sum(a) to p\noutput y = sum(x) to p\n")
    c = compile_source(src).circuit
    rng = np.random.default_rng(3)
    a = rng.integers(-2**62, 2**62, n)
    x = np.round(rng.normal(0, 100, (n // 4, 4)), 6)
    np.savetxt(tmp_path / "x.csv", x, fmt="%.6f", delimiter=",", header="a,b,c,d",
               comments="")
    write(tmp_path, "p.json", {"a": a.tolist(), "x": "x.csv"})
    from veil.io import inputs, values

    def refuse(*args, **kwargs):
        raise AssertionError("the exact path ran")

    monkeypatch.setattr(inputs, "from_elements", refuse)
    monkeypatch.setattr(values, "from_elements", refuse)
    got = load_inputs(c, tmp_path)
    assert got["a"].view(np.int64).tolist() == a.tolist()
    assert np.array_equal(got["x"].view(np.int64), np.rint(x * 2**16).astype(np.int64))
