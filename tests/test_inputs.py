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
     "field `m`[1][1]: `x` is not a number"),
    ({"m": [[1, 2], [3, 4], [5, 6]], "v": [1, 2.5, 3]}, {"flag": True}, "V0704",
     "2.5 is not an integer"),
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
