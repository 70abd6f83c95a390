"""Inputs from Python (numbers, lists, numpy, pandas) and from connectors (Parquet, SQL)
follow the rules of input files: same codes, same accepted values, same encoding, and
messages that name the field, row and column but never the value."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.compiler import compile_source
from veil.diagnostics import Diagnostic, VeilError
from veil.io import arrays
from veil.io.inputs import load_party_inputs

SRC = """
party owner
party reader
input m: secret fixed[3, 2] from owner
input v: secret int[3] from owner
input flag: secret bool[3] from owner
input s: secret fixed from owner
output o = sum(m) + to_fixed(sum(v)) + to_fixed(sum(flag)) + s to reader
"""


@pytest.fixture(scope="module")
def circuit():
    return compile_source(SRC).circuit


def spec(circuit, name: str):
    return next(s for s in circuit.inputs if s.name == name)


def convert(circuit, name: str, value):
    problems: list[Diagnostic] = []
    out = arrays.convert(value, spec(circuit, name), f"owner: field `{name}`", problems)
    return out, problems


def codes(problems) -> list[str]:
    return [d.code for d in problems]


def from_file(circuit, tmp_path: Path, name: str, value) -> tuple[np.ndarray | None, list]:
    """The same value through an input file (the other fields valid)."""
    data = {"m": [[0, 0]] * 3, "v": [0, 0, 0], "flag": [True] * 3, "s": 0.0, name: value}
    path = tmp_path / "owner.json"
    path.write_text(json.dumps(data))
    try:
        return load_party_inputs(circuit, "owner", path)[name], []
    except VeilError as exc:
        return None, exc.diagnostics


NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.integers(-5, 5),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(-1e4, 1e4), st.sampled_from([0.5, 2.0**31, -(2.0**31), 2**63,
                                                           -(2**63), 2**63 - 1, 1e19]),
                    st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["v", "flag"]) | st.just("m"), st.lists(NUMBERS, min_size=3,
                                                                 max_size=3))
def test_lists_numpy_and_files_agree(tmp_path_factory, name, row) -> None:
    circuit = compile_source(SRC).circuit
    value = [[row[0], row[1]], [row[2], 0], [0, 1]] if name == "m" else row
    file_value, file_problems = from_file(circuit, tmp_path_factory.mktemp("f"), name, value)
    list_value, list_problems = convert(circuit, name, value)
    assert sorted(set(codes(list_problems))) == sorted(set(codes(file_problems)))
    if file_value is None:
        assert list_value is None
    else:
        assert np.array_equal(list_value, file_value)
    if not any(isinstance(x, bool) for x in row) and not any(isinstance(x, int) and
                                                             abs(x) > 2**62 for x in row):
        as_array = np.array(value, dtype=np.float64)  # numpy's vectorized path
        arr_value, arr_problems = convert(circuit, name, as_array)
        if all(float(x) == x or (isinstance(x, float) and not math.isfinite(x)) for x in row):
            assert sorted(set(codes(arr_problems))) == sorted(set(codes(file_problems)))
            if file_value is not None:
                assert np.array_equal(arr_value, file_value)


def test_values_are_never_echoed(circuit) -> None:
    _, problems = convert(circuit, "m", [[1, 2], [3, 31415926535.0], [5, float("nan")]])
    text = "\n".join(d.render() for d in problems)
    assert codes(problems) == ["V0705", "V0705"]
    assert "31415926535" not in text and "3.14" not in text and "3e" not in text
    assert problems[1].message.endswith("[2][1]: not a finite number (a missing value, NaN "
                                        "or infinity)")  # the same words for any such value
    assert "field `m`[1][1]" in text and "field `m`[2][1]" in text


def test_at_most_five_problems_per_field(circuit) -> None:
    _, problems = convert(circuit, "v", np.full(3, 0.5))
    assert len(problems) == 3
    big = compile_source("party p\ninput x: secret int[100] from p\noutput x to p").circuit
    problems = []
    arrays.convert(np.full(100, 0.5), big.inputs[0], "p: field `x`", problems)
    assert len(problems) == arrays.MAX_PROBLEMS


def test_vector_as_row_or_column_and_shape_errors(circuit) -> None:
    for value in ([[1, 2, 3]], [[1], [2], [3]], np.array([1, 2, 3]), (1, 2, 3)):
        out, problems = convert(circuit, "v", value)
        assert not problems and out.tolist() == [1, 2, 3]
    _, problems = convert(circuit, "v", [1, 2])
    assert codes(problems) == ["V0703"] and "expected shape [3]" in problems[0].message
    _, problems = convert(circuit, "m", [[1, 2], [3]])
    assert codes(problems) == ["V0703"] and "rows of different lengths" in problems[0].message
    _, problems = convert(circuit, "s", [1.0])
    assert codes(problems) == ["V0703"]


def test_bools_hex_and_numpy_scalars(circuit) -> None:
    out, problems = convert(circuit, "flag", np.array([1, 0, 1]))
    assert not problems and out.tolist() == [True, False, True]
    out, problems = convert(circuit, "flag", "0x5")
    assert not problems and out.tolist() == [True, False, True]
    _, problems = convert(circuit, "flag", [1, 2, 0])
    assert codes(problems) == ["V0704"]
    out, problems = convert(circuit, "s", np.float32(1.5))
    assert not problems and out == 1.5 * 2**16
    _, problems = convert(circuit, "v", np.array([True, False, True]))
    assert codes(problems) == ["V0704"] * 3 and "a bool, not a number" in problems[0].message
    _, problems = convert(circuit, "v", np.array(["1", "2", "3"]))
    assert codes(problems) == ["V0704"] * 3


def test_uint64_and_int_limits(circuit) -> None:
    _, problems = convert(circuit, "v", np.array([2**63, 1, 2], dtype=np.uint64))
    assert codes(problems) == ["V0705"]
    out, problems = convert(circuit, "v", np.array([-(2**63), 2**63 - 1, 0], dtype=np.int64))
    assert not problems and out.view(np.int64).tolist() == [-(2**63), 2**63 - 1, 0]
    _, problems = convert(circuit, "v", np.array([2.0**63, 0, 0]))
    assert codes(problems) == ["V0705"]


# ---- pandas (skipped without it; the tests above need no extra)

@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


def frame():
    import pandas

    return pandas.DataFrame({"age": [30, 41, 25], "amount": [1.5, 2.25, -3.0],
                             "name": ["a", "b", "c"], "ok": [True, False, True]})


def test_dataframe_columns_by_name_and_whole(pd, circuit) -> None:
    out, problems = convert(circuit, "m", arrays.columns(frame(), ["amount", "age"]))
    assert not problems
    assert (out.view(np.int64) / 2**16).tolist() == [[1.5, 30], [2.25, 41], [-3.0, 25]]
    out, problems = convert(circuit, "m", frame()[["age", "amount"]])
    assert not problems and (out.view(np.int64)[:, 0] / 2**16).tolist() == [30, 41, 25]
    out, problems = convert(circuit, "v", frame()["age"])
    assert not problems and out.tolist() == [30, 41, 25]
    out, problems = convert(circuit, "flag", frame()[["ok"]])  # one column for a vector
    assert not problems and out.tolist() == [True, False, True]


def test_dataframe_problems_name_row_and_column(pd, circuit) -> None:
    _, problems = convert(circuit, "m", frame())
    assert codes(problems) == ["V0703"]
    assert "4 columns (age, amount, name, ok)" in problems[0].help
    _, problems = convert(circuit, "m", arrays.columns(frame(), ["age", "salary"]))
    assert codes(problems) == ["V0701"] and "`salary`" in problems[0].message
    _, problems = convert(circuit, "m", arrays.columns(frame(), ["age", "name"]))
    assert codes(problems) == ["V0704"] * 3
    assert "(row 0, column `name`)" in problems[0].message
    nullable = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.0, 2.0, 3.0]})
    _, problems = convert(circuit, "m", nullable)
    assert codes(problems) == ["V0705"] and "(row 1, column `a`)" in problems[0].message
    _, problems = convert(circuit, "m", pd.DataFrame({"a": [1.0, float("nan"), 3.0],
                                                     "b": [1.0, 2.0, 3.0]}))
    assert codes(problems) == ["V0705"] and "missing value, NaN" in problems[0].message
    _, problems = convert(circuit, "m", arrays.columns(frame(), ["age", "ok"]))
    assert codes(problems) == ["V0704"] * 3  # a bool column is not a number


def test_large_nullable_int_stays_exact(pd, circuit) -> None:
    big = pd.Series(pd.array([2**62 + 1, -(2**62) - 3, 7], dtype="Int64"))
    out, problems = convert(circuit, "v", big)
    assert not problems and out.view(np.int64).tolist() == [2**62 + 1, -(2**62) - 3, 7]


# ---- connectors in input files

def owner_file(tmp_path: Path, **fields) -> Path:
    data = {"m": [[0, 0]] * 3, "v": [0, 0, 0], "flag": [True] * 3, "s": 0.0, **fields}
    path = tmp_path / "owner.json"
    path.write_text(json.dumps(data))
    return path


def problems_of(circuit, path: Path) -> list[Diagnostic]:
    with pytest.raises(VeilError) as info:
        load_party_inputs(circuit, "owner", path)
    return info.value.diagnostics


def test_parquet_file_with_chosen_columns(pd, circuit, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    (tmp_path / "data").mkdir()
    frame().to_parquet(tmp_path / "data" / "bank.parquet")
    path = owner_file(tmp_path, m={"parquet": "data/bank.parquet", "columns": ["amount", "age"]},
                      v={"parquet": "data/bank.parquet", "columns": ["age"]})
    values = load_party_inputs(circuit, "owner", path)
    assert (values["m"].view(np.int64) / 2**16).tolist() == [[1.5, 30], [2.25, 41], [-3.0, 25]]
    assert values["v"].tolist() == [30, 41, 25]
    bad = owner_file(tmp_path, m={"parquet": "data/bank.parquet"},
                     v={"parquet": "data/bank.parquet", "columns": ["wage"]},
                     s={"parquet": "nowhere.parquet"}, flag={"parquet": "x", "rows": 3})
    found = problems_of(circuit, bad)
    assert sorted(codes(found)) == ["V0701", "V0703", "V0707", "V0707"]
    text = "\n".join(d.render() for d in found)
    assert "choose 2 with \"columns\": [...]" in text and "no column `wage`" in text
    assert "nowhere.parquet" in text and "unknown key 'rows'" in text


def test_parquet_nulls_are_missing_values(pd, circuit, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64")}).to_parquet(tmp_path / "n.parquet")
    found = problems_of(circuit, owner_file(tmp_path, v={"parquet": "n.parquet"}))
    assert codes(found) == ["V0705"]
    assert "field `v`[1][0] (row 1, column `a` of" in found[0].message


def make_db(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE applicants (id INTEGER, age INTEGER, amount REAL, note TEXT)")
    db.executemany("INSERT INTO applicants VALUES (?, ?, ?, ?)",
                   [(1, 30, 1.5, "x"), (2, 41, 2.25, None), (3, 25, -3.0, "z")])
    db.commit()
    db.close()


def test_sqlite_query(circuit, tmp_path: Path) -> None:
    make_db(tmp_path / "bank.db")
    url = "sqlite:///bank.db"  # relative to the input file
    path = owner_file(tmp_path,
                      m={"sql": "SELECT amount, age FROM applicants ORDER BY id", "url": url},
                      v={"sql": "SELECT age FROM applicants ORDER BY id", "url": url},
                      s={"sql": "SELECT max(amount) FROM applicants", "url": url})
    values = load_party_inputs(circuit, "owner", path)
    assert (values["m"].view(np.int64) / 2**16).tolist() == [[1.5, 30], [2.25, 41], [-3.0, 25]]
    assert values["v"].tolist() == [30, 41, 25] and values["s"] == 2.25 * 2**16


def test_sqlite_problems_and_read_only(circuit, tmp_path: Path) -> None:
    make_db(tmp_path / "bank.db")
    url = "sqlite:///bank.db"
    path = owner_file(tmp_path,
                      m={"sql": "SELECT amount, note FROM applicants", "url": url},
                      v={"sql": "DELETE FROM applicants", "url": url},
                      s={"sql": "SELECT salary FROM applicants", "url": url},
                      flag={"sql": "SELECT 1", "url": "bank.db"})
    found = problems_of(circuit, path)
    assert sorted(codes(found)) == ["V0705", "V0707", "V0707", "V0707"]
    text = "\n".join(d.render() for d in found)
    assert "(row 1, column `note` of" in text and "readonly" in text.lower()
    assert "no such column: salary" in text and "is not a database URL" in text
    rows = sqlite3.connect(tmp_path / "bank.db").execute("SELECT count(*) FROM applicants")
    assert rows.fetchone() == (3,)  # the DELETE did not run


def test_sqlalchemy_url(circuit, tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    make_db(tmp_path / "bank.db")
    url = f"sqlite+pysqlite:///{tmp_path / 'bank.db'}"
    path = owner_file(tmp_path, v={"sql": "SELECT age FROM applicants ORDER BY id", "url": url})
    assert load_party_inputs(circuit, "owner", path)["v"].tolist() == [30, 41, 25]
    secret_url = "postgresql+nosuchdriver://bank:hunter2@db.example/loans"
    found = problems_of(circuit, owner_file(tmp_path, v={"sql": "SELECT 1", "url": secret_url}))
    assert codes(found) == ["V0707"]
    assert "hunter2" not in found[0].message and "bank:***@db.example" in found[0].message


def test_missing_extras_name_the_extra(circuit, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    path = owner_file(tmp_path, v={"parquet": "x.parquet"},
                      s={"sql": "SELECT 1", "url": "postgresql://h/db"})
    with pytest.raises(VeilError) as info:
        load_party_inputs(circuit, "owner", path)
    (found,) = info.value.diagnostics
    assert found.code == "V0709" and "pip install 'veil[pandas]'" in found.help
    path = owner_file(tmp_path, s={"sql": "SELECT 1", "url": "postgresql://h/db"})
    with pytest.raises(VeilError) as info:
        load_party_inputs(circuit, "owner", path)
    assert info.value.diagnostics[0].code == "V0709"
    assert "veil[sql]" in info.value.diagnostics[0].help
